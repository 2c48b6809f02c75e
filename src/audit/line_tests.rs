//! The hand-written encoders against serde, byte for byte.

//! (Decisions against serde: `tests/pipeline_props.rs`, which may use the
//! generator and the policy store.)

use super::*;
use crate::audit::record::Event;
use proptest::prelude::*;
use serde::Serialize;

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
        Event::Checkpoint(crate::audit::checkpoint::CheckpointRecord {
            log_id: "l".into(),
            tree_size: 12,
            root: s.into(),
            frontier: vec![s.into(), "b".into()],
            key_id: None,
            signature: Some(s.into()),
        }),
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

/// The checkpoint record keeps the wire layout of version 2 (fields in
/// order after `kind`), and verification reads back what the writer wrote.
#[test]
fn a_checkpoint_record_reads_back_as_it_was_written() {
    use crate::audit::checkpoint::{CheckpointLine, CheckpointRecord};
    let rec = CheckpointRecord {
        log_id: "l".into(),
        tree_size: 2,
        root: "ab".into(),
        frontier: vec!["ab".into()],
        key_id: None,
        signature: Some("cd".into()),
    };
    let ev = Event::Checkpoint(rec.clone());
    let (line, _) = serde_line(2, "2026-12-01T12:00:00.000Z", &ev, "00");
    let text = String::from_utf8(line.clone()).unwrap();
    assert!(
        text.starts_with(
            r#"{"seq":2,"ts":"2026-12-01T12:00:00.000Z","kind":"checkpoint","log_id":"l","tree_size":2,"root":"ab","frontier":["ab"],"key_id":null,"signature":"cd","prev":"00""#
        ),
        "{text}"
    );
    let back: CheckpointLine = serde_json::from_slice(&line).unwrap();
    assert_eq!(back.record, rec);
    assert_eq!(back.ts, "2026-12-01T12:00:00.000Z");
}
