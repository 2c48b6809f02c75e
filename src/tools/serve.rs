//! `origuard serve`: configuration -> build (nothing bound) -> bind ->
//! `READY=1` to systemd -> run until SIGTERM/SIGINT (or an admin stop),
//! reloading on SIGHUP and on policy file changes -> `STOPPING=1` -> drain.

use crate::runtime::config::Config;
use crate::runtime::proxy::{Built, Proxy, StartError};

/// Runs the proxy with `cfg`; returns the process exit code.
pub async fn serve(cfg: Config, check: bool) -> u8 {
    // Before anything slow: a SIGHUP/SIGTERM during start-up must not kill us.
    let signals = match crate::runtime::reload::Signals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("origuard serve: cannot install signal handlers: {e}");
            return 1;
        }
    };
    let token = match &cfg.admin_token_file {
        Some(f) => match std::fs::read_to_string(f) {
            Ok(t) if !t.trim().is_empty() => {
                if let Err(e) = crate::runtime::admin_auth::Admins::parse(&t) {
                    eprintln!("origuard serve: admin token file {f}: {e}");
                    return 64;
                }
                Some(t.trim().to_string())
            }
            Ok(_) => {
                eprintln!("origuard serve: admin token file {f} is empty");
                return 64;
            }
            Err(e) => {
                eprintln!("origuard serve: admin token file {f}: {e}");
                return 64;
            }
        },
        None => None,
    };
    // configuration -> build (nothing bound) -> bind -> run -> drain.
    let built = match Proxy::build(&cfg, token) {
        Ok(b) => b,
        Err(e) => return start_failed(&e),
    };
    if check {
        return check_only(&cfg, &built);
    }
    let proxy = match Proxy::bind(built).await {
        Ok(p) => p,
        Err(e) => return start_failed(&e),
    };
    // The watch is in place before anyone is told we serve.
    let _watcher = if cfg.watch_policy {
        match crate::runtime::reload::watch_policy(proxy.shared.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the policy directory; reload with SIGHUP or the admin endpoint");
                None
            }
        }
    } else {
        None
    };
    // Where to connect: plain lines for a person in text mode; in JSON mode
    // structured events only, so the log stream stays pure JSON.
    let json = cfg.log_format == crate::runtime::config::LogFormat::Json;
    for (l, a) in cfg.links.iter().zip(&proxy.listen_addrs) {
        if json {
            tracing::info!(link = %l.name, listen = %a, upstream = %l.upstream, "listening");
        } else {
            eprintln!(
                "origuard: link {} listening on {a} -> {}",
                l.name, l.upstream
            );
        }
    }
    if let Some(a) = proxy.admin_addr {
        if json {
            tracing::info!(admin = %a, "metrics and admin endpoint");
        } else {
            eprintln!("origuard: metrics and admin on http://{a}/metrics");
        }
    }
    // Every link and the admin endpoint are bound: tell systemd.
    crate::runtime::systemd::ready(&crate::runtime::reload::serving_status(&proxy.shared));
    signals.run(proxy.shared.clone()).await;
    crate::runtime::systemd::stopping();
    match proxy.shutdown().await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("origuard serve: shutdown: {e}");
            1
        }
    }
}

fn start_failed(e: &StartError) -> u8 {
    eprintln!("origuard serve: {e}");
    e.exit_code()
}

/// `serve --check`: everything validated, nothing bound or written: the
/// policy and TLS files were loaded by the build; the token file was read;
/// here, the audit log's directory must accept a new file.
fn check_only(cfg: &Config, built: &Built) -> u8 {
    if let Some(crate::runtime::config::AuditConfig { file: path, .. }) = &cfg.audit {
        let dir = std::path::Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let probe = dir.join(format!(".origuard-check-{}", std::process::id()));
        match std::fs::File::create(&probe) {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(e) => {
                eprintln!(
                    "origuard serve --check: audit log directory {}: {e}",
                    dir.display()
                );
                return 1;
            }
        }
    }
    let p = built.policy();
    println!(
        "origuard serve --check: configuration valid: {} link(s), policy {} ({}), audit {}",
        cfg.links.len(),
        p.short_version(),
        p.source,
        cfg.audit.as_ref().map_or("none".to_string(), |a| format!(
            "{} (sync {}, on_failure {})",
            a.file,
            a.opts.mode.name(),
            <&str>::from(a.on_failure)
        ))
    );
    0
}

/// `origuard serve`: configuration, then [`serve`].
pub fn command(a: crate::tools::cli::ServeArgs) -> u8 {
    use crate::runtime::config::{Config, LogFormat};
    let mut cfg = match (&a.config, &a.listen, &a.upstream, &a.policy) {
        (Some(path), _, _, _) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("origuard serve: {path}: {e}");
                    return super::common::EX_USAGE;
                }
            };
            match Config::parse(path, &text) {
                Ok(c) => c,
                Err(errs) => {
                    eprintln!("{errs}");
                    return super::common::EX_USAGE;
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
                        return super::common::EX_USAGE;
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
            c.links[0].dial = a.dial;
            c
        }
        _ => {
            eprintln!("origuard serve: give --config FILE, or --listen, --upstream and --policy");
            return super::common::EX_USAGE;
        }
    };
    match a.log_format.as_deref() {
        Some("json") => cfg.log_format = LogFormat::Json,
        Some("text") => cfg.log_format = LogFormat::Text,
        Some(o) => {
            eprintln!("origuard serve: --log-format {o:?}: expected text or json");
            return super::common::EX_USAGE;
        }
        None => {}
    }
    super::common::init_tracing(cfg.log_format, &cfg.log_level);
    match super::common::runtime() {
        Ok(rt) => rt.block_on(serve(cfg, a.check)),
        Err(e) => {
            eprintln!("origuard serve: runtime: {e}");
            1
        }
    }
}
