//! What the audit record of a decision says about court orders and the
//! federal watch: the order's id and use, never the subject; an unlisted
//! agency that looks federal flagged. (The decision is core and sits below
//! the audit record, so these checks of both live here, not beside either.)

mod common;

use bytes::Bytes;
use common::orders::dq;
use common::policy::example_with;
use origuard::audit::record::DecisionRecord;
use origuard::decision::ledger::{Ledger, MemoryStore};
use origuard::decision::{decide_in, Context, Decision};
use origuard::message::{Direction, Limits};
use origuard::policy::explain::explain;
use origuard::policy::Policy;
use std::time::SystemTime;

fn now() -> SystemTime {
    humantime::parse_rfc3339("2026-12-01T12:00:00Z").unwrap()
}

/// A synthetic order for VTICE0900 (shared with `src/decision/legal_tests.rs`).
const EXCEPTION: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/orders/warrant.toml"
));

fn policy() -> Policy {
    example_with("", EXCEPTION, now()).unwrap_or_else(|e| panic!("{e}"))
}

fn mem() -> Ledger {
    Ledger::new(
        Some(std::sync::Arc::new(MemoryStore::default())),
        std::time::Duration::from_secs(600),
        SystemTime::UNIX_EPOCH,
    )
}

fn run(p: &Policy, l: &Ledger, dir: Direction, raw: Vec<u8>, t: SystemTime) -> Decision {
    decide_in(
        dir,
        Bytes::from(raw),
        p,
        &Limits::default(),
        &Context {
            now: t,
            ledger: Some(l),
        },
    )
}

#[test]
fn subjects_never_reach_the_audit_record_or_explain() {
    let p = policy();
    let l = mem();
    let d = run(
        &p,
        &l,
        Direction::Inbound,
        dq("VTICE0900", "E1", "NAM/DOE, JANE Q.DOB/19800115"),
        now(),
    );
    let rec = DecisionRecord::of(&d, Direction::Inbound, &p, Some("l"));
    let json = serde_json::to_string(&rec).unwrap();
    assert!(
        json.contains("\"exception\":\"2026-CR-0042\"") && json.contains("\"exception_use\":1"),
        "{json}"
    );
    for secret in ["DOE", "JANE", "1980", "19800115"] {
        assert!(!json.contains(secret), "{secret} in {json}");
    }
    let (_, text) = explain(&p, "VTICE0900", Some("DQ"), Some(Direction::Inbound));
    assert!(
        text.contains("2026-CR-0042") && text.contains("warrant"),
        "{text}"
    );
    for secret in ["DOE", "JANE", "1980"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[test]
fn unlisted_federal_looking_agencies_are_flagged_in_the_record() {
    let p = policy();
    let l = mem();
    let rec = |ori: &str| {
        let d = run(&p, &l, Direction::Inbound, dq(ori, "W1", "OLN/1"), now());
        DecisionRecord::of(&d, Direction::Inbound, &p, None).federal_watch
    };
    assert_eq!(rec("NYHSI0300").as_deref(), Some("??HSI????"));
    assert_eq!(rec("DCHSI0000"), None, "listed");
    assert_eq!(rec("AZNLETS20"), None, "does not look federal");
}

/// One rule for the list an ORI is on, read once (`Policy::lookup`: exact
/// entry, then member code, then pattern): the check that warns of an
/// exception that changes nothing asks it too. NYICE0100 is allowed by an
/// exact entry, although `??ICE????` would deny it; an order for it changes
/// nothing, and the policy says so. (The strictest matching entry, which
/// the check used to take, would have said deny and kept quiet.)
#[test]
fn an_exception_for_an_agency_the_lookup_allows_is_flagged() {
    let allow =
        "\n[[list]]\nname = \"test_allow\"\naction = \"allow\"\nentries = [\"NYICE0100\"]\n";
    let p = example_with(allow, &EXCEPTION.replace("VTICE0900", "NYICE0100"), now())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.lookup(b"NYICE0100").action,
        origuard::policy::Action::Allow
    );
    assert!(
        p.warnings.iter().any(|w| w.message.contains(
            "exception 2026-CR-0042 is for NYICE0100, which this policy does not restrict"
        )),
        "{:?}",
        p.warnings
    );
    // The same order for an agency the lookup denies is not flagged.
    let p = policy();
    assert!(
        !p.warnings
            .iter()
            .any(|w| w.message.contains("changes nothing")),
        "{:?}",
        p.warnings
    );
}
