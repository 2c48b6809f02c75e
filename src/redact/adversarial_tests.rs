//! Adversarial redaction tests: inputs a hostile or sloppy sender could
//! produce, checked against the invariant "a message forwarded to a
//! restricted counterparty carries no trace of a protected value".
//!
//! Every test runs `message::parse` + `redact::redact` with the built-in
//! catalogue and all its fields, and accepts either a refusal (the decision
//! then drops the message) or an output without the planted marker.
//!
//! Tests marked `#[ignore = "LEAK: ..."]` document inputs that are currently
//! forwarded with the protected value still visible (or altered when they
//! should not be); they are kept as executable reproductions.

use super::*;
use crate::message::parse;

/// The planted value. Unique, so any occurrence in the output is a leak.
const M: &str = "ZQLEAK1";

const NS_DECLS: &str = r#"xmlns:n2="http://www.nlets.org/niem/1.0" xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0" xmlns:nc="http://niem.gov/niem/niem-core/2.0" xmlns:x="urn:state:x""#;

const HEADER: &str = "<nh2:MessageKeyCodeText>DR</nh2:MessageKeyCodeText><nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID><nh2:DestinationORIID>VTICE0900</nh2:DestinationORIID><nh2:DocumentControlFieldText>A0TRM0042</nh2:DocumentControlFieldText>";

/// A full XML message: `prolog` before the root, `header_extra` appended to
/// the header, `body` inside `n2:NLETSResponseData`, `epilog` after the root.
fn xml_full(prolog: &str, header_extra: &str, body: &str, epilog: &str) -> Vec<u8> {
    format!(
        "{prolog}<n2:NLETS {NS_DECLS}><n2:NLETSMessageHeader>{HEADER}{header_extra}</n2:NLETSMessageHeader><n2:NLETSResponseData>{body}</n2:NLETSResponseData></n2:NLETS>{epilog}"
    )
    .into_bytes()
}

fn xml(body: &str) -> Vec<u8> {
    xml_full("", "", body, "")
}

/// A legacy output-form DR with the given body bytes.
fn legacy(body: &[u8]) -> Vec<u8> {
    let mut v = b"DR.COOLN0000\r\n10:15 03/04/2025 22890\r\n10:15 03/04/2025 08112 VTICE0900\r\n*A0TRM0042\r\nTXT\r\n".to_vec();
    v.extend_from_slice(body);
    v
}

fn run(raw: Vec<u8>) -> Result<Redacted, RedactError> {
    let cat = Catalogue::builtin();
    let limits = Limits::default();
    let m = parse(Bytes::from(raw), &cat, &limits).map_err(RedactError::Parse)?;
    redact(&m, &cat, cat.all(), &limits)
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// Asserts the message is refused, or forwarded without any of `needles`.
#[track_caller]
fn no_leak_of(raw: Vec<u8>, needles: &[&[u8]]) {
    match run(raw.clone()) {
        Err(e) => println!(
            "refused ({}): {}",
            e.reason(),
            String::from_utf8_lossy(&raw).escape_debug()
        ),
        Ok(r) => {
            let out = String::from_utf8_lossy(&r.bytes).into_owned();
            println!(
                "forwarded (removed {:?}): {}",
                r.removed,
                out.escape_debug()
            );
            for n in needles {
                assert!(
                    !find(&r.bytes, n),
                    "LEAK: {:?} forwarded in {:?}",
                    String::from_utf8_lossy(n),
                    out
                );
            }
        }
    }
}

#[track_caller]
fn no_leak(raw: Vec<u8>) {
    no_leak_of(raw, &[M.as_bytes()]);
}

/// Asserts the message is refused (never forwarded).
#[track_caller]
fn refused(raw: Vec<u8>) -> RedactError {
    match run(raw) {
        Err(e) => {
            println!("refused ({e})");
            e
        }
        Ok(r) => panic!(
            "expected a refusal, got {:?}",
            String::from_utf8_lossy(&r.bytes)
        ),
    }
}

/// Asserts the message is forwarded byte for byte unchanged.
#[track_caller]
fn unchanged(raw: Vec<u8>) {
    match run(raw.clone()) {
        Ok(r) => assert_eq!(
            String::from_utf8_lossy(&r.bytes),
            String::from_utf8_lossy(&raw),
            "altered"
        ),
        Err(e) => panic!("refused ({e}): {:?}", String::from_utf8_lossy(&raw)),
    }
}

// ---------------------------------------------------------------------------
// XML: lexical hiding of text-rule labels (expected to hold).

#[test]
fn xml_cdata_split_inside_label() {
    no_leak(xml(&format!(
        "<n2:ResponseText><![CDATA[PLACE OF ]]><![CDATA[BI]]>RTH: {M}</n2:ResponseText>"
    )));
    no_leak(xml(&format!(
        "<n2:ResponseText><![CDATA[P]]><![CDATA[]]><![CDATA[O]]>B<![CDATA[/]]>{M}</n2:ResponseText>"
    )));
}

#[test]
fn xml_char_refs_everywhere_in_label() {
    no_leak(xml(&format!(
        "<n2:ResponseText>&#x50;&#79;&#x62;&#x2F;{M}</n2:ResponseText>"
    )));
    no_leak(xml(&format!(
        "<n2:ResponseText>&#x50;LACE&#x20;OF&#9;BIRTH&#x3a; {M}</n2:ResponseText>"
    )));
    // A reference to CR/LF between letters (receivers ignore control chars).
    no_leak(xml(&format!(
        "<n2:ResponseText>P&#13;&#10;O&#x9;B /{M}</n2:ResponseText>"
    )));
}

#[test]
fn xml_comment_and_pi_inside_label() {
    no_leak(xml(&format!(
        "<n2:ResponseText>PLA<!-- x -->CE OF BIR<?pi y?>TH {M}</n2:ResponseText>"
    )));
    no_leak(xml(&format!(
        "<n2:ResponseText>P<!---->O<?a?>B<!---->:{M}</n2:ResponseText>"
    )));
}

#[test]
fn xml_mixed_content_split_by_empty_element_is_refused() {
    refused(xml(&format!(
        "<n2:ResponseText>PO<x:b/>B/{M}</n2:ResponseText>"
    )));
}

#[test]
fn xml_removed_element_joins_halves_of_label() {
    // Cutting the protected element glues "PO" and "B/..." into one text node.
    no_leak(xml(&format!(
        "<n2:ResponseText>PO<nc:PersonBirthLocation>X</nc:PersonBirthLocation>B/{M}</n2:ResponseText>"
    )));
    no_leak(xml(&format!(
        "<n2:ResponseText>PLACE OF<nc:Image/>BIRTH {M}</n2:ResponseText>"
    )));
}

#[test]
#[ignore = "KNOWN LIMIT: only consumers that unescape twice would read &amp;#80; as P"]
fn xml_entity_like_text_is_not_expanded_twice() {
    // `&amp;#80;` is the literal text "&#80;", which no terminal shows as P;
    // whatever happens, nothing may leak.
    no_leak(xml(&format!(
        "<n2:ResponseText>&amp;#80;OB/{M}</n2:ResponseText>"
    )));
}

#[test]
fn xml_text_rules_tolerate_case_tabs_and_controls() {
    no_leak(xml(&format!(
        "<n2:ResponseText>pLaCe\tof\r\nbirth {M}</n2:ResponseText>"
    )));
    no_leak(xml(&format!(
        "<n2:ResponseText>birth\u{9}place {M}</n2:ResponseText>"
    )));
    no_leak(xml(&format!(
        "<n2:ResponseText>p o b/{M}</n2:ResponseText>"
    )));
    no_leak(xml(&format!(
        "<n2:ResponseText>POB\r\n/{M}</n2:ResponseText>"
    )));
}

#[test]
fn xml_fullwidth_and_zero_width_are_refused() {
    refused(xml(&format!(
        "<n2:ResponseText>ＰＯＢ/{M}</n2:ResponseText>"
    )));
    refused(xml(&format!("<n2:ResponseText>POB／{M}</n2:ResponseText>")));
    refused(xml(&format!(
        "<n2:ResponseText>P&#x200B;OB/{M}</n2:ResponseText>"
    )));
    refused(xml(&format!(
        "<n2:ResponseText>PLACE OF&#xAD;BIRTH {M}</n2:ResponseText>"
    )));
}

#[test]
fn xml_very_long_run_before_label() {
    let filler = "A".repeat(2 * 1024 * 1024);
    no_leak(xml(&format!(
        "<n2:ResponseText>{filler}.POB/{M}.SEX/F</n2:ResponseText>"
    )));
    let many = format!("POB/{M}.").repeat(20_000);
    no_leak(xml(&format!("<n2:ResponseText>{many}</n2:ResponseText>")));
}

#[test]
fn xml_fixpoint_exhaustion_is_refused_not_forwarded() {
    // Each cut creates a new POB prefix: P P P ... OB/x.OB/x...
    let n = 12;
    let body = format!("{}{}", "P".repeat(n), format!("OB/{M}.").repeat(n));
    no_leak(xml(&format!("<n2:ResponseText>{body}</n2:ResponseText>")));
}

// ---------------------------------------------------------------------------
// XML: attributes.

#[test]
fn xml_attribute_values_are_scanned() {
    refused(xml(&format!(r#"<x:a note="P&#79;B/{M}"/>"#)));
    refused(xml(&format!(r#"<x:a note="PLACE&#10;OF&#9;BIRTH {M}"/>"#)));
    refused(xml(&format!(r#"<x:a x:img="/9j/4AAQ{M}"/>"#)));
    // On a header value element, and on the header itself.
    refused(xml_full(
        "",
        &format!(r#"<nh2:X note="POB/{M}">1</nh2:X>"#),
        "",
        "",
    ));
    let raw = String::from_utf8(xml("")).unwrap().replace(
        "<nh2:MessageKeyCodeText>",
        &format!(r#"<nh2:MessageKeyCodeText note="POB:{M}">"#),
    );
    refused(raw.into_bytes());
    // A namespace declaration's value.
    refused(xml(&format!(r#"<x:a xmlns:z="urn:POB/{M}"/>"#)));
    refused(xml(&format!(r#"<x:a xmlns="urn:PLACE OF BIRTH {M}"/>"#)));
    // xml:* attributes.
    refused(xml(&format!(r#"<x:a xml:lang="POB/{M}"/>"#)));
}

// ---------------------------------------------------------------------------
// XML: namespace tricks on protected elements.

#[test]
fn xml_prefix_rebinding_and_default_namespace() {
    // Prefix nc rebound to a foreign namespace on the element itself.
    no_leak(xml(&format!(
        r#"<nc:PersonBirthLocation xmlns:nc="urn:other">{M}</nc:PersonBirthLocation>"#
    )));
    // Default namespace reset.
    no_leak(xml(&format!(
        r#"<PersonBirthLocation xmlns="">{M}</PersonBirthLocation>"#
    )));
    // Default namespace set to NIEM: an exact match, removed.
    no_leak(xml(&format!(
        r#"<PersonBirthLocation xmlns="http://niem.gov/niem/niem-core/2.0"><LocationCityName>{M}</LocationCityName></PersonBirthLocation>"#
    )));
    // Another prefix bound to NIEM 5.0 on an outer element.
    no_leak(xml(&format!(
        r#"<x:Person xmlns:q="http://release.niem.gov/niem/niem-core/5.0/"><q:PersonDigitalImage><q:BinaryBase64Object>{M}</q:BinaryBase64Object></q:PersonDigitalImage><q:Image>{M}</q:Image></x:Person>"#
    )));
    // NIEM 5.0 written without its trailing slash: a look-alike.
    no_leak(xml(&format!(
        r#"<q:Image xmlns:q="http://release.niem.gov/niem/niem-core/5.0">{M}</q:Image>"#
    )));
    // A namespace URI with a reference in it.
    no_leak(xml(&format!(
        r#"<q:PersonBirthLocation xmlns:q="http://niem.gov/niem/niem-core/2&#x2E;0">{M}</q:PersonBirthLocation>"#
    )));
    // Rebinding nc in the middle of a removed element, then using the
    // outer binding again afterwards.
    no_leak(xml(&format!(
        r#"<nc:PersonBirthLocation><nc:X xmlns:nc="urn:y">a</nc:X></nc:PersonBirthLocation><nc:PersonBirthLocation>{M}</nc:PersonBirthLocation>"#
    )));
    // Case variants of the local name.
    no_leak(xml(&format!("<nc:IMAGE>{M}</nc:IMAGE>")));
    no_leak(xml(&format!(
        "<x:personBirthLocation>{M}</x:personBirthLocation>"
    )));
}

#[test]
fn xml_text_directly_inside_image_outside_binary() {
    no_leak(xml(&format!(
        "<nc:Image>{M}<nc:BinaryBase64Object>QUJD</nc:BinaryBase64Object>POB/{M}</nc:Image>"
    )));
    no_leak(xml(&format!("<nc:Image>/9j/4AAQ{M}</nc:Image>")));
    no_leak(xml(&format!(
        "<nc:BinaryBase64Object>{M}</nc:BinaryBase64Object>"
    )));
    no_leak(xml(
        &format!("<nc:Image/><nc:Image a='1'/>{M}").replace(M, "ok")
    ));
}

#[test]
fn xml_protected_elements_in_header() {
    no_leak(xml_full(
        "",
        &format!(
            "<nc:PersonBirthLocation>{M}</nc:PersonBirthLocation><nh2:Note>PLACE OF BIRTH {M}</nh2:Note><nh2:Note><![CDATA[POB/{M}]]></nh2:Note>"
        ),
        "",
        "",
    ));
    // Text directly in the header element.
    no_leak(xml_full("", &format!("POB/{M}"), "", ""));
    // nh2 value names nested deeper in the header are not exempt.
    no_leak(xml_full(
        "",
        &format!("<nh2:Wrap><nh2:DocumentControlFieldText>POB/{M}</nh2:DocumentControlFieldText></nh2:Wrap>"),
        "",
        "",
    ));
    // nh2 value names in the body are not exempt either.
    no_leak(xml(&format!(
        "<nh2:DocumentControlFieldText>POB/{M}</nh2:DocumentControlFieldText>"
    )));
}

// ---------------------------------------------------------------------------
// XML: document-level tricks.

#[test]
fn xml_doctype_variants_refused() {
    // A bare DOCTYPE (no internal subset, no external identifier) declares
    // nothing a reader could act on: accepted by the parser.
    let bare = xml_full("<!DOCTYPE n2:NLETS>", "", "<x:a>A</x:a>", "");
    assert!(parse(Bytes::from(bare), &Catalogue::builtin(), &Limits::default()).is_ok());
    for prolog in [
        "<!DOCTYPE n2:NLETS [<!ENTITY p \"POB/ZQLEAK1\">]>",
        "<?xml version=\"1.0\"?><!DOCTYPE n2:NLETS SYSTEM \"x.dtd\">",
        "<!doctype n2:NLETS>",
        "<!DocType n2:NLETS>",
    ] {
        let e = refused(xml_full(prolog, "", &format!("<x:a>{M}</x:a>"), ""));
        assert!(matches!(e, RedactError::Parse(_)), "{prolog}: {e:?}");
    }
    // Inside the root.
    refused(xml(&format!("<!DOCTYPE x><x:a>POB/{M}</x:a>")));
}

#[test]
fn xml_bom_and_declaration_variants() {
    let body = format!("<n2:ResponseText>POB/{M}</n2:ResponseText>");
    // One BOM: fine, redacted.
    let mut raw = b"\xEF\xBB\xBF".to_vec();
    raw.extend(xml(&body));
    no_leak(raw);
    // Two BOMs, a BOM after whitespace, a UTF-16 BOM: never forwarded here.
    for pre in [
        &b"\xEF\xBB\xBF\xEF\xBB\xBF"[..],
        b" \xEF\xBB\xBF",
        b"\xFF\xFE",
        b"\xFE\xFF",
    ] {
        let mut raw = pre.to_vec();
        raw.extend(xml(&body));
        refused(raw);
    }
    // Declaration variants.
    for decl in [
        " <?xml version=\"1.0\"?>",
        "<?xml version=\"1.1\"?>",
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>",
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?>",
        "<?xml version=\"1.0\" foo=\"POB/ZQLEAK1\"?>",
    ] {
        no_leak(xml_full(decl, "", &body, ""));
    }
    no_leak(xml_full(
        "<?xml version='1.0' encoding='utf-8'?>\n",
        "",
        &body,
        "",
    ));
    // A second declaration inside the document.
    no_leak(xml(&format!("<?xml version=\"1.0\"?>{body}")));
}

#[test]
fn xml_content_after_root_refused() {
    for epilog in [
        format!("<x:a>POB/{M}</x:a>"),
        format!("POB/{M}"),
        format!("<![CDATA[POB/{M}]]>"),
        "&#80;".to_string(),
        format!("<nc:PersonBirthLocation>{M}</nc:PersonBirthLocation>"),
    ] {
        refused(xml_full("", "", "", &epilog));
    }
}

#[test]
fn xml_control_characters_refused() {
    // C0 controls (other than TAB/LF/CR) inside a label are not XML 1.0.
    refused(xml(&format!(
        "<n2:ResponseText>P\x07OB/{M}</n2:ResponseText>"
    )));
    refused(xml(&format!(
        "<n2:ResponseText>P&#7;OB/{M}</n2:ResponseText>"
    )));
    // DEL is a legal XML char and a control: treated as ignorable.
    no_leak(xml(&format!(
        "<n2:ResponseText>P\x7fO&#x7F;B/{M}</n2:ResponseText>"
    )));
}

#[test]
fn leak_xml_comment_in_body() {
    no_leak(xml(&format!(
        "<n2:ResponseText>NAM/DOE<!-- POB/{M} --></n2:ResponseText>"
    )));
}

#[test]
fn leak_xml_commented_out_element() {
    no_leak(xml(&format!(
        "<!-- <nc:PersonDigitalImage><nc:BinaryBase64Object>/9j/4AAQSkZJRg{M}</nc:BinaryBase64Object></nc:PersonDigitalImage> -->"
    )));
}

#[test]
fn leak_xml_comment_outside_root() {
    no_leak(xml_full(
        &format!("<!-- PLACE OF BIRTH: {M} -->"),
        "",
        "",
        "",
    ));
    no_leak(xml_full("", "", "", &format!("<!-- POB/{M} -->")));
}

#[test]
fn leak_xml_processing_instruction() {
    no_leak(xml(&format!("<?note PLACE OF BIRTH {M}?>")));
}

#[test]
fn leak_xml_comment_in_header_value() {
    let raw = String::from_utf8(xml("")).unwrap().replace(
        "<nh2:DocumentControlFieldText>A0TRM0042",
        &format!("<nh2:DocumentControlFieldText>A0TRM0042<!-- POB/{M} -->"),
    );
    no_leak(raw.into_bytes());
}

#[test]
fn leak_xml_declaration_standalone_value() {
    no_leak(xml_full(
        "<?xml version=\"1.0\" standalone=\"POB/ZQLEAK1\"?>",
        "",
        "",
        "",
    ));
    no_leak(xml_full(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"/9j/4AAQSkZJRgZQLEAK1\"?>",
        "",
        "",
        "",
    ));
}

// ---------------------------------------------------------------------------
// XML: protected data under names the catalogue does not know.

#[test]
fn leak_pob_in_extension_element() {
    no_leak(xml(&format!("<x:PlaceOfBirth>{M}</x:PlaceOfBirth>")));
    no_leak(xml(&format!("<x:POB>{M}</x:POB>")));
    no_leak(xml(&format!(
        "<x:BirthPlace><x:City>{M}</x:City></x:BirthPlace>"
    )));
}

#[test]
fn leak_pob_in_attribute_name() {
    no_leak(xml(&format!(r#"<x:Person pob="{M}"/>"#)));
    no_leak(xml(&format!(r#"<x:Person x:placeOfBirth="{M}"/>"#)));
}

#[test]
fn leak_embedded_xml_in_text() {
    no_leak(xml(&format!(
        "<n2:ResponseText><![CDATA[<nc:PersonBirthLocation><nc:LocationCityName>{M}</nc:LocationCityName></nc:PersonBirthLocation>]]></n2:ResponseText>"
    )));
    no_leak(xml(&format!(
        "<n2:ResponseText>&lt;x:POB&gt;{M}&lt;/x:POB&gt;</n2:ResponseText>"
    )));
}

#[test]
fn leak_json_style_pob_key() {
    no_leak(xml(&format!(
        r#"<n2:ResponseText>{{"name":"DOE","pob":"{M}"}}</n2:ResponseText>"#
    )));
    no_leak(legacy(format!(r#"{{"POB" : "{M}"}}"#).as_bytes()));
}

#[test]
fn leak_hex_encoded_jpeg() {
    no_leak(xml(&format!(
        "<x:Photo>FFD8FFE000104A46494600010101{M}</x:Photo>"
    )));
}

// ---------------------------------------------------------------------------
// XML and legacy: Unicode spacing, invisible characters and homoglyphs.

#[test]
fn leak_nbsp_in_labels_xml() {
    no_leak(xml(&format!(
        "<n2:ResponseText>PLACE&#160;OF&#160;BIRTH: {M}</n2:ResponseText>"
    )));
    no_leak(xml(&format!(
        "<n2:ResponseText>POB\u{a0}/{M}</n2:ResponseText>"
    )));
}

#[test]
fn leak_nbsp_in_labels_legacy() {
    no_leak(legacy(format!("NAM/DOE.POB\u{a0}/{M}.SEX/F").as_bytes()));
    no_leak(legacy(b"NAM/DOE\r\nPLACE\xA0OF\xA0BIRTH: ZQLEAK1\r\n"));
}

#[test]
fn leak_unicode_spaces_in_labels() {
    no_leak(xml(&format!(
        "<n2:ResponseText>PLACE\u{2002}OF\u{2002}BIRTH {M}</n2:ResponseText>"
    )));
    no_leak(xml(&format!(
        "<n2:ResponseText>BIRTH\u{3000}PLACE {M}</n2:ResponseText>"
    )));
    no_leak(legacy(format!("POB\u{202f}: {M}").as_bytes()));
}

#[test]
fn leak_invisible_characters() {
    for ch in ['\u{2066}', '\u{180e}', '\u{34f}', '\u{fe0f}', '\u{2061}'] {
        no_leak(xml(&format!(
            "<n2:ResponseText>P{ch}OB/{M}</n2:ResponseText>"
        )));
    }
}

#[test]
fn leak_homoglyph_labels() {
    no_leak(xml(&format!("<n2:ResponseText>РОВ/{M}</n2:ResponseText>")));
    no_leak(legacy(format!("NAM/DOE.ΡΟΒ/{M}.SEX/F").as_bytes()));
}

#[test]
fn leak_c1_control_in_label() {
    no_leak(xml(&format!(
        "<n2:ResponseText>P&#x85;OB/{M}</n2:ResponseText>"
    )));
    no_leak(legacy(format!("P\u{85}OB/{M}").as_bytes()));
}

#[test]
fn leak_terminal_escape_sequences_legacy() {
    no_leak(legacy(
        format!("NAM/DOE.P\x1b[1mOB\x1b[0m/{M}.SEX/F").as_bytes(),
    ));
    no_leak(legacy(format!("NAM/DOE.POX\x08B/{M}.SEX/F").as_bytes()));
}

// ---------------------------------------------------------------------------
// Label spelling variants a sloppy state system produces.

#[test]
fn leak_punctuated_labels() {
    no_leak(legacy(format!("PLACE-OF-BIRTH: {M}\r\n").as_bytes()));
    no_leak(legacy(format!("PLACE_OF_BIRTH: {M}\r\n").as_bytes()));
    no_leak(xml(&format!(
        "<n2:ResponseText>Birth-Place: {M}</n2:ResponseText>"
    )));
}

#[test]
fn leak_abbreviated_and_separator_variants() {
    no_leak(legacy(format!("NAM/DOE.P.O.B./{M}.SEX/F").as_bytes()));
    no_leak(legacy(format!("NAM/DOE POB - {M} SEX/F").as_bytes()));
    no_leak(legacy(format!("NAM/DOE POB={M} SEX/F").as_bytes()));
}

// ---------------------------------------------------------------------------
// Values that survive the cut.

#[test]
#[ignore = "KNOWN LIMIT: a value hard-wrapped mid-word onto the next line leaves its continuation"]
fn leak_value_wrapped_to_next_line() {
    no_leak(legacy(format!("SEX/F.POB/\r\n{M}.OLN/1").as_bytes()));
    no_leak(legacy(format!("PLACE OF BIRTH:\r\n{M}\r\n").as_bytes()));
    // Hard wrap in the middle of the value (80-column output).
    no_leak_of(
        legacy(b"SEX/F.POB/MEXICO CI\r\nTY ZQLEAK1.OLN/1"),
        &[b"ZQLEAK1"],
    );
}

#[test]
#[ignore = "KNOWN LIMIT: columnar layouts (labels on one line, values on the next) are not understood; the value row stays"]
fn leak_columnar_layout() {
    no_leak(legacy(
        format!("SEX   PLACE OF BIRTH   HGT\r\nF     {M}         507\r\n").as_bytes(),
    ));
}

#[test]
fn leak_value_ended_early_by_period() {
    no_leak(legacy(format!("SEX/M.POB/ST.LOUIS/{M}.OLN/1").as_bytes()));
    no_leak(xml(&format!(
        "<n2:ResponseText>POB/ST.PAUL/{M}</n2:ResponseText>"
    )));
}

#[test]
fn leak_value_in_next_element() {
    no_leak(xml(&format!(
        "<n2:ResponseText>PLACE OF BIRTH: <x:v>{M}</x:v></n2:ResponseText>"
    )));
    no_leak(xml(&format!(
        "<n2:ResponseText>POB/<x:br/>{M}</n2:ResponseText>"
    )));
}

#[test]
fn leak_label_split_across_nested_elements() {
    no_leak(xml(&format!(
        "<n2:ResponseText>PO<x:b>B/{M}</x:b></n2:ResponseText>"
    )));
}

// ---------------------------------------------------------------------------
// Photos that the markers miss.

/// Base64 of a JPEG starting FF D8 FF DB (no JFIF/Exif APP segment).
const JPEG_DQT: &str = "/9j/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL";
/// Base64 of a JPEG 2000 (JP2) file signature box.
const JP2: &str = "AAAADGpQICAgDQqHCgAAABRmdHlwanAyIAAAAABqcDIgAAAALWpwMmhAAAAFmloZHIAAAIAAAABgAADBwcAAAAAAA9jb2xyAQAAAAAAEQ";

#[test]
fn photo_markers_still_refused_in_free_text() {
    refused(xml(&format!("<x:Photo>/9j/4AAQSkZJRgABAQ{M}</x:Photo>")));
    refused(xml(&format!(
        "<x:Photo>iVBORw0KGgoAAAANSUhEUg{M}</x:Photo>"
    )));
    refused(xml(&format!("<x:Photo>&#x2F;9j&#x2F;4AAQ{M}</x:Photo>")));
    refused(xml(&format!(
        "<x:Photo><![CDATA[/9j]]><![CDATA[/4AAQ{M}]]></x:Photo>"
    )));
    refused(legacy(format!("IMG/ /9j/4AAQSkZJRg{M}").as_bytes()));
}

#[test]
fn leak_jpeg_without_app0_marker() {
    no_leak(xml(&format!("<x:Photo>{JPEG_DQT}{M}</x:Photo>")));
    no_leak(legacy(format!("IMG/{JPEG_DQT}{M}").as_bytes()));
    no_leak(xml(&format!(
        "<x:Photo>/9j/7gAOQWRvYmUAZAAAAAAB{M}</x:Photo>"
    )));
}

#[test]
fn leak_jpeg2000_photo() {
    no_leak(xml(&format!("<x:Photo>{JP2}{M}</x:Photo>")));
    no_leak(xml(&format!("<x:Photo>/0//UQAvAAAAAAB{M}</x:Photo>")));
}

#[test]
fn leak_marker_broken_by_whitespace() {
    no_leak(xml(&format!("<x:Photo>/9j/\n4AAQSkZJRgABAQ{M}</x:Photo>")));
    no_leak(xml(&format!("<x:Photo>/9j/ 4AAQSkZJRgABAQ{M}</x:Photo>")));
    no_leak(xml(&format!(
        "<x:Photo>iVBORw0K\r\nGgoAAAANSUhEUg{M}</x:Photo>"
    )));
    no_leak(legacy(format!("IMG/\r\n/9j\r\n/4AAQSkZJRg{M}").as_bytes()));
}

#[test]
fn leak_urlsafe_base64_photo() {
    no_leak(xml(&format!("<x:Photo>_9j_4AAQSkZJRgABAQ{M}</x:Photo>")));
}

#[test]
fn photo_marker_split_by_comment_is_refused() {
    refused(xml(&format!("<x:Photo>/9j/<!-- -->4AAQ{M}</x:Photo>")));
}

// ---------------------------------------------------------------------------
// Legacy bodies.

#[test]
fn legacy_pob_variants_removed() {
    for body in [
        format!("NAM/DOE.POB/{M}.SEX/F"),
        format!("NAM/DOE.pob/{M}.SEX/F"),
        format!("NAM/DOE.PoB :{M}.SEX/F"),
        format!("NAM/DOE.POB : {M}.SEX/F"),
        format!("NAM/DOE.P\rO\nB/{M}.SEX/F"),
        format!("NAM/DOE.P\r\nOB/{M}.SEX/F"),
        format!("NAM/DOE.P\x7fO\x7fB\x7f/{M}.SEX/F"),
        format!("NAM/DOE.P\x00O\x1bB\t/{M}.SEX/F"),
        format!("NAM/DOE.POB\r\n/{M}.SEX/F"),
        format!("NAM/DOE.P O B/{M}.SEX/F"),
        format!("NAM/DOE\r\nplace\r\nof\r\nbirth {M}"),
        format!("NAM/DOE\r\nPLACE OF\x7fBIRTH {M}"),
        format!("NAM/DOE\r\nBIRTHPLACE{M}"),
        format!("NAM/DOE.POB/{M}"),
        format!("POB/{M}.POB/{M}.POB/{M}"),
        format!("NAM/DOE.ＰＯＢ/{M}"),
        format!("NAM/DOE.P\u{200b}OB/{M}"),
        format!("NAM/DOE.POB/ST. {M} MO.SEX/F"),
        format!("TXT\r\nPOB/{M}"),
    ] {
        no_leak(legacy(body.as_bytes()));
    }
}

#[test]
fn legacy_control_field_and_header_forms() {
    // The first "TXT" in the header is the verifier's start; POB after the
    // real TXT is still found.
    let raw = format!("DR.COOLN0000.VTICE0900.*TXTAB.TXT\r\nPOB/{M}");
    no_leak(raw.into_bytes());
    let raw = format!("DR.COOLN0000.VTICE0900.TXT POB/{M}");
    no_leak(raw.into_bytes());
}

#[test]
fn leak_legacy_body_with_embedded_xml() {
    no_leak(legacy(
        format!("<nc:PersonBirthLocation><nc:LocationCityName>{M}</nc:LocationCityName></nc:PersonBirthLocation>").as_bytes(),
    ));
}

#[test]
#[ignore = "BY DESIGN: the control field is the requester's own terminal address, echoed unchanged; it carries no record data"]
fn leak_control_field_holds_pob() {
    let raw = String::from_utf8(xml("")).unwrap().replace(
        "<nh2:DocumentControlFieldText>A0TRM0042",
        "<nh2:DocumentControlFieldText>POB/ZQLEAK",
    );
    no_leak_of(raw.into_bytes(), &[b"ZQLEAK"]);
}

// ---------------------------------------------------------------------------
// Messages that must pass unchanged.

#[test]
fn clean_messages_pass_unchanged() {
    unchanged(xml(
        "<n2:ResponseText>NAM/DOE.SEX/F.POBOX 12</n2:ResponseText>",
    ));
    unchanged(xml(
        "<n2:ResponseText><![CDATA[NAM/DOE <b>]]>&amp;<!-- c --></n2:ResponseText>",
    ));
    unchanged(xml_full(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!-- hello -->",
        "<nh2:Note>x</nh2:Note>",
        "<x:a b=\"c\"/>",
        "\r\n<!-- bye -->\r\n",
    ));
    unchanged(legacy(b"NAM/DOE,JANE.DOB/19800115.SEX/F\r\nPO BOX 12\r\n"));
    unchanged(legacy("JOSÉ PÉREZ ÑANDÚ\r\n".as_bytes()));
    // Control field that looks like a POB field is a header value.
    let raw = String::from_utf8(xml("")).unwrap().replace(
        "<nh2:DocumentControlFieldText>A0TRM0042",
        "<nh2:DocumentControlFieldText>POB/X",
    );
    unchanged(raw.into_bytes());
}

#[test]
fn alteration_base64_attachment_with_pob_substring() {
    let b64 = "JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZURlY29kZT4+CnN0cmVhbQp4nDPQM1Qo5ypUMFAwALJMLUwVDIpSy1Pob/7A1H";
    // Never altered: passed unchanged, or (the verifier sees "POB/" once
    // punctuation is ignored) refused and not forwarded.
    let raw = xml(&format!("<x:Attachment>{b64}</x:Attachment>"));
    let cat = Catalogue::builtin();
    let m = parse(Bytes::from(raw.clone()), &cat, &Limits::default()).unwrap();
    if let Ok(r) = redact(&m, &cat, cat.all(), &Limits::default()) {
        assert_eq!(&r.bytes[..], &raw[..], "altered");
    }
}
