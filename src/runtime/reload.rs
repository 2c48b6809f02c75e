//! Reload triggers: `SIGHUP`, changes to the policy file or its list files
//! (the directory is watched, since editors and configuration management
//! replace files rather than write them in place), and stop signals.

use super::proxy::Shared;
use notify::{RecursiveMode, Watcher};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Quiet time after the last file event before reloading (editors write
/// several events per save).
const DEBOUNCE: Duration = Duration::from_millis(250);

fn canonical(p: &str) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p))
}

/// The files whose change should trigger a reload.
fn watched_files(shared: &Shared) -> HashSet<PathBuf> {
    let p = shared.policy.current();
    let mut set: HashSet<PathBuf> = p.entries.iter().map(|e| canonical(&e.file)).collect();
    set.insert(canonical(shared.policy.path()));
    set
}

/// Watches the policy directory and reloads on relevant changes. Returns the
/// watcher, which must be kept alive.
pub fn watch_policy(shared: Arc<Shared>) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let dir = canonical(shared.policy.path())
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let files = Arc::new(std::sync::Mutex::new(watched_files(&shared)));
    let files_cb = files.clone();
    let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev {
            if ev.kind.is_access() {
                return;
            }
            let set = files_cb.lock().unwrap_or_else(|e| e.into_inner());
            if ev
                .paths
                .iter()
                .any(|p| set.contains(&canonical(&p.to_string_lossy())) || set.contains(p))
            {
                let _ = tx.try_send(());
            }
        }
    })?;
    w.watch(&dir, RecursiveMode::Recursive)?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Debounce: wait for quiet.
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            let sh = shared.clone();
            let _ = tokio::task::spawn_blocking(move || sh.reload("file_watch", false)).await;
            *files.lock().unwrap_or_else(|e| e.into_inner()) = watched_files(&shared);
        }
    });
    Ok(w)
}

/// The signals the process reacts to, registered early (before the slow
/// start-up work) so a SIGHUP or SIGTERM during start-up is not fatal.
pub struct Signals {
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Registers SIGHUP, SIGUSR1, SIGTERM and SIGINT handlers.
    pub fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Handles SIGHUP (reload policy and certificates) and SIGUSR1 (reopen
    /// the audit log after rotation) until a stop signal
    /// (SIGTERM, SIGINT) or an admin stop request; then returns.
    pub async fn run(mut self, shared: Arc<Shared>) {
        loop {
            tokio::select! {
                _ = self.hup.recv() => {
                    let sh = shared.clone();
                    let _ = tokio::task::spawn_blocking(move || sh.reload("sighup", true)).await;
                }
                _ = self.usr1.recv() => {
                    let sh = shared.clone();
                    match tokio::task::spawn_blocking(move || sh.reopen()).await {
                        Ok(Ok(msg)) => tracing::info!("SIGUSR1: {msg}"),
                        Ok(Err(e)) => tracing::error!("SIGUSR1: audit log reopen failed: {e}"),
                        Err(_) => {}
                    }
                }
                _ = self.term.recv() => { tracing::info!("SIGTERM: stopping"); return; }
                _ = self.int.recv() => { tracing::info!("SIGINT: stopping"); return; }
                _ = shared.stop_request.cancelled() => { tracing::info!("stop requested"); return; }
            }
        }
    }
}
