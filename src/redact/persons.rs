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

use super::legacy::{boundary_label, value_end};
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

impl Found {
    /// How many people the response seems to hold: the most of distinct
    /// dates of birth, licence numbers, whole names, `Person` elements and
    /// images.
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
        let full: Vec<&Name> = self
            .names
            .iter()
            .filter(|n| matches!(n, Name::Full(_)))
            .collect();
        [
            distinct(&self.dobs),
            distinct(&self.olns),
            distinct(&full),
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

/// Labels that carry an identifier, upper-cased.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Label {
    Name,
    Dob,
    Oln,
    State,
}

fn label_of(word: &[u8]) -> Option<Label> {
    let w: Vec<u8> = word
        .iter()
        .filter(|b| !b.is_ascii_whitespace())
        .map(u8::to_ascii_uppercase)
        .collect();
    match &w[..] {
        b"NAM" | b"NAME" => Some(Label::Name),
        b"DOB" => Some(Label::Dob),
        b"OLN" => Some(Label::Oln),
        b"OLS" => Some(Label::State),
        _ => None,
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_string()
}

/// Legacy text: label fields anywhere, the leading name of a line with a
/// date of birth.
fn scan_text(body: &[u8], f: &mut Found) {
    for line in body.split(|&b| b == b'\n' || b == b'\r') {
        let mut has_dob = false;
        let mut i = 0;
        while i < line.len() {
            let at_word = i == 0 || !line[i - 1].is_ascii_alphanumeric();
            if at_word {
                if let Some(sep) = boundary_label(line, i) {
                    if let Some(l) = label_of(&line[i..sep]) {
                        let start = sep + 1;
                        let (end, _) = value_end(line, start);
                        let v = text(&line[start..end]);
                        match l {
                            Label::Name => f.names.push(Name::Full(normalise_name(&v))),
                            Label::Dob => {
                                has_dob = true;
                                f.dobs.push(normalise_date(&v));
                            }
                            Label::Oln => f.olns.push(normalise_oln(&v)),
                            Label::State => f.states.push(v.to_ascii_uppercase()),
                        }
                        i = end.max(start);
                        continue;
                    }
                }
            }
            i += 1;
        }
        if has_dob {
            // The unlabelled value leading the line (`DOE, JANE Q   DOB/...`).
            let s = line
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(line.len());
            if s < line.len() && boundary_label(line, s).is_none() {
                let (e, _) = value_end(line, s);
                let v = text(&line[s..e]);
                if v.contains(',') {
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
    for n in doc.descendants() {
        if n.is_text() {
            if let Some(s) = n.text() {
                scan_text(s.as_bytes(), f);
            }
            continue;
        }
        if !n.is_element() {
            continue;
        }
        let local = n.tag_name().name();
        let own_text = || {
            n.children()
                .filter(|c| c.is_text())
                .filter_map(|c| c.text())
                .collect::<String>()
        };
        match local {
            "Person" => f.person_elements += 1,
            "BinaryBase64Object" => f.images += 1,
            "PersonName" => f.names.push(xml_name(n)),
            "PersonBirthDate" => {
                let d = n
                    .descendants()
                    .filter(|c| c.is_text())
                    .filter_map(|c| c.text())
                    .collect::<String>();
                f.dobs.push(normalise_date(d.trim()));
            }
            "IdentificationID" => {
                let in_licence = n
                    .ancestors()
                    .skip(1)
                    .any(|a| a.tag_name().name().starts_with("DriverLicense"));
                if in_licence {
                    f.olns.push(normalise_oln(&own_text()));
                }
            }
            _ if local.starts_with("IdentificationJurisdiction")
                && n.ancestors()
                    .skip(1)
                    .any(|a| a.tag_name().name().starts_with("DriverLicense")) =>
            {
                let s = own_text();
                if !s.trim().is_empty() {
                    f.states.push(s.trim().to_ascii_uppercase());
                }
            }
            _ => {}
        }
    }
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
    if let Some(full) = part("PersonFullName") {
        return Name::Full(full);
    }
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
