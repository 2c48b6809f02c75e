//! Runs a parsed command line: one function per command, returning the
//! process exit code (0 success, 1 the command's own failure, 2 input or
//! framing error, 64 bad usage or configuration).

use crate::cli::{AuditCommand, BenchCli, Cli, Command, PolicyCommand, ServeArgs};
use crate::tools::policy_cmd::{self, Outcome};

/// Exit code for bad usage or configuration (BSD `EX_USAGE`).
pub const EX_USAGE: u8 = 64;

/// Runs `cli`; returns the exit code.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Bench(b) => bench(b),
        Command::Gen {
            count,
            seed,
            framing,
            mix,
            direction,
            format,
            out,
        } => gen(count, seed, framing, mix, &direction, &format, &out),
        Command::Demo {
            duration,
            rate,
            dir,
            seed,
            policy,
        } => {
            init_tracing(crate::config::LogFormat::Text, "warn");
            match runtime() {
                Ok(rt) => rt.block_on(crate::tools::demo::run(crate::tools::demo::DemoArgs {
                    duration: *duration,
                    rate,
                    dir,
                    seed,
                    policy,
                })),
                Err(e) => {
                    eprintln!("origuard demo: runtime: {e}");
                    1
                }
            }
        }
        Command::Filter {
            policy,
            direction,
            framing,
            max_message,
            replies,
            audit,
            input,
            output,
        } => {
            let p = match crate::policy::store::load_path(&policy) {
                Ok(p) => p,
                Err(r) => {
                    eprintln!("{r}");
                    eprintln!("origuard filter: policy {policy} refused");
                    return EX_USAGE;
                }
            };
            let args = crate::tools::filter::FilterArgs {
                policy: &p,
                direction,
                framing,
                max_message,
                input: &input,
                output: &output,
                replies: replies.as_deref(),
                audit: audit.as_deref(),
            };
            let (sum, err) = crate::tools::filter::run(&args);
            eprintln!(
                "origuard filter: policy {} ({}), direction {}",
                p.short_version(),
                policy,
                direction.name()
            );
            eprint!("{}", sum.render());
            match err {
                None => 0,
                Some(e) => {
                    eprintln!("origuard filter: stopped: {e}");
                    2
                }
            }
        }
        Command::Audit(AuditCommand::Verify { file, expect_head }) => {
            let (code, text) = crate::tools::audit_cmd::verify_cmd(&file, expect_head.as_deref());
            if code == 0 {
                println!("{text}");
            } else {
                eprintln!("{text}");
            }
            code
        }
        Command::Policy(cmd) => {
            let out = match cmd {
                PolicyCommand::Check { file } => policy_cmd::check(&file),
                PolicyCommand::Profile {
                    learn,
                    framing,
                    port,
                    name,
                } => match crate::tools::capture::load(
                    &learn,
                    framing,
                    port,
                    crate::framing::DEFAULT_MAX_MESSAGE,
                ) {
                    Ok(msgs) => {
                        let l = crate::tools::learn::learn(&msgs, &name);
                        Outcome {
                            code: 0,
                            stdout: l.toml,
                            stderr: format!(
                                "origuard policy profile: learned from {} messages of {learn} ({} did not parse)\n",
                                l.messages, l.unparsed
                            ),
                        }
                    }
                    Err(e) => Outcome {
                        code: 2,
                        stdout: String::new(),
                        stderr: format!("origuard policy profile: {e}\n"),
                    },
                },
                PolicyCommand::Explain {
                    policy,
                    ori,
                    mke,
                    direction,
                } => policy_cmd::explain_cmd(&policy, &ori, mke.as_deref(), direction),
                PolicyCommand::Diff {
                    old,
                    new,
                    capture,
                    direction,
                    framing,
                } => match policy_cmd::diff_cmd(&old, &new) {
                    Ok((o, n, mut text)) => match (capture, direction) {
                        (Some(cap), Some(dir)) => match policy_cmd::what_if(&o, &n, &cap, dir, framing) {
                            Ok(w) => {
                                text.push_str(&w);
                                Outcome {
                                    code: 0,
                                    stdout: text,
                                    stderr: String::new(),
                                }
                            }
                            Err(e) => Outcome {
                                code: 2,
                                stdout: text,
                                stderr: format!("origuard policy diff: {e}\n"),
                            },
                        },
                        (Some(_), None) => Outcome {
                            code: EX_USAGE,
                            stdout: String::new(),
                            stderr: "origuard policy diff: --capture needs --direction inbound|outbound\n".into(),
                        },
                        _ => Outcome {
                            code: 0,
                            stdout: text,
                            stderr: String::new(),
                        },
                    },
                    Err(o) => o,
                },
            };
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            out.code
        }
        Command::Inspect {
            framing,
            max_message,
            file,
        } => {
            let mut out = std::io::stdout().lock();
            match crate::tools::inspect::run(&file, framing, max_message, &mut out) {
                Ok(s) => match s.stopped {
                    Some(e) => {
                        eprintln!(
                            "origuard inspect: {file}: stopped after {} message(s): {e}",
                            s.messages
                        );
                        2
                    }
                    None => 0,
                },
                Err(e) => {
                    eprintln!("origuard inspect: {e}");
                    if e.kind() == std::io::ErrorKind::NotFound {
                        EX_USAGE
                    } else {
                        2
                    }
                }
            }
        }
    }
}

fn init_tracing(format: crate::config::LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORIGUARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::config::LogFormat::Json => b.json().try_init(),
        crate::config::LogFormat::Text => b.try_init(),
    };
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn serve(a: ServeArgs) -> u8 {
    use crate::config::{Config, LogFormat};
    let mut cfg = match (&a.config, &a.listen, &a.upstream, &a.policy) {
        (Some(path), _, _, _) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("origuard serve: {path}: {e}");
                    return EX_USAGE;
                }
            };
            match Config::parse(path, &text) {
                Ok(c) => c,
                Err(errs) => {
                    for e in errs {
                        eprintln!("{e}");
                    }
                    return EX_USAGE;
                }
            }
        }
        (None, Some(listen), Some(upstream), Some(policy)) => {
            let admin = match a.metrics.as_str() {
                "off" | "" => None,
                s => match s.parse() {
                    Ok(x) => Some(x),
                    Err(e) => {
                        eprintln!("origuard serve: --metrics {s:?}: {e}");
                        return EX_USAGE;
                    }
                },
            };
            let mut c = Config::quick(
                listen,
                upstream,
                policy,
                a.framing,
                a.audit.clone().map(|f| (f, a.audit_sync)),
                admin,
            );
            c.admin_token_file = a.admin_token_file.clone();
            c.limits.drain_timeout = *a.drain_timeout;
            c
        }
        _ => {
            eprintln!("origuard serve: give --config FILE, or --listen, --upstream and --policy");
            return EX_USAGE;
        }
    };
    match a.log_format.as_deref() {
        Some("json") => cfg.log_format = LogFormat::Json,
        Some("text") => cfg.log_format = LogFormat::Text,
        Some(o) => {
            eprintln!("origuard serve: --log-format {o:?}: expected text or json");
            return EX_USAGE;
        }
        None => {}
    }
    init_tracing(cfg.log_format, &cfg.log_level);
    match runtime() {
        Ok(rt) => rt.block_on(crate::tools::serve::run(cfg)),
        Err(e) => {
            eprintln!("origuard serve: runtime: {e}");
            1
        }
    }
}

fn gen(
    count: u64,
    seed: u64,
    framing: crate::framing::Framing,
    mix: crate::tools::gen::Mix,
    direction: &str,
    format: &str,
    out: &str,
) -> u8 {
    let dirs: Vec<(bool, String)> = match direction {
        "inbound" => vec![(true, out.to_string())],
        "outbound" => vec![(false, out.to_string())],
        "both" => vec![
            (true, format!("{out}.inbound")),
            (false, format!("{out}.outbound")),
        ],
        o => {
            eprintln!("origuard gen: --direction {o:?}: expected inbound, outbound or both");
            return EX_USAGE;
        }
    };
    if format != "stream" && format != "pcap" {
        eprintln!("origuard gen: --format {format:?}: expected stream or pcap");
        return EX_USAGE;
    }
    for (inbound, path) in dirs {
        let mut g = crate::tools::gen::Generator::new(seed.wrapping_add(inbound as u64), mix);
        let mut stream = Vec::new();
        let mut buf = bytes::BytesMut::new();
        for _ in 0..count {
            buf.clear();
            if let Err(e) = crate::framing::encode_into(framing, &g.message(inbound), &mut buf) {
                eprintln!("origuard gen: {e}");
                return 1;
            }
            stream.extend_from_slice(&buf);
        }
        let data = if format == "pcap" {
            crate::tools::capture::write_pcap(
                &stream,
                ([10, 0, 0, 1], 40000),
                ([10, 0, 0, 2], 7101),
                1448,
            )
        } else {
            stream
        };
        if let Err(e) = std::fs::write(&path, &data) {
            eprintln!("origuard gen: {path}: {e}");
            return 1;
        }
        eprintln!(
            "origuard gen: {count} {} messages, {} bytes -> {path}",
            if inbound { "inbound" } else { "outbound" },
            data.len()
        );
    }
    0
}

fn bench(b: BenchCli) -> u8 {
    let rate = match b.rate.as_str() {
        "max" => None,
        r => match r.parse::<u64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                eprintln!("origuard bench: --rate {r:?}: a positive number or max");
                return EX_USAGE;
            }
        },
    };
    let args = crate::tools::bench::BenchArgs {
        target: b.target,
        listen: b.listen,
        capture: b.capture,
        capture_framing: b.capture_framing,
        port: b.port,
        framing: b.framing,
        direction: b.direction,
        rate,
        connections: b.connections,
        duration: b.duration.map(|d| *d),
        count: b.count,
        policy: b.policy,
        tls: b.tls,
        tls_server_name: b.tls_server_name,
        json: b.json,
        settle: std::time::Duration::from_secs(3),
    };
    let json = args.json;
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("origuard bench: runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(crate::tools::bench::run(args)) {
        Ok(r) => {
            if json {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
            } else {
                print!("{}", crate::tools::bench::render(&r));
            }
            if r.missing > 0 || r.unexpected > 0 || !r.errors.is_empty() {
                1
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("origuard bench: {e}");
            2
        }
    }
}
