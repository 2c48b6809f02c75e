//! Any bytes as an XML message (also spliced into a valid envelope): parse and
//! redact never panic; a redacted output is well-formed for an independent
//! parser and carries no protected field; redaction is idempotent.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use origuard::message::fields::Catalogue;
use origuard::message::{parse, Limits};
use origuard::redact::redact;

const HEAD: &str = r#"<n2:NLETS xmlns:n2="http://www.nlets.org/niem/1.0" xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0" xmlns:nc="http://niem.gov/niem/niem-core/2.0"><n2:NLETSMessageHeader><nh2:MessageKeyCodeText>DR</nh2:MessageKeyCodeText><nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID><nh2:DestinationORIID>VTICE0900</nh2:DestinationORIID></n2:NLETSMessageHeader><n2:NLETSResponseData>"#;
const TAIL: &str = "</n2:NLETSResponseData></n2:NLETS>";

fuzz_target!(|data: &[u8]| {
    let cat = Catalogue::builtin();
    let limits = Limits::default();
    let mut spliced = HEAD.as_bytes().to_vec();
    spliced.extend_from_slice(data);
    spliced.extend_from_slice(TAIL.as_bytes());
    for input in [Bytes::copy_from_slice(data), Bytes::from(spliced)] {
        let Ok(m) = parse(input, &cat, &limits) else { continue };
        let Ok(r) = redact(&m, &cat, cat.all(), &limits) else { continue };
        let text = std::str::from_utf8(&r.bytes).expect("redacted output is UTF-8");
        let doc = roxmltree::Document::parse(text.trim_start_matches('\u{feff}'));
        assert!(doc.is_ok(), "redacted output is not well-formed");
        let m2 = parse(r.bytes.clone(), &cat, &limits).expect("redacted output parses");
        assert!(m2.found.is_empty(), "protected field left after redaction");
        let again = redact(&m2, &cat, cat.all(), &limits).expect("idempotent");
        assert_eq!(again.bytes, r.bytes);
    }
});
