//! `audit verify`: checks a log's hash chain and Merkle tree record by
//! record, as a stream, across the files (segments) of a log.
//!
//! [`Chain`] takes one line at a time and keeps only the chain's state —
//! the expected `seq`, the previous hash, the log id and the Merkle
//! [`Frontier`] — so memory is flat in the log's size; [`LineReader`] feeds
//! it from any `Read` in 1 MiB chunks. Each line's own hash is checked, then
//! only the chain's fields are read: `seq` and `kind` from the start of the
//! writer's fixed layout, `prev` from its end (a line not in that layout is
//! parsed as JSON). `checkpoint` records are parsed whole: their root must be
//! the root recomputed over the records before them, and with a public key
//! their signature must verify. A saved checkpoint is compared with the root
//! recomputed at its size (consistency: the log still holds that tree).
//! [`verify`] and [`verify_each`] check one file's bytes.

use super::checkpoint::{Checkpoint, CheckpointLine, SignatureError};
use super::merkle::{Frontier, Hash};
use super::record::{anchor, SegmentHeader};
use sha2::{Digest, Sha256};
use std::io::Read;

/// An intact log (or file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The sequence number after the last record (the number of records
    /// when the file holds the log from its start).
    pub count: u64,
    /// Sequence number of the first record in the file (0 from the start).
    pub first_seq: u64,
    /// The header of a file that continues a log begun elsewhere.
    pub segment: Option<super::record::SegmentHeader>,
    /// Hash of the last record (the head), or the anchor for an empty log.
    pub head: String,
    /// The log's id.
    pub log_id: String,
    /// Byte length of the verified content (for recovery).
    pub valid_bytes: usize,
    /// The last checkpoint record seen.
    pub last_checkpoint: Option<Checkpoint>,
    /// Merkle root of records `0..count`, when the tree is known (a file
    /// that starts the log, or continues one with a frontier in its header).
    pub root: Option<String>,
}

/// The first problem found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("record {seq} (line {line}): {what}")]
pub struct Broken {
    /// The sequence number expected at the bad record.
    pub seq: u64,
    /// 1-based line number (in its file).
    pub line: usize,
    /// What is wrong.
    pub what: String,
    /// Bytes of its file before the bad record (everything before verified).
    pub valid_bytes: usize,
    /// True when the only problem is an unterminated last line (a torn write).
    pub torn_tail: bool,
}

const HASH_KEY: &[u8] = b",\"hash\":\"";
const PREV_KEY: &[u8] = b",\"prev\":\"";

/// The fields of a record the chain needs (the general path).
#[derive(serde::Deserialize)]
struct ChainFields<'a> {
    seq: Option<u64>,
    #[serde(borrow)]
    prev: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    log_id: Option<std::borrow::Cow<'a, str>>,
}

/// What to check besides the chain.
#[derive(Clone, Debug, Default)]
pub struct ChainOptions {
    /// Raw Ed25519 public key: every checkpoint must be signed by it.
    pub public_key: Option<Vec<u8>>,
    /// A checkpoint saved earlier: the log must hold its tree as a prefix.
    pub saved: Option<Checkpoint>,
}

/// The outcome of comparing a saved checkpoint with the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SavedCheck {
    /// Not asked for.
    None,
    /// The log did not reach the saved size (records removed from the end,
    /// or the saved checkpoint is newer than the files given).
    NotReached,
    /// The files given start after the saved size (or without a frontier):
    /// the root there cannot be recomputed from them.
    Unknown,
    /// The root recomputed at the saved size is the saved root.
    Matches,
    /// The files are another log (a new `log_id`): the log was replaced.
    OtherLog {
        /// The id of the log given.
        log_id: String,
    },
    /// It is not: the log was rewritten.
    Differs {
        /// The root the log gives at that size.
        root: String,
    },
}

/// One record that verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Good {
    /// Its sequence number.
    pub seq: u64,
    /// Its chain hash (the Merkle leaf's content).
    pub hash: Hash,
}

/// The streaming verifier of one log, across its files.
#[derive(Debug)]
pub struct Chain {
    opts: ChainOptions,
    log_id: String,
    next_seq: u64,
    prev: Option<Hash>,
    prev_hex: [u8; 64],
    tree: Option<Frontier>,
    files: usize,
    log_first_seq: u64,
    file_first_seq: u64,
    file_segment: Option<SegmentHeader>,
    file_line: usize,
    file_bytes: usize,
    last_checkpoint: Option<Checkpoint>,
    checkpoints: u64,
    saved: SavedCheck,
}

fn hex64(h: &Hash) -> [u8; 64] {
    let mut out = [0u8; 64];
    // 32 bytes always fit 64 hex digits.
    let _ = hex::encode_to_slice(h, &mut out);
    out
}

fn unhex(s: &str) -> Option<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(s, &mut h).ok()?;
    Some(h)
}

/// A record line's hash, when the line carries it as its last field and it
/// matches (the check `verify` makes first).
pub fn own_hash(line: &[u8]) -> Option<Hash> {
    let hpos = memchr::memmem::rfind(line, HASH_KEY)?;
    let tail = &line[hpos + HASH_KEY.len()..];
    if tail.len() != 66 || &tail[64..] != b"\"}" {
        return None;
    }
    let mut h = Sha256::new();
    h.update(&line[..hpos]);
    h.update(b"}");
    let hash: Hash = h.finalize().into();
    (hex64(&hash)[..] == tail[..64]).then_some(hash)
}

/// `seq`, `kind` and `prev` read at their places in the writer's layout:
/// `{"seq":N,"ts":"…","kind":"K",…,"prev":"<64>","hash":"<64>"}`. None
/// when the line is laid out otherwise (the caller parses it as JSON).
fn fast_fields(line: &[u8], hpos: usize) -> Option<(u64, &[u8], &[u8])> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    let seq: u64 = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let rest = rest[digits..].strip_prefix(b",\"ts\":\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    if rest[end] != b'"' {
        return None;
    }
    let rest = rest[end + 1..].strip_prefix(b",\"kind\":\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    if rest[end] != b'"' {
        return None;
    }
    let kind = &rest[..end];
    if hpos < 74 + 7 || line[hpos - 1] != b'"' || &line[hpos - 74..hpos - 65] != PREV_KEY {
        return None;
    }
    Some((seq, kind, &line[hpos - 65..hpos - 1]))
}

impl Chain {
    /// A verifier for one log, before its first file.
    pub fn new(opts: ChainOptions) -> Chain {
        let saved = if opts.saved.is_some() {
            SavedCheck::NotReached
        } else {
            SavedCheck::None
        };
        Chain {
            opts,
            log_id: String::new(),
            next_seq: 0,
            prev: None,
            prev_hex: [0; 64],
            tree: Some(Frontier::new()),
            files: 0,
            log_first_seq: 0,
            file_first_seq: 0,
            file_segment: None,
            file_line: 0,
            file_bytes: 0,
            last_checkpoint: None,
            checkpoints: 0,
            saved,
        }
    }

    /// Resumes from a known point (the writer at start-up, from a
    /// checkpoint record in the tail of its file): the next record is
    /// `next_seq`, its `prev` must be `prev`, and `tree` (if known) covers
    /// the records before it.
    pub fn resume(log_id: &str, next_seq: u64, prev: Hash, tree: Option<Frontier>) -> Chain {
        let mut c = Chain::new(ChainOptions::default());
        c.log_id = log_id.to_string();
        c.next_seq = next_seq;
        c.set_prev(prev);
        c.tree = tree;
        c.files = 1;
        c.log_first_seq = next_seq;
        c.file_first_seq = next_seq;
        c.file_line = 1;
        c
    }

    fn set_prev(&mut self, h: Hash) {
        self.prev = Some(h);
        self.prev_hex = hex64(&h);
    }

    /// Starts the next file of the log.
    pub fn start_file(&mut self) {
        self.files += 1;
        self.file_first_seq = self.next_seq;
        self.file_segment = None;
        self.file_line = 0;
        self.file_bytes = 0;
    }

    fn broken(&self, what: impl Into<String>) -> Broken {
        Broken {
            seq: self.next_seq,
            line: self.file_line,
            what: what.into(),
            valid_bytes: self.file_bytes,
            torn_tail: false,
        }
    }

    /// The current file ended with an unterminated line.
    pub fn torn(&mut self) -> Broken {
        self.file_line += 1;
        let mut b = self.broken("last record is incomplete (no newline): torn write");
        b.torn_tail = true;
        b
    }

    /// Checks one line (without its LF). A segment header, as a file's
    /// first line, gives `Ok(None)`; a good record gives its seq and hash.
    pub fn line(&mut self, line: &[u8]) -> Result<Option<Good>, Broken> {
        self.file_line += 1;
        if self.file_line == 1 && line.starts_with(b"{\"kind\":\"segment\"") {
            if let Ok(h) = serde_json::from_slice::<SegmentHeader>(line) {
                if h.kind == "segment" {
                    self.header(h)?;
                    self.file_bytes += line.len() + 1;
                    return Ok(None);
                }
            }
        }
        if self.file_line == 1 && self.files > 1 {
            return Err(self.broken(
                "the file does not begin with a segment header: it does not continue the file before it",
            ));
        }
        let good = self.record(line)?;
        self.file_bytes += line.len() + 1;
        Ok(Some(good))
    }

    fn header(&mut self, h: SegmentHeader) -> Result<(), Broken> {
        let frontier = h.frontier.as_ref().and_then(|f| {
            let peaks: Option<Vec<Hash>> = f.iter().map(|x| unhex(x)).collect();
            Frontier::from_parts(h.next_seq, peaks?)
        });
        if self.files <= 1 {
            self.log_id = h.log_id.clone();
            self.next_seq = h.next_seq;
            self.log_first_seq = h.next_seq;
            self.file_first_seq = h.next_seq;
            match unhex(&h.prev) {
                Some(p) => self.set_prev(p),
                None => return Err(self.broken("the segment header's prev is not a hash")),
            }
            self.tree = frontier;
        } else {
            let head = String::from_utf8_lossy(&self.prev_hex).into_owned();
            if h.log_id != self.log_id || h.next_seq != self.next_seq || h.prev != head {
                return Err(self.broken(format!(
                    "the segment header (log {}, next_seq {}, prev {}) does not continue the file before it (log {}, ended before record {}, head {head}): files missing, reordered or replaced",
                    h.log_id, h.next_seq, h.prev, self.log_id, self.next_seq
                )));
            }
            if let (Some(t), Some(f)) = (&self.tree, &frontier) {
                if t != f {
                    return Err(self.broken(
                        "the segment header's Merkle frontier does not match the records before it",
                    ));
                }
            }
            if self.tree.is_none() {
                self.tree = frontier;
            }
        }
        self.file_segment = Some(h);
        Ok(())
    }

    fn record(&mut self, line: &[u8]) -> Result<Good, Broken> {
        // The writer's layout puts the hash field at a fixed distance from
        // the end; anything else is searched for.
        let n = line.len();
        let at_end = n >= 75 && &line[n - 75..n - 66] == HASH_KEY;
        let found = if at_end {
            Some(n - 75)
        } else {
            memchr::memmem::rfind(line, HASH_KEY)
        };
        let Some(hpos) = found else {
            return Err(self.broken("no hash field"));
        };
        let tail = &line[hpos + HASH_KEY.len()..];
        if tail.len() != 66 || &tail[64..] != b"\"}" {
            return Err(self.broken("hash field is not the last field"));
        }
        if std::str::from_utf8(&tail[..64]).is_err() {
            return Err(self.broken("hash is not hex"));
        }
        let mut h = Sha256::new();
        h.update(&line[..hpos]);
        h.update(b"}");
        let hash: Hash = h.finalize().into();
        let hash_hex = hex64(&hash);
        if hash_hex[..] != tail[..64] {
            return Err(self.broken("content does not match its hash (record altered)"));
        }
        let seq = self.next_seq;
        let slow: ChainFields<'_>;
        let (got_seq, kind, prev, log_id): (Option<u64>, &[u8], &[u8], Option<&str>) =
            match fast_fields(line, hpos) {
                Some((s, k, p)) if k != b"log_start" => (Some(s), k, p, None),
                _ => {
                    slow = serde_json::from_slice(line)
                        .map_err(|e| self.broken(format!("not a JSON object: {e}")))?;
                    (
                        slow.seq,
                        slow.kind.as_deref().unwrap_or("").as_bytes(),
                        slow.prev.as_deref().unwrap_or("").as_bytes(),
                        slow.log_id.as_deref(),
                    )
                }
            };
        if got_seq != Some(seq) {
            return Err(self.broken(format!(
                "sequence is {}, expected {seq} (record missing, reordered or inserted)",
                got_seq.map_or("absent".to_string(), |s| s.to_string())
            )));
        }
        if self.prev.is_none() {
            if kind != b"log_start" {
                return Err(self.broken("first record is not log_start"));
            }
            let id = log_id.unwrap_or_default().to_string();
            if prev != anchor(&id).as_bytes() {
                return Err(self.broken("first record does not anchor on its log id"));
            }
            self.log_id = id;
        } else if prev != self.prev_hex {
            return Err(self.broken(if seq == self.file_first_seq {
                "prev does not match the segment header (chain broken)"
            } else {
                "prev does not match the previous record's hash (chain broken)"
            }));
        }
        self.before_leaf();
        if kind == b"checkpoint" {
            self.checkpoint(line)?;
        }
        if let Some(t) = &mut self.tree {
            t.push_record(&hash);
        }
        self.prev = Some(hash);
        self.prev_hex = hash_hex;
        self.next_seq += 1;
        Ok(Good { seq, hash })
    }

    /// Compares a saved checkpoint when the tree reaches its size.
    fn before_leaf(&mut self) {
        let Some(saved) = &self.opts.saved else {
            return;
        };
        if self.next_seq != saved.tree_size || saved.log_id != self.log_id {
            return;
        }
        self.saved = match &self.tree {
            None => SavedCheck::Unknown,
            Some(t) => {
                let root = hex::encode(t.root());
                if root == saved.root {
                    SavedCheck::Matches
                } else {
                    SavedCheck::Differs { root }
                }
            }
        };
    }

    fn checkpoint(&mut self, line: &[u8]) -> Result<(), Broken> {
        let CheckpointLine { ts, record: c } = serde_json::from_slice(line)
            .map_err(|e| self.broken(format!("checkpoint record does not parse: {e}")))?;
        if c.tree_size != self.next_seq || c.log_id != self.log_id {
            return Err(self.broken(format!(
                "checkpoint names log {} size {}; expected log {} size {} (its own seq)",
                c.log_id, c.tree_size, self.log_id, self.next_seq
            )));
        }
        let peaks: Option<Vec<Hash>> = c.frontier.iter().map(|x| unhex(x)).collect();
        let frontier = peaks.and_then(|p| Frontier::from_parts(c.tree_size, p));
        let Some(frontier) = frontier else {
            return Err(self.broken("checkpoint frontier is malformed"));
        };
        if hex::encode(frontier.root()) != c.root {
            return Err(self.broken("checkpoint root does not match its own frontier"));
        }
        match &self.tree {
            Some(t) if *t != frontier => {
                return Err(self.broken(format!(
                    "checkpoint root {} is not the root of the records before it ({}): records before it were altered",
                    c.root,
                    hex::encode(t.root())
                )))
            }
            Some(_) => {}
            None => self.tree = Some(frontier),
        }
        let cp = c.checkpoint(ts);
        if let Some(pk) = &self.opts.public_key {
            cp.check_signature(pk)
                .map_err(|e: SignatureError| self.broken(e.to_string()))?;
        }
        self.checkpoints += 1;
        self.last_checkpoint = Some(cp);
        Ok(())
    }

    /// The state after the lines so far (the current file's view).
    pub fn verified(&self) -> Verified {
        Verified {
            count: self.next_seq,
            first_seq: self.file_first_seq,
            segment: self.file_segment.clone(),
            head: if self.prev.is_some() {
                String::from_utf8_lossy(&self.prev_hex).into_owned()
            } else {
                String::new()
            },
            log_id: self.log_id.clone(),
            valid_bytes: self.file_bytes,
            last_checkpoint: self.last_checkpoint.clone(),
            root: self.tree.as_ref().map(|t| hex::encode(t.root())),
        }
    }

    /// Ends the current file: an empty first file (no header, no record)
    /// is an error.
    pub fn end_file(&mut self) -> Result<Verified, Broken> {
        if self.files <= 1 && self.prev.is_none() {
            return Err(Broken {
                seq: 0,
                line: 1,
                what: "empty log".into(),
                valid_bytes: 0,
                torn_tail: false,
            });
        }
        Ok(self.verified())
    }

    /// Files started so far.
    pub fn files(&self) -> usize {
        self.files
    }

    /// True when checkpoint signatures are checked (a public key was given).
    pub fn checks_signatures(&self) -> bool {
        self.opts.public_key.is_some()
    }

    /// Checkpoint records seen.
    pub fn checkpoints(&self) -> u64 {
        self.checkpoints
    }

    /// The last checkpoint record seen.
    pub fn last_checkpoint(&self) -> Option<&Checkpoint> {
        self.last_checkpoint.as_ref()
    }

    /// The saved checkpoint's comparison (final once every file was read).
    pub fn saved(&self) -> SavedCheck {
        let Some(s) = &self.opts.saved else {
            return SavedCheck::None;
        };
        if self.saved != SavedCheck::NotReached {
            return self.saved.clone();
        }
        if s.log_id != self.log_id {
            return SavedCheck::OtherLog {
                log_id: self.log_id.clone(),
            };
        }
        if self.log_first_seq > s.tree_size {
            return SavedCheck::Unknown;
        }
        match &self.tree {
            Some(t) if t.size() == s.tree_size => {
                let root = hex::encode(t.root());
                if root == s.root {
                    SavedCheck::Matches
                } else {
                    SavedCheck::Differs { root }
                }
            }
            _ => SavedCheck::NotReached,
        }
    }

    /// The Merkle tree so far, when known.
    pub fn tree(&self) -> Option<&Frontier> {
        self.tree.as_ref()
    }

    /// The sequence number of the next record.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

/// Reads lines from a `Read` in 1 MiB chunks, never the whole input.
pub struct LineReader<R> {
    r: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// A torn line was returned: nothing follows.
    done: bool,
}

/// Longest line read (a record is a few KiB; anything longer is not one).
pub const MAX_LINE: usize = 64 << 20;

/// A line as read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line, without its LF.
    Full(&'a [u8]),
    /// The input's last bytes, with no LF after them.
    Torn(&'a [u8]),
}

impl<R: Read> LineReader<R> {
    /// A reader with a 1 MiB buffer.
    pub fn new(r: R) -> LineReader<R> {
        LineReader {
            r,
            buf: vec![0; 1 << 20],
            start: 0,
            end: 0,
            eof: false,
            done: false,
        }
    }

    /// The next line; None at the end.
    pub fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        if self.done {
            return Ok(None);
        }
        loop {
            if let Some(nl) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let s = self.start;
                self.start += nl + 1;
                if self.buf[s] == ROOM {
                    // Room before more bytes (see `for_lines`): torn, the end.
                    self.done = true;
                    return Ok(Some(Line::Torn(&self.buf[s..s + nl])));
                }
                return Ok(Some(Line::Full(&self.buf[s..s + nl])));
            }
            if self.eof {
                // A preallocated live file's room (trailing spaces) is not
                // a line.
                let tail = without_room(&self.buf[self.start..self.end]);
                if tail.is_empty() {
                    self.start = self.end;
                    return Ok(None);
                }
                let s = self.start;
                self.start = self.end;
                return Ok(Some(Line::Torn(&self.buf[s..s + tail.len()])));
            }
            // Move the partial line to the front; grow only for a long line.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                if self.buf.len() >= MAX_LINE {
                    return Err(std::io::Error::other(format!(
                        "a line longer than {} MiB: not an audit log",
                        MAX_LINE >> 20
                    )));
                }
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n = self.r.read(&mut self.buf[self.end..])?;
            if n == 0 {
                self.eof = true;
            }
            self.end += n;
        }
    }
}

/// Why a file could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// It does not verify.
    #[error("{0}")]
    Broken(Broken),
    /// It could not be read.
    #[error("cannot read: {0}")]
    Io(std::io::Error),
}

/// Feeds one file to `chain` (after [`Chain::start_file`]), calling
/// `each(good, line)` for every good record.
pub fn verify_file(
    chain: &mut Chain,
    r: impl Read,
    mut each: impl FnMut(Good, &[u8]),
) -> Result<Verified, StreamError> {
    chain.start_file();
    let mut lines = LineReader::new(r);
    while let Some(l) = lines.next_line().map_err(StreamError::Io)? {
        match l {
            Line::Full(line) => {
                if let Some(g) = chain.line(line).map_err(StreamError::Broken)? {
                    each(g, line);
                }
            }
            Line::Torn(_) => return Err(StreamError::Broken(chain.torn())),
        }
    }
    chain.end_file().map_err(StreamError::Broken)
}

/// Verifies one file's bytes as a whole log (or a continuation file).
pub fn verify(data: &[u8]) -> Result<Verified, Broken> {
    verify_each(data, |_, _| {})
}

/// Verifies one file's bytes, calling `each(seq, hash)` for every good record.
pub fn verify_each(data: &[u8], mut each: impl FnMut(u64, &str)) -> Result<Verified, Broken> {
    let mut chain = Chain::new(ChainOptions::default());
    chain.start_file();
    for_lines(&mut chain, data, |g| {
        let h = hex64(&g.hash);
        each(g.seq, std::str::from_utf8(&h).unwrap_or(""));
    })?;
    chain.end_file()
}

/// The bytes of a log file before its *room*: the spaces a preallocated
/// live file ends in, written ahead so that appending overwrites rather
/// than grows it (spaces, not zeros: the file stays text for `grep`, and a
/// file system that stores zero blocks as holes cannot undo the room). Every
/// line of a log ends in `}` and a line feed, so trailing spaces are never
/// content; spaces anywhere else break the line they are in.
pub fn without_room(data: &[u8]) -> &[u8] {
    let end = data.iter().rposition(|&b| b != ROOM).map_or(0, |i| i + 1);
    &data[..end]
}

/// The byte a live file's room is made of (see [`without_room`]).
pub const ROOM: u8 = b' ';

/// Feeds `data` line by line (its room, [`without_room`], left out); the
/// last unterminated line is a torn write.
pub fn for_lines(chain: &mut Chain, data: &[u8], mut each: impl FnMut(Good)) -> Result<(), Broken> {
    let mut rest = without_room(data);
    while !rest.is_empty() {
        let Some(nl) = memchr::memchr(b'\n', rest) else {
            return Err(chain.torn());
        };
        if rest[0] == ROOM {
            // Room before more bytes: a write into the room that was
            // interrupted (a crash left later pages and not earlier ones)
            // or not yet seen whole: the end of the content, torn.
            return Err(chain.torn());
        }
        if let Some(g) = chain.line(&rest[..nl])? {
            each(g);
        }
        rest = &rest[nl + 1..];
    }
    Ok(())
}

/// The log id and first `seq` of a file, from its first line: a segment
/// header (its `next_seq`) or record 0 (`log_start`).
pub fn first_line_ids(line: &[u8]) -> Option<(String, u64)> {
    #[derive(serde::Deserialize)]
    struct First {
        seq: Option<u64>,
        next_seq: Option<u64>,
        kind: String,
        log_id: Option<String>,
    }
    let f: First = serde_json::from_slice(line).ok()?;
    match f.kind.as_str() {
        "segment" => Some((f.log_id?, f.next_seq?)),
        "log_start" if f.seq == Some(0) => Some((f.log_id?, 0)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::line::encode;
    use crate::audit::record::{anchor_hash, Event};

    fn log(n: u64) -> Vec<u8> {
        let id = "00112233445566778899aabbccddeeff";
        let mut out = Vec::new();
        let mut head = encode(
            0,
            "2026-12-01T00:00:00.000Z",
            &Event::LogStart {
                log_id: id.into(),
                software: "t".into(),
            },
            &anchor_hash(id),
            &mut out,
        );
        for i in 1..n {
            head = encode(
                i,
                "2026-12-01T00:00:00.000Z",
                &Event::Lifecycle { what: "start" },
                &head,
                &mut out,
            );
        }
        out
    }

    #[test]
    fn the_stream_reader_gives_the_same_result_as_the_slice() {
        let data = log(5000);
        let whole = verify(&data).unwrap();
        let mut chain = Chain::new(ChainOptions::default());
        // A reader that returns 7 bytes at a time.
        struct Slow<'a>(&'a [u8]);
        impl Read for Slow<'_> {
            fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(7).min(b.len());
                b[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut n = 0;
        let v = verify_file(&mut chain, Slow(&data), |_, _| n += 1).unwrap();
        assert_eq!(v, whole);
        assert_eq!(n, 5000);
        let mut t = data.clone();
        t.pop();
        let mut chain = Chain::new(ChainOptions::default());
        match verify_file(&mut chain, &t[..], |_, _| {}) {
            Err(StreamError::Broken(b)) => assert!(b.torn_tail && b.seq == 4999, "{b}"),
            other => panic!("{other:?}"),
        }
    }

    /// A log of `n` records with a checkpoint every `every`.
    fn log_with_checkpoints(n: u64, every: u64) -> Vec<u8> {
        let id = "00112233445566778899aabbccddeeff";
        let ts = "2026-12-01T00:00:00.000Z";
        let mut out = Vec::new();
        let mut tree = Frontier::new();
        let mut head = anchor_hash(id);
        for i in 0..n {
            let ev = if i == 0 {
                Event::LogStart {
                    log_id: id.into(),
                    software: "t".into(),
                }
            } else if i % every == 0 {
                Event::Checkpoint(crate::audit::checkpoint::CheckpointRecord {
                    log_id: id.into(),
                    tree_size: i,
                    root: hex::encode(tree.root()),
                    frontier: tree.peaks().iter().map(hex::encode).collect(),
                    key_id: None,
                    signature: None,
                })
            } else {
                Event::Lifecycle { what: "start" }
            };
            head = encode(i, ts, &ev, &head, &mut out);
            tree.push_record(&head);
        }
        out
    }

    fn saved(data: &[u8], cp: Option<Checkpoint>) -> (Result<(), Broken>, SavedCheck, Chain) {
        let mut c = Chain::new(ChainOptions {
            public_key: None,
            saved: cp,
        });
        c.start_file();
        let r = for_lines(&mut c, data, |_| {});
        let s = c.saved();
        (r, s, c)
    }

    #[test]
    fn checkpoint_roots_are_checked_and_a_saved_checkpoint_is_compared() {
        let data = log_with_checkpoints(100, 10);
        let (r, _, c) = saved(&data, None);
        r.unwrap();
        assert_eq!(c.checkpoints(), 9);
        let cp = c.last_checkpoint().unwrap().clone();
        assert_eq!(cp.tree_size, 90);
        // The same log: matches; a saved checkpoint at the log's very end too.
        assert_eq!(saved(&data, Some(cp.clone())).1, SavedCheck::Matches);
        let mut end = cp.clone();
        end.tree_size = 100;
        end.root = c.verified().root.unwrap();
        assert_eq!(saved(&data, Some(end.clone())).1, SavedCheck::Matches);
        // Cut short: not reached; another root: differs; another log.
        let short: Vec<u8> = data
            .split_inclusive(|&b| b == b'\n')
            .take(50)
            .flatten()
            .copied()
            .collect();
        assert_eq!(saved(&short, Some(cp.clone())).1, SavedCheck::NotReached);
        let mut other = cp.clone();
        other.root = "00".repeat(32);
        assert!(matches!(
            saved(&data, Some(other)).1,
            SavedCheck::Differs { .. }
        ));
        let mut other = cp.clone();
        other.log_id = "ff".repeat(16);
        assert!(matches!(
            saved(&data, Some(other)).1,
            SavedCheck::OtherLog { .. }
        ));
        // A checkpoint whose root was changed (and rehashed) is refused at it.
        let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
        let l = String::from_utf8(lines[20].to_vec()).unwrap();
        let root_at = l.find("\"root\":\"").unwrap() + 8;
        let mut forged = l.clone();
        forged.replace_range(root_at..root_at + 64, &"ab".repeat(32));
        let body = &forged[..forged.rfind(",\"hash\":\"").unwrap()];
        let h = hex::encode(Sha256::digest(format!("{body}}}").as_bytes()));
        let forged = format!("{body},\"hash\":\"{h}\"}}\n");
        let mut t: Vec<u8> = lines[..20].concat();
        t.extend_from_slice(forged.as_bytes());
        let (r, _, _) = saved(&t, None);
        let e = r.unwrap_err();
        assert_eq!(e.seq, 20);
        assert!(
            e.what.contains("root does not match its own frontier"),
            "{e}"
        );
    }

    #[test]
    fn fast_fields_read_the_writer_layout_only() {
        let data = log(3);
        let line = data.split(|&b| b == b'\n').nth(2).unwrap();
        let hpos = memchr::memmem::rfind(line, HASH_KEY).unwrap();
        let (seq, kind, prev) = fast_fields(line, hpos).unwrap();
        assert_eq!((seq, kind), (2, &b"lifecycle"[..]));
        assert_eq!(prev.len(), 64);
        assert!(fast_fields(b"{\"seq\":01,\"ts\":\"x\",\"kind\":\"k\"}", 0).is_none());
    }
}
