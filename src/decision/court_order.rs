//! Court orders in the decision, in one place: which query an order lets
//! through ([`query`]), which response it releases and how ([`response`]),
//! and what every other forwarded query means for them
//! ([`forwarded_query`]). The policy says what an order is
//! ([`crate::policy::legal`]); the ledger remembers uses and awaited
//! responses ([`super::ledger`]); who a response is about is read by
//! [`crate::redact::persons`].
//!
//! A response is released under an order only when every person identifier
//! found in it is the order's subject (see `specs/policy.md`, *Court-order
//! exceptions*, *The response*). Records are not separated: a response that
//! also holds somebody else is withheld whole (`subject_mismatch`), and one
//! that does not show whose it is is withheld too (`subject_unidentified`).

use super::ledger::{Refusal, Use};
use super::{Case, Decision};
use crate::message::fields::Catalogue;
use crate::message::keys::response_key;
use crate::message::{Limits, Message, Mke};
use crate::policy::legal::{Exception, SubjectRule};
#[cfg(test)]
use crate::redact::persons::Name;
use crate::redact::persons::{self, Found};
use bytes::Bytes;

/// What a response showed about whom it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum SubjectCheck {
    /// Every identifier is the subject's, and one person is named.
    Match,
    /// Somebody else is in it (another name, date of birth or licence
    /// number, or several records).
    Mismatch,
    /// It does not show whose record it is.
    Unidentified,
}

impl SubjectCheck {
    /// The audit and metric label (`match`, `mismatch`, `unidentified`).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The detail of a withheld response.
    pub fn detail(self) -> Option<&'static str> {
        match self {
            SubjectCheck::Match => None,
            SubjectCheck::Mismatch => Some("subject_mismatch"),
            SubjectCheck::Unidentified => Some("subject_unidentified"),
        }
    }
}

/// An inbound query from a restricted agency: `Some(Ok(use))` when an
/// order lets it through, `Some(Err(refusal))` when an active order of the
/// agency names exactly this query's subject but it cannot be let through,
/// `None` when no order applies.
pub(super) fn query(c: &Case<'_>, m: &Message) -> Option<Result<Use, Refusal>> {
    let ledger = c.cx.ledger?;
    let h = c.header;
    let mut candidates = c
        .policy
        .exceptions_for(h.originating.as_bytes())
        .filter(|e| e.active(c.cx.now))
        .peekable();
    candidates.peek()?;
    // The response is correlated by control field: without one (or with one
    // a restricted agency may not have) nothing can be released.
    let control = h
        .control
        .filter(|c| !c.is_empty() && c.as_bytes().iter().all(u8::is_ascii_alphanumeric))?;
    let key = response_key(h.mke.as_str()).and_then(|k| Mke::new(k.as_bytes()))?;
    let subject = crate::message::query::subject(m).ok()?;
    let mut refusal = None;
    for e in candidates.filter(|e| e.matches(&subject, h.dests.as_slice())) {
        match ledger.reserve(e, h.originating, control, key, c.cx.now) {
            Ok(u) => return Some(Ok(u)),
            // Another order for the same subject may still have uses.
            Err(r) => refusal = Some(r),
        }
    }
    refusal.map(Err)
}

/// Any inbound query forwarded that no order let through: the state may
/// answer it with the same control field as an order's query, so the
/// ledger must remember it for one window.
pub(super) fn forwarded_query(c: &Case<'_>) {
    if let (Some(ledger), Some(control)) = (c.cx.ledger, c.header.control) {
        ledger.forwarded_query(c.header.originating, control, c.cx.now);
    }
}

/// The same for a decision made without the ledger (the parallel decision
/// stage, which only runs policies without orders): a forwarded inbound
/// query is remembered all the same, so that an order added later by a
/// reload cannot release the answer to it.
pub fn note_forwarded(
    d: &Decision,
    dir: crate::message::Direction,
    ledger: &super::ledger::Ledger,
    now: std::time::SystemTime,
) {
    if let (crate::message::Direction::Inbound, Some(h), None, super::Outcome::Forward(_)) =
        (dir, &d.header, &d.exception, &d.outcome)
    {
        if let (crate::message::Class::Query, Some(control)) = (h.class, h.control) {
            ledger.forwarded_query(h.originating, control, now);
        }
    }
}

/// The order a use was spent under, as the policy now has it: by id, or by
/// identity when the order was renamed since.
pub(super) fn order_of<'p>(c: &Case<'p>, u: &Use) -> Option<&'p Exception> {
    c.policy
        .exception(&u.id)
        .filter(|e| e.identity == u.identity)
        .or_else(|| {
            c.policy
                .exceptions
                .iter()
                .find(|e| e.identity == u.identity)
        })
}

/// The response to an order query, taken from the ledger: whether it may
/// be released, and how many records it seemed to hold.
pub fn check_subject(rule: &SubjectRule, f: &Found) -> (SubjectCheck, u32) {
    let records = f.records();
    if f.unreadable.is_some() {
        return (SubjectCheck::Unidentified, records);
    }
    let verdict = match rule {
        SubjectRule::Oln { oln, state } => {
            if f.olns.is_empty() {
                SubjectCheck::Unidentified
            } else if f.olns.iter().any(|o| o != oln)
                || f.states.iter().any(|s| s != state)
                || records > 1
            {
                SubjectCheck::Mismatch
            } else {
                SubjectCheck::Match
            }
        }
        SubjectRule::NameDob { name, dob } => {
            if f.dobs.iter().any(|d| d != dob)
                || f.names.iter().any(|n| !n.agrees(name))
                || records > 1
            {
                SubjectCheck::Mismatch
            } else if f.dobs.is_empty() || !f.names.iter().any(|n| n.whole(name)) {
                SubjectCheck::Unidentified
            } else {
                SubjectCheck::Match
            }
        }
    };
    (verdict, records)
}

/// The outcome of a response to an order query whose use `u` the ledger
/// returned: `Ok(order)` to release with that order's fields, or `Err` with
/// the decision updated (the list's action then applies).
pub(super) fn response<'p>(
    c: &Case<'p>,
    d: &mut Decision,
    u: Use,
    m: Option<&Message>,
) -> Option<&'p Exception> {
    let order = order_of(c, &u).filter(|e| e.active(c.cx.now) && !e.release.is_empty());
    d.exception = Some(u);
    let (order, m) = (order?, m?);
    let (check, records) = check_subject(&order.subject, &persons::find(m));
    d.subject_check = Some((check, records));
    match check.detail() {
        None => Some(order),
        Some(why) => {
            d.detail = Some(why);
            None
        }
    }
}

/// The detail of a response whose input showed the subject alone and whose
/// release, read again, does not ([`reread`]): the projection changed what
/// it shows.
pub const MISMATCH_IN_RELEASE: &str = "subject_mismatch_in_release";

/// The output of a release under an order for `subject` read again by the
/// same reader ([`persons::find`]): `None` when every identifier in it is
/// the subject's and it holds one record at most, else the check to record
/// (`mismatch`, with the records it seemed to hold). Output that does not
/// parse, or holds text the reader cannot read, is a mismatch: the release
/// is the list's action then. Whether it still shows whose it is does not
/// matter here: the input showed that, and the profile may release the
/// photo alone.
pub(super) fn reread(
    subject: &SubjectRule,
    out: &Bytes,
    cat: &Catalogue,
    limits: &Limits,
) -> Option<(SubjectCheck, u32)> {
    let Ok(m) = crate::message::parse(out.clone(), cat, limits) else {
        return Some((SubjectCheck::Mismatch, 0));
    };
    let f = persons::find(&m);
    let (check, records) = check_subject(subject, &f);
    // `records > 1` on its own: a licence-number check answers
    // `unidentified` before it counts records when no number is left.
    (check == SubjectCheck::Mismatch || records > 1 || f.unreadable.is_some())
        .then_some((SubjectCheck::Mismatch, records))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nd() -> SubjectRule {
        SubjectRule::NameDob {
            name: "DOE,JANE Q".into(),
            dob: "19800115".into(),
        }
    }

    fn found(names: Vec<Name>, dobs: &[&str], olns: &[&str]) -> Found {
        Found {
            names,
            dobs: dobs.iter().map(|s| s.to_string()).collect(),
            olns: olns.iter().map(|s| s.to_string()).collect(),
            ..Found::default()
        }
    }

    #[test]
    fn a_release_is_read_again_by_the_same_reader() {
        let (cat, limits) = (Catalogue::builtin(), Limits::default());
        let out = |body: &str| Bytes::from(format!("DR.COOLN0000.VTICE0900.*A1.TXT\r\n{body}"));
        let read = |body: &str| reread(&nd(), &out(body), &cat, &limits);
        // The subject alone, in any spelling that reads as her name; or no
        // identifier at all (a photo profile may release the image alone).
        assert_eq!(read("NAM/DOE, JANE Q  DOB/19800115"), None);
        assert_eq!(read("DOE, JANE .Q  DOB/19800115"), None);
        assert_eq!(read("SEX/F"), None);
        // `JANE.Q` is another name than `JANE Q` (periods are dropped).
        assert_eq!(
            read("DOE, JANE.Q  DOB/19800115").map(|c| c.0),
            Some(SubjectCheck::Mismatch)
        );
        // Anything else the reader finds is a mismatch.
        let mismatch = |body: &str| read(body).map(|c| c.0);
        assert_eq!(
            mismatch("NAM/DOE, JANEQ  DOB/19800115"),
            Some(SubjectCheck::Mismatch)
        );
        assert_eq!(
            mismatch("NAM/DOE, JANE Q  DOB/19800116"),
            Some(SubjectCheck::Mismatch)
        );
        assert_eq!(
            read("NAM/DOE, JANE Q  DOB/19800115\r\nNAM/ROE, RICHARD  DOB/19700101"),
            Some((SubjectCheck::Mismatch, 2))
        );
        let bare = reread(&nd(), &Bytes::from_static(b"NOT A MESSAGE"), &cat, &limits);
        assert_eq!(bare, Some((SubjectCheck::Mismatch, 0)));
        // A licence-number order: two records are a mismatch even when no
        // licence number is left in the output.
        let oln = SubjectRule::Oln {
            oln: "A1234567".into(),
            state: "CO".into(),
        };
        let two = out("NAM/DOE, JANE  DOB/19800115\r\nNAM/ROE, RICHARD  DOB/19700101");
        assert_eq!(
            reread(&oln, &two, &cat, &limits),
            Some((SubjectCheck::Mismatch, 2))
        );
        let one = out("NAM/DOE, JANE  DOB/19800115");
        assert_eq!(reread(&oln, &one, &cat, &limits), None);
    }

    #[test]
    fn name_and_dob_rules() {
        let full = |s: &str| Name::Full(s.into());
        let r = nd();
        assert_eq!(
            check_subject(&r, &found(vec![full("DOE,JANE Q")], &["19800115"], &["1"])).0,
            SubjectCheck::Match
        );
        // Another person: name, date, or a second candidate.
        assert_eq!(
            check_subject(&r, &found(vec![full("DOE,JANET")], &["19800115"], &[])).0,
            SubjectCheck::Mismatch
        );
        assert_eq!(
            check_subject(&r, &found(vec![full("DOE,JANE Q")], &["19800116"], &[])).0,
            SubjectCheck::Mismatch
        );
        assert_eq!(
            check_subject(
                &r,
                &found(vec![full("DOE,JANE Q")], &["19800115"], &["1", "2"])
            ),
            (SubjectCheck::Mismatch, 2)
        );
        // Nothing that says whose: withheld.
        assert_eq!(
            check_subject(&r, &found(vec![], &["19800115"], &[])).0,
            SubjectCheck::Unidentified
        );
        assert_eq!(
            check_subject(&r, &found(vec![full("DOE,JANE Q")], &[], &[])).0,
            SubjectCheck::Unidentified
        );
        // NIEM parts: consistent parts, a different given name, a surname only.
        let parts = |s: Option<&str>, g: Option<&str>, m: Option<&str>| Name::Parts {
            sur: s.map(Into::into),
            given: g.map(Into::into),
            middle: m.map(Into::into),
        };
        assert_eq!(
            check_subject(
                &r,
                &found(
                    vec![parts(Some("DOE"), Some("JANE"), Some("Q"))],
                    &["19800115"],
                    &[]
                )
            )
            .0,
            SubjectCheck::Match
        );
        assert_eq!(
            check_subject(
                &r,
                &found(
                    vec![parts(Some("DOE"), Some("JOHN"), None)],
                    &["19800115"],
                    &[]
                )
            )
            .0,
            SubjectCheck::Mismatch
        );
        assert_eq!(
            check_subject(
                &r,
                &found(vec![parts(Some("DOE"), None, None)], &["19800115"], &[])
            )
            .0,
            SubjectCheck::Unidentified
        );
        assert_eq!(
            check_subject(
                &r,
                &found(
                    vec![parts(Some("DOE"), None, None), full("DOE,JANE Q")],
                    &["19800115"],
                    &[]
                )
            )
            .0,
            SubjectCheck::Match
        );
    }

    #[test]
    fn licence_rules() {
        let r = SubjectRule::Oln {
            oln: "123456789".into(),
            state: "CO".into(),
        };
        assert_eq!(
            check_subject(&r, &found(vec![], &[], &["123456789"])).0,
            SubjectCheck::Match
        );
        assert_eq!(
            check_subject(&r, &found(vec![], &[], &["123456780"])).0,
            SubjectCheck::Mismatch
        );
        assert_eq!(
            check_subject(
                &r,
                &found(vec![], &["19800115", "19700101"], &["123456789"])
            )
            .0,
            SubjectCheck::Mismatch
        );
        assert_eq!(
            check_subject(&r, &found(vec![], &["19800115"], &[])).0,
            SubjectCheck::Unidentified
        );
        let mut other_state = found(vec![], &[], &["123456789"]);
        other_state.states = vec!["AZ".into()];
        assert_eq!(check_subject(&r, &other_state).0, SubjectCheck::Mismatch);
    }
}
