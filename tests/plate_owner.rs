//! Plate and owner messages (RQ, RNQ, RPQ and their responses RR, RNR,
//! RPR) get the same weight as driver-licence ones under the example
//! policy: a deny-listed agency's query is declined like its DQ, and a
//! redact-listed agency's response goes out through the same release
//! profile as a DR (released, place of birth withheld), not refused.

use bytes::Bytes;
use origuard::decision::{decide, Category};
use origuard::message::{Direction, Limits};

fn policy() -> origuard::policy::Policy {
    origuard::runtime::policy_store::load_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/policy/colorado.toml"
    ))
    .unwrap()
}

/// A response from Colorado to `to` with key `key`: a person and a vehicle.
fn response(key: &str, to: &str) -> Bytes {
    Bytes::from(format!(
        "{key}.COOLN0000.{to}.*A0TRM0042.TXT\n\
         DOE, JANE Q   DOB/19800115  SEX/F\n\
         LIC/ABC123  LIS/CO  VIN/1EXAMPLE0VIN00000  VYR/2019  VMA/EXAM\n\
         POB/MX\n"
    ))
}

#[test]
fn plate_and_owner_queries_and_responses_weigh_as_driver_ones() {
    let p = policy();
    let lim = Limits::default();
    // Queries from a deny-listed agency: declined, as its DQ.
    for key in ["DQ", "RQ", "RNQ", "RPQ"] {
        let q = Bytes::from(format!("{key}.VTICE0900.CO.TXT\nNAM/DOE,JANE---\n"));
        let d = decide(
            Direction::Inbound,
            q,
            &p,
            &lim,
            std::time::SystemTime::now(),
        );
        assert_eq!(d.category, Category::Denied, "{key}: {:?}", d.reason);
    }
    // Responses to a redact-listed agency: released through the profile,
    // the place of birth withheld, never refused for their key.
    for key in ["DR", "RR", "RNR", "RPR"] {
        let d = decide(
            Direction::Outbound,
            response(key, "VADEADX00"),
            &p,
            &lim,
            std::time::SystemTime::now(),
        );
        assert_eq!(
            d.category,
            Category::Redacted,
            "{key}: {:?} {:?}",
            d.reason,
            d.detail
        );
        let out = match &d.outcome {
            origuard::decision::Outcome::Forward(b) => b.clone(),
            o => panic!("{key}: {o:?}"),
        };
        let text = String::from_utf8_lossy(&out);
        assert!(
            !text.contains("POB") && !text.contains("MX"),
            "{key}: {text}"
        );
        assert!(
            text.contains("DOE, JANE Q") || text.contains("DOB/19800115"),
            "{key}: {text}"
        );
    }
    // To an agency on no list: unchanged.
    let d = decide(
        Direction::Outbound,
        response("RNR", "NMSP00000"),
        &p,
        &lim,
        std::time::SystemTime::now(),
    );
    assert_eq!(d.category, Category::Passed);
}
