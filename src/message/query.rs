//! What a query asks for: its reason code and its subject (licence number,
//! or name and date of birth), read strictly.
//!
//! Used by reason-code rules and by court-order exceptions, on messages that
//! [`super::parse`] has already accepted. The reading is deliberately
//! narrow: a court order opens a door only for a query that names exactly
//! its subject, so anything this module does not recognise makes the query
//! *unreadable* ([`Unreadable`]), and an unreadable query never matches an
//! exception. Values are never logged or stored by callers; only the reason
//! code (one character) reaches the audit record.
//!
//! Legacy text: the body after `TXT` is a sequence of `LABEL/VALUE` fields,
//! each ended by `.` or a line break (`NAM/DOE,JANE Q.DOB/19800115.SEX/F`).
//! NIEM: the elements below `n2:NLETSInquiryData` (see `specs/policy.md`,
//! *Court-order exceptions*).

use super::{Format, Message};

/// Why a query could not be read with certainty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unreadable(pub &'static str);

/// The subject fields a query names (normalised for comparison).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// Licence number (`OLN/`, NIEM `DriverLicenseIdentification`), upper-case.
    pub oln: Option<String>,
    /// Licence state named in the query (`OLS/`), when it names one.
    pub ols: Option<String>,
    /// Name, upper-case, blanks as one space, none beside a comma: `DOE,JANE Q`.
    pub name: Option<String>,
    /// Date of birth as `CCYYMMDD` (a 6-digit date has no century and is kept
    /// as written, so it never equals an 8-digit one).
    pub dob: Option<String>,
    /// The query also names a vehicle (`LIC/`, `VIN/`, ...).
    pub vehicle: bool,
}

/// Labels a legacy driver/registration query may carry (Nlets DQ, DNQ, KQ, RQ
/// input fields). Any other label makes the query unreadable for an exception.
const LEGACY_LABELS: &[&[u8]] = &[
    b"RSN", b"OLN", b"OLS", b"NAM", b"DOB", b"SEX", b"IMQ", b"PUR", b"ATN", b"LIC", b"LIS", b"LIY",
    b"LIT", b"VIN", b"VMA", b"VYR",
];

/// The `LABEL/VALUE` fields of a legacy query body, strictly: printable
/// ASCII and line breaks only, labels `A-Z0-9` from [`LEGACY_LABELS`], each
/// at most once.
/// `(label, value)` pairs of a legacy body.
type Fields<'a> = Vec<(&'a [u8], &'a [u8])>;

fn legacy_fields(body: &[u8]) -> Result<Fields<'_>, Unreadable> {
    let mut out: Fields<'_> = Vec::new();
    for piece in body.split(|&b| b == b'.' || b == b'\n' || b == b'\r') {
        if piece.iter().all(|&b| b == b' ') {
            continue;
        }
        if !piece.iter().all(|&b| (0x20..0x7f).contains(&b)) {
            return Err(Unreadable("control_character"));
        }
        let Some(slash) = piece.iter().position(|&b| b == b'/') else {
            return Err(Unreadable("unlabelled_text"));
        };
        let (label, value) = (&piece[..slash], &piece[slash + 1..]);
        if !LEGACY_LABELS.contains(&label) {
            return Err(Unreadable("unknown_label"));
        }
        let value = trim(value);
        let ok = match label {
            b"NAM" => value
                .iter()
                .all(|&b| b.is_ascii_alphabetic() || b" ,'-".contains(&b)),
            // Free text (who to attention), but nothing a lax reader could
            // take for another field: no `/`, `;` or other separators.
            b"ATN" => value
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b" ,'-".contains(&b)),
            _ => value.iter().all(u8::is_ascii_alphanumeric),
        };
        if !ok {
            return Err(Unreadable("value_form"));
        }
        if out.iter().any(|(l, _)| *l == label) {
            return Err(Unreadable("repeated_field"));
        }
        out.push((label, value));
    }
    Ok(out)
}

/// Upper-case (ASCII), blanks removed.
fn squeeze(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A date of birth as `CCYYMMDD`: `1980-01-15`, `19800115`, `1980/01/15`,
/// `01/15/1980` and `01-15-1980` are read; anything else is kept as written
/// (trimmed), so it equals nothing written the other way. A 6-digit date has
/// no century and is kept as written.
pub fn normalise_date(s: &str) -> String {
    let t = s.trim();
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() == 10
        && (b[4] == b'-' || b[4] == b'/')
        && b[7] == b[4]
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
    {
        return format!("{}{}{}", &t[..4], &t[5..7], &t[8..]);
    }
    if b.len() == 10
        && (b[2] == b'/' || b[2] == b'-')
        && b[5] == b[2]
        && digits(0..2)
        && digits(3..5)
        && digits(6..10)
    {
        return format!("{}{}{}", &t[6..], &t[..2], &t[3..5]);
    }
    t.to_string()
}

/// True when `d` (as [`normalise_date`] writes it) is a real calendar date
/// `CCYYMMDD` from 1900-01-01 up to `today` (also `CCYYMMDD`).
pub fn valid_date(d: &str, today: &str) -> bool {
    let b = d.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n = |r: std::ops::Range<usize>| d[r].parse::<u32>().unwrap_or(0);
    let (y, m, day) = (n(0..4), n(4..6), n(6..8));
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    y >= 1900 && day >= 1 && day <= days && d <= today
}

/// Normalises a name for comparison (`Muñoz, José` → `MUNOZ,JOSE`):
/// compatibility decomposition with the accents dropped, upper-case,
/// periods dropped, `’` read as `'`, runs of blanks as one, none beside a
/// comma. Apostrophes and hyphens are kept as written: `O'BRIEN` is not
/// `OBRIEN` and `JANE-Q` is not `JANE Q`, as a state's index may tell them
/// apart. Word boundaries are kept likewise (`JAN EQ` is not `JANE Q`). A
/// letter with no ASCII form (`ß`, `Ø`) stays as it is, so it matches no
/// ASCII query ([`name_can_match`]).
pub fn normalise_name(s: &str) -> String {
    use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};
    let folded: String = s
        .nfkd()
        .filter(|c| !is_combining_mark(*c) && *c != '.')
        .map(|c| {
            if c == '\u{2019}' {
                '\''
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    let mut out = String::with_capacity(folded.len());
    for (i, part) in folded.split(',').enumerate() {
        if i > 0 {
            out.push(',');
        }
        let words: Vec<&str> = part.split_whitespace().collect();
        out.push_str(&words.join(" "));
    }
    out
}

/// True when a normalised name can be matched by a query: `LAST,FIRST ...`
/// in ASCII letters, blanks, `'` and `-`, one comma, a surname and a given
/// name.
pub fn name_can_match(n: &str) -> bool {
    let mut parts = n.split(',');
    let (Some(sur), Some(given), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !sur.is_empty()
        && !given.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_uppercase() || b" ,'-".contains(&b))
}

/// An XML value read the way the legacy reader reads one: blanks trimmed at
/// the ends, then only the bytes `ok` allows (ASCII). Anything else could be
/// read otherwise by the state (cut at a blank or a control, case-folded
/// from outside ASCII).
fn strict_value(v: String, ok: impl Fn(u8) -> bool) -> Result<String, Unreadable> {
    let t = v.trim_matches(' ');
    if t.bytes().all(ok) {
        Ok(t.to_string())
    } else {
        Err(Unreadable("value_form"))
    }
}

fn name_byte(b: u8) -> bool {
    b.is_ascii_alphabetic() || b" '-".contains(&b)
}

/// The reason code of a query: `Ok(None)` when it gives none,
/// `Err` when the reason cannot be read with certainty (repeated, longer
/// than one character, or a body that does not read as query fields).
pub fn reason_code(m: &Message) -> Result<Option<u8>, Unreadable> {
    match m.format {
        Format::Legacy => {
            let body = &m.raw[m.body_offset..];
            // Fast path: a body without the label, in any case and with any
            // blank or control inside it (`rsn/`, `R SN/`, `R\x07SN/`: a lax
            // reader may take those), has no reason code. Otherwise the
            // strict reading decides, and refuses those spellings.
            if !letters_contain(body, b"RSN") {
                return Ok(None);
            }
            let f = legacy_fields(body)?;
            one_char(f.iter().find(|(l, _)| *l == b"RSN").map(|(_, v)| *v))
        }
        Format::Xml => {
            if !letters_contain(&m.raw, b"REASONCODE") {
                return Ok(None);
            }
            let text = std::str::from_utf8(&m.raw).map_err(|_| Unreadable("encoding"))?;
            let doc = doc(text)?;
            let data = inquiry_data(&doc)?;
            // Every element named like a reason code, in any namespace and
            // anywhere: exactly one, in its place, or none at all.
            let mut codes = doc.descendants().filter(|c| {
                c.is_element() && c.tag_name().name().eq_ignore_ascii_case("ReasonCode")
            });
            let first = codes.next();
            if codes.next().is_some() {
                return Err(Unreadable("repeated_field"));
            }
            match first {
                None => Ok(None),
                Some(n) if is(&n, N2, "ReasonCode") && n.parent() == Some(data) => {
                    one_char(Some(element_text(n)?.trim().as_bytes()))
                }
                Some(_) => Err(Unreadable("reason_code_elsewhere")),
            }
        }
    }
}

/// True when the ASCII letters of `hay`, upper-cased and with everything
/// else left out, contain `needle` (upper-case letters).
fn letters_contain(hay: &[u8], needle: &[u8]) -> bool {
    let letters: Vec<u8> = hay
        .iter()
        .filter(|b| b.is_ascii_alphabetic())
        .map(u8::to_ascii_uppercase)
        .collect();
    letters.windows(needle.len()).any(|w| w == needle)
}

fn one_char(v: Option<&[u8]>) -> Result<Option<u8>, Unreadable> {
    match v {
        None => Ok(None),
        Some(v) => {
            let v = trim(v);
            match v {
                [c] if c.is_ascii_uppercase() || c.is_ascii_digit() => Ok(Some(*c)),
                _ => Err(Unreadable("reason_code_form")),
            }
        }
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let s = v.iter().position(|&b| b != b' ').unwrap_or(v.len());
    let e = v.iter().rposition(|&b| b != b' ').map_or(s, |e| e + 1);
    &v[s..e]
}

const N2: &str = "http://www.nlets.org/niem/1.0";
const N2C: &str = "http://www.nlets.org/niem/nlets-core/1.0";

fn is(n: &roxmltree::Node<'_, '_>, ns: &str, local: &str) -> bool {
    n.tag_name().name() == local && n.tag_name().namespace() == Some(ns)
}

fn is_nc(n: &roxmltree::Node<'_, '_>, local: &str) -> bool {
    n.tag_name().name() == local
        && n.tag_name()
            .namespace()
            .is_some_and(|ns| super::fields::NIEM_CORE.contains(&ns))
}

fn doc(text: &str) -> Result<roxmltree::Document<'_>, Unreadable> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 10_000,
        ..Default::default()
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    roxmltree::Document::parse_with_options(text, opts).map_err(|_| Unreadable("xml"))
}

fn inquiry_data<'a, 'i>(
    doc: &'a roxmltree::Document<'i>,
) -> Result<roxmltree::Node<'a, 'i>, Unreadable> {
    // Beside the header, nothing a reader could take for (more) inquiry
    // data: another version's `NLETSInquiryData`, a loose `Person`, ...
    only(doc.root_element(), |c| {
        is(c, N2, "NLETSMessageHeader") || is(c, N2, "NLETSInquiryData")
    })?;
    let mut it = doc
        .root_element()
        .children()
        .filter(|c| c.is_element() && is(c, N2, "NLETSInquiryData"));
    let first = it.next().ok_or(Unreadable("no_inquiry_data"))?;
    if it.next().is_some() {
        return Err(Unreadable("repeated_field"));
    }
    Ok(first)
}

/// The text of an element that holds only text: no child elements, and no
/// comment or processing instruction splitting it (a reader that takes the
/// first text node would read a different value).
fn element_text<'a>(n: roxmltree::Node<'a, '_>) -> Result<String, Unreadable> {
    let mut s = String::new();
    let mut pieces = 0;
    for c in n.children() {
        if c.is_element() {
            return Err(Unreadable("element_in_value"));
        }
        if !c.is_text() {
            return Err(Unreadable("markup_in_value"));
        }
        pieces += 1;
        if let Some(t) = c.text() {
            s.push_str(t);
        }
    }
    if pieces > 1 {
        return Err(Unreadable("markup_in_value"));
    }
    Ok(s)
}

/// Reads one optional child element of `n` that holds text; repeated is unreadable.
fn child_text(
    n: roxmltree::Node<'_, '_>,
    pick: impl Fn(&roxmltree::Node<'_, '_>) -> bool,
) -> Result<Option<String>, Unreadable> {
    let mut it = n.children().filter(|c| c.is_element() && pick(c));
    let first = it.next();
    if it.next().is_some() {
        return Err(Unreadable("repeated_field"));
    }
    first.map(element_text).transpose()
}

/// Every child element of `n` must satisfy `known` and carry no attribute
/// (a NIEM `structures:ref`, `xsi:nil` or any other: a reader that honours
/// it could read another subject).
fn only(
    n: roxmltree::Node<'_, '_>,
    known: impl Fn(&roxmltree::Node<'_, '_>) -> bool,
) -> Result<(), Unreadable> {
    for c in n.children() {
        if c.is_element() && !known(&c) {
            return Err(Unreadable("unknown_element"));
        }
        if c.is_element() && c.attributes().next().is_some() {
            return Err(Unreadable("attribute"));
        }
        if c.is_text() && !c.text().unwrap_or("").trim().is_empty() {
            return Err(Unreadable("text_in_container"));
        }
    }
    Ok(())
}

/// The subject a query names. Strict: every field of the body must be one
/// this module knows, each at most once; otherwise [`Unreadable`].
// Long: a strict read of a query, element by element in document order, each refusing the unknown.
pub fn subject(m: &Message) -> Result<Subject, Unreadable> {
    match m.format {
        Format::Legacy => {
            let f = legacy_fields(&m.raw[m.body_offset..])?;
            let get = |l: &[u8]| {
                f.iter()
                    .find(|(k, _)| *k == l)
                    .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            };
            Ok(Subject {
                oln: get(b"OLN").map(|v| squeeze(&v)),
                ols: get(b"OLS").map(|v| squeeze(&v)),
                name: get(b"NAM").map(|v| normalise_name(&v)),
                dob: get(b"DOB").map(|v| normalise_date(&v)),
                vehicle: f.iter().any(|(k, _)| {
                    [&b"LIC"[..], b"LIS", b"LIY", b"LIT", b"VIN", b"VMA", b"VYR"].contains(k)
                }),
            })
        }
        Format::Xml => {
            let text = std::str::from_utf8(&m.raw).map_err(|_| Unreadable("encoding"))?;
            let doc = doc(text)?;
            let data = inquiry_data(&doc)?;
            only(data, |c| {
                is(c, N2, "ReasonCode")
                    || is(c, N2, "Person")
                    || is(c, N2, "ImageRequestIndicator")
                    || is(c, N2C, "Driver")
            })?;
            if data.attributes().next().is_some() {
                return Err(Unreadable("attribute"));
            }
            // Holds only text: a subject nested in it would be read by a
            // reader that searches the whole inquiry.
            let _ = child_text(data, |c| is(c, N2, "ImageRequestIndicator"))?;
            let mut s = Subject::default();
            let persons: Vec<_> = data
                .children()
                .filter(|c| c.is_element() && is(c, N2, "Person"))
                .collect();
            if persons.len() > 1 {
                return Err(Unreadable("repeated_field"));
            }
            if let Some(p) = persons.first() {
                only(*p, |c| {
                    is_nc(c, "PersonBirthDate")
                        || is_nc(c, "PersonName")
                        || is_nc(c, "PersonSexCode")
                })?;
                let mut bd = p
                    .children()
                    .filter(|c| c.is_element() && is_nc(c, "PersonBirthDate"));
                if let Some(b) = bd.next() {
                    if bd.next().is_some() {
                        return Err(Unreadable("repeated_field"));
                    }
                    only(b, |c| is_nc(c, "Date"))?;
                    s.dob = child_text(b, |c| is_nc(c, "Date"))?
                        .map(|d| strict_value(d, |b| b.is_ascii_digit() || b == b'-'))
                        .transpose()?
                        .map(|d| normalise_date(&d));
                }
                let mut nm = p
                    .children()
                    .filter(|c| c.is_element() && is_nc(c, "PersonName"));
                if let Some(n) = nm.next() {
                    if nm.next().is_some() {
                        return Err(Unreadable("repeated_field"));
                    }
                    only(n, |c| {
                        is_nc(c, "PersonGivenName")
                            || is_nc(c, "PersonMiddleName")
                            || is_nc(c, "PersonSurName")
                    })?;
                    let part = |local: &'static str| {
                        child_text(n, |c| is_nc(c, local))?
                            .map(|v| strict_value(v, name_byte))
                            .transpose()
                    };
                    let sur = part("PersonSurName")?;
                    let given = part("PersonGivenName")?;
                    let middle = part("PersonMiddleName")?;
                    if let Some(sur) = sur {
                        let rest = [given, middle]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(" ");
                        s.name = Some(normalise_name(&format!("{sur},{rest}")));
                    } else if given.is_some() || middle.is_some() {
                        return Err(Unreadable("name_without_surname"));
                    }
                }
                let _ = child_text(*p, |c| is_nc(c, "PersonSexCode"))?;
            }
            let drivers: Vec<_> = data
                .children()
                .filter(|c| c.is_element() && is(c, N2C, "Driver"))
                .collect();
            if drivers.len() > 1 {
                return Err(Unreadable("repeated_field"));
            }
            if let Some(d) = drivers.first() {
                only(*d, |c| is(c, N2C, "DriverLicenseIdentification"))?;
                let mut ids = d
                    .children()
                    .filter(|c| c.is_element() && is(c, N2C, "DriverLicenseIdentification"));
                if let Some(id) = ids.next() {
                    if ids.next().is_some() {
                        return Err(Unreadable("repeated_field"));
                    }
                    only(id, |c| {
                        is_nc(c, "IdentificationID") || is_nc(c, "IdentificationJurisdictionText")
                    })?;
                    let alnum = |v: String| strict_value(v, |b| b.is_ascii_alphanumeric());
                    s.oln = child_text(id, |c| is_nc(c, "IdentificationID"))?
                        .map(alnum)
                        .transpose()?
                        .map(|v| squeeze(&v));
                    s.ols = child_text(id, |c| is_nc(c, "IdentificationJurisdictionText"))?
                        .map(alnum)
                        .transpose()?
                        .map(|v| squeeze(&v));
                }
            }
            Ok(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fields::Catalogue;
    use crate::message::{parse, Limits};
    use bytes::Bytes;

    fn msg(s: &str) -> Message {
        parse(
            Bytes::from(s.to_string()),
            &Catalogue::builtin(),
            &Limits::default(),
        )
        .unwrap()
    }

    const XML_DQ: &str = "<n2:NLETS xmlns:n2=\"http://www.nlets.org/niem/1.0\" xmlns:nh2=\"http://www.nlets.org/niem/nlets-hdr/1.0\" xmlns:nc=\"http://niem.gov/niem/niem-core/2.0\" xmlns:n2c=\"http://www.nlets.org/niem/nlets-core/1.0\"><n2:NLETSMessageHeader><nh2:MessageKeyCodeText>DQ</nh2:MessageKeyCodeText><nh2:OriginatingORIID>VTICE0900</nh2:OriginatingORIID><nh2:DestinationORIID>CO</nh2:DestinationORIID><nh2:DocumentControlFieldText>A0TRM0042</nh2:DocumentControlFieldText></n2:NLETSMessageHeader><n2:NLETSInquiryData>BODY</n2:NLETSInquiryData></n2:NLETS>";

    fn xml(body: &str) -> Message {
        msg(&XML_DQ.replace("BODY", body))
    }

    #[test]
    fn legacy_subject_and_reason() {
        let m =
            msg("DQ.VTICE0900.CO.*A0TRM0042.TXT\nRSN/V.NAM/DOE, JANE Q.DOB/19800115.SEX/F.IMQ/Y");
        let s = subject(&m).unwrap();
        assert_eq!(s.name.as_deref(), Some("DOE,JANE Q"));
        assert_eq!(s.dob.as_deref(), Some("19800115"));
        assert_eq!(s.oln, None);
        assert_eq!(reason_code(&m), Ok(Some(b'V')));
        let m = msg("KQ.VTICE0900.CO.*X1.TXT\nOLN/d11111111");
        assert_eq!(subject(&m).unwrap().oln.as_deref(), Some("D11111111"));
        assert_eq!(reason_code(&m), Ok(None));
    }

    #[test]
    fn legacy_strictness() {
        for bad in [
            "DQ.VTICE0900.CO.*X1.TXT\nOLN/1.OLN/2",
            "DQ.VTICE0900.CO.*X1.TXT\nOLN/1.XYZ/2",
            "DQ.VTICE0900.CO.*X1.TXT\nOLN/1 and more text",
            "DQ.VTICE0900.CO.*X1.TXT\nOLN/1\tNAM/X",
        ] {
            assert!(subject(&msg(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            reason_code(&msg("DQ.VTICE0900.CO.*X1.TXT\nRSN/VV.OLN/1")),
            Err(Unreadable("reason_code_form"))
        );
        assert_eq!(
            reason_code(&msg("DQ.VTICE0900.CO.*X1.TXT\nRSN/V.RSN/N.OLN/1")),
            Err(Unreadable("repeated_field"))
        );
    }

    #[test]
    fn legacy_free_text_cannot_hide_a_field() {
        // ATN is free text: a lax reader that looks for `OLN/` anywhere
        // would find a second licence number in it.
        for bad in [
            "DQ.VTICE0900.CO.*X1.TXT\nOLN/123456789.ATN/SGT OLN/999999999",
            "DQ.VTICE0900.CO.*X1.TXT\nNAM/DOE, JANE Q.DOB/19800115.ATN/X;NAM/ROE, RICHARD",
        ] {
            assert!(subject(&msg(bad)).is_err(), "{bad}");
        }
        assert!(subject(&msg(
            "DQ.VTICE0900.CO.*X1.TXT\nOLN/123456789.ATN/SGT EXAMPLE"
        ))
        .is_ok());
    }

    #[test]
    fn names_keep_their_word_boundaries() {
        // The state reads "JAN EQ" and "JANE Q" as different given names.
        let a = subject(&msg(
            "DQ.VTICE0900.CO.*X1.TXT\nNAM/DOE, JANE Q.DOB/19800115",
        ))
        .unwrap();
        for other in ["NAM/DOE, JAN EQ", "NAM/DOE, JANEQ", "NAM/D OE, JANE Q"] {
            let b = subject(&msg(&format!(
                "DQ.VTICE0900.CO.*X1.TXT\n{other}.DOB/19800115"
            )))
            .unwrap();
            assert_ne!(a.name, b.name, "{other}");
        }
        // Blanks around the comma and runs of blanks are not words.
        let b = subject(&msg(
            "DQ.VTICE0900.CO.*X1.TXT\nNAM/DOE ,  JANE  Q.DOB/19800115",
        ))
        .unwrap();
        assert_eq!(a.name, b.name);
        assert_eq!(a.name, Some(normalise_name("DOE, JANE Q")));
        let x = subject(&xml("<n2:Person><nc:PersonName><nc:PersonGivenName>JANE</nc:PersonGivenName><nc:PersonMiddleName>Q</nc:PersonMiddleName><nc:PersonSurName>DOE</nc:PersonSurName></nc:PersonName></n2:Person>")).unwrap();
        assert_eq!(x.name, a.name);
        let x = subject(&xml("<n2:Person><nc:PersonName><nc:PersonGivenName>JAN</nc:PersonGivenName><nc:PersonMiddleName>EQ</nc:PersonMiddleName><nc:PersonSurName>DOE</nc:PersonSurName></nc:PersonName></n2:Person>")).unwrap();
        assert_ne!(x.name, a.name);
    }

    #[test]
    fn xml_values_are_read_as_strictly_as_legacy_ones() {
        // Values another reader may cut short or read otherwise: blanks or
        // controls inside a licence number, comments or processing
        // instructions splitting a value, letters case-folded from
        // outside ASCII.
        let id = |v: &str| {
            xml(&format!("<n2c:Driver><n2c:DriverLicenseIdentification><nc:IdentificationID>{v}</nc:IdentificationID></n2c:DriverLicenseIdentification></n2c:Driver>"))
        };
        for bad in [
            "1234 56789",
            "1234\t56789",
            "1234&#10;56789",
            "1234<!-- x -->56789",
            "1234<?pi x?>56789",
            "\u{ff11}23456789",
        ] {
            assert!(subject(&id(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(
            subject(&id(" 123456789 ")).unwrap().oln.as_deref(),
            Some("123456789")
        );
        assert_eq!(
            subject(&id("<![CDATA[123456789]]>"))
                .unwrap()
                .oln
                .as_deref(),
            Some("123456789")
        );
        let sur = |v: &str| {
            xml(&format!("<n2:Person><nc:PersonName><nc:PersonSurName>{v}</nc:PersonSurName></nc:PersonName></n2:Person>"))
        };
        for bad in ["\u{17f}MITH", "DO<!-- -->E", "DOE\u{200b}", "D\u{131}OE"] {
            assert!(subject(&sur(bad)).is_err(), "{bad:?}");
        }
        // Elements or attributes this reader would pass over.
        for bad in [
            "<n2:ImageRequestIndicator><n2c:Driver><n2c:DriverLicenseIdentification><nc:IdentificationID>999999999</nc:IdentificationID></n2c:DriverLicenseIdentification></n2c:Driver></n2:ImageRequestIndicator>",
            "<n2:Person ref=\"p2\"><nc:PersonName><nc:PersonSurName>DOE</nc:PersonSurName></nc:PersonName></n2:Person>",
            "<n2:Person><nc:PersonName><nc:PersonSurName ref=\"x\">DOE</nc:PersonSurName></nc:PersonName></n2:Person>",
        ] {
            assert!(subject(&xml(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn nothing_beside_the_inquiry_data() {
        let person = "<n2:Person><nc:PersonName><nc:PersonSurName>DOE</nc:PersonSurName></nc:PersonName></n2:Person>";
        let ok = msg(&XML_DQ.replace("BODY", person));
        assert!(subject(&ok).is_ok());
        for extra in [
            "<n3:NLETSInquiryData xmlns:n3=\"http://www.nlets.org/niem/1.1\"><n2:Person><nc:PersonName><nc:PersonSurName>ROE</nc:PersonSurName></nc:PersonName></n2:Person></n3:NLETSInquiryData>",
            "<n2:Person><nc:PersonName><nc:PersonSurName>ROE</nc:PersonSurName></nc:PersonName></n2:Person>",
        ] {
            let m = msg(&XML_DQ
                .replace("BODY", person)
                .replace("</n2:NLETS>", &format!("{extra}</n2:NLETS>")));
            assert!(subject(&m).is_err(), "{extra}");
        }
    }

    #[test]
    fn a_reason_code_anywhere_else_is_unreadable() {
        for bad in [
            "<n2:Person><n2:ReasonCode>I</n2:ReasonCode></n2:Person>",
            "<n2c:ReasonCode>I</n2c:ReasonCode>",
            "<n2:ReasonCode>V</n2:ReasonCode><n2:Person><nc:ReasonCode>I</nc:ReasonCode></n2:Person>",
        ] {
            assert!(reason_code(&xml(bad)).is_err(), "{bad}");
        }
        for bad in ["rsn/I.OLN/1", "R\x07SN/I.OLN/1", "Rsn/I.OLN/1"] {
            let m = msg(&format!("DQ.VTICE0900.CO.*X1.TXT\n{bad}"));
            assert!(reason_code(&m).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn xml_subject_and_reason() {
        let m = xml("<n2:ReasonCode>V</n2:ReasonCode><n2:Person><nc:PersonBirthDate><nc:Date>1980-01-15</nc:Date></nc:PersonBirthDate><nc:PersonName><nc:PersonGivenName>Jane</nc:PersonGivenName><nc:PersonMiddleName>Q</nc:PersonMiddleName><nc:PersonSurName>DOE</nc:PersonSurName></nc:PersonName></n2:Person><n2:ImageRequestIndicator>true</n2:ImageRequestIndicator>");
        let s = subject(&m).unwrap();
        assert_eq!(s.name.as_deref(), Some("DOE,JANE Q"));
        assert_eq!(s.dob.as_deref(), Some("19800115"));
        assert_eq!(reason_code(&m), Ok(Some(b'V')));
        let m = xml("<n2c:Driver><n2c:DriverLicenseIdentification><nc:IdentificationID>123456789</nc:IdentificationID></n2c:DriverLicenseIdentification></n2c:Driver>");
        assert_eq!(subject(&m).unwrap().oln.as_deref(), Some("123456789"));
        // Unknown elements, repeated persons, markup in values: unreadable.
        for bad in [
            "<n2:Other>1</n2:Other>",
            "<n2:Person/><n2:Person/>",
            "<n2:Person><nc:PersonName><nc:PersonSurName>A<nc:X/></nc:PersonSurName></nc:PersonName></n2:Person>",
            "<n2:Person><nc:PersonName><nc:PersonGivenName>A</nc:PersonGivenName></nc:PersonName></n2:Person>",
            "loose text",
        ] {
            assert!(subject(&xml(bad)).is_err(), "{bad}");
        }
        assert!(reason_code(&xml(
            "<n2:ReasonCode>V</n2:ReasonCode><n2:ReasonCode>N</n2:ReasonCode>"
        ))
        .is_err());
    }
}
