//! Checkpoints: the Merkle tree's signed root, appended as a record and,
//! once durable, written out for a witness.

use super::*;

impl Shared {
    /// Appends a checkpoint record of the tree so far (under the state lock,
    /// so its `seq` is the tree's size; its body is made when the syncer
    /// seals it, from the tree as it stands then).
    pub(super) fn checkpoint_locked(&self, st: &mut State) {
        if !st.tree {
            return;
        }
        self.push_checkpoint(st, &now());
        if let Some(o) = &mut st.outage {
            o.held += 1;
        }
        st.since_checkpoint = 0;
        st.last_checkpoint = Instant::now();
    }

    /// A time-based checkpoint, when due.
    pub(super) fn tick_checkpoint(&self) {
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
    pub(super) fn publish(&self, durable: u64) {
        let cp = {
            let io = lock(&self.io);
            match &io.unpublished {
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
        let mut io = lock(&self.io);
        if io.unpublished.as_ref() == Some(&cp) {
            io.unpublished = None;
        }
        drop(io);
        if self.opts.checkpoint_file.is_some() {
            // The checkpoint record itself (seq = tree_size) is covered too.
            self.published.fetch_max(cp.tree_size + 1, Ordering::SeqCst);
        }
    }
}

/// The hex of a frontier's peaks (checkpoint records, segment headers).
pub(super) fn frontier_hex(t: &Frontier) -> Vec<String> {
    t.peaks().iter().map(hex::encode).collect()
}

/// Records covered by the checkpoint file already written out for this
/// log (0 when there is none).
pub(super) fn published_of(file: Option<&str>, log_id: &str) -> u64 {
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
pub(super) fn write_checkpoint_file(file: &str, cp: &Checkpoint) -> std::io::Result<()> {
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
