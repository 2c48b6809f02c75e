//! Property test of the whole pipeline: random mixes of messages (legacy and
//! XML, with a unique marker planted in every protected field) and random
//! policies. Whatever is forwarded to a restricted counterparty never carries
//! a marker; unrestricted messages are forwarded byte-identical (or dropped
//! only for a stated reason); counts are conserved; the audit chain verifies.

use bytes::Bytes;
use origuard::audit::record::{DecisionRecord, Event};
use origuard::audit::verify::verify;
use origuard::decision::{decide, Category, Outcome};
use origuard::message::Direction;
use origuard::message::Limits;
use origuard::policy::file::load;
use origuard::policy::Action;
use origuard::runtime::audit_log::{AuditLog, SyncMode};
use proptest::prelude::*;

const POOL: [&str; 8] = [
    "VTICE0900",
    "AZNLETS20",
    "VADEADX00",
    "TXICE2000",
    "MNDPS0000",
    "AXADMHELP",
    "CAPD00100",
    "NYSP00000",
];
const MARK: &str = "QZMARK";

fn response(style: u8, dest: &str) -> String {
    match style % 4 {
        0 => format!(
            "DR.COOLN0000.{dest}.*C1.TXT\r\nNAM/DOE.POB/{MARK}1.SEX/F\r\nPLACE OF BIRTH: {MARK}2"
        ),
        1 => format!(
            r#"<n2:NLETS xmlns:n2="http://www.nlets.org/niem/1.0" xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0" xmlns:nc="http://niem.gov/niem/niem-core/2.0"><n2:NLETSMessageHeader><nh2:MessageKeyCodeText>DR</nh2:MessageKeyCodeText><nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID><nh2:DestinationORIID>{dest}</nh2:DestinationORIID></n2:NLETSMessageHeader><n2:NLETSResponseData><n2:ResponseText><![CDATA[POB/{MARK}3]]></n2:ResponseText><nc:PersonBirthLocation>{MARK}4</nc:PersonBirthLocation><nc:PersonDigitalImage><nc:BinaryBase64Object>{MARK}5</nc:BinaryBase64Object></nc:PersonDigitalImage></n2:NLETSResponseData></n2:NLETS>"#
        ),
        2 => format!(
            r#"<NLETS xmlns="http://www.nlets.org/niem/1.0" xmlns:h="http://www.nlets.org/niem/nlets-hdr/1.0"><NLETSMessageHeader><h:MessageKeyCodeText>KR</h:MessageKeyCodeText><h:OriginatingORIID>COOLN0000</h:OriginatingORIID><h:DestinationORIID>{dest}</h:DestinationORIID></NLETSMessageHeader><NLETSResponseData><ResponseText>NAM/X.&#80;OB/{MARK}6.SEX/M</ResponseText><Image xmlns="http://niem.gov/niem/niem-core/2.0"><BinaryBase64Object>{MARK}7</BinaryBase64Object></Image></NLETSResponseData></NLETS>"#
        ),
        _ => format!("KR.COOLN0000.{dest}.TXT\r\nNAM/DOE.p\x07ob/{MARK}8.SEX/F"),
    }
}

fn policy_text(assign: &[u8]) -> String {
    let mut lists: [Vec<&str>; 3] = Default::default();
    for (ori, a) in POOL.iter().zip(assign) {
        if (*a as usize) < 3 {
            lists[*a as usize].push(ori);
        }
    }
    let mut t = String::from("[deny]\nreply_ori = \"COOLN0000\"\n");
    for (i, (name, action)) in [("d", "deny"), ("r", "redact"), ("a", "allow")]
        .iter()
        .enumerate()
    {
        let e: Vec<String> = lists[i].iter().map(|o| format!("{o:?}")).collect();
        t.push_str(&format!(
            "[[list]]\nname = {name:?}\naction = {action:?}\nentries = [{}]\n",
            e.join(", ")
        ));
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn restricted_counterparties_never_get_protected_fields(
        assign in proptest::collection::vec(0u8..4, POOL.len()),
        msgs in proptest::collection::vec((0u8..4, 0usize..POOL.len()), 1..30),
    ) {
        let text = policy_text(&assign);
        let p = load("p.toml", &mut |_| Ok(text.clone().into_bytes())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let (log, _) = AuditLog::open(path.to_str().unwrap(), SyncMode::None).unwrap();
        let mut counts = [0u64; 4];
        for (style, who) in &msgs {
            let dest = POOL[*who];
            let raw = Bytes::from(response(*style, dest));
            let d = decide(Direction::Outbound, raw.clone(), &p, &Limits::default(), std::time::SystemTime::now());
            log.append(&Event::Decision(Box::new(DecisionRecord::of(&d, Direction::Outbound, &p, None)))).unwrap();
            counts[d.category as usize] += 1;
            let listed = p.lookup(dest.as_bytes()).action;
            match &d.outcome {
                Outcome::Forward(out) => {
                    if listed.restricts() {
                        prop_assert!(memchr::memmem::find(out, MARK.as_bytes()).is_none(),
                            "marker reached {dest} ({listed}): {}", String::from_utf8_lossy(out));
                    } else {
                        prop_assert_eq!(out, &raw);
                    }
                }
                Outcome::Deny { reply } => {
                    prop_assert_eq!(listed, Action::Deny);
                    if let Some(r) = reply {
                        prop_assert!(memchr::memmem::find(r, MARK.as_bytes()).is_none());
                    }
                }
                Outcome::Drop => prop_assert!(listed.restricts(), "unrestricted dropped: {:?}", d.reason),
            }
        }
        prop_assert_eq!(counts.iter().sum::<u64>(), msgs.len() as u64);
        prop_assert_eq!(counts[Category::Dropped as usize], 0, "nothing here is unparseable");
        log.close().unwrap();
        let v = verify(&std::fs::read(&path).unwrap()).unwrap();
        prop_assert_eq!(v.count, msgs.len() as u64 + 1);
    }
}
