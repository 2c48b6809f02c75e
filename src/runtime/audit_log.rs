//! The audit log writer: appends hash-chained records and makes them durable
//! in groups (group commit), publishing "durable up to record N" so the proxy
//! forwards a message only after its record is on disk.
//!
//! Appends take a short lock (the record was encoded before it; under the
//! lock its chain parts are written and hashed into a shared buffer); a
//! syncer thread writes the buffer and calls `fdatasync`. In `batch` mode
//! it syncs when a writer of records asks for it ([`AuditLog::commit`]:
//! the proxy's readers ask whenever they would wait — nothing more to read,
//! a full queue), when [`COMMIT_BYTES`] are pending, or [`COMMIT_WINDOW`]
//! after the oldest pending record, whichever comes first: one sync per
//! burst rather than one for its first record and another for the rest.
//! Every record appended while one sync runs goes out in the next.
//!
//! **Failures are survived, not fatal.** When a write or sync fails (disk
//! full, I/O error) the log enters an *outage*: the bytes not known to be
//! durable are kept in memory (up to [`Options::max_held`]), the file is cut
//! back to its last durable length, and the syncer retries with backoff
//! (50 ms doubling to 2 s). Records appended meanwhile are held with them;
//! nothing they cover counts as durable, so the proxy holds those messages.
//! Once a retry succeeds every held record is on disk, an `audit_outage`
//! record states the period and the counts, and the log is healthy again.
//! Re-writing the bytes from our own copy (never trusting the page cache
//! after a failed `fsync`) is what makes the retry safe.
//!
//! **The live file is watched.** Each sync and at least once a second the
//! writer compares the path with the open file: deleted, replaced by another
//! file (rename rotation), or truncated (`copytruncate`) — each starts a new
//! file whose first line is a [`SegmentHeader`] continuing the chain, and a
//! `file_event` record says what happened. [`AuditLog::reopen`] does the
//! same on request (`SIGUSR1`, admin `POST /reopen`). A file that fails
//! verification at start is kept aside (renamed, untouched) unless the
//! operator chose `on_corrupt = "refuse"`.

use crate::audit::checkpoint::{load_signing_key, Checkpoint, CheckpointRecord};
use crate::audit::line::{encode, encode_line, Body};
use crate::audit::merkle::{Frontier, Hash};
use crate::audit::record::{anchor_hash, Event, SegmentHeader};
use crate::audit::segment::{interval_crossed, parse_segment_name, resume_point, segment_name};
use crate::audit::verify::{for_lines, Broken, Chain, ChainOptions, Verified};
use crate::runtime::fault::crash_point;
use crate::runtime::metrics as m;
use ring::signature::Ed25519KeyPair;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
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

/// What to do with an existing log that fails verification at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum OnCorrupt {
    /// Rename it aside, untouched, and start a new file that says so.
    KeepAside,
    /// Refuse to start (exit 1) until an operator moves it.
    Refuse,
}

impl std::str::FromStr for OnCorrupt {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        crate::message::parse_name(s, "audit on_corrupt")
    }
}

/// What the proxy forwards while the audit log cannot write (the log itself
/// behaves the same either way; the proxy reads this).
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum OnFailure {
    /// Nothing is forwarded without a durable record: every message waits
    /// (bounded) for the log to recover.
    Stop,
    /// Unrestricted traffic is forwarded before its record is durable (the
    /// record is still written at recovery); restricted traffic is refused.
    Restricted,
}

impl std::str::FromStr for OnFailure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        crate::message::parse_name(s, "audit on_failure")
    }
}

/// How a log is opened and run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// When records reach the disk.
    pub mode: SyncMode,
    /// An existing file that does not verify.
    pub on_corrupt: OnCorrupt,
    /// Most bytes of records held in memory while the disk refuses writes;
    /// appends beyond it fail ([`AuditError::Full`]).
    pub max_held: usize,
    /// Rotate the live file once it holds this many bytes (None: never by size).
    pub rotate_size: Option<u64>,
    /// Rotate when this interval, counted from the Unix epoch, ends (a day:
    /// at UTC midnight; None: never by time).
    pub rotate_interval: Option<Duration>,
    /// Delete closed segments older than this, once covered by a checkpoint
    /// written out (None: keep every segment).
    pub retain: Option<Duration>,
    /// A checkpoint after this many records (None: not by count).
    pub checkpoint_every: Option<u64>,
    /// A checkpoint when records were appended and this long has passed
    /// since the last one (None: not by time).
    pub checkpoint_interval: Option<Duration>,
    /// Ed25519 key (PKCS#8 file) that signs checkpoints (None: unsigned).
    pub signing_key: Option<String>,
    /// Where each checkpoint is written out for a witness (atomically
    /// replaced; each one also appended to `FILE.history`). None: not written.
    pub checkpoint_file: Option<String>,
}

impl Options {
    /// Defaults with this sync mode.
    pub fn with_mode(mode: SyncMode) -> Options {
        Options {
            mode,
            ..Options::default()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: SyncMode::Batch,
            on_corrupt: OnCorrupt::KeepAside,
            max_held: 64 << 20,
            rotate_size: None,
            rotate_interval: None,
            retain: None,
            checkpoint_every: None,
            checkpoint_interval: None,
            signing_key: None,
            checkpoint_file: None,
        }
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
    /// The existing log does not verify and `on_corrupt = "refuse"`.
    #[error("audit log {path} does not verify: {broken}; move it aside and investigate before restarting (or set [audit] on_corrupt = \"keep_aside\")")]
    Corrupt {
        /// The log file.
        path: String,
        /// The first problem.
        broken: Broken,
    },
    /// The log cannot write and its buffer of held records is full: this
    /// record was not taken.
    #[error("audit log failing ({0}) and its buffer of held records is full")]
    Full(String),
    /// The log was closed.
    #[error("audit log is closed")]
    Closed,
}

/// A period in which the log could not write.
#[derive(Clone, Debug)]
pub struct Outage {
    /// First failure (UTC, RFC 3339).
    pub since: String,
    /// The first error.
    pub error: String,
    /// Records held in memory: those not yet durable when it began and
    /// every one appended since.
    pub held: u64,
    /// Appends refused since (buffer full).
    pub refused: u64,
    /// Failed attempts so far.
    pub failures: u64,
    last_logged: Instant,
    suppressed: u64,
}

struct State {
    /// True while the syncer sleeps waiting for work: only then does an
    /// append need to wake it (one wake-up per batch, not per record).
    syncer_waiting: bool,
    /// A sync was asked for ([`AuditLog::commit`]) since the last one.
    commit_asked: bool,
    /// When the oldest record in `buf` was appended.
    oldest: Option<Instant>,
    buf: Vec<u8>,
    next_seq: u64,
    head: Hash,
    /// The last timestamp given, and the millisecond it spells.
    ts: String,
    ts_ms: u128,
    outage: Option<Outage>,
    /// Bytes taken by the syncer and not yet durable (mirrors `Io::pending`).
    held_bytes: usize,
    closed: bool,
    /// The Merkle tree of every record appended (None: unknown, a file
    /// continuing a version 1 segment: no checkpoints until a new log).
    tree: Option<Frontier>,
    /// Records appended since the last checkpoint.
    since_checkpoint: u64,
    /// When the last checkpoint was appended.
    last_checkpoint: Instant,
    /// The last checkpoint appended and not yet written out.
    unpublished: Option<Checkpoint>,
}

struct Io {
    file: File,
    /// Device and inode of `file` (to notice replacement).
    id: (u64, u64),
    spare: Vec<u8>,
    /// Records taken from the buffer and not yet durable.
    pending: Vec<u8>,
    /// Sequence number after the last record in `pending`.
    pending_upto: u64,
    /// Hash of the last record in `pending`.
    pending_head: Hash,
    /// Length of the file's durable content.
    durable_len: u64,
    /// Sequence number after the last durable record, and its hash.
    durable_seq: u64,
    durable_head: Hash,
    /// A write was attempted past `durable_len` and not completed.
    dirty: bool,
    /// A new file's header line, written before anything else in it.
    header: Option<Vec<u8>>,
    last_check: Instant,
    /// The Merkle tree of the records in `pending` and before.
    pending_tree: Option<Frontier>,
    /// The Merkle tree of the durable records (a new file's header).
    durable_tree: Option<Frontier>,
    /// Sequence number of the live file's first record.
    file_first_seq: u64,
    /// When the live file was started (time-based rotation).
    file_started: SystemTime,
    #[cfg(test)]
    fail_writes: bool,
}

struct Shared {
    path: String,
    log_id: String,
    opts: Options,
    state: Mutex<State>,
    io: Mutex<Io>,
    wake: Condvar,
    stop: AtomicBool,
    /// Mirrors `State::outage.is_none()` for the per-message check (no lock).
    healthy: AtomicBool,
    durable: watch::Sender<u64>,
    /// Signs checkpoints.
    key: Option<Ed25519KeyPair>,
    /// Records covered by the last checkpoint written out (retention never
    /// deletes a record at or past it).
    published: AtomicU64,
    /// Wall and monotonic clock readings, to notice clock steps.
    clock: Mutex<ClockWatch>,
}

/// Clock readings: at open (retention's clock-safe "now") and the last
/// check (jump detection).
struct ClockWatch {
    open_wall: SystemTime,
    open_mono: Instant,
    last_wall: SystemTime,
    last_mono: Instant,
}

/// A wall clock step larger than this (against the monotonic clock, between
/// two checks about a second apart) is recorded as a `clock_jump`.
pub const CLOCK_JUMP: Duration = Duration::from_secs(2);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the buffers inconsistent
    // for our purposes (worst case a record is lost, which verify detects).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn ident(m: &Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

/// How often the live file is compared with its path when idle.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Repeated failures are logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// What happened to the live file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Deleted,
    Replaced,
    Truncated,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Deleted => "deleted",
            Change::Replaced => "replaced",
            Change::Truncated => "truncated",
        }
    }
}

/// Opens (creating) a log file for appending, owner-only, locked.
fn open_file(p: &Path, create_new: bool) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).append(true).mode(0o600);
    if create_new {
        o.create_new(true);
    } else {
        o.create(true);
    }
    let f = o.open(p)?;
    // One writer per log: two processes appending would interleave records
    // and break the chain.
    f.try_lock().map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            format!("in use by another process ({e})"),
        )
    })?;
    Ok(f)
}

/// A free name beside `path` for content moved aside.
fn aside_name(path: &str, what: &str) -> String {
    let ts = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "-");
    let base = format!("{path}.{what}-{ts}");
    let mut name = base.clone();
    let mut n = 1;
    while Path::new(&name).exists() {
        n += 1;
        name = format!("{base}.{n}");
    }
    name
}

impl Io {
    /// Writes the header (if due) and everything pending, syncing unless
    /// `none`. After a failure the file is first cut back to its durable
    /// length, so a retry never leaves a torn record in the middle.
    fn write_out(&mut self, mode: SyncMode) -> std::io::Result<()> {
        #[cfg(test)]
        if self.fail_writes {
            self.dirty = true;
            return Err(std::io::Error::other("injected: no space left on device"));
        }
        if self.dirty {
            let len = self.file.metadata()?.len();
            if len > self.durable_len {
                self.file.set_len(self.durable_len)?;
            }
        }
        self.dirty = true;
        let mut wrote = 0u64;
        if let Some(h) = &self.header {
            self.file.write_all(h)?;
            wrote += h.len() as u64;
            crash_point("new_file_after_header");
        }
        self.file.write_all(&self.pending)?;
        wrote += self.pending.len() as u64;
        if mode != SyncMode::None {
            self.file.sync_data()?;
        }
        self.dirty = false;
        self.header = None;
        self.durable_len += wrote;
        self.durable_seq = self.pending_upto;
        if !self.pending.is_empty() {
            self.durable_head = self.pending_head;
            self.durable_tree = self.pending_tree.take();
        }
        let mut spent = std::mem::take(&mut self.pending);
        spent.clear();
        if self.spare.capacity() < spent.capacity() {
            self.spare = spent;
        }
        Ok(())
    }

    /// Compares the path with the open file.
    fn check(&mut self, path: &str) -> std::io::Result<Option<Change>> {
        self.last_check = Instant::now();
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(Change::Deleted)),
            Err(e) => Err(e),
            Ok(m) if ident(&m) != self.id => Ok(Some(Change::Replaced)),
            Ok(_) => {
                let len = self.file.metadata()?.len();
                Ok((len < self.durable_len).then_some(Change::Truncated))
            }
        }
    }
}

/// A file event to record once the locks are released.
struct FileEvent {
    change: Change,
    kept_aside: Option<String>,
}

impl Shared {
    /// Starts a new file after `change`: a fresh file at the path (moving a
    /// foreign or partly truncated file aside), or the truncated file itself
    /// when it is empty. Its first line will be a segment header continuing
    /// from the last durable record.
    fn new_file(&self, io: &mut Io, change: Change) -> std::io::Result<FileEvent> {
        let p = Path::new(&self.path);
        let mut kept_aside = None;
        match change {
            Change::Truncated if io.file.metadata()?.len() == 0 => {}
            Change::Deleted => {
                io.file = open_file(p, true)?;
            }
            _ => {
                // Replaced, or truncated to a partial length: adopt an
                // empty file at the path, move anything else aside.
                let m = std::fs::metadata(p);
                let same = m.as_ref().is_ok_and(|m| ident(m) == io.id);
                match m {
                    Ok(m) if m.len() == 0 && !same => io.file = open_file(p, false)?,
                    Ok(_) => {
                        let to = aside_name(&self.path, "aside");
                        std::fs::rename(p, &to)?;
                        kept_aside = Some(to);
                        io.file = open_file(p, true)?;
                    }
                    Err(_) => io.file = open_file(p, true)?,
                }
            }
        }
        self.started_file(io, change.name())?;
        Ok(FileEvent { change, kept_aside })
    }

    /// The open file is new: its header continues from the last durable record.
    fn started_file(&self, io: &mut Io, reason: &str) -> std::io::Result<()> {
        io.id = ident(&io.file.metadata()?);
        io.durable_len = 0;
        io.dirty = true;
        io.file_first_seq = io.durable_seq;
        io.file_started = SystemTime::now();
        io.header = Some(
            SegmentHeader {
                kind: "segment".into(),
                log_id: self.log_id.clone(),
                next_seq: io.durable_seq,
                prev: hex::encode(io.durable_head),
                reason: reason.into(),
                ts: now(),
                frontier: io.durable_tree.as_ref().map(frontier_hex),
            }
            .line(),
        );
        Ok(())
    }

    /// True when the live file should be closed as a segment now: it holds
    /// a record, and it reached `rotate_size` or its interval ended.
    fn rotation_due(&self, io: &Io) -> bool {
        if io.durable_seq <= io.file_first_seq || io.header.is_some() {
            return false;
        }
        let by_size = self
            .opts
            .rotate_size
            .is_some_and(|max| io.durable_len + io.pending.len() as u64 > max);
        let by_time = self
            .opts
            .rotate_interval
            .is_some_and(|i| interval_crossed(io.file_started, SystemTime::now(), i.as_secs()));
        by_size || by_time
    }

    /// Closes the live file as a segment (renamed `FILE.<first_seq>-<time>`)
    /// and starts a new one at the path; returns the segment's name.
    fn rotate(&self, io: &mut Io) -> std::io::Result<String> {
        if io.dirty {
            io.file.set_len(io.durable_len)?;
        }
        let to = segment_name(&self.path, io.file_first_seq, SystemTime::now());
        crash_point("rotate_before_rename");
        std::fs::rename(&self.path, &to)?;
        crash_point("rotate_after_rename");
        let file = open_file(Path::new(&self.path), true)?;
        crash_point("rotate_after_create");
        let _ = io.file.unlock();
        io.file = file;
        self.started_file(io, "rotated")?;
        Ok(to)
    }

    /// Writes (and, unless `none`, syncs) everything appended so far.
    /// `force`: compare the path with the open file now. Returns the
    /// durable sequence number and whether a new file was started.
    fn sync_inner(&self, force: bool) -> Result<(u64, bool), AuditError> {
        let mut st = lock(&self.state);
        let upto = st.next_seq;
        st.commit_asked = false;
        st.oldest = None;
        let mut io = lock(&self.io);
        if !st.buf.is_empty() {
            if io.pending.is_empty() {
                let spare = std::mem::take(&mut io.spare);
                io.pending = std::mem::replace(&mut st.buf, spare);
            } else {
                let b = std::mem::take(&mut st.buf);
                io.pending.extend_from_slice(&b);
                st.buf = b;
                st.buf.clear();
            }
            io.pending_upto = upto;
            io.pending_head = st.head;
            io.pending_tree = st.tree.clone();
        }
        st.held_bytes = io.pending.len();
        let recovering = st.outage.is_some();
        drop(st);
        let mut event = None;
        let mut rotated = None;
        let result = (|| -> std::io::Result<()> {
            let due = force
                || !io.pending.is_empty()
                || recovering
                || io.last_check.elapsed() >= CHECK_EVERY;
            if due && io.header.is_none() {
                if let Some(c) = io.check(&self.path)? {
                    event = Some(self.new_file(&mut io, c)?);
                }
            }
            if due && event.is_none() && self.rotation_due(&io) {
                rotated = Some(self.rotate(&mut io)?);
            }
            if io.pending.is_empty() && io.header.is_none() && !io.dirty {
                return Ok(());
            }
            io.write_out(self.opts.mode)?;
            if rotated.is_some() {
                crash_point("rotate_after_first_write");
            }
            if event.is_some() || rotated.is_some() {
                sync_dir(Path::new(&self.path));
            }
            Ok(())
        })();
        let durable = io.durable_seq;
        let file = self.path.clone();
        drop(io);
        match result {
            Ok(()) => {
                // Everything taken is durable; anything appended since is
                // still in the buffer.
                self.durable.send_if_modified(|d| {
                    if durable > *d {
                        *d = durable;
                        true
                    } else {
                        false
                    }
                });
                let started = event.is_some();
                if let Some(e) = event {
                    self.file_event(e, &file);
                }
                if recovering {
                    self.recovered();
                }
                self.publish(durable);
                if let Some(seg) = rotated {
                    metrics::counter!(m::AUDIT_FILE_EVENTS, "event" => "rotated").increment(1);
                    tracing::info!(path = %file, segment = %seg, "audit log rotated");
                    self.retention();
                }
                Ok((durable, started))
            }
            Err(e) => {
                if let Some(ev) = event {
                    // The new file exists; its header is still due.
                    self.file_event(ev, &file);
                }
                Err(self.failed(e.to_string()))
            }
        }
    }

    fn sync(&self) -> Result<u64, AuditError> {
        self.sync_inner(false).map(|(d, _)| d)
    }

    /// Writes one record's line into the buffer and adds it to the tree.
    fn push(&self, st: &mut State, ts: &str, body: &Body) -> u64 {
        let seq = st.next_seq;
        st.head = encode_line(seq, ts, body, &st.head, &mut st.buf);
        if let Some(t) = &mut st.tree {
            t.push_record(&st.head);
        }
        st.next_seq += 1;
        seq
    }

    /// Appends a checkpoint record of the tree so far (under the state lock,
    /// so its `seq` is the tree's size).
    fn checkpoint_locked(&self, st: &mut State) {
        let Some(tree) = &st.tree else {
            return;
        };
        let mut cp = Checkpoint {
            log_id: self.log_id.clone(),
            tree_size: st.next_seq,
            root: hex::encode(tree.root()),
            time: now(),
            key_id: None,
            signature: None,
        };
        if let Some(k) = &self.key {
            cp.sign(k);
        }
        let frontier = frontier_hex(tree);
        let ev = Event::Checkpoint(CheckpointRecord::of(&cp, frontier));
        let ts = cp.time.clone();
        self.push(st, &ts, &Body::of(&ev));
        if let Some(o) = &mut st.outage {
            o.held += 1;
        }
        st.since_checkpoint = 0;
        st.last_checkpoint = Instant::now();
        st.unpublished = Some(cp);
    }

    /// A time-based checkpoint, when due.
    fn tick_checkpoint(&self) {
        let Some(every) = self.opts.checkpoint_interval else {
            return;
        };
        let mut st = lock(&self.state);
        if st.since_checkpoint > 0 && st.last_checkpoint.elapsed() >= every && !st.closed {
            self.checkpoint_locked(&mut st);
        }
    }

    /// Writes the last checkpoint out once its record is durable: the
    /// checkpoint file replaced atomically, and a line appended to its
    /// history. A failure is logged and retried at the next sync.
    fn publish(&self, durable: u64) {
        let cp = {
            let st = lock(&self.state);
            match &st.unpublished {
                Some(cp) if cp.tree_size < durable => cp.clone(),
                _ => return,
            }
        };
        if let Some(file) = &self.opts.checkpoint_file {
            if let Err(e) = write_checkpoint_file(file, &cp) {
                tracing::warn!(file = %file, error = %e,
                    "audit checkpoint could not be written out; retried at the next sync");
                return;
            }
        }
        let mut st = lock(&self.state);
        if st.unpublished.as_ref() == Some(&cp) {
            st.unpublished = None;
        }
        drop(st);
        if self.opts.checkpoint_file.is_some() {
            // The checkpoint record itself (seq = tree_size) is covered too.
            self.published.fetch_max(cp.tree_size + 1, Ordering::SeqCst);
        }
    }

    /// Compares the wall clock with the monotonic clock since the last
    /// check; a step larger than [`CLOCK_JUMP`] is logged and recorded.
    fn check_clock(&self) {
        let (wall, mono) = (SystemTime::now(), Instant::now());
        let expected = {
            let mut c = lock(&self.clock);
            let e = c.last_wall + mono.saturating_duration_since(c.last_mono);
            (c.last_wall, c.last_mono) = (wall, mono);
            e
        };
        let jump_ms = match wall.duration_since(expected) {
            Ok(ahead) => ahead.as_millis() as i64,
            Err(behind) => -(behind.duration().as_millis() as i64),
        };
        if jump_ms.unsigned_abs() <= CLOCK_JUMP.as_millis() as u64 {
            return;
        }
        let (expected, observed) = (
            humantime::format_rfc3339_millis(expected).to_string(),
            humantime::format_rfc3339_millis(wall).to_string(),
        );
        tracing::warn!(%expected, %observed, jump_ms,
            "the wall clock jumped: recorded; retention keeps counting from the monotonic clock");
        let _ = self.append(&Event::ClockJump {
            expected,
            observed,
            jump_ms,
        });
    }

    /// "Now" for retention: the wall clock, but never later than the wall
    /// clock at open plus the monotonic time since, so a step forward while
    /// running does not age segments.
    fn retention_now(&self) -> SystemTime {
        let c = lock(&self.clock);
        SystemTime::now().min(c.open_wall + c.open_mono.elapsed())
    }

    /// Deletes closed segments older than `retain` whose records are all
    /// covered by a checkpoint written out; records each deletion. Never
    /// the live file nor the newest closed segment (the one just sealed).
    fn retention(&self) {
        let Some(retain) = self.opts.retain else {
            return;
        };
        let live_first = lock(&self.io).file_first_seq;
        let covered = self.published.load(Ordering::SeqCst);
        let cutoff = self
            .retention_now()
            .checked_sub(retain)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut segs = segments_of(&self.path, live_first);
        segs.pop();
        for (path, first, next, closed) in segs {
            if closed >= cutoff || next > covered {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(segment = %path, first, next, "audit segment deleted (retention)");
                    let _ = self.append(&Event::SegmentDeleted {
                        file: path,
                        first_seq: first,
                        next_seq: next,
                    });
                }
                Err(e) => {
                    tracing::warn!(segment = %path, error = %e, "audit segment could not be deleted")
                }
            }
        }
    }

    /// Records a file event (appended after the records already pending).
    fn file_event(&self, e: FileEvent, file: &str) {
        let name = e.change.name();
        metrics::counter!(m::AUDIT_FILE_EVENTS, "event" => name).increment(1);
        tracing::warn!(
            path = file,
            event = name,
            kept_aside = e.kept_aside.as_deref().unwrap_or(""),
            "audit log file was {name} under us: a new file continues the chain"
        );
        let _ = self.append(&Event::FileEvent {
            event: name,
            file: file.to_string(),
            kept_aside: e.kept_aside,
            detail: None,
        });
    }

    /// Enters (or continues) an outage.
    fn failed(&self, what: String) -> AuditError {
        let mut st = lock(&self.state);
        let held = st.held_bytes + st.buf.len();
        // Records not yet durable when the outage began are held too.
        let not_durable = st.next_seq.saturating_sub(*self.durable.borrow());
        match &mut st.outage {
            None => {
                tracing::error!(path = %self.path, error = %what, held_bytes = held,
                    "AUDIT LOG FAILED: records are held in memory and retried; messages wait for them (see [audit] on_failure)");
                metrics::counter!(m::AUDIT_OUTAGES).increment(1);
                metrics::gauge!(m::AUDIT_HEALTHY).set(0.0);
                // `/ready` answers 503 from the log's state; the gauge follows.
                metrics::gauge!(m::READY).set(0.0);
                self.healthy.store(false, Ordering::SeqCst);
                st.outage = Some(Outage {
                    since: now(),
                    error: what.clone(),
                    held: not_durable,
                    refused: 0,
                    failures: 1,
                    last_logged: Instant::now(),
                    suppressed: 0,
                });
            }
            Some(o) => {
                o.failures += 1;
                o.suppressed += 1;
                if o.last_logged.elapsed() >= LOG_EVERY {
                    tracing::error!(path = %self.path, error = %what, since = %o.since, retries = o.suppressed,
                        held = o.held, refused = o.refused, "audit log still failing");
                    o.last_logged = Instant::now();
                    o.suppressed = 0;
                }
            }
        }
        metrics::gauge!(m::AUDIT_HELD_BYTES).set(held as f64);
        drop(st);
        // Wake everyone waiting for durability so they see the state.
        self.durable.send_modify(|_| {});
        AuditError::Io {
            path: self.path.clone(),
            what,
        }
    }

    /// Leaves an outage: records it.
    fn recovered(&self) {
        let o = {
            let mut st = lock(&self.state);
            self.healthy.store(true, Ordering::SeqCst);
            st.outage.take()
        };
        let Some(o) = o else { return };
        let until = now();
        tracing::warn!(path = %self.path, since = %o.since, held = o.held, refused = o.refused,
            "audit log recovered: every held record is on disk");
        metrics::gauge!(m::AUDIT_HEALTHY).set(1.0);
        metrics::gauge!(m::AUDIT_HELD_BYTES).set(0.0);
        metrics::gauge!(m::READY).set(1.0);
        let _ = self.append(&Event::AuditOutage {
            since: o.since,
            until,
            error: o.error,
            held: o.held,
            refused: o.refused,
        });
        self.durable.send_modify(|_| {});
    }

    fn append(&self, event: &Event) -> Result<u64, AuditError> {
        self.append_body(&Body::of(event))
    }

    fn append_body(&self, body: &Body) -> Result<u64, AuditError> {
        let mut wake = false;
        let seq = {
            let mut st = lock(&self.state);
            if st.closed {
                return Err(AuditError::Closed);
            }
            let queued = st.buf.len() + st.held_bytes;
            if let Some(o) = &mut st.outage {
                if queued >= self.opts.max_held {
                    o.refused += 1;
                    return Err(AuditError::Full(o.error.clone()));
                }
                o.held += 1;
            }
            // Taken under the lock so timestamps never go backwards with seq.
            let seq = {
                let st = &mut *st;
                stamp(&mut st.ts, &mut st.ts_ms);
                let ts = std::mem::take(&mut st.ts);
                let seq = self.push(st, &ts, body);
                st.ts = ts;
                seq
            };
            st.since_checkpoint += 1;
            if self
                .opts
                .checkpoint_every
                .is_some_and(|n| st.since_checkpoint >= n)
            {
                self.checkpoint_locked(&mut st);
            }
            // The first record after a sync also wakes the syncer, to time
            // its window; `none` gathers on its own clock; `batch` syncs
            // when asked, or once the window is full.
            let first = st.oldest.is_none();
            if first {
                st.oldest = Some(Instant::now());
            }
            let due = match self.opts.mode {
                SyncMode::Batch => first || st.commit_asked || st.buf.len() >= COMMIT_BYTES,
                _ => true,
            };
            if st.syncer_waiting && due {
                st.syncer_waiting = false;
                wake = true;
            }
            seq
        };
        if wake {
            self.wake.notify_one();
        }
        Ok(seq)
    }
}

/// An open audit log.
pub struct AuditLog {
    shared: Arc<Shared>,
    syncer: Mutex<Option<JoinHandle<()>>>,
}

/// Opening an existing log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Records found (the sequence number the log continues at).
    pub records: u64,
    /// Bytes of a torn last record that were cut off (0 normally).
    pub truncated: u64,
    /// A file that failed verification and was moved here, with why.
    pub kept_aside: Option<(String, String)>,
    /// Bytes of the existing file read to recover (the tail after its last
    /// checkpoint; the whole file only when it has none, or is broken).
    pub read_bytes: u64,
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

/// Where a log continues from when it is opened.
struct Start {
    next_seq: u64,
    head: Hash,
    log_id: String,
    /// Records to write first.
    first: Vec<Event>,
    /// A header line the file starts with (new file continuing a chain).
    header: Option<Vec<u8>>,
    /// The Merkle tree of records `0..next_seq`, when known.
    tree: Option<Frontier>,
    /// Sequence number of the live file's first record.
    file_first_seq: u64,
}

impl AuditLog {
    /// Opens (or creates) the log at `path` with default options and this
    /// sync mode.
    pub fn open(path: &str, mode: SyncMode) -> Result<(AuditLog, Opened), AuditError> {
        AuditLog::open_with(path, Options::with_mode(mode))
    }

    /// Opens (or creates) the log at `path`. Only the tail of an existing
    /// file is read: from its last checkpoint record (or its start, when it
    /// has none) to the end, and that part must verify; a torn last record
    /// (crash mid-write) is cut off and recorded; a file broken otherwise is
    /// read whole and kept aside (or refused, per `opts.on_corrupt`).
    pub fn open_with(path: &str, opts: Options) -> Result<(AuditLog, Opened), AuditError> {
        let io_err = |what: String| AuditError::Io {
            path: path.to_string(),
            what,
        };
        let key = match &opts.signing_key {
            None => None,
            Some(k) => {
                let der = std::fs::read(k)
                    .map_err(|e| io_err(format!("signing key {k}: cannot read: {e}")))?;
                Some(load_signing_key(&der).map_err(|e| io_err(format!("signing key {k}: {e}")))?)
            }
        };
        let p = PathBuf::from(path);
        let mut file = open_file(&p, false).map_err(|e| io_err(format!("open: {e}")))?;
        let mut opened = Opened {
            records: 0,
            truncated: 0,
            kept_aside: None,
            read_bytes: 0,
        };
        let start = match read_tail(&mut file, &mut opened.read_bytes)
            .map_err(|e| io_err(format!("read: {e}")))?
        {
            Tail::Empty => match after_last_segment(path, "resumed") {
                Some((mut s, seg)) => {
                    // The checkpoint written out covers records up to its
                    // own (`published_of` is the count).
                    let gap = published_of(opts.checkpoint_file.as_deref(), &s.log_id)
                        .saturating_sub(s.next_seq);
                    let detail = resumed_detail(&seg, s.next_seq, gap);
                    tracing::warn!(path, segment = %seg, "{detail}");
                    s.first.push(Event::FileEvent {
                        event: "resumed",
                        file: path.to_string(),
                        kept_aside: None,
                        detail: Some(detail),
                    });
                    metrics::counter!(m::AUDIT_FILE_EVENTS, "event" => "resumed").increment(1);
                    s
                }
                None => fresh(),
            },
            Tail::Good {
                v,
                tree,
                valid_len,
                torn,
                file_first_seq,
            } => {
                let mut first = vec![];
                if torn > 0 {
                    file.set_len(valid_len)
                        .map_err(|e| io_err(format!("truncate torn tail: {e}")))?;
                    opened.truncated = torn;
                    first.push(Event::Recovery {
                        truncated_bytes: torn,
                    });
                }
                Start {
                    next_seq: v.count,
                    head: unhex(&v.head),
                    log_id: v.log_id,
                    first,
                    header: None,
                    tree,
                    file_first_seq,
                }
            }
            Tail::Broken => {
                let mut data = Vec::new();
                file.seek(SeekFrom::Start(0))
                    .and_then(|_| file.read_to_end(&mut data))
                    .map_err(|e| io_err(format!("read: {e}")))?;
                opened.read_bytes += data.len() as u64;
                open_broken(path, &opts, &mut file, &data, &mut opened)?
            }
        };
        opened.records = start.next_seq;
        // Make the first records (log start, recovery, kept aside) durable
        // before use.
        let mut buf = start.header.clone().unwrap_or_default();
        let mut head = start.head;
        let mut next_seq = start.next_seq;
        let mut tree = start.tree;
        for ev in &start.first {
            head = encode(next_seq, &now(), ev, &head, &mut buf);
            if let Some(t) = &mut tree {
                t.push_record(&head);
            }
            next_seq += 1;
        }
        if !buf.is_empty() {
            file.seek(SeekFrom::End(0))
                .and_then(|_| file.write_all(&buf))
                .map_err(|e| io_err(format!("write: {e}")))?;
            file.sync_all().map_err(|e| io_err(format!("sync: {e}")))?;
            sync_dir(&p);
        }
        let meta = file.metadata().map_err(|e| io_err(format!("stat: {e}")))?;
        let (durable, _) = watch::channel(next_seq);
        let published = published_of(opts.checkpoint_file.as_deref(), &start.log_id);
        let shared = Arc::new(Shared {
            path: path.to_string(),
            log_id: start.log_id,
            opts,
            state: Mutex::new(State {
                syncer_waiting: false,
                commit_asked: false,
                oldest: None,
                buf: Vec::new(),
                next_seq,
                head,
                ts: String::new(),
                ts_ms: 0,
                outage: None,
                held_bytes: 0,
                closed: false,
                tree: tree.clone(),
                since_checkpoint: 0,
                last_checkpoint: Instant::now(),
                unpublished: None,
            }),
            io: Mutex::new(Io {
                id: ident(&meta),
                durable_len: meta.len(),
                file,
                spare: Vec::new(),
                pending: Vec::new(),
                pending_upto: next_seq,
                pending_head: head,
                durable_seq: next_seq,
                durable_head: head,
                dirty: false,
                header: None,
                last_check: Instant::now(),
                pending_tree: None,
                durable_tree: tree,
                file_first_seq: start.file_first_seq,
                file_started: meta.modified().unwrap_or_else(|_| SystemTime::now()).min(
                    // A file's time-based rotation counts from when it was
                    // last written, or now.
                    SystemTime::now(),
                ),
                #[cfg(test)]
                fail_writes: false,
            }),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            healthy: AtomicBool::new(true),
            durable,
            key,
            published: AtomicU64::new(published),
            clock: Mutex::new(ClockWatch {
                open_wall: SystemTime::now(),
                open_mono: Instant::now(),
                last_wall: SystemTime::now(),
                last_mono: Instant::now(),
            }),
        });
        let checkpoints =
            shared.opts.checkpoint_every.is_some() || shared.opts.checkpoint_interval.is_some();
        if checkpoints && lock(&shared.state).tree.is_none() {
            tracing::warn!(path, "audit log continues a version 1 segment without a Merkle frontier: no checkpoints until a new log is started");
        }
        shared.retention();
        let s = shared.clone();
        let syncer = std::thread::Builder::new()
            .name("audit-sync".into())
            .spawn(move || syncer(s))
            .map_err(|e| io_err(format!("spawn syncer: {e}")))?;
        Ok((
            AuditLog {
                shared,
                syncer: Mutex::new(Some(syncer)),
            },
            opened,
        ))
    }

    /// Appends a record; returns its sequence number. In `always` mode the
    /// record is durable on return unless the log is failing. While the log
    /// is failing the record is held in memory (not durable) until recovery;
    /// [`AuditError::Full`] when that buffer is full.
    pub fn append(&self, event: &Event) -> Result<u64, AuditError> {
        self.append_body(&Body::of(event))
    }

    /// [`AuditLog::append`] of a record already encoded (the proxy encodes
    /// its decision and `written` records before the log's lock is taken).
    pub fn append_body(&self, body: &Body) -> Result<u64, AuditError> {
        let seq = self.shared.append_body(body)?;
        if self.shared.opts.mode == SyncMode::Always && self.healthy() {
            // A failure here starts an outage; the record is held and the
            // syncer retries, so the append itself succeeded.
            let _ = self.shared.sync();
        }
        Ok(seq)
    }

    /// Asks for the records appended so far to be made durable now rather
    /// than at the end of the commit window (`batch` mode; a no-op when
    /// nothing is pending). Cheap: the proxy's readers call it whenever
    /// they would wait.
    pub fn commit(&self) {
        let wake = {
            let mut st = lock(&self.shared.state);
            if st.oldest.is_none() || st.commit_asked {
                return;
            }
            st.commit_asked = true;
            std::mem::take(&mut st.syncer_waiting)
        };
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// Writes and syncs everything appended so far; returns the sequence
    /// number up to which records are now durable.
    pub fn sync(&self) -> Result<u64, AuditError> {
        self.shared.sync()
    }

    /// Compares the path with the open file now (`SIGUSR1`, admin
    /// `POST /reopen`, after a rotation tool moved or created a file) and
    /// starts a new file if it changed; the new file's header continues the
    /// chain. True when a new file was started.
    pub fn reopen(&self) -> Result<bool, AuditError> {
        self.shared.sync_inner(true).map(|(_, started)| started)
    }

    /// A receiver of "records durable": every record with `seq < value` is
    /// on disk (written, for `none`).
    pub fn durable(&self) -> watch::Receiver<u64> {
        self.shared.durable.subscribe()
    }

    /// False while the log cannot write (an outage). No lock: the proxy
    /// asks once per message.
    pub fn healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::SeqCst)
    }

    /// The current failure, if any.
    pub fn failure(&self) -> Option<String> {
        lock(&self.shared.state)
            .outage
            .as_ref()
            .map(|o| format!("{} (since {})", o.error, o.since))
    }

    /// The current outage, if any.
    pub fn outage(&self) -> Option<Outage> {
        lock(&self.shared.state).outage.clone()
    }

    /// Hash of the last record appended (the head to publish off-box).
    pub fn head(&self) -> String {
        hex::encode(lock(&self.shared.state).head)
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
        self.shared.opts.mode
    }

    /// The log's id.
    pub fn log_id(&self) -> &str {
        &self.shared.log_id
    }

    /// Stops the syncer and syncs what is left. Fails if records could not
    /// be written (they are lost with the process).
    pub fn close(&self) -> Result<u64, AuditError> {
        if self.shared.opts.checkpoint_every.is_some()
            || self.shared.opts.checkpoint_interval.is_some()
        {
            // A last checkpoint: the next start resumes from it at once.
            let mut st = lock(&self.shared.state);
            if st.since_checkpoint > 0 && !st.closed {
                self.shared.checkpoint_locked(&mut st);
            }
        }
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        if let Some(h) = lock(&self.syncer).take() {
            let _ = h.join();
        }
        let r = self.shared.sync();
        lock(&self.shared.state).closed = true;
        // Another writer may open the file now.
        let _ = lock(&self.shared.io).file.unlock();
        if let Err(e) = &r {
            let st = lock(&self.shared.state);
            tracing::error!(error = %e, held_bytes = st.held_bytes + st.buf.len(),
                "audit log closed with records that could not be written");
        }
        r
    }

    #[cfg(test)]
    fn inject_write_failures(&self, on: bool) {
        lock(&self.shared.io).fail_writes = on;
    }
}

fn fresh() -> Start {
    let log_id = new_log_id();
    Start {
        next_seq: 0,
        head: anchor_hash(&log_id),
        first: vec![Event::LogStart {
            log_id: log_id.clone(),
            software: format!("origuard {}", crate::VERSION),
        }],
        log_id,
        header: None,
        tree: Some(Frontier::new()),
        file_first_seq: 0,
    }
}

/// The hex of a frontier's peaks (checkpoint records, segment headers).
fn frontier_hex(t: &Frontier) -> Vec<String> {
    t.peaks().iter().map(hex::encode).collect()
}

/// Verifies a whole file's bytes; its state and Merkle tree.
fn verify_tree(data: &[u8]) -> Result<(Verified, Option<Frontier>), Broken> {
    let mut chain = Chain::new(ChainOptions::default());
    chain.start_file();
    for_lines(&mut chain, data, |_| {})?;
    let v = chain.end_file()?;
    Ok((v, chain.tree().cloned()))
}

/// What the end of an existing file says.
enum Tail {
    /// An empty file: a new log.
    Empty,
    /// The tail verifies (up to `valid_len`; `torn` bytes after it are a
    /// torn last record).
    Good {
        v: Box<Verified>,
        tree: Option<Frontier>,
        valid_len: u64,
        torn: u64,
        file_first_seq: u64,
    },
    /// Something else is wrong: read the whole file.
    Broken,
}

/// First chunk read from the end at start; each further one doubles.
const TAIL_CHUNK: usize = 64 << 10;

/// Reads the file from the end back to its last checkpoint record (or its
/// start) and verifies from there. `read` counts the bytes read.
fn read_tail(file: &mut File, read: &mut u64) -> std::io::Result<Tail> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Tail::Empty);
    }
    // The first line names the log and the file's first record.
    let mut first = vec![0u8; len.min(64 << 10) as usize];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut first)?;
    *read += first.len() as u64;
    let Some(nl) = memchr::memchr(b'\n', &first) else {
        return Ok(Tail::Broken);
    };
    let (first_log_id, file_first_seq) = match first_line(&first[..nl]) {
        Some(x) => x,
        None => return Ok(Tail::Broken),
    };
    let mut pos = len;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = TAIL_CHUNK as u64;
    let start = loop {
        let n = chunk.min(pos);
        pos -= n;
        let mut more = vec![0u8; n as usize];
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut more)?;
        *read += n;
        more.extend_from_slice(&buf);
        buf = more;
        if let Some(at) = resume_point(&buf, pos == 0) {
            break Some(at);
        }
        if pos == 0 {
            break None;
        }
        chunk *= 2;
    };
    let mut chain = match start {
        None => {
            let mut c = Chain::new(ChainOptions::default());
            c.start_file();
            c
        }
        Some(at) => {
            let line = &buf[at..];
            let line = &line[..memchr::memchr(b'\n', line).unwrap_or(line.len())];
            match resume_chain(line, &first_log_id) {
                Some(c) => {
                    buf.drain(..at);
                    pos += at as u64;
                    c
                }
                None => return Ok(Tail::Broken),
            }
        }
    };
    let (valid_len, torn) = match for_lines(&mut chain, &buf, |_| {}) {
        Ok(()) => (len, 0),
        Err(b) if b.torn_tail => (pos + b.valid_bytes as u64, len - pos - b.valid_bytes as u64),
        Err(_) => return Ok(Tail::Broken),
    };
    match chain.end_file() {
        Ok(v) => Ok(Tail::Good {
            tree: chain.tree().cloned(),
            v: Box::new(v),
            valid_len,
            torn,
            file_first_seq,
        }),
        Err(_) => Ok(Tail::Broken),
    }
}

/// The log id and first `seq` a file's first line gives (a segment header
/// or `log_start`).
fn first_line(line: &[u8]) -> Option<(String, u64)> {
    if let Ok(h) = serde_json::from_slice::<SegmentHeader>(line) {
        return (h.kind == "segment").then_some((h.log_id, h.next_seq));
    }
    #[derive(serde::Deserialize)]
    struct Start {
        seq: u64,
        kind: String,
        log_id: String,
    }
    let r: Start = serde_json::from_slice(line).ok()?;
    (r.seq == 0 && r.kind == "log_start").then_some((r.log_id, 0))
}

/// A verifier resuming at a checkpoint record: it must be for this log; its
/// frontier is the tree before it.
fn resume_chain(line: &[u8], log_id: &str) -> Option<Chain> {
    #[derive(serde::Deserialize)]
    struct Cp {
        seq: u64,
        log_id: String,
        tree_size: u64,
        frontier: Vec<String>,
        prev: String,
    }
    let c: Cp = serde_json::from_slice(line).ok()?;
    if c.log_id != log_id || c.tree_size != c.seq {
        return None;
    }
    let peaks = c
        .frontier
        .iter()
        .map(|h| {
            let mut b = [0u8; 32];
            hex::decode_to_slice(h, &mut b).ok().map(|_| b)
        })
        .collect::<Option<Vec<_>>>()?;
    let tree = Frontier::from_parts(c.tree_size, peaks)?;
    let mut prev = [0u8; 32];
    hex::decode_to_slice(&c.prev, &mut prev).ok()?;
    Some(Chain::resume(&c.log_id, c.seq, prev, Some(tree)))
}

/// An existing file whose tail did not verify, read whole: a torn last
/// record is cut off; otherwise the file is kept aside (or refused) and a
/// new file continues from the last verified record.
fn open_broken(
    path: &str,
    opts: &Options,
    file: &mut File,
    data: &[u8],
    opened: &mut Opened,
) -> Result<Start, AuditError> {
    let io_err = |what: String| AuditError::Io {
        path: path.to_string(),
        what,
    };
    let p = Path::new(path);
    let broken = match verify_tree(data) {
        Ok((v, tree)) => {
            return Ok(Start {
                next_seq: v.count,
                head: unhex(&v.head),
                file_first_seq: v.first_seq,
                log_id: v.log_id,
                first: vec![],
                header: None,
                tree,
            })
        }
        Err(b) => b,
    };
    if broken.torn_tail && broken.valid_bytes > 0 {
        if let Ok((v, tree)) = verify_tree(&data[..broken.valid_bytes]) {
            let cut = (data.len() - broken.valid_bytes) as u64;
            file.set_len(broken.valid_bytes as u64)
                .map_err(|e| io_err(format!("truncate torn tail: {e}")))?;
            opened.truncated = cut;
            return Ok(Start {
                next_seq: v.count,
                head: unhex(&v.head),
                file_first_seq: v.first_seq,
                log_id: v.log_id,
                first: vec![Event::Recovery {
                    truncated_bytes: cut,
                }],
                header: None,
                tree,
            });
        }
    }
    if opts.on_corrupt == OnCorrupt::Refuse {
        return Err(AuditError::Corrupt {
            path: path.to_string(),
            broken,
        });
    }
    let to = aside_name(path, "broken");
    std::fs::rename(p, &to).map_err(|e| io_err(format!("keep aside as {to}: {e}")))?;
    *file = open_file(p, true).map_err(|e| io_err(format!("open: {e}")))?;
    let why = broken.to_string();
    tracing::error!(path, kept_aside = %to, problem = %why,
        "audit log did not verify: kept aside untouched; a new file continues from the last verified record");
    let mut s = match verify_tree(&data[..broken.valid_bytes]) {
        Ok((v, tree)) => Start {
            header: Some(
                SegmentHeader {
                    kind: "segment".into(),
                    log_id: v.log_id.clone(),
                    next_seq: v.count,
                    prev: v.head.clone(),
                    reason: "kept_aside".into(),
                    ts: now(),
                    frontier: tree.as_ref().map(frontier_hex),
                }
                .line(),
            ),
            next_seq: v.count,
            head: unhex(&v.head),
            log_id: v.log_id,
            first: vec![],
            file_first_seq: v.count,
            tree,
        },
        // Nothing in the file verifies (a torn segment header: a stop during
        // a rotation's first write): continue from the last closed segment.
        Err(_) => after_last_segment(path, "kept_aside").map_or_else(fresh, |(s, _)| s),
    };
    s.first.push(Event::FileEvent {
        event: "kept_aside",
        file: path.to_string(),
        kept_aside: Some(to.clone()),
        detail: Some(why.clone()),
    });
    metrics::counter!(m::AUDIT_FILE_EVENTS, "event" => "kept_aside").increment(1);
    opened.kept_aside = Some((to, why));
    Ok(s)
}

/// Where a log continues when its live file holds no record at start but a
/// closed segment lies beside it — a stop between a rotation's rename and
/// the new file's first write (or a live file deleted or emptied while
/// stopped): the last segment's tail is verified and a new file continues
/// the chain from its last record, with a segment header giving `reason`.
/// `None` when there is no segment or its tail does not verify. Returns
/// the segment read too.
fn after_last_segment(path: &str, reason: &str) -> Option<(Start, String)> {
    let (seg, ..) = segments_of(path, u64::MAX).pop()?;
    let mut f = File::open(&seg).ok()?;
    let mut read = 0;
    let Ok(Tail::Good {
        v, tree, torn: 0, ..
    }) = read_tail(&mut f, &mut read)
    else {
        tracing::error!(path, segment = %seg,
            "the last closed audit segment does not verify: a new log is started");
        return None;
    };
    let header = SegmentHeader {
        kind: "segment".into(),
        log_id: v.log_id.clone(),
        next_seq: v.count,
        prev: v.head.clone(),
        reason: reason.into(),
        ts: now(),
        frontier: tree.as_ref().map(frontier_hex),
    };
    Some((
        Start {
            header: Some(header.line()),
            next_seq: v.count,
            head: unhex(&v.head),
            log_id: v.log_id,
            first: vec![],
            file_first_seq: v.count,
            tree,
        },
        seg,
    ))
}

/// The `file_event` detail (and warning) of a start that resumed from the
/// last segment; `gap`: records the checkpoint file covers past its end.
fn resumed_detail(seg: &str, next_seq: u64, gap: u64) -> String {
    let mut d = format!(
        "the live file held no record at start (a stop during rotation, or the file was removed): the chain continues from segment {seg} at record {next_seq}"
    );
    if gap > 0 {
        use std::fmt::Write;
        let _ = write!(
            d,
            "; the checkpoint file covers {gap} records past it: they were in the live file and are lost"
        );
    }
    d
}

/// Records covered by the checkpoint file already written out for this
/// log (0 when there is none).
fn published_of(file: Option<&str>, log_id: &str) -> u64 {
    let Some(f) = file else { return 0 };
    std::fs::read(f)
        .ok()
        .and_then(|d| serde_json::from_slice::<Checkpoint>(&d).ok())
        .filter(|c| c.log_id == log_id)
        .map_or(0, |c| c.tree_size + 1)
}

/// Replaces the checkpoint file atomically (write a temporary file, sync,
/// rename, sync the directory) and appends the checkpoint to
/// `FILE.history`.
fn write_checkpoint_file(file: &str, cp: &Checkpoint) -> std::io::Result<()> {
    let line = cp.line();
    let tmp = format!("{file}.tmp");
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(&line)?;
        f.sync_all()?;
    }
    crash_point("checkpoint_before_rename");
    std::fs::rename(&tmp, file)?;
    crash_point("checkpoint_before_history");
    let mut h = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(format!("{file}.history"))?;
    h.write_all(&line)?;
    h.sync_data()?;
    sync_dir(Path::new(file));
    Ok(())
}

/// The closed segments beside the live file `path` (named by
/// [`segment_name`]), in chain order: path, first seq, the seq after its
/// last record (the next segment's first, or `live_first` for the last),
/// and when it was closed.
pub fn segments_of(path: &str, live_first: u64) -> Vec<(String, u64, u64, SystemTime)> {
    let p = Path::new(path);
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(live_name) = p.file_name().and_then(|n| n.to_str()) else {
        return vec![];
    };
    let mut segs: Vec<(String, u64, SystemTime)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let s = parse_segment_name(live_name, &name)?;
            Some((dir.join(&name).display().to_string(), s.first_seq, s.closed))
        })
        .collect();
    segs.sort_by_key(|s| s.1);
    let nexts: Vec<u64> = segs
        .iter()
        .skip(1)
        .map(|s| s.1)
        .chain(std::iter::once(live_first))
        .collect();
    segs.into_iter()
        .zip(nexts)
        .map(|((p, first, closed), next)| (p, first, next, closed))
        .collect()
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        if !lock(&self.shared.state).closed {
            let _ = self.close();
        }
    }
}

/// In `none` mode, how long the syncer lets records accumulate before one
/// write (fewer, larger writes; nothing waits on them).
const NONE_GATHER: Duration = Duration::from_millis(2);

/// `batch` mode: the longest a record waits for a sync nobody asked for.
pub const COMMIT_WINDOW: Duration = Duration::from_millis(1);

/// `batch` mode: pending bytes that start a sync at once.
pub const COMMIT_BYTES: usize = 256 << 10;

/// Retry delay after `failures` (≥ 1) failed attempts: 50 ms doubling to 2 s.
fn backoff(failures: u64) -> Duration {
    let n = failures.saturating_sub(1).min(6);
    Duration::from_millis(50u64.saturating_mul(1 << n)).min(Duration::from_secs(2))
}

fn syncer(s: Arc<Shared>) {
    loop {
        let retry = {
            let mut st = lock(&s.state);
            let retry = st.outage.as_ref().map(|o| backoff(o.failures));
            loop {
                if s.stop.load(Ordering::SeqCst) || retry.is_some() {
                    break;
                }
                // Wake on append when due (or after the window), and at
                // least once a second to check the file and notice a stop.
                let wait = match st.oldest {
                    None => CHECK_EVERY,
                    Some(_) if s.opts.mode != SyncMode::Batch => break,
                    Some(_) if st.commit_asked || st.buf.len() >= COMMIT_BYTES => break,
                    Some(t) => match COMMIT_WINDOW.checked_sub(t.elapsed()) {
                        Some(left) if !left.is_zero() => left,
                        _ => break,
                    },
                };
                st.syncer_waiting = true;
                let (g, timeout) = s
                    .wake
                    .wait_timeout(st, wait)
                    .unwrap_or_else(|e| e.into_inner());
                st = g;
                st.syncer_waiting = false;
                if timeout.timed_out() && st.oldest.is_none() {
                    // The periodic file check.
                    break;
                }
            }
            if let Some(r) = retry.filter(|_| !s.stop.load(Ordering::SeqCst)) {
                st.syncer_waiting = false;
                let (g, _) = s
                    .wake
                    .wait_timeout(st, r)
                    .unwrap_or_else(|e| e.into_inner());
                drop(g);
            }
            retry
        };
        if s.stop.load(Ordering::SeqCst) {
            return;
        }
        if s.opts.mode == SyncMode::None && retry.is_none() {
            std::thread::sleep(NONE_GATHER);
        }
        s.check_clock();
        s.tick_checkpoint();
        let _ = s.sync();
    }
}

/// Clock and randomness for the records (the pure encoder takes them).
/// Current UTC time, RFC 3339 with milliseconds.
pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Sets `ts` to the current time as [`now`] spells it, formatting only when
/// the millisecond changed since `ms` (many records share one).
fn stamp(ts: &mut String, ms: &mut u128) {
    let t = std::time::SystemTime::now();
    let m = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    if m != *ms || ts.is_empty() {
        *ms = m;
        ts.clear();
        use std::fmt::Write;
        let _ = write!(ts, "{}", humantime::format_rfc3339_millis(t));
    }
}

/// A hash from the 64 hex digits a verified chain reports.
fn unhex(s: &str) -> Hash {
    let mut h = [0u8; 32];
    // Verified heads are always 64 hex digits.
    let _ = hex::decode_to_slice(s, &mut h);
    h
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
