//! Appending: a record's body is staged under the state lock with its
//! sequence number and timestamp; the syncer seals a group of them (writes
//! their lines with `prev` and `hash`, and adds them to the Merkle tree) in
//! one pass per commit ([`Io::seal`]) and writes it (`Io::write_out`).

use super::*;
use crate::audit::checkpoint::CheckpointRecord;

/// A staged record: `RECORD`, the timestamp's length (one byte) and bytes,
/// the body's length (u32, little-endian) and bytes.
const RECORD: u8 = 0;
/// A staged checkpoint: `CHECKPOINT`, the timestamp's length and bytes
/// (its body is made when it is sealed, from the tree at that point).
const CHECKPOINT: u8 = 1;

/// Staged bytes past which an appender seals what is staged itself.
pub(super) const SEAL_AT: usize = 4 * COMMIT_BYTES;

/// `none` mode: bytes of records not yet written past which an appender
/// writes them itself. Nothing in `none` waits for the file otherwise, so
/// this is what bounds the log's memory when its writer falls behind.
pub(super) const NONE_UNWRITTEN: usize = 16 * COMMIT_BYTES;

/// Stages one entry into `staged` (see [`RECORD`], [`CHECKPOINT`]).
pub(super) fn stage(staged: &mut Vec<u8>, kind: u8, ts: &str, body: &[u8]) {
    // Timestamps are RFC 3339 with milliseconds (24 bytes).
    let ts = &ts.as_bytes()[..ts.len().min(255)];
    staged.push(kind);
    staged.push(ts.len() as u8);
    staged.extend_from_slice(ts);
    if kind == RECORD {
        staged.extend_from_slice(&(body.len() as u32).to_le_bytes());
        staged.extend_from_slice(body);
    }
}

impl Shared {
    /// Stages one record and gives it the next sequence number.
    pub(super) fn push(&self, st: &mut State, ts: &str, body: &Body) -> u64 {
        let seq = st.next_seq;
        stage(&mut st.staged, RECORD, ts, body.as_bytes());
        st.next_seq += 1;
        seq
    }

    /// Stages a checkpoint of the tree as it will stand before it (its
    /// `seq` is the tree's size), at `ts`.
    pub(super) fn push_checkpoint(&self, st: &mut State, ts: &str) -> u64 {
        let seq = st.next_seq;
        stage(&mut st.staged, CHECKPOINT, ts, &[]);
        st.next_seq += 1;
        seq
    }

    /// Takes what is staged and seals it (under the file lock, after the
    /// state lock is released: appends go on meanwhile). Returns the file
    /// lock.
    pub(super) fn seal_staged(&self) -> MutexGuard<'_, Io> {
        let st = lock(&self.state);
        let io = lock(&self.io);
        self.seal_locked(st, io)
    }

    fn seal_locked<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        mut io: MutexGuard<'a, Io>,
    ) -> MutexGuard<'a, Io> {
        let staged = io.take_staged(&mut st);
        // Sealed, they are held in `pending` until written (the outage
        // bound counts them there).
        st.held_bytes = io.pending.len() + staged.len();
        drop(st);
        io.seal_taken(staged, self);
        io
    }

    /// [`Shared::seal_staged`] unless the file's lock is taken.
    fn try_seal_staged(&self) {
        let st = lock(&self.state);
        if let Ok(io) = self.io.try_lock() {
            drop(self.seal_locked(st, io));
        }
    }

    pub(super) fn append(&self, event: &Event) -> Result<u64, AuditError> {
        self.append_body(&Body::of(event))
    }

    pub(super) fn append_body(&self, body: &Body) -> Result<u64, AuditError> {
        let mut wake = false;
        let (seq, help, behind) = {
            let mut st = lock(&self.state);
            if st.closed {
                return Err(AuditError::Closed);
            }
            let queued = st.staged.len() + st.held_bytes;
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
                SyncMode::Batch => first || st.commit_asked || st.staged.len() >= COMMIT_BYTES,
                _ => true,
            };
            if st.syncer_waiting && due {
                st.syncer_waiting = false;
                wake = true;
            }
            // `none`: 4 MiB not yet written (the syncer's thread got no
            // CPU for a while): the appender writes them itself, below.
            let behind = self.opts.mode == SyncMode::None
                && st.outage.is_none()
                && st.staged.len() + st.held_bytes >= NONE_UNWRITTEN;
            (seq, st.staged.len() >= SEAL_AT, behind)
        };
        if wake {
            self.wake.notify_one();
        }
        if behind {
            // A page-cache write (no sync in `none`), so that memory stays
            // bounded; a failure starts an outage, as the syncer's would.
            // Unless the syncer holds the file: it is writing (not
            // behind), and an appender must not queue every other one
            // behind the file's lock.
            let _ = self.sync_if(false, false);
            return Ok(seq);
        }
        if help {
            // The syncer is behind (its thread got no CPU for a while):
            // the appender seals, as it would have encoded before, so
            // appends never outrun the sealing without bound — unless the
            // syncer holds the file (writing, syncing: not behind, and an
            // appender must never wait on the disk).
            self.try_seal_staged();
        }
        Ok(seq)
    }
}

/// Opens (creating) a log file for writing, owner-only, locked. Not in
/// append mode: every write names its offset (a preallocated file is
/// written inside its length).
pub(super) fn open_file(p: &Path, create_new: bool) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).mode(0o600);
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

/// The live file was cut between its check and a write (see
/// `Io::truncated_under_us`).
#[derive(Debug)]
pub(super) struct TruncatedUnderUs;

impl std::fmt::Display for TruncatedUnderUs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the live file was cut under the writer")
    }
}

impl std::error::Error for TruncatedUnderUs {}

/// True for [`TruncatedUnderUs`].
pub(super) fn is_truncated_under_us(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|e| e.is::<TruncatedUnderUs>())
}

impl Io {
    /// Takes the staged records, leaving the spare buffer in their place.
    pub(super) fn take_staged(&mut self, st: &mut State) -> Vec<u8> {
        let spare = std::mem::take(&mut self.staged_spare);
        std::mem::replace(&mut st.staged, spare)
    }

    /// Seals records taken by [`Io::take_staged`]; their buffer becomes
    /// the spare.
    pub(super) fn seal_taken(&mut self, mut staged: Vec<u8>, log: &Shared) {
        self.seal(&staged, log);
        staged.clear();
        self.staged_spare = staged;
    }

    /// Seals `staged` (entries in sequence order, the first numbered
    /// `sealed_seq`): writes each record's line into `pending`, chaining
    /// it to the one before, and adds it to the Merkle tree; a checkpoint
    /// gets its body from the tree as it stands then.
    fn seal(&mut self, staged: &[u8], log: &Shared) {
        let mut r = staged;
        while let [kind, n, rest @ ..] = r {
            let (ts, rest) = rest.split_at(*n as usize);
            // Staged by `stage` from a `&str`, cut at a byte boundary of
            // ASCII (a timestamp): always valid.
            let ts = std::str::from_utf8(ts).unwrap_or_default();
            if *kind == CHECKPOINT {
                r = rest;
                let body = self.checkpoint(ts, log);
                self.line(ts, body.as_bytes());
                continue;
            }
            let (len, rest) = rest.split_at(4);
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let (body, rest) = rest.split_at(len);
            r = rest;
            self.line(ts, body);
        }
        if !staged.is_empty() {
            *lock(&log.sealed) = (self.sealed_seq, self.sealed_head);
        }
    }

    /// Writes one sealed line into `pending`.
    fn line(&mut self, ts: &str, body: &[u8]) {
        let seq = self.sealed_seq;
        self.sealed_head = encode_members(seq, ts, body, &self.sealed_head, &mut self.pending);
        if let Some(t) = &mut self.sealed_tree {
            t.push_record(&self.sealed_head);
        }
        self.sealed_seq += 1;
    }

    /// The body of a checkpoint record of the tree sealed so far (signed
    /// when the log has a key); it becomes the one to write out.
    fn checkpoint(&mut self, ts: &str, log: &Shared) -> Body {
        let tree = self
            .sealed_tree
            .as_ref()
            .expect("a checkpoint is staged only when the log keeps a tree");
        let mut cp = Checkpoint {
            log_id: log.log_id.clone(),
            tree_size: self.sealed_seq,
            root: hex::encode(tree.root()),
            time: ts.to_string(),
            key_id: None,
            signature: None,
        };
        if let Some(k) = &log.key {
            cp.sign(k);
        }
        let ev = Event::Checkpoint(CheckpointRecord::of(&cp, frontier_hex(tree)));
        self.unpublished = Some(cp);
        Body::of(&ev)
    }

    /// Writes the header (if due) and everything pending, syncing unless
    /// `none`. After a failure the file is first cut back to its durable
    /// length, so a retry never leaves a torn record in the middle.
    pub(super) fn write_out(&mut self, mode: SyncMode) -> std::io::Result<()> {
        #[cfg(test)]
        if self.fail_writes {
            self.dirty = true;
            return Err(std::io::Error::other("injected: no space left on device"));
        }
        if self.dirty {
            // The room goes too: what a failed write left in it is not
            // known to be room.
            let len = self.file.metadata()?.len();
            if len > self.durable_len {
                self.file.set_len(self.durable_len)?;
            }
            self.room_end = self.durable_len;
        }
        self.dirty = true;
        #[cfg(test)]
        if let Some(len) = self.cut_before_write.take() {
            self.file.set_len(len)?;
        }
        let mut at = self.durable_len;
        if let Some(h) = &self.header {
            self.file.write_all_at(h, at)?;
            at += h.len() as u64;
            crash_point("new_file_after_header");
        }
        self.file.write_all_at(&self.pending, at)?;
        at += self.pending.len() as u64;
        if self.durable_len > 0 {
            self.truncated_under_us()?;
        }
        if mode != SyncMode::None {
            self.file.sync_data()?;
        }
        self.dirty = false;
        self.header = None;
        self.durable_len = at;
        // Everything sealed was in `pending`: it is all durable now.
        self.durable_seq = self.sealed_seq;
        self.durable_head = self.sealed_head;
        // Copied into the buffer it already has (no allocation per commit).
        self.durable_tree.clone_from(&self.sealed_tree);
        self.pending.clear();
        if self.pending.capacity() > 4 * COMMIT_BYTES {
            // After an outage held a large backlog: give it back.
            self.pending.shrink_to(COMMIT_BYTES);
        }
        Ok(())
    }

    /// A write names its offset, so a file cut under the writer since it
    /// was last checked (`copytruncate`, or cut short) gets the write past
    /// a run of NUL bytes. The byte before the write is the end of the
    /// last durable line: a line feed, unless the file was cut. Then
    /// [`TruncatedUnderUs`] says to start a new file now: the same one
    /// emptied again when it had been emptied (its first byte is a hole),
    /// otherwise (cut short) the file is moved aside by
    /// [`Shared::new_file`].
    fn truncated_under_us(&mut self) -> std::io::Result<()> {
        if !self.cut_under_us()? {
            return Ok(());
        }
        let mut b = [0u8];
        if self.file.read_at(&mut b, 0)? == 0 || b[0] == 0 {
            self.file.set_len(0)?;
        }
        Err(std::io::Error::other(TruncatedUnderUs))
    }

    /// True when the byte before `durable_len` (the last durable line's
    /// line feed) is not there: the file was cut under the writer, even if
    /// something wrote past the cut since (a room, a write).
    fn cut_under_us(&self) -> std::io::Result<bool> {
        if self.durable_len == 0 {
            return Ok(false);
        }
        let mut b = [0u8];
        Ok(self.file.read_at(&mut b, self.durable_len - 1)? != 1 || b[0] != b'\n')
    }

    /// Makes room (see [`Options::preallocate`]) when less than half of
    /// `size` is left past the content: spaces written from the room's end
    /// to `size` past the content, and synced, so that the next appends
    /// overwrite blocks the file already has. True when it made room.
    /// A failure (disk full) is not the log's: appends go on growing the
    /// file as without room.
    pub(super) fn make_room(&mut self, size: u64) -> std::io::Result<bool> {
        if size == 0 || self.dirty || self.header.is_some() {
            return Ok(false);
        }
        if self.room_end.saturating_sub(self.durable_len) >= size / 2 {
            return Ok(false);
        }
        // Never into a file cut under us since the last write: that is
        // for the next check or write to find (`cut_under_us`).
        if self.file.metadata()?.len() < self.room_end.max(self.durable_len)
            || self.cut_under_us()?
        {
            return Ok(false);
        }
        static SPACES: [u8; 64 << 10] = [ROOM; 64 << 10];
        let (mut at, to) = (self.room_end.max(self.durable_len), self.durable_len + size);
        let made = (|| {
            while at < to {
                let n = (to - at).min(SPACES.len() as u64) as usize;
                self.file.write_all_at(&SPACES[..n], at)?;
                at += n as u64;
            }
            self.file.sync_data()
        })();
        // Whatever was written is spaces, synced or not: room either way.
        self.room_end = at;
        made.map(|()| true)
    }

    /// Cuts the live file back to its content (before rotating or
    /// closing it: a closed file has no room).
    pub(super) fn drop_room(&mut self) -> std::io::Result<()> {
        // Only ever shorter: a file cut under us is not lengthened (with
        // NUL bytes) here.
        if (self.dirty || self.room_end > self.durable_len)
            && self.file.metadata()?.len() > self.durable_len
        {
            self.file.set_len(self.durable_len)?;
        }
        self.room_end = self.durable_len;
        Ok(())
    }

    /// Compares the path with the open file.
    pub(super) fn check(&mut self, path: &str) -> std::io::Result<Option<Change>> {
        self.last_check = Instant::now();
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(Change::Deleted)),
            Err(e) => Err(e),
            Ok(m) if ident(&m) != self.id => Ok(Some(Change::Replaced)),
            Ok(_) => {
                let len = self.file.metadata()?.len();
                let cut = len < self.durable_len || self.cut_under_us()?;
                Ok(cut.then_some(Change::Truncated))
            }
        }
    }
}
