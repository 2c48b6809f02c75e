//! Any bytes as a response to a redact-listed agency (whole, spliced into a
//! NIEM body, spliced into a legacy DR body): deciding never panics, and
//! whatever is forwarded passes the independent positive check again, parses,
//! carries no catalogue field, and projecting it again changes nothing.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use origuard::decision::{decide, Outcome};
use origuard::message::{parse, Limits};
use origuard::message::Direction;
use origuard::policy::Policy;
use std::sync::OnceLock;

const HEAD: &str = r#"<n2:NLETS xmlns:n2="http://www.nlets.org/niem/1.0" xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0" xmlns:nc="http://niem.gov/niem/niem-core/2.0"><n2:NLETSMessageHeader><nh2:MessageKeyCodeText>DR</nh2:MessageKeyCodeText><nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID><nh2:DestinationORIID>VADEADX00</nh2:DestinationORIID></n2:NLETSMessageHeader><n2:NLETSResponseData><n2:Person>"#;
const TAIL: &str = "</n2:Person></n2:NLETSResponseData></n2:NLETS>";

fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        let text = include_str!("../../deploy/policy/colorado.toml");
        origuard::policy::file::load("colorado.toml", &mut |p: &str| match p {
            "colorado.toml" => Ok(text.as_bytes().to_vec()),
            _ => Ok(b"VADEADX00\nVTICE0900\n".to_vec()),
        })
        .expect("example policy")
    })
}

fuzz_target!(|data: &[u8]| {
    let p = policy();
    let limits = Limits::default();
    let mut xml = HEAD.as_bytes().to_vec();
    xml.extend_from_slice(data);
    xml.extend_from_slice(TAIL.as_bytes());
    let mut legacy = b"DR.COOLN0000.VADEADX00.*A0TRM0042.TXT\r\nDOE, JANE  DOB/19800115 ".to_vec();
    legacy.extend_from_slice(data);
    for input in [Bytes::copy_from_slice(data), Bytes::from(xml), Bytes::from(legacy)] {
        let d = decide(Direction::Outbound, input, p, &limits, std::time::SystemTime::now());
        let Outcome::Forward(out) = &d.outcome else { continue };
        let m = parse(out.clone(), &p.catalogue, &limits).expect("forwarded output parses");
        let Some(v) = d.verdict else { continue };
        if v.action.restricts() {
            assert!(m.found.intersect(p.redact_fields).is_empty(), "catalogue field forwarded");
            origuard::redact::verify::check_profile(out, m.format, m.body_offset, p.profile_for(v))
                .expect("forwarded output passes the positive check");
            let again = decide(Direction::Outbound, out.clone(), p, &limits, std::time::SystemTime::now());
            match again.outcome {
                Outcome::Forward(b) => assert_eq!(&b, out, "projection is idempotent"),
                o => panic!("re-projection refused: {o:?}"),
            }
        }
    }
});
