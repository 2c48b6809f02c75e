//! Redaction tests: fixtures, hostile inputs and property tests.

use super::*;
use crate::message::fields::FieldId;
use crate::message::fields::{PHOTO, POB};
use crate::message::{parse, ErrorCode};
use proptest::prelude::*;

fn fixture(name: &str) -> Bytes {
    let p = format!("{}/testdata/messages/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}")))
}

fn both() -> FieldSet {
    let mut s = FieldSet::EMPTY;
    s.insert(PHOTO);
    s.insert(POB);
    s
}

fn only(f: FieldId) -> FieldSet {
    let mut s = FieldSet::EMPTY;
    s.insert(f);
    s
}

fn run(raw: Bytes, fields: FieldSet) -> Result<Redacted, RedactError> {
    let cat = Catalogue::builtin();
    let m = parse(raw, &cat, &Limits::default()).map_err(RedactError::Parse)?;
    redact(&m, &cat, fields, &Limits::default())
}

fn contains(hay: &[u8], needle: &str) -> bool {
    memchr::memmem::find(hay, needle.as_bytes()).is_some()
}

#[test]
fn photo_response_loses_photo_and_pob_keeps_rest() {
    let raw = fixture("xml/dr_photo.xml");
    let r = run(raw.clone(), both()).unwrap();
    assert_eq!(r.removed, both());
    let out = &r.bytes[..];
    assert!(!contains(out, "PersonDigitalImage"));
    assert!(!contains(out, "BinaryBase64Object"));
    assert!(!contains(out, "PersonBirthLocation"));
    assert!(!contains(out, "POB/"));
    assert!(!contains(out, "/9j/"));
    // Header and control field intact, byte for byte.
    let hdr_end = memchr::memmem::find(&raw, b"</n2:NLETSMessageHeader>").unwrap();
    assert_eq!(&out[..hdr_end], &raw[..hdr_end]);
    assert!(contains(out, "<![CDATA[A0TRM0042]]>"));
    assert!(contains(out, "END OF RECORD"));
    assert!(contains(out, "<nc:PersonSurName>DOE</nc:PersonSurName>"));
    assert!(roxmltree::Document::parse(std::str::from_utf8(out).unwrap()).is_ok());
    // Much smaller than the input: the photo was most of it.
    assert!(out.len() * 10 < raw.len());
}

#[test]
fn untouched_bytes_are_identical() {
    // Removing spans only: output == input with exactly those spans cut.
    let raw = fixture("xml/dr_photo.xml");
    let r = run(raw.clone(), only(PHOTO)).unwrap();
    let s = memchr::memmem::find(&raw, b"<nc:PersonDigitalImage>").unwrap();
    let e = memchr::memmem::find(&raw, b"</nc:PersonDigitalImage>").unwrap()
        + "</nc:PersonDigitalImage>".len();
    let mut expect = raw[..s].to_vec();
    expect.extend_from_slice(&raw[e..]);
    assert_eq!(&r.bytes[..], &expect[..]);
}

#[test]
fn nothing_to_remove_gives_same_bytes() {
    for name in [
        "xml/dr_not_on_file.xml",
        "xml/dq.xml",
        "legacy/dr_no_pob.txt",
        "legacy/dq_input.txt",
    ] {
        let raw = fixture(name);
        let r = run(raw.clone(), both()).unwrap();
        assert_eq!(r.bytes.as_ptr(), raw.as_ptr(), "{name} was copied");
        assert!(r.removed.is_empty());
    }
}

#[test]
fn legacy_pob_removed() {
    let r = run(fixture("legacy/dr_output.txt"), both()).unwrap();
    let s = std::str::from_utf8(&r.bytes).unwrap();
    assert!(
        !s.contains("POB/") && !s.contains("PLACE OF BIRTH") && !s.contains("EXAMPLE CITY"),
        "{s}"
    );
    assert!(s.starts_with("DR.COOLN0000\r\n10:15 03/04/2025 22890\r\n10:15 03/04/2025 08112 AZNLETS20\r\n*A0TRM0042\r\nTXT"));
    assert!(
        s.contains("NAM/DOE,JANE Q.DOB/19800115.SEX/F.OLN/000000000"),
        "{s}"
    );
    let r = run(fixture("legacy/dr_pob_controls.txt"), only(POB)).unwrap();
    assert!(!contains(&r.bytes, "/MX"));
    let r = run(fixture("legacy/dr_input.txt"), only(POB)).unwrap();
    assert!(!contains(&r.bytes, "POB") && contains(&r.bytes, "ADDR/123"));
}

#[test]
fn other_prefixes_and_default_namespaces() {
    let raw = fixture("xml/dr_default_ns.xml");
    let r = run(raw, both()).unwrap();
    let s = std::str::from_utf8(&r.bytes).unwrap();
    assert!(
        !s.contains("PersonDigitalImage") && !s.contains("BinaryBase64Object"),
        "{s}"
    );
    assert!(!s.contains("<PersonBirthLocation"), "{s}");
    // Elements of other namespaces that are not protected stay.
    assert!(s.contains("NOT A NIEM ELEMENT"), "{s}");
}

#[test]
fn lexical_hiding_is_seen_through() {
    let r = run(fixture("xml/dr_hidden_pob.xml"), only(POB)).unwrap();
    let s = std::str::from_utf8(&r.bytes).unwrap();
    assert!(!s.contains("/MX"), "{s}");
    assert!(!s.contains("&#80;") && !s.contains("&#x50;LACE"), "{s}");
    assert!(s.contains("NAM/ROE &amp; CO.\nSEX/M"), "{s}");
    assert_eq!(s.matches("SEX/M").count(), 4, "{s}");
}

#[test]
fn refusals() {
    let e = run(fixture("hostile/lookalike_case.xml"), only(POB)).unwrap_err();
    assert_eq!(e.reason(), "redact_lookalike");
    // The protected local name bound to a foreign namespace: neither NIEM's
    // element nor safely ignorable on a restricted path.
    let e = run(fixture("hostile/foreign_ns_lookalike.xml"), only(POB)).unwrap_err();
    assert_eq!(e.reason(), "redact_lookalike");
    let e = run(fixture("hostile/pob_in_attribute.xml"), only(POB)).unwrap_err();
    assert_eq!(e.reason(), "redact_in_attribute");
    let e = run(fixture("hostile/photo_in_freetext.xml"), only(PHOTO)).unwrap_err();
    assert_eq!(e.reason(), "redact_marker");
    // Not asked to remove the photo: the look-alike POB does not matter.
    assert!(run(fixture("hostile/lookalike_case.xml"), only(PHOTO)).is_ok());
}

#[test]
fn hostile_inputs_are_parse_errors() {
    let cases = [
        ("hostile/billion_laughs.xml", ErrorCode::XmlDtd),
        ("hostile/xxe.xml", ErrorCode::XmlDtd),
        ("hostile/unknown_entity.xml", ErrorCode::XmlEntity),
        ("hostile/deep.xml", ErrorCode::XmlLimit),
        ("hostile/many_attributes.xml", ErrorCode::XmlLimit),
        ("hostile/undeclared_prefix.xml", ErrorCode::XmlNamespace),
        ("hostile/trailing.xml", ErrorCode::XmlStructure),
        ("hostile/two_roots.xml", ErrorCode::XmlStructure),
        ("hostile/dup_header.xml", ErrorCode::XmlStructure),
        ("hostile/dup_ori.xml", ErrorCode::XmlHeader),
        ("hostile/utf16.xml", ErrorCode::Encoding),
        ("hostile/overlong_utf8.xml", ErrorCode::Encoding),
        ("hostile/nul.xml", ErrorCode::Encoding),
        ("hostile/xml11.xml", ErrorCode::XmlNamespace),
        ("hostile/not_nlets_root.xml", ErrorCode::XmlStructure),
        ("hostile/unclosed.xml", ErrorCode::XmlSyntax),
        ("hostile/legacy_bad_ori.txt", ErrorCode::LegacyHeader),
        ("hostile/legacy_long_control.txt", ErrorCode::LegacyHeader),
        ("hostile/legacy_no_txt.txt", ErrorCode::LegacyHeader),
        ("hostile/binary_garbage.bin", ErrorCode::LegacyHeader),
    ];
    for (name, code) in cases {
        match run(fixture(name), both()) {
            Err(RedactError::Parse(p)) => assert_eq!(p.code, code, "{name}: {p}"),
            other => panic!("{name}: expected {code:?}, got {other:?}"),
        }
    }
}

#[test]
fn verifier_catches_what_first_pass_leaves() {
    let cat = Catalogue::builtin();
    // Spaced-out prefix: the redactor's field rule does not match, the
    // stricter verifier does, so the message is refused rather than leaked.
    let raw = Bytes::from_static(b"DR.COOLN0000.VTICE0900.TXT\nNAM/X.P O B/MX.SEX/M");
    let m = parse(raw, &cat, &Limits::default()).unwrap();
    assert_eq!(
        redact(&m, &cat, only(POB), &Limits::default())
            .unwrap_err()
            .reason(),
        "verifier_found"
    );
    // Mixed content split by an element: the verifier joins it.
    assert!(verify::check(b"<a>PO<b/>B/MX</a>", Format::Xml, &cat, only(POB)).is_err());
    assert!(verify::check(b"<a><!DOCTYPE x></a>", Format::Xml, &cat, only(POB)).is_err());
    assert!(verify::check(b"<a>fine</a>", Format::Xml, &cat, only(POB)).is_ok());
}

// ---------------------------------------------------------------------------
// Property tests.

const MARK: &str = "ZQXMARK";

/// Builds an XML response with a marker in every protected field, using the
/// given prefix style for the NIEM-core namespace and a hiding style for the
/// free-text POB.
fn planted_xml(prefix_style: u8, hide: u8, filler: &str) -> String {
    let (open_nc, p) = match prefix_style % 3 {
        0 => ("", "nc:"),
        1 => (r#" xmlns:q="http://niem.gov/niem/niem-core/2.0""#, "q:"),
        _ => ("", ""),
    };
    let dflt = if prefix_style % 3 == 2 {
        r#" xmlns="http://niem.gov/niem/niem-core/2.0""#
    } else {
        ""
    };
    let pob_text = match hide % 5 {
        0 => format!("<![CDATA[NAM/DOE.POB/{MARK}.SEX/F]]>"),
        1 => format!("NAM/DOE.&#80;OB/{MARK}.SEX/F"),
        2 => format!("NAM/DOE.PO<!-- c -->B/{MARK}.SEX/F"),
        3 => format!("<![CDATA[NAM/DOE.P]]><![CDATA[OB/{MARK}.SEX/F]]>"),
        _ => format!("NAM/DOE\nplace of\x09birth {MARK}\nSEX/F"),
    };
    format!(
        r#"<n2:NLETS xmlns:n2="http://www.nlets.org/niem/1.0" xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0" xmlns:nc="http://niem.gov/niem/niem-core/2.0"{open_nc}><n2:NLETSMessageHeader><nh2:MessageKeyCodeText>DR</nh2:MessageKeyCodeText><nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID><nh2:DestinationORIID>VTICE0900</nh2:DestinationORIID><nh2:DocumentControlFieldText><![CDATA[A0TRM0042]]></nh2:DocumentControlFieldText></n2:NLETSMessageHeader><n2:NLETSResponseData><n2:ResponseText>{pob_text}</n2:ResponseText><n2:Keep>{filler}</n2:Keep><n2:Person{dflt}><{p}PersonBirthLocation><{p}AddressFullText>{MARK}</{p}AddressFullText></{p}PersonBirthLocation><{p}PersonDigitalImage><{p}BinaryBase64Object>{MARK}/9j/4AAQ</{p}BinaryBase64Object></{p}PersonDigitalImage><{p}Image><{p}BinaryBase64Object>{MARK}</{p}BinaryBase64Object></{p}Image></n2:Person><{p}BinaryBase64Object{dflt}>{MARK}</{p}BinaryBase64Object></n2:NLETSResponseData></n2:NLETS>"#
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn planted_markers_never_survive(style in 0u8..3, hide in 0u8..5, filler in "[A-Z0-9 ,]{0,40}") {
        let raw = Bytes::from(planted_xml(style, hide, &filler));
        let r = run(raw, both()).unwrap();
        prop_assert!(!contains(&r.bytes, MARK), "{}", String::from_utf8_lossy(&r.bytes));
        prop_assert!(contains(&r.bytes, &filler));
        prop_assert!(contains(&r.bytes, "<![CDATA[A0TRM0042]]>"));
        // Idempotent.
        let again = run(r.bytes.clone(), both()).unwrap();
        prop_assert_eq!(&again.bytes[..], &r.bytes[..]);
    }

    #[test]
    fn legacy_markers_never_survive(
        pre in "[A-Z]{3}/[A-Z0-9 ]{0,12}",
        noise in proptest::collection::vec(prop_oneof![Just(""), Just("\x07"), Just("\r\n"), Just("\x7f"), Just(" ")], 3),
        lower in any::<bool>(),
        sep in prop_oneof![Just('/'), Just(':')],
    ) {
        prop_assume!(!pre.contains("POB") && !pre.to_uppercase().contains("BIRTH"));
        let p = if lower { "p" } else { "P" };
        let body = format!("{pre}.{p}{}O{}B{}{sep}{MARK}.SEX/F", noise[0], noise[1], noise[2]);
        let raw = Bytes::from(format!("DR.COOLN0000.VTICE0900.TXT\r\n{body}"));
        match run(raw, only(POB)) {
            Ok(r) => {
                prop_assert!(!contains(&r.bytes, MARK), "{:?}", String::from_utf8_lossy(&r.bytes));
                prop_assert!(contains(&r.bytes, &pre));
            }
            Err(e) => prop_assert_eq!(e.reason(), "verifier_found"),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = run(Bytes::from(data), both());
    }

    #[test]
    fn mutated_fixture_never_panics_or_leaks(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut raw = fixture("xml/dr_freetext.xml").to_vec();
        let i = pos.index(raw.len());
        raw[i] = byte;
        let pob_intact = contains(&raw, "POB/MX");
        let label_intact = contains(&raw, "PLACE OF BIRTH: EXAMPLE CITY");
        if let Ok(r) = run(Bytes::from(raw), both()) {
            if pob_intact {
                prop_assert!(!contains(&r.bytes, "POB/MX"));
            }
            if label_intact {
                prop_assert!(!contains(&r.bytes, "EXAMPLE CITY"));
            }
        }
    }
}

fn envelope(header_extra: &str, body: &str) -> Bytes {
    Bytes::from(format!(
        r#"<n2:NLETS xmlns:n2="http://www.nlets.org/niem/1.0" xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0" xmlns:nc="http://niem.gov/niem/niem-core/2.0"><n2:NLETSMessageHeader><nh2:MessageKeyCodeText>DR</nh2:MessageKeyCodeText><nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID><nh2:DestinationORIID>VTICE0900</nh2:DestinationORIID><nh2:DocumentControlFieldText>POB/X</nh2:DocumentControlFieldText>{header_extra}</n2:NLETSMessageHeader><n2:NLETSResponseData>{body}</n2:NLETSResponseData></n2:NLETS>"#
    ))
}

#[test]
fn header_is_not_a_hiding_place() {
    // A photo or POB text smuggled into the header is removed like anywhere
    // else; the header's own values (even a control field that looks like a
    // POB field) pass unchanged.
    let raw = envelope(
        "<nc:PersonDigitalImage><nc:BinaryBase64Object>QUJD</nc:BinaryBase64Object></nc:PersonDigitalImage><nh2:Note>POB/MX</nh2:Note>",
        "",
    );
    let r = run(raw, both()).unwrap();
    let s = std::str::from_utf8(&r.bytes).unwrap();
    assert!(
        !s.contains("PersonDigitalImage") && !s.contains("POB/MX"),
        "{s}"
    );
    assert!(
        s.contains("<nh2:DocumentControlFieldText>POB/X</nh2:DocumentControlFieldText>"),
        "{s}"
    );
}

#[test]
fn kept_photo_does_not_shelter_pob_text() {
    // Only POB is removed; the photo stays, but POB text in the photo's
    // description is still found (only the base64 data itself is exempt).
    let raw = envelope(
        "",
        "<nc:Image><nc:BinaryBase64Object>UE9CL01Y</nc:BinaryBase64Object><nc:BinaryDescriptionText>POB/MX</nc:BinaryDescriptionText></nc:Image>",
    );
    let r = run(raw, only(POB)).unwrap();
    let s = std::str::from_utf8(&r.bytes).unwrap();
    assert!(s.contains("UE9CL01Y") && !s.contains("POB/MX"), "{s}");
}

#[test]
fn non_characters_and_empty_header_values_refused() {
    for (body, code) in [
        ("<x>&#xFFFE;</x>", ErrorCode::Encoding),
        (r#"<x a="&#1;"/>"#, ErrorCode::Encoding),
    ] {
        match run(envelope("", body), both()) {
            Err(RedactError::Parse(p)) => assert_eq!(p.code, code, "{body}"),
            other => panic!("{body}: {other:?}"),
        }
    }
    let raw = Bytes::from(std::str::from_utf8(&envelope("", "")).unwrap().replace(
        "<nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID>",
        "<nh2:OriginatingORIID> </nh2:OriginatingORIID>",
    ));
    match run(raw, both()) {
        Err(RedactError::Parse(p)) => assert_eq!(p.code, ErrorCode::XmlHeader),
        other => panic!("{other:?}"),
    }
}

/// A control field that is not letters and digits is refused by the
/// projection itself, not only by `release_all`: written again it would not
/// read back the same (found by the `projection_fixed_point` fuzz target: a
/// CDATA control field holding `&`).
#[test]
fn projection_refuses_a_control_field_it_could_not_write_back() {
    let raw = include_bytes!("../../fuzz/seeds/projection_fixed_point/regression-cdata-control");
    let cat = Catalogue::builtin();
    let m = parse(
        Bytes::from_static(raw),
        &cat,
        &crate::message::Limits::default(),
    )
    .unwrap();
    assert_eq!(
        m.control.map(|c| c.to_string()).as_deref(),
        Some("BX0&03Q9")
    );
    let p = profile::Profile::builtin();
    assert_eq!(
        project_once(&m, &p),
        Err(RedactError::Projection(xml::XmlRefusal::Header))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A value a release profile writes in canonical form reads, to the
    /// person reader, as the input's value did: a court order's subject
    /// check on the input holds for the output (the fuzz target
    /// `court_order_response` found `JANE .Q` and its canonical `JANE.Q`
    /// read as two names).
    #[test]
    fn a_canonical_value_reads_as_the_value_did(v in "[A-Za-z .,'\t-]{0,30}") {
        use crate::message::query::normalise_name;
        let p = profile::Profile::builtin();
        let rules = p.legacy.fields.iter().map(|f| &f.value).chain(p.legacy.leading.as_ref());
        let mut c = Vec::new();
        for rule in rules {
            if rule.canonical(v.as_bytes(), &mut c) {
                let c = std::str::from_utf8(&c).unwrap();
                prop_assert_eq!(normalise_name(c), normalise_name(&v), "{:?} → {:?}", v, c);
            }
        }
    }
}
