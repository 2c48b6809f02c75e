//! Any bytes as the state's response to an order query (legacy text, and
//! the text of a NIEM `ResponseText` beside the subject's `Person` and a
//! photo), under a name-and-birth-date order and under a licence-number
//! order: the decision never panics, and when it releases the response
//! under the order, every identifier the released bytes carry is the
//! order's subject's and one record at most (read again from the output by
//! the same reader), and every identifier of the output was in the input.
#![no_main]
#[path = "../common/policy.rs"]
mod policy;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use origuard::decision::ledger::{Ledger, MemoryStore};
use origuard::decision::{decide_in, Context, Outcome, Reason};
use origuard::message::{parse, Direction, Limits};
use origuard::policy::Policy;
use origuard::redact::persons::{find, Found};

fn policy() -> &'static Policy {
    policy::with_photo_and_licence_orders("FUZZ-2")
}

const PERSON: &str = "<n2:Person><nc:PersonName><nc:PersonGivenName>JANE</nc:PersonGivenName><nc:PersonMiddleName>Q</nc:PersonMiddleName><nc:PersonSurName>DOE</nc:PersonSurName></nc:PersonName><nc:PersonBirthDate><nc:Date>1980-01-15</nc:Date></nc:PersonBirthDate></n2:Person><nc:PersonDigitalImage><nc:BinaryBase64Object>QUJDRA==</nc:BinaryBase64Object></nc:PersonDigitalImage>";

/// The order's subject as the output must show it, read from `f`.
fn subject_alone(ori: &str, f: &Found) -> bool {
    let one = f.records() <= 1;
    if ori == "VTICE0901" {
        one && f.olns.iter().all(|x| x == "123456789") && f.states.iter().all(|x| x == "CO")
    } else {
        one && f.dobs.iter().all(|x| x == "19800115")
            && f.names.iter().all(|n| n.agrees("DOE,JANE Q"))
    }
}

fuzz_target!(|data: &[u8]| {
    let p = policy();
    let body = String::from_utf8_lossy(data);
    let text = body.replace("]]>", "");
    let limits = Limits::default();
    let queries = [
        ("VTICE0900", "NAM/DOE, JANE Q.DOB/19800115"),
        ("VTICE0901", "OLN/123456789.OLS/CO"),
    ];
    for (ori, query) in queries {
        let legacy = format!("DR.COOLN0000.{ori}.*A1.TXT\n{body}");
        let xml = format!("<n2:NLETS xmlns:n2=\"http://www.nlets.org/niem/1.0\" xmlns:nh2=\"http://www.nlets.org/niem/nlets-hdr/1.0\" xmlns:nc=\"http://niem.gov/niem/niem-core/2.0\"><n2:NLETSMessageHeader><nh2:MessageKeyCodeText>DR</nh2:MessageKeyCodeText><nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID><nh2:DestinationORIID>{ori}</nh2:DestinationORIID><nh2:DocumentControlFieldText>A1</nh2:DocumentControlFieldText></n2:NLETSMessageHeader><n2:NLETSResponseData><n2:ResponseText><![CDATA[{text}]]></n2:ResponseText>{PERSON}</n2:NLETSResponseData></n2:NLETS>");
        for raw in [legacy, xml] {
            let ledger = Ledger::new(
                Some(std::sync::Arc::new(MemoryStore::default())),
                p.court_order_window,
                std::time::SystemTime::UNIX_EPOCH,
            );
            let cx = Context {
                now: std::time::SystemTime::now(),
                ledger: Some(&ledger),
            };
            let q = Bytes::from(format!("DQ.{ori}.CO.*A1.TXT\n{query}"));
            let d = decide_in(Direction::Inbound, q, p, &limits, &cx);
            assert_eq!(d.reason, Reason::CourtOrder, "{ori}");
            let d = decide_in(
                Direction::Outbound,
                Bytes::from(raw.clone()),
                p,
                &limits,
                &cx,
            );
            let (Reason::CourtOrderRelease, Outcome::Forward(out)) = (d.reason, &d.outcome) else {
                continue;
            };
            let m = parse(out.clone(), &p.catalogue, &limits).expect("released output parses");
            let f = find(&m);
            assert!(subject_alone(ori, &f), "{raw}\n{f:?}");
            // Independent of the decision's own read-back: what the output
            // shows, the input showed (a release never rewrites an
            // identifier into another one).
            let input =
                parse(Bytes::from(raw.clone()), &p.catalogue, &limits).expect("input parses");
            let g = find(&input);
            assert!(
                f.dobs.iter().all(|x| g.dobs.contains(x)),
                "{raw}\n{f:?}\n{g:?}"
            );
            assert!(
                f.olns.iter().all(|x| g.olns.contains(x)),
                "{raw}\n{f:?}\n{g:?}"
            );
            assert!(
                f.names.iter().all(|n| g.names.contains(n)),
                "{raw}\n{f:?}\n{g:?}"
            );
        }
    }
});
