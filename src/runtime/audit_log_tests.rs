//! Audit log tests: chain integrity, tamper detection at the right record,
//! reopen and torn-tail recovery, and that records hold no message content.

use super::{AuditError, AuditLog, OnCorrupt, Options, SyncMode};
use crate::audit::record::{DecisionRecord, Event};
use crate::audit::verify::verify;
use crate::decision::decide;
use crate::message::Direction;
use crate::message::Limits;
use crate::runtime::policy_store::load_path;
use bytes::Bytes;

fn write_log(path: &str, n: usize, mode: SyncMode) -> String {
    let (log, _) = AuditLog::open(path, mode).unwrap();
    for i in 0..n {
        log.append(&Event::Lifecycle {
            what: if i % 2 == 0 { "start" } else { "stop" },
        })
        .unwrap();
    }
    log.close().unwrap();
    log.head()
}

fn lines(path: &str) -> Vec<Vec<u8>> {
    std::fs::read(path)
        .unwrap()
        .split_inclusive(|&b| b == b'\n')
        .map(|l| l.to_vec())
        .collect()
}

#[test]
fn chain_verifies_in_every_mode() {
    for mode in [SyncMode::Always, SyncMode::Batch, SyncMode::None] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let p = path.to_str().unwrap();
        let head = write_log(p, 20, mode);
        let v = verify(&std::fs::read(p).unwrap()).unwrap();
        assert_eq!(v.count, 21);
        assert_eq!(v.head, head);
    }
}

#[test]
fn tampering_is_found_at_the_right_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let p = path.to_str().unwrap();
    write_log(p, 10, SyncMode::Batch);
    let orig = lines(p);
    let check = |ls: &[Vec<u8>], want_seq: u64| {
        let data: Vec<u8> = ls.concat();
        let e = match verify(&data) {
            Ok(v) => panic!("expected a failure at record {want_seq}, log verified: {v:?}"),
            Err(e) => e,
        };
        assert_eq!(e.seq, want_seq, "{e}");
    };
    // Flip one byte in record 4 (inside the "what" value).
    let mut t = orig.clone();
    let i = memchr::memmem::find(&t[4], b"\"what\":\"").unwrap() + 8;
    t[4][i] ^= 0x01;
    check(&t, 4);
    // Delete record 6.
    let mut t = orig.clone();
    t.remove(6);
    check(&t, 6);
    // Swap records 2 and 3.
    let mut t = orig.clone();
    t.swap(2, 3);
    check(&t, 2);
    // Insert a copy of record 5 after it.
    let mut t = orig.clone();
    t.insert(6, orig[5].clone());
    check(&t, 6);
    // Re-hash an altered record (attacker recomputes its hash): the next
    // record's prev no longer matches.
    let mut t = orig.clone();
    let s = String::from_utf8(t[7].clone())
        .unwrap()
        .replace("\"start\"", "\"stop\"");
    assert_ne!(s.as_bytes(), &t[7][..]);
    let body = &s[..s.rfind(",\"hash\":\"").unwrap()];
    let h = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        format!("{body}}}").as_bytes(),
    ));
    t[7] = format!("{body},\"hash\":\"{h}\"}}\n").into_bytes();
    check(&t, 8);
    // Truncation verifies (it is a shorter valid log), but the head differs:
    // `audit verify --expect-head` catches it.
    let full = verify(&orig.concat()).unwrap();
    let cut = verify(&orig[..8].concat()).unwrap();
    assert_eq!(cut.count, 8);
    assert_ne!(cut.head, full.head);
    // Garbage and empty.
    assert!(verify(b"").is_err());
    assert_eq!(verify(b"{}\n").unwrap_err().seq, 0);
}

#[test]
fn reopen_continues_and_torn_tail_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let p = path.to_str().unwrap();
    write_log(p, 3, SyncMode::Batch);
    // A crash mid-write leaves half a record.
    let mut data = std::fs::read(p).unwrap();
    let good = data.len();
    data.extend_from_slice(b"{\"seq\":4,\"ts\":\"2026-");
    std::fs::write(p, &data).unwrap();
    let (log, opened) = AuditLog::open(p, SyncMode::Batch).unwrap();
    assert_eq!(opened.records, 4);
    assert_eq!(opened.truncated, (data.len() - good) as u64);
    log.append(&Event::Lifecycle { what: "start" }).unwrap();
    log.close().unwrap();
    let v = verify(&std::fs::read(p).unwrap()).unwrap();
    assert_eq!(v.count, 6);
    let text = std::fs::read_to_string(p).unwrap();
    assert!(text
        .lines()
        .nth(4)
        .unwrap()
        .contains("\"kind\":\"recovery\""));
    drop(log);
    // A log broken in the middle is refused when the operator says so.
    let mut ls = lines(p);
    ls.remove(2);
    std::fs::write(p, ls.concat()).unwrap();
    let refuse = Options {
        on_corrupt: OnCorrupt::Refuse,
        ..Options::default()
    };
    match AuditLog::open_with(p, refuse) {
        Err(AuditError::Corrupt { broken, .. }) => assert_eq!(broken.seq, 2, "{broken}"),
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("a broken log was opened"),
    }
    assert_eq!(
        std::fs::read(p).unwrap(),
        ls.concat(),
        "refusing touched the file"
    );
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    while !f() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn kinds(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["kind"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn an_outage_holds_records_and_recovers_without_losing_any() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let p = path.to_str().unwrap();
    let opts = Options {
        max_held: 4096,
        ..Options::default()
    };
    let (log, _) = AuditLog::open_with(p, opts).unwrap();
    log.append(&Event::Lifecycle { what: "start" }).unwrap();
    log.sync().unwrap();
    let durable_before = *log.durable().borrow();
    log.inject_write_failures(true);
    // The first failing sync starts the outage.
    let first = log.append(&Event::Lifecycle { what: "start" }).unwrap();
    assert!(log.sync().is_err());
    assert!(!log.healthy());
    assert!(log.failure().unwrap().contains("no space left"));
    // Records appended now are held, not durable...
    let mut held = vec![first];
    let mut refused = 0u64;
    for _ in 0..200 {
        match log.append(&Event::Lifecycle { what: "stop" }) {
            Ok(seq) => held.push(seq),
            Err(AuditError::Full(_)) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    // ...until the buffer is full: then appends are refused.
    assert!(
        refused > 0 && held.len() > 10,
        "held {} refused {refused}",
        held.len()
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        *log.durable().borrow(),
        durable_before,
        "nothing is durable during the outage"
    );
    let o = log.outage().unwrap();
    assert_eq!((o.held as usize, o.refused), (held.len(), refused));
    // The disk takes writes again: the syncer's retry writes every held record.
    log.inject_write_failures(false);
    let last = *held.last().unwrap();
    wait_until("recovery", || {
        log.healthy() && *log.durable().borrow() > last
    });
    log.close().unwrap();
    let text = std::fs::read_to_string(p).unwrap();
    let v = verify(text.as_bytes()).unwrap();
    assert_eq!(v.count, last + 2, "every held record and the outage record");
    let outage: serde_json::Value = serde_json::from_str(
        text.lines()
            .find(|l| l.contains("\"kind\":\"audit_outage\""))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(outage["held"], held.len() as u64);
    assert_eq!(outage["refused"], refused);
    assert!(outage["error"].as_str().unwrap().contains("no space left"));
}

#[test]
fn copytruncate_starts_a_new_segment_without_a_gap_of_nul_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let p = path.to_str().unwrap();
    let (log, _) = AuditLog::open(p, SyncMode::Batch).unwrap();
    for _ in 0..5 {
        log.append(&Event::Lifecycle { what: "start" }).unwrap();
    }
    log.sync().unwrap();
    // logrotate copytruncate: copy, then truncate the live file in place.
    let copy = dir.path().join("a.jsonl.1");
    std::fs::copy(p, &copy).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .unwrap()
        .set_len(0)
        .unwrap();
    let seq = log.append(&Event::Lifecycle { what: "stop" }).unwrap();
    wait_until("the record after truncation", || {
        *log.durable().borrow() > seq
    });
    log.close().unwrap();
    let data = std::fs::read(p).unwrap();
    assert!(!data.contains(&0), "NUL bytes in the log");
    let v = verify(&data).unwrap();
    let h = v.segment.expect("a segment header");
    assert_eq!(h.reason, "truncated");
    let old = verify(&std::fs::read(&copy).unwrap()).unwrap();
    assert_eq!(
        (h.next_seq, h.prev.as_str()),
        (old.count, old.head.as_str()),
        "the chain continues from the copy"
    );
    let text = String::from_utf8(data).unwrap();
    assert_eq!(kinds(&text)[1..], ["lifecycle", "file_event"]);
    // And the next start continues the segment.
    let (log, opened) = AuditLog::open(p, SyncMode::Batch).unwrap();
    assert_eq!(opened.records, v.count);
    drop(log);
}

#[test]
fn a_deleted_or_replaced_live_file_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let p = path.to_str().unwrap();
    let (log, _) = AuditLog::open(p, SyncMode::Batch).unwrap();
    log.append(&Event::Lifecycle { what: "start" }).unwrap();
    log.sync().unwrap();
    let head = log.head();
    // Deleted: a new file appears within the check interval.
    std::fs::remove_file(p).unwrap();
    wait_until("a new file", || path.exists());
    let seq = log.append(&Event::Lifecycle { what: "stop" }).unwrap();
    wait_until("durable", || *log.durable().borrow() > seq);
    let v = verify(&std::fs::read(p).unwrap()).unwrap();
    let h = v.segment.unwrap();
    assert_eq!(
        (h.reason.as_str(), h.prev.as_str(), h.next_seq),
        ("deleted", head.as_str(), 2)
    );
    // Replaced (rename rotation, a tool creates an empty file): reopen
    // adopts it; the renamed file ends where the new one begins.
    let rotated = dir.path().join("a.jsonl.1");
    std::fs::rename(p, &rotated).unwrap();
    std::fs::File::create(p).unwrap();
    assert!(log.reopen().unwrap());
    assert!(
        !log.reopen().unwrap(),
        "a second reopen finds the file unchanged"
    );
    let seq = log.append(&Event::Lifecycle { what: "start" }).unwrap();
    log.sync().unwrap();
    assert!(*log.durable().borrow() > seq);
    log.close().unwrap();
    let old = verify(&std::fs::read(&rotated).unwrap()).unwrap();
    let new = verify(&std::fs::read(p).unwrap()).unwrap();
    let h = new.segment.unwrap();
    assert_eq!(
        (h.reason.as_str(), h.next_seq, h.prev),
        ("replaced", old.count, old.head)
    );
}

#[test]
fn a_log_that_does_not_verify_is_kept_aside_and_a_new_file_continues() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let p = path.to_str().unwrap();
    write_log(p, 6, SyncMode::Batch);
    let mut ls = lines(p);
    let good = verify(&ls[..3].concat()).unwrap();
    ls[3][10] ^= 1;
    let broken = ls.concat();
    std::fs::write(p, &broken).unwrap();
    let (log, opened) = AuditLog::open(p, SyncMode::Batch).unwrap();
    let (aside, why) = opened.kept_aside.clone().unwrap();
    assert!(why.contains("record 3"), "{why}");
    assert_eq!(
        std::fs::read(&aside).unwrap(),
        broken,
        "kept aside untouched"
    );
    assert_eq!(opened.records, 3);
    log.append(&Event::Lifecycle { what: "start" }).unwrap();
    log.close().unwrap();
    let text = std::fs::read_to_string(p).unwrap();
    let v = verify(text.as_bytes()).unwrap();
    let h = v.segment.unwrap();
    assert_eq!((h.next_seq, h.prev), (3, good.head));
    assert_eq!(kinds(&text)[1..], ["file_event", "lifecycle"]);
    assert!(text.contains(&aside));
}

#[test]
fn durable_counter_advances() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let (log, _) = AuditLog::open(path.to_str().unwrap(), SyncMode::Batch).unwrap();
    let seq = log.append(&Event::Lifecycle { what: "start" }).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut durable = log.durable();
    rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while *durable.borrow_and_update() <= seq {
                durable.changed().await.unwrap();
            }
        })
        .await
        .unwrap()
    });
    assert!(*log.durable().borrow() > seq);
}

/// `batch` mode: records nobody asks a commit for still become durable
/// (the commit window), a burst appended before `commit` goes out in one
/// sync, and `commit` with nothing pending is a no-op.
#[test]
fn the_commit_window_makes_every_record_durable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let p = path.to_str().unwrap();
    let (log, _) = AuditLog::open(p, SyncMode::Batch).unwrap();
    log.commit();
    let durable = |seq: u64| {
        let mut rx = log.durable();
        wait_until("durable", || *rx.borrow_and_update() > seq);
    };
    // Not asked: the window.
    let seq = log.append(&Event::Lifecycle { what: "start" }).unwrap();
    durable(seq);
    // A burst, then asked.
    let seqs: Vec<u64> = (0..50)
        .map(|_| log.append(&Event::Lifecycle { what: "stop" }).unwrap())
        .collect();
    log.commit();
    durable(*seqs.last().unwrap());
    log.commit();
    log.close().unwrap();
    let v = verify(&std::fs::read(p).unwrap()).unwrap();
    assert_eq!(v.count, 52, "log_start and the 51 records");
}

#[test]
fn records_hold_no_message_content() {
    let policy = load_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/policy/colorado.toml"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let p = path.to_str().unwrap();
    let (log, _) = AuditLog::open(p, SyncMode::Batch).unwrap();
    let markers = [
        "ZQNAMEMARK",
        "19990909",
        "ZQOLNMARK",
        "ZQADDRMARK",
        "ZQPOBMARK",
        "ZQIMGMARK",
    ];
    let legacy = "DR.COOLN0000.VTICE0900.*ICE0000001.TXT\r\nNAM/ZQNAMEMARK.DOB/19990909.OLN/ZQOLNMARK.ADDR/ZQADDRMARK.POB/ZQPOBMARK";
    let xml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/messages/xml/dr_photo.xml"
    ))
    .unwrap()
    .replace("DOE", "ZQNAMEMARK")
    .replace("EXAMPLE CITY", "ZQPOBMARK")
    .replace("/9j/", "ZQIMGMARK");
    for dest in ["VTICE0900", "VADEADX00", "AZNLETS20"] {
        for (dir, raw) in [
            (Direction::Outbound, legacy.replace("VTICE0900", dest)),
            (Direction::Outbound, xml.replace("AZNLETS20", dest)),
            (
                Direction::Inbound,
                format!("DQ.{dest}.CO.TXT\r\nNAM/ZQNAMEMARK.DOB/19990909"),
            ),
            (Direction::Inbound, "garbage ZQNAMEMARK".to_string()),
        ] {
            let d = decide(
                dir,
                Bytes::from(raw),
                &policy,
                &Limits::default(),
                std::time::SystemTime::now(),
            );
            log.append(&Event::Decision(Box::new(DecisionRecord::of(
                &d,
                dir,
                &policy,
                Some("test"),
            ))))
            .unwrap();
        }
    }
    log.close().unwrap();
    let text = std::fs::read_to_string(p).unwrap();
    for m in markers {
        assert!(!text.contains(m), "audit log contains {m}");
    }
    assert!(
        text.contains("\"reason\":\"deny\"")
            && text.contains("\"fields_removed\":[\"photo\",\"pob\"]")
    );
    assert_eq!(verify(text.as_bytes()).unwrap().count, 13);
}

/// Stops the log's syncer thread (as if it got no CPU).
fn stop_syncer(log: &AuditLog) {
    log.shared
        .stop
        .store(true, std::sync::atomic::Ordering::SeqCst);
    log.shared.wake.notify_all();
    super::lock(&log.syncer).take().unwrap().join().unwrap();
}

/// A record of about a kilobyte.
fn kilobyte_record(i: u64) -> Event {
    Event::FileEvent {
        event: "replaced",
        file: format!("f{i}"),
        kept_aside: None,
        detail: Some("x".repeat(1000)),
    }
}

/// Records are staged by the appender and sealed (chained, hashed) by the
/// syncer; when the syncer is behind — here stopped — appenders seal what
/// is staged themselves once it reaches `SEAL_AT`, so staged records never
/// grow without bound, and the log still verifies record for record.
#[test]
fn appenders_seal_when_the_syncer_is_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let p = path.to_str().unwrap();
    let (log, _) = AuditLog::open(p, SyncMode::None).unwrap();
    stop_syncer(&log);
    let mut last = 0;
    let mut most = 0;
    for i in 0..3000u64 {
        last = log.append(&kilobyte_record(i)).unwrap();
        most = most.max(super::lock(&log.shared.state).staged.len());
    }
    assert!(
        most < super::writer::SEAL_AT + 2048,
        "staged grew to {most} bytes"
    );
    let sealed = super::lock(&log.shared.io).sealed_seq;
    assert!(sealed > last / 2, "only {sealed} of {last} records sealed");
    // The head is that of the last record, sealed on demand.
    let head = log.head();
    log.close().unwrap();
    let v = verify(&std::fs::read(p).unwrap()).unwrap();
    assert_eq!(v.count, last + 1);
    assert_eq!(v.head, head);
}

/// An appender never waits on the disk: while the file's lock is held (a
/// syncer inside a long `fdatasync`), appends past `SEAL_AT` still return
/// at once (they leave the sealing to the syncer), and the status page's
/// `sealed()` answers.
#[test]
fn an_appender_never_waits_for_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let p = path.to_str().unwrap();
    let (log, _) = AuditLog::open(p, SyncMode::Batch).unwrap();
    // The syncer inside a long `fdatasync` holds the file's lock (and not
    // the state's): stop the real one, and hold that lock here.
    stop_syncer(&log);
    let log = std::sync::Arc::new(log);
    let io = super::lock(&log.shared.io);
    let appender = {
        let log = log.clone();
        std::thread::spawn(move || {
            for i in 0..2000u64 {
                log.append(&kilobyte_record(i)).unwrap();
            }
            let _ = log.sealed();
        })
    };
    let t = std::time::Instant::now();
    while !appender.is_finished() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "an append waited for the file's lock"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    appender.join().unwrap();
    assert!(super::lock(&log.shared.state).staged.len() > super::writer::SEAL_AT);
    drop(io);
    let last = log.count() - 1;
    let head = log.head();
    log.close().unwrap();
    let v = verify(&std::fs::read(p).unwrap()).unwrap();
    assert_eq!((v.count, v.head), (last + 1, head));
}

#[test]
fn a_second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let p = path.to_str().unwrap();
    let (first, _) = AuditLog::open(p, SyncMode::Batch).unwrap();
    match AuditLog::open(p, SyncMode::Batch) {
        Err(e) => assert!(e.to_string().contains("in use by another process"), "{e}"),
        Ok(_) => panic!("two writers on one log"),
    }
    first.close().unwrap();
}

// ---- version 2: segments, retention, checkpoints, tail start-up ----

use crate::audit::verify::{verify_file, Chain, ChainOptions};
use std::time::Duration;

fn v2(checkpoint_every: u64) -> Options {
    Options {
        checkpoint_every: Some(checkpoint_every),
        ..Options::with_mode(SyncMode::Batch)
    }
}

fn lifecycle(log: &AuditLog, n: usize, sync_every: usize) {
    for i in 0..n {
        log.append(&Event::Lifecycle {
            what: if i % 2 == 0 { "start" } else { "stop" },
        })
        .unwrap();
        if i % sync_every == sync_every - 1 {
            log.sync().unwrap();
        }
    }
}

/// Every file of the log in chain order: closed segments, then the live file.
fn chain_files(p: &str) -> Vec<String> {
    let mut v: Vec<String> = super::segments_of(p, u64::MAX)
        .into_iter()
        .map(|s| s.0)
        .collect();
    v.push(p.to_string());
    v
}

fn verify_all(files: &[String], opts: ChainOptions) -> (Chain, crate::audit::verify::Verified) {
    let mut c = Chain::new(opts);
    let mut last = None;
    for f in files {
        let file = std::fs::File::open(f).unwrap();
        last = Some(verify_file(&mut c, file, |_, _| {}).unwrap_or_else(|e| panic!("{f}: {e}")));
    }
    let v = last.unwrap();
    (c, v)
}

#[test]
fn rotation_by_size_produces_chained_segments_that_verify_as_one_log() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.jsonl").display().to_string();
    let opts = Options {
        rotate_size: Some(8 << 10),
        ..v2(50)
    };
    let (log, _) = AuditLog::open_with(&p, opts).unwrap();
    lifecycle(&log, 600, 10);
    log.close().unwrap();
    let files = chain_files(&p);
    assert!(files.len() >= 4, "{files:?}");
    for (f, first, _, _) in super::segments_of(&p, u64::MAX) {
        let len = std::fs::metadata(&f).unwrap().len();
        // A segment ends at the first sync past the size: at most one batch over.
        assert!(len <= (8 << 10) + 4096, "{f}: {len}");
        let first_line = std::fs::read(&f).unwrap();
        let first_line = first_line.split(|&b| b == b'\n').next().unwrap().to_vec();
        if first > 0 {
            let h: crate::audit::record::SegmentHeader =
                serde_json::from_slice(&first_line).unwrap();
            assert_eq!((h.next_seq, h.reason.as_str()), (first, "rotated"));
            assert!(h.frontier.is_some());
        }
    }
    let (chain, v) = verify_all(&files, ChainOptions::default());
    assert_eq!(v.count, log.count());
    assert_eq!(v.head, log.head());
    // 600 records + log_start + checkpoints every 50 and one at close.
    assert!(chain.checkpoints() >= 12, "{}", chain.checkpoints());
    // A segment removed from the middle breaks the chain at the next file.
    let mut gap = files.clone();
    gap.remove(1);
    let mut c = Chain::new(ChainOptions::default());
    let mut err = None;
    for f in &gap {
        if let Err(e) = verify_file(&mut c, std::fs::File::open(f).unwrap(), |_, _| {}) {
            err = Some(e.to_string());
            break;
        }
    }
    assert!(
        err.as_deref()
            .unwrap_or("")
            .contains("does not continue the file before it"),
        "{err:?}"
    );
}

#[test]
fn retention_deletes_only_old_segments_covered_by_a_checkpoint_written_out() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.jsonl").display().to_string();
    let cp = dir.path().join("a.checkpoint").display().to_string();
    // Retention of a day: nothing is old enough.
    let opts = Options {
        rotate_size: Some(4 << 10),
        retain: Some(Duration::from_secs(86_400)),
        checkpoint_file: Some(cp.clone()),
        ..v2(20)
    };
    let (log, _) = AuditLog::open_with(&p, opts.clone()).unwrap();
    lifecycle(&log, 300, 10);
    log.close().unwrap();
    let kept = super::segments_of(&p, u64::MAX).len();
    assert!(kept >= 3);
    // Old segments but no checkpoint written out: nothing is deleted.
    let no_file = Options {
        retain: Some(Duration::ZERO),
        checkpoint_file: None,
        ..opts.clone()
    };
    let (log, _) = AuditLog::open_with(&p, no_file).unwrap();
    log.close().unwrap();
    assert!(super::segments_of(&p, u64::MAX).len() >= kept);
    // Retention 0 with the checkpoint file: every closed segment the
    // written checkpoint covers goes, the live file stays.
    let cp_now: crate::audit::checkpoint::Checkpoint =
        serde_json::from_slice(&std::fs::read(&cp).unwrap()).unwrap();
    let live_first = {
        let d = std::fs::read(&p).unwrap();
        let h: crate::audit::record::SegmentHeader =
            serde_json::from_slice(d.split(|&b| b == b'\n').next().unwrap()).unwrap();
        h.next_seq
    };
    let before = super::segments_of(&p, live_first);
    std::thread::sleep(Duration::from_millis(1100));
    let zero = Options {
        retain: Some(Duration::ZERO),
        ..opts
    };
    let (log, _) = AuditLog::open_with(&p, zero).unwrap();
    log.close().unwrap();
    let after = super::segments_of(&p, u64::MAX);
    // The newest closed segment is never deleted (it may go once a rotation
    // at close makes another the newest).
    assert!(!after.is_empty());
    let newest = before.last().unwrap().0.clone();
    for (f, _, next, _) in &before {
        if *f == newest {
            continue;
        }
        let gone = !std::path::Path::new(f).exists();
        assert_eq!(
            gone,
            *next <= cp_now.tree_size + 1,
            "{f} next {next}, covered {}",
            cp_now.tree_size
        );
    }
    assert!(after.len() < before.len());
    assert!(std::path::Path::new(&p).exists());
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("\"kind\":\"segment_deleted\""));
    // What is left still verifies as a log from its first remaining file
    // (the header's frontier carries the tree).
    let (chain, _) = verify_all(&chain_files(&p), ChainOptions::default());
    assert!(chain.checkpoints() > 0);
    let history = std::fs::read_to_string(format!("{cp}.history")).unwrap();
    assert!(history.lines().count() >= 2);
}

#[test]
fn restart_reads_only_the_tail_after_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.jsonl").display().to_string();
    let (log, _) = AuditLog::open_with(&p, v2(1000)).unwrap();
    lifecycle(&log, 30_000, 5000);
    log.close().unwrap();
    let len = std::fs::metadata(&p).unwrap().len();
    assert!(len > 3 << 20, "{len}");
    let (log, opened) = AuditLog::open_with(&p, v2(1000)).unwrap();
    assert_eq!(opened.records, log.count());
    // The first line, the last byte (room or not?) and one 64 KiB chunk
    // from the end.
    assert!(
        opened.read_bytes <= (128 << 10) + 1,
        "read {} of {len}",
        opened.read_bytes
    );
    lifecycle(&log, 10, 10);
    log.close().unwrap();
    let v = verify(&std::fs::read(&p).unwrap()).unwrap();
    assert_eq!(v.count, log.count());
    // A torn record after the last checkpoint is cut off, still from the tail.
    let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    std::io::Write::write_all(&mut f, b"{\"seq\":99999,\"ts\":\"2026").unwrap();
    drop(f);
    let (log, opened) = AuditLog::open_with(&p, v2(1000)).unwrap();
    assert!(
        opened.truncated > 0 && opened.read_bytes <= (128 << 10) + 1,
        "{opened:?}"
    );
    log.close().unwrap();
    assert!(verify(&std::fs::read(&p).unwrap()).is_ok());
    // Without any checkpoint the whole file is read (bounded by rotation).
    let q = dir.path().join("b.jsonl").display().to_string();
    write_log(&q, 2000, SyncMode::None);
    let len = std::fs::metadata(&q).unwrap().len();
    let (_log, opened) = AuditLog::open(&q, SyncMode::Batch).unwrap();
    // The last byte, the first line, the whole file.
    assert_eq!(opened.read_bytes, 1 + len + (64 << 10).min(len));
}

#[test]
fn checkpoints_are_signed_written_out_and_checked() {
    use ring::signature::KeyPair;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.jsonl").display().to_string();
    let key = dir.path().join("k.pk8");
    let doc =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    std::fs::write(&key, doc.as_ref()).unwrap();
    let public = crate::audit::checkpoint::load_signing_key(doc.as_ref())
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
    let cp = dir.path().join("a.checkpoint").display().to_string();
    let opts = Options {
        signing_key: Some(key.display().to_string()),
        checkpoint_file: Some(cp.clone()),
        checkpoint_interval: Some(Duration::from_millis(200)),
        ..v2(100)
    };
    let (log, _) = AuditLog::open_with(&p, opts).unwrap();
    lifecycle(&log, 250, 50);
    // A time-based checkpoint for the last 50 records, without more appends.
    wait_until("a time-based checkpoint", || {
        std::fs::read_to_string(&p)
            .unwrap()
            .matches("\"kind\":\"checkpoint\"")
            .count()
            >= 3
    });
    log.close().unwrap();
    let (chain, v) = verify_all(
        std::slice::from_ref(&p),
        ChainOptions {
            public_key: Some(public.clone()),
            saved: None,
        },
    );
    let last = chain.last_checkpoint().unwrap();
    assert_eq!(
        last.tree_size + 1,
        v.count,
        "the close writes the last record: a checkpoint"
    );
    let file: crate::audit::checkpoint::Checkpoint =
        serde_json::from_slice(&std::fs::read(&cp).unwrap()).unwrap();
    assert_eq!(&file, last);
    file.check_signature(&public).unwrap();
    // Another key is refused.
    let other =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let other = crate::audit::checkpoint::load_signing_key(other.as_ref()).unwrap();
    let mut c = Chain::new(ChainOptions {
        public_key: Some(other.public_key().as_ref().to_vec()),
        saved: None,
    });
    let e = verify_file(&mut c, std::fs::File::open(&p).unwrap(), |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("not by the given public key"), "{e}");
}

/// `none` mode waits for no write, so when its writer falls behind — here
/// stopped — an appender that finds `NONE_UNWRITTEN` bytes not yet written
/// writes them itself: the log's memory stays bounded, and every record is
/// in the file.
#[test]
fn none_mode_memory_is_bounded_when_its_writer_falls_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let p = path.to_str().unwrap();
    let (log, _) = AuditLog::open(p, SyncMode::None).unwrap();
    stop_syncer(&log);
    let mut last = 0;
    let mut most = 0;
    for i in 0..24_000u64 {
        last = log.append(&kilobyte_record(i)).unwrap();
        let staged = super::lock(&log.shared.state).staged.len();
        most = most.max(staged + super::lock(&log.shared.io).pending.len());
    }
    let bound = super::writer::NONE_UNWRITTEN + super::writer::SEAL_AT + 4096;
    assert!(most < bound, "{most} bytes not yet written (bound {bound})");
    assert!(
        std::fs::metadata(p).unwrap().len() > 8 << 20,
        "the appenders wrote nothing"
    );
    log.close().unwrap();
    let v = verify(&std::fs::read(p).unwrap()).unwrap();
    assert_eq!(v.count, last + 1);
}
