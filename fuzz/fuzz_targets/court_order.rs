//! Any bytes as the body of a legacy or NIEM query from an ORI with a
//! court-order exception: the decision never panics, and when it lets the
//! query through under the order, the body names the order's subject once
//! and nothing else a state reader could take for another subject (checked
//! case-insensitively, control characters removed).
#![no_main]
#[path = "../common/policy.rs"]
mod policy;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use origuard::decision::ledger::{Ledger, MemoryStore};
use origuard::decision::{decide_in, Context, Reason};
use origuard::message::{Direction, Limits};
use origuard::policy::Policy;

fn policy() -> &'static Policy {
    policy::with_photo_order("FUZZ-1")
}

fn squeezed_upper(b: &[u8]) -> Vec<u8> {
    b.iter()
        .filter(|c| !c.is_ascii_control())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    memchr::memmem::find_iter(hay, needle).count()
}

fuzz_target!(|data: &[u8]| {
    let p = policy();
    let body = String::from_utf8_lossy(data);
    let legacy = format!("DQ.VTICE0900.CO.*A1.TXT\n{body}");
    let xml = format!("<n2:NLETS xmlns:n2=\"http://www.nlets.org/niem/1.0\" xmlns:nh2=\"http://www.nlets.org/niem/nlets-hdr/1.0\" xmlns:nc=\"http://niem.gov/niem/niem-core/2.0\"><n2:NLETSMessageHeader><nh2:MessageKeyCodeText>DQ</nh2:MessageKeyCodeText><nh2:OriginatingORIID>VTICE0900</nh2:OriginatingORIID><nh2:DestinationORIID>CO</nh2:DestinationORIID><nh2:DocumentControlFieldText>A1</nh2:DocumentControlFieldText></n2:NLETSMessageHeader><n2:NLETSInquiryData>{body}</n2:NLETSInquiryData></n2:NLETS>");
    for (raw, is_xml) in [(legacy, false), (xml, true)] {
        let ledger = Ledger::new(
            Some(std::sync::Arc::new(MemoryStore::default())),
            p.court_order_window,
            std::time::SystemTime::UNIX_EPOCH,
        );
        let d = decide_in(
            Direction::Inbound,
            Bytes::from(raw.clone()),
            p,
            &Limits::default(),
            &Context { now: std::time::SystemTime::now(), ledger: Some(&ledger) },
        );
        if d.reason != Reason::CourtOrder {
            continue;
        }
        let b = squeezed_upper(raw.as_bytes());
        if is_xml {
            assert_eq!(count(&b, b"SURNAME>"), 2, "{raw}");
            assert!(count(&b, b"IDENTIFICATIONID") == 0, "{raw}");
            assert!(count(&b, b"<N2:PERSON>") <= 1 && count(&b, b"PERSONBIRTHDATE>") <= 2, "{raw}");
        } else {
            assert_eq!(count(&b, b"NAM"), 1, "{raw}");
            assert_eq!(count(&b, b"OLN"), 0, "{raw}");
            assert!(count(&b, b"DOB") == 1 && count(&b, b"19800115") == 1, "{raw}");
        }
    }
});
