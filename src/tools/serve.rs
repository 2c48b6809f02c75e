//! `origuard serve`: configuration -> build (nothing bound) -> bind ->
//! `READY=1` to systemd -> run until SIGTERM/SIGINT (or an admin stop),
//! reloading on SIGHUP and on policy file changes -> `STOPPING=1` -> drain.

use crate::runtime::config::Config;
use crate::runtime::proxy::{Proxy, StartError};

/// Runs the proxy with `cfg`; returns the process exit code.
// Long: the start sequence in the order the module doc states; each step a few lines.
pub async fn serve(cfg: Config, check: bool) -> u8 {
    if check {
        return check_all(&cfg);
    }
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
    // Every series named by the configuration exists at zero before the
    // admin endpoint answers its first scrape.
    crate::runtime::metrics::install();
    crate::runtime::metrics::links_configured(cfg.links.iter().map(|l| l.name.as_str()));
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

/// One problem `serve --check` found, with the exit code it maps to.
struct Problem {
    /// 64 for configuration (a file missing or refused), 65 for a
    /// court-order ledger an operator must look at, 1 for the system (the
    /// audit directory does not accept a file).
    code: u8,
    /// What is wrong and where.
    what: String,
}

/// `serve --check`: everything that can be validated without binding or
/// writing, each check run whatever the others found, so that one run
/// names every problem: the token file; every file the configuration
/// names (each missing or unreadable one); the policy (every error, with
/// file and line); each link's TLS material; the shadow policy; the
/// court-order ledger; the audit log's directory. Exit 0 when all pass,
/// else the most serious code of those found (65 before 64 before 1).
// Long: every check in turn, a few lines each, all into one list; then one verdict from it.
fn check_all(cfg: &Config) -> u8 {
    let mut problems = Vec::new();
    let mut add = |code: u8, what: String| problems.push(Problem { code, what });
    if let Some(f) = &cfg.admin_token_file {
        match std::fs::read_to_string(f) {
            Ok(t) if t.trim().is_empty() => add(64, format!("admin token file {f} is empty")),
            Ok(_) => {}
            Err(e) => add(64, format!("admin token file {f}: {e}")),
        }
    }
    let policy = match crate::runtime::policy_store::PolicyStore::open(&cfg.policy) {
        Ok(p) => Some(p.current()),
        Err(errors) => {
            add(64, format!("policy {}:\n{errors}", cfg.policy));
            None
        }
    };
    for l in &cfg.links {
        let files = tls_files(l);
        let mut missing = false;
        for (what, f) in &files {
            if let Err(e) = std::fs::File::open(f) {
                add(64, format!("link {}: {what} {f}: {e}", l.name));
                missing = true;
            }
        }
        if !missing {
            if let Err(e) =
                crate::runtime::tls::LinkTls::load(l.switch_tls.as_ref(), l.nlets_tls.as_ref())
            {
                add(64, format!("link {}: {e}", l.name));
            }
        }
    }
    if let Some(t) = &cfg.admin_tls {
        if let Err(e) = crate::runtime::tls::admin_server_config(t) {
            add(64, format!("admin: {e}"));
        }
    }
    if let Some(p) = &cfg.shadow_policy {
        if let Err(errors) = crate::runtime::shadow::Shadow::open(p) {
            add(64, format!("shadow policy {p}:\n{errors}"));
        }
    }
    if let Err(e) = crate::runtime::court_orders::check_store(cfg) {
        add(65, e.to_string());
    }
    if let Some(a) = &cfg.audit {
        if let Err(e) = probe_dir(&a.file) {
            add(1, e);
        }
    }
    if problems.is_empty() {
        let Some(p) = policy else { return 64 };
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
        return 0;
    }
    for p in &problems {
        eprintln!("origuard serve --check: {}", p.what);
    }
    eprintln!(
        "origuard serve --check: {} problem(s) found; nothing was started",
        problems.len()
    );
    let rank = |c: u8| match c {
        65 => 3,
        64 => 2,
        _ => 1,
    };
    problems
        .iter()
        .map(|p| p.code)
        .max_by_key(|c| rank(*c))
        .unwrap_or(1)
}

/// Every TLS file a link names, with what it is for.
fn tls_files(l: &crate::runtime::config::LinkConfig) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(s) = &l.switch_tls {
        out.push(("switch_tls.cert", s.cert.clone()));
        out.push(("switch_tls.key", s.key.clone()));
        if let Some(c) = &s.client_ca {
            out.push(("switch_tls.client_ca", c.clone()));
        }
    }
    if let Some(c) = &l.nlets_tls {
        out.push(("nlets_tls.ca", c.ca.clone()));
        if let Some(f) = &c.cert {
            out.push(("nlets_tls.cert", f.clone()));
        }
        if let Some(f) = &c.key {
            out.push(("nlets_tls.key", f.clone()));
        }
    }
    out
}

/// The audit log's directory must accept a new file (created and removed).
fn probe_dir(file: &str) -> Result<(), String> {
    let dir = std::path::Path::new(file)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let probe = dir.join(format!(".origuard-check-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!("audit log directory {}: {e}", dir.display())),
    }
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
