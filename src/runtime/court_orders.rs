//! Where court-order use counts live for `serve`: the embedded ledger file
//! ([`FileStore`]) or PostgreSQL ([`super::court_orders_pg::PgStore`]),
//! both behind the core's [`UseStore`]; and the start-up check of the
//! counts against the audit log, which is the source of truth.
//!
//! The file store takes an exclusive lock (`ledger.lock`) around every
//! spend and reads the file afresh under it, so two processes given one
//! file share one count. A spend is written (temporary file, fsync,
//! rename, fsync of the directory) before it is granted: a crash can lose
//! a use, never grant one twice.

use crate::decision::ledger::{Ledger, OrderCount, Spend, StoreError, UseStore};
use crate::policy::Policy;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// One order's count in the ledger file.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
struct Count {
    used: u32,
    /// The smallest `max_uses` ever spent under (an edit never adds uses).
    max: u32,
    /// Ids the order was spent under (renames show here).
    ids: Vec<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct OnDisk {
    version: u32,
    #[serde(default)]
    orders: BTreeMap<String, Count>,
    /// Version 1: counts by order id.
    #[serde(default)]
    uses: BTreeMap<String, u32>,
}

/// Why the court-order store could not be opened (exit 65 at start).
#[derive(Debug, thiserror::Error)]
#[error("court-order ledger {path}: {why}")]
pub struct OpenError {
    /// The ledger file.
    pub path: String,
    /// What was wrong.
    pub why: String,
}

/// Why the ledger file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file is not a ledger's JSON.
    #[error("not a ledger: {0}")]
    NotALedger(serde_json::Error),
    /// A ledger of a version this build does not know.
    #[error("unknown version {0}")]
    Version(u32),
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Use counts in a local file.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    lock: PathBuf,
}

impl FileStore {
    /// Opens (or creates on first spend) the ledger at `path`. A version-1
    /// file (counts by id) is carried over to identities through `policy`;
    /// a count whose id the policy no longer has is kept under `id:ID`.
    pub fn open(path: &Path, policy: &Policy) -> Result<FileStore, OpenError> {
        let s = FileStore {
            path: path.to_path_buf(),
            lock: PathBuf::from(format!("{}.lock", path.display())),
        };
        let err = |why: String| OpenError {
            path: path.display().to_string(),
            why,
        };
        let _g = s.locked().map_err(|e| err(e.to_string()))?;
        let d = s.read().map_err(|e| err(e.to_string()))?;
        if d.version == 1 {
            let mut orders = BTreeMap::new();
            for (id, used) in d.uses {
                let (key, max) = match policy.exception(&id) {
                    Some(e) => (e.identity.to_string(), e.max_uses),
                    None => (format!("id:{id}"), used),
                };
                orders.insert(
                    key,
                    Count {
                        used,
                        max,
                        ids: vec![id],
                    },
                );
            }
            s.write(&orders).map_err(|e| err(e.to_string()))?;
        }
        Ok(s)
    }

    fn locked(&self) -> std::io::Result<std::fs::File> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)?;
        f.lock()?;
        Ok(f)
    }

    fn read(&self) -> Result<OnDisk, ReadError> {
        match std::fs::read(&self.path) {
            Ok(b) => {
                let d: OnDisk = serde_json::from_slice(&b).map_err(ReadError::NotALedger)?;
                if d.version != 1 && d.version != 2 {
                    return Err(ReadError::Version(d.version));
                }
                Ok(d)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OnDisk {
                version: 2,
                orders: BTreeMap::new(),
                uses: BTreeMap::new(),
            }),
            Err(e) => Err(ReadError::Io(e)),
        }
    }

    /// True when the file exists.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    fn write(&self, orders: &BTreeMap<String, Count>) -> std::io::Result<()> {
        let body = serde_json::to_vec(&OnDisk {
            version: 2,
            orders: orders.clone(),
            uses: BTreeMap::new(),
        })?;
        let tmp = PathBuf::from(format!("{}.tmp", self.path.display()));
        {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl UseStore for FileStore {
    fn spend(&self, s: &Spend<'_>) -> Result<Option<u32>, StoreError> {
        let un = |e: String| StoreError::Unavailable(format!("{}: {e}", self.path.display()));
        let _g = self.locked().map_err(|e| un(e.to_string()))?;
        let mut orders = self.read().map_err(|e| un(e.to_string()))?.orders;
        let c = orders.entry(s.identity.to_string()).or_insert(Count {
            used: 0,
            max: s.max,
            ids: Vec::new(),
        });
        c.max = c.max.min(s.max);
        if c.used >= c.max {
            return Ok(None);
        }
        c.used += 1;
        if !c.ids.iter().any(|i| i == s.id) {
            c.ids.push(s.id.to_string());
        }
        let n = c.used;
        self.write(&orders).map_err(|e| un(e.to_string()))?;
        Ok(Some(n))
    }

    fn counts(&self) -> Result<Vec<OrderCount>, StoreError> {
        let d = self
            .read()
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", self.path.display())))?;
        Ok(d.orders
            .into_iter()
            .map(|(identity, c)| OrderCount {
                identity,
                used: c.used,
                ids: c.ids,
            })
            .collect())
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}

/// Highest use number of each order id recorded in the audit log files in
/// `dir` whose names start with `live` (segments, the live file). Records
/// name orders by id only (never by identity, which a guess could be
/// checked against); [`disagreements`] maps ids to the store's counts.
pub fn audit_counts(dir: &Path, live: &str) -> std::io::Result<BTreeMap<String, u32>> {
    let mut out: BTreeMap<String, u32> = BTreeMap::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    let finder = memchr::memmem::Finder::new(b"\"reason\":\"court_order\"");
    for e in rd {
        let p = e?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !audit_file(name, live) || !p.is_file() {
            continue;
        }
        let f = std::fs::File::open(&p)?;
        let mut lines = crate::audit::verify::LineReader::new(std::io::BufReader::new(f));
        while let Some(line) = lines.next_line()? {
            let l = match line {
                crate::audit::verify::Line::Full(l) | crate::audit::verify::Line::Torn(l) => l,
            };
            if finder.find(l).is_none() {
                continue;
            }
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(l) else {
                continue;
            };
            if let (Some(id), Some(n)) = (
                v.get("exception").and_then(|x| x.as_str()),
                v.get("exception_use").and_then(|x| x.as_u64()),
            ) {
                let c = out.entry(id.to_string()).or_insert(0);
                *c = (*c).max(n as u32);
            }
        }
    }
    Ok(out)
}

fn audit_file(name: &str, live: &str) -> bool {
    let skipped = [".json", ".lock", ".tmp", ".key", ".sig"]
        .iter()
        .any(|s| name.ends_with(s))
        || name.contains(".aside-")
        || name.contains(".court-orders");
    name.starts_with(live) && !skipped
}

/// When the newest audit file in `dir` was last written (None: no file).
fn last_write(dir: &Path, live: &str) -> std::io::Result<Option<SystemTime>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut last = None;
    for e in rd {
        let e = e?;
        let name = e.file_name();
        if audit_file(name.to_str().unwrap_or(""), live) {
            let t = e.metadata()?.modified()?;
            last = Some(last.map_or(t, |l: SystemTime| l.max(t)));
        }
    }
    Ok(last)
}

/// Orders whose store count is below the audit log's: the store was reset,
/// rolled back or replaced. An id is looked up among the ids each count was
/// spent under, then through the policy's order of that id; an id the store
/// has never seen counts as 0 there. Empty when they agree.
pub fn disagreements(
    store: &[OrderCount],
    audit: &BTreeMap<String, u32>,
    policy: &Policy,
) -> Vec<String> {
    let used = |id: &str| -> u32 {
        if let Some(c) = store.iter().find(|c| c.ids.iter().any(|i| i == id)) {
            return c.used;
        }
        policy
            .exception(id)
            .and_then(|e| store.iter().find(|c| *c.identity == *e.identity))
            .map_or(0, |c| c.used)
    };
    audit
        .iter()
        .filter(|(id, n)| used(id) < **n)
        .map(|(id, n)| {
            format!(
                "order {id}: the audit log records use {n}, the store {}",
                used(id)
            )
        })
        .collect()
}

/// `serve --check`: the configured store can be read (the ledger file, if
/// it exists, is a ledger; the database answers and has the schema).
/// Writes nothing to a ledger file.
pub fn check_store(cfg: &super::config::Config) -> Result<(), OpenError> {
    match StoreChoice::of(cfg) {
        StoreChoice::File(p) => {
            let s = FileStore {
                lock: PathBuf::from(format!("{}.lock", p.display())),
                path: p.clone(),
            };
            s.read().map(|_| ()).map_err(|why| OpenError {
                path: p.display().to_string(),
                why: why.to_string(),
            })
        }
        StoreChoice::Postgres(conn) => super::court_orders_pg::PgStore::connect(&conn)
            .map(|_| ())
            .map_err(|e| OpenError {
                path: "postgres".into(),
                why: e.to_string(),
            }),
        StoreChoice::None => Ok(()),
    }
}

impl StoreChoice {
    /// The store a configuration names: the database, the ledger file, or
    /// the audit file's path with `.court-orders.json`; none without any.
    pub fn of(cfg: &super::config::Config) -> StoreChoice {
        match (&cfg.ledger_postgres, &cfg.ledger, &cfg.audit) {
            (Some(pg), _, _) => StoreChoice::Postgres(pg.clone()),
            (None, Some(p), _) => StoreChoice::File(p.into()),
            (None, None, Some(a)) => {
                StoreChoice::File(format!("{}.court-orders.json", a.file).into())
            }
            (None, None, None) => StoreChoice::None,
        }
    }
}

/// Where `serve` keeps use counts, from the configuration.
pub enum StoreChoice {
    /// A ledger file.
    File(PathBuf),
    /// A PostgreSQL database.
    Postgres(String),
    /// None configured (no ledger, no audit log, no database).
    None,
}

/// Builds the ledger `serve` decides with: the store, checked against the
/// audit log at `audit` (the live file's path, if there is one). A store
/// that disagrees with the log, or is missing while the log shows uses,
/// refuses every order query (loudly: logged, `/status`, metric).
pub fn open_ledger(
    choice: StoreChoice,
    audit: Option<&Path>,
    policy: &Policy,
    now: SystemTime,
) -> Result<Ledger, OpenError> {
    let window = policy.court_order_window;
    let store: Arc<dyn UseStore> = match choice {
        StoreChoice::None => {
            if !policy.exceptions.is_empty() {
                tracing::error!("the policy has court orders but no durable place for their use counts: every order query is refused (set [policy] ledger, an audit log, or [policy] ledger_postgres)");
            }
            return Ok(Ledger::new(None, window, now));
        }
        StoreChoice::File(p) => Arc::new(FileStore::open(&p, policy)?),
        StoreChoice::Postgres(conn) => Arc::new(
            super::court_orders_pg::PgStore::connect(&conn).map_err(|e| OpenError {
                path: "postgres".into(),
                why: e.to_string(),
            })?,
        ),
    };
    let Some(audit) = audit else {
        // Nothing says what an earlier process forwarded: one whole window
        // of warm-up.
        return Ok(Ledger::new(Some(store), window, now));
    };
    let dir = audit
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let live = audit.file_name().and_then(|n| n.to_str()).unwrap_or("");
    // An earlier process forwarded nothing after its last audit write (the
    // record comes first): the warm-up ends one window after that write.
    let last = last_write(dir, live).map_err(|e| OpenError {
        path: audit.display().to_string(),
        why: format!("cannot read the audit directory: {e}"),
    })?;
    let started = match last {
        Some(t) if t < now => t,
        Some(_) => now,
        None => now.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH),
    };
    let ledger = Ledger::new(Some(store.clone()), window, started);
    let from_audit = audit_counts(dir, live).map_err(|e| OpenError {
        path: audit.display().to_string(),
        why: format!("cannot read the audit log to check court-order counts: {e}"),
    })?;
    let from_store = match store.counts() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "court-order store: cannot read the counts at start; order queries are refused until it answers");
            return Ok(ledger.refusing(format!("the store could not be read at start: {e}")));
        }
    };
    let bad = disagreements(&from_store, &from_audit, policy);
    if bad.is_empty() {
        return Ok(ledger);
    }
    for b in &bad {
        tracing::error!("court-order store disagrees with the audit log: {b}");
    }
    Ok(ledger.refusing(format!(
        "the court-order store ({}) holds fewer uses than the audit log records ({}); it was reset, rolled back or replaced. Every order query is refused until it is restored",
        store.kind(),
        bad.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_handles_on_one_file_share_one_count() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ledger.json");
        let policy = crate::runtime::policy_store::load_path(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/policy/colorado.toml"
        ))
        .unwrap();
        let a = FileStore::open(&p, &policy).unwrap();
        let b = FileStore::open(&p, &policy).unwrap();
        let s = Spend {
            identity: "k",
            id: "A",
            max: 3,
        };
        let got: Vec<_> = (0..4)
            .map(|i| if i % 2 == 0 { a.spend(&s) } else { b.spend(&s) }.unwrap())
            .collect();
        assert_eq!(got, vec![Some(1), Some(2), Some(3), None]);
        // An edit that raises max_uses adds nothing; a rename keeps the count.
        let raised = Spend {
            identity: "k",
            id: "B",
            max: 10,
        };
        assert_eq!(a.spend(&raised).unwrap(), None);
        assert_eq!(b.counts().unwrap()[0].used, 3);
        assert_eq!(b.counts().unwrap()[0].ids, vec!["A".to_string()]);
    }

    #[test]
    fn a_missing_store_disagrees_with_an_audit_that_shows_uses() {
        let policy = crate::runtime::policy_store::load_path(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/policy/colorado.toml"
        ))
        .unwrap();
        let audit: BTreeMap<String, u32> = [("A".to_string(), 2), ("B".to_string(), 3)].into();
        assert_eq!(disagreements(&[], &audit, &policy).len(), 2);
        // Renamed from A to B: one count, spent under both ids.
        let store = [OrderCount {
            identity: "k".into(),
            used: 3,
            ids: vec!["A".into(), "B".into()],
        }];
        assert!(disagreements(&store, &audit, &policy).is_empty());
    }
}
