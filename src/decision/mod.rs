//! The decision: the one place where a message meets the policy.
//!
//! [`decide`] is pure — `(direction, raw bytes, policy) → Decision` — and is
//! exactly what the proxy, `filter` and `policy diff --capture` call.
//!
//! The counterparty is the agency outside the state: the originating ORI of
//! an inbound message, the destination ORI(s) of an outbound one (with several
//! destinations the strictest verdict wins). Deny is total: a deny-listed
//! agency gets nothing and sends nothing, whatever the key, unless the policy
//! exempts the key. Redact is a positive model: every message to a
//! redact-listed agency is projected onto its release profile
//! ([`crate::redact::release`]); messages from it with a key the table does
//! not know are dropped. Fail closed: a restricted counterparty plus anything
//! uncertain (parse failure, refused projection, verifier finding) means the
//! message is not forwarded. An unrestricted message that does not parse
//! follows `on_parse_error`; a message whose counterparty cannot be read at
//! all follows `on_unknown_ori`.

pub mod counts;
pub mod court_order;
mod restricted;
use crate::redact::release;
pub mod decline;
pub mod ledger;

use crate::message::fields::FieldSet;
use crate::message::Direction;
use crate::message::{parse, parse_header, Class, Header, Limits, Message, Ori};
use crate::policy::{Action, DenyMode, OnError, Policy, Verdict};
use bytes::Bytes;
use std::time::SystemTime;

/// What a decision may consult besides the message and the policy: the
/// time (exception windows, certification expiry) and the court-order
/// ledger. Without a ledger no exception applies.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The time the message is decided at.
    pub now: SystemTime,
    /// Use counts and awaited responses of court-order exceptions.
    pub ledger: Option<&'a ledger::Ledger>,
}

impl Context<'_> {
    /// At time `now`, no ledger.
    pub fn at(now: SystemTime) -> Context<'static> {
        Context { now, ledger: None }
    }
}

/// One message's inputs to the decision, once its header is read: what the
/// rules below [`decide_in`] (and [`court_order`]) look at, in one value.
pub(crate) struct Case<'a> {
    /// Which way the message goes.
    pub dir: Direction,
    /// Its routing header.
    pub header: &'a Header,
    /// The counterparty ORI, when it is known.
    pub counterparty: Option<Ori>,
    /// The deciding verdict (before key scope).
    pub verdict: Verdict,
    /// The action after key scope.
    pub action: Action,
    /// The policy in force.
    pub policy: &'a Policy,
    /// Message limits.
    pub limits: &'a Limits,
    /// Time and ledger.
    pub cx: &'a Context<'a>,
}

/// What happens to the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Forward these bytes (the very same `Bytes` when unchanged).
    Forward(Bytes),
    /// Do not forward. When `reply` is set, send it to Nlets (toward the
    /// requester): for a denied inbound query it answers the query; for a
    /// denied outbound response it takes the response's place.
    Deny {
        /// The decline reply, if the policy asks for one.
        reply: Option<Bytes>,
    },
    /// Do not forward.
    Drop,
}

/// The counting category of a decision. received = passed + redacted +
/// denied + dropped, always.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "snake_case")]
pub enum Category {
    /// Forwarded unchanged.
    Passed,
    /// Forwarded after the redact action (fields may or may not have been present).
    Redacted,
    /// Not forwarded because the policy denies it.
    Denied,
    /// Not forwarded because it could not be handled with certainty.
    Dropped,
}

impl Category {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// Everything known about one decision: what to do, why, and the metadata
/// (never message content) that metrics and the audit record need.
#[derive(Clone, Debug)]
pub struct Decision {
    /// What to do.
    pub outcome: Outcome,
    /// Counting category.
    pub category: Category,
    /// The policy action that applied (after key scope), if the counterparty was known.
    pub action: Option<Action>,
    /// Why: shared by metrics and audit.
    pub reason: Reason,
    /// Finer detail (e.g. the parse error code), when there is one.
    pub detail: Option<&'static str>,
    /// Header values, when the header could be read.
    pub header: Option<HeaderInfo>,
    /// The counterparty ORI the policy was evaluated on.
    pub counterparty: Option<Ori>,
    /// The deciding verdict (list entry) when a list matched.
    pub verdict: Option<Verdict>,
    /// Fields removed.
    pub removed: FieldSet,
    /// Size of the received message.
    pub bytes_in: usize,
    /// Size of what is forwarded (0 when nothing is).
    pub bytes_out: usize,
    /// The court-order exception this message used, if any.
    pub exception: Option<ledger::Use>,
    /// For a response to an order query: whom it showed (and how many
    /// records it seemed to hold).
    pub subject_check: Option<(court_order::SubjectCheck, u32)>,
    /// The query's reason code (`RSN/`, `n2:ReasonCode`), when it gave one.
    pub reason_code: Option<u8>,
}

/// Header values kept for metrics and audit (the message's routing header).
pub type HeaderInfo = Header;

impl Decision {
    /// True when the message concerns a restricted agency, or could not be
    /// handled plainly: anything but an ordinary pass to an unlisted or
    /// allowed agency. Restricted messages are never forwarded without a
    /// durable audit record, whatever the audit failure setting.
    pub fn is_restricted(&self) -> bool {
        self.category != Category::Passed
            || self.reason == Reason::Exempt
            || self.reason == Reason::RedactInbound
            || self.verdict.is_some_and(|v| v.action.restricts())
            || self.counterparty.is_none()
    }
}

/// Why a decision came out as it did: one-to-one with a metric label and an
/// audit reason code (the wire name is the variant's, in snake case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Reason {
    /// Counterparty in no list; default pass.
    Pass,
    /// Counterparty explicitly allowed.
    Allow,
    /// Restricted list, but the policy exempts the message key explicitly.
    Exempt,
    /// A message from a redact-listed agency to the state (only what goes
    /// to the agency is projected).
    RedactInbound,
    /// A message from a redact-listed agency with a key the table does not know.
    UnknownKey,
    /// Redact action applied.
    Redact,
    /// Deny action applied.
    Deny,
    /// The header could not be read; `on_unknown_ori = drop`.
    UnknownOri,
    /// The header could not be read; forwarded because `on_unknown_ori = pass`.
    UnknownOriPass,
    /// Unrestricted and unparseable; `on_parse_error = drop`.
    ParseError,
    /// Unrestricted and unparseable; forwarded because `on_parse_error = pass`.
    ParseErrorPass,
    /// Restricted counterparty and the message does not parse.
    RestrictedParseError,
    /// Restricted counterparty and the redaction was refused or failed verification.
    RedactFailed,
    /// A query from a restricted agency let through by a court-order exception.
    CourtOrder,
    /// The response to a court-order query, with the fields the order covers.
    CourtOrderRelease,
    /// The list requires a reason code and the query gives none it can read.
    ReasonRequired,
    /// The query's reason code is one the list denies.
    ReasonDenied,
}

impl Reason {
    /// The reason code (metrics label, audit record).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// True for the outcomes that forward although the message could not be
    /// handled with certainty (the policy's explicit fail-open settings).
    pub fn is_fail_open(self) -> bool {
        matches!(self, Reason::ParseErrorPass | Reason::UnknownOriPass)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `ori`'s verdict at `now`: its list's, raised to the certification's
/// lapse action once that certification has expired (true when raised).
/// Every destination is judged by it, not only the counterparty: a lapsed
/// agency named second must not receive what the first may.
pub(super) fn verdict_at(p: &Policy, ori: &[u8], now: SystemTime) -> (Verdict, bool) {
    let mut v = p.lookup(ori);
    if let Some(c) = p.certification_for(ori, list_index(p, v)) {
        if now > c.expires && c.lapse.strictness() > v.action.strictness() {
            v.action = c.lapse;
            return (v, true);
        }
    }
    (v, false)
}

/// The agency the policy judges the message by — the originator of an
/// inbound message, the strictest destination of an outbound one — its
/// verdict at `now`, and whether a lapsed certification raised it.
fn counterparty(
    dir: Direction,
    h: &Header,
    p: &Policy,
    now: SystemTime,
) -> (Option<Ori>, Verdict, bool) {
    match dir {
        Direction::Inbound => {
            let (v, lapsed) = verdict_at(p, h.originating.as_bytes(), now);
            (Some(h.originating), v, lapsed)
        }
        Direction::Outbound => {
            let mut best: Option<(Ori, Verdict, bool)> = None;
            for d in h.dests.as_slice() {
                let (v, lapsed) = verdict_at(p, d.as_bytes(), now);
                let scoped = p.scoped(v, h.mke.as_str());
                let better = match &best {
                    None => true,
                    Some((_, b, _)) => {
                        scoped.strictness() > p.scoped(*b, h.mke.as_str()).strictness()
                    }
                };
                if better {
                    best = Some((*d, v, lapsed));
                }
            }
            match best {
                Some((o, v, lapsed)) => (Some(o), v, lapsed),
                None => (
                    None,
                    Verdict {
                        action: p.default,
                        entry: None,
                    },
                    false,
                ),
            }
        }
    }
}

/// Decides what happens to one message at time `now`, with no court-order
/// ledger (so no order applies).
pub fn decide(
    dir: Direction,
    raw: Bytes,
    p: &Policy,
    limits: &Limits,
    now: SystemTime,
) -> Decision {
    decide_in(dir, raw, p, limits, &Context::at(now))
}

/// Decides what happens to one message in context `cx`.
pub fn decide_in(
    dir: Direction,
    raw: Bytes,
    p: &Policy,
    limits: &Limits,
    cx: &Context<'_>,
) -> Decision {
    let bytes_in = raw.len();
    let mut d = Decision {
        outcome: Outcome::Drop,
        category: Category::Dropped,
        action: None,
        reason: Reason::UnknownOri,
        detail: None,
        header: None,
        counterparty: None,
        verdict: None,
        removed: FieldSet::EMPTY,
        bytes_in,
        bytes_out: 0,
        exception: None,
        subject_check: None,
        reason_code: None,
    };
    let cat = &p.catalogue;
    // One full, validating parse. Only when it fails is the header read on
    // its own, to learn who the counterparty is.
    let (h, msg) = match parse(raw.clone(), cat, limits) {
        Ok(m) => (m.header(), Ok(m)),
        Err(e) => match parse_header(&raw, cat, limits) {
            Ok(h) => (h, Err(e)),
            Err(_) => {
                d.detail = Some(e.code.reason());
                if p.on_unknown_ori == OnError::Pass {
                    d.reason = Reason::UnknownOriPass;
                    return forward(d, raw, Category::Passed);
                }
                return d;
            }
        },
    };
    d.header = Some(h);
    // A lapsed certification raises the agency's action from now on.
    let (cp, verdict, lapsed) = counterparty(dir, &h, p, cx.now);
    d.counterparty = cp;
    d.verdict = verdict.entry.is_some().then_some(verdict);
    let action = p.scoped(verdict, h.mke.as_str());
    d.action = Some(action);
    let case = Case {
        dir,
        header: &h,
        counterparty: cp,
        verdict,
        action,
        policy: p,
        limits,
        cx,
    };
    let mut d = decide_action(d, &case, raw, msg);
    if dir == Direction::Inbound
        && h.class == Class::Query
        && d.exception.is_none()
        && matches!(d.outcome, Outcome::Forward(_))
    {
        court_order::forwarded_query(&case);
    }
    if lapsed && d.detail.is_none() {
        d.detail = Some("certification_lapsed");
    }
    d
}

/// A decision's outcome as one short label (`pass`, `allow`, `redact`,
/// `deny`, `drop(REASON)`): what `policy diff --capture` and the live shadow
/// policy compare, so that both count the same changes.
pub fn outcome_label(d: &Decision) -> String {
    match d.category {
        Category::Passed => d.action.map_or("pass", |a| a.name()).to_string(),
        Category::Redacted => "redact".to_string(),
        Category::Denied => "deny".to_string(),
        Category::Dropped => format!("drop({})", d.reason),
    }
}

fn list_index(p: &Policy, v: Verdict) -> Option<usize> {
    v.entry.map(|e| p.entries[e as usize].list as usize)
}

/// The reason-code rules of the deciding list for an inbound query.
fn reason_rule(
    p: &Policy,
    verdict: Verdict,
    code: Result<Option<u8>, crate::message::query::Unreadable>,
) -> Option<(Reason, &'static str)> {
    let list = p.list_of(verdict)?;
    if !list.require_reason && list.deny_reasons.is_empty() {
        return None;
    }
    match code {
        Err(u) => Some((Reason::ReasonRequired, u.0)),
        Ok(None) if list.require_reason => Some((Reason::ReasonRequired, "no_reason_code")),
        Ok(Some(c)) if list.deny_reasons.contains(&c) => {
            Some((Reason::ReasonDenied, "listed_reason_code"))
        }
        Ok(_) => None,
    }
}

/// The decision once the header is read: reason-code rules, court orders,
/// deny, parse failures, then the action.
// Long: the rules in order of precedence, each returning early: the order is the logic.
fn decide_action(
    mut d: Decision,
    c: &Case<'_>,
    raw: Bytes,
    msg: Result<Message, crate::message::ParseError>,
) -> Decision {
    let (h, p) = (c.header, c.policy);
    if c.dir == Direction::Inbound && h.class == Class::Query {
        let code = match &msg {
            Ok(m) => crate::message::query::reason_code(m),
            Err(_) => Err(crate::message::query::Unreadable("message_unparseable")),
        };
        d.reason_code = code.ok().flatten();
        if c.action != Action::Deny {
            if let Some((why, detail)) = reason_rule(p, c.verdict, code) {
                let mut d = deny(d, c);
                d.reason = why;
                d.detail = Some(detail);
                return d;
            }
        }
        if c.action.restricts() {
            match msg.as_ref().ok().and_then(|m| court_order::query(c, m)) {
                Some(Ok(u)) => {
                    d.exception = Some(u);
                    d.reason = Reason::CourtOrder;
                    return forward(d, raw, Category::Passed);
                }
                Some(Err(refusal)) => d.detail = Some(refusal.detail()),
                None => {}
            }
        }
    }
    // The response to a court-order query: released with the fields the
    // order covers when it is about the order's subject alone. Only a
    // response addressed to that ORI alone: a copy to anyone else (even
    // another restricted agency) is the list's action.
    if c.dir == Direction::Outbound
        && h.class == Class::Response
        && c.action.restricts()
        && h.dests.len() == 1
    {
        if let (Some(ledger), Some(to), Some(control)) = (c.cx.ledger, c.counterparty, h.control) {
            if let Some(u) = ledger.take(to, control, h.mke, c.cx.now) {
                // The routing rules hold for a release under an order too.
                if let Some(why) = restricted::refusal(c) {
                    d.reason = Reason::RedactFailed;
                    d.detail = Some(why);
                    return d;
                }
                if let (Some(e), Ok(m)) =
                    (court_order::response(c, &mut d, u, msg.as_ref().ok()), &msg)
                {
                    let r = release_order(c, e, m);
                    // What is released, read again by the same reader, must
                    // show the subject alone: otherwise the list's action
                    // applies.
                    let out = r.as_ref().ok().map(|r| &r.bytes);
                    match out
                        .and_then(|b| court_order::reread(&e.subject, b, &p.catalogue, c.limits))
                    {
                        None => return released(d, r, Reason::CourtOrderRelease),
                        Some(check) => {
                            d.detail = Some(court_order::MISMATCH_IN_RELEASE);
                            d.subject_check = Some(check);
                        }
                    }
                }
                if msg.is_err() {
                    d.reason = Reason::RestrictedParseError;
                    if let Err(err) = &msg {
                        d.detail = Some(err.code.reason());
                    }
                    return d;
                }
            }
        }
    }
    if c.action == Action::Deny {
        // Denied whatever the body holds: a decline needs only the header.
        if let Err(e) = &msg {
            d.detail = d.detail.or(Some(e.code.reason()));
        }
        return deny(d, c);
    }
    let m = match msg {
        Ok(m) => m,
        Err(e) => {
            d.detail = Some(e.code.reason());
            // A listed (restricted) counterparty is fail-closed even for keys
            // its action exempts; otherwise `on_parse_error` decides.
            if c.verdict.action.restricts() {
                d.reason = Reason::RestrictedParseError;
                return d;
            }
            if p.on_parse_error == OnError::Drop {
                d.reason = Reason::ParseError;
                return d;
            }
            d.reason = Reason::ParseErrorPass;
            return forward(d, raw, Category::Passed);
        }
    };
    match (c.action, c.dir) {
        (Action::Redact, Direction::Outbound) => {
            if let Some(why) = restricted::refusal(c) {
                d.reason = Reason::RedactFailed;
                d.detail = Some(why);
                return d;
            }
            if !restricted::control_sent(c) {
                // Declined, and the decline carries no control field.
                let mut d = deny(d, c);
                d.detail = Some("control_not_sent");
                return d;
            }
            let (profiles, fields) = restricted::profiles(c);
            let r = crate::redact::release_all(&m, &profiles, &p.catalogue, fields, c.limits);
            released(d, r, Reason::Redact)
        }
        (Action::Redact, Direction::Inbound) if h.class == Class::Other => {
            d.reason = Reason::UnknownKey;
            d
        }
        _ => {
            d.reason = if c.verdict.action.restricts() && c.action == Action::Redact {
                Reason::RedactInbound
            } else if c.verdict.action.restricts() {
                Reason::Exempt
            } else if c.action == Action::Allow {
                Reason::Allow
            } else {
                Reason::Pass
            };
            forward(d, raw, Category::Passed)
        }
    }
}

/// A response released under order `e`: projected onto the order's profile,
/// everything the order does not release withheld as the list says (for a
/// deny list, every protected field of the catalogue).
fn release_order(
    c: &Case<'_>,
    e: &crate::policy::legal::Exception,
    m: &Message,
) -> Result<crate::redact::Redacted, crate::redact::RedactError> {
    let p = c.policy;
    let profile = e
        .profile
        .map_or_else(|| p.profile_for(c.verdict), |i| &p.profiles[i]);
    let withheld = if c.action == Action::Deny {
        p.catalogue.all()
    } else {
        p.fields_for(c.verdict)
    };
    let fields = crate::message::fields::FieldSet(withheld.0 & !e.release.0);
    release(m, profile, &p.catalogue, fields, c.limits)
}

/// Forwards a projection's output, or records why it was refused.
fn released(
    mut d: Decision,
    r: Result<crate::redact::Redacted, crate::redact::RedactError>,
    why: Reason,
) -> Decision {
    match r {
        Ok(r) => {
            d.reason = why;
            d.removed = r.removed;
            forward(d, r.bytes, Category::Redacted)
        }
        Err(err) => {
            d.reason = Reason::RedactFailed;
            d.detail = Some(err.reason());
            d
        }
    }
}

fn deny(mut d: Decision, c: &Case<'_>) -> Decision {
    let (dir, h, cp, p) = (c.dir, c.header, c.counterparty, c.policy);
    d.reason = Reason::Deny;
    d.category = Category::Denied;
    let mode = match (dir, h.class) {
        (Direction::Inbound, Class::Query) => Some(p.deny_inbound_query),
        (Direction::Outbound, Class::Response) => Some(p.deny_outbound_response),
        _ => None,
    };
    let reply = match (mode, p.reply_ori) {
        (Some(DenyMode::Reply), Some(from)) => {
            let (mke, to) = match dir {
                Direction::Inbound => (
                    crate::message::keys::response_key(h.mke.as_str()),
                    Some(h.originating),
                ),
                Direction::Outbound => (Some(h.mke.as_str()), cp),
            };
            match (mke, to) {
                (Some(mke), Some(to)) => Some(decline::build(&decline::DeclineSpec {
                    format: h.format,
                    mke,
                    from,
                    to,
                    // Toward the agency only a control field it sent.
                    control: h
                        .control
                        .filter(|_| dir == Direction::Inbound || restricted::control_sent(c)),
                    text: &p.decline_text,
                })),
                _ => None,
            }
        }
        _ => None,
    };
    d.outcome = Outcome::Deny { reply };
    d
}

fn forward(mut d: Decision, bytes: Bytes, category: Category) -> Decision {
    d.bytes_out = bytes.len();
    d.category = category;
    d.outcome = Outcome::Forward(bytes);
    d
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod legal_tests;
