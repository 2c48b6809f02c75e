//! The report's exact figures and what they are made of: rows, logs as
//! verified, notices, the per-family, per-day, per-order and per-month
//! counts ([`Report`]), before [`super::publish`] decides what a reader may see.

use super::*;

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
