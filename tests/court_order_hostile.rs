//! Responses crafted to slip another person past the court-order subject
//! check (from a hostile review of the exception path), each decided after
//! its order query: none may be released under the order. The layouts:
//! labels spelled otherwise (`DOB 1975...`, `BIRTH DATE:`, `D.O.B.:`), NIEM
//! names outside `PersonName`, alternate names and birth-date
//! representations, identifiers only in attributes, labels split by a
//! comment or a processing instruction or CDATA boundaries, a leading name
//! on a line without a date of birth or without a comma, and a second name
//! beside a licence-number order's subject.

mod common;
use bytes::Bytes;
use common::orders::*;
use origuard::decision::ledger::{Ledger, MemoryStore};
use origuard::decision::{decide_in, Context, Reason};
use origuard::message::{Direction, Limits};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<n2:NLETS xmlns:n2="http://www.nlets.org/niem/1.0" xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0" xmlns:nc="http://niem.gov/niem/niem-core/2.0" n2:version="4.00">
<n2:NLETSMessageHeader><nh2:MessageKeyCodeText>DR</nh2:MessageKeyCodeText><nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID><nh2:DestinationORIID>@ORI@</nh2:DestinationORIID><nh2:DocumentControlFieldText>@CTL@</nh2:DocumentControlFieldText></n2:NLETSMessageHeader>
<n2:NLETSResponseData>"#;
const TAIL: &str = "</n2:NLETSResponseData></n2:NLETS>";
const TEXT: &str = "<n2:ResponseText><![CDATA[DOE, JANE Q  DOB/19800115 SEX/F OLN/000000000 STATUS/VALID\nEND OF RECORD]]></n2:ResponseText>";
const PERSON: &str = "<n2:Person><nc:PersonName><nc:PersonGivenName>JANE</nc:PersonGivenName><nc:PersonMiddleName>Q</nc:PersonMiddleName><nc:PersonSurName>DOE</nc:PersonSurName></nc:PersonName><nc:PersonBirthDate><nc:Date>1980-01-15</nc:Date></nc:PersonBirthDate></n2:Person>";
const IMG: &str = "<nc:PersonDigitalImage><nc:BinaryBase64Object>/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8U</nc:BinaryBase64Object></nc:PersonDigitalImage>";

fn xml(ori: &str, ctl: &str, data: &str) -> Vec<u8> {
    format!(
        "{}{data}{TAIL}",
        HEAD.replace("@ORI@", ori).replace("@CTL@", ctl)
    )
    .into_bytes()
}

/// (name, order ORI, query body, response) — the response must not be
/// released unless `released` says so.
fn cases() -> Vec<(&'static str, &'static str, &'static str, Vec<u8>, bool)> {
    let nd = "NAM/DOE, JANE Q.DOB/19800115";
    let oln = "OLN/123456789.OLS/CO";
    let t = |s: &str| format!("<n2:ResponseText><![CDATA[{s}]]></n2:ResponseText>");
    vec![
        ("subject alone", "VTICE0900", nd, xml("VTICE0900", "C", &format!("{TEXT}{PERSON}{IMG}")), true),
        ("dob with a blank", "VTICE0900", nd, xml("VTICE0900", "C", &format!("{}{PERSON}{IMG}", t("DOE, JANE Q  DOB/19800115 SEX/F\nROE, RICHARD  DOB 19751203 SEX/M\nEND OF RECORD"))), false),
        ("other date labels", "VTICE0900", nd, xml("VTICE0900", "C", &format!("{}{PERSON}{IMG}", t("DOE, JANE Q  DOB/19800115 SEX/F\nSUBJECT 2: ROE, RICHARD  BIRTH DATE: 12/03/1975  D.O.B.:12-03-1975\nEND OF RECORD"))), false),
        ("full name outside PersonName", "VTICE0900", nd, xml("VTICE0900", "C", &format!("{TEXT}{PERSON}<n2:RelatedPerson><nc:PersonFullName>ROE, RICHARD</nc:PersonFullName></n2:RelatedPerson>{IMG}")), false),
        ("alternate name and date representation", "VTICE0900", nd, xml("VTICE0900", "C", &format!("{TEXT}{PERSON}<nc:EntityPerson><nc:PersonAlternateName><nc:PersonGivenName>RICHARD</nc:PersonGivenName><nc:PersonSurName>ROE</nc:PersonSurName></nc:PersonAlternateName><nc:PersonBirthDateRepresentation>1975-12-03</nc:PersonBirthDateRepresentation></nc:EntityPerson>{IMG}")), false),
        ("identifiers in attributes", "VTICE0900", nd, xml("VTICE0900", "C", &format!(r#"{TEXT}{PERSON}<n2:Person2 name="ROE, RICHARD" dob="1975-12-03" oln="111111111"/>{IMG}"#)), false),
        ("label split by a comment", "VTICE0900", nd, xml("VTICE0900", "C", &format!("<n2:ResponseText><![CDATA[DOE, JANE Q  DOB/19800115 SEX/F\n]]>NAM/ROE, RICH<!-- -->ARD  DO<!-- -->B/19751203<![CDATA[\nEND OF RECORD]]></n2:ResponseText>{PERSON}{IMG}")), false),
        ("label split by a processing instruction", "VTICE0900", nd, xml("VTICE0900", "C", &format!("<n2:ResponseText><![CDATA[DOE, JANE Q  DOB/19800115 SEX/F\n]]>N<?x?>AM/ROE, RICHARD  D<?x?>OB/19751203<![CDATA[\nEND OF RECORD]]></n2:ResponseText>{PERSON}{IMG}")), false),
        ("label split by CDATA", "VTICE0900", nd, xml("VTICE0900", "C", &format!("<n2:ResponseText><![CDATA[DOE, JANE Q  DOB/19800115 SEX/F\nNA]]><![CDATA[M/ROE, RICHARD  DO]]><![CDATA[B/19751203\nEND OF RECORD]]></n2:ResponseText>{PERSON}{IMG}")), false),
        ("leading name without a date", "VTICE0900", nd, xml("VTICE0900", "C", &format!("{}{PERSON}{IMG}", t("ROE, RICHARD  SEX/M HGT/511 EYE/BRO\nNAM/DOE, JANE Q.DOB/19800115.SEX/F\nEND OF RECORD"))), false),
        ("leading name without a comma", "VTICE0900", nd, xml("VTICE0900", "C", &format!("{}{PERSON}{IMG}", t("RICHARD ROE  DOB/19800115 SEX/M\nEND OF RECORD"))), false),
        ("legacy leading name without a date", "VTICE0900", nd, b"DR.COOLN0000.VTICE0900.*C.TXT\nROE, RICHARD  SEX/M HGT/511 EYE/BRO\nNAM/DOE, JANE Q.DOB/19800115.SEX/F\n".to_vec(), false),
        ("licence order, a second name in parts", "VTICE0901", oln, xml("VTICE0901", "C", &format!("{}<n2:Person><nc:PersonName><nc:PersonGivenName>RICHARD</nc:PersonGivenName><nc:PersonSurName>ROE</nc:PersonSurName></nc:PersonName></n2:Person>{IMG}", t("DOE, JANE Q  DOB/19800115 SEX/F OLN/123456789 OLS/CO STATUS/VALID\nEND OF RECORD"))), false),
        // The licence's record, whoever holds it: one person, one number.
        ("licence order, the holder alone", "VTICE0901", oln, xml("VTICE0901", "C", &format!("{}<n2:Person><nc:PersonName><nc:PersonGivenName>RICHARD</nc:PersonGivenName><nc:PersonSurName>ROE</nc:PersonSurName></nc:PersonName></n2:Person>{IMG}", t("OLN/123456789 OLS/CO STATUS/VALID\nEND OF RECORD"))), true),
    ]
}

#[test]
fn crafted_responses_do_not_release_another_person() {
    let dir = tempfile::tempdir().unwrap();
    let by_oln = order("CASE-O", "VTICE0901", 100).replace(
        r#"{ name = "DOE, JANE Q", dob = "1980-01-15" }"#,
        r#"{ oln = "123456789", state = "CO" }"#,
    );
    let policy = policy_with_orders(
        dir.path(),
        &format!("{}\n{by_oln}", order("CASE-N", "VTICE0900", 100)),
    );
    let p = origuard::runtime::policy_store::load_path(&policy).unwrap();
    let limits = Limits::default();
    let ledger = Ledger::new(
        Some(Arc::new(MemoryStore::default())),
        p.court_order_window,
        SystemTime::UNIX_EPOCH,
    );
    let mut failures = Vec::new();
    for (i, (name, ori, body, response, released)) in cases().into_iter().enumerate() {
        let now = SystemTime::now() + Duration::from_millis(i as u64);
        let cx = Context {
            now,
            ledger: Some(&ledger),
        };
        let ctl = format!("H{i}");
        let q = dq(ori, &ctl, body);
        let d = decide_in(Direction::Inbound, Bytes::from(q), &p, &limits, &cx);
        assert_eq!(
            d.reason,
            Reason::CourtOrder,
            "{name}: the order query is let through"
        );
        let r = String::from_utf8(response)
            .unwrap()
            .replace(
                "<nh2:DocumentControlFieldText>C<",
                &format!("<nh2:DocumentControlFieldText>{ctl}<"),
            )
            .replace("*C.TXT", &format!("*{ctl}.TXT"));
        let d = decide_in(Direction::Outbound, Bytes::from(r), &p, &limits, &cx);
        // Taken as the order's response (not refused for another reason).
        assert!(
            d.exception.is_some() && d.subject_check.is_some(),
            "{name}: {:?} {:?}",
            d.reason,
            d.detail
        );
        let was_released = d.reason == Reason::CourtOrderRelease;
        if was_released != released {
            failures.push(format!(
                "{name}: released {was_released} ({:?}, {:?})",
                d.reason, d.detail
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
