//! Who a response is about: every person identifier a state response
//! carries, read the way the release projection reads the body, but
//! generously — so that a record about somebody else is *found*, never
//! overlooked.
//!
//! Used by court orders ([`crate::decision::court_order`]): a response is
//! released under an order only when every identifier found is the order's
//! subject. Legacy text is scanned line by line for `NAM`, `NAME`, `DOB`,
//! `OLN`, `OLS` labels in any case with any of `/ : =` (and a blank before
//! it), and for the unlabelled name that leads a line carrying a `DOB`.
//! NIEM documents are read by local name in any namespace (NIEM 2.0 to 5.0
//! spell these elements alike): `PersonName` (its `PersonSurName`,
//! `PersonGivenName`, `PersonMiddleName`, `PersonFullName`),
//! `PersonBirthDate`, `IdentificationID` below a `DriverLicense...` element,
//! images (`BinaryBase64Object`), and elements named `Person`; every text
//! node is also scanned as legacy text (a `ResponseText` block carries the
//! state's printout).
//!
//! Nothing here keeps a value beyond the comparison: callers record counts
//! only.

use super::legacy::value_end;
use crate::message::query::{normalise_date, normalise_name};
use crate::message::{Format, Message};

/// A name as a response gives it: whole (`DOE,JANE Q`) or in parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Name {
    /// Surname, then given and middle names, normalised as
    /// [`normalise_name`] does.
    Full(String),
    /// NIEM parts, each normalised; any may be missing.
    Parts {
        /// `PersonSurName`.
        sur: Option<String>,
        /// `PersonGivenName`.
        given: Option<String>,
        /// `PersonMiddleName`.
        middle: Option<String>,
    },
}

/// Every identifier found in one response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// Names.
    pub names: Vec<Name>,
    /// Dates of birth, as written (normalised when they read as a date).
    pub dobs: Vec<String>,
    /// Licence numbers, upper-case, without blanks or dashes.
    pub olns: Vec<String>,
    /// Licence states (`OLS`, `IdentificationJurisdiction...`).
    pub states: Vec<String>,
    /// Images (`BinaryBase64Object`).
    pub images: u32,
    /// Elements named `Person` (any namespace).
    pub person_elements: u32,
    /// Why the response could not be read whole, when it could not.
    pub unreadable: Option<&'static str>,
}

impl Name {
    /// True when this name cannot be somebody else's than the person named
    /// `full` (`SUR,GIVEN MIDDLE`, normalised): equal to it, or NIEM parts
    /// each equal to the matching part of it (a missing part says nothing).
    pub fn agrees(&self, full: &str) -> bool {
        match self {
            Name::Full(x) => x == full,
            Name::Parts { sur, given, middle } => {
                let (s, g) = full.split_once(',').unwrap_or((full, ""));
                let want: Vec<&str> = g.split(' ').filter(|w| !w.is_empty()).collect();
                let words = |v: &Option<String>| -> Vec<String> {
                    v.as_deref()
                        .map(|t| {
                            t.split(' ')
                                .filter(|w| !w.is_empty())
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let (gw, mw) = (words(given), words(middle));
                let sur_ok = sur.as_deref().is_none_or(|x| x == s);
                let given_ok = gw.len() <= want.len() && gw.iter().zip(&want).all(|(a, b)| a == b);
                let rest = &want[gw.len().min(want.len())..];
                let middle_ok = mw.is_empty()
                    || (given.is_some() && mw.iter().map(String::as_str).eq(rest.iter().copied()));
                sur_ok && given_ok && middle_ok
            }
        }
    }

    /// True when this name names `full` on its own: the whole name, or the
    /// surname and every given name in parts.
    pub fn whole(&self, full: &str) -> bool {
        match self {
            Name::Full(x) => x == full,
            Name::Parts { sur, given, middle } => {
                let (s, g) = full.split_once(',').unwrap_or((full, ""));
                let parts: Vec<&str> = [given, middle]
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .collect();
                sur.as_deref() == Some(s) && !parts.is_empty() && parts.join(" ") == g
            }
        }
    }

    /// True when two names may be one person's: equal whole names, a whole
    /// name and parts that agree with it, or parts equal wherever both give
    /// one.
    fn same_person(&self, other: &Name) -> bool {
        match (self, other) {
            (Name::Full(a), b) | (b, Name::Full(a)) => b.agrees(a),
            (
                Name::Parts {
                    sur: s1,
                    given: g1,
                    middle: m1,
                },
                Name::Parts {
                    sur: s2,
                    given: g2,
                    middle: m2,
                },
            ) => {
                let eq = |a: &Option<String>, b: &Option<String>| match (a, b) {
                    (Some(x), Some(y)) => x == y,
                    _ => true,
                };
                eq(s1, s2) && eq(g1, g2) && eq(m1, m2)
            }
        }
    }
}

impl Found {
    /// How many people the response seems to hold: the most of distinct
    /// dates of birth, licence numbers, names (whole or in parts, a part
    /// that agrees with a whole name being the same person), elements
    /// holding a name or date of birth, and images.
    pub fn records(&self) -> u32 {
        fn distinct<T: PartialEq>(v: &[T]) -> u32 {
            let mut n = 0;
            for (i, x) in v.iter().enumerate() {
                if !v[..i].contains(x) {
                    n += 1;
                }
            }
            n
        }
        // Whole names first, so that parts join the name they agree with.
        let mut people: Vec<&Name> = Vec::new();
        let ordered = self
            .names
            .iter()
            .filter(|n| matches!(n, Name::Full(_)))
            .chain(
                self.names
                    .iter()
                    .filter(|n| matches!(n, Name::Parts { .. })),
            );
        for n in ordered {
            if !people.iter().any(|p| p.same_person(n)) {
                people.push(n);
            }
        }
        [
            distinct(&self.dobs),
            distinct(&self.olns),
            people.len() as u32,
            self.person_elements,
            self.images,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }
}

/// Licence numbers compared without blanks and dashes, upper-case.
pub fn normalise_oln(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Reads every identifier in `m`.
pub fn find(m: &Message) -> Found {
    let mut f = Found::default();
    match m.format {
        Format::Legacy => scan_text(&m.raw[m.body_offset..], &mut f),
        Format::Xml => scan_xml(&m.raw, &mut f),
    }
    f
}

/// Labels that carry an identifier.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Label {
    Name,
    Dob,
    Oln,
    State,
}

/// The label a word stands for, compared on its letters only, upper-cased
/// (`D.O.B.`, `Date of Birth` and `dob` are all `DOB`).
fn label_of(word: &[u8]) -> Option<Label> {
    let w: Vec<u8> = word
        .iter()
        .filter(|b| b.is_ascii_alphabetic())
        .map(u8::to_ascii_uppercase)
        .collect();
    match &w[..] {
        b"NAM" | b"NAME" | b"FULLNAME" | b"OWNER" | b"REGISTEREDOWNER" => Some(Label::Name),
        b"DOB" | b"DATEOFBIRTH" | b"BIRTHDATE" => Some(Label::Dob),
        b"OLN" => Some(Label::Oln),
        b"OLS" => Some(Label::State),
        _ => None,
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_string()
}

/// A label at `i`: up to three words of letters and periods (`DATE OF
/// BIRTH`, `D.O.B.`), then an optional blank and `/`, `:` or `=`; or `DOB`
/// followed by blanks and a digit. Returns the label and where its value
/// starts.
fn label_at(line: &[u8], i: usize) -> Option<(Label, usize)> {
    let mut j = i;
    let mut words = 0;
    while words < 3 {
        let s = j;
        while j < line.len() && (line[j].is_ascii_alphabetic() || line[j] == b'.') {
            j += 1;
        }
        if j == s {
            break;
        }
        words += 1;
        let l = label_of(&line[i..j]);
        let mut k = j;
        while k < line.len() && line[k] == b' ' {
            k += 1;
        }
        if l.is_some() && k < line.len() && matches!(line[k], b'/' | b':' | b'=') && k - j <= 1 {
            return l.map(|l| (l, k + 1));
        }
        if l == Some(Label::Dob) && k > j && k < line.len() && line[k].is_ascii_digit() {
            return Some((Label::Dob, k));
        }
        if k == j || k - j > 1 {
            break;
        }
        j = k;
    }
    None
}

/// Legacy text: labelled fields anywhere (any case), and the unlabelled
/// value leading a line that carries a labelled item — the name, in the
/// layouts the release projection reads.
fn scan_text(body: &[u8], f: &mut Found) {
    let mut items = Vec::new();
    for line in body.split(|&b| b == b'\n' || b == b'\r') {
        let mut i = 0;
        while i < line.len() {
            let at_word = i == 0 || !line[i - 1].is_ascii_alphanumeric();
            if at_word {
                if let Some((l, start)) = label_at(line, i) {
                    let (end, _) = value_end(line, start);
                    let v = text(&line[start..end.max(start)]);
                    match l {
                        Label::Name => f.names.push(Name::Full(normalise_name(&v))),
                        Label::Dob => f.dobs.push(normalise_date(&v)),
                        Label::Oln => f.olns.push(normalise_oln(&v)),
                        Label::State => f.states.push(v.to_ascii_uppercase()),
                    }
                    i = end.max(start);
                    continue;
                }
            }
            i += 1;
        }
        // Read as the projection reads it: a first item without a label on
        // a line that has a labelled item is released as the leading value.
        super::legacy::items(line, None, true, &mut items);
        if let Some(first) = items.first() {
            if first.label.is_none() && items[1..].iter().any(|it| it.label.is_some()) {
                let v = text(&line[first.value.0..first.value.1]);
                if !v.is_empty() {
                    f.names.push(Name::Full(normalise_name(&v)));
                }
            }
        }
    }
}

fn scan_xml(raw: &[u8], f: &mut Found) {
    let Ok(t) = std::str::from_utf8(raw) else {
        f.unreadable = Some("encoding");
        return;
    };
    let t = t.strip_prefix('\u{feff}').unwrap_or(t);
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 200_000,
        ..Default::default()
    };
    let doc = match roxmltree::Document::parse_with_options(t, opts) {
        Ok(d) => d,
        Err(_) => {
            f.unreadable = Some("xml");
            return;
        }
    };
    for n in doc.descendants().filter(|n| n.is_element()) {
        // The element's own text, whole: a comment or processing
        // instruction between two pieces is gone in what is released.
        let own: String = n
            .children()
            .filter(|c| c.is_text())
            .filter_map(|c| c.text())
            .collect();
        if !own.trim().is_empty() {
            scan_text(own.as_bytes(), f);
        }
        for a in n.attributes() {
            scan_attribute(a.name(), a.value(), f);
        }
        let local = n.tag_name().name();
        let under_licence = || {
            n.ancestors()
                .skip(1)
                .any(|a| a.tag_name().name().starts_with("DriverLicense"))
        };
        match local {
            "BinaryBase64Object" => f.images += 1,
            "PersonName" | "PersonAlternateName" => f.names.extend(xml_names(n)),
            "PersonFullName" if !n.ancestors().skip(1).any(|a| is_name(a.tag_name().name())) => {
                f.names.push(Name::Full(normalise_name(&own)))
            }
            _ if local.starts_with("PersonBirthDate") => {
                let d = n
                    .descendants()
                    .filter(|c| c.is_text())
                    .filter_map(|c| c.text())
                    .collect::<String>();
                f.dobs.push(normalise_date(d.trim()));
            }
            "IdentificationID" if under_licence() => f.olns.push(normalise_oln(&own)),
            _ if local.starts_with("IdentificationJurisdiction")
                && under_licence()
                && !own.trim().is_empty() =>
            {
                f.states.push(own.trim().to_ascii_uppercase());
            }
            _ => {}
        }
        // A person: an element holding a name or a date of birth directly.
        if n.children().any(|c| {
            c.is_element()
                && (is_name(c.tag_name().name())
                    || c.tag_name().name().starts_with("PersonBirthDate"))
        }) {
            f.person_elements += 1;
        }
    }
}

fn is_name(local: &str) -> bool {
    matches!(local, "PersonName" | "PersonAlternateName")
}

/// An attribute is never released, but it may say that somebody else is
/// in the response: its value is read as legacy text, and a name, date or
/// licence number by its attribute name.
fn scan_attribute(name: &str, value: &str, f: &mut Found) {
    scan_text(value.as_bytes(), f);
    let n = name.to_ascii_lowercase();
    if n.contains("birth") || n == "dob" {
        f.dobs.push(normalise_date(value));
    } else if n.contains("name") && !n.contains("space") {
        f.names.push(Name::Full(normalise_name(value)));
    } else if n.contains("license") || n.contains("licence") || n == "oln" {
        f.olns.push(normalise_oln(value));
    }
}

/// Every name a `PersonName` holds: its full name and its parts, each of
/// which must agree with the order (a full name beside other parts does not
/// hide them).
fn xml_names(n: roxmltree::Node<'_, '_>) -> Vec<Name> {
    let full = n
        .descendants()
        .filter(|c| c.is_element() && c.tag_name().name() == "PersonFullName")
        .map(|c| {
            Name::Full(normalise_name(
                &c.descendants()
                    .filter(|d| d.is_text())
                    .filter_map(|d| d.text())
                    .collect::<String>(),
            ))
        });
    let mut out: Vec<Name> = full.collect();
    let parts = xml_name(n);
    let empty = Name::Parts {
        sur: None,
        given: None,
        middle: None,
    };
    if out.is_empty() || parts != empty {
        out.push(parts);
    }
    out
}

fn xml_name(n: roxmltree::Node<'_, '_>) -> Name {
    let part = |local: &str| {
        let mut it = n
            .descendants()
            .filter(|c| c.is_element() && c.tag_name().name() == local);
        let first = it.next().map(|c| {
            c.descendants()
                .filter(|d| d.is_text())
                .filter_map(|d| d.text())
                .collect::<String>()
        });
        // A repeated part is another name: keep it apart so it can only
        // fail to match.
        match (first, it.next()) {
            (Some(v), None) => Some(normalise_name(&v)),
            (Some(_), Some(_)) => Some("\u{1}repeated".to_string()),
            (None, _) => None,
        }
    };
    Name::Parts {
        sur: part("PersonSurName"),
        given: part("PersonGivenName"),
        middle: part("PersonMiddleName"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fields::Catalogue;
    use crate::message::{parse, Limits};

    fn found(raw: &str) -> Found {
        let m = parse(
            bytes::Bytes::from(raw.to_string()),
            &Catalogue::builtin(),
            &Limits::default(),
        )
        .unwrap();
        find(&m)
    }

    #[test]
    fn legacy_record_and_candidate_list() {
        let f = found("DR.COOLN0000.VTICE0900.*A1.TXT\nDOE, JANE Q   DOB/19800115  SEX/F\nOLN/000-000-000  OLS/CO  STATUS/VALID\n");
        assert_eq!(f.names, vec![Name::Full("DOE,JANE Q".into())]);
        assert_eq!(f.dobs, vec!["19800115"]);
        assert_eq!(f.olns, vec!["000000000"]);
        assert_eq!(f.states, vec!["CO"]);
        assert_eq!(f.records(), 1);
        let two = found("DR.COOLN0000.VTICE0900.*A1.TXT\n1 DOE, JANE Q  DOB/19800115\n2 DOE, JANET  dob: 1981-12-03\n");
        assert_eq!(two.dobs, vec!["19800115", "19811203"]);
        assert_eq!(two.records(), 2);
        // A registered owner is a person too (the release profile writes
        // OWNER: fields of plate responses).
        let rr = found("RR.COLIC0000.VTICE0900.*A1.TXT\nPLATE: ZZZ0001\nOWNER: ROE, ANN   DOB: 01/02/1990\nOWNER OLN: X000-000-0017\n");
        assert!(
            rr.names.contains(&Name::Full("ROE,ANN".into())),
            "{:?}",
            rr.names
        );
        assert_eq!(rr.olns, vec!["X0000000017"]);
    }

    #[test]
    fn niem_parts_text_and_images() {
        let x = r#"<?xml version="1.0"?><n2:NLETS xmlns:n2="http://www.nlets.org/niem/1.0" xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0" xmlns:nc="http://niem.gov/niem/niem-core/2.0"><n2:NLETSMessageHeader><nh2:MessageKeyCodeText>DR</nh2:MessageKeyCodeText><nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID><nh2:DestinationORIID>VTICE0900</nh2:DestinationORIID><nh2:DocumentControlFieldText>A1</nh2:DocumentControlFieldText></n2:NLETSMessageHeader><n2:NLETSResponseData><n2:ResponseText>NAM/DOE,JANE Q.DOB/19800115</n2:ResponseText><n2:Person><nc:PersonName><nc:PersonGivenName>Jane</nc:PersonGivenName><nc:PersonSurName>Doe</nc:PersonSurName></nc:PersonName><nc:PersonBirthDate><nc:Date>1980-01-15</nc:Date></nc:PersonBirthDate></n2:Person><nc:PersonDigitalImage><nc:BinaryBase64Object>AAAA</nc:BinaryBase64Object></nc:PersonDigitalImage></n2:NLETSResponseData></n2:NLETS>"#;
        let f = found(x);
        assert!(f.names.contains(&Name::Full("DOE,JANE Q".into())));
        assert!(f.names.contains(&Name::Parts {
            sur: Some("DOE".into()),
            given: Some("JANE".into()),
            middle: None
        }));
        assert_eq!(f.dobs, vec!["19800115", "19800115"]);
        assert_eq!((f.images, f.person_elements, f.records()), (1, 1, 1));
    }
}
