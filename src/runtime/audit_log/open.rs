//! Opening a log: verifying what is there, resuming its chain, or keeping a
//! file that does not verify aside.

use super::*;

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
        let mut start = start_of(path, &opts, &mut file, &mut opened)?;
        opened.records = start.next_seq;
        // Make the first records (log start, recovery, kept aside) durable
        // before use.
        let mut buf = start.header.clone().unwrap_or_default();
        let mut head = start.head;
        let mut next_seq = start.next_seq;
        let mut tree = start.tree.take();
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
        let key_and_tree = (key, tree);
        let shared = Arc::new(Shared::opened(
            path,
            opts,
            start,
            (file, meta),
            (next_seq, head),
            key_and_tree,
        ));
        let checkpoints =
            shared.opts.checkpoint_every.is_some() || shared.opts.checkpoint_interval.is_some();
        if checkpoints && !lock(&shared.state).tree {
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
}

/// Where an existing file leaves the chain: its verified tail (a torn last
/// record cut off), the last segment's end when the live file is empty, a
/// fresh log, or — for a file that does not verify — what
/// [`open_broken`] decides.
fn start_of(
    path: &str,
    opts: &Options,
    file: &mut File,
    opened: &mut Opened,
) -> Result<Start, AuditError> {
    let io_err = |what: String| AuditError::Io {
        path: path.to_string(),
        what,
    };
    Ok(
        match read_tail(file, &mut opened.read_bytes).map_err(|e| io_err(format!("read: {e}")))? {
            Tail::Empty => {
                // Nothing but room (or nothing): the file starts again.
                if file.metadata().is_ok_and(|m| m.len() > 0) {
                    file.set_len(0)
                        .map_err(|e| io_err(format!("truncate room: {e}")))?;
                }
                after_last_segment_or_fresh(path, opts)
            }
            Tail::Good {
                v,
                tree,
                valid_len,
                torn,
                file_first_seq,
            } => {
                let mut first = vec![];
                let room = file
                    .metadata()
                    .map_err(|e| io_err(format!("stat: {e}")))?
                    .len()
                    > valid_len + torn;
                if torn > 0 || room {
                    // A torn last record, and a preallocated file's room,
                    // are cut off: appending continues after the last
                    // record (and the room is made again). The file keeps
                    // its time: daily rotation counts from its last write.
                    let written = file.metadata().and_then(|m| m.modified());
                    file.set_len(valid_len)
                        .map_err(|e| io_err(format!("truncate torn tail: {e}")))?;
                    if let Ok(t) = written {
                        let _ = file.set_modified(t);
                    }
                }
                if torn > 0 {
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
                open_broken(path, opts, file, &data, opened)?
            }
        },
    )
}

/// A live file that holds no record: the chain continues from the last
/// closed segment (recorded as `resumed`), or a new log starts.
fn after_last_segment_or_fresh(path: &str, opts: &Options) -> Start {
    match after_last_segment(path, "resumed") {
        Some((mut s, seg)) => {
            // The checkpoint written out covers records up to its
            // own (`published_of` is the count).
            let gap =
                published_of(opts.checkpoint_file.as_deref(), &s.log_id).saturating_sub(s.next_seq);
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
    }
}

impl Shared {
    /// The writer's state for a file just opened at `path`: `start` is where
    /// its chain stands, `(next_seq, head)` after the first records.
    fn opened(
        path: &str,
        opts: Options,
        start: Start,
        (file, meta): (File, Metadata),
        (next_seq, head): (u64, Hash),
        (key, tree): (Option<Ed25519KeyPair>, Option<Frontier>),
    ) -> Shared {
        let published = published_of(opts.checkpoint_file.as_deref(), &start.log_id);
        let (durable, _) = watch::channel(next_seq);
        Shared {
            path: path.to_string(),
            log_id: start.log_id,
            opts,
            state: Mutex::new(State {
                syncer_waiting: false,
                commit_asked: false,
                oldest: None,
                staged: Vec::new(),
                next_seq,
                ts: String::new(),
                ts_ms: 0,
                outage: None,
                held_bytes: 0,
                closed: false,
                tree: tree.is_some(),
                since_checkpoint: 0,
                last_checkpoint: Instant::now(),
            }),
            io: Mutex::new(Io {
                id: ident(&meta),
                durable_len: meta.len(),
                room_end: meta.len(),
                room_failed: false,
                file,
                staged_spare: Vec::new(),
                pending: Vec::new(),
                sealed_seq: next_seq,
                sealed_head: head,
                sealed_tree: tree.clone(),
                durable_seq: next_seq,
                durable_head: head,
                dirty: false,
                header: None,
                last_check: Instant::now(),
                durable_tree: tree,
                unpublished: None,
                file_first_seq: start.file_first_seq,
                file_started: meta.modified().unwrap_or_else(|_| SystemTime::now()).min(
                    // A file's time-based rotation counts from when it was
                    // last written, or now.
                    SystemTime::now(),
                ),
                #[cfg(test)]
                fail_writes: false,
                #[cfg(test)]
                cut_before_write: None,
            }),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            healthy: AtomicBool::new(true),
            durable,
            sealed: Mutex::new((next_seq, head)),
            key,
            published: AtomicU64::new(published),
            clock: Mutex::new(ClockWatch {
                open_wall: SystemTime::now(),
                open_mono: Instant::now(),
                last_wall: SystemTime::now(),
                last_mono: Instant::now(),
            }),
        }
    }
}

pub(super) fn fresh() -> Start {
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

/// Verifies a whole file's bytes; its state and Merkle tree.
pub(super) fn verify_tree(data: &[u8]) -> Result<(Verified, Option<Frontier>), Broken> {
    let mut chain = Chain::new(ChainOptions::default());
    chain.start_file();
    for_lines(&mut chain, data, |_| {})?;
    let v = chain.end_file()?;
    Ok((v, chain.tree().cloned()))
}

/// What the end of an existing file says.
pub(super) enum Tail {
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
pub(super) const TAIL_CHUNK: usize = 64 << 10;

/// Reads the file from the end back to its last checkpoint record (or its
/// start) and verifies from there. `read` counts the bytes read.
pub(super) fn read_tail(file: &mut File, read: &mut u64) -> std::io::Result<Tail> {
    let len = content_len(file, read)?;
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

/// The length of a file's content: up to its last byte that is not a space (the spaces
/// after it are a preallocated file's room, [`without_room`]). Reads back
/// from the end in [`TAIL_CHUNK`]s; `read` counts the bytes read.
pub(super) fn content_len(file: &mut File, read: &mut u64) -> std::io::Result<u64> {
    let mut end = file.metadata()?.len();
    // A file without room (closed, or no preallocation) ends in a line
    // feed (or a torn record): one byte tells.
    let mut last = [0u8];
    if end > 0 {
        file.seek(SeekFrom::Start(end - 1))?;
        file.read_exact(&mut last)?;
        *read += 1;
        if last[0] != ROOM {
            return Ok(end);
        }
    }
    let mut chunk = vec![0u8; TAIL_CHUNK];
    while end > 0 {
        let n = (TAIL_CHUNK as u64).min(end);
        let buf = &mut chunk[..n as usize];
        file.seek(SeekFrom::Start(end - n))?;
        file.read_exact(buf)?;
        *read += n;
        let content = without_room(buf).len() as u64;
        if content > 0 {
            return Ok(end - n + content);
        }
        end -= n;
    }
    Ok(0)
}

/// The log id and first `seq` a file's first line gives (a segment header
/// or `log_start`).
pub(super) fn first_line(line: &[u8]) -> Option<(String, u64)> {
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
pub(super) fn resume_chain(line: &[u8], log_id: &str) -> Option<Chain> {
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
// Long (~90 lines): torn tail, refuse and keep-aside are one decision over
// the same verification result.
pub(super) fn open_broken(
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
    // Its room is not content: a torn tail is cut back to the last record.
    let data = without_room(data);
    let broken = match verify_tree(data) {
        Ok((v, tree)) => {
            file.set_len(data.len() as u64)
                .map_err(|e| io_err(format!("truncate room: {e}")))?;
            return Ok(Start {
                next_seq: v.count,
                head: unhex(&v.head),
                file_first_seq: v.first_seq,
                log_id: v.log_id,
                first: vec![],
                header: None,
                tree,
            });
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
