//! Reading the logs: each file verified as a stream on its own chain, each
//! continuing the one before; every good record handed to the tally.

use super::*;
use crate::audit::verify::{Chain, ChainOptions, Line, LineReader};
use std::borrow::Cow;
use std::io::Read;

#[derive(Deserialize)]
pub(super) struct Rec<'a> {
    pub(super) seq: u64,
    #[serde(borrow)]
    pub(super) ts: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) kind: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(super) direction: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) mke: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) category: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) list: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) counterparty_ori: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) fields_removed: Vec<Cow<'a, str>>,
    #[serde(default)]
    pub(super) seqs: Vec<u64>,
    #[serde(borrow, default)]
    pub(super) result: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) policy: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) trigger: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) what: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) since: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) until: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) held: Option<u64>,
    #[serde(default)]
    pub(super) refused: Option<u64>,
    #[serde(default)]
    pub(super) truncated_bytes: Option<u64>,
    #[serde(default)]
    pub(super) bytes_out: u64,
    #[serde(default)]
    pub(super) reply_bytes: u64,
    #[serde(borrow, default)]
    pub(super) file: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) first_seq: Option<u64>,
    #[serde(default)]
    pub(super) next_seq: Option<u64>,
    #[serde(borrow, default)]
    pub(super) reason: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) exception: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) exception_issuer: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) federal_watch: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) order: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) entered_by: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) approvers: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) author: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) version: Option<u64>,
    #[serde(borrow, default)]
    pub(super) signers: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) identity: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) action: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) outcome: Option<Cow<'a, str>>,
}

/// Something the report can read (more than once): a file, or bytes.
pub trait Source {
    /// The name to report it by (its path).
    fn name(&self) -> &str;
    /// A reader from its first byte.
    fn open(&self) -> std::io::Result<Box<dyn Read + '_>>;
}

/// One audit file's bytes, with the name to report it by.
pub struct Input {
    /// Path, for the report.
    pub path: String,
    /// Contents.
    pub data: Vec<u8>,
}

impl Source for Input {
    fn name(&self) -> &str {
        &self.path
    }
    fn open(&self) -> std::io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(&self.data[..]))
    }
}

/// The first line of a source: its log id and first `seq`.
pub(super) fn first_line(src: &dyn Source) -> Option<(String, u64)> {
    let r = src.open().ok()?;
    let mut lines = LineReader::new(r);
    let Ok(Some(Line::Full(line))) = lines.next_line() else {
        return None;
    };
    crate::audit::verify::first_line_ids(line)
}

/// A file's segment header names the head of the file before it
/// (`prev`): false, with a notice, when that file ends elsewhere.
fn continues(log_id: &str, checks: &[FileCheck], prev: &str, notices: &mut Vec<Notice>) -> bool {
    let (Some(this), Some(p)) = (checks.last(), checks.iter().rev().nth(1)) else {
        return true;
    };
    if p.next_seq == this.first_seq && p.broken.is_none() && p.head != prev {
        notices.push(Notice {
            ts: None,
            kind: "gap".into(),
            text: format!(
                "log {}: {} does not continue {} (its header names another head): a file was replaced",
                short(log_id),
                this.path,
                p.path
            ),
        });
        return false;
    }
    true
}

/// Reads one file through its chain, counting every record that verifies;
/// the first problem, if any. `span` keeps the first and last record time.
fn read_file<S: Source>(
    inp: &S,
    chain: &mut Chain,
    opts: &Options,
    t: &mut Tally,
    awaiting: &mut Awaiting,
    progress: &mut dyn FnMut(u64),
    span: &mut (Option<String>, String),
) -> Option<String> {
    let r = match inp.open() {
        Err(e) => return Some(format!("cannot read: {e}")),
        Ok(r) => r,
    };
    let mut lines = LineReader::new(r);
    loop {
        let line = match lines.next_line() {
            Ok(Some(Line::Full(l))) => l,
            Ok(Some(Line::Torn(_))) => return Some(chain.torn().to_string()),
            Ok(None) => return None,
            Err(e) => return Some(format!("cannot read: {e}")),
        };
        progress(line.len() as u64 + 1);
        match chain.line(line) {
            Ok(None) => {}
            Ok(Some(_)) => {
                if let Ok(rec) = serde_json::from_slice::<Rec<'_>>(line) {
                    if span.0.is_none() {
                        span.0 = Some(rec.ts.to_string());
                    }
                    span.1.clear();
                    span.1.push_str(&rec.ts);
                    count(&rec, opts, t, awaiting);
                }
            }
            Err(b) => return Some(b.to_string()),
        }
    }
}

/// Verifies and counts one log's files, each on its own chain, checking
/// that each continues the one before.
pub(super) fn count_log<S: Source>(
    log_id: String,
    files: &[(u64, &S)],
    opts: &Options,
    t: &mut Tally,
    progress: &mut dyn FnMut(u64),
) -> LogCheck {
    let mut awaiting = Awaiting::default();
    let mut checks: Vec<FileCheck> = Vec::new();
    // First and last record time of the log.
    let mut span = (None::<String>, String::new());
    let (mut checkpoints, mut last_checkpoint) = (0u64, None);
    let mut intact = true;
    for (_, inp) in files {
        let mut chain = Chain::new(ChainOptions::default());
        chain.start_file();
        let mut broken = read_file(
            *inp,
            &mut chain,
            opts,
            t,
            &mut awaiting,
            progress,
            &mut span,
        );
        if broken.is_none() {
            if let Err(b) = chain.end_file() {
                broken = Some(b.to_string());
            }
        }
        let v = chain.verified();
        checkpoints += chain.checkpoints();
        if let Some(c) = chain.last_checkpoint() {
            last_checkpoint = Some(c.clone());
        }
        if let Some(b) = &broken {
            t.notices.push(Notice {
                ts: None,
                kind: "broken".into(),
                text: format!("{} does not verify: {b}", inp.name()),
            });
        }
        checks.push(FileCheck {
            path: inp.name().to_string(),
            first_seq: v.first_seq,
            next_seq: v.count,
            head: v.head.clone(),
            continues: v.segment.as_ref().map(|s| s.reason.clone()),
            broken,
        });
        if let Some(seg) = &v.segment {
            intact &= continues(&log_id, &checks, &seg.prev, &mut t.notices);
        }
    }
    intact &= continuity(&log_id, &checks, &mut t.notices);
    LogCheck {
        head: checks.last().map(|c| c.head.clone()).unwrap_or_default(),
        records: checks
            .iter()
            .map(|c| c.next_seq.saturating_sub(c.first_seq))
            .sum(),
        intact: intact && checks.iter().all(|c| c.broken.is_none()),
        files: checks,
        log_id,
        last_ts: (!span.1.is_empty()).then_some(span.1),
        first_ts: span.0,
        checkpoints,
        last_checkpoint,
    }
}

/// Gaps between a log's files (and before the first); false when records
/// are missing between two files.
pub(super) fn continuity(log_id: &str, checks: &[FileCheck], notices: &mut Vec<Notice>) -> bool {
    let mut intact = true;
    let mut prev: Option<&FileCheck> = None;
    for c in checks {
        if let Some(p) = prev {
            if c.first_seq != p.next_seq {
                intact = false;
                notices.push(Notice {
                    ts: None,
                    kind: "gap".into(),
                    text: format!(
                        "log {}: records {}..{} are missing between {} and {}",
                        short(log_id),
                        p.next_seq,
                        c.first_seq.saturating_sub(1),
                        p.path,
                        c.path
                    ),
                });
            }
        } else if c.first_seq != 0 {
            notices.push(Notice {
                ts: None,
                kind: "gap".into(),
                text: format!(
                    "log {}: the earliest file given, {}, starts at record {} (earlier files not given)",
                    short(log_id), c.path, c.first_seq
                ),
            });
        }
        prev = Some(c);
    }
    intact
}
