//! The audit log writer: appends hash-chained records and makes them durable
//! in groups (group commit), publishing "durable up to record N" so the proxy
//! forwards a message only after its record is on disk.
//!
//! Appends take a short lock: the record's body (encoded before it) is
//! staged with its sequence number and timestamp. A syncer thread takes
//! what is staged at each group commit, *seals* it — writes every record's
//! line with its `prev` and `hash` and adds it to the Merkle tree, in one
//! pass per group, off the appenders' path — writes the lines and calls
//! `fdatasync`. The file's format is unchanged by this: each line is the
//! line an append-time encoder would have written. In `batch` mode
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

mod checkpoint;
mod open;
mod outage;
mod segments;
mod syncer;
mod writer;

pub use segments::segments_of;
pub use syncer::{COMMIT_BYTES, COMMIT_WINDOW};
// The rooms' helpers, for each other (each room imports `super::*`).
use checkpoint::*;
use open::*;
use outage::*;
use segments::*;
use syncer::*;
use writer::*;

use crate::audit::checkpoint::{load_signing_key, Checkpoint};
use crate::audit::line::{encode, encode_members, Body};
use crate::audit::merkle::{Frontier, Hash};
use crate::audit::record::{anchor_hash, Event, SegmentHeader};
use crate::audit::segment::{interval_crossed, parse_segment_name, resume_point, segment_name};
use crate::audit::verify::{for_lines, without_room, Broken, Chain, ChainOptions, Verified, ROOM};
use crate::runtime::fault::crash_point;
use crate::runtime::metrics as m;
use ring::signature::Ed25519KeyPair;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
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
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::parse_name(s, "audit sync mode")
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
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::parse_name(s, "audit on_corrupt")
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
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::parse_name(s, "audit on_failure")
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
    /// Bytes of spaces kept written ahead of the live file's content, its
    /// *room* (0: none). Appending then overwrites instead of growing the
    /// file, so a sync has no size change to journal. Not in `none` mode.
    pub preallocate: u64,
}

/// Default [`Options::preallocate`]: 1 MiB.
pub const PREALLOCATE: u64 = 1 << 20;
/// Largest [`Options::preallocate`]: 16 MiB (a reader holds a file's room
/// in memory once, as its last line).
pub const MAX_PREALLOCATE: u64 = 16 << 20;

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
            preallocate: PREALLOCATE,
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
    /// When the oldest record in `staged` was appended.
    oldest: Option<Instant>,
    /// Records appended and not yet written as lines: their sequence
    /// numbers and timestamps are fixed here, their chain parts (`prev`,
    /// `hash`, the Merkle tree) are computed per group commit, by the
    /// syncer ([`Io::seal`]). See [`stage`] for the layout.
    staged: Vec<u8>,
    next_seq: u64,
    /// The last timestamp given, and the millisecond it spells.
    ts: String,
    ts_ms: u128,
    outage: Option<Outage>,
    /// Bytes taken by the syncer and not yet durable (mirrors `Io::pending`).
    held_bytes: usize,
    closed: bool,
    /// The log keeps a Merkle tree (false: a file continuing a version 1
    /// segment: no checkpoints until a new log).
    tree: bool,
    /// Records appended since the last checkpoint.
    since_checkpoint: u64,
    /// When the last checkpoint was appended.
    last_checkpoint: Instant,
}

struct Io {
    file: File,
    /// Device and inode of `file` (to notice replacement).
    id: (u64, u64),
    /// The staging buffer the syncer sealed last, swapped for the full
    /// one at the next commit (two buffers, no allocation per commit).
    staged_spare: Vec<u8>,
    /// Lines sealed and not yet durable.
    pending: Vec<u8>,
    /// Sequence number after the last sealed record, its hash, and the
    /// Merkle tree of every sealed record (None: no tree, see
    /// [`State::tree`]).
    sealed_seq: u64,
    sealed_head: Hash,
    sealed_tree: Option<Frontier>,
    /// Length of the file's durable content.
    durable_len: u64,
    /// Where the live file's room ends: spaces written (and synced) from
    /// the content's end to here; `durable_len` or less when it has none.
    room_end: u64,
    /// Making room failed (disk full): said once per file.
    room_failed: bool,
    /// Sequence number after the last durable record, and its hash.
    durable_seq: u64,
    durable_head: Hash,
    /// A write was attempted past `durable_len` and not completed.
    dirty: bool,
    /// A new file's header line, written before anything else in it.
    header: Option<Vec<u8>>,
    last_check: Instant,
    /// The Merkle tree of the durable records (a new file's header).
    durable_tree: Option<Frontier>,
    /// The last checkpoint sealed and not yet written out.
    unpublished: Option<Checkpoint>,
    /// Sequence number of the live file's first record.
    file_first_seq: u64,
    /// When the live file was started (time-based rotation).
    file_started: SystemTime,
    #[cfg(test)]
    fail_writes: bool,
    /// Cuts the file to this length before the next write, as a
    /// `copytruncate` (0) or a cut between two checks would.
    #[cfg(test)]
    cut_before_write: Option<u64>,
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
    /// The sequence number after the last sealed record, and its hash (a
    /// copy of `Io::sealed_*` that never waits for the file's lock).
    sealed: Mutex<(u64, Hash)>,
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

/// A file event to record once the locks are released.
struct FileEvent {
    change: Change,
    kept_aside: Option<String>,
}

impl Shared {}

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

    /// Hash of the last record appended. Seals what is staged to know it,
    /// so it may wait for a write or sync in progress: for tools and tests;
    /// a status page asks [`AuditLog::sealed`], which never waits.
    pub fn head(&self) -> String {
        let io = self.shared.seal_staged();
        hex::encode(io.sealed_head)
    }

    /// The number of records sealed (chained and hashed) so far and the
    /// hash of the last one, without waiting for the file (the syncer
    /// seals at every commit: at most a commit behind [`AuditLog::count`]).
    pub fn sealed(&self) -> (u64, String) {
        let (n, h) = *lock(&self.shared.sealed);
        (n, hex::encode(h))
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
        let mut io = lock(&self.shared.io);
        // A closed file has no room (an open one's is cut at start too).
        if r.is_ok() {
            let _ = io.drop_room();
        }
        // Another writer may open the file now.
        let _ = io.file.unlock();
        drop(io);
        if let Err(e) = &r {
            let st = lock(&self.shared.state);
            tracing::error!(error = %e, held_bytes = st.held_bytes + st.staged.len(),
                "audit log closed with records that could not be written");
        }
        r
    }

    #[cfg(test)]
    fn inject_write_failures(&self, on: bool) {
        lock(&self.shared.io).fail_writes = on;
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        if !lock(&self.shared.state).closed {
            let _ = self.close();
        }
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
#[path = "../audit_log_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "../audit_log_room_tests.rs"]
mod room_tests;
