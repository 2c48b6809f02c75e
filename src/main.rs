//! The `origuard` binary: parse arguments, run the chosen command, map the
//! result to an exit code (0 success, 1 the command's own failure,
//! 2 input/framing error, 64 bad usage or configuration).
#![forbid(unsafe_code)]

use clap::Parser;
use origuard::cli::{AuditCommand, Cli, Command, PolicyCommand};
use origuard::tools::policy_cmd::{self, Outcome};
use std::process::ExitCode;

/// Exit code for bad usage or configuration (BSD `EX_USAGE`).
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EX_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
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
            let p = match origuard::policy::store::load_path(&policy) {
                Ok(p) => p,
                Err(r) => {
                    eprintln!("{r}");
                    eprintln!("origuard filter: policy {policy} refused");
                    return ExitCode::from(EX_USAGE);
                }
            };
            let args = origuard::tools::filter::FilterArgs {
                policy: &p,
                direction,
                framing,
                max_message,
                input: &input,
                output: &output,
                replies: replies.as_deref(),
                audit: audit.as_deref(),
            };
            let (sum, err) = origuard::tools::filter::run(&args);
            eprintln!(
                "origuard filter: policy {} ({}), direction {}",
                p.short_version(),
                policy,
                direction.name()
            );
            eprint!("{}", sum.render());
            match err {
                None => ExitCode::SUCCESS,
                Some(e) => {
                    eprintln!("origuard filter: stopped: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Audit(AuditCommand::Verify { file, expect_head }) => {
            let (code, text) =
                origuard::tools::audit_cmd::verify_cmd(&file, expect_head.as_deref());
            if code == 0 {
                println!("{text}");
            } else {
                eprintln!("{text}");
            }
            ExitCode::from(code)
        }
        Command::Policy(cmd) => {
            let out = match cmd {
                PolicyCommand::Check { file } => policy_cmd::check(&file),
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
            ExitCode::from(out.code)
        }
        Command::Inspect {
            framing,
            max_message,
            file,
        } => {
            let mut out = std::io::stdout().lock();
            match origuard::tools::inspect::run(&file, framing, max_message, &mut out) {
                Ok(s) => match s.stopped {
                    Some(e) => {
                        eprintln!(
                            "origuard inspect: {file}: stopped after {} message(s): {e}",
                            s.messages
                        );
                        ExitCode::from(2)
                    }
                    None => ExitCode::SUCCESS,
                },
                Err(e) => {
                    eprintln!("origuard inspect: {e}");
                    ExitCode::from(if e.kind() == std::io::ErrorKind::NotFound {
                        EX_USAGE
                    } else {
                        2
                    })
                }
            }
        }
    }
}
