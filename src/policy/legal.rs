//! Legal process in the policy: court-order exceptions, certifications with
//! expiry, and the federal watch patterns.
//!
//! * An [`Exception`] lets one query from one exact ORI about one subject
//!   through to the state, a bounded number of times inside a time window,
//!   and releases the named protected fields in the response to it. It must
//!   carry its evidence: a court, a judge, a case, a document that is
//!   judicial, and two distinct approvers.
//! * A [`Certification`] is an agency's attestation (C.R.S. 24-74) with an
//!   expiry; when it lapses the agency gets the configured action from its
//!   next message.
//!
//! Reading and validation only; the decision applies them
//! ([`crate::decision`]) and the runtime keeps the use counts
//! ([`crate::decision::ledger`]).

use super::diag::{line_of, Ctx};
use super::{Action, Policy};
use crate::message::fields::{Catalogue, FieldDef, FieldSet, TextRuleKind};
use crate::message::query::{name_can_match, normalise_date, normalise_name, valid_date, Subject};
use crate::message::Ori;
use crate::redact::profile::{NodeKind, Profile};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use toml::Spanned;

/// `[[exception]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawException {
    id: Spanned<String>,
    ori: Spanned<String>,
    subject: Spanned<RawSubject>,
    authority: Spanned<RawAuthority>,
    not_before: Spanned<String>,
    expires: Spanned<String>,
    max_uses: Spanned<i64>,
    #[serde(default)]
    release: Vec<Spanned<String>>,
    #[serde(default)]
    approved_by: Vec<Spanned<String>>,
    profile: Option<Spanned<String>>,
    description: Option<String>,
    adds_to: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubject {
    oln: Option<String>,
    state: Option<String>,
    name: Option<String>,
    dob: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthority {
    court: Option<String>,
    judge: Option<String>,
    case: Option<String>,
    document: Option<String>,
    judicial: Option<bool>,
    issuer: Option<String>,
}

/// An exceptions file: only `[[exception]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExceptionsFile {
    #[serde(default)]
    pub(super) exception: Vec<RawException>,
}

/// `[[certification]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCertification {
    ori: Option<Spanned<String>>,
    list: Option<Spanned<String>>,
    expires: Spanned<String>,
    lapse: Spanned<String>,
    document: Option<String>,
}

/// `[court_orders]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCourtOrders {
    pub(super) response_window: Option<Spanned<String>>,
    pub(super) file: Option<Spanned<String>>,
    /// One signed order per file (`super::orders`).
    pub(super) dir: Option<Spanned<String>>,
}

/// Who a court order is about, normalised as [`Subject`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectRule {
    /// A licence number issued by `state` (two letters).
    Oln {
        /// The number, upper-case, no blanks.
        oln: String,
        /// Issuing state.
        state: String,
    },
    /// A name and a complete date of birth.
    NameDob {
        /// `DOE,JANE Q` (see [`normalise_name`]).
        name: String,
        /// `CCYYMMDD`.
        dob: String,
    },
}

/// The kind of court document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Document {
    /// A warrant.
    Warrant,
    /// A court-issued subpoena.
    Subpoena,
    /// A court order.
    Order,
}

/// Who issued the legal process (`authority.issuer`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, strum::IntoStaticStr, strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Issuer {
    /// An Article III (federal district or appellate) judge.
    FederalJudge,
    /// A federal magistrate judge.
    MagistrateJudge,
    /// A state court judge.
    StateJudge,
    /// An agency (an administrative subpoena or warrant, e.g. ICE's):
    /// refused, it is not a court order under C.R.S. 24-74.
    Administrative,
}

/// A court-order exception, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    /// Its identifier (audit, metrics, explain): never the subject.
    pub id: Arc<str>,
    /// The one ORI it is for (exact).
    pub ori: Ori,
    /// Who the queries must be about. Never printed, audited or counted.
    pub subject: SubjectRule,
    /// Issuing court.
    pub court: String,
    /// Judge.
    pub judge: String,
    /// Case number.
    pub case: String,
    /// Kind of document.
    pub document: Document,
    /// Valid from.
    pub not_before: SystemTime,
    /// Valid until (inclusive).
    pub expires: SystemTime,
    /// Most uses (queries let through).
    pub max_uses: u32,
    /// Protected fields released in the response.
    pub release: FieldSet,
    /// Release profile of the response (index into `Policy::profiles`);
    /// None: the list's profile, or `redact.profile` for a deny list.
    pub profile: Option<usize>,
    /// The approvers (two or more distinct people).
    pub approved_by: Vec<String>,
    /// What the order *is*, as a key for its use count: a slow keyed hash of
    /// its court, case and subject (and, for an order that adds uses, of the
    /// order it adds to and its own id). Renaming or editing an order keeps
    /// it; see [`identity`]. Printed in the audit log: it names nobody.
    pub identity: Arc<str>,
    /// The order this one adds uses to (its id), when it says so.
    pub adds_to: Option<Arc<str>>,
    /// Who issued it (required for signed orders; never administrative).
    pub issuer: Option<Issuer>,
    /// Where it is defined.
    pub file: Arc<str>,
    /// Line of its `id`.
    pub line: u32,
}

impl Exception {
    /// True inside its validity window.
    pub fn active(&self, now: SystemTime) -> bool {
        now >= self.not_before && now <= self.expires
    }

    /// True when a query naming `s`, addressed to `dests`, is about exactly
    /// this order's subject and nobody else.
    pub fn matches(&self, s: &Subject, dests: &[Ori]) -> bool {
        self.mismatch(s, dests).is_none()
    }

    /// Why a query naming `s`, addressed to `dests`, is not about exactly
    /// this order's subject (None: it is). Says which part differs, never
    /// a value.
    pub fn mismatch(&self, s: &Subject, dests: &[Ori]) -> Option<&'static str> {
        if s.vehicle {
            return Some("the query also names a vehicle");
        }
        match &self.subject {
            SubjectRule::Oln { oln, state } => {
                if s.name.is_some() || s.dob.is_some() {
                    Some("the order names a licence number; the query also names a person (name or date of birth)")
                } else if s.oln.as_deref() != Some(oln.as_str()) {
                    Some("the licence number differs (or is missing)")
                } else if s.ols.as_deref().is_some_and(|o| o != state) {
                    Some("OLS names another state")
                } else if dests.is_empty()
                    || !dests
                        .iter()
                        .all(|d| d.as_bytes().get(..2) == Some(state.as_bytes()))
                {
                    Some("a destination is not the licence's state")
                } else {
                    None
                }
            }
            SubjectRule::NameDob { name, dob } => {
                if s.oln.is_some() {
                    Some("the order names a person; the query also names a licence number")
                } else if s.name.as_deref() != Some(name.as_str()) {
                    Some("the name differs (or is missing), as normalised (specs/policy.md)")
                } else if s.dob.as_deref() != Some(dob.as_str()) {
                    Some("the date of birth differs (or is missing; a 6-digit date never matches)")
                } else {
                    None
                }
            }
        }
    }
}

/// `policy explain --query FILE`: for each order of the query's agency,
/// whether this query would be let through under it now and, if not, why
/// (never the subject or the query's values).
pub fn explain_query(p: &Policy, m: &crate::message::Message, now: SystemTime) -> String {
    use std::fmt::Write as _;
    let h = m.header();
    let mut out = String::new();
    let ori = h.originating;
    let _ = writeln!(
        out,
        "query {} from {ori}, control field {}",
        h.mke,
        if h.control.is_some() {
            "present"
        } else {
            "missing"
        }
    );
    let orders: Vec<&Exception> = p.exceptions_for(ori.as_bytes()).collect();
    if orders.is_empty() {
        let _ = writeln!(out, "no court order names {ori}: the list's action applies");
        return out;
    }
    let subject = crate::message::query::subject(m);
    let control_ok = h
        .control
        .is_some_and(|c| !c.is_empty() && c.as_bytes().iter().all(u8::is_ascii_alphanumeric));
    let keyed = crate::message::keys::response_key(h.mke.as_str()).is_some();
    for e in orders {
        let why = if !e.active(now) {
            Some("the order is not in force now (see its window)")
        } else if h.class != crate::message::Class::Query || !keyed {
            Some("not a query with a response key")
        } else if !control_ok {
            Some("no control field of letters and digits (the response could not be correlated)")
        } else {
            match &subject {
                Err(u) => Some(u.0),
                Ok(s) => e.mismatch(s, h.dests.as_slice()),
            }
        };
        match why {
            None => {
                let _ = writeln!(out, "order {}: matches; let through if a use is left and the control field was not seen within the response window", e.id);
            }
            Some(w) => {
                let _ = writeln!(out, "order {}: no match: {w}", e.id);
            }
        }
    }
    out
}

/// A certification (attestation) with an expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certification {
    /// The exact ORI it covers, or
    pub ori: Option<Ori>,
    /// the list (index into `Policy::lists`) whose agencies it covers.
    pub list: Option<usize>,
    /// Valid until (inclusive).
    pub expires: SystemTime,
    /// The action once lapsed (deny or redact).
    pub lapse: Action,
    /// Reference to the signed document.
    pub document: String,
    /// Where it is defined.
    pub file: Arc<str>,
    /// Line.
    pub line: u32,
}

/// Parses `2026-12-31T23:59:59Z` (RFC 3339) or `2026-12-31` (the whole day,
/// UTC: the instant before the next midnight when `end`, else midnight).
pub fn parse_time(s: &str, end: bool) -> Result<SystemTime, TimeError> {
    let t = s.trim();
    if t.len() == 10 {
        let midnight = humantime::parse_rfc3339(&format!("{t}T00:00:00Z")).map_err(|e| {
            TimeError::NotADate {
                value: t.to_string(),
                reason: e.to_string(),
            }
        })?;
        return Ok(if end {
            midnight + Duration::from_secs(86_400) - Duration::from_millis(1)
        } else {
            midnight
        });
    }
    humantime::parse_rfc3339_weak(t)
        .ok()
        .filter(|_| t.ends_with('Z'))
        .ok_or_else(|| TimeError::NotUtc(t.to_string()))
}

/// A time in an exception or certification that does not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Ten characters that are not a date.
    #[error("{value:?} is not a date (YYYY-MM-DD): {reason}")]
    NotADate {
        /// The time as given (trimmed).
        value: String,
        /// The parser's reason.
        reason: String,
    },
    /// Not an RFC 3339 time ending in `Z`.
    #[error("{0:?} is not a UTC time (write 2026-12-31T23:59:59Z)")]
    NotUtc(String),
}

/// What an exception's profile releases beyond its list's profile (the
/// first thing found), for the message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
enum Wider {
    #[error("the legacy field {0}")]
    LegacyField(String),
    #[error("the line {0:?}")]
    Line(String),
    #[error("another leading value")]
    Leading,
    #[error("another message key")]
    Key,
    #[error("the element {0} with another rule")]
    ElementRule(String),
    #[error("the element {0}")]
    Element(String),
}

/// True when `text` holds the subject: a word of its name (two letters or
/// more, accents folded), its surname with the punctuation between letters
/// removed (`D-O-E`), its initials as a word of their own (`JQD`, `DJQ`),
/// its licence number, or its date of birth as `CCYYMMDD`, `MMDDCCYY`,
/// `YYMMDD` or `MMDDYY` (letters and digits compared, case ignored).
fn names_subject(s: &SubjectRule, text: &str) -> bool {
    let up = normalise_name(&text.replace(',', " "));
    let alnum: String = up.chars().filter(char::is_ascii_alphanumeric).collect();
    let words: Vec<&str> = up
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    match s {
        SubjectRule::Oln { oln, .. } => !oln.is_empty() && alnum.contains(oln.as_str()),
        SubjectRule::NameDob { name, dob } => {
            let (sur, given) = name.split_once(',').unwrap_or((name, ""));
            let letters =
                |t: &str| -> String { t.chars().filter(char::is_ascii_alphabetic).collect() };
            let sur_l = letters(sur);
            let initials: String = given
                .split(' ')
                .chain(sur.split(' '))
                .filter_map(|w| w.chars().next())
                .collect();
            let initials_rev: String = sur
                .split(' ')
                .chain(given.split(' '))
                .filter_map(|w| w.chars().next())
                .collect();
            let dates: Vec<String> = match dob.get(..8) {
                Some(d) if d.len() == 8 => vec![
                    d.to_string(),
                    format!("{}{}", &d[4..], &d[..4]),
                    d[2..].to_string(),
                    format!("{}{}", &d[4..], &d[2..4]),
                ],
                _ => Vec::new(),
            };
            name.split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| w.len() >= 2)
                .any(|w| words.contains(&w))
                || (sur_l.len() >= 3 && alnum.contains(&sur_l))
                || (initials.len() >= 2
                    && words.iter().any(|w| *w == initials || *w == initials_rev))
                || dates.iter().any(|d| alnum.contains(d.as_str()))
        }
    }
}

/// Warnings for an order that is valid but looks careless at entry: a long
/// window, many uses, a start well in the past.
#[allow(clippy::too_many_arguments)]
fn lint(
    cx: &mut Ctx,
    path: &str,
    line: u32,
    id: &str,
    not_before: SystemTime,
    expires: SystemTime,
    max_uses: u32,
    now: SystemTime,
) {
    let days = |d: Duration| d.as_secs() / 86_400;
    if let Ok(w) = expires.duration_since(not_before) {
        if days(w) > LINT_WINDOW_DAYS {
            cx.warn(path, line, format!("exception {id}: its window is {} days long (more than {LINT_WINDOW_DAYS}); orders are usually for weeks, check not_before and expires", days(w)));
        }
    }
    if max_uses > LINT_MAX_USES {
        cx.warn(path, line, format!("exception {id}: max_uses {max_uses} is more than {LINT_MAX_USES}; an order for one person rarely needs more queries"));
    }
    if let Ok(ago) = now.duration_since(not_before) {
        if ago > Duration::from_secs(86_400) && expires > now {
            cx.warn(path, line, format!("exception {id}: not_before is {} day(s) in the past; an order entered late should start when it is entered", days(ago)));
        }
    }
}

/// `policy check` warns about a window longer than this many days.
pub const LINT_WINDOW_DAYS: u64 = 90;
/// `policy check` warns about more uses than this.
pub const LINT_MAX_USES: u32 = 10;

/// A TOML error message without the values it quotes: serde's
/// `invalid type: integer `123456789`, expected a string` would print an
/// exception's subject (an unquoted licence number) to `policy check` and
/// to the log of a reload. Key names (`unknown field `olnn``) are kept.
pub fn scrub_toml_message(msg: &str) -> String {
    if !msg.starts_with("invalid") {
        return msg.to_string();
    }
    let mut out = String::with_capacity(msg.len());
    for (i, part) in msg.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("`...`");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Whole days from `now` to `t` (negative when past).
fn days_until(t: SystemTime, now: SystemTime) -> i64 {
    match t.duration_since(now) {
        Ok(d) => (d.as_secs() / 86_400) as i64,
        Err(e) => -((e.duration().as_secs() / 86_400) as i64) - 1,
    }
}

/// Formats a time as RFC 3339, seconds.
pub fn show_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// True when `profile` can carry at least one form of `def`: an XML element
/// of the field in its tree, or a legacy field label of it.
pub fn profile_names_field(profile: &Profile, def: &FieldDef) -> bool {
    let xml = profile.xml.nodes.iter().skip(1).any(|n| {
        def.elements
            .iter()
            .any(|e| e.ns == n.ns && e.local == n.local)
            && n.kind != NodeKind::Container
    });
    let legacy = def.text_rules.iter().any(|r| {
        r.kind == TextRuleKind::Field && profile.legacy.fields.iter().any(|f| f.label == r.label)
    });
    xml || legacy
}

/// Checks each exception against the compiled policy: the profile its
/// response is projected onto (its own, else its list's) must carry every
/// released field, and for an ORI on a redact list it may release nothing
/// beyond the list's own profile and the released fields' elements and
/// labels. Returns the errors.
pub(super) fn check_profiles(p: &Policy) -> Vec<(Arc<str>, u32, String)> {
    let mut out = Vec::new();
    for e in &p.exceptions {
        let v = p.lookup(e.ori.as_bytes());
        let list_profile = p.profile_for(v);
        let profile = e.profile.map_or(list_profile, |i| &p.profiles[i]);
        for fid in e.release.iter() {
            let def = p.catalogue.get(fid);
            if !profile_names_field(profile, def) {
                out.push((e.file.clone(), e.line, format!(
                    "exception {}: release includes {} but profile {:?} names no element or label of it, so nothing would be released; add them to the profile (or name one with profile = ...)",
                    e.id, def.name, profile.name
                )));
            }
        }
        if v.action == Action::Redact && e.profile.is_some() {
            let released: Vec<&FieldDef> = e.release.iter().map(|f| p.catalogue.get(f)).collect();
            if let Err(what) = within(profile, list_profile, &released) {
                out.push((e.file.clone(), e.line, format!(
                    "exception {}: profile {:?} releases {what}, which {}'s list profile {:?} does not and no released field covers; an order may only add the fields it names",
                    e.id, profile.name, e.ori.as_str(), list_profile.name
                )));
            }
        }
    }
    out
}

/// `wide` releases nothing beyond `base` and the `released` fields.
fn within(wide: &Profile, base: &Profile, released: &[&FieldDef]) -> Result<(), Wider> {
    let is_released_element = |ns: &str, local: &str| {
        released
            .iter()
            .any(|d| d.elements.iter().any(|x| x.ns == ns && x.local == local))
    };
    let is_released_label = |label: &str| {
        released.iter().any(|d| {
            d.text_rules
                .iter()
                .any(|r| r.kind == TextRuleKind::Field && r.label == label)
        })
    };
    for f in &wide.legacy.fields {
        if !base.legacy.fields.contains(f) && !is_released_label(&f.label) {
            return Err(Wider::LegacyField(f.label.clone()));
        }
    }
    for l in &wide.legacy.lines {
        if !base.legacy.lines.contains(l) {
            return Err(Wider::Line(l.clone()));
        }
    }
    if wide.legacy.leading.is_some() && wide.legacy.leading != base.legacy.leading {
        return Err(Wider::Leading);
    }
    if !wide.keys.keys().all(|k| base.keys.contains(k)) {
        return Err(Wider::Key);
    }
    // Walk both element trees from the root.
    fn walk(
        wide: &Profile,
        w: usize,
        base: &Profile,
        b: Option<usize>,
        released: &dyn Fn(&str, &str) -> bool,
    ) -> Result<(), Wider> {
        for &c in &wide.xml.nodes[w].children {
            let n = &wide.xml.nodes[c];
            if released(&n.ns, &n.local) {
                continue;
            }
            let bc = b.and_then(|b| base.xml.child(b, n.ns.as_bytes(), n.local.as_bytes()));
            match bc {
                Some(bc) => {
                    let m = &base.xml.nodes[bc];
                    if m.kind != n.kind || n.attrs.iter().any(|a| !m.attrs.contains(a)) {
                        return Err(Wider::ElementRule(n.local.clone()));
                    }
                    walk(wide, c, base, Some(bc), released)?;
                }
                None if n.kind == NodeKind::Container && n.attrs.is_empty() => {
                    walk(wide, c, base, None, released)?;
                }
                None => return Err(Wider::Element(n.local.clone())),
            }
        }
        Ok(())
    }
    walk(wide, 0, base, Some(0), &is_released_element)
}

pub(super) struct Inputs<'a> {
    pub(super) now: SystemTime,
    pub(super) catalogue: &'a Catalogue,
    pub(super) profiles: &'a [Profile],
}

/// Validates the `[[exception]]` tables of one file (`path`, `src`).
pub(super) fn exceptions(
    cx: &mut Ctx,
    path: &str,
    src: &str,
    raw: &[RawException],
    inp: &Inputs<'_>,
    out: &mut Vec<Exception>,
) {
    let file: Arc<str> = Arc::from(path);
    for r in raw {
        if let Some(e) = exception(cx, src, r, inp, out, &file) {
            out.push(e);
        }
    }
}

/// Where one `[[exception]]` table is, for its diagnostics: the file, its
/// text (for line numbers), the exception's id and the line of its table.
struct At<'a> {
    path: &'a str,
    src: &'a str,
    id: &'a str,
    line: u32,
}

impl At<'_> {
    /// The line of a span of this file.
    fn of(&self, s: std::ops::Range<usize>) -> u32 {
        line_of(self.src, s.start)
    }
}

/// One `[[exception]]` table, checked step by step in table order; None
/// (with the errors in `cx`) when any step finds one.
fn exception(
    cx: &mut Ctx,
    src: &str,
    r: &RawException,
    inp: &Inputs<'_>,
    earlier: &[Exception],
    file: &Arc<str>,
) -> Option<Exception> {
    let at = At {
        path: file.as_ref(),
        src,
        id: r.id.get_ref().trim(),
        line: line_of(src, r.id.span().start),
    };
    let (id, line) = (at.id, at.line);
    let before = cx.errors.len();
    exception_id(cx, &at, earlier);
    let ori = exception_ori(cx, &at, &r.ori);
    let subject = subject(cx, &at, &r.subject, inp.now);
    let authority = authority(cx, &at, r, &subject);
    let (not_before, expires) = window(cx, &at, r);
    let max_uses = max_uses(cx, &at, &r.max_uses);
    let approvers = approvers(cx, &at, &r.approved_by);
    let release = release(cx, &at, &r.release, inp.catalogue);
    let profile = exception_profile(cx, &at, &r.profile, inp.profiles);
    if cx.errors.len() > before {
        return None;
    }
    lint(
        cx, at.path, line, id, not_before, expires, max_uses, inp.now,
    );
    expiry_warning(cx, &at, expires, inp.now);
    Some(Exception {
        id: Arc::from(id),
        ori,
        subject,
        court: authority.court,
        judge: authority.judge,
        case: authority.case,
        document: authority.document,
        not_before,
        expires,
        max_uses,
        release,
        profile,
        approved_by: approvers,
        identity: Arc::from(""),
        adds_to: r.adds_to.as_ref().map(|t| Arc::from(t.get_ref().trim())),
        issuer: authority.issuer,
        file: file.clone(),
        line,
    })
}

/// The id: 1 to 64 plain characters, not used by an earlier exception.
fn exception_id(cx: &mut Ctx, at: &At<'_>, earlier: &[Exception]) {
    let id = at.id;
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b))
    {
        cx.err(
            at.path,
            at.line,
            format!("exception id {id:?} must be 1 to 64 characters A-Z a-z 0-9 - _ . : /"),
        );
    }
    if let Some(prev) = earlier.iter().find(|e| &*e.id == id) {
        cx.err(
            at.path,
            at.line,
            format!(
                "exception id {id:?} is used twice (first at {}:{})",
                prev.file, prev.line
            ),
        );
    }
}

/// The one exact ORI an order names.
fn exception_ori(cx: &mut Ctx, at: &At<'_>, v: &Spanned<String>) -> Ori {
    let id = at.id;
    let ori_text = v.get_ref().trim();
    match Ori::new(ori_text.as_bytes()) {
        Some(o)
            if ori_text.len() == 9
                && ori_text
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) =>
        {
            o
        }
        _ => {
            cx.err(at.path,
                at.of(v.span()),
                format!("exception {id}: ori {ori_text:?} must be one exact ORI (9 characters A-Z 0-9); an order names one agency"),
            );
            Ori::EMPTY
        }
    }
}

/// The subject: `{ oln, state }` or `{ name, dob }`, exactly one form.
fn subject(cx: &mut Ctx, at: &At<'_>, v: &Spanned<RawSubject>, now: SystemTime) -> SubjectRule {
    let (id, path, line) = (at.id, at.path, at.of(v.span()));
    let s = v.get_ref();
    match (&s.oln, &s.state, &s.name, &s.dob) {
        (Some(oln), Some(state), None, None) => {
            let oln = crate::redact::persons::normalise_oln(oln);
            let state = state.trim().to_uppercase();
            if oln.is_empty() || !oln.bytes().all(|b| b.is_ascii_alphanumeric()) {
                cx.err(
                    path,
                    line,
                    format!("exception {id}: subject.oln must be letters and digits"),
                );
            }
            if state.len() != 2 || !state.bytes().all(|b| b.is_ascii_uppercase()) {
                cx.err(
                    path,
                    line,
                    format!("exception {id}: subject.state must be the 2-letter state code"),
                );
            }
            SubjectRule::Oln { oln, state }
        }
        (None, None, Some(name), Some(dob)) => {
            let n = normalise_name(name);
            let d = normalise_date(dob);
            if !n.contains(',') || n.starts_with(',') {
                cx.err(
                    path,
                    line,
                    format!("exception {id}: subject.name must be written \"LAST, FIRST MIDDLE\""),
                );
            } else if !name_can_match(&n) {
                cx.err(
                    path,
                    line,
                    format!("exception {id}: subject.name can never match a query: after folding accents it must be ASCII letters and blanks, \"LAST, FIRST MIDDLE\" (a letter such as ß or Ø has no ASCII form; write the name as the state's record spells it)"),
                );
            }
            if !valid_date(&d, &ymd(now)) {
                cx.err(
                    path,
                    line,
                    format!("exception {id}: subject.dob is not a possible date of birth (a real date YYYY-MM-DD from 1900 to today)"),
                );
            }
            SubjectRule::NameDob { name: n, dob: d }
        }
        _ => {
            cx.err(path, line, format!("exception {id}: subject must be {{ oln, state }} or {{ name, dob }}, exactly one form"));
            SubjectRule::Oln {
                oln: String::new(),
                state: String::new(),
            }
        }
    }
}

/// What an order's `authority` table gives the exception.
struct Authority {
    court: String,
    judge: String,
    case: String,
    document: Document,
    issuer: Option<Issuer>,
}

/// The authority: no printed text names the subject; court, judge and case
/// present; a judicial warrant, subpoena or order from a judge.
fn authority(cx: &mut Ctx, at: &At<'_>, r: &RawException, subject: &SubjectRule) -> Authority {
    let (id, path, line) = (at.id, at.path, at.line);
    let a = r.authority.get_ref();
    let aline = at.of(r.authority.span());
    // The id goes to the audit log, metrics and reports, the case to
    // `policy explain`: neither may carry the subject (a case caption
    // often names the defendant).
    for (what, text, line) in [
        ("id", id, line),
        ("authority.case", a.case.as_deref().unwrap_or(""), aline),
        ("authority.court", a.court.as_deref().unwrap_or(""), aline),
        ("authority.judge", a.judge.as_deref().unwrap_or(""), aline),
        ("description", r.description.as_deref().unwrap_or(""), line),
        (
            "adds_to",
            r.adds_to.as_ref().map_or("", |t| t.get_ref().as_str()),
            line,
        ),
    ] {
        if names_subject(subject, text) {
            cx.err(path, line, format!("exception {}: {what} names the subject (its licence number, a name or its date of birth); the id, court, judge, case and description are printed, audited and counted, so write them without it (e.g. the docket number only)", if what == "id" { "(this one)" } else { id }));
        }
    }
    let need = |cx: &mut Ctx, v: &Option<String>, what: &str| -> String {
        match v.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => {
                cx.err(
                    path,
                    aline,
                    format!("exception {id}: authority.{what} is required (the order must carry its evidence)"),
                );
                String::new()
            }
        }
    };
    let court = need(cx, &a.court, "court");
    let judge = need(cx, &a.judge, "judge");
    let case = need(cx, &a.case, "case");
    let document = match a.document.as_deref().map(str::trim) {
        Some("warrant") => Document::Warrant,
        Some("subpoena") => Document::Subpoena,
        Some("order") => Document::Order,
        other => {
            cx.err(path, aline, format!("exception {id}: authority.document {other:?} must be \"warrant\", \"subpoena\" or \"order\""));
            Document::Order
        }
    };
    match a.judicial {
        Some(true) => {}
        Some(false) => {
            cx.err(path, aline, format!("exception {id}: authority.judicial = false: only a court-issued subpoena, warrant or order opens an exception (C.R.S. 24-74); an administrative subpoena does not"));
        }
        None => {
            cx.err(path, aline, format!("exception {id}: authority.judicial is required (true for a judge-signed or court-issued document)"));
        }
    }
    let issuer = issuer(cx, path, aline, id, a.issuer.as_deref());
    if a.issuer.is_none() {
        cx.err(path, aline, format!("exception {id}: authority.issuer is required: \"federal_judge\", \"magistrate_judge\" or \"state_judge\" (an \"administrative\" subpoena or warrant opens no exception, C.R.S. 24-74)"));
    }
    Authority {
        court,
        judge,
        case,
        document,
        issuer,
    }
}

/// `not_before` and `expires`: times, the second after the first.
fn window(cx: &mut Ctx, at: &At<'_>, r: &RawException) -> (SystemTime, SystemTime) {
    let id = at.id;
    let time = |cx: &mut Ctx, v: &Spanned<String>, what: &str, end: bool| {
        parse_time(v.get_ref(), end).unwrap_or_else(|m| {
            cx.err(
                at.path,
                at.of(v.span()),
                format!("exception {id}: {what}: {m}"),
            );
            SystemTime::UNIX_EPOCH
        })
    };
    let not_before = time(cx, &r.not_before, "not_before", false);
    let expires = time(cx, &r.expires, "expires", true);
    if expires <= not_before && expires != SystemTime::UNIX_EPOCH {
        cx.err(
            at.path,
            at.of(r.expires.span()),
            format!("exception {id}: expires is not after not_before"),
        );
    }
    (not_before, expires)
}

/// `max_uses`: 1 to 10000.
fn max_uses(cx: &mut Ctx, at: &At<'_>, v: &Spanned<i64>) -> u32 {
    match *v.get_ref() {
        n @ 1..=10_000 => n as u32,
        n => {
            cx.err(
                at.path,
                at.of(v.span()),
                format!("exception {}: max_uses {n} must be 1 to 10000", at.id),
            );
            0
        }
    }
}

/// `approved_by`: two distinct people at least, blanks folded.
fn approvers(cx: &mut Ctx, at: &At<'_>, v: &[Spanned<String>]) -> Vec<String> {
    let id = at.id;
    let mut approvers: Vec<String> = Vec::new();
    for p in v {
        let t = p.get_ref().split_whitespace().collect::<Vec<_>>().join(" ");
        if t.is_empty() {
            cx.err(
                at.path,
                at.of(p.span()),
                format!("exception {id}: an approver is blank"),
            );
        } else if approvers.iter().any(|q| q.eq_ignore_ascii_case(&t)) {
            cx.err(at.path, at.of(p.span()), format!("exception {id}: approver {t:?} is named twice; two distinct people must approve"));
        } else {
            approvers.push(t);
        }
    }
    if approvers.len() < 2 {
        cx.err(
            at.path,
            at.line,
            format!(
                "exception {id}: approved_by must name two distinct people (has {})",
                approvers.len()
            ),
        );
    }
    approvers
}

/// `release`: fields of the catalogue.
fn release(cx: &mut Ctx, at: &At<'_>, v: &[Spanned<String>], catalogue: &Catalogue) -> FieldSet {
    let mut release = FieldSet::EMPTY;
    for f in v {
        match catalogue.id(f.get_ref()) {
            Some(fid) => release.insert(fid),
            None => cx.err(
                at.path,
                at.of(f.span()),
                format!(
                    "exception {}: unknown field {:?} in release",
                    at.id,
                    f.get_ref()
                ),
            ),
        }
    }
    release
}

/// `profile`: a release profile the policy defines, when named.
fn exception_profile(
    cx: &mut Ctx,
    at: &At<'_>,
    v: &Option<Spanned<String>>,
    profiles: &[Profile],
) -> Option<usize> {
    let n = v.as_ref()?;
    match profiles.iter().position(|p| p.name == *n.get_ref()) {
        Some(i) => Some(i),
        None => {
            cx.err(
                at.path,
                at.of(n.span()),
                format!("exception {}: unknown profile {:?}", at.id, n.get_ref()),
            );
            None
        }
    }
}

/// A warning for an order that has expired or expires within a week.
fn expiry_warning(cx: &mut Ctx, at: &At<'_>, expires: SystemTime, now: SystemTime) {
    let id = at.id;
    let days = days_until(expires, now);
    if days < 0 {
        cx.warn(
            at.path,
            at.line,
            format!(
                "exception {id} expired on {}: it does nothing",
                show_time(expires)
            ),
        );
    } else if days < 7 {
        cx.warn(
            at.path,
            at.line,
            format!(
                "exception {id} expires in {days} day(s), on {}",
                show_time(expires)
            ),
        );
    }
}

/// Iterations of PBKDF2-HMAC-SHA256 in an order's [`identity`]: a licence
/// number has few enough values to be tried one by one against a plain
/// hash, so each try costs this many hashes.
pub const IDENTITY_ROUNDS: u32 = 20_000;

fn fold(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase()
}

/// The identity of an order: PBKDF2-HMAC-SHA256 over its court, case and
/// subject (blanks and case folded), salted with a fixed label; for an
/// order that adds uses, also the id it adds to and its own id. 32 hex
/// digits. Two orders with the same identity share one use count.
pub fn identity(
    court: &str,
    case: &str,
    subject: &SubjectRule,
    adds: Option<(&str, &str)>,
) -> String {
    let mut pw = Vec::new();
    for part in [fold(court), fold(case)] {
        pw.extend_from_slice(part.as_bytes());
        pw.push(0);
    }
    match subject {
        SubjectRule::Oln { oln, state } => {
            pw.extend_from_slice(b"oln\0");
            pw.extend_from_slice(oln.as_bytes());
            pw.push(0);
            pw.extend_from_slice(state.as_bytes());
        }
        SubjectRule::NameDob { name, dob } => {
            pw.extend_from_slice(b"name\0");
            pw.extend_from_slice(name.as_bytes());
            pw.push(0);
            pw.extend_from_slice(dob.as_bytes());
        }
    }
    if let Some((to, own)) = adds {
        pw.extend_from_slice(b"\0adds_to\0");
        pw.extend_from_slice(to.as_bytes());
        pw.push(0);
        pw.extend_from_slice(own.as_bytes());
    }
    let mut out = [0u8; 16];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        std::num::NonZeroU32::new(IDENTITY_ROUNDS).unwrap_or(std::num::NonZeroU32::MIN),
        b"origuard-court-order-identity-v1",
        &pw,
        &mut out,
    );
    hex::encode(out)
}

/// `CCYYMMDD` of `t` (UTC).
fn ymd(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_seconds(t).to_string();
    s.get(..10).unwrap_or("").replace('-', "")
}

/// Second pass over every order of the policy: an `adds_to` names another
/// order with the same court, case, subject and agency, and each order's
/// identity is computed.
pub(super) fn link_orders(cx: &mut Ctx, orders: &mut [Exception]) {
    let base: Vec<(Arc<str>, String, String, SubjectRule, Ori)> = orders
        .iter()
        .map(|e| {
            (
                e.id.clone(),
                fold(&e.court),
                fold(&e.case),
                e.subject.clone(),
                e.ori,
            )
        })
        .collect();
    for e in orders.iter_mut() {
        let adds = e.adds_to.clone();
        if let Some(to) = &adds {
            let same = base.iter().find(|b| b.0 == *to);
            match same {
                None => cx.err(&e.file, e.line, format!("exception {}: adds_to {to:?} names no order of this policy; keep the order it adds uses to in the file (expired is fine)", e.id)),
                Some(b) if b.0 == e.id => cx.err(&e.file, e.line, format!("exception {}: adds_to names the order itself", e.id)),
                Some(b) if b.1 != fold(&e.court) || b.2 != fold(&e.case) || b.3 != e.subject || b.4 != e.ori => cx.err(&e.file, e.line, format!("exception {}: adds_to {to:?} is an order for another court, case, subject or agency; uses can only be added to the same order", e.id)),
                Some(_) => {}
            }
        }
        e.identity = Arc::from(identity(
            &e.court,
            &e.case,
            &e.subject,
            adds.as_deref().map(|t| (t, &*e.id)),
        ));
    }
    // Two orders in force with one identity would share a count silently.
    for (i, e) in orders.iter().enumerate() {
        if let Some(o) = orders[..i].iter().find(|o| o.identity == e.identity) {
            cx.warn(&e.file, e.line, format!("exception {}: same court, case and subject as {} ({}:{}): the two share one use count (write adds_to to grant more uses)", e.id, o.id, o.file, o.line));
        }
    }
}

/// Reads `authority.issuer`; an administrative issuer is an error.
fn issuer(cx: &mut Ctx, path: &str, line: u32, id: &str, v: Option<&str>) -> Option<Issuer> {
    let t = v?.trim();
    match t.parse::<Issuer>() {
        Ok(Issuer::Administrative) => {
            cx.err(path, line, format!("exception {id}: authority.issuer = \"administrative\": an administrative subpoena or warrant (e.g. ICE's) is not a court order under C.R.S. 24-74 and opens no exception"));
            None
        }
        Ok(i) => Some(i),
        Err(_) => {
            cx.err(path, line, format!("exception {id}: authority.issuer {t:?} must be \"federal_judge\", \"magistrate_judge\", \"state_judge\" or \"administrative\""));
            None
        }
    }
}

impl RawException {
    /// The approvers as written, for signed orders to fill from their
    /// signatures (`super::orders`).
    pub(super) fn approved_by_mut(&mut self) -> &mut Vec<Spanned<String>> {
        &mut self.approved_by
    }
}

/// Validates `[[certification]]` tables; `lists` names the policy's lists.
// Long: one loop, a short check per key of a certification, then its expiry warning.
pub(super) fn certifications(
    cx: &mut Ctx,
    path: &str,
    src: &str,
    raw: &[RawCertification],
    lists: &[super::List],
    now: SystemTime,
) -> Vec<Certification> {
    let file: Arc<str> = Arc::from(path);
    let mut out = Vec::new();
    for r in raw {
        let line = line_of(src, r.expires.span().start);
        let mut ok = true;
        let (ori, list) = match (&r.ori, &r.list) {
            (Some(o), None) => {
                let t = o.get_ref().trim();
                match Ori::new(t.as_bytes()).filter(|_| {
                    t.len() == 9
                        && t.bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                }) {
                    Some(x) => (Some(x), None),
                    None => {
                        cx.err(path, line_of(src, o.span().start), format!("certification: ori {t:?} must be one exact ORI (9 characters A-Z 0-9)"));
                        ok = false;
                        (None, None)
                    }
                }
            }
            (None, Some(l)) => match lists.iter().position(|x| x.name == *l.get_ref()) {
                Some(i) => (None, Some(i)),
                None => {
                    cx.err(
                        path,
                        line_of(src, l.span().start),
                        format!("certification: unknown list {:?}", l.get_ref()),
                    );
                    ok = false;
                    (None, None)
                }
            },
            _ => {
                cx.err(path, line, "certification: name exactly one of ori or list");
                ok = false;
                (None, None)
            }
        };
        let expires = match parse_time(r.expires.get_ref(), true) {
            Ok(t) => t,
            Err(m) => {
                cx.err(path, line, format!("certification expires: {m}"));
                ok = false;
                SystemTime::UNIX_EPOCH
            }
        };
        let lapse = match r.lapse.get_ref().as_str() {
            "deny" => Action::Deny,
            "redact" => Action::Redact,
            other => {
                cx.err(
                    path,
                    line_of(src, r.lapse.span().start),
                    format!("certification lapse {other:?} must be \"deny\" or \"redact\""),
                );
                ok = false;
                Action::Deny
            }
        };
        if !ok {
            continue;
        }
        let who = ori
            .map(|o| o.as_str().to_string())
            .unwrap_or_else(|| format!("list {}", lists[list.unwrap_or(0)].name));
        let days = days_until(expires, now);
        if days < 0 {
            cx.warn(
                path,
                line,
                format!(
                    "certification of {who} lapsed on {}: {} applies",
                    show_time(expires),
                    lapse
                ),
            );
        } else if days < 30 {
            cx.warn(
                path,
                line,
                format!(
                    "certification of {who} expires in {days} day(s), on {}; then {} applies",
                    show_time(expires),
                    lapse
                ),
            );
        }
        out.push(Certification {
            ori,
            list,
            expires,
            lapse,
            document: r.document.clone().unwrap_or_default(),
            file: file.clone(),
            line,
        });
    }
    out
}

impl Policy {
    /// The exceptions naming `ori` exactly.
    pub fn exceptions_for<'a>(&'a self, ori: &'a [u8]) -> impl Iterator<Item = &'a Exception> + 'a {
        self.exceptions
            .iter()
            .filter(move |e| e.ori.as_bytes() == ori)
    }

    /// The exception with this id.
    pub fn exception(&self, id: &str) -> Option<&Exception> {
        self.exceptions.iter().find(|e| &*e.id == id)
    }

    /// The certification covering `ori` (an exact one first, then one for
    /// the list that decided `list`).
    pub fn certification_for(&self, ori: &[u8], list: Option<usize>) -> Option<&Certification> {
        self.certifications
            .iter()
            .find(|c| c.ori.is_some_and(|o| o.as_bytes() == ori))
            .or_else(|| list.and_then(|l| self.certifications.iter().find(|c| c.list == Some(l))))
    }

    /// True when `ori` matches a federal watch pattern.
    pub fn looks_federal(&self, ori: &[u8]) -> Option<&str> {
        self.federal
            .iter()
            .find(|e| e.matches(ori))
            .map(|e| e.text.as_str())
    }
}

fn release_names(p: &Policy, f: FieldSet) -> String {
    if f.is_empty() {
        return "nothing".into();
    }
    f.iter()
        .map(|i| p.catalogue.name(i).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line about an exception, without its subject.
pub fn describe(p: &Policy, e: &Exception) -> String {
    format!(
        "{}: {} for {} by {} ({}, judge {}), valid {} to {}, at most {} use(s), releases {}{}; approved by {}",
        e.id,
        <&str>::from(e.document),
        e.ori.as_str(),
        e.court,
        e.case,
        e.judge,
        show_time(e.not_before),
        show_time(e.expires),
        e.max_uses,
        release_names(p, e.release),
        e.profile
            .map(|i| format!(" (profile {})", p.profiles[i].name))
            .unwrap_or_default(),
        e.approved_by.join(" and "),
    )
}

/// The legal-process part of `policy check`: exceptions (never their
/// subjects), certifications, reason rules, key scopes, the federal watch.
pub fn summary(p: &Policy) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "court orders: {} exception(s); a response is released up to {} after its query",
        p.exceptions.len(),
        humantime::format_duration(p.court_order_window)
    );
    for e in &p.exceptions {
        let _ = writeln!(out, "  {}", describe(p, e));
    }
    for c in &p.certifications {
        let who = match (c.ori, c.list) {
            (Some(o), _) => o.as_str().to_string(),
            (_, Some(l)) => format!("list {}", p.lists[l].name),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "certification {who}: {} until {}, then {}",
            if c.document.is_empty() {
                "(no document)"
            } else {
                &c.document
            },
            show_time(c.expires),
            c.lapse
        );
    }
    for l in &p.lists {
        let mut rules = Vec::new();
        if let Some(k) = l.keys {
            rules.push(format!(
                "governs only {} (and unknown keys)",
                k.keys().collect::<Vec<_>>().join(" ")
            ));
        }
        if l.require_reason {
            rules.push("queries must give a reason code".into());
        }
        if !l.deny_reasons.is_empty() {
            rules.push(format!(
                "reason codes denied: {}",
                l.deny_reasons
                    .iter()
                    .map(|&c| (c as char).to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        if let Some(f) = l.fields {
            rules.push(format!("fields {}", release_names(p, f)));
        }
        if !rules.is_empty() {
            let _ = writeln!(out, "list {}: {}", l.name, rules.join("; "));
        }
    }
    if !p.federal.is_empty() {
        let _ = writeln!(
            out,
            "federal watch: {}",
            p.federal
                .iter()
                .map(|e| e.text.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    out
}

/// The legal-process part of `policy explain ORI`.
pub fn explain(p: &Policy, ori: &str, now: SystemTime) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let v = p.lookup(ori.as_bytes());
    if v.entry.is_none() {
        if let Some(pat) = p.looks_federal(ori.as_bytes()) {
            let _ = writeln!(
                out,
                "note: {ori} matches the federal watch pattern {pat} but is in no list — check whether it should be"
            );
        }
    }
    let li = v.entry.map(|e| p.entries[e as usize].list as usize);
    if let Some(c) = p.certification_for(ori.as_bytes(), li) {
        let state = if now > c.expires { "LAPSED" } else { "valid" };
        let _ = writeln!(
            out,
            "certification: {state} until {} ({}); lapsed, {} applies",
            show_time(c.expires),
            if c.document.is_empty() {
                "no document"
            } else {
                &c.document
            },
            c.lapse
        );
    }
    if let Some(l) = li.map(|i| &p.lists[i]) {
        if l.require_reason || !l.deny_reasons.is_empty() {
            let _ = writeln!(
                out,
                "reason codes: {}{}",
                if l.require_reason {
                    "required on queries"
                } else {
                    "optional"
                },
                if l.deny_reasons.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; denied: {}",
                        l.deny_reasons
                            .iter()
                            .map(|&c| (c as char).to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                }
            );
        }
    }
    let ex: Vec<&Exception> = p.exceptions_for(ori.as_bytes()).collect();
    if !ex.is_empty() {
        let _ = writeln!(out, "court-order exceptions ({}):", ex.len());
        for e in ex {
            let state = if now < e.not_before {
                "not yet valid"
            } else if now > e.expires {
                "expired"
            } else {
                "active"
            };
            let _ = writeln!(out, "  [{state}] {}", describe(p, e));
        }
    }
    out
}
