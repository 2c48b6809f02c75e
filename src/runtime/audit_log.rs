//! The audit log writer: appends hash-chained records and makes them durable
//! in groups (group commit), publishing "durable up to record N" so the proxy
//! forwards a message only after its record is on disk.
//!
//! Appends take a short lock (encode ≈ 1 µs into a shared buffer); a syncer
//! thread writes the buffer and calls `fdatasync` as soon as anything is
//! pending, so every record appended while one sync runs goes out in the
//! next. Any write or sync error is fatal for the log (no retry: after a
//! failed fsync the kernel may have dropped the data): the log reports itself
//! unhealthy and every later append fails, so callers stop forwarding
//! restricted traffic.

use crate::audit::record::{anchor, encode, Event};
use crate::audit::verify::{verify, Broken};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;

/// When records reach the disk.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "snake_case")]
pub enum SyncMode {
    /// Each append writes and syncs before it returns (slowest, simplest).
    Always,
    /// Group commit: a syncer writes and syncs whatever is pending, at once.
    Batch,
    /// Written promptly, never synced (the OS decides; a crash can lose the tail).
    None,
}

impl SyncMode {
    /// Lowercase name (configuration, flags, status).
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl std::str::FromStr for SyncMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        crate::message::parse_name(s, "audit sync mode")
    }
}

/// Audit log failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    /// The file could not be opened, read, written or synced.
    #[error("audit log {path}: {what}")]
    Io {
        /// The log file.
        path: String,
        /// What failed.
        what: String,
    },
    /// The existing log does not verify: refuse to append to it.
    #[error("audit log {path} does not verify: {broken}; move it aside and investigate before restarting")]
    Corrupt {
        /// The log file.
        path: String,
        /// The first problem.
        broken: Broken,
    },
    /// An earlier write or sync failed; the log accepts nothing more.
    #[error("audit log failed and is closed: {0}")]
    Failed(String),
}

struct State {
    /// True while the syncer sleeps waiting for work: only then does an
    /// append need to wake it (one wake-up per batch, not per record).
    syncer_waiting: bool,
    buf: Vec<u8>,
    next_seq: u64,
    head: String,
    failed: Option<String>,
}

struct Io {
    file: File,
    spare: Vec<u8>,
}

struct Shared {
    path: String,
    mode: SyncMode,
    state: Mutex<State>,
    io: Mutex<Io>,
    wake: Condvar,
    stop: AtomicBool,
    durable: watch::Sender<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the buffers inconsistent
    // for our purposes (worst case a record is lost, which verify detects).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn fail(&self, what: String) -> AuditError {
        {
            let mut st = lock(&self.state);
            if st.failed.is_none() {
                st.failed = Some(what.clone());
            }
        }
        // Wake everyone waiting for durability so they see the failure.
        self.durable.send_modify(|_| {});
        AuditError::Failed(what)
    }

    /// Writes (and, unless `none`, syncs) everything appended so far.
    fn sync(&self) -> Result<u64, AuditError> {
        let mut st = lock(&self.state);
        if let Some(f) = &st.failed {
            return Err(AuditError::Failed(f.clone()));
        }
        let upto = st.next_seq;
        let mut io = lock(&self.io);
        let mut buf = std::mem::take(&mut io.spare);
        std::mem::swap(&mut buf, &mut st.buf);
        drop(st);
        if !buf.is_empty() {
            if let Err(e) = io.file.write_all(&buf) {
                return Err(self.fail(format!("write failed: {e}")));
            }
        }
        if self.mode != SyncMode::None && !buf.is_empty() {
            if let Err(e) = io.file.sync_data() {
                return Err(self.fail(format!("fdatasync failed: {e}")));
            }
        }
        buf.clear();
        io.spare = buf;
        drop(io);
        self.durable.send_if_modified(|d| {
            if upto > *d {
                *d = upto;
                true
            } else {
                false
            }
        });
        Ok(upto)
    }
}

/// An open audit log.
pub struct AuditLog {
    shared: Arc<Shared>,
    syncer: Mutex<Option<JoinHandle<()>>>,
}

/// Opening an existing log after a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Records found.
    pub records: u64,
    /// Bytes of a torn last record that were cut off (0 normally).
    pub truncated: u64,
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

impl AuditLog {
    /// Opens (or creates) the log at `path`. An existing log must verify; a
    /// torn last record (crash mid-write) is cut off and recorded.
    pub fn open(path: &str, mode: SyncMode) -> Result<(AuditLog, Opened), AuditError> {
        let io_err = |what: String| AuditError::Io {
            path: path.to_string(),
            what,
        };
        let p = PathBuf::from(path);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&p)
            .map_err(|e| io_err(format!("open: {e}")))?;
        // One writer per log: two processes appending would interleave
        // records and break the chain.
        file.try_lock()
            .map_err(|e| io_err(format!("in use by another process ({e})")))?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)
            .map_err(|e| io_err(format!("read: {e}")))?;
        let mut opened = Opened {
            records: 0,
            truncated: 0,
        };
        let (next_seq, head, mut buf) = if data.is_empty() {
            let log_id = new_log_id();
            let mut buf = Vec::new();
            let ev = Event::LogStart {
                log_id: log_id.clone(),
                software: format!("origuard {}", crate::VERSION),
            };
            let head = encode(0, &now(), &ev, &anchor(&log_id), &mut buf);
            (1, head, buf)
        } else {
            let (valid, truncated) = match verify(&data) {
                Ok(v) => (v, 0),
                Err(b) if b.torn_tail && b.valid_bytes > 0 => {
                    let cut = (data.len() - b.valid_bytes) as u64;
                    let v =
                        verify(&data[..b.valid_bytes]).map_err(|broken| AuditError::Corrupt {
                            path: path.to_string(),
                            broken,
                        })?;
                    file.set_len(b.valid_bytes as u64)
                        .map_err(|e| io_err(format!("truncate torn tail: {e}")))?;
                    (v, cut)
                }
                Err(broken) => {
                    return Err(AuditError::Corrupt {
                        path: path.to_string(),
                        broken,
                    })
                }
            };
            opened.records = valid.count;
            opened.truncated = truncated;
            let mut buf = Vec::new();
            let mut head = valid.head;
            let mut seq = valid.count;
            if truncated > 0 {
                head = encode(
                    seq,
                    &now(),
                    &Event::Recovery {
                        truncated_bytes: truncated,
                    },
                    &head,
                    &mut buf,
                );
                seq += 1;
            }
            (seq, head, buf)
        };
        file.seek(SeekFrom::End(0))
            .map_err(|e| io_err(format!("seek: {e}")))?;
        // Make the first records (log start or recovery) durable before use.
        if !buf.is_empty() {
            file.write_all(&buf)
                .map_err(|e| io_err(format!("write: {e}")))?;
            file.sync_all().map_err(|e| io_err(format!("sync: {e}")))?;
            sync_dir(&p);
            buf.clear();
        }
        let (durable, _) = watch::channel(next_seq);
        let shared = Arc::new(Shared {
            path: path.to_string(),
            mode,
            state: Mutex::new(State {
                syncer_waiting: false,
                buf,
                next_seq,
                head,
                failed: None,
            }),
            io: Mutex::new(Io {
                file,
                spare: Vec::new(),
            }),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            durable,
        });
        let syncer = if mode == SyncMode::Always {
            None
        } else {
            let s = shared.clone();
            Some(
                std::thread::Builder::new()
                    .name("audit-sync".into())
                    .spawn(move || syncer(s))
                    .map_err(|e| io_err(format!("spawn syncer: {e}")))?,
            )
        };
        Ok((
            AuditLog {
                shared,
                syncer: Mutex::new(syncer),
            },
            opened,
        ))
    }

    /// Appends a record; returns its sequence number. In `always` mode the
    /// record is durable on return.
    pub fn append(&self, event: &Event) -> Result<u64, AuditError> {
        let mut wake = false;
        let seq = {
            let mut st = lock(&self.shared.state);
            // Taken under the lock so timestamps never go backwards with seq.
            let ts = now();
            if let Some(f) = &st.failed {
                return Err(AuditError::Failed(f.clone()));
            }
            let seq = st.next_seq;
            let prev = std::mem::take(&mut st.head);
            st.head = encode(seq, &ts, event, &prev, &mut st.buf);
            st.next_seq += 1;
            if st.syncer_waiting {
                st.syncer_waiting = false;
                wake = true;
            }
            seq
        };
        match self.shared.mode {
            SyncMode::Always => {
                self.shared.sync()?;
            }
            _ if wake => self.shared.wake.notify_one(),
            _ => {}
        }
        Ok(seq)
    }

    /// Writes and syncs everything appended so far; returns the number of
    /// records now durable.
    pub fn sync(&self) -> Result<u64, AuditError> {
        self.shared.sync()
    }

    /// A receiver of "records durable": every record with `seq < value` is
    /// on disk (written, for `none`).
    pub fn durable(&self) -> watch::Receiver<u64> {
        self.shared.durable.subscribe()
    }

    /// False once a write or sync has failed.
    pub fn healthy(&self) -> bool {
        lock(&self.shared.state).failed.is_none()
    }

    /// The failure, if any.
    pub fn failure(&self) -> Option<String> {
        lock(&self.shared.state).failed.clone()
    }

    /// Hash of the last record appended (the head to publish off-box).
    pub fn head(&self) -> String {
        lock(&self.shared.state).head.clone()
    }

    /// Number of records appended (durable or not).
    pub fn count(&self) -> u64 {
        lock(&self.shared.state).next_seq
    }

    /// The file path.
    pub fn path(&self) -> &str {
        &self.shared.path
    }

    /// The sync mode.
    pub fn mode(&self) -> SyncMode {
        self.shared.mode
    }

    /// Stops the syncer and syncs what is left.
    pub fn close(&self) -> Result<u64, AuditError> {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        if let Some(h) = lock(&self.syncer).take() {
            let _ = h.join();
        }
        self.shared.sync()
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// In `none` mode, how long the syncer lets records accumulate before one
/// write (fewer, larger writes; nothing waits on them).
const NONE_GATHER: Duration = Duration::from_millis(2);

fn syncer(s: Arc<Shared>) {
    loop {
        {
            let mut st = lock(&s.state);
            let idle = st.buf.is_empty() && st.failed.is_none();
            if idle && !s.stop.load(Ordering::SeqCst) {
                // Wake on append, or every 100 ms to notice a stop.
                st.syncer_waiting = true;
                let (mut st, _) = s
                    .wake
                    .wait_timeout(st, Duration::from_millis(100))
                    .unwrap_or_else(|e| e.into_inner());
                st.syncer_waiting = false;
            }
        }
        if s.stop.load(Ordering::SeqCst) {
            return;
        }
        if s.mode == SyncMode::None {
            std::thread::sleep(NONE_GATHER);
        }
        if s.sync().is_err() {
            // Failure recorded in state; appends now fail. Nothing to retry.
            return;
        }
    }
}

/// Clock and randomness for the records (the pure encoder takes them).
/// Current UTC time, RFC 3339 with milliseconds.
pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// A fresh random log id (128 bits, hex).
pub fn new_log_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: fall back to time and pid, still unique per run.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = (t ^ ((std::process::id() as u128) << 64)).to_le_bytes();
    }
    hex::encode(b)
}

#[cfg(test)]
#[path = "audit_log_tests.rs"]
mod tests;
