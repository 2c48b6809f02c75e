//! Findings of a hostile review of the re-emitting projection and its
//! routing (2026-12-07), each kept as a test of its fix: a lapsed agency
//! named second, a court-order photo carrying text, two identity-attribute
//! layout channels, a second header after an unusual line break, a date
//! field carrying an SSN. Synthetic data only.

mod common;

use base64::Engine;
use bytes::Bytes;
use origuard::decision::ledger::{Ledger, MemoryStore};
use origuard::decision::{decide_in, Context, Decision, Outcome};
use origuard::message::{Direction, Limits};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn policy() -> origuard::policy::Policy {
    origuard::runtime::policy_store::load_path(&common::example_policy()).unwrap()
}

/// Decides `queries` (inbound, must be forwarded) then `msg` in one ledger
/// under policy `p`, now.
fn run(p: &origuard::policy::Policy, queries: &[&[u8]], dir: Direction, msg: &[u8]) -> Decision {
    run_at(p, queries, dir, msg, std::time::SystemTime::now())
}

/// The same at time `now`.
fn run_at(
    p: &origuard::policy::Policy,
    queries: &[&[u8]],
    dir: Direction,
    msg: &[u8],
    now: std::time::SystemTime,
) -> Decision {
    let ledger = Ledger::new(
        Some(std::sync::Arc::new(MemoryStore::default())),
        p.court_order_window,
        now,
    );
    let cx = Context {
        now,
        ledger: Some(&ledger),
    };
    let limits = Limits::default();
    for q in queries {
        let d = decide_in(
            Direction::Inbound,
            Bytes::copy_from_slice(q),
            p,
            &limits,
            &cx,
        );
        assert!(
            matches!(d.outcome, Outcome::Forward(_)),
            "query not forwarded: {} {:?}",
            d.reason,
            d.detail
        );
    }
    decide_in(dir, Bytes::copy_from_slice(msg), p, &limits, &cx)
}

fn show(d: &Decision) -> String {
    match &d.outcome {
        Outcome::Forward(b) => format!(
            "FORWARD {} {:?}\n{}",
            d.reason,
            d.detail,
            String::from_utf8_lossy(b).escape_debug()
        ),
        Outcome::Deny { reply } => format!(
            "DENY {} {:?} reply={:?}",
            d.reason,
            d.detail,
            reply
                .as_ref()
                .map(|r| String::from_utf8_lossy(r).to_string())
        ),
        Outcome::Drop => format!("DROP {} {:?}", d.reason, d.detail),
    }
}

fn forwarded(d: &Decision) -> Option<&[u8]> {
    match &d.outcome {
        Outcome::Forward(b) => Some(b),
        _ => None,
    }
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn unb64(s: &str) -> Vec<u8> {
    let compact: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Finding 1: a lapsed certification was applied to the chosen counterparty
// only. With two destinations, the one whose certification lapsed (to
// `deny`) received the released record when it was not named first. Now
// every destination is judged at the decision's time (`verdict_at`).

fn at_2031() -> std::time::SystemTime {
    // 2031-06-01T00:00:00Z: after the example certification of
    // `federal_redact` (expires 2030-12-31, lapse = "deny").
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_938_124_800)
}

const DR_BODY: &str = "\r\nDOE, JANE Q  DOB/19800115  SEX/F\r\nOLN/123456789  STATUS/VALID  EXP/20290115\r\nEND OF RECORD";

/// DCFBI0000 (list `federal_redact`, certification lapsed to deny) alone,
/// named first, and named second after a 287(g) partner (no
/// certification): denied each time.
#[test]
fn a_lapsed_agency_is_denied_wherever_it_is_named() {
    let p = policy();
    for dests in ["DCFBI0000", "DCFBI0000,FLSO00100", "FLSO00100,DCFBI0000"] {
        let msg = format!("DR.COOLN0000.{dests}.TXT{DR_BODY}");
        let d = run_at(&p, &[], Direction::Outbound, msg.as_bytes(), at_2031());
        assert!(forwarded(&d).is_none(), "{dests}: {}", show(&d));
    }
    // Before the lapse the same routing is released (redacted).
    let d = run(
        &p,
        &[],
        Direction::Outbound,
        format!("DR.COOLN0000.FLSO00100,DCFBI0000.TXT{DR_BODY}").as_bytes(),
    );
    assert!(forwarded(&d).is_some(), "{}", show(&d));
}

// ---------------------------------------------------------------------------
// Finding 2: a released image (`text = "base64"`) was checked for its first
// bytes only, so a JPEG comment, EXIF/APPn metadata or bytes after the end
// of the image carried anything. Now the image is decoded whole and its
// structure walked (`redact::image`).

/// The example policy with one court order for VTICE0900 about DOE, JANE Q
/// born 1980-01-15, releasing the photo with `court-order-photo`.
fn court_policy(dir: &Path) -> origuard::policy::Policy {
    let path = common::orders::policy_with_orders(
        dir,
        &common::orders::order("HOSTILE-ORDER", "VTICE0900", 10),
    );
    origuard::runtime::policy_store::load_path(&path).unwrap()
}

fn court_response(image: &[u8]) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<n2:NLETS xmlns:n2="http://www.nlets.org/niem/1.0" xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0" xmlns:nc="http://niem.gov/niem/niem-core/2.0" n2:version="4.00">
  <n2:NLETSMessageHeader>
    <nh2:MessageKeyCodeText>DR</nh2:MessageKeyCodeText>
    <nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID>
    <nh2:DestinationORIID>VTICE0900</nh2:DestinationORIID>
    <nh2:DocumentControlFieldText>HR01</nh2:DocumentControlFieldText>
  </n2:NLETSMessageHeader>
  <n2:NLETSResponseData>
    <n2:Person>
      <nc:PersonName><nc:PersonFullName>DOE, JANE Q</nc:PersonFullName></nc:PersonName>
      <nc:PersonBirthDate><nc:Date>1980-01-15</nc:Date></nc:PersonBirthDate>
      <nc:PersonSexCode>F</nc:PersonSexCode>
    </n2:Person>
    <nc:PersonDigitalImage><nc:BinaryBase64Object>{}</nc:BinaryBase64Object></nc:PersonDigitalImage>
  </n2:NLETSResponseData>
</n2:NLETS>
"#,
        b64(image)
    )
}

/// Decides the order query, then `response`, in one court-order ledger
/// (warmed up for one window, as the leak suite does).
fn under_order(response: &[u8]) -> Decision {
    let tmp = tempfile::tempdir().unwrap();
    let p = court_policy(tmp.path());
    let now = std::time::SystemTime::now();
    let ledger = Ledger::new(
        Some(std::sync::Arc::new(MemoryStore::default())),
        p.court_order_window,
        now - p.court_order_window - std::time::Duration::from_secs(60),
    );
    let cx = Context {
        now,
        ledger: Some(&ledger),
    };
    let limits = Limits::default();
    let q = decide_in(
        Direction::Inbound,
        Bytes::from_static(b"DQ.VTICE0900.CO.*HR01.TXT\r\nNAM/DOE, JANE Q.DOB/19800115"),
        &p,
        &limits,
        &cx,
    );
    assert!(
        matches!(q.outcome, Outcome::Forward(_)),
        "order query: {} {:?}",
        q.reason,
        q.detail
    );
    decide_in(
        Direction::Outbound,
        Bytes::copy_from_slice(response),
        &p,
        &limits,
        &cx,
    )
}

/// A real (synthetic, flat grey) JPEG.
fn jpeg() -> Vec<u8> {
    std::fs::read(root().join("testdata/images/gray-1x1.jpg")).unwrap()
}

/// The same JPEG with a comment segment after its JFIF segment.
fn jpeg_with_comment(comment: &[u8]) -> Vec<u8> {
    let j = jpeg();
    let mut out = j[..20].to_vec();
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&((comment.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(comment);
    out.extend_from_slice(&j[20..]);
    out
}

fn released_image(out: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(out);
    let a = s
        .find("BinaryBase64Object>")
        .map(|i| i + "BinaryBase64Object>".len());
    match a {
        Some(a) => {
            let e = s[a..].find('<').map_or(s.len(), |e| a + e);
            unb64(&s[a..e])
        }
        None => Vec::new(),
    }
}

/// Neither the output nor the image in it holds `canary`.
fn no_canary(d: &Decision, canary: &[u8]) {
    if let Some(out) = forwarded(d) {
        let img = released_image(out);
        for (what, b) in [("the output", out), ("the released image", &img[..])] {
            assert!(
                !b.windows(canary.len()).any(|w| w == canary),
                "{what} carries {:?} ({})",
                String::from_utf8_lossy(canary),
                d.reason
            );
        }
    }
}

/// Control: the clean photo is released under the order, byte for byte.
#[test]
fn a_clean_court_order_photo_is_released_intact() {
    let d = under_order(court_response(&jpeg()).as_bytes());
    let out = forwarded(&d).unwrap_or_else(|| panic!("{}", show(&d)));
    assert_eq!(d.reason.name(), "court_order_release");
    assert_eq!(released_image(out), jpeg());
}

#[test]
fn a_court_order_photo_with_a_comment_is_not_released() {
    let canary = b"POB/CIUDAD JUAREZ MX SSN/123-45-6789";
    let d = under_order(court_response(&jpeg_with_comment(canary)).as_bytes());
    no_canary(&d, canary);
    if let Some(out) = forwarded(&d) {
        assert!(released_image(out).is_empty(), "the photo is removed");
    }
}

/// The same with no image at all: text after the three magic bytes.
#[test]
fn text_behind_an_image_magic_is_not_a_photo() {
    let mut fake = vec![0xFF, 0xD8, 0xFF];
    fake.extend_from_slice(b" PLACE OF BIRTH: CIUDAD JUAREZ, CHIHUAHUA, MX");
    let d = under_order(court_response(&fake).as_bytes());
    no_canary(&d, b"CIUDAD JUARE");
}

// ---------------------------------------------------------------------------
// Finding 3: the NIEM `structures` namespace of an identity attribute was
// the input's choice (five URIs, NIEM 2.0 to 6.0), written back as is, and
// an `id` nothing refers to was written: two layout channels (log2(5) bits
// per identity attribute, one bit per kept element). Now identity
// attributes are written in one spelling and namespace, and only when
// something kept points at them.

fn xml_dr(person_attrs: &str, extra_ns: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<n2:NLETS xmlns:n2="http://www.nlets.org/niem/1.0" xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0" xmlns:nc="http://niem.gov/niem/niem-core/2.0" {extra_ns} n2:version="4.00">
  <n2:NLETSMessageHeader>
    <nh2:MessageKeyCodeText>DR</nh2:MessageKeyCodeText>
    <nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID>
    <nh2:DestinationORIID>VADEADX00</nh2:DestinationORIID>
  </n2:NLETSMessageHeader>
  <n2:NLETSResponseData>
    <n2:Person{person_attrs}>
      <nc:PersonName><nc:PersonFullName>DOE, JANE Q</nc:PersonFullName></nc:PersonName>
      <nc:PersonBirthDate><nc:Date>1980-01-15</nc:Date></nc:PersonBirthDate>
    </n2:Person>
  </n2:NLETSResponseData>
</n2:NLETS>
"#
    )
}

fn out_of(d: &Decision) -> Vec<u8> {
    forwarded(d).map(<[u8]>::to_vec).unwrap_or_default()
}

/// Two inputs that differ only in layout are released, identically.
fn same_output(a: &str, b: &str, why: &str) {
    let p = policy();
    let (a, b) = (
        run(&p, &[], Direction::Outbound, a.as_bytes()),
        run(&p, &[], Direction::Outbound, b.as_bytes()),
    );
    let (oa, ob) = (out_of(&a), out_of(&b));
    assert!(
        !oa.is_empty() && !ob.is_empty(),
        "{}\n{}",
        show(&a),
        show(&b)
    );
    assert_eq!(
        String::from_utf8_lossy(&oa),
        String::from_utf8_lossy(&ob),
        "{why}"
    );
}

#[test]
fn the_structures_release_is_not_the_inputs_choice() {
    same_output(
        &xml_dr(
            r#" s:id="P1""#,
            r#"xmlns:s="http://niem.gov/niem/structures/2.0""#,
        ),
        &xml_dr(
            r#" s:id="P1""#,
            r#"xmlns:s="http://release.niem.gov/niem/structures/4.0/""#,
        ),
        "the same values, one identity attribute spelled in another NIEM structures release",
    );
}

#[test]
fn an_identifier_nothing_points_at_is_not_written() {
    same_output(
        &xml_dr("", ""),
        &xml_dr(r#" id="P1""#, ""),
        "the same values; an id nothing refers to must not be written (one bit per kept element)",
    );
}

/// Control: an identifier a kept reference points at is written, renamed,
/// in structures 2.0 whatever release the input used, and `xml:id` /
/// `xlink:href` are written the same way as `s:id` / `s:ref`.
#[test]
fn a_referenced_identifier_is_written_in_one_spelling() {
    let p = policy();
    let assoc = |id_attr: &str, ref_attr: &str, ns: &str| {
        xml_dr(&format!(" {id_attr}=\"P1\""), ns).replace(
            "  </n2:NLETSResponseData>",
            &format!("    <n2:PersonDriverAssociation><nc:PersonReference {ref_attr}=\"P1\"/></n2:PersonDriverAssociation>\n  </n2:NLETSResponseData>"),
        )
    };
    let outs: Vec<String> = [
        assoc(
            "s:id",
            "s:ref",
            r#"xmlns:s="http://niem.gov/niem/structures/2.0""#,
        ),
        assoc(
            "s:id",
            "s:ref",
            r#"xmlns:s="http://release.niem.gov/niem/structures/4.0/""#,
        ),
        assoc(
            "xml:id",
            "xl:href",
            r#"xmlns:xl="http://www.w3.org/1999/xlink""#,
        )
        .replace("xl:href=\"P1\"", "xl:href=\"#P1\""),
    ]
    .iter()
    .map(|m| {
        let d = run(&p, &[], Direction::Outbound, m.as_bytes());
        String::from_utf8_lossy(&out_of(&d)).to_string()
    })
    .collect();
    assert!(outs[0].contains(r#"<n2:Person s:id="R1">"#), "{}", outs[0]);
    assert!(
        outs[0].contains(r#"<nc:PersonReference s:ref="R1"/>"#),
        "{}",
        outs[0]
    );
    assert!(
        outs[0].contains(r#"xmlns:s="http://niem.gov/niem/structures/2.0""#),
        "{}",
        outs[0]
    );
    assert_eq!(outs[0], outs[1], "structures 2.0 and 4.0");
    assert_eq!(outs[0], outs[2], "s:id/s:ref and xml:id/xlink:href");
}

// ---------------------------------------------------------------------------
// Finding 4 (defence in depth, unrestricted path): `legacy::check_body`
// refused a second message header at the start of a body line, but split
// lines at CR and LF only. A header after a form feed, vertical tab, NEL
// (U+0085) or LINE SEPARATOR (U+2028), which Unicode treats as mandatory
// line breaks (UAX #14), was not seen: the message, addressed to an
// unlisted ORI, passed unchanged with a complete header to a deny-listed
// agency (DCHSI0000) inside it. Now every such break splits lines.

#[test]
fn second_header_after_crlf_is_refused() {
    let p = policy();
    let d = run(
        &p,
        &[],
        Direction::Outbound,
        b"DR.COOLN0000.NY0000000.TXT\r\nNAM/DOE\r\nDR.COOLN0000.DCHSI0000.TXT\r\nPOB/MEXICO",
    );
    assert!(forwarded(&d).is_none(), "{}", show(&d));
}

#[test]
fn a_second_header_after_any_line_break_is_refused() {
    let p = policy();
    let mut leaked = Vec::new();
    for (name, brk) in [
        ("FF", &b"\x0c"[..]),
        ("VT", b"\x0b"),
        ("NEL", b"\xc2\x85"),
        ("LS", b"\xe2\x80\xa8"),
        ("PS", b"\xe2\x80\xa9"),
    ] {
        let mut m = b"DR.COOLN0000.NY0000000.TXT\r\nNAM/DOE".to_vec();
        m.extend_from_slice(brk);
        m.extend_from_slice(b"DR.COOLN0000.DCHSI0000.TXT\r\nPOB/MEXICO");
        let d = run(&p, &[], Direction::Outbound, &m);
        if forwarded(&d).is_some() {
            leaked.push(name);
        }
    }
    assert!(
        leaked.is_empty(),
        "a second header after {leaked:?} is forwarded (after CR LF it is refused)"
    );
}

// ---------------------------------------------------------------------------
// Finding 5 (example policy, not code): the date fields of `colorado-dmv`
// had the class `date` (0-9 / -) and no pattern, so an undashed SSN passed
// as a date of birth, a 10-digit number as an issue date. Now they have a
// pattern: eight digits, or day, month and year with / or -.

#[test]
fn an_undashed_ssn_is_not_a_date() {
    let p = policy();
    let d = run(
        &p,
        &[],
        Direction::Outbound,
        b"DR.COOLN0000.VADEADX00.TXT\r\nDOE, JANE Q  DOB/123456789  SEX/F\r\nISS/1234567890",
    );
    let out = String::from_utf8_lossy(&out_of(&d)).to_string();
    assert!(
        !out.contains("123456789"),
        "a 9-digit number released as a date: {out:?}"
    );
}
