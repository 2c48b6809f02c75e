//! `origuard report`: oversight figures from audit logs (specs/report.md).
//!
//! Pure over the logs' bytes: each log is verified on its own (every file of
//! it, in order, the chain checked from one file into the next), then its
//! decision records are counted by period × direction × list × message key
//! × outcome, with photos and places of birth withheld, and what the log
//! says about delivery (`written` records). Policy changes, audit outages,
//! file events and gaps are listed before any figure. [`publish`] turns the
//! exact figures into what a public or internal reader may see: in public
//! mode counts from 1 to 9 are suppressed (with secondary suppression inside
//! each group) and nothing names an agency.

pub mod consistency;
pub mod html;
pub mod publish;
pub mod small_cells;

use crate::audit::checkpoint::Checkpoint;
use crate::audit::verify::{Chain, ChainOptions, Line, LineReader};
use crate::message::keys;
use rustc_hash::FxHashMap as HashMap;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::io::Read;

pub use publish::{publish, Cell, Published};

/// Who the report is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Anyone: small cells suppressed, no agency identifiers.
    Public,
    /// CBI: exact counts and per-agency detail.
    Internal,
}

/// The period figures are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::EnumIter)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Period {
    /// Calendar day (UTC).
    Day,
    /// Calendar month (UTC).
    Month,
    /// Calendar quarter (UTC), `2026-Q4`.
    Quarter,
    /// Calendar year (UTC), `2026`: the annual report.
    Year,
}

impl std::str::FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        crate::message::parse_name(s, "period")
    }
}

impl Period {
    /// The period a record's timestamp (RFC 3339, UTC) falls in.
    pub fn of(self, ts: &str) -> String {
        match self {
            Period::Day => ts.get(..10).unwrap_or(ts).to_string(),
            Period::Month => ts.get(..7).unwrap_or(ts).to_string(),
            Period::Year => ts.get(..4).unwrap_or(ts).to_string(),
            Period::Quarter => {
                let y = ts.get(..4).unwrap_or("????");
                let m: u32 = ts.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
                format!("{y}-Q{}", (m.clamp(1, 12) - 1) / 3 + 1)
            }
        }
    }
}

/// What the report covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Public or internal.
    pub mode: Mode,
    /// Grouping.
    pub period: Period,
    /// First day included (`YYYY-MM-DD`, UTC), if any.
    pub from: Option<String>,
    /// Last day included (`YYYY-MM-DD`, UTC), if any.
    pub to: Option<String>,
    /// The agency families (policy lists) to answer for, each shown even
    /// with no traffic; empty: the lists the log names.
    pub families: Vec<Family>,
    /// The small-cell threshold of each public table (`--small-cell`,
    /// `--exact court_orders`).
    pub small_cells: small_cells::SmallCells,
    /// The checkpoints the previous report published (`report --previous`):
    /// this report proves its logs only grew since.
    pub previous: Vec<Checkpoint>,
}

pub use small_cells::EXACT_TABLES;

/// An agency family: a policy list, with the words a reader needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Family {
    /// The list's name (`immigration_enforcement`).
    pub name: String,
    /// Its description from the policy ("Civil immigration enforcement").
    pub description: String,
    /// `deny`, `redact` or `allow` (empty when not known).
    pub action: String,
}

impl Family {
    /// Every list of a policy, in file order.
    pub fn of_policy(p: &crate::policy::Policy) -> Vec<Family> {
        p.lists
            .iter()
            .map(|l| Family {
                name: l.name.clone(),
                description: l.description.clone(),
                action: l.action.name().to_string(),
            })
            .collect()
    }
}

/// The four outcomes of a decision (the audit record's `category`).
pub const OUTCOMES: [&str; 4] = ["passed", "redacted", "denied", "dropped"];

/// One combination that occurred, with exact counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Row {
    /// Period (`2026-12`, `2026-12-01`, `2026-Q4`).
    pub period: String,
    /// `inbound` (queries and messages from Nlets) or `outbound`.
    pub direction: String,
    /// The deciding list, or `none`.
    pub list: String,
    /// Message key (`DQ`, `DR`, ...; `unknown` when unparsed).
    pub key: String,
    /// passed, redacted, denied, dropped.
    pub outcome: String,
    /// Messages.
    pub messages: u64,
    /// Photos withheld (removed, or the whole photo response withheld).
    pub photos_withheld: u64,
    /// Places of birth removed.
    pub pob_withheld: u64,
    /// Of the messages, those the log records as written to their peer.
    pub delivered: u64,
    /// The messages passed under a court order: a query let through
    /// (`court_order`) or a response released (`court_order_release`).
    pub court_order: bool,
}

/// A line of the integrity section: something the reader must know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// When (UTC), when known.
    pub ts: Option<String>,
    /// `policy_applied`, `policy_refused`, `audit_outage`, `file_event`,
    /// `recovery`, `gap`, `broken`, `start`, `stop`.
    pub kind: String,
    /// Plain words.
    pub text: String,
}

/// One audit file as verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileCheck {
    /// Path (as given).
    pub path: String,
    /// First record's sequence number.
    pub first_seq: u64,
    /// Sequence number after the last record.
    pub next_seq: u64,
    /// Hash of the last record.
    pub head: String,
    /// Why this file continues another (segment header), if it does.
    pub continues: Option<String>,
    /// The first problem, when the file does not verify.
    pub broken: Option<String>,
}

/// One log (one `log_id`): its files and what they say about integrity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogCheck {
    /// The log's id.
    pub log_id: String,
    /// Its files in chain order.
    pub files: Vec<FileCheck>,
    /// Every file verifies and each continues the one before.
    pub intact: bool,
    /// Records in all files.
    pub records: u64,
    /// First and last record time.
    pub first_ts: Option<String>,
    /// Last record time.
    pub last_ts: Option<String>,
    /// Hash of the last record of the last file (the head to compare with a
    /// published one).
    pub head: String,
    /// Checkpoint records in its files (their roots checked against the
    /// records before them).
    pub checkpoints: u64,
    /// The last checkpoint (size, root, time, key id, signature): compare
    /// with the copy the witness collected (`audit verify --checkpoint`).
    pub last_checkpoint: Option<Checkpoint>,
}

/// An agency on no list whose driver or photo queries stand out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Watch {
    /// Period.
    pub period: String,
    /// The agency (internal mode only; public reports count them).
    pub ori: String,
    /// Its driver and photo queries in the period.
    pub queries: u64,
    /// Its mean over earlier periods (0 when it has none).
    pub baseline: f64,
    /// Its share of all such queries from unlisted agencies in the period.
    pub share: f64,
    /// `rise` (≥ 3× its own history) or `share` (≥ 25 % of the period).
    pub why: String,
}

/// Per agency, per period (internal mode).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgencyRow {
    /// Period.
    pub period: String,
    /// The counterparty ORI.
    pub ori: String,
    /// The deciding list, or `none`.
    pub list: String,
    /// passed, redacted, denied, dropped.
    pub outcome: String,
    /// Messages.
    pub messages: u64,
}

/// The exact figures, before publication.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Options.
    pub period: Period,
    /// Date range asked for.
    pub from: Option<String>,
    /// Date range asked for.
    pub to: Option<String>,
    /// Every log, verified.
    pub logs: Vec<LogCheck>,
    /// All logs intact.
    pub intact: bool,
    /// Decision records counted (within the range).
    pub decisions: u64,
    /// First and last decision counted.
    pub first_ts: Option<String>,
    /// Last decision counted.
    pub last_ts: Option<String>,
    /// Policy versions in force and when they changed, outages, gaps.
    pub notices: Vec<Notice>,
    /// The figures, one row per combination that occurred.
    pub rows: Vec<Row>,
    /// Unlisted agencies to look at.
    pub watch: Vec<Watch>,
    /// Per-agency detail.
    pub agencies: Vec<AgencyRow>,
    /// Court-order exceptions used, per period.
    pub court_orders: Vec<CourtOrderUse>,
    /// Court-order uses per period, family and issuer kind.
    pub court_orders_by_issuer: Vec<IssuerUse>,
    /// Inbound messages per month (UTC), list and key, by outcome, whatever
    /// the report's period (Washington's layout).
    pub by_month: Vec<MonthRow>,
    /// The agency families answered for (configured, then any other list
    /// the log names, then `none`).
    pub families: Vec<Family>,
    /// Requests (inbound messages) declined, per day (UTC) and list: the
    /// attempts made after an agency was blocked.
    pub declined_by_day: Vec<DayCount>,
    /// Per policy change and list: how long until the first request it
    /// declined from an agency whose requests had not been declined before.
    pub time_to_block: Vec<TimeToBlock>,
    /// Per checkpoint of the previous report: the consistency proof to
    /// this report's checkpoint of the same log.
    pub consistency: Vec<consistency::Consistency>,
}

/// From a policy change taking effect to the first request declined from
/// an agency newly blocked by it. The log holds no policy content, so
/// "newly blocked" is read from behaviour: an agency whose last request
/// before the change was not declined, and whose first request after it is
/// declined by `list`. An agency that sent nothing before the change is
/// not counted (it may have been listed all along).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimeToBlock {
    /// When the change took effect (its `policy_load` record).
    pub changed: String,
    /// The policy version it applied (12 hex).
    pub version: String,
    /// The list that declined.
    pub list: String,
    /// The first such declined request.
    pub first_declined: String,
    /// Seconds between the two.
    pub seconds: f64,
    /// The agency (internal reports only; empty in public ones).
    pub ori: String,
}

/// A count for one day and list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// The list.
    pub list: String,
    /// Messages.
    pub messages: u64,
}

/// Uses of one court-order exception in one period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CourtOrderUse {
    /// Period.
    pub period: String,
    /// The exception's id (internal mode only).
    pub exception: String,
    /// Queries it let through to the state.
    pub queries: u64,
    /// Responses released under it (the fields it covers kept).
    pub responses: u64,
}

/// Court-order uses in one period by one family under orders of one
/// issuer kind (the decision record's `exception_issuer`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IssuerUse {
    /// Period.
    pub period: String,
    /// The deciding list (the family the requester belongs to).
    pub list: String,
    /// `federal_judge`, `magistrate_judge`, `state_judge`, or `unknown`
    /// (a log written before records carried the issuer).
    pub issuer: String,
    /// Queries let through under such orders.
    pub queries: u64,
    /// Responses released under such orders.
    pub releases: u64,
}

/// Inbound messages of one month, list and key, by outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MonthRow {
    /// `YYYY-MM` (UTC).
    pub month: String,
    /// The deciding list, or `none`.
    pub list: String,
    /// Message key.
    pub key: String,
    /// Messages per outcome, in [`OUTCOMES`] order.
    pub outcomes: [u64; 4],
}

/// A plain name for a message key ("driver license query").
pub fn key_name(key: &str) -> String {
    keys::lookup(key).map_or_else(|| format!("{key} message"), |k| k.meaning.to_string())
}

/// Keys counted by the back-door watch: driver, photo, and plate and owner
/// queries (the same weight: each finds a person in DMV records).
const WATCHED: &[&str] = &["DQ", "DQG", "DNQ", "KQ", "CPQ", "RQ", "RQG", "RNQ", "RPQ"];

#[derive(Deserialize)]
struct Rec<'a> {
    seq: u64,
    #[serde(borrow)]
    ts: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    direction: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    mke: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    category: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    list: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    counterparty_ori: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    fields_removed: Vec<Cow<'a, str>>,
    #[serde(default)]
    seqs: Vec<u64>,
    #[serde(borrow, default)]
    result: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    policy: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    trigger: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    what: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    since: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    until: Option<Cow<'a, str>>,
    #[serde(default)]
    held: Option<u64>,
    #[serde(default)]
    refused: Option<u64>,
    #[serde(default)]
    truncated_bytes: Option<u64>,
    #[serde(default)]
    bytes_out: u64,
    #[serde(default)]
    reply_bytes: u64,
    #[serde(borrow, default)]
    file: Option<Cow<'a, str>>,
    #[serde(default)]
    first_seq: Option<u64>,
    #[serde(default)]
    next_seq: Option<u64>,
    #[serde(borrow, default)]
    reason: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    exception: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    exception_issuer: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    federal_watch: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    order: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    entered_by: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    approvers: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    author: Option<Cow<'a, str>>,
    #[serde(default)]
    version: Option<u64>,
    #[serde(borrow, default)]
    signers: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    identity: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    outcome: Option<Cow<'a, str>>,
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

#[derive(Default)]
struct Counts {
    messages: u64,
    photos: u64,
    pob: u64,
    delivered: u64,
}

/// Strings seen (periods, directions, lists, keys, outcomes, ORIs), each
/// kept once: the tallies are keyed by their ids, so memory grows with the
/// distinct rows of the report, not with the records.
#[derive(Default)]
struct Names {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.ids.insert(s.to_string(), i);
        i
    }
    fn name(&self, i: u32) -> String {
        self.names[i as usize].clone()
    }
}

/// Decisions forwarded (or answered with a decline reply) whose `written`
/// record has not been seen yet, in `seq` order: (seq, row index). A writer
/// names a decision in a `written` or `undelivered` record within moments
/// (after an outage, within the records held), so this holds the messages
/// in flight, not the log; past [`AWAIT_CAP`] the oldest are counted as not
/// delivered (a log from `origuard filter` has no `written` records at all:
/// 16 bytes × the cap is the most it costs).
#[derive(Default)]
struct Awaiting {
    q: VecDeque<(u64, u32)>,
}

/// Most decisions waiting for their `written` record.
const AWAIT_CAP: usize = 1 << 20;

/// A row index that was taken (delivered or undelivered).
const TAKEN: u32 = u32::MAX;

impl Awaiting {
    fn insert(&mut self, seq: u64, row: u32) {
        if self.q.back().is_some_and(|b| b.0 >= seq) {
            return; // not in seq order: not a log the writer produced
        }
        self.q.push_back((seq, row));
        if self.q.len() > AWAIT_CAP {
            self.q.pop_front();
        }
    }
    fn take(&mut self, seq: u64) -> Option<u32> {
        let i = self.q.binary_search_by_key(&seq, |e| e.0).ok()?;
        let row = std::mem::replace(&mut self.q[i].1, TAKEN);
        while self.q.front().is_some_and(|f| f.1 == TAKEN) {
            self.q.pop_front();
        }
        (row != TAKEN).then_some(row)
    }
}

/// The tallies of one report, filled record by record.
#[derive(Default)]
struct Tally {
    names: Names,
    /// Row key (period, direction, list, key, outcome, court order) →
    /// index in `rows`.
    row_ids: HashMap<[u32; 6], u32>,
    rows: Vec<([u32; 6], Counts)>,
    /// (day, list) → requests declined.
    declined_days: HashMap<[u32; 2], u64>,
    /// Applied policy changes: (time, version) of each `policy_load` that
    /// put a different version in force.
    changes: Vec<(String, String)>,
    /// Per agency: whether its last request was declined, and the number
    /// of policy changes seen at that time.
    last_request: HashMap<u32, (bool, usize)>,
    /// Found per (change index, list).
    blocked: Vec<TimeToBlock>,
    agencies: HashMap<[u32; 4], u64>,
    watched: HashMap<[u32; 2], u64>,
    /// (period, ORI) → driver and photo queries from an agency on no list
    /// that matches the federal watch.
    federal: HashMap<[u32; 2], u64>,
    /// (period, exception id) → [queries let through, responses released].
    orders: HashMap<[u32; 2], [u64; 2]>,
    /// (period, list, issuer kind) → [queries let through, responses released].
    issuers: HashMap<[u32; 3], [u64; 2]>,
    /// Inbound (month, list, key) → messages per outcome.
    months: HashMap<[u32; 3], [u64; 4]>,
    decisions: u64,
    first_ts: Option<String>,
    last_ts: Option<String>,
    notices: Vec<Notice>,
    /// The day of the last record and its period's id (records come in
    /// time order: one period computation per day, not per record).
    period_cache: Option<(String, u32)>,
}

/// The first line of a source: its log id and first `seq`.
fn first_line(src: &dyn Source) -> Option<(String, u64)> {
    let r = src.open().ok()?;
    let mut lines = LineReader::new(r);
    let Ok(Some(Line::Full(line))) = lines.next_line() else {
        return None;
    };
    crate::audit::verify::first_line_ids(line)
}

/// Builds the report from audit files (any order, any number of logs),
/// reading each once, as a stream.
pub fn build<S: Source>(inputs: &[S], opts: &Options) -> Report {
    build_with(inputs, opts, &mut |_| {})
}

/// [`build`], calling `progress(bytes)` as input is read.
pub fn build_with<S: Source>(
    inputs: &[S],
    opts: &Options,
    progress: &mut dyn FnMut(u64),
) -> Report {
    // Group files by the log their first line names; order each log's
    // files by their first sequence number.
    let mut by_log: BTreeMap<String, Vec<(u64, &S)>> = BTreeMap::new();
    for inp in inputs {
        let (id, first) =
            first_line(inp).unwrap_or_else(|| (format!("unknown ({})", inp.name()), 0));
        by_log.entry(id).or_default().push((first, inp));
    }
    let mut t = Tally::default();
    let mut logs = Vec::new();
    for (log_id, mut files) in by_log {
        files.sort_by_key(|(first, _)| *first);
        logs.push(count_log(log_id, &files, opts, &mut t, progress));
    }
    t.notices.sort_by(|a, b| a.ts.cmp(&b.ts));
    let mut r = finish(t, logs, opts);
    if !opts.previous.is_empty() {
        r.consistency = consistency::prove(inputs, &r.logs, &opts.previous);
        for c in &r.consistency {
            let Some(p) = &c.problem else { continue };
            // A log cut or rewritten below what was published: not intact.
            let tampered = p.starts_with("REWRITTEN") || p.contains("were removed");
            r.intact &= !tampered;
            r.notices.push(Notice {
                ts: None,
                kind: if tampered { "broken" } else { "gap" }.into(),
                text: format!(
                    "log {}: no consistency proof from the previous report's checkpoint (size {}): {p}",
                    short(&c.log_id),
                    c.previous.tree_size
                ),
            });
        }
    }
    r
}

/// Verifies and counts one log's files, each on its own chain, checking
/// that each continues the one before.
fn count_log<S: Source>(
    log_id: String,
    files: &[(u64, &S)],
    opts: &Options,
    t: &mut Tally,
    progress: &mut dyn FnMut(u64),
) -> LogCheck {
    let mut awaiting = Awaiting::default();
    let mut checks: Vec<FileCheck> = Vec::new();
    let mut lfirst = None::<String>;
    let mut last_ts = String::new();
    let (mut checkpoints, mut last_checkpoint) = (0u64, None);
    let mut intact = true;
    for (_, inp) in files {
        let mut chain = Chain::new(ChainOptions::default());
        chain.start_file();
        let mut broken = None;
        match inp.open() {
            Err(e) => broken = Some(format!("cannot read: {e}")),
            Ok(r) => {
                let mut lines = LineReader::new(r);
                loop {
                    let line = match lines.next_line() {
                        Ok(Some(Line::Full(l))) => l,
                        Ok(Some(Line::Torn(_))) => {
                            broken = Some(chain.torn().to_string());
                            break;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            broken = Some(format!("cannot read: {e}"));
                            break;
                        }
                    };
                    progress(line.len() as u64 + 1);
                    match chain.line(line) {
                        Ok(None) => {}
                        Ok(Some(_)) => {
                            if let Ok(rec) = serde_json::from_slice::<Rec<'_>>(line) {
                                if lfirst.is_none() {
                                    lfirst = Some(rec.ts.to_string());
                                }
                                last_ts.clear();
                                last_ts.push_str(&rec.ts);
                                count(&rec, opts, t, &mut awaiting);
                            }
                        }
                        Err(b) => {
                            broken = Some(b.to_string());
                            break;
                        }
                    }
                }
            }
        }
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
            // The header's prev must be the head of the file before.
            if let Some(p) = checks.iter().rev().nth(1) {
                if p.next_seq == v.first_seq && p.broken.is_none() && p.head != seg.prev {
                    intact = false;
                    t.notices.push(Notice {
                        ts: None,
                        kind: "gap".into(),
                        text: format!(
                            "log {}: {} does not continue {} (its header names another head): a file was replaced",
                            short(&log_id),
                            inp.name(),
                            p.path
                        ),
                    });
                }
            }
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
        first_ts: lfirst,
        last_ts: (!last_ts.is_empty()).then_some(last_ts),
        checkpoints,
        last_checkpoint,
    }
}

/// Gaps between a log's files (and before the first); false when records
/// are missing between two files.
fn continuity(log_id: &str, checks: &[FileCheck], notices: &mut Vec<Notice>) -> bool {
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

/// Counts one record that verified.
fn count(rec: &Rec<'_>, opts: &Options, t: &mut Tally, awaiting: &mut Awaiting) {
    match rec.kind.as_ref() {
        "written" => {
            for s in &rec.seqs {
                if let Some(row) = awaiting.take(*s) {
                    if let Some((_, c)) = t.rows.get_mut(row as usize) {
                        c.delivered += 1;
                    }
                }
            }
        }
        "undelivered" => {
            for s in &rec.seqs {
                awaiting.take(*s);
            }
        }
        _ => {}
    }
    let day = rec.ts.get(..10).unwrap_or("");
    if opts.from.as_deref().is_some_and(|f| day < f) || opts.to.as_deref().is_some_and(|x| day > x)
    {
        return;
    }
    if rec.kind != "decision" {
        if rec.kind == "policy_load" && rec.result.as_deref() == Some("applied") {
            let v = rec.policy.as_deref().unwrap_or("");
            if t.changes.last().is_none_or(|(_, last)| last != v) {
                t.changes.push((rec.ts.to_string(), v.to_string()));
            }
        }
        if let Some(n) = notice_of(rec) {
            t.notices.push(n);
        }
        return;
    }
    t.decisions += 1;
    if t.first_ts.as_deref().is_none_or(|f| rec.ts.as_ref() < f) {
        t.first_ts = Some(rec.ts.to_string());
    }
    if t.last_ts.as_deref().is_none_or(|l| rec.ts.as_ref() > l) {
        t.last_ts = Some(rec.ts.to_string());
    }
    let period = match &t.period_cache {
        Some((d, id)) if d == day => *id,
        _ => {
            let id = t.names.id(&opts.period.of(&rec.ts));
            t.period_cache = Some((day.to_string(), id));
            id
        }
    };
    let direction = rec.direction.as_deref().unwrap_or("unknown");
    let list = rec.list.as_deref().unwrap_or("none");
    let key = rec.mke.as_deref().unwrap_or("unknown");
    let outcome = rec.category.as_deref().unwrap_or("unknown");
    let removed = |f: &str| rec.fields_removed.iter().any(|x| x == f);
    // A photo response withheld whole counts as a photo withheld.
    let photo_response = key == "CPR" && direction == "outbound";
    let photo =
        removed("photo") || (photo_response && (outcome == "denied" || outcome == "dropped"));
    // Tolerant of reasons this version does not know: only these two mark
    // a court-order use; every other reason counts by its category.
    let order = rec.exception.is_some()
        && matches!(
            rec.reason.as_deref(),
            Some("court_order") | Some("court_order_release")
        );
    let n = &mut t.names;
    let row = [
        period,
        n.id(direction),
        n.id(list),
        n.id(key),
        n.id(outcome),
        order as u32,
    ];
    if direction == "inbound" && outcome == "denied" {
        let d = n.id(day);
        *t.declined_days.entry([d, row[2]]).or_default() += 1;
    }
    if direction == "inbound" {
        time_to_block(rec, t, list, outcome == "denied");
        if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
            let month = t.names.id(day.get(..7).unwrap_or(day));
            t.months.entry([month, row[2], row[3]]).or_default()[i] += 1;
        }
    }
    let next = t.rows.len() as u32;
    let idx = *t.row_ids.entry(row).or_insert(next);
    if idx == next {
        t.rows.push((row, Counts::default()));
    }
    let c = &mut t.rows[idx as usize].1;
    c.messages += 1;
    c.photos += photo as u64;
    c.pob += removed("pob") as u64;
    if rec.bytes_out > 0 || rec.reply_bytes > 0 {
        awaiting.insert(rec.seq, idx);
    }
    let ori = t
        .names
        .id(rec.counterparty_ori.as_deref().unwrap_or("unknown"));
    *t.agencies.entry([period, ori, row[2], row[4]]).or_default() += 1;
    if direction == "inbound" && list == "none" && WATCHED.contains(&key) {
        *t.watched.entry([period, ori]).or_default() += 1;
        if rec.federal_watch.is_some() {
            *t.federal.entry([period, ori]).or_default() += 1;
        }
    }
    if let Some(id) = rec.exception.as_deref() {
        let id = t.names.id(id);
        let stage = match rec.reason.as_deref() {
            Some("court_order") => Some(0),
            Some("court_order_release") => Some(1),
            _ => None,
        };
        let e = t.orders.entry([period, id]).or_default();
        if let Some(i) = stage {
            e[i] += 1;
            let issuer = t
                .names
                .id(rec.exception_issuer.as_deref().unwrap_or("unknown"));
            t.issuers.entry([period, row[2], issuer]).or_default()[i] += 1;
        }
    }
}

/// Notes, for the policy change in force, the first request declined from
/// an agency whose previous request (before that change) was not declined.
fn time_to_block(rec: &Rec<'_>, t: &mut Tally, list: &str, declined: bool) {
    let Some(ori) = rec.counterparty_ori.as_deref() else {
        return;
    };
    let ori = t.names.id(ori);
    let k = t.changes.len();
    let before = t.last_request.insert(ori, (declined, k));
    let (Some((was_declined, seen_at)), true, Some((changed, version))) =
        (before, declined, t.changes.last())
    else {
        return;
    };
    if was_declined || seen_at >= k || k < 2 {
        // Declined before, no change since its last request, or only the
        // policy of the start (nothing changed).
        return;
    }
    if t.blocked
        .iter()
        .any(|b| &b.changed == changed && b.list == list)
    {
        return;
    }
    let secs = |ts: &str| {
        humantime::parse_rfc3339_weak(ts)
            .ok()
            .and_then(|x| x.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64())
    };
    t.blocked.push(TimeToBlock {
        changed: changed.clone(),
        version: short(version).to_string(),
        list: list.to_string(),
        first_declined: rec.ts.to_string(),
        seconds: (secs(&rec.ts) - secs(changed)).max(0.0),
        ori: t.names.name(ori),
    });
}

/// Turns the tallies into the report's sorted rows.
fn finish(t: Tally, logs: Vec<LogCheck>, opts: &Options) -> Report {
    let n = &t.names;
    let mut rows: Vec<Row> = t
        .rows
        .iter()
        .map(|(k, c)| Row {
            period: n.name(k[0]),
            direction: n.name(k[1]),
            list: n.name(k[2]),
            key: n.name(k[3]),
            outcome: n.name(k[4]),
            messages: c.messages,
            photos_withheld: c.photos,
            pob_withheld: c.pob,
            delivered: c.delivered,
            court_order: k[5] == 1,
        })
        .collect();
    rows.sort_by(|a, b| {
        (
            &a.period,
            &a.direction,
            &a.list,
            &a.key,
            outcome_rank(&a.outcome),
            a.court_order,
        )
            .cmp(&(
                &b.period,
                &b.direction,
                &b.list,
                &b.key,
                outcome_rank(&b.outcome),
                b.court_order,
            ))
    });
    let mut agencies: Vec<AgencyRow> = t
        .agencies
        .iter()
        .map(|(k, &messages)| AgencyRow {
            period: n.name(k[0]),
            ori: n.name(k[1]),
            list: n.name(k[2]),
            outcome: n.name(k[3]),
            messages,
        })
        .collect();
    agencies.sort_by(|a, b| {
        (&a.period, &a.ori, &a.list, outcome_rank(&a.outcome)).cmp(&(
            &b.period,
            &b.ori,
            &b.list,
            outcome_rank(&b.outcome),
        ))
    });
    let watched: std::collections::HashMap<(String, String), u64> = t
        .watched
        .iter()
        .map(|(k, &v)| ((n.name(k[0]), n.name(k[1])), v))
        .collect();
    let mut watch = watch(&watched);
    // Agencies on no list that look federal ([federal] watch): always listed.
    for (k, &q) in &t.federal {
        let (period, ori) = (n.name(k[0]), n.name(k[1]));
        match watch
            .iter_mut()
            .find(|w| w.period == period && w.ori == ori)
        {
            Some(w) => w.why.push_str("+federal"),
            None => {
                let total: u64 = watched
                    .iter()
                    .filter(|((p, _), _)| *p == period)
                    .map(|(_, v)| v)
                    .sum();
                watch.push(Watch {
                    period,
                    ori,
                    queries: q,
                    baseline: 0.0,
                    share: q as f64 / total.max(1) as f64,
                    why: "federal".into(),
                })
            }
        }
    }
    watch.sort_by(|a, b| (&a.period, &a.ori).cmp(&(&b.period, &b.ori)));
    let mut court_orders: Vec<CourtOrderUse> = t
        .orders
        .iter()
        .map(|(k, c)| CourtOrderUse {
            period: n.name(k[0]),
            exception: n.name(k[1]),
            queries: c[0],
            responses: c[1],
        })
        .collect();
    court_orders.sort_by(|a, b| (&a.period, &a.exception).cmp(&(&b.period, &b.exception)));
    let mut court_orders_by_issuer: Vec<IssuerUse> = t
        .issuers
        .iter()
        .map(|(k, c)| IssuerUse {
            period: n.name(k[0]),
            list: n.name(k[1]),
            issuer: n.name(k[2]),
            queries: c[0],
            releases: c[1],
        })
        .collect();
    court_orders_by_issuer
        .sort_by(|a, b| (&a.period, &a.list, &a.issuer).cmp(&(&b.period, &b.list, &b.issuer)));
    let mut by_month: Vec<MonthRow> = t
        .months
        .iter()
        .map(|(k, &outcomes)| MonthRow {
            month: n.name(k[0]),
            list: n.name(k[1]),
            key: n.name(k[2]),
            outcomes,
        })
        .collect();
    by_month.sort_by(|a, b| (&a.month, &a.list, &a.key).cmp(&(&b.month, &b.list, &b.key)));
    let mut declined_by_day: Vec<DayCount> = t
        .declined_days
        .iter()
        .map(|(k, &messages)| DayCount {
            day: n.name(k[0]),
            list: n.name(k[1]),
            messages,
        })
        .collect();
    declined_by_day.sort_by(|a, b| (&a.day, &a.list).cmp(&(&b.day, &b.list)));
    // Every configured family, then any other list the log names, then
    // the agencies on no list.
    let mut families = opts.families.clone();
    let mut seen: Vec<&str> = rows.iter().map(|r| r.list.as_str()).collect();
    seen.sort();
    seen.dedup();
    for l in seen {
        if l != "none" && !families.iter().any(|f| f.name == l) {
            families.push(Family {
                name: l.to_string(),
                description: String::new(),
                action: String::new(),
            });
        }
    }
    families.push(Family {
        name: "none".into(),
        description: "Agencies on no list".into(),
        action: String::new(),
    });
    Report {
        period: opts.period,
        from: opts.from.clone(),
        to: opts.to.clone(),
        intact: logs.iter().all(|l| l.intact) && !logs.is_empty(),
        logs,
        decisions: t.decisions,
        first_ts: t.first_ts,
        last_ts: t.last_ts,
        notices: t.notices,
        rows,
        watch,
        agencies,
        court_orders,
        court_orders_by_issuer,
        by_month,
        families,
        declined_by_day,
        time_to_block: t.blocked,
        consistency: Vec::new(),
    }
}

fn outcome_rank(o: &str) -> usize {
    OUTCOMES
        .iter()
        .position(|x| *x == o)
        .unwrap_or(OUTCOMES.len())
}

fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

fn notice_of(r: &Rec<'_>) -> Option<Notice> {
    let ts = Some(r.ts.to_string());
    let (kind, text) = match r.kind.as_ref() {
        "policy_load" => {
            let v = r.policy.as_deref().unwrap_or("");
            let trig = r.trigger.as_deref().unwrap_or("");
            if r.result.as_deref() == Some("applied") {
                ("policy_applied", format!("policy {} in force ({trig})", short(v)))
            } else {
                (
                    "policy_refused",
                    format!("a policy change was refused; {} stayed in force ({trig})", short(v)),
                )
            }
        }
        "audit_outage" => (
            "audit_outage",
            format!(
                "the audit log could not write from {} to {}: {} records held and written late, {} messages refused",
                r.since.as_deref().unwrap_or("?"),
                r.until.as_deref().unwrap_or("?"),
                r.held.unwrap_or(0),
                r.refused.unwrap_or(0)
            ),
        ),
        "file_event" => (
            "file_event",
            format!(
                "the audit file was {} while in use; a new file continued the chain",
                r.event.as_deref().unwrap_or("changed")
            ),
        ),
        "recovery" => (
            "recovery",
            format!(
                "restart after a crash: {} bytes of a half-written record cut off",
                r.truncated_bytes.unwrap_or(0)
            ),
        ),
        "segment_deleted" => (
            "file_event",
            format!(
                "retention deleted the segment {} (records {}..{}); its records are no longer in the log",
                r.file.as_deref().unwrap_or("?"),
                r.first_seq.unwrap_or(0),
                r.next_seq.unwrap_or(0).saturating_sub(1)
            ),
        ),
        // Accountable changes (signed orders and bundles): who did what.
        "order_entered" => (
            "order_entered",
            format!(
                "court order {} in force: entered by {}, approved by {}",
                r.order.as_deref().unwrap_or("?"),
                r.entered_by.as_deref().unwrap_or("?"),
                r.approvers.join(", ")
            ),
        ),
        "order_refused" | "bundle_refused" => (
            if r.kind == "order_refused" { "order_refused" } else { "bundle_refused" },
            format!(
                "{} ({}): {}",
                r.file.as_deref().unwrap_or("?"),
                r.trigger.as_deref().unwrap_or("?"),
                r.reason.as_deref().unwrap_or("")
            ),
        ),
        "admin_call" => (
            "admin_call",
            format!(
                "{} asked to {} on the admin endpoint: {}",
                r.identity.as_deref().unwrap_or("?"),
                r.action.as_deref().unwrap_or("?"),
                r.outcome.as_deref().unwrap_or("?")
            ),
        ),
        "signers_in_force" => (
            "signers_in_force",
            format!("allowed signers in force ({}): {}", r.file.as_deref().unwrap_or("?"), r.signers.join("; ")),
        ),
        "policy_signed" => (
            "policy_signed",
            format!(
                "signed policy bundle version {} by {}: {}",
                r.version.unwrap_or(0),
                r.author.as_deref().unwrap_or("?"),
                r.reason.as_deref().unwrap_or("")
            ),
        ),
        "lifecycle" => match r.what.as_deref() {
            Some("start") => ("start", "the proxy started".to_string()),
            Some("stop") => ("stop", "the proxy stopped".to_string()),
            _ => return None,
        },
        _ => return None,
    };
    Some(Notice {
        ts,
        kind: kind.into(),
        text,
    })
}

/// Unlisted agencies whose driver or photo queries rose sharply against
/// their own history (≥ 3× their mean over earlier periods) or took an
/// unusual share of a period (≥ 25 %), with at least 20 queries.
fn watch(counts: &std::collections::HashMap<(String, String), u64>) -> Vec<Watch> {
    let mut periods: Vec<&String> = counts.keys().map(|(p, _)| p).collect();
    periods.sort();
    periods.dedup();
    let mut out = Vec::new();
    for (i, p) in periods.iter().enumerate() {
        let total: u64 = counts
            .iter()
            .filter(|((q, _), _)| q == *p)
            .map(|(_, n)| n)
            .sum();
        for ((q, ori), &n) in counts {
            if q != *p || n < 20 {
                continue;
            }
            let earlier: Vec<u64> = periods[..i]
                .iter()
                .map(|e| {
                    counts
                        .get(&((*e).clone(), ori.clone()))
                        .copied()
                        .unwrap_or(0)
                })
                .collect();
            let baseline = if earlier.is_empty() {
                0.0
            } else {
                earlier.iter().sum::<u64>() as f64 / earlier.len() as f64
            };
            let share = n as f64 / total.max(1) as f64;
            let why = if !earlier.is_empty() && n as f64 >= 3.0 * baseline.max(1.0) {
                "rise"
            } else if share >= 0.25 && total >= 40 {
                "share"
            } else {
                continue;
            };
            out.push(Watch {
                period: (*p).clone(),
                ori: ori.clone(),
                queries: n,
                baseline,
                share,
                why: why.into(),
            });
        }
    }
    out.sort_by(|a, b| (&a.period, &a.ori).cmp(&(&b.period, &b.ori)));
    out
}

#[cfg(test)]
mod tests;
