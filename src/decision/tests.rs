//! Decision tests over the example policy and the fixtures.

use super::*;
use crate::message::fields::{PHOTO, POB};

fn policy() -> Policy {
    load_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/policy/colorado.toml"
    ))
    .unwrap()
}

fn fixture(name: &str) -> Bytes {
    let p = format!("{}/testdata/messages/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(p).unwrap())
}

fn retarget(name: &str, from: &str, to: &str) -> Bytes {
    let s = String::from_utf8(fixture(name).to_vec()).unwrap();
    assert!(s.contains(from));
    Bytes::from(s.replace(from, to))
}

fn run(dir: Direction, raw: Bytes) -> Decision {
    decide(
        dir,
        raw,
        &policy(),
        &Limits::default(),
        std::time::SystemTime::now(),
    )
}

#[test]
fn unrestricted_passes_same_bytes() {
    for (dir, name) in [
        (Direction::Inbound, "legacy/dq_output.txt"),
        (Direction::Inbound, "xml/dq.xml"),
        (Direction::Outbound, "xml/dr_photo.xml"),
        (Direction::Outbound, "legacy/dr_input.txt"),
    ] {
        let raw = fixture(name);
        let d = run(dir, raw.clone());
        match &d.outcome {
            Outcome::Forward(b) => assert_eq!(b.as_ptr(), raw.as_ptr(), "{name} copied"),
            o => panic!("{name}: {o:?}"),
        }
        assert_eq!(
            (d.category, d.reason, d.action),
            (Category::Passed, Reason::Pass, Some(Action::Pass))
        );
        assert_eq!(d.bytes_out, d.bytes_in);
    }
}

#[test]
fn redact_list_gets_no_photo_or_pob() {
    let raw = retarget(
        "xml/dr_photo.xml",
        "<nh2:DestinationORIID>AZNLETS20",
        "<nh2:DestinationORIID>VADEADX00",
    );
    let d = run(Direction::Outbound, raw.clone());
    assert_eq!((d.category, d.reason), (Category::Redacted, Reason::Redact));
    assert!(d.removed.contains(PHOTO) && d.removed.contains(POB));
    let Outcome::Forward(out) = &d.outcome else {
        panic!()
    };
    assert!(out.len() < raw.len() / 5);
    assert_eq!(d.bytes_out, out.len());
    assert_eq!(d.counterparty.unwrap().as_str(), "VADEADX00");
    assert_eq!(
        d.verdict
            .map(|v| policy().list_name(v).to_string())
            .unwrap(),
        "federal_redact"
    );
    // The query from the same agency passes: only what goes to a redact-listed
    // agency is projected.
    let q = retarget(
        "xml/dq.xml",
        "<nh2:OriginatingORIID>AZNLETS20",
        "<nh2:OriginatingORIID>VADEADX00",
    );
    let d = run(Direction::Inbound, q);
    assert_eq!(
        (d.category, d.reason),
        (Category::Passed, Reason::RedactInbound)
    );
}

#[test]
fn denied_inbound_query_gets_a_decline_reply() {
    for name in ["legacy/dq_from_ice.txt", "xml/dq_from_ice.xml"] {
        let d = run(Direction::Inbound, fixture(name));
        assert_eq!(
            (d.category, d.reason, d.action),
            (Category::Denied, Reason::Deny, Some(Action::Deny))
        );
        assert_eq!(d.bytes_out, 0);
        let Outcome::Deny { reply: Some(reply) } = &d.outcome else {
            panic!("{name}: {:?}", d.outcome)
        };
        let m = parse(reply.clone(), &policy().catalogue, &Limits::default()).unwrap();
        assert_eq!(m.mke.as_str(), "DR");
        assert_eq!(m.originating.as_str(), "COOLN0000");
        assert_eq!(m.dests.as_slice()[0].as_str(), "VTICE0900");
        assert_eq!(m.control.unwrap().as_str(), "ICE0000001");
        assert_eq!(m.format, d.header.unwrap().format);
        assert!(std::str::from_utf8(reply)
            .unwrap()
            .contains("REQUEST DECLINED BY THE STATE OF COLORADO"));
    }
}

#[test]
fn denied_outbound_response_is_replaced() {
    let d = run(Direction::Outbound, fixture("xml/dr_photo_to_ice.xml"));
    assert_eq!(d.category, Category::Denied);
    let Outcome::Deny { reply: Some(reply) } = &d.outcome else {
        panic!()
    };
    let s = std::str::from_utf8(reply).unwrap();
    assert!(!s.contains("BinaryBase64Object") && !s.contains("MEXICO"));
    let m = parse(reply.clone(), &policy().catalogue, &Limits::default()).unwrap();
    assert_eq!(
        (m.mke.as_str(), m.dests.as_slice()[0].as_str()),
        ("DR", "VTICE0900")
    );
    assert_eq!(m.control.unwrap().as_str(), "ICE0000001");
    // Legacy too, and via the member code AX.
    let raw = Bytes::from_static(b"DR.COOLN0000.AXADMHELP.*T1.TXT\r\nNAM/DOE.POB/MX");
    let d = run(Direction::Outbound, raw);
    let Outcome::Deny { reply: Some(reply) } = &d.outcome else {
        panic!()
    };
    assert!(reply.starts_with(b"DR.COOLN0000.AXADMHELP.*T1.TXT\r\n"));
    // An outbound query to a denied destination: dropped, no reply.
    let d = run(
        Direction::Outbound,
        Bytes::from_static(b"DQ.CODENVER0.AX.TXT\r\nNAM/DOE"),
    );
    assert_eq!(
        (d.category, &d.outcome),
        (Category::Denied, &Outcome::Deny { reply: None })
    );
    // Several destinations: the strictest wins.
    let d = run(
        Direction::Outbound,
        Bytes::from_static(b"DQ.CODENVER0.AZ,AX,NM.TXT\r\nNAM/DOE"),
    );
    assert_eq!(d.counterparty.unwrap().as_str(), "AX");
    assert_eq!(d.category, Category::Denied);
}

#[test]
fn uncertain_is_not_forwarded() {
    // Garbage: no ORI can be read.
    let d = run(Direction::Inbound, fixture("hostile/binary_garbage.bin"));
    assert_eq!(
        (d.category, d.reason, d.detail),
        (Category::Dropped, Reason::UnknownOri, Some("legacy_header"))
    );
    // Unrestricted but the body does not parse: on_parse_error = drop.
    let bad = retarget(
        "xml/dr_not_on_file.xml",
        "<n2:ResponseText>",
        "<n2:ResponseText>&bogus;",
    );
    let d = run(Direction::Outbound, bad.clone());
    assert_eq!(
        (d.category, d.reason, d.detail),
        (Category::Dropped, Reason::ParseError, Some("xml_entity"))
    );
    // Restricted and unparseable: always dropped.
    let bad_ice = retarget(
        "xml/dr_not_on_file.xml",
        "<n2:ResponseText>",
        "<n2:ResponseText>&bogus;",
    );
    let bad_ice = Bytes::from(
        String::from_utf8(bad_ice.to_vec())
            .unwrap()
            .replace(">AZNLETS20<", ">VADEADX00<"),
    );
    let d = run(Direction::Outbound, bad_ice);
    assert_eq!(
        (d.category, d.reason),
        (Category::Dropped, Reason::RestrictedParseError)
    );
    // Restricted: a look-alike of a protected element is outside the release
    // profile, so it is not forwarded (the positive model; the catalogue's
    // look-alike refusal is only the second line now).
    let d = run(
        Direction::Outbound,
        retarget("hostile/lookalike_case.xml", "VTICE0900", "VADEADX00"),
    );
    assert_eq!((d.category, d.reason), (Category::Redacted, Reason::Redact));
    let Outcome::Forward(b) = &d.outcome else {
        panic!("{:?}", d.outcome)
    };
    assert!(!b
        .to_ascii_lowercase()
        .windows(13)
        .any(|w| w == b"birthlocation"));
    // A message key the profile does not release is refused.
    let d = run(
        Direction::Outbound,
        Bytes::from_static(b"AM.COOLN0000.VADEADX00.TXT\r\nFREE TEXT"),
    );
    assert_eq!(
        (d.category, d.reason, d.detail),
        (Category::Dropped, Reason::RedactFailed, Some("profile_key"))
    );
    // With on_parse_error = pass the unrestricted broken message goes through, counted as passed.
    let mut p = policy();
    p.on_parse_error = OnError::Pass;
    let d = decide(
        Direction::Outbound,
        bad.clone(),
        &p,
        &Limits::default(),
        std::time::SystemTime::now(),
    );
    assert_eq!(
        (d.category, d.outcome),
        (Category::Passed, Outcome::Forward(bad))
    );
    p.on_unknown_ori = OnError::Pass;
    let d = decide(
        Direction::Inbound,
        Bytes::from_static(b"junk"),
        &p,
        &Limits::default(),
        std::time::SystemTime::now(),
    );
    assert_eq!(
        (d.category, d.reason),
        (Category::Passed, Reason::UnknownOriPass)
    );
    // Even with on_parse_error = pass, a listed agency's unparseable message
    // of a key its action is exempt from is dropped (fail closed).
    p.deny_exempt.insert("AM");
    let am = Bytes::from_static(b"<n2:NLETS xmlns:n2=\"http://www.nlets.org/niem/1.0\" xmlns:nh2=\"http://www.nlets.org/niem/nlets-hdr/1.0\"><n2:NLETSMessageHeader><nh2:MessageKeyCodeText>AM</nh2:MessageKeyCodeText><nh2:OriginatingORIID>VTICE0900</nh2:OriginatingORIID><nh2:DestinationORIID>CO</nh2:DestinationORIID></n2:NLETSMessageHeader><x>&bogus;</x></n2:NLETS>");
    let d = decide(
        Direction::Inbound,
        am,
        &p,
        &Limits::default(),
        std::time::SystemTime::now(),
    );
    assert_eq!(
        (d.category, d.reason),
        (Category::Dropped, Reason::RestrictedParseError)
    );
}

#[test]
fn deny_is_total_and_allow() {
    // Deny covers every key: an administrative message from a denied agency
    // does not reach the state.
    let d = run(
        Direction::Inbound,
        Bytes::from_static(b"AM.VTICE0900.CO.TXT\r\nSYNTHETIC"),
    );
    assert_eq!(
        (d.category, d.reason, d.action),
        (Category::Denied, Reason::Deny, Some(Action::Deny))
    );
    assert!(matches!(d.outcome, Outcome::Deny { reply: None }));
    let d = run(Direction::Inbound, fixture("legacy/sm_output.txt"));
    assert_eq!((d.category, d.reason), (Category::Passed, Reason::Allow));
}

/// Loads a policy from disk through the pure loader (core tests do not use
/// the runtime's store).
fn load_path(path: &str) -> Result<Policy, crate::policy::file::Refused> {
    crate::policy::file::load(path, &mut |f: &str| std::fs::read(f))
}
