//! The hand-written encoders against serde, byte for byte.

use super::*;
use crate::audit::record::{DecisionRecord, Event};
use crate::capture::gen::{Generator, Mix, Shape};
use crate::decision::{decide, ledger::Use, Decision};
use crate::message::Limits;
use proptest::prelude::*;
use serde::Serialize;
use std::sync::Arc;

/// The line as the serde-only encoder of audit log version 2 wrote it.
fn serde_line(seq: u64, ts: &str, event: &Event, prev: &str) -> (Vec<u8>, String) {
    #[derive(Serialize)]
    struct Line<'a> {
        seq: u64,
        ts: &'a str,
        #[serde(flatten)]
        event: &'a Event,
        prev: &'a str,
    }
    let mut out = serde_json::to_vec(&Line {
        seq,
        ts,
        event,
        prev,
    })
    .unwrap();
    let hash = hex::encode(Sha256::digest(&out));
    out.pop();
    out.extend_from_slice(b",\"hash\":\"");
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(b"\"}\n");
    (out, hash)
}

fn ours(seq: u64, ts: &str, body: &Body, prev: &Hash) -> (Vec<u8>, String) {
    let mut out = b"earlier line\n".to_vec();
    let h = encode_line(seq, ts, body, prev, &mut out);
    (out[13..].to_vec(), hex::encode(h))
}

const TRICKY: &[&str] = &[
    "",
    "plain",
    "quote \" and backslash \\",
    "controls \u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} end",
    "del \u{7f}, é, ü, 漢字, 🙂",
    "\\u0041 is not unescaped",
];

fn every_event(s: &str) -> Vec<Event> {
    vec![
        Event::LogStart {
            log_id: s.into(),
            software: "origuard 0.x".into(),
        },
        Event::policy_load(true, s, "/etc/origuard/policy.toml", s, 0),
        Event::policy_load(false, "v", s, "sighup", 3),
        Event::Recovery {
            truncated_bytes: u64::MAX,
        },
        Event::Lifecycle { what: "start" },
        Event::Written {
            link: s.into(),
            side: "nlets",
            seqs: vec![0, 1, u64::MAX],
        },
        Event::Written {
            link: s.into(),
            side: "switch",
            seqs: vec![],
        },
        Event::Undelivered {
            link: s.into(),
            side: "switch",
            seqs: vec![7],
            reason: "write_failed",
        },
        Event::AuditOutage {
            since: s.into(),
            until: "u".into(),
            error: s.into(),
            held: 3,
            refused: 0,
        },
        Event::FileEvent {
            event: "kept_aside",
            file: s.into(),
            kept_aside: Some(s.into()),
            detail: None,
        },
        Event::Checkpoint {
            log_id: "l".into(),
            tree_size: 12,
            root: s.into(),
            frontier: vec![s.into(), "b".into()],
            key_id: None,
            signature: Some(s.into()),
        },
        Event::SegmentDeleted {
            file: s.into(),
            first_seq: 0,
            next_seq: 9,
        },
    ]
}

#[test]
fn every_event_encodes_as_serde_did() {
    let prev = [0xabu8; 32];
    for s in TRICKY {
        for (i, ev) in every_event(s).iter().enumerate() {
            let (want, want_hash) = serde_line(i as u64 * 1000, s, ev, &hex::encode(prev));
            let (got, got_hash) = ours(i as u64 * 1000, s, &Body::of(ev), &prev);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{ev:?}"
            );
            assert_eq!(got_hash, want_hash);
        }
    }
}

#[test]
fn written_is_the_serde_body() {
    for s in TRICKY {
        for seqs in [vec![], vec![5], vec![0, 1, 2, 18_446_744_073_709_551_615]] {
            let ev = Event::Written {
                link: s.to_string(),
                side: "nlets",
                seqs: seqs.clone(),
            };
            assert_eq!(Body::written(s, "nlets", &seqs), Body::of(&ev));
        }
    }
}

fn policy() -> Policy {
    crate::runtime::policy_store::load_path(concat!(
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
            let mut d = decide(dir, raw.into(), &p, &limits);
            listed += d.verdict.is_some_and(|v| v.entry.is_some()) as u32;
            removed += !d.removed.is_empty() as u32;
            replies +=
                matches!(d.outcome, crate::decision::Outcome::Deny { reply: Some(_) }) as u32;
            same(&d, dir, &p, Some("link-1"));
            same(&d, dir, &p, None);
            if i % 5 == 0 {
                d.exception = Some(Use {
                    id: Arc::from(TRICKY[i % TRICKY.len()]),
                    number: i as u32,
                    of: 10_000,
                });
                d.reason_code = Some(if i % 2 == 0 { b'C' } else { 0xe9 });
                d.detail = Some("certification_lapsed");
                d.removed.insert(crate::message::fields::PHOTO);
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

proptest! {
    #[test]
    fn strings_escape_as_serde_does(s in "\\PC*|[\\x00-\\x7f]{0,40}") {
        let mut w = Writer(Vec::new());
        w.str(&s);
        prop_assert_eq!(w.0, serde_json::to_vec(&s).unwrap());
    }

    #[test]
    fn numbers_as_serde_does(n in any::<u64>()) {
        let mut w = Writer(Vec::new());
        w.num(n);
        prop_assert_eq!(w.0, serde_json::to_vec(&n).unwrap());
    }
}
