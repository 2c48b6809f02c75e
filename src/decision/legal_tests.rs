//! Legal process in the decision: court-order exceptions (a query in, its
//! response out), reason-code rules, certifications, key scope.

use super::ledger::{Ledger, MemoryStore};

/// A ledger over counts in memory, started long ago (no warm-up).
fn mem() -> Ledger {
    Ledger::new(
        Some(std::sync::Arc::new(MemoryStore::default())),
        std::time::Duration::from_secs(600),
        SystemTime::UNIX_EPOCH,
    )
}
use super::*;
use crate::message::fields::{PHOTO, POB};
use crate::policy::file::{load_at, Refused};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

fn at(s: &str) -> SystemTime {
    humantime::parse_rfc3339(s).unwrap()
}

fn now() -> SystemTime {
    at("2026-12-01T12:00:00Z")
}

const EXCEPTION: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/orders/warrant.toml"
));

fn load_with(extra: &str, exceptions: &str) -> Result<Policy, Refused> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/policy");
    let base = std::fs::read_to_string(format!("{dir}/colorado.toml")).unwrap();
    let text = base.replace(
        "response_window = \"10m\"",
        "response_window = \"10m\"\nfile = \"orders.toml\"",
    ) + extra;
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    files.insert(format!("{dir}/colorado.toml"), text.into_bytes());
    files.insert(format!("{dir}/orders.toml"), exceptions.as_bytes().to_vec());
    load_at(
        &format!("{dir}/colorado.toml"),
        &mut |p: &str| match files.get(p) {
            Some(b) => Ok(b.clone()),
            None => std::fs::read(p),
        },
        now(),
    )
}

fn policy() -> Policy {
    load_with("", EXCEPTION).unwrap_or_else(|e| panic!("{e}"))
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/testdata/messages/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn dq(ori: &str, control: &str, body: &str) -> Bytes {
    Bytes::from(format!("DQ.{ori}.CO.*{control}.TXT\n{body}"))
}

/// The photo DR fixture, answering `control`, to `ori`.
fn dr_photo(ori: &str, control: &str) -> Bytes {
    let s = fixture("xml/dr_photo.xml")
        .replace(
            "<nh2:DestinationORIID>AZNLETS20",
            &format!("<nh2:DestinationORIID>{ori}"),
        )
        .replace("A0TRM0042", control);
    Bytes::from(s)
}

fn run(p: &Policy, l: &Ledger, dir: Direction, raw: Bytes, t: SystemTime) -> Decision {
    decide_in(
        dir,
        raw,
        p,
        &Limits::default(),
        &Context {
            now: t,
            ledger: Some(l),
        },
    )
}

fn text(d: &Decision) -> String {
    match &d.outcome {
        Outcome::Forward(b) => String::from_utf8_lossy(b).into_owned(),
        o => panic!("not forwarded: {o:?} ({:?} {:?})", d.reason, d.detail),
    }
}

#[test]
fn court_order_query_in_and_its_response_out() {
    let p = policy();
    let l = mem();
    let q = dq(
        "VTICE0900",
        "A1",
        "RSN/V.NAM/DOE, JANE Q.DOB/19800115.SEX/F.IMQ/Y",
    );
    let d = run(&p, &l, Direction::Inbound, q.clone(), now());
    assert_eq!(
        (d.category, d.reason),
        (Category::Passed, Reason::CourtOrder)
    );
    assert_eq!(
        text(&d).as_bytes(),
        &q[..],
        "the query is forwarded byte for byte"
    );
    let u = d.exception.clone().unwrap();
    assert_eq!((&*u.id, u.number, u.of), ("2026-CR-0042", 1, 2));
    assert_eq!(d.reason_code, Some(b'V'));
    assert!(d.is_restricted(), "audited before it is forwarded");

    // Its response: the photo is released, place of birth is not.
    let r = run(
        &p,
        &l,
        Direction::Outbound,
        dr_photo("VTICE0900", "A1"),
        now() + Duration::from_secs(5),
    );
    assert_eq!(
        (r.category, r.reason),
        (Category::Redacted, Reason::CourtOrderRelease)
    );
    assert_eq!(r.exception.as_ref().map(|u| u.number), Some(1));
    let out = text(&r);
    assert!(
        out.contains("BinaryBase64Object") && out.contains("/9j/4AAQ"),
        "{out}"
    );
    assert!(!out.contains("MEXICO") && !out.contains("POB/"), "{out}");
    assert!(r.removed.contains(POB) && !r.removed.contains(PHOTO));

    // A second response to the same query is the list's: declined.
    let r2 = run(
        &p,
        &l,
        Direction::Outbound,
        dr_photo("VTICE0900", "A1"),
        now(),
    );
    assert_eq!(r2.category, Category::Denied);
    assert!(r2.exception.is_none());
}

#[test]
fn anything_but_the_exact_subject_keeps_the_deny() {
    let p = policy();
    let l = mem();
    for (ori, ctl, body) in [
        // Another person, or the same name with another date of birth.
        ("VTICE0900", "B1", "NAM/DOE, JOHN.DOB/19800115"),
        ("VTICE0900", "B2", "NAM/DOE, JANE Q.DOB/19800116"),
        // The subject plus someone else's licence number.
        (
            "VTICE0900",
            "B3",
            "NAM/DOE, JANE Q.DOB/19800115.OLN/999999999",
        ),
        // Fields read twice, or unknown text beside them.
        (
            "VTICE0900",
            "B4",
            "NAM/DOE, JANE Q.NAM/ROE, RICHARD.DOB/19800115",
        ),
        ("VTICE0900", "B5", "NAM/DOE, JANE Q.DOB/19800115.XYZ/1"),
        // A 6-digit date of birth has no century.
        ("VTICE0900", "B6", "NAM/DOE, JANE Q.DOB/011580"),
        // Another ORI of the same agency: an order names one ORI.
        ("VTICE0901", "B7", "NAM/DOE, JANE Q.DOB/19800115"),
    ] {
        let d = run(&p, &l, Direction::Inbound, dq(ori, ctl, body), now());
        assert_eq!(d.category, Category::Denied, "{ori} {body}");
        assert!(d.exception.is_none(), "{body}");
    }
    // Without a control field the response could not be correlated.
    let d = run(
        &p,
        &l,
        Direction::Inbound,
        Bytes::from("DQ.VTICE0900.CO.TXT\nNAM/DOE, JANE Q.DOB/19800115"),
        now(),
    );
    assert_eq!(d.category, Category::Denied);
    assert!(
        l.counts().unwrap().is_empty(),
        "no use was spent on any of them"
    );
}

#[test]
fn an_order_is_bounded_in_uses_time_and_window() {
    let p = policy();
    let l = mem();
    let q = |c: &str| dq("VTICE0900", c, "NAM/DOE, JANE Q.DOB/19800115");
    assert_eq!(
        run(&p, &l, Direction::Inbound, q("C1"), now()).reason,
        Reason::CourtOrder
    );
    assert_eq!(
        run(&p, &l, Direction::Inbound, q("C2"), now()).reason,
        Reason::CourtOrder
    );
    // Used up.
    let d = run(&p, &l, Direction::Inbound, q("C3"), now());
    assert_eq!((d.category, d.reason), (Category::Denied, Reason::Deny));
    // Expired or not yet valid: nothing, even with uses left.
    let l2 = mem();
    for t in [at("2027-01-01T00:00:00Z"), at("2026-11-19T23:59:59Z")] {
        let d = run(&p, &l2, Direction::Inbound, q("C4"), t);
        assert_eq!(d.category, Category::Denied);
    }
    // A response after the window gets the list's action.
    let r = run(
        &p,
        &l,
        Direction::Outbound,
        dr_photo("VTICE0900", "C1"),
        now() + Duration::from_secs(601),
    );
    assert_eq!(r.category, Category::Denied);
    // Without a ledger (offline tools that do not track uses): no exception.
    let d = decide_in(
        Direction::Inbound,
        q("C5"),
        &p,
        &Limits::default(),
        &Context {
            now: now(),
            ledger: None,
        },
    );
    assert_eq!(d.category, Category::Denied);
}

#[test]
fn an_order_releasing_nothing_is_the_list_action() {
    let ex = EXCEPTION.replace("release = [\"photo\"]", "release = []");
    let p = load_with("", &ex).unwrap();
    let l = mem();
    let d = run(
        &p,
        &l,
        Direction::Inbound,
        dq("VTICE0900", "D1", "NAM/DOE, JANE Q.DOB/19800115"),
        now(),
    );
    assert_eq!(d.reason, Reason::CourtOrder);
    let r = run(
        &p,
        &l,
        Direction::Outbound,
        dr_photo("VTICE0900", "D1"),
        now(),
    );
    assert_eq!(r.category, Category::Denied, "deny list: declined");
    assert_eq!(r.exception.as_ref().map(|u| &*u.id), Some("2026-CR-0042"));
}

#[test]
fn xml_query_matches_by_name_and_date() {
    let p = policy();
    let l = mem();
    let q = fixture("xml/dq_from_ice.xml");
    let d = run(&p, &l, Direction::Inbound, Bytes::from(q.clone()), now());
    // The fixture names JANE DOE born 1980-01-15 without the middle initial.
    assert_eq!(d.category, Category::Denied, "{q}");
    let q = q.replace(
        "<nc:PersonGivenName>JANE</nc:PersonGivenName>",
        "<nc:PersonGivenName>JANE</nc:PersonGivenName><nc:PersonMiddleName>Q</nc:PersonMiddleName>",
    );
    let d = run(&p, &l, Direction::Inbound, Bytes::from(q), now());
    assert_eq!(d.reason, Reason::CourtOrder, "{:?}", d.detail);
}

#[test]
fn policy_check_refuses_orders_without_evidence() {
    let cases = [
        (
            "judicial = true",
            "judicial = false",
            "administrative subpoena does not",
        ),
        (
            "approved_by = [\"First Approver\", \"Second Approver\"]",
            "approved_by = [\"First Approver\", \"first  approver\"]",
            "named twice",
        ),
        (
            "approved_by = [\"First Approver\", \"Second Approver\"]",
            "approved_by = [\"First Approver\"]",
            "two distinct people",
        ),
        (
            "judge = \"Hon. A. Example\", ",
            "",
            "authority.judge is required",
        ),
        ("ori = \"VTICE0900\"", "ori = \"VTICE*\"", "one exact ORI"),
        // The id and the case are printed, audited and counted.
        (
            "id = \"2026-CR-0042\"",
            "id = \"2026-CR-0042-doe\"",
            "id names the subject",
        ),
        (
            "id = \"2026-CR-0042\"",
            "id = \"2026-CR-19800115\"",
            "id names the subject",
        ),
        (
            "case = \"1:26-cr-00042\"",
            "case = \"United States v. Doe, 1:26-cr-00042\"",
            "authority.case names the subject",
        ),
        (
            "profile = \"court-order-photo\"",
            "profile = \"colorado-dmv\"",
            "names no element or label",
        ),
        (
            "expires = \"2026-12-31T23:59:59Z\"",
            "expires = \"2026-11-01T00:00:00Z\"",
            "not after not_before",
        ),
    ];
    for (from, to, want) in cases {
        assert!(EXCEPTION.contains(from), "{from}");
        let e = load_with("", &EXCEPTION.replace(from, to)).unwrap_err();
        assert!(
            e.errors
                .iter()
                .any(|d| d.message.contains(want) && d.file.ends_with("orders.toml") && d.line > 0),
            "{want}: {e}"
        );
    }
    // Expiring within 7 days: a warning.
    let soon = EXCEPTION.replace("2026-12-31T23:59:59Z", "2026-12-05T00:00:00Z");
    let p = load_with("", &soon).unwrap();
    assert!(
        p.warnings
            .iter()
            .any(|w| w.message.contains("expires in 3 day(s)")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn reason_code_rules() {
    let p = policy();
    let l = mem();
    // partners_287g requires a reason code.
    let d = run(
        &p,
        &l,
        Direction::Inbound,
        dq("FLSO00100", "F1", "NAM/DOE, JANE Q.DOB/19800115"),
        now(),
    );
    assert_eq!(
        (d.category, d.reason),
        (Category::Denied, Reason::ReasonRequired)
    );
    assert!(matches!(d.outcome, Outcome::Deny { reply: Some(_) }));
    let d = run(
        &p,
        &l,
        Direction::Inbound,
        dq("FLSO00100", "F2", "RSN/V.NAM/DOE, JANE Q.DOB/19800115"),
        now(),
    );
    assert_eq!((d.category, d.reason_code), (Category::Passed, Some(b'V')));
    // A listed reason code is denied.
    let p = load_with("", EXCEPTION).unwrap();
    let mut p2 = p.clone();
    let i = p2
        .lists
        .iter()
        .position(|x| x.name == "partners_287g")
        .unwrap();
    p2.lists[i].deny_reasons = vec![b'I'];
    let d = run(
        &p2,
        &l,
        Direction::Inbound,
        dq("FLSO00100", "F3", "RSN/I.OLN/123"),
        now(),
    );
    assert_eq!(
        (d.category, d.reason),
        (Category::Denied, Reason::ReasonDenied)
    );
    // An unreadable reason (twice) is no reason.
    let d = run(
        &p2,
        &l,
        Direction::Inbound,
        dq("FLSO00100", "F4", "RSN/V.RSN/N.OLN/123"),
        now(),
    );
    assert_eq!(d.reason, Reason::ReasonRequired);
    // Other agencies: the code is recorded, nothing else changes.
    let d = run(
        &p,
        &l,
        Direction::Inbound,
        dq("AZNLETS20", "F5", "RSN/N.OLN/123"),
        now(),
    );
    assert_eq!((d.category, d.reason_code), (Category::Passed, Some(b'N')));
}

#[test]
fn a_lapsed_certification_switches_the_action() {
    let p = policy();
    let l = mem();
    let dr = || {
        Bytes::from(fixture("xml/dr_photo.xml").replace(
            "<nh2:DestinationORIID>AZNLETS20",
            "<nh2:DestinationORIID>VADEADX00",
        ))
    };
    // The agency asked (a response carries only a control field it sent).
    run(
        &p,
        &l,
        Direction::Inbound,
        dq("VADEADX00", "A0TRM0042", "OLN/000000000"),
        now(),
    );
    let d = run(&p, &l, Direction::Outbound, dr(), now());
    assert_eq!(d.category, Category::Redacted);
    let d = run(
        &p,
        &l,
        Direction::Outbound,
        dr(),
        at("2031-01-01T00:00:00Z"),
    );
    assert_eq!(
        (d.category, d.detail),
        (Category::Denied, Some("certification_lapsed"))
    );
}

#[test]
fn key_scope_of_a_list() {
    let p = load_with(
        "\n[[list]]\nname = \"ssn_only\"\naction = \"deny\"\nentries = [\"NYDHS0000\"]\nkeys = [\"DQ\", \"DR\"]\n",
        EXCEPTION,
    )
    .unwrap();
    let l = mem();
    let d = run(
        &p,
        &l,
        Direction::Inbound,
        dq("NYDHS0000", "G1", "OLN/1"),
        now(),
    );
    assert_eq!(d.category, Category::Denied);
    let d = run(
        &p,
        &l,
        Direction::Inbound,
        Bytes::from("RQ.NYDHS0000.CO.*G2.TXT\nLIC/ABC123"),
        now(),
    );
    assert_eq!((d.category, d.reason), (Category::Passed, Reason::Exempt));
    // Unknown keys stay governed.
    let d = run(
        &p,
        &l,
        Direction::Inbound,
        Bytes::from("ZZQ.NYDHS0000.CO.*G3.TXT\nX/1"),
        now(),
    );
    assert_eq!(d.category, Category::Denied);
}

#[test]
fn ssn_is_a_builtin_field() {
    let p = policy();
    let l = mem();
    let dr = Bytes::from(
        "DR.COOLN0000.FLSO00100.*H1.TXT\nDOE, JANE Q   DOB/19800115  SEX/F\nOLN/000000000  SOC/000-00-0000  STATUS/VALID\n",
    );
    let q = run(
        &p,
        &l,
        Direction::Inbound,
        dq("FLSO00100", "H1", "RSN/V.OLN/000000000"),
        now(),
    );
    assert_eq!(q.category, Category::Passed, "{:?}", q.detail);
    let d = run(&p, &l, Direction::Outbound, dr, now());
    let out = text(&d);
    assert!(
        !out.contains("SOC/") && !out.contains("000-00-0000"),
        "{out}"
    );
    assert!(out.contains("OLN/000000000"), "{out}");
}

#[test]
fn diff_and_json_name_orders_by_id_only() {
    let with = policy();
    let without = load_with("", "").unwrap();
    let (n, text) = crate::policy::diff::diff(&without, &with);
    assert!(
        n >= 1 && text.contains("exception 2026-CR-0042: added ("),
        "{text}"
    );
    let later = load_with("", &EXCEPTION.replace("max_uses = 2", "max_uses = 3")).unwrap();
    let (_, text2) = crate::policy::diff::diff(&with, &later);
    assert!(
        text2.contains("exception 2026-CR-0042: changed ("),
        "{text2}"
    );
    for secret in ["DOE", "JANE", "1980"] {
        assert!(
            !text.contains(secret) && !text2.contains(secret),
            "{secret}"
        );
    }
}

/// `EXCEPTION` for the DEA example ORI, in the `federal_redact` (redact)
/// list: its queries reach the state with or without an order.
fn redact_list_policy() -> Policy {
    load_with("", &EXCEPTION.replace("VTICE0900", "VADEADX00")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn another_query_with_the_same_control_field_voids_the_release() {
    let p = redact_list_policy();
    // The order's query and another one (someone else) on one control field,
    // in either order: the state answers both with that control field, and
    // which answer is which cannot be told. Neither may carry the photo.
    for order_first in [true, false] {
        let l = mem();
        let ordered = dq("VADEADX00", "K1", "NAM/DOE, JANE Q.DOB/19800115");
        let other = dq("VADEADX00", "K1", "NAM/ROE, RICHARD.DOB/19700101");
        let (a, b) = if order_first {
            (ordered, other)
        } else {
            (other, ordered)
        };
        let da = run(&p, &l, Direction::Inbound, a, now());
        let db = run(&p, &l, Direction::Inbound, b, now());
        assert_eq!(
            (da.category, db.category),
            (Category::Passed, Category::Passed)
        );
        for _ in 0..2 {
            let r = run(
                &p,
                &l,
                Direction::Outbound,
                dr_photo("VADEADX00", "K1"),
                now() + Duration::from_secs(1),
            );
            assert_ne!(
                r.reason,
                Reason::CourtOrderRelease,
                "order first: {order_first}"
            );
            assert!(!text(&r).contains("/9j/4AAQ"), "order first: {order_first}");
        }
    }
}

#[test]
fn a_response_to_more_than_the_order_s_ori_is_not_released() {
    let p = policy();
    let l = mem();
    let q = dq("VTICE0900", "M1", "NAM/DOE, JANE Q.DOB/19800115");
    assert_eq!(
        run(&p, &l, Direction::Inbound, q, now()).reason,
        Reason::CourtOrder
    );
    // The same response also addressed to another restricted agency.
    let r = run(
        &p,
        &l,
        Direction::Outbound,
        Bytes::from(
            "DR.COOLN0000.VTICE0900,DCHSI0000.*M1.TXT\nDOE, JANE Q   DOB/19800115  SEX/F\nOLN/000000000  STATUS/VALID\n",
        ),
        now(),
    );
    assert_ne!(r.reason, Reason::CourtOrderRelease);
    assert_eq!(r.category, Category::Denied);
}

#[test]
fn the_photo_element_releases_only_an_image() {
    let p = policy();
    for (what, value) in [
        ("words", "PLACE OF BIRTH EXAMPLE CITY MEXICO"),
        ("a number", "123454321"),
        // Valid base64, but of text, not of an image.
        ("base64 text", "UE9CL01FWElDTyBTT0MvMDAwMDAwMDAw"),
    ] {
        let l = mem();
        let q = dq("VTICE0900", "P1", "NAM/DOE, JANE Q.DOB/19800115");
        assert_eq!(
            run(&p, &l, Direction::Inbound, q, now()).reason,
            Reason::CourtOrder
        );
        let s = fixture("xml/dr_photo.xml")
            .replace(
                "<nh2:DestinationORIID>AZNLETS20",
                "<nh2:DestinationORIID>VTICE0900",
            )
            .replace("A0TRM0042", "P1");
        let start = s.find("<nc:BinaryBase64Object>").unwrap() + "<nc:BinaryBase64Object>".len();
        let end = s.find("</nc:BinaryBase64Object>").unwrap();
        let s = format!("{}{value}{}", &s[..start], &s[end..]);
        let r = run(&p, &l, Direction::Outbound, Bytes::from(s), now());
        if let Outcome::Forward(b) = &r.outcome {
            let out = String::from_utf8_lossy(b);
            assert!(!out.contains(value), "{what} released as a photo: {out}");
        }
    }
}

#[test]
fn a_deny_list_order_withholds_every_protected_field_but_the_release() {
    // A court-order profile that (by mistake) also names the SSN element:
    // the catalogue's second line must still withhold it, since the deny
    // list withholds everything the order does not release.
    let extra = r#"
[[profile]]
name = "court-order-photo-ssn"
extends = "court-order-photo"
xml.elements = [
  { path = "n2:NLETSResponseData/n2:Person/nc:PersonSSNIdentification/nc:IdentificationID", chars = "code", max = 11 },
]
"#;
    let ex = EXCEPTION.replace(
        "profile = \"court-order-photo\"",
        "profile = \"court-order-photo-ssn\"",
    );
    let p = load_with(extra, &ex).unwrap_or_else(|e| panic!("{e}"));
    let l = mem();
    let q = dq("VTICE0900", "S1", "NAM/DOE, JANE Q.DOB/19800115");
    assert_eq!(
        run(&p, &l, Direction::Inbound, q, now()).reason,
        Reason::CourtOrder
    );
    let s = String::from_utf8_lossy(&dr_photo("VTICE0900", "S1")).replace(
        "<nc:PersonName><nc:PersonSurName>DOE",
        "<nc:PersonSSNIdentification><nc:IdentificationID>000000001</nc:IdentificationID></nc:PersonSSNIdentification><nc:PersonName><nc:PersonSurName>DOE",
    );
    let r = run(&p, &l, Direction::Outbound, Bytes::from(s), now());
    let out = text(&r);
    assert!(out.contains("/9j/4AAQ"), "the photo is released");
    assert!(!out.contains("000000001"), "the SSN is not: {out}");
}

#[test]
fn a_reason_code_is_read_in_any_spelling_the_state_may_accept() {
    let p = load_with("", EXCEPTION).unwrap();
    let mut p2 = p.clone();
    let i = p2
        .lists
        .iter()
        .position(|x| x.name == "partners_287g")
        .unwrap();
    p2.lists[i].deny_reasons = vec![b'I'];
    p2.lists[i].require_reason = false;
    let l = mem();
    for body in [
        "rsn/I.OLN/123",
        "Rsn/I.OLN/123",
        "R\x07SN/I.OLN/123",
        "R SN/I.OLN/123",
    ] {
        let d = run(
            &p2,
            &l,
            Direction::Inbound,
            dq("FLSO00100", "R1", body),
            now(),
        );
        assert_eq!(d.category, Category::Denied, "{body:?}");
    }
}

#[test]
fn a_key_scope_cannot_govern_a_query_but_not_its_response() {
    let e = load_with(
        "\n[[list]]\nname = \"half\"\naction = \"deny\"\nentries = [\"NYDHS0000\"]\nkeys = [\"DQ\"]\n",
        EXCEPTION,
    )
    .unwrap_err();
    assert!(e.errors.iter().any(|d| d.message.contains("DR")), "{e}");
}

#[test]
fn a_policy_error_never_quotes_a_subject() {
    // An unquoted licence number or date: the TOML error must not print it.
    for (from, to) in [
        (
            "subject = { name = \"DOE, JANE Q\", dob = \"1980-01-15\" }",
            "subject = { oln = 123456789, state = \"CO\" }",
        ),
        (
            "subject = { name = \"DOE, JANE Q\", dob = \"1980-01-15\" }",
            "subject = { name = [\"DOE, JANE Q\"], dob = \"1980-01-15\" }",
        ),
    ] {
        let e = load_with("", &EXCEPTION.replace(from, to)).unwrap_err();
        let text = e.to_string();
        assert!(!e.errors.is_empty());
        for secret in ["123456789", "DOE", "JANE"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

#[test]
fn an_order_for_a_redact_listed_ori_adds_only_its_fields() {
    // DCFBI0000 is on federal_redact (profile colorado-dmv). An order whose
    // profile releases the photo is accepted; one whose profile also
    // releases the address (which the list's profile withholds) is not.
    let ex = EXCEPTION.replace("ori = \"VTICE0900\"", "ori = \"DCFBI0000\"");
    load_with("", &ex).unwrap_or_else(|e| panic!("{e}"));
    let wide = "\n[[profile]]\nname = \"too-wide\"\nextends = \"court-order-photo\"\nlegacy.fields = [{ label = \"ADDR\", chars = \"address\", max = 60 }]\n";
    let e = load_with(
        wide,
        &ex.replace("profile = \"court-order-photo\"", "profile = \"too-wide\""),
    )
    .unwrap_err();
    assert!(
        e.errors.iter().any(|d| d.message.contains("the legacy field ADDR") && d.file.ends_with("orders.toml")),
        "{e}"
    );
    // Without a profile the list's own is used: it carries no photo, so the
    // order would release nothing and is refused.
    let none = ex.replace("profile = \"court-order-photo\"\n", "");
    let e = load_with("", &none).unwrap_err();
    assert!(
        e.errors
            .iter()
            .any(|d| d.message.contains("names no element or label")),
        "{e}"
    );
}

/// The fuzz target `court_order_response`'s finding (its seed
/// `regress-name-period-blank`): a name written `DOE, JANE .Q` (read as
/// `DOE,JANE Q`) was released as `DOE, JANE.Q` (read as `DOE,JANEQ`). The
/// release profile now keeps the blank before a period, so the output reads
/// as the input did; and every released output is read again.
#[test]
fn a_released_name_reads_as_the_name_that_was_checked() {
    let p = policy();
    let l = mem();
    let seed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/seeds/court_order_response/regress-name-period-blank"
    );
    let body = String::from_utf8_lossy(&std::fs::read(seed).unwrap()).into_owned();
    let q = dq("VTICE0900", "A1", "NAM/DOE, JANE Q.DOB/19800115");
    assert_eq!(
        run(&p, &l, Direction::Inbound, q, now()).reason,
        Reason::CourtOrder
    );
    let raw = Bytes::from(format!("DR.COOLN0000.VTICE0900.*A1.TXT\n{body}"));
    let d = run(&p, &l, Direction::Outbound, raw, now());
    assert_eq!(d.reason, Reason::CourtOrderRelease, "{:?}", d.detail);
    let out = text(&d);
    assert!(out.ends_with("\r\nDOE, JANE .Q  DOB/19800115"), "{out}");
    let m = crate::message::parse(Bytes::from(out), &p.catalogue, &Limits::default()).unwrap();
    let f = crate::redact::persons::find(&m);
    assert!(
        f.names.iter().all(|n| n.agrees("DOE,JANE Q")) && f.records() == 1,
        "{f:?}"
    );
}
