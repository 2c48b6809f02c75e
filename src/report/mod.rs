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

pub mod html;
pub mod publish;

use crate::audit::verify::verify_each;
use crate::message::keys;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

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
}

/// A plain name for a message key ("driver license query").
pub fn key_name(key: &str) -> String {
    keys::lookup(key).map_or_else(|| format!("{key} message"), |k| k.meaning.to_string())
}

/// Keys counted by the back-door watch: driver and photo queries.
const WATCHED: &[&str] = &["DQ", "DQG", "DNQ", "KQ", "CPQ"];

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
}

/// One audit file's bytes, with the name to report it by.
pub struct Input {
    /// Path, for the report.
    pub path: String,
    /// Contents.
    pub data: Vec<u8>,
}

#[derive(Default)]
struct Counts {
    messages: u64,
    photos: u64,
    pob: u64,
    delivered: u64,
}

type GroupKey = (String, String, String, String, String);

/// Builds the report from audit files (any order, any number of logs).
pub fn build(inputs: &[Input], opts: &Options) -> Report {
    let mut notices = Vec::new();
    // Verify every file; group files by log id; order each log's files by
    // their first sequence number.
    let mut by_log: BTreeMap<String, Vec<(FileCheck, &Input)>> = BTreeMap::new();
    for inp in inputs {
        let (check, log_id) = check_file(inp);
        if let Some(b) = &check.broken {
            notices.push(Notice {
                ts: None,
                kind: "broken".into(),
                text: format!("{} does not verify: {b}", inp.path),
            });
        }
        by_log.entry(log_id).or_default().push((check, inp));
    }
    let mut logs = Vec::new();
    let mut rows: HashMap<GroupKey, Counts> = HashMap::new();
    let mut agencies: HashMap<(String, String, String, String), u64> = HashMap::new();
    let mut watched: HashMap<(String, String), u64> = HashMap::new();
    let (mut decisions, mut first_ts, mut last_ts) = (0u64, None::<String>, None::<String>);
    for (log_id, mut files) in by_log {
        files.sort_by_key(|(c, _)| c.first_seq);
        let mut intact = true;
        let mut prev: Option<&FileCheck> = None;
        for (c, _) in &files {
            intact &= c.broken.is_none();
            if let Some(p) = prev {
                if c.first_seq != p.next_seq {
                    intact = false;
                    notices.push(Notice {
                        ts: None,
                        kind: "gap".into(),
                        text: format!(
                            "log {}: records {}..{} are missing between {} and {}",
                            short(&log_id),
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
                        short(&log_id), c.path, c.first_seq
                    ),
                });
            }
            prev = Some(c);
        }
        // Delivery: every seq some `written` record names.
        let mut written = Bitset::default();
        let mut records = 0u64;
        let (mut lfirst, mut llast) = (None::<String>, None::<String>);
        for (c, inp) in &files {
            records += c.next_seq.saturating_sub(c.first_seq);
            // Only `written` records are parsed in this pass.
            for line in inp.data.split(|&b| b == b'\n') {
                if memchr::memmem::find(line, b"\"kind\":\"written\"").is_none() {
                    continue;
                }
                if let Ok(rec) = serde_json::from_slice::<Rec<'_>>(line) {
                    for s in &rec.seqs {
                        written.set(*s);
                    }
                }
            }
        }
        for (_, inp) in &files {
            for rec in records_of(&inp.data) {
                if lfirst.is_none() {
                    lfirst = Some(rec.ts.to_string());
                }
                llast = Some(rec.ts.to_string());
                let day = rec.ts.get(..10).unwrap_or("");
                if opts.from.as_deref().is_some_and(|f| day < f)
                    || opts.to.as_deref().is_some_and(|t| day > t)
                {
                    continue;
                }
                if rec.kind != "decision" {
                    if let Some(n) = notice_of(&rec) {
                        notices.push(n);
                    }
                    continue;
                }
                decisions += 1;
                if first_ts.as_deref().is_none_or(|f| rec.ts.as_ref() < f) {
                    first_ts = Some(rec.ts.to_string());
                }
                if last_ts.as_deref().is_none_or(|l| rec.ts.as_ref() > l) {
                    last_ts = Some(rec.ts.to_string());
                }
                let period = opts.period.of(&rec.ts);
                let direction = rec.direction.as_deref().unwrap_or("unknown").to_string();
                let list = rec.list.as_deref().unwrap_or("none").to_string();
                let key = rec.mke.as_deref().unwrap_or("unknown").to_string();
                let outcome = rec.category.as_deref().unwrap_or("unknown").to_string();
                let removed = |f: &str| rec.fields_removed.iter().any(|x| x == f);
                // A photo response withheld whole counts as a photo withheld.
                let photo_response = key == "CPR" && direction == "outbound";
                let photo = removed("photo")
                    || (photo_response && (outcome == "denied" || outcome == "dropped"));
                let c = rows
                    .entry((
                        period.clone(),
                        direction.clone(),
                        list.clone(),
                        key.clone(),
                        outcome.clone(),
                    ))
                    .or_default();
                c.messages += 1;
                c.photos += photo as u64;
                c.pob += removed("pob") as u64;
                c.delivered += written.get(rec.seq) as u64;
                let ori = rec
                    .counterparty_ori
                    .as_deref()
                    .unwrap_or("unknown")
                    .to_string();
                *agencies
                    .entry((period.clone(), ori.clone(), list.clone(), outcome))
                    .or_default() += 1;
                if direction == "inbound" && list == "none" && WATCHED.contains(&key.as_str()) {
                    *watched.entry((period, ori)).or_default() += 1;
                }
            }
        }
        logs.push(LogCheck {
            log_id,
            head: files
                .last()
                .map(|(c, _)| c.head.clone())
                .unwrap_or_default(),
            files: files.into_iter().map(|(c, _)| c).collect(),
            intact,
            records,
            first_ts: lfirst,
            last_ts: llast,
        });
    }
    notices.sort_by(|a, b| a.ts.cmp(&b.ts));
    let mut rows: Vec<Row> = rows
        .into_iter()
        .map(|((period, direction, list, key, outcome), c)| Row {
            period,
            direction,
            list,
            key,
            outcome,
            messages: c.messages,
            photos_withheld: c.photos,
            pob_withheld: c.pob,
            delivered: c.delivered,
        })
        .collect();
    rows.sort_by(|a, b| {
        (
            &a.period,
            &a.direction,
            &a.list,
            &a.key,
            outcome_rank(&a.outcome),
        )
            .cmp(&(
                &b.period,
                &b.direction,
                &b.list,
                &b.key,
                outcome_rank(&b.outcome),
            ))
    });
    let mut agencies: Vec<AgencyRow> = agencies
        .into_iter()
        .map(|((period, ori, list, outcome), messages)| AgencyRow {
            period,
            ori,
            list,
            outcome,
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
    Report {
        period: opts.period,
        from: opts.from.clone(),
        to: opts.to.clone(),
        intact: logs.iter().all(|l| l.intact) && !logs.is_empty(),
        logs,
        decisions,
        first_ts,
        last_ts,
        notices,
        rows,
        watch: watch(&watched),
        agencies,
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

/// Sequence numbers seen (dense: one bit each).
#[derive(Default)]
struct Bitset(Vec<u64>);

impl Bitset {
    fn set(&mut self, i: u64) {
        let w = (i / 64) as usize;
        if w >= self.0.len() {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << (i % 64);
    }
    fn get(&self, i: u64) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// Verifies one file; its check and its log id.
fn check_file(inp: &Input) -> (FileCheck, String) {
    match verify_each(&inp.data, |_, _| {}) {
        Ok(v) => (
            FileCheck {
                path: inp.path.clone(),
                first_seq: v.first_seq,
                next_seq: v.count,
                head: v.head,
                continues: v.segment.map(|s| s.reason),
                broken: None,
            },
            v.log_id,
        ),
        Err(b) => {
            // Count what verified; say where it broke.
            let ok = verify_each(&inp.data[..b.valid_bytes], |_, _| {}).ok();
            let log_id = ok
                .as_ref()
                .map(|v| v.log_id.clone())
                .unwrap_or_else(|| format!("unknown ({})", inp.path));
            (
                FileCheck {
                    path: inp.path.clone(),
                    first_seq: ok.as_ref().map_or(0, |v| v.first_seq),
                    next_seq: ok.as_ref().map_or(0, |v| v.count),
                    head: ok.map(|v| v.head).unwrap_or_default(),
                    continues: None,
                    broken: Some(b.to_string()),
                },
                log_id,
            )
        }
    }
}

/// The records of a file (complete lines that parse; the segment header
/// and anything that does not parse are skipped — verification reports
/// those).
fn records_of(data: &[u8]) -> impl Iterator<Item = Rec<'_>> {
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice::<Rec<'_>>(l).ok())
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
fn watch(counts: &HashMap<(String, String), u64>) -> Vec<Watch> {
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
