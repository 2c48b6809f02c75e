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
pub mod decline;
pub mod ledger;

use crate::message::fields::FieldSet;
use crate::message::Direction;
use crate::message::{parse, parse_header, Class, Header, Limits, Message, Ori};
use crate::policy::{Action, DenyMode, OnError, Policy, Verdict};
use crate::redact::release;
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
    /// The current time, no ledger.
    pub fn now() -> Context<'static> {
        Context {
            now: SystemTime::now(),
            ledger: None,
        }
    }
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
            || self.reason == reason::EXEMPT
            || self.reason == reason::REDACT_INBOUND
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

/// The reasons by their historical constant names.
pub mod reason {
    use super::Reason;
    /// See [`Reason::Pass`].
    pub const PASS: Reason = Reason::Pass;
    /// See [`Reason::Allow`].
    pub const ALLOW: Reason = Reason::Allow;
    /// See [`Reason::Exempt`].
    pub const EXEMPT: Reason = Reason::Exempt;
    /// See [`Reason::RedactInbound`].
    pub const REDACT_INBOUND: Reason = Reason::RedactInbound;
    /// See [`Reason::UnknownKey`].
    pub const UNKNOWN_KEY: Reason = Reason::UnknownKey;
    /// See [`Reason::Redact`].
    pub const REDACT: Reason = Reason::Redact;
    /// See [`Reason::Deny`].
    pub const DENY: Reason = Reason::Deny;
    /// See [`Reason::UnknownOri`].
    pub const UNKNOWN_ORI: Reason = Reason::UnknownOri;
    /// See [`Reason::UnknownOriPass`].
    pub const UNKNOWN_ORI_PASS: Reason = Reason::UnknownOriPass;
    /// See [`Reason::ParseError`].
    pub const PARSE_ERROR: Reason = Reason::ParseError;
    /// See [`Reason::ParseErrorPass`].
    pub const PARSE_ERROR_PASS: Reason = Reason::ParseErrorPass;
    /// See [`Reason::RestrictedParseError`].
    pub const RESTRICTED_PARSE_ERROR: Reason = Reason::RestrictedParseError;
    /// See [`Reason::RedactFailed`].
    pub const REDACT_FAILED: Reason = Reason::RedactFailed;
    /// See [`Reason::CourtOrder`].
    pub const COURT_ORDER: Reason = Reason::CourtOrder;
    /// See [`Reason::CourtOrderRelease`].
    pub const COURT_ORDER_RELEASE: Reason = Reason::CourtOrderRelease;
    /// See [`Reason::ReasonRequired`].
    pub const REASON_REQUIRED: Reason = Reason::ReasonRequired;
    /// See [`Reason::ReasonDenied`].
    pub const REASON_DENIED: Reason = Reason::ReasonDenied;
}

fn counterparty(dir: Direction, h: &Header, p: &Policy) -> (Option<Ori>, Verdict) {
    match dir {
        Direction::Inbound => (Some(h.originating), p.lookup(h.originating.as_bytes())),
        Direction::Outbound => {
            let mut best: Option<(Ori, Verdict)> = None;
            for d in h.dests.as_slice() {
                let v = p.lookup(d.as_bytes());
                let scoped = p.scoped(v, h.mke.as_str());
                let better = match &best {
                    None => true,
                    Some((_, b)) => scoped.strictness() > p.scoped(*b, h.mke.as_str()).strictness(),
                };
                if better {
                    best = Some((*d, v));
                }
            }
            match best {
                Some((o, v)) => (Some(o), v),
                None => (
                    None,
                    Verdict {
                        action: p.default,
                        entry: None,
                    },
                ),
            }
        }
    }
}

/// Decides what happens to one message, now, with no court-order ledger.
pub fn decide(dir: Direction, raw: Bytes, p: &Policy, limits: &Limits) -> Decision {
    decide_in(dir, raw, p, limits, &Context::now())
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
        reason: reason::UNKNOWN_ORI,
        detail: None,
        header: None,
        counterparty: None,
        verdict: None,
        removed: FieldSet::EMPTY,
        bytes_in,
        bytes_out: 0,
        exception: None,
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
                    d.reason = reason::UNKNOWN_ORI_PASS;
                    return forward(d, raw, Category::Passed);
                }
                return d;
            }
        },
    };
    d.header = Some(h);
    let (cp, mut verdict) = counterparty(dir, &h, p);
    // A lapsed certification raises the agency's action from now on.
    let mut lapsed = false;
    if let Some(c) = cp.and_then(|o| p.certification_for(o.as_bytes(), list_index(p, verdict))) {
        if cx.now > c.expires && c.lapse.strictness() > verdict.action.strictness() {
            verdict.action = c.lapse;
            lapsed = true;
        }
    }
    d.counterparty = cp;
    d.verdict = verdict.entry.is_some().then_some(verdict);
    let action = p.scoped(verdict, h.mke.as_str());
    d.action = Some(action);
    let mut d = decide_action(d, dir, raw, &h, msg, cp, verdict, action, p, limits, cx);
    if dir == Direction::Inbound
        && d.exception.is_none()
        && matches!(d.outcome, Outcome::Forward(_))
    {
        other_query(p, &h, cx);
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

/// Any inbound message forwarded from an ORI with an exception, that no
/// exception let through (a redact list's query, an exempt key): the state
/// may answer it with the same control field as an order's query, so the
/// ledger must not release either answer.
fn other_query(p: &Policy, h: &Header, cx: &Context<'_>) {
    let (Some(ledger), Some(control)) = (cx.ledger, h.control) else {
        return;
    };
    if p.exceptions_for(h.originating.as_bytes()).next().is_some() {
        ledger.other_query(
            h.originating,
            control,
            cx.now,
            cx.now + p.court_order_window,
        );
    }
}

/// A query from a restricted agency: the first active exception of that
/// ORI whose subject it names exactly, with a use still left.
fn court_order_query(p: &Policy, m: &Message, h: &Header, cx: &Context<'_>) -> Option<ledger::Use> {
    let ledger = cx.ledger?;
    let mut candidates = p
        .exceptions_for(h.originating.as_bytes())
        .filter(|e| e.active(cx.now))
        .peekable();
    candidates.peek()?;
    // The response is correlated by control field: without one (or with one
    // a restricted agency may not have) nothing can be released.
    let control = h
        .control
        .filter(|c| !c.is_empty() && c.as_bytes().iter().all(u8::is_ascii_alphanumeric))?;
    let key = crate::message::keys::response_key(h.mke.as_str())
        .and_then(|k| crate::message::Mke::new(k.as_bytes()))?;
    let subject = crate::message::query::subject(m).ok()?;
    candidates
        .filter(|e| e.matches(&subject, h.dests.as_slice()))
        .find_map(|e| {
            ledger.reserve(
                &e.id,
                e.max_uses,
                h.originating,
                control,
                key,
                cx.now,
                cx.now + p.court_order_window,
            )
        })
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
        Err(u) => Some((reason::REASON_REQUIRED, u.0)),
        Ok(None) if list.require_reason => Some((reason::REASON_REQUIRED, "no_reason_code")),
        Ok(Some(c)) if list.deny_reasons.contains(&c) => {
            Some((reason::REASON_DENIED, "listed_reason_code"))
        }
        Ok(_) => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn decide_action(
    mut d: Decision,
    dir: Direction,
    raw: Bytes,
    h: &Header,
    msg: Result<Message, crate::message::ParseError>,
    cp: Option<Ori>,
    verdict: Verdict,
    action: Action,
    p: &Policy,
    limits: &Limits,
    cx: &Context<'_>,
) -> Decision {
    let cat = &p.catalogue;
    let h = *h;
    let inbound_query = dir == Direction::Inbound && h.class == Class::Query;
    if inbound_query {
        let code = match &msg {
            Ok(m) => crate::message::query::reason_code(m),
            Err(_) => Err(crate::message::query::Unreadable("message_unparseable")),
        };
        d.reason_code = code.ok().flatten();
        if action != Action::Deny {
            if let Some((why, detail)) = reason_rule(p, verdict, code) {
                let mut d = deny(d, dir, &h, cp, p);
                d.reason = why;
                d.detail = Some(detail);
                return d;
            }
        }
        if action.restricts() {
            if let Some(u) = msg
                .as_ref()
                .ok()
                .and_then(|m| court_order_query(p, m, &h, cx))
            {
                d.exception = Some(u);
                d.reason = reason::COURT_ORDER;
                return forward(d, raw, Category::Passed);
            }
        }
    }
    // The response to a court-order query: the fields the order covers are
    // released with the profile; an order that covers none changes nothing.
    // Only a response addressed to that ORI alone: a copy to anyone else
    // (even another restricted agency) is the list's action.
    if dir == Direction::Outbound
        && h.class == Class::Response
        && action.restricts()
        && h.dests.len() == 1
    {
        if let (Some(ledger), Some(to), Some(control)) = (cx.ledger, cp, h.control) {
            if let Some(u) = ledger.take(to, control, h.mke, cx.now) {
                let e = p
                    .exception(&u.id)
                    .filter(|e| e.active(cx.now) && !e.release.is_empty());
                d.exception = Some(u);
                if let Some(e) = e {
                    let Ok(m) = msg else {
                        d.reason = reason::RESTRICTED_PARSE_ERROR;
                        if let Err(err) = &msg {
                            d.detail = Some(err.code.reason());
                        }
                        return d;
                    };
                    let profile = e
                        .profile
                        .map_or_else(|| p.profile_for(verdict), |i| &p.profiles[i]);
                    // Everything the order does not release stays withheld
                    // as the list says: for a deny list, every protected
                    // field of the catalogue.
                    let withheld = if action == Action::Deny {
                        cat.all()
                    } else {
                        p.fields_for(verdict)
                    };
                    let fields = crate::message::fields::FieldSet(withheld.0 & !e.release.0);
                    return match release(&m, profile, cat, fields, limits) {
                        Ok(r) => {
                            d.reason = reason::COURT_ORDER_RELEASE;
                            d.removed = r.removed;
                            forward(d, r.bytes, Category::Redacted)
                        }
                        Err(err) => {
                            d.reason = reason::REDACT_FAILED;
                            d.detail = Some(err.reason());
                            d
                        }
                    };
                }
            }
        }
    }
    if action == Action::Deny {
        // Denied whatever the body holds: a decline needs only the header.
        if let Err(e) = &msg {
            d.detail = Some(e.code.reason());
        }
        return deny(d, dir, &h, cp, p);
    }
    let m = match msg {
        Ok(m) => m,
        Err(e) => {
            d.detail = Some(e.code.reason());
            // A listed (restricted) counterparty is fail-closed even for keys
            // its action exempts; otherwise `on_parse_error` decides.
            if verdict.action.restricts() {
                d.reason = reason::RESTRICTED_PARSE_ERROR;
                return d;
            }
            if p.on_parse_error == OnError::Drop {
                d.reason = reason::PARSE_ERROR;
                return d;
            }
            d.reason = reason::PARSE_ERROR_PASS;
            return forward(d, raw, Category::Passed);
        }
    };
    match (action, dir) {
        (Action::Redact, Direction::Outbound) => {
            match release(
                &m,
                p.profile_for(verdict),
                cat,
                p.fields_for(verdict),
                limits,
            ) {
                Ok(r) => {
                    d.reason = reason::REDACT;
                    d.removed = r.removed;
                    forward(d, r.bytes, Category::Redacted)
                }
                Err(e) => {
                    d.reason = reason::REDACT_FAILED;
                    d.detail = Some(e.reason());
                    d
                }
            }
        }
        (Action::Redact, Direction::Inbound) if h.class == Class::Other => {
            d.reason = reason::UNKNOWN_KEY;
            d
        }
        _ => {
            d.reason = if verdict.action.restricts() && action == Action::Redact {
                reason::REDACT_INBOUND
            } else if verdict.action.restricts() {
                reason::EXEMPT
            } else if action == Action::Allow {
                reason::ALLOW
            } else {
                reason::PASS
            };
            forward(d, raw, Category::Passed)
        }
    }
}

fn deny(mut d: Decision, dir: Direction, h: &Header, cp: Option<Ori>, p: &Policy) -> Decision {
    d.reason = reason::DENY;
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
                    control: h.control,
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
