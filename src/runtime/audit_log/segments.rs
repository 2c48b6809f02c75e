//! The live file and its segments: a new file after a deletion, replacement
//! or truncation, rotation by size or time, retention, and listing segments.

use super::*;

impl Shared {
    /// Starts a new file after `change`: a fresh file at the path (moving a
    /// foreign or partly truncated file aside), or the truncated file itself
    /// when it is empty. Its first line will be a segment header continuing
    /// from the last durable record.
    pub(super) fn new_file(&self, io: &mut Io, change: Change) -> std::io::Result<FileEvent> {
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
    pub(super) fn started_file(&self, io: &mut Io, reason: &str) -> std::io::Result<()> {
        io.id = ident(&io.file.metadata()?);
        io.durable_len = 0;
        io.room_end = 0;
        io.room_failed = false;
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
    pub(super) fn rotation_due(&self, io: &Io) -> bool {
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
    pub(super) fn rotate(&self, io: &mut Io) -> std::io::Result<String> {
        io.drop_room()?;
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

    /// "Now" for retention: the wall clock, but never later than the wall
    /// clock at open plus the monotonic time since, so a step forward while
    /// running does not age segments.
    pub(super) fn retention_now(&self) -> SystemTime {
        let c = lock(&self.clock);
        SystemTime::now().min(c.open_wall + c.open_mono.elapsed())
    }

    /// Deletes closed segments older than `retain` whose records are all
    /// covered by a checkpoint written out; records each deletion. Never
    /// the live file nor the newest closed segment (the one just sealed).
    pub(super) fn retention(&self) {
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
    pub(super) fn file_event(&self, e: FileEvent, file: &str) {
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
}

/// A free name beside `path` for content moved aside.
pub(super) fn aside_name(path: &str, what: &str) -> String {
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

/// Where a log continues when its live file holds no record at start but a
/// closed segment lies beside it — a stop between a rotation's rename and
/// the new file's first write (or a live file deleted or emptied while
/// stopped): the last segment's tail is verified and a new file continues
/// the chain from its last record, with a segment header giving `reason`.
/// `None` when there is no segment or its tail does not verify. Returns
/// the segment read too.
pub(super) fn after_last_segment(path: &str, reason: &str) -> Option<(Start, String)> {
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
pub(super) fn resumed_detail(seg: &str, next_seq: u64, gap: u64) -> String {
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
