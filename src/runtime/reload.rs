//! Reload triggers: `SIGHUP`, changes to the policy file or its list files,
//! and stop signals.
//!
//! The file watch follows every way a file gets replaced: written in place,
//! renamed over (editors, configuration management), and a Kubernetes
//! ConfigMap update, where the kubelet writes a new timestamped directory,
//! re-points the `..data` symbolic link at it and deletes the old one, while
//! `policy.toml` itself stays a link to `..data/policy.toml`. So the watch is
//! not set once: after every reload it re-reads which files the policy is
//! made of, resolves their links again and watches, non-recursively, the
//! directory of each file as named and as resolved (the new timestamped
//! directory). A relevant event is one that names such a file or after which
//! a file resolves elsewhere (the `..data` swap). As a second line, every
//! [`RECHECK`] the files are read and hashed; if they differ from what was
//! last loaded, the policy is reloaded even though no event arrived
//! (network file systems, an overflowing event queue, a link higher up).

use super::proxy::Shared;
use super::systemd;
use notify::{RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Quiet time after the last file event before reloading (editors and the
/// kubelet write several events per change).
const DEBOUNCE: Duration = Duration::from_millis(250);

/// How often the policy files are hashed and compared with what was last
/// loaded, in case the watcher missed a change.
pub const RECHECK: Duration = Duration::from_secs(10);

/// The files the policy in force is made of, and what the watch follows for
/// them. Recomputed before every reload.
#[derive(Debug, Default)]
struct Targets {
    /// Every file the policy loader read, as named (absolute, links not
    /// resolved), in reading order.
    named: Vec<PathBuf>,
    /// Each of `named` with links resolved (`None`: missing).
    resolved: Vec<Option<PathBuf>>,
    /// `named` and `resolved` together: an event on any of them counts.
    files: HashSet<PathBuf>,
    /// Directories to watch, non-recursively: the parent of every named and
    /// every resolved file.
    dirs: HashSet<PathBuf>,
    /// Directories the loader listed (`court_orders.dir`): an event on
    /// anything in them counts (a new order or signature).
    listed: HashSet<PathBuf>,
    /// SHA-256 over the named paths and their contents, at the last scan.
    fingerprint: [u8; 32],
    /// The version of the policy the files made at the scan, if valid.
    version: Option<String>,
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Hashes the paths and contents of `files` (a missing file hashes as such,
/// so its appearance is a change).
fn fingerprint<'a>(files: impl Iterator<Item = (&'a Path, Option<&'a [u8]>)>) -> [u8; 32] {
    let mut h = Sha256::new();
    for (p, bytes) in files {
        let p = p.as_os_str().as_encoded_bytes();
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
        match bytes {
            Some(b) => {
                h.update([1]);
                h.update((b.len() as u64).to_be_bytes());
                h.update(b);
            }
            None => h.update([0]),
        }
    }
    h.finalize().into()
}

/// Reads the policy at `path` the way a reload does, recording each file
/// the loader reads (the policy file and its list files, whether or not the
/// result validates), and resolves where each one is now.
fn scan(path: &str, signing: Option<&crate::policy::orders::Signing>) -> Targets {
    let mut read: Vec<(PathBuf, Option<Vec<u8>>)> = Vec::new();
    let loaded = crate::policy::file::load_signed(
        path,
        &mut |p: &str| {
            let r = crate::runtime::policy_store::read_fs(p);
            read.push((absolute(Path::new(p)), r.as_ref().ok().cloned()));
            r
        },
        std::time::SystemTime::now(),
        signing,
    );
    let fingerprint = fingerprint(read.iter().map(|(p, b)| (p.as_path(), b.as_deref())));
    let named: Vec<PathBuf> = read.into_iter().map(|(p, _)| p).collect();
    let resolved: Vec<Option<PathBuf>> = named
        .iter()
        .map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let mut files = HashSet::new();
    let mut dirs = HashSet::new();
    let mut listed = HashSet::new();
    for p in named.iter().chain(resolved.iter().flatten()) {
        files.insert(p.clone());
        // A directory read (court_orders.dir) is watched itself, so a new
        // order or signature in it is an event.
        if p.is_dir() {
            dirs.insert(p.clone());
            listed.insert(p.clone());
        }
        if let Some(d) = p.parent() {
            dirs.insert(d.to_path_buf());
        }
    }
    Targets {
        named,
        resolved,
        files,
        dirs,
        listed,
        fingerprint,
        version: loaded.ok().map(|p| p.version),
    }
}

impl Targets {
    /// Whether an event on `path` may have changed the policy.
    fn relevant(&self, path: &Path) -> bool {
        self.files.contains(path)
            || path.parent().is_some_and(|d| self.listed.contains(d))
            || self.relinked()
    }

    /// Whether a file now resolves elsewhere than at the last scan (a link
    /// such as `..data` was re-pointed).
    fn relinked(&self) -> bool {
        self.named
            .iter()
            .zip(&self.resolved)
            .any(|(n, r)| std::fs::canonicalize(n).ok() != *r)
    }

    /// Whether the files' contents differ from the last scan.
    fn changed(&self) -> bool {
        // Read as the loader reads: a directory (court_orders.dir) as its listing.
        let now: Vec<Option<Vec<u8>>> = self
            .named
            .iter()
            .map(|p| {
                p.to_str()
                    .and_then(|s| crate::runtime::policy_store::read_fs(s).ok())
            })
            .collect();
        let fp = fingerprint(
            self.named
                .iter()
                .zip(&now)
                .map(|(p, b)| (p.as_path(), b.as_deref())),
        );
        fp != self.fingerprint
    }
}

/// Keeps the policy file watch running; dropping it stops the watch.
pub struct PolicyWatch {
    _stop: DropGuard,
}

/// Watches the policy's files and reloads on relevant changes (see the
/// module documentation). Fails only when no watcher can be created; a
/// directory that cannot be watched is logged and left to the periodic
/// check. Must be called inside the tokio runtime.
pub fn watch_policy(shared: Arc<Shared>) -> notify::Result<PolicyWatch> {
    let (tx, rx) = mpsc::channel::<()>(1);
    let kick = tx.clone();
    let targets = Arc::new(Mutex::new(scan(
        shared.policy.path(),
        shared.policy.signing(),
    )));
    let targets_cb = targets.clone();
    let watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        let Ok(ev) = ev else {
            // An error (such as a queue overflow) may hide a change.
            let _ = tx.try_send(());
            return;
        };
        if ev.kind.is_access() {
            return;
        }
        let t = targets_cb.lock().unwrap_or_else(|e| e.into_inner());
        if ev.paths.iter().any(|p| t.relevant(p)) {
            let _ = tx.try_send(());
        }
    })?;
    let stop = CancellationToken::new();
    let mut w = Watch {
        shared,
        watcher,
        watched: HashMap::new(),
        targets,
    };
    w.rewatch();
    // A change between the load at start and this scan has no event left
    // to announce it: the versions differ, so reload at once.
    let drifted = w
        .targets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .version
        .as_ref()
        != Some(&w.shared.policy.current().version);
    if drifted {
        let _ = kick.try_send(());
    }
    tokio::spawn(w.run(rx, stop.clone()));
    Ok(PolicyWatch {
        _stop: stop.drop_guard(),
    })
}

/// The task side of the watch: owns the watcher and re-targets it.
struct Watch {
    shared: Arc<Shared>,
    watcher: notify::RecommendedWatcher,
    /// Directories watched now, each with where it resolved when its watch
    /// was set (a watch follows the directory, not the path).
    watched: HashMap<PathBuf, Option<PathBuf>>,
    targets: Arc<Mutex<Targets>>,
}

impl Watch {
    /// Watches the directories the current targets need and no others. A
    /// path that now resolves to another directory (`lists -> ..data/lists`
    /// after a swap) is watched again: the old watch died with the old
    /// directory.
    fn rewatch(&mut self) {
        let want = self
            .targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .dirs
            .clone();
        let mut now = HashMap::new();
        for d in want {
            let real = std::fs::canonicalize(&d).ok();
            if let Some(before) = self.watched.remove(&d) {
                if before == real {
                    now.insert(d, real);
                    continue;
                }
                let _ = self.watcher.unwatch(&d);
            }
            if let Err(e) = self.watcher.watch(&d, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %d.display(), error = %e, "cannot watch a policy directory; changes there are found by the periodic check");
            }
            now.insert(d, real);
        }
        for d in self.watched.keys() {
            // Fails when the directory is gone (the kubelet deleted it).
            let _ = self.watcher.unwatch(d);
        }
        self.watched = now;
    }

    async fn run(mut self, mut rx: mpsc::Receiver<()>, stop: CancellationToken) {
        let mut check = tokio::time::interval(RECHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        check.tick().await; // the first tick is immediate
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                ev = rx.recv() => {
                    if ev.is_none() {
                        return;
                    }
                    // Debounce: wait for quiet.
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            ev = tokio::time::timeout(DEBOUNCE, rx.recv()) => match ev {
                                Ok(Some(())) => continue,
                                Ok(None) => return,
                                Err(_) => break,
                            },
                        }
                    }
                }
                _ = check.tick() => {
                    let t = self.targets.clone();
                    let changed = tokio::task::spawn_blocking(move || {
                        t.lock().unwrap_or_else(|e| e.into_inner()).changed()
                    })
                    .await
                    .unwrap_or(false);
                    if !changed {
                        continue;
                    }
                    tracing::info!("policy files changed without a file event; reloading");
                }
            }
            self.reload().await;
        }
    }

    /// Scans the files, reloads, then follows the files as they are now.
    /// The scan comes first: a change during the reload then differs from
    /// the recorded contents and is caught by the next check.
    async fn reload(&mut self) {
        let sh = self.shared.clone();
        let scanned =
            tokio::task::spawn_blocking(move || scan(sh.policy.path(), sh.policy.signing()))
                .await
                .unwrap_or_default();
        *self.targets.lock().unwrap_or_else(|e| e.into_inner()) = scanned;
        reload_notified(&self.shared, "file_watch", false).await;
        self.rewatch();
    }
}

/// Reloads off the async threads, telling the service manager
/// (`RELOADING=1`, then `READY=1` with the version in force).
async fn reload_notified(shared: &Arc<Shared>, trigger: &'static str, tls: bool) {
    systemd::reloading();
    let sh = shared.clone();
    let _ = tokio::task::spawn_blocking(move || sh.reload(trigger, tls)).await;
    systemd::ready(&serving_status(shared));
}

/// The `STATUS=` text while serving.
pub fn serving_status(shared: &Shared) -> String {
    shared.serving_status()
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
                _ = self.hup.recv() => reload_notified(&shared, "sighup", true).await,
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

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "[deny]\nreply_ori = \"COOLN0000\"\n[[list]]\nname = \"d\"\naction = \"deny\"\nfiles = [\"d.txt\"]\n";

    #[test]
    fn a_signed_orders_directory_is_followed_by_its_listing() {
        let dir = tempfile::tempdir().unwrap();
        let orders = dir.path().join("orders");
        std::fs::create_dir(&orders).unwrap();
        std::fs::write(dir.path().join("allowed_signers"), "").unwrap();
        let p = dir.path().join("p.toml");
        std::fs::write(&p, format!("{POLICY}\n[court_orders]\ndir = \"orders\"\n")).unwrap();
        let signing = crate::policy::orders::Signing {
            allowed_signers: dir.path().join("allowed_signers").to_str().unwrap().into(),
            order_namespace: "origuard-order@co".into(),
            policy_namespace: None,
        };
        let t = scan(p.to_str().unwrap(), Some(&signing));
        assert!(t.dirs.contains(&orders) && t.listed.contains(&orders));
        assert!(!t.changed());
        // A new order in the directory: an event on it counts, and the
        // contents check sees the listing change.
        let o = orders.join("2026-CR-1.toml");
        assert!(t.relevant(&o));
        std::fs::write(&o, "entered_by = \"x\"\n").unwrap();
        assert!(t.changed());
    }

    #[test]
    fn scan_records_list_files_and_follows_links() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("..2026_12_01_00_00_00.000000001");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("p.toml"), POLICY).unwrap();
        std::fs::write(data.join("d.txt"), "VTICE0900\n").unwrap();
        std::os::unix::fs::symlink(data.file_name().unwrap(), dir.path().join("..data")).unwrap();
        for f in ["p.toml", "d.txt"] {
            std::os::unix::fs::symlink(format!("..data/{f}"), dir.path().join(f)).unwrap();
        }
        let p = dir.path().join("p.toml");
        let t = scan(p.to_str().unwrap(), None);
        assert_eq!(t.named, vec![p.clone(), dir.path().join("d.txt")]);
        let real = std::fs::canonicalize(&data).unwrap();
        assert_eq!(
            t.resolved[0].as_deref(),
            Some(real.join("p.toml").as_path())
        );
        assert!(t.dirs.contains(dir.path()) && t.dirs.contains(&real));
        assert!(!t.relinked() && !t.changed());
        // The list file changes: the contents check sees it.
        std::fs::write(data.join("d.txt"), "VTICE0900\nTXICE2000\n").unwrap();
        assert!(t.changed());
        // `..data` re-pointed at a new directory: the resolution changed.
        let next = dir.path().join("..2026_12_01_00_00_01.000000002");
        std::fs::create_dir(&next).unwrap();
        std::fs::write(next.join("p.toml"), POLICY).unwrap();
        std::fs::write(next.join("d.txt"), "VTICE0900\n").unwrap();
        let tmp = dir.path().join("..data_tmp");
        std::os::unix::fs::symlink(next.file_name().unwrap(), &tmp).unwrap();
        std::fs::rename(&tmp, dir.path().join("..data")).unwrap();
        assert!(t.relinked());
        assert!(t.relevant(&dir.path().join("..data")));
    }

    #[test]
    fn a_missing_list_file_is_recorded_so_its_arrival_counts() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.toml");
        std::fs::write(&p, POLICY).unwrap();
        let t = scan(p.to_str().unwrap(), None);
        assert_eq!(t.named.len(), 2);
        assert_eq!(t.resolved[1], None);
        std::fs::write(dir.path().join("d.txt"), "VTICE0900\n").unwrap();
        assert!(t.changed());
    }
}
