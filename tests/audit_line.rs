//! The proxy's hand-written decision record (`Body::decision`) against the
//! reference encoding (serde of `DecisionRecord`), byte for byte, over the
//! generator's messages and the example policy.

use origuard::audit::line::Body;
use origuard::audit::record::{DecisionRecord, Event};
use origuard::capture::gen::{Generator, Mix, Shape};
use origuard::decision::{decide, ledger::Use, Decision};
use origuard::message::{Direction, Limits};
use origuard::policy::Policy;
use std::sync::Arc;

const TRICKY: &[&str] = &[
    "",
    "plain",
    "quote \" and backslash \\",
    "controls \u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} end",
    "del \u{7f}, é, ü, 漢字, 🙂",
];

fn policy() -> Policy {
    origuard::runtime::policy_store::load_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/policy/colorado.toml"
    ))
    .unwrap()
}

fn same(d: &Decision, dir: Direction, p: &Policy, link: Option<&str>) {
    let want = Body::of(&Event::Decision(Box::new(DecisionRecord::of(
        d, dir, p, link,
    ))));
    let got = Body::decision(d, dir, p, link);
    assert_eq!(
        String::from_utf8_lossy(got.as_bytes()),
        String::from_utf8_lossy(want.as_bytes())
    );
}

/// Every generated shape, both directions, against the example policy
/// (passes, redactions with fields removed, denials with replies, parse
/// failures), then each optional member forced on with awkward text.
#[test]
fn decisions_are_the_serde_body() {
    let p = policy();
    let limits = Limits::default();
    let (mut n, mut listed, mut removed, mut replies) = (0, 0, 0, 0);
    for shape in [Shape::Mixed, Shape::Small, Shape::Photo] {
        let mut g = Generator::new(
            7,
            Mix {
                shape,
                ..Mix::default()
            },
        );
        for i in 0..300 {
            let inbound = i % 3 == 0;
            let dir = if inbound {
                Direction::Inbound
            } else {
                Direction::Outbound
            };
            let mut raw = g.message(inbound).to_vec();
            if i % 11 == 0 {
                raw.truncate(raw.len() / 2);
            }
            let mut d = decide(dir, raw.into(), &p, &limits, std::time::SystemTime::now());
            listed += d.verdict.is_some_and(|v| v.entry.is_some()) as u32;
            removed += !d.removed.is_empty() as u32;
            replies += matches!(
                d.outcome,
                origuard::decision::Outcome::Deny { reply: Some(_) }
            ) as u32;
            same(&d, dir, &p, Some("link-1"));
            same(&d, dir, &p, None);
            if i % 5 == 0 {
                d.exception = Some(Use {
                    id: Arc::from(TRICKY[i % TRICKY.len()]),
                    identity: Arc::from("k"),
                    number: i as u32,
                    of: 10_000,
                    approvers: Arc::from(TRICKY[(i + 1) % TRICKY.len()]),
                });
                d.subject_check = Some((
                    origuard::decision::court_order::SubjectCheck::Mismatch,
                    i as u32,
                ));
                d.reason_code = Some(if i % 2 == 0 { b'C' } else { 0xe9 });
                d.detail = Some("certification_lapsed");
                d.removed.insert(origuard::message::fields::PHOTO);
                same(&d, dir, &p, Some(TRICKY[i % TRICKY.len()]));
            }
            n += 1;
        }
    }
    assert_eq!(n, 900);
    assert!(
        listed > 50 && removed > 20 && replies > 10,
        "{listed} {removed} {replies}"
    );
}
