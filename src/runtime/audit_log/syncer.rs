//! The syncer thread and the group commit: when pending records are written
//! and synced, and the durable mark published.

use super::*;

impl Shared {
    /// Writes (and, unless `none`, syncs) everything appended so far.
    /// `force`: compare the path with the open file now. Returns the
    /// durable sequence number and whether a new file was started.
    pub(super) fn sync_inner(&self, force: bool) -> Result<(u64, bool), AuditError> {
        self.sync_if(force, true)
            .map(|r| r.expect("a waiting sync always runs"))
    }

    /// [`Shared::sync_inner`]; with `wait` false, nothing (None) when the
    /// file's lock is taken: someone is writing already.
    // Long (~110 lines): the two locks are taken and released in one order
    // here (state, then file), which splitting would spread over functions.
    pub(super) fn sync_if(
        &self,
        force: bool,
        wait: bool,
    ) -> Result<Option<(u64, bool)>, AuditError> {
        let mut st = lock(&self.state);
        let mut io = if wait {
            lock(&self.io)
        } else {
            match self.io.try_lock() {
                Ok(io) => io,
                Err(std::sync::TryLockError::WouldBlock) => return Ok(None),
                Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            }
        };
        st.commit_asked = false;
        st.oldest = None;
        // The staged records are sealed below, once the state lock is
        // released (appends go on meanwhile).
        let staged = io.take_staged(&mut st);
        st.held_bytes = io.pending.len() + staged.len();
        let recovering = st.outage.is_some();
        drop(st);
        io.seal_taken(staged, self);
        let mut event = None;
        let mut rotated = None;
        let result = (|| -> std::io::Result<()> {
            let due = force
                || !io.pending.is_empty()
                || recovering
                || io.last_check.elapsed() >= CHECK_EVERY;
            // The path is compared with the file at most every
            // `CHECK_BUSY` under traffic: two `stat` calls before a write
            // cost its `fdatasync` the room's whole gain (measured,
            // `audit_commit`). A file emptied or cut short in between is
            // found right after the write instead (`truncated_under_us`).
            let every = if io.pending.is_empty() {
                CHECK_EVERY
            } else {
                CHECK_BUSY
            };
            // Before a rotation too: it renames what the path names.
            let check = force
                || recovering
                || io.last_check.elapsed() >= every
                || (due && self.rotation_due(&io));
            if check && io.header.is_none() {
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
            match io.write_out(self.opts.mode) {
                Err(e) if is_truncated_under_us(&e) && event.is_none() => {
                    // Cut since the check: a new file (the same one, when
                    // it had been emptied).
                    event = Some(self.new_file(&mut io, Change::Truncated)?);
                    io.write_out(self.opts.mode)?;
                }
                r => r?,
            }
            if rotated.is_some() {
                crash_point("rotate_after_first_write");
            }
            if event.is_some() || rotated.is_some() {
                sync_dir(Path::new(&self.path));
            }
            Ok(())
        })();
        let durable = io.durable_seq;
        let file = &self.path;
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
                    self.file_event(e, file);
                }
                if recovering {
                    self.recovered();
                }
                self.publish(durable);
                self.make_room();
                if let Some(seg) = rotated {
                    metrics::counter!(m::AUDIT_FILE_EVENTS, "event" => "rotated").increment(1);
                    tracing::info!(path = %file, segment = %seg, "audit log rotated");
                    self.retention();
                }
                Ok(Some((durable, started)))
            }
            Err(e) => {
                if let Some(ev) = event {
                    // The new file exists; its header is still due.
                    self.file_event(ev, file);
                }
                Err(self.failed(e.to_string()))
            }
        }
    }

    /// Keeps the live file's room (see [`Options::preallocate`]) once what
    /// was synced is published, when nothing waits for the next commit:
    /// its write and sync (about 1.2 ms for 1 MiB) would delay that commit.
    /// Under a steady stream of records the log is never idle here, and
    /// appends grow the file past its room instead: one size change per
    /// sync of a large group costs less than writing every byte twice
    /// (spaces, then records) plus a sync of its own per half room
    /// (measured: `benches/RESULTS.md`, *Room only when idle*).
    fn make_room(&self) {
        if self.opts.mode == SyncMode::None {
            return;
        }
        // State, then file: the locks' one order.
        let st = lock(&self.state);
        if st.oldest.is_some() || st.commit_asked || st.outage.is_some() {
            return;
        }
        let mut io = lock(&self.io);
        drop(st);
        if io.room_failed {
            return;
        }
        if let Err(e) = io.make_room(self.opts.preallocate) {
            io.room_failed = true;
            metrics::counter!(m::AUDIT_FILE_EVENTS, "event" => "no_room").increment(1);
            tracing::warn!(path = %self.path, error = %e,
                "audit log: no room could be made ahead of the live file; appends grow it (each sync journals the new length) until the next file");
        }
    }

    pub(super) fn sync(&self) -> Result<u64, AuditError> {
        self.sync_inner(false).map(|(d, _)| d)
    }

    /// Compares the wall clock with the monotonic clock since the last
    /// check; a step larger than [`CLOCK_JUMP`] is logged and recorded.
    pub(super) fn check_clock(&self) {
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
}

/// In `none` mode, how long the syncer lets records accumulate before one
/// write (fewer, larger writes; nothing waits on them).
pub(super) const NONE_GATHER: Duration = Duration::from_millis(2);

/// Under traffic, how often the live file is compared with its path.
pub(super) const CHECK_BUSY: Duration = Duration::from_millis(50);

/// `batch` mode: the longest a record waits for a sync nobody asked for.
pub const COMMIT_WINDOW: Duration = Duration::from_millis(1);

/// `batch` mode: pending bytes that start a sync at once.
pub const COMMIT_BYTES: usize = 256 << 10;

pub(super) fn syncer(s: Arc<Shared>) {
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
                    Some(_) if st.commit_asked || st.staged.len() >= COMMIT_BYTES => break,
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
