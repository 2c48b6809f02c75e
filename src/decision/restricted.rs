//! What a message to restricted agencies may carry in its routing: every
//! destination looked up, the state's own originator, and a control field
//! the agency itself sent. See `specs/redaction.md` (*Routing*).

use super::Case;
use crate::message::fields::FieldSet;
use crate::message::Class;
use crate::policy::Verdict;
use crate::redact::profile::Profile;

/// The destinations whose scoped action restricts, with their verdicts.
pub(super) fn restricted(c: &Case<'_>) -> Vec<(crate::message::Ori, Verdict)> {
    let p = c.policy;
    c.header
        .dests
        .as_slice()
        .iter()
        .map(|d| (*d, super::verdict_at(p, d.as_bytes(), c.cx.now).0))
        .filter(|(_, v)| p.scoped(*v, c.header.mke.as_str()).restricts())
        .collect()
}

/// Why the routing of an outbound message to a restricted agency cannot be
/// written to it, if it cannot: an originator that is not the state's own
/// (when `[redact] origins` names them), a destination on no list beside
/// a restricted one, or, with several destinations, one not named exactly.
pub(super) fn refusal(c: &Case<'_>) -> Option<&'static str> {
    let p = c.policy;
    let o = c.header.originating.as_bytes();
    if !p.redact_origins.is_empty() && !p.redact_origins.iter().any(|x| o.starts_with(x.as_bytes()))
    {
        return Some("profile_origin");
    }
    let dests = c.header.dests.as_slice();
    let unlisted = dests.iter().any(|d| p.lookup(d.as_bytes()).entry.is_none());
    // Beside a restricted destination, every other one must be named
    // exactly: one that only a pattern or member code admits has characters
    // the state system chose.
    let loose = dests.len() > 1
        && dests.iter().any(|d| {
            p.lookup(d.as_bytes())
                .entry
                .and_then(|e| p.entries.get(e as usize))
                .is_none_or(|e| e.entry.kind != crate::policy::entry::Kind::Exact)
        });
    (unlisted || loose).then_some("profile_destination")
}

/// True when the response's control field may be written to its restricted
/// destinations: it has none, or every one of them sent it in a query
/// forwarded within the response window. Without a ledger (offline tools)
/// the check cannot be made and is not.
pub(super) fn control_sent(c: &Case<'_>) -> bool {
    let (Some(control), Some(ledger)) = (c.header.control, c.cx.ledger) else {
        return true;
    };
    if c.header.class != Class::Response {
        return true;
    }
    restricted(c)
        .iter()
        .all(|(d, _)| ledger.sent_query(*d, control, c.cx.now))
}

/// The profiles of every restricted destination (each once) and the union
/// of the catalogue fields they withhold.
pub(super) fn profiles<'p>(c: &Case<'p>) -> (Vec<&'p Profile>, FieldSet) {
    let p = c.policy;
    let mut out: Vec<&Profile> = Vec::new();
    let mut fields = FieldSet::EMPTY;
    for (_, v) in restricted(c) {
        let prof = p.profile_for(v);
        if !out.iter().any(|x| std::ptr::eq(*x, prof)) {
            out.push(prof);
        }
        fields = fields.union(p.fields_for(v));
    }
    if out.is_empty() {
        out.push(p.profile_for(c.verdict));
        fields = p.fields_for(c.verdict);
    }
    (out, fields)
}
