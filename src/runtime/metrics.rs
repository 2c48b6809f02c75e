//! Metric names (constants, checked by a test for uniqueness and use) and the
//! helpers that record them. Labels are bounded: directions, categories,
//! message keys from the key table (anything else is `other`), list names
//! from the policy (`none` when no list matched), reason codes, field names —
//! never a raw ORI.

use crate::decision::{Category, Decision};
use crate::message::keys;
use crate::message::Direction;
use crate::policy::Policy;
use metrics::{counter, gauge, histogram, Counter, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rustc_hash::FxHashMap;
use std::sync::OnceLock;

/// Messages decided, by `direction`, `mke`, `category`, `list`. The
/// conservation identity holds per direction: the sum over categories is
/// every message received.
pub const MESSAGES: &str = "origuard_messages_total";
/// Bytes received and forwarded, by `direction`, `way` (`in`/`out`).
pub const BYTES: &str = "origuard_bytes_total";
/// Fields removed, by `field`.
pub const REDACTIONS: &str = "origuard_redactions_total";
/// Messages not forwarded for a reason other than the policy's deny, by
/// `direction`, `reason`, `detail`.
pub const DROPS: &str = "origuard_drops_total";
/// Messages forwarded although unparseable or of unknown counterparty
/// (fail-open settings), by `direction`, `reason`.
pub const FAIL_OPEN: &str = "origuard_fail_open_total";
/// Decline replies sent, by `direction` of the denied message.
pub const REPLIES: &str = "origuard_decline_replies_total";
/// Framing errors that closed a session, by `direction`, `reason`.
pub const FRAME_ERRORS: &str = "origuard_frame_errors_total";
/// Sessions currently open (past their first message), by `link`.
pub const SESSIONS_ACTIVE: &str = "origuard_sessions_active";
/// Sessions ended, by `link`, `end` (how it ended).
pub const SESSIONS: &str = "origuard_sessions_total";
/// Failed connections to the upstream (Nlets side), by `link`, `reason`.
pub const UPSTREAM_FAILURES: &str = "origuard_upstream_failures_total";
/// Accepted connections refused or closed before becoming a session (pending budget, peer limits, first-message timeout, session cap, TLS), by `link`, `reason`.
pub const REFUSED: &str = "origuard_connections_refused_total";
/// Time to decide one message (parse, policy, redaction), seconds.
pub const DECISION_SECONDS: &str = "origuard_decision_seconds";
/// Time from a message fully received to written to the other side, seconds.
pub const FORWARD_SECONDS: &str = "origuard_forward_seconds";
/// Policy load attempts, by `result` (`applied`/`refused`) and `trigger`.
pub const POLICY_RELOADS: &str = "origuard_policy_reloads_total";
/// Information gauge = 1 for the policy version in force (`version`, 12 hex).
pub const POLICY_INFO: &str = "origuard_policy_info";
/// Unix time of the last successful policy load, seconds.
pub const POLICY_LOADED: &str = "origuard_policy_loaded_timestamp_seconds";
/// 1 while the audit log writes, 0 during an outage (disk full, I/O error).
pub const AUDIT_HEALTHY: &str = "origuard_audit_healthy";
/// Audit records appended.
pub const AUDIT_RECORDS: &str = "origuard_audit_records_total";
/// Audit appends refused during an outage (held-record buffer full): each
/// one a message not forwarded.
pub const AUDIT_ERRORS: &str = "origuard_audit_errors_total";
/// 1 when ready to accept traffic (not draining, audit healthy).
pub const READY: &str = "origuard_ready";
/// TLS certificate reloads, by `result`.
pub const TLS_RELOADS: &str = "origuard_tls_reloads_total";
/// Information gauge = 1, by `version` (with commit and build date).
pub const BUILD_INFO: &str = "origuard_build_info";
/// Events on the live audit file (truncated, deleted, replaced, kept_aside), by `event`.
pub const AUDIT_FILE_EVENTS: &str = "origuard_audit_file_events_total";
/// Periods in which the audit log could not write (outages begun).
pub const AUDIT_OUTAGES: &str = "origuard_audit_outages_total";
/// Bytes of audit records held in memory while the log cannot write.
pub const AUDIT_HELD_BYTES: &str = "origuard_audit_held_bytes";
/// Connections accepted that have not yet sent a complete message, by `link`.
pub const CONNECTIONS_PENDING: &str = "origuard_connections_pending";
/// Failed `accept` calls (out of file descriptors and similar), by `listener`.
pub const ACCEPT_ERRORS: &str = "origuard_accept_errors_total";
/// Message bytes buffered in the process (partial frames and queues).
pub const BUFFERED_BYTES: &str = "origuard_buffered_bytes";
/// Sessions closed because the process buffer budget was exhausted, by `link`.
pub const SHED: &str = "origuard_shed_total";
/// Decided messages not written to their peer, by `side`, `reason`.
pub const UNDELIVERED: &str = "origuard_undelivered_total";
/// Court-order exception uses, by `exception` (id) and `stage` (query/response).
pub const COURT_ORDER_USES: &str = "origuard_court_order_uses_total";
/// Order queries that named an order's subject but were not let through,
/// by `reason` (`court_order_used_up`, `court_order_ambiguous_control`,
/// `court_order_warmup`, `court_order_store_unavailable`,
/// `court_order_no_durable_store`).
pub const COURT_ORDER_QUERIES_REFUSED: &str = "origuard_court_order_queries_refused_total";
/// Responses to order queries by whom they showed: `subject` = `match`,
/// `mismatch`, `unidentified` (only `match` is released).
pub const COURT_ORDER_RESPONSES: &str = "origuard_court_order_responses_total";
/// Messages decided under a lapsed certification, by `list`.
pub const CERTIFICATION_LAPSED: &str = "origuard_certification_lapsed_total";
/// Inbound queries denied by a list's reason-code rule, by `list`, `reason`.
pub const REASON_DENIALS: &str = "origuard_reason_denials_total";
/// Messages whose shadow-policy outcome differs from the enforced one, by
/// `list`, `mke`, `from` and `to` (categories).
pub const SHADOW_CHANGES: &str = "origuard_shadow_changes_total";
/// Messages evaluated under the shadow policy.
pub const SHADOW_MESSAGES: &str = "origuard_shadow_messages_total";
/// Court orders refused at a load (unsigned, under-signed, tampered,
/// expired key, administrative issuer); the orders in force stay.
pub const COURT_ORDERS_REFUSED: &str = "origuard_court_orders_refused_total";
/// Policy bundles refused at a load (no manifest, unsigned, a file not as
/// signed, a rollback); the policy in force stays.
pub const POLICY_BUNDLES_REFUSED: &str = "origuard_policy_bundles_refused_total";
/// From an applied policy change to the first message it refused from an
/// agency the policy before it did not refuse, by `list`, seconds (once per
/// change and list; [`super::time_to_block`]).
pub const TIME_TO_BLOCK: &str = "origuard_time_to_block_seconds";

/// HELP text of every metric (Prometheus `# HELP`), from the notes above.
const HELP: &[(&str, &str)] = &[
    (MESSAGES, "Messages decided, by direction, mke, category, list. The conservation identity holds per direction: the sum over categories is every message received."),
    (BYTES, "Bytes received and forwarded, by direction, way (in/out)."),
    (REDACTIONS, "Fields removed, by field."),
    (DROPS, "Messages not forwarded for a reason other than the policy's deny, by direction, reason, detail."),
    (FAIL_OPEN, "Messages forwarded although unparseable or of unknown counterparty (fail-open settings), by direction, reason."),
    (REPLIES, "Decline replies sent, by direction of the denied message."),
    (FRAME_ERRORS, "Framing errors that closed a session, by direction, reason."),
    (SESSIONS_ACTIVE, "Sessions currently open (past their first message), by link."),
    (SESSIONS, "Sessions ended, by link, end (how it ended)."),
    (UPSTREAM_FAILURES, "Failed connections to the upstream (Nlets side), by link, reason."),
    (REFUSED, "Accepted connections refused or closed before becoming a session (pending budget, peer limits, first-message timeout, session cap, TLS), by link, reason."),
    (DECISION_SECONDS, "Time to decide one message (parse, policy, redaction), seconds."),
    (FORWARD_SECONDS, "Time from a message fully received to written to the other side, seconds."),
    (POLICY_RELOADS, "Policy load attempts, by result (applied/refused) and trigger."),
    (POLICY_INFO, "Information gauge = 1 for the policy version in force (version, 12 hex)."),
    (POLICY_LOADED, "Unix time of the last successful policy load, seconds."),
    (AUDIT_HEALTHY, "1 while the audit log writes, 0 during an outage (disk full, I/O error)."),
    (AUDIT_RECORDS, "Audit records appended."),
    (AUDIT_ERRORS, "Audit appends refused during an outage (held-record buffer full): each one a message not forwarded."),
    (READY, "1 when ready to accept traffic (not draining, audit healthy)."),
    (TLS_RELOADS, "TLS certificate reloads, by result."),
    (BUILD_INFO, "Information gauge = 1, by version (with commit and build date)."),
    (AUDIT_FILE_EVENTS, "Events on the live audit file (truncated, deleted, replaced, kept_aside, rotated, resumed, no_room), by event."),
    (AUDIT_OUTAGES, "Periods in which the audit log could not write (outages begun)."),
    (AUDIT_HELD_BYTES, "Bytes of audit records held in memory while the log cannot write."),
    (CONNECTIONS_PENDING, "Connections accepted that have not yet sent a complete message, by link."),
    (ACCEPT_ERRORS, "Failed accept calls (out of file descriptors and similar), by listener."),
    (BUFFERED_BYTES, "Message bytes buffered in the process (partial frames and queues)."),
    (SHED, "Sessions closed because the process buffer budget was exhausted, by link."),
    (UNDELIVERED, "Decided messages not written to their peer, by side, reason."),
    (COURT_ORDER_USES, "Court-order exception uses, by exception id and stage (query let through, response released)."),
    (COURT_ORDER_QUERIES_REFUSED, "Order queries naming an order's subject that were not let through, by reason."),
    (COURT_ORDER_RESPONSES, "Responses to order queries, by whom they showed (subject: match, mismatch, unidentified); only match is released."),
    (CERTIFICATION_LAPSED, "Messages decided under a lapsed certification, by list."),
    (REASON_DENIALS, "Inbound queries denied by a list's reason-code rule, by list, reason."),
    (SHADOW_CHANGES, "Messages whose outcome under the shadow (candidate) policy differs from the enforced one, by list, mke, from, to."),
    (SHADOW_MESSAGES, "Messages evaluated under the shadow (candidate) policy."),
    (COURT_ORDERS_REFUSED, "Court orders refused at a load (unsigned, under-signed, tampered, expired key, administrative issuer); the orders in force stay."),
    (POLICY_BUNDLES_REFUSED, "Policy bundles refused at a load (no manifest, unsigned, a file not as signed, a rollback); the policy in force stays."),
    (TIME_TO_BLOCK, "From an applied policy change to the first message it refused from an agency the previous policy did not refuse, by list, seconds (once per change and list)."),
];

/// Every metric name (for the uniqueness/use test and documentation).
pub const ALL: &[&str] = &[
    MESSAGES,
    BYTES,
    REDACTIONS,
    DROPS,
    FAIL_OPEN,
    REPLIES,
    FRAME_ERRORS,
    SESSIONS_ACTIVE,
    SESSIONS,
    UPSTREAM_FAILURES,
    REFUSED,
    DECISION_SECONDS,
    FORWARD_SECONDS,
    POLICY_RELOADS,
    POLICY_INFO,
    POLICY_LOADED,
    AUDIT_HEALTHY,
    AUDIT_RECORDS,
    AUDIT_ERRORS,
    READY,
    TLS_RELOADS,
    BUILD_INFO,
    AUDIT_FILE_EVENTS,
    AUDIT_OUTAGES,
    AUDIT_HELD_BYTES,
    CONNECTIONS_PENDING,
    ACCEPT_ERRORS,
    BUFFERED_BYTES,
    SHED,
    UNDELIVERED,
    COURT_ORDER_USES,
    COURT_ORDER_QUERIES_REFUSED,
    COURT_ORDER_RESPONSES,
    CERTIFICATION_LAPSED,
    REASON_DENIALS,
    SHADOW_CHANGES,
    SHADOW_MESSAGES,
    COURT_ORDERS_REFUSED,
    POLICY_BUNDLES_REFUSED,
    TIME_TO_BLOCK,
];

/// A bounded label for a message key: table keys as themselves, else `other`.
pub fn mke_label(d: &Decision) -> &'static str {
    match &d.header {
        Some(h) => keys::lookup(h.mke.as_str()).map_or("other", |k| k.key),
        None => "unknown",
    }
}

/// Observes [`TIME_TO_BLOCK`] when `d` is the first refusal of a newly
/// listed agency after a policy change (rare: only refusals are looked at).
fn time_to_block(d: &Decision, dir: Direction, p: &Policy) {
    if let Some((list, secs)) = super::time_to_block::on_decision(d, dir, p) {
        histogram!(TIME_TO_BLOCK, "list" => list).record(secs);
    }
}

/// The legal-process counters of one decision (rare: not on the hot path).
fn legal_process(d: &Decision, p: &Policy) {
    if let Some(u) = &d.exception {
        let stage = match d.reason {
            crate::decision::Reason::CourtOrder => Some("query"),
            crate::decision::Reason::CourtOrderRelease => Some("response"),
            _ => None,
        };
        if let Some(stage) = stage {
            counter!(COURT_ORDER_USES, "exception" => u.id.to_string(), "stage" => stage)
                .increment(1);
        }
    }
    if let Some((check, _)) = d.subject_check {
        counter!(COURT_ORDER_RESPONSES, "subject" => check.name()).increment(1);
    }
    if let Some(why) = d.detail.filter(|w| w.starts_with("court_order_")) {
        counter!(COURT_ORDER_QUERIES_REFUSED, "reason" => why).increment(1);
    }
    if d.detail == Some("certification_lapsed") {
        let list = d.verdict.map_or("none", |v| p.list_name(v)).to_string();
        counter!(CERTIFICATION_LAPSED, "list" => list).increment(1);
    }
    if matches!(
        d.reason,
        crate::decision::Reason::ReasonRequired | crate::decision::Reason::ReasonDenied
    ) {
        let list = d.verdict.map_or("none", |v| p.list_name(v)).to_string();
        counter!(REASON_DENIALS, "list" => list, "reason" => d.reason.name()).increment(1);
    }
}

/// The metric handles one reader records every decision with, created once
/// per label set and kept for the session: per message there is no registry
/// look-up and no label string is formatted (a map hit on small keys, then
/// atomic adds). This is the one path decisions are counted by. Handles
/// that name a list or a field depend on the policy, so they are dropped
/// when the policy in force changes.
pub struct DecisionMetrics {
    direction: Direction,
    /// The policy the cached list and field handles belong to (its address).
    policy: usize,
    messages: FxHashMap<(&'static str, Category, Option<u32>), Counter>,
    redactions: FxHashMap<crate::message::fields::FieldId, Counter>,
    drops: FxHashMap<(crate::decision::Reason, &'static str), Counter>,
    fail_open: FxHashMap<crate::decision::Reason, Counter>,
    bytes_in: Counter,
    bytes_out: Counter,
    replies: Counter,
    seconds: Histogram,
}

impl DecisionMetrics {
    /// Handles for one direction of a session.
    pub fn new(dir: Direction) -> DecisionMetrics {
        let direction = dir.name();
        DecisionMetrics {
            direction: dir,
            policy: 0,
            messages: FxHashMap::default(),
            redactions: FxHashMap::default(),
            drops: FxHashMap::default(),
            fail_open: FxHashMap::default(),
            bytes_in: counter!(BYTES, "direction" => direction, "way" => "in"),
            bytes_out: counter!(BYTES, "direction" => direction, "way" => "out"),
            replies: counter!(REPLIES, "direction" => direction),
            seconds: histogram!(DECISION_SECONDS),
        }
    }

    /// Records one decision taken under `p`.
    pub fn record(&mut self, d: &Decision, p: &std::sync::Arc<Policy>, seconds: f64) {
        let id = std::sync::Arc::as_ptr(p) as usize;
        if id != self.policy {
            self.policy = id;
            self.messages.clear();
            self.redactions.clear();
        }
        let direction = self.direction.name();
        let mke = mke_label(d);
        let key = (mke, d.category, d.verdict.and_then(|v| v.entry));
        self.messages
            .entry(key)
            .or_insert_with(|| {
                let list = d.verdict.map_or("none", |v| p.list_name(v)).to_string();
                counter!(MESSAGES, "direction" => direction, "mke" => mke, "category" => d.category.name(), "list" => list)
            })
            .increment(1);
        self.bytes_in.increment(d.bytes_in as u64);
        self.bytes_out.increment(d.bytes_out as u64);
        for f in d.removed.iter() {
            self.redactions
                .entry(f)
                .or_insert_with(|| counter!(REDACTIONS, "field" => p.catalogue.name(f).to_string()))
                .increment(1);
        }
        match d.category {
            Category::Dropped => {
                let detail = d.detail.unwrap_or("");
                self.drops
                    .entry((d.reason, detail))
                    .or_insert_with(|| counter!(DROPS, "direction" => direction, "reason" => d.reason.name(), "detail" => detail))
                    .increment(1)
            }
            Category::Passed if d.reason.is_fail_open() => self
                .fail_open
                .entry(d.reason)
                .or_insert_with(
                    || counter!(FAIL_OPEN, "direction" => direction, "reason" => d.reason.name()),
                )
                .increment(1),
            _ => {}
        }
        if matches!(d.outcome, crate::decision::Outcome::Deny { reply: Some(_) }) {
            self.replies.increment(1);
        }
        self.seconds.record(seconds);
        legal_process(d, p);
        time_to_block(d, self.direction, p);
    }
}

/// Handles for the unlabelled per-message series of a session (audit
/// records appended, forwarding time), created once.
#[derive(Clone)]
pub struct SessionMetrics {
    /// [`AUDIT_RECORDS`].
    pub audit_records: Counter,
    /// [`FORWARD_SECONDS`].
    pub forward_seconds: Histogram,
}

impl SessionMetrics {
    /// Handles from the installed recorder.
    pub fn new() -> SessionMetrics {
        SessionMetrics {
            audit_records: counter!(AUDIT_RECORDS),
            forward_seconds: histogram!(FORWARD_SECONDS),
        }
    }
}

impl Default for SessionMetrics {
    fn default() -> Self {
        SessionMetrics::new()
    }
}

/// The label values known before any event, from the code's fixed sets
/// (`specs/metrics.md` lists each). Every series they make exists at zero
/// from start ([`install`]), so `increase()` and alerts see the first event.
pub mod values {
    /// `direction` of decisions and framing errors.
    pub const DIRECTIONS: &[&str] = &["inbound", "outbound"];
    /// `way` of [`super::BYTES`].
    pub const WAYS: &[&str] = &["in", "out"];
    /// `reason` of [`super::DROPS`] from the decision, and `audit_failed`
    /// (each with `detail=""`; a parse or redaction detail code appears at
    /// its first use).
    pub const DROP_REASONS: &[&str] = &[
        "unknown_ori",
        "parse_error",
        "restricted_parse_error",
        "redact_failed",
        "unknown_key",
        "audit_failed",
    ];
    /// `reason` of [`super::FAIL_OPEN`].
    pub const FAIL_OPEN_REASONS: &[&str] = &["unknown_ori_pass", "parse_error_pass"];
    /// `reason` of [`super::FRAME_ERRORS`].
    pub const FRAME_REASONS: &[&str] = &[
        "frame_oversized",
        "frame_malformed",
        "frame_truncated",
        "message_timeout",
    ];
    /// `end` of [`super::SESSIONS`].
    pub const ENDS: &[&str] = &[
        "switch_closed",
        "nlets_closed",
        "frame_error",
        "message_timeout",
        "idle",
        "drained",
        "write_failed",
        "read_error",
        "first_message_timeout",
        "sessions_full",
        "upstream_unreachable",
        "shed",
    ];
    /// `reason` of [`super::UPSTREAM_FAILURES`].
    pub const UPSTREAM_REASONS: &[&str] =
        &["connect", "connect_timeout", "tls_handshake", "tls_timeout"];
    /// `reason` of [`super::REFUSED`].
    pub const REFUSED_REASONS: &[&str] = &[
        "pending_full",
        "peer_pending",
        "tls_handshake",
        "tls_timeout",
        "first_message_timeout",
        "sessions_full",
        "peer_sessions",
        "evicted",
        "drain_deadline",
    ];
    /// `result` of [`super::POLICY_RELOADS`] and [`super::TLS_RELOADS`].
    pub const RESULTS: &[&str] = &["applied", "refused"];
    /// `trigger` of [`super::POLICY_RELOADS`].
    pub const TRIGGERS: &[&str] = &["sighup", "file_watch", "admin"];
    /// `event` of [`super::AUDIT_FILE_EVENTS`].
    pub const FILE_EVENTS: &[&str] = &[
        "truncated",
        "deleted",
        "replaced",
        "kept_aside",
        "rotated",
        "resumed",
        "no_room",
    ];
    /// `side` of [`super::UNDELIVERED`].
    pub const SIDES: &[&str] = &["nlets", "switch"];
    /// `reason` of [`super::UNDELIVERED`].
    pub const UNDELIVERED_REASONS: &[&str] = &[
        "upstream_unreachable",
        "write_failed",
        "session_closed",
        "sessions_full",
        "peer_sessions",
        "audit_failed",
        "unframeable",
        "drain_deadline",
        "peer_pending",
    ];
    /// `stage` of [`super::COURT_ORDER_USES`].
    pub const STAGES: &[&str] = &["query", "response"];

    /// `reason` of [`super::REASON_DENIALS`].
    pub const REASON_RULES: &[&str] = &["reason_required", "reason_denied"];
}

/// Creates, at zero, every series whose labels come from the code's fixed
/// sets (`increment(0)`: a series that already counts keeps its value).
fn zero_fixed() {
    use values::*;
    for &d in DIRECTIONS {
        for &w in WAYS {
            counter!(BYTES, "direction" => d, "way" => w).increment(0);
        }
        for &r in DROP_REASONS {
            counter!(DROPS, "direction" => d, "reason" => r, "detail" => "").increment(0);
        }
        for &r in FAIL_OPEN_REASONS {
            counter!(FAIL_OPEN, "direction" => d, "reason" => r).increment(0);
        }
        for &r in FRAME_REASONS {
            counter!(FRAME_ERRORS, "direction" => d, "reason" => r).increment(0);
        }
        counter!(REPLIES, "direction" => d).increment(0);
    }
    counter!(DROPS, "direction" => "any", "reason" => "unframeable", "detail" => "").increment(0);
    for &r in RESULTS {
        for &t in TRIGGERS {
            counter!(POLICY_RELOADS, "result" => r, "trigger" => t).increment(0);
        }
        counter!(TLS_RELOADS, "result" => r).increment(0);
    }
    for &e in FILE_EVENTS {
        counter!(AUDIT_FILE_EVENTS, "event" => e).increment(0);
    }
    for &s in SIDES {
        for &r in UNDELIVERED_REASONS {
            counter!(UNDELIVERED, "side" => s, "reason" => r).increment(0);
        }
    }
    for r in <crate::decision::ledger::Refusal as strum::IntoEnumIterator>::iter() {
        counter!(COURT_ORDER_QUERIES_REFUSED, "reason" => r.detail()).increment(0);
    }
    for c in <crate::decision::court_order::SubjectCheck as strum::IntoEnumIterator>::iter() {
        counter!(COURT_ORDER_RESPONSES, "subject" => c.name()).increment(0);
    }
    counter!(COURT_ORDERS_REFUSED).increment(0);
    counter!(POLICY_BUNDLES_REFUSED).increment(0);
    counter!(AUDIT_RECORDS).increment(0);
    counter!(AUDIT_ERRORS).increment(0);
    counter!(AUDIT_OUTAGES).increment(0);
    counter!(SHADOW_MESSAGES).increment(0);
    gauge!(AUDIT_HELD_BYTES).set(0.0);
    gauge!(BUFFERED_BYTES).set(0.0);
    gauge!(AUDIT_HEALTHY).set(0.0);
    gauge!(READY).set(0.0);
    let _ = histogram!(DECISION_SECONDS);
    let _ = histogram!(FORWARD_SECONDS);
}

/// Creates, at zero, the series named by the configured links (`link`,
/// and `listener` = a link or `admin`). Called once the configuration is
/// known, before anything is bound.
pub fn links_configured<'a>(links: impl IntoIterator<Item = &'a str>) {
    use values::*;
    counter!(ACCEPT_ERRORS, "listener" => "admin").increment(0);
    for l in links {
        let l = l.to_string();
        gauge!(SESSIONS_ACTIVE, "link" => l.clone()).increment(0.0);
        gauge!(CONNECTIONS_PENDING, "link" => l.clone()).increment(0.0);
        counter!(SHED, "link" => l.clone()).increment(0);
        counter!(ACCEPT_ERRORS, "listener" => l.clone()).increment(0);
        for &e in ENDS {
            counter!(SESSIONS, "link" => l.clone(), "end" => e).increment(0);
        }
        for &r in UPSTREAM_REASONS {
            counter!(UPSTREAM_FAILURES, "link" => l.clone(), "reason" => r).increment(0);
        }
        for &r in REFUSED_REASONS {
            counter!(REFUSED, "link" => l.clone(), "reason" => r).increment(0);
        }
    }
}

/// Creates, at zero, the series named by a policy: messages per direction,
/// key (every key of the table, `other`, `unknown`), category and list
/// (every list and `none`); redactions per catalogue field; court-order
/// uses per exception and stage; lapsed certifications per certified list;
/// reason-code denials per list that has a reason rule.
fn zero_policy(p: &Policy) {
    use strum::IntoEnumIterator;
    let lists: Vec<&str> = p
        .lists
        .iter()
        .map(|l| l.name.as_str())
        .chain(["none"])
        .collect();
    let mkes = keys::KEYS.iter().map(|k| k.key).chain(["other", "unknown"]);
    for mke in mkes {
        for &d in values::DIRECTIONS {
            for c in Category::iter() {
                for &l in &lists {
                    counter!(MESSAGES, "direction" => d, "mke" => mke, "category" => c.name(), "list" => l.to_string())
                        .increment(0);
                }
            }
        }
    }
    for f in p.catalogue.fields() {
        counter!(REDACTIONS, "field" => f.name.clone()).increment(0);
    }
    for e in &p.exceptions {
        for &s in values::STAGES {
            counter!(COURT_ORDER_USES, "exception" => e.id.to_string(), "stage" => s).increment(0);
        }
    }
    for c in &p.certifications {
        if let Some(l) = c.list.and_then(|i| p.lists.get(i)) {
            counter!(CERTIFICATION_LAPSED, "list" => l.name.clone()).increment(0);
        }
    }
    for l in &p.lists {
        let _ = histogram!(TIME_TO_BLOCK, "list" => l.name.clone());
    }
    for l in p
        .lists
        .iter()
        .filter(|l| l.require_reason || !l.deny_reasons.is_empty())
    {
        for &r in values::REASON_RULES {
            counter!(REASON_DENIALS, "list" => l.name.clone(), "reason" => r).increment(0);
        }
    }
}

/// Records the policy now in force, and creates the series it names.
pub fn policy_in_force(old: Option<&str>, new: &Policy) {
    zero_policy(new);
    if let Some(old) = old {
        gauge!(POLICY_INFO, "version" => old[..12].to_string()).set(0.0);
    }
    gauge!(POLICY_INFO, "version" => new.short_version().to_string()).set(1.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    gauge!(POLICY_LOADED).set(now);
}

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process.
pub fn install() {
    HANDLE.get_or_init(|| {
        let b = PrometheusBuilder::new()
            // Minutes to days: a reload reaches the next message at once,
            // the newly listed agency may not ask for hours.
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(TIME_TO_BLOCK.into()),
                &[
                    1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 43200.0, 86400.0, 259200.0,
                    604800.0,
                ],
            )
            .ok()?
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                &[
                    0.000_005, 0.00001, 0.000_025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                ],
            )
            .ok()?;
        let handle = b.install_recorder().ok()?;
        // Histogram samples accumulate until upkeep folds them into their
        // buckets; without it memory grows with every message when nobody
        // scrapes /metrics. Run it on a small background thread.
        let h = handle.clone();
        let _ = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                h.run_upkeep();
            });
        describe();
        gauge!(BUILD_INFO, "version" => crate::VERSION).set(1.0);
        Some(handle)
    });
}

/// Registers HELP text, and zero values for every series of fixed labels,
/// so a scrape shows them before the first event.
fn describe() {
    for (name, help) in HELP {
        if name.ends_with("_total") {
            metrics::describe_counter!(*name, *help);
        } else if name.ends_with("_seconds") && !name.ends_with("_timestamp_seconds") {
            metrics::describe_histogram!(*name, *help);
        } else {
            metrics::describe_gauge!(*name, *help);
        }
    }
    zero_fixed();
}

/// How often histogram samples are folded into buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The rendered metrics (Prometheus text format).
pub fn render() -> String {
    match HANDLE.get().and_then(|h| h.as_ref()) {
        Some(h) => h.render(),
        None => "# metrics recorder unavailable\n".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Handles kept across messages render exactly what fresh handles per
    /// message do, across a policy change.
    #[test]
    fn cached_handles_record_what_lookups_record() {
        let policy = |text: &str| {
            let dir = tempfile::tempdir().unwrap();
            let root = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/policy");
            std::fs::create_dir_all(dir.path().join("lists")).unwrap();
            for f in ["lists/immigration.txt", "lists/federal_redact.txt"] {
                std::fs::copy(format!("{root}/{f}"), dir.path().join(f)).unwrap();
            }
            let p = dir.path().join("p.toml");
            std::fs::write(&p, text).unwrap();
            std::sync::Arc::new(
                crate::runtime::policy_store::load_path(p.to_str().unwrap()).unwrap(),
            )
        };
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/policy/colorado.toml"
        ))
        .unwrap();
        let policies = [policy(&text), policy(&format!("{text}\n# changed\n"))];
        let mut g = crate::capture::gen::Generator::new(11, crate::capture::gen::Mix::default());
        let limits = crate::message::Limits::default();
        let decisions: Vec<_> = (0..400)
            .map(|i| {
                let dir = if i % 3 == 0 {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                };
                let p = policies[i / 200].clone();
                let d = crate::decision::decide(
                    dir,
                    g.message(dir == Direction::Inbound),
                    &p,
                    &limits,
                    std::time::SystemTime::now(),
                );
                (dir, p, d)
            })
            .collect();
        let render = |cached: bool| {
            let rec = PrometheusBuilder::new().build_recorder();
            let handle = rec.handle();
            metrics::with_local_recorder(&rec, || {
                let mut dm = [
                    DecisionMetrics::new(Direction::Inbound),
                    DecisionMetrics::new(Direction::Outbound),
                ];
                for (dir, p, d) in &decisions {
                    if cached {
                        dm[(*dir == Direction::Outbound) as usize].record(d, p, 0.001);
                    } else {
                        DecisionMetrics::new(*dir).record(d, p, 0.001);
                    }
                }
            });
            let mut lines: Vec<String> = handle
                .render()
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(String::from)
                .collect();
            lines.sort();
            lines
        };
        let (a, b) = (render(false), render(true));
        assert!(
            a.iter().any(|l| l.contains("category=\"redacted\"")),
            "{a:?}"
        );
        assert_eq!(a, b);
    }

    #[test]
    fn names_unique_prefixed_and_used() {
        let mut seen = std::collections::HashSet::new();
        for n in ALL {
            assert!(seen.insert(*n), "duplicate metric {n}");
            assert!(
                n.starts_with("origuard_")
                    && n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            );
        }
        // Every constant is used somewhere in the crate besides this file.
        let mut src = String::new();
        let mut stack = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("metrics.rs") {
                    src.push_str(&std::fs::read_to_string(&p).unwrap());
                }
            }
        }
        let here = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/runtime/metrics.rs"
        ))
        .unwrap();
        let body = here.split("#[cfg(test)]").next().unwrap();
        let consts: Vec<&str> = body
            .lines()
            .filter_map(|l| l.strip_prefix("pub const ")?.split(':').next())
            .filter(|c| *c != "ALL")
            .collect();
        assert_eq!(consts.len(), ALL.len());
        for c in consts {
            let used_here =
                body.matches(&format!("!({c},")).count() + body.matches(&format!("!({c})")).count();
            let used_elsewhere =
                src.contains(&format!("metrics::{c}")) || src.contains(&format!("m::{c}"));
            assert!(
                used_here > 0 || used_elsewhere,
                "metric constant {c} is never recorded"
            );
        }
    }
}
