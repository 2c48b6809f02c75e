//! `origuard serve`: run the proxy until SIGTERM/SIGINT (or an admin stop),
//! reloading on SIGHUP and on policy file changes.

use crate::config::Config;
use crate::proxy::{Proxy, StartError};

/// Runs the proxy with `cfg`; returns the process exit code.
pub async fn run(cfg: Config) -> u8 {
    // Before anything slow: a SIGHUP/SIGTERM during start-up must not kill us.
    let signals = match crate::proxy::watch::Signals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("origuard serve: cannot install signal handlers: {e}");
            return 1;
        }
    };
    let token = match &cfg.admin_token_file {
        Some(f) => match std::fs::read_to_string(f) {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
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
    let proxy = match Proxy::start(&cfg, token).await {
        Ok(p) => p,
        Err(StartError::Config(e)) => {
            eprintln!("origuard serve: {e}");
            return 64;
        }
        Err(StartError::Runtime(e)) => {
            eprintln!("origuard serve: {e}");
            return 1;
        }
    };
    for (l, a) in cfg.links.iter().zip(&proxy.listen_addrs) {
        eprintln!(
            "origuard: link {} listening on {a} -> {}",
            l.name, l.upstream
        );
    }
    if let Some(a) = proxy.admin_addr {
        eprintln!("origuard: metrics and admin on http://{a}/metrics");
    }
    let _watcher = if cfg.watch_policy {
        match crate::proxy::watch::watch_policy(proxy.shared.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the policy directory; reload with SIGHUP or the admin endpoint");
                None
            }
        }
    } else {
        None
    };
    signals.run(proxy.shared.clone()).await;
    match proxy.shutdown().await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("origuard serve: shutdown: {e}");
            1
        }
    }
}
