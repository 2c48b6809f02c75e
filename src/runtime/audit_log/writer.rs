//! Appending: a record's line is written and hashed into the shared buffer
//! under the state lock, and the buffer goes to the file (`Io::write_out`).

use super::*;

impl Shared {
    /// Writes one record's line into the buffer and adds it to the tree.
    pub(super) fn push(&self, st: &mut State, ts: &str, body: &Body) -> u64 {
        let seq = st.next_seq;
        st.head = encode_line(seq, ts, body, &st.head, &mut st.buf);
        if let Some(t) = &mut st.tree {
            t.push_record(&st.head);
        }
        st.next_seq += 1;
        seq
    }

    pub(super) fn append(&self, event: &Event) -> Result<u64, AuditError> {
        self.append_body(&Body::of(event))
    }

    pub(super) fn append_body(&self, body: &Body) -> Result<u64, AuditError> {
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

/// Opens (creating) a log file for appending, owner-only, locked.
pub(super) fn open_file(p: &Path, create_new: bool) -> std::io::Result<File> {
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

impl Io {
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
            // Swapped, not moved: the old frontier's buffer is reused by
            // the next sync's copy (no allocation per commit).
            std::mem::swap(&mut self.durable_tree, &mut self.pending_tree);
        }
        let mut spent = std::mem::take(&mut self.pending);
        spent.clear();
        if self.spare.capacity() < spent.capacity() {
            self.spare = spent;
        }
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
                Ok((len < self.durable_len).then_some(Change::Truncated))
            }
        }
    }
}
