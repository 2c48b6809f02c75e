//! The tallies of one report, filled record by record: rows keyed by
//! interned names, delivery matched through the decisions still awaiting
//! their `written` record, per-day declines, time to block, court orders
//! and months.

use super::*;
use rustc_hash::FxHashMap as HashMap;
use std::collections::VecDeque;

/// Keys counted by the back-door watch: driver, photo, and plate and owner
/// queries (the same weight: each finds a person in DMV records).
pub(super) const WATCHED: &[&str] = &["DQ", "DQG", "DNQ", "KQ", "CPQ", "RQ", "RQG", "RNQ", "RPQ"];

#[derive(Default)]
pub(super) struct Counts {
    pub(super) messages: u64,
    pub(super) photos: u64,
    pub(super) pob: u64,
    pub(super) delivered: u64,
}

/// Strings seen (periods, directions, lists, keys, outcomes, ORIs), each
/// kept once: the tallies are keyed by their ids, so memory grows with the
/// distinct rows of the report, not with the records.
#[derive(Default)]
pub(super) struct Names {
    pub(super) ids: HashMap<String, u32>,
    pub(super) names: Vec<String>,
}

impl Names {
    pub(super) fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.ids.insert(s.to_string(), i);
        i
    }
    pub(super) fn name(&self, i: u32) -> String {
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
pub(super) struct Awaiting {
    pub(super) q: VecDeque<(u64, u32)>,
}

/// Most decisions waiting for their `written` record.
pub(super) const AWAIT_CAP: usize = 1 << 20;

/// A row index that was taken (delivered or undelivered).
pub(super) const TAKEN: u32 = u32::MAX;

impl Awaiting {
    pub(super) fn insert(&mut self, seq: u64, row: u32) {
        if self.q.back().is_some_and(|b| b.0 >= seq) {
            return; // not in seq order: not a log the writer produced
        }
        self.q.push_back((seq, row));
        if self.q.len() > AWAIT_CAP {
            self.q.pop_front();
        }
    }
    pub(super) fn take(&mut self, seq: u64) -> Option<u32> {
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
pub(super) struct Tally {
    pub(super) names: Names,
    /// Row key (period, direction, list, key, outcome, court order) →
    /// index in `rows`.
    pub(super) row_ids: HashMap<[u32; 6], u32>,
    pub(super) rows: Vec<([u32; 6], Counts)>,
    /// (day, list) → requests declined.
    pub(super) declined_days: HashMap<[u32; 2], u64>,
    /// Applied policy changes: (time, version) of each `policy_load` that
    /// put a different version in force.
    pub(super) changes: Vec<(String, String)>,
    /// Per agency: whether its last request was declined, and the number
    /// of policy changes seen at that time.
    pub(super) last_request: HashMap<u32, (bool, usize)>,
    /// Found per (change index, list).
    pub(super) blocked: Vec<TimeToBlock>,
    pub(super) agencies: HashMap<[u32; 4], u64>,
    pub(super) watched: HashMap<[u32; 2], u64>,
    /// (period, ORI) → driver and photo queries from an agency on no list
    /// that matches the federal watch.
    pub(super) federal: HashMap<[u32; 2], u64>,
    /// (period, exception id) → [queries let through, responses released].
    pub(super) orders: HashMap<[u32; 2], [u64; 2]>,
    /// (period, list, issuer kind) → [queries let through, responses released].
    pub(super) issuers: HashMap<[u32; 3], [u64; 2]>,
    /// Inbound (month, list, key) → messages per outcome.
    pub(super) months: HashMap<[u32; 3], [u64; 4]>,
    pub(super) decisions: u64,
    pub(super) first_ts: Option<String>,
    pub(super) last_ts: Option<String>,
    pub(super) notices: Vec<Notice>,
    /// The day of the last record and its period's id (records come in
    /// time order: one period computation per day, not per record).
    pub(super) period_cache: Option<(String, u32)>,
}

/// A `written` or `undelivered` record: the decisions it names are no
/// longer awaited (and, written, count as delivered).
fn delivery(rec: &Rec<'_>, t: &mut Tally, awaiting: &mut Awaiting) {
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
}

/// A record other than a decision: a policy change in force, a notice.
fn other_record(rec: &Rec<'_>, t: &mut Tally) {
    if rec.kind == "policy_load" && rec.result.as_deref() == Some("applied") {
        let v = rec.policy.as_deref().unwrap_or("");
        if t.changes.last().is_none_or(|(_, last)| last != v) {
            t.changes.push((rec.ts.to_string(), v.to_string()));
        }
    }
    if let Some(n) = notice_of(rec) {
        t.notices.push(n);
    }
}

/// Counts a decision's time and returns its period's id (one period
/// computation per day: records come in time order).
fn decision_period(rec: &Rec<'_>, day: &str, opts: &Options, t: &mut Tally) -> u32 {
    t.decisions += 1;
    if t.first_ts.as_deref().is_none_or(|f| rec.ts.as_ref() < f) {
        t.first_ts = Some(rec.ts.to_string());
    }
    if t.last_ts.as_deref().is_none_or(|l| rec.ts.as_ref() > l) {
        t.last_ts = Some(rec.ts.to_string());
    }
    match &t.period_cache {
        Some((d, id)) if d == day => *id,
        _ => {
            let id = t.names.id(&opts.period.of(&rec.ts));
            t.period_cache = Some((day.to_string(), id));
            id
        }
    }
}

/// Counts one record that verified.
pub(super) fn count(rec: &Rec<'_>, opts: &Options, t: &mut Tally, awaiting: &mut Awaiting) {
    delivery(rec, t, awaiting);
    let day = rec.ts.get(..10).unwrap_or("");
    if opts.from.as_deref().is_some_and(|f| day < f) || opts.to.as_deref().is_some_and(|x| day > x)
    {
        return;
    }
    if rec.kind != "decision" {
        other_record(rec, t);
        return;
    }
    let period = decision_period(rec, day, opts, t);
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
    court_order(rec, t, period, row[2]);
}

/// A decision that names a court order: its use, by order and by family
/// and issuer kind.
fn court_order(rec: &Rec<'_>, t: &mut Tally, period: u32, list: u32) {
    let Some(id) = rec.exception.as_deref() else {
        return;
    };
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
        t.issuers.entry([period, list, issuer]).or_default()[i] += 1;
    }
}

/// Notes, for the policy change in force, the first request declined from
/// an agency whose previous request (before that change) was not declined.
pub(super) fn time_to_block(rec: &Rec<'_>, t: &mut Tally, list: &str, declined: bool) {
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
