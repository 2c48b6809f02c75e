//! The live file's room (`Options::preallocate`): spaces written ahead of
//! the content so that appends overwrite instead of growing the file; what
//! every reader, a restart and a failure make of it.

use super::{AuditLog, Options, SyncMode, PREALLOCATE};
use crate::audit::record::Event;
use crate::audit::verify::{verify, verify_file, Chain, ChainOptions, LineReader};
use std::os::unix::fs::MetadataExt;

fn start(log: &AuditLog, n: usize) {
    for _ in 0..n {
        log.append(&Event::Lifecycle { what: "start" }).unwrap();
    }
}

/// The file's bytes: its content (through the last line feed) and what
/// follows it.
fn split(p: &str) -> (Vec<u8>, Vec<u8>) {
    let data = std::fs::read(p).unwrap();
    let end = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    (data[..end].to_vec(), data[end..].to_vec())
}

fn whole_has_nul(p: &str) -> bool {
    std::fs::read(p).unwrap().contains(&0)
}

/// A live `batch` log of `records` records, synced: its directory, path
/// and log.
fn live(records: usize) -> (tempfile::TempDir, String, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.jsonl").display().to_string();
    let (log, _) = AuditLog::open(&p, SyncMode::Batch).unwrap();
    start(&log, records);
    log.sync().unwrap();
    (dir, p, log)
}

/// The file at `p` has no NUL byte and is a new file after a truncation
/// continuing the chain of `before`; what it verifies to.
fn continues_after_a_cut(
    p: &str,
    before: &crate::audit::verify::Verified,
) -> crate::audit::verify::Verified {
    let data = std::fs::read(p).unwrap();
    assert!(!data.contains(&0), "NUL bytes in the file");
    let text = String::from_utf8(data).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["kind"], "segment");
    assert_eq!(first["reason"], "truncated");
    assert_eq!(first["next_seq"], before.count);
    assert_eq!(first["prev"], before.head.as_str());
    assert!(text.contains("\"kind\":\"file_event\""));
    let mut c = Chain::new(ChainOptions::default());
    verify_file(&mut c, text.as_bytes(), |_, _| {}).unwrap()
}

fn verify_streaming(p: &str) -> u64 {
    let mut c = Chain::new(ChainOptions::default());
    let f = std::fs::File::open(p).unwrap();
    verify_file(&mut c, f, |_, _| {}).unwrap().count
}

#[test]
fn the_live_file_keeps_room_that_every_reader_leaves_out() {
    let (_dir, p, log) = live(100);
    let (content, room) = split(&p);
    assert!(
        room.len() as u64 >= PREALLOCATE / 2 && room.len() as u64 <= PREALLOCATE,
        "room {} after {} bytes",
        room.len(),
        content.len()
    );
    assert!(room.iter().all(|&b| b == b' '), "the room is spaces");
    // Text: `grep` reads it as such.
    assert!(!whole_has_nul(&p));
    // Both readers of a whole file read the records and nothing else.
    let whole = std::fs::read(&p).unwrap();
    assert_eq!(verify(&whole).unwrap().count, 101);
    assert_eq!(verify_streaming(&p), 101);
    let mut lines = LineReader::new(std::fs::File::open(&p).unwrap());
    let mut n = 0;
    while lines.next_line().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 101, "the room is no line");
    // Closed, the file is its content alone.
    log.close().unwrap();
    let (after, rest) = split(&p);
    assert!(rest.is_empty(), "{} bytes of room after close", rest.len());
    assert_eq!(after.len() as u64, std::fs::metadata(&p).unwrap().len());
}

#[test]
fn appends_overwrite_the_room_and_do_not_grow_the_file() {
    let (_dir, p, log) = live(10);
    let before = std::fs::metadata(&p).unwrap();
    // 200 records of ~180 bytes, synced one by one: far less than half
    // the room, so no new room is made.
    for _ in 0..200 {
        start(&log, 1);
        log.sync().unwrap();
    }
    let after = std::fs::metadata(&p).unwrap();
    assert_eq!(after.len(), before.len(), "the file grew");
    assert_eq!(after.ino(), before.ino());
    assert_eq!(verify(&std::fs::read(&p).unwrap()).unwrap().count, 211);
    // Past half the room, more is made: the content never reaches its end.
    for _ in 0..40 {
        start(&log, 100);
        log.sync().unwrap();
        let (content, room) = split(&p);
        assert!(
            room.len() as u64 >= PREALLOCATE / 2,
            "{} bytes of room after {}",
            room.len(),
            content.len()
        );
    }
    log.close().unwrap();
    assert_eq!(verify(&std::fs::read(&p).unwrap()).unwrap().count, 4211);
}

#[test]
fn none_mode_and_preallocate_zero_keep_no_room() {
    let dir = tempfile::tempdir().unwrap();
    for (name, opts) in [
        ("none", Options::with_mode(SyncMode::None)),
        (
            "off",
            Options {
                preallocate: 0,
                ..Options::default()
            },
        ),
    ] {
        let p = dir.path().join(name).display().to_string();
        let (log, _) = AuditLog::open_with(&p, opts).unwrap();
        start(&log, 50);
        log.sync().unwrap();
        assert!(split(&p).1.is_empty(), "{name}: room");
        log.close().unwrap();
    }
}

/// A copy of the live file as a crash would leave it: content and room.
fn crashed_copy(dir: &std::path::Path, records: usize) -> (String, usize, u64) {
    let live = dir.join("live.jsonl").display().to_string();
    let (log, _) = AuditLog::open(&live, SyncMode::Batch).unwrap();
    start(&log, records);
    log.sync().unwrap();
    let copy = dir.join("crashed.jsonl").display().to_string();
    std::fs::copy(&live, &copy).unwrap();
    let count = log.count();
    log.close().unwrap();
    let (content, room) = split(&copy);
    assert!(!room.is_empty());
    (copy, content.len(), count)
}

#[test]
fn a_start_after_a_crash_cuts_the_room_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (p, content, count) = crashed_copy(dir.path(), 30);
    let (log, opened) = AuditLog::open(&p, SyncMode::Batch).unwrap();
    assert_eq!(opened.records, count);
    assert_eq!(opened.truncated, 0, "room is not a torn record");
    // The first append goes right after the last record, not after the room.
    start(&log, 5);
    log.close().unwrap();
    let data = std::fs::read(&p).unwrap();
    assert!(data.len() > content);
    assert!(
        !String::from_utf8(data.clone()).unwrap().contains("} "),
        "room inside the content"
    );
    let v = verify(&data).unwrap();
    assert_eq!(v.count, count + 5);
    let text = String::from_utf8(data).unwrap();
    assert!(!text.contains("\"kind\":\"recovery\""));
}

#[test]
fn a_torn_record_in_the_room_is_cut_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (p, content, count) = crashed_copy(dir.path(), 30);
    // A crash mid-write: half a record over the start of the room.
    let torn = b"{\"seq\":31,\"ts\":\"2026-12-07T";
    let mut data = std::fs::read(&p).unwrap();
    data[content..content + torn.len()].copy_from_slice(torn);
    std::fs::write(&p, &data).unwrap();
    let (log, opened) = AuditLog::open(&p, SyncMode::Batch).unwrap();
    assert_eq!(opened.records, count);
    assert_eq!(opened.truncated, torn.len() as u64);
    log.close().unwrap();
    let data = std::fs::read(&p).unwrap();
    assert_eq!(verify(&data).unwrap().count, count + 1);
    let text = String::from_utf8(data).unwrap();
    assert!(text
        .lines()
        .last()
        .unwrap()
        .contains("\"kind\":\"recovery\""));
}

/// A run of room followed by more bytes is a write into the room that
/// did not land whole: after a power loss any subset of an unsynced
/// write's pages may be on disk (a later page and not an earlier one),
/// and a reader of the live file may read a room that a write filled a
/// moment later. Either way it is the end of the content, torn: never a
/// reason to keep a good file aside. (Nothing after it was durable: each
/// sync covers every page before it.)
#[test]
fn a_run_of_room_before_more_bytes_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (p, content, count) = crashed_copy(dir.path(), 30);
    let mut data = std::fs::read(&p).unwrap();
    let extra = b"ts\":\"2026-12-07T12:00:00.000Z\",\"kind\":\"lifecycle\"}\n";
    data[content + 64..content + 64 + extra.len()].copy_from_slice(extra);
    let b = verify(&data).unwrap_err();
    assert!(b.torn_tail, "{b}");
    std::fs::write(&p, &data).unwrap();
    let mut c = Chain::new(ChainOptions::default());
    match verify_file(&mut c, std::fs::File::open(&p).unwrap(), |_, _| {}) {
        Err(crate::audit::verify::StreamError::Broken(b)) => assert!(b.torn_tail, "{b}"),
        other => panic!("{other:?}"),
    }
    // At start it is cut and recorded, as any torn tail.
    let (log, opened) = AuditLog::open(&p, SyncMode::Batch).unwrap();
    assert_eq!(opened.kept_aside, None);
    assert_eq!(opened.records, count);
    assert_eq!(opened.truncated, (64 + extra.len()) as u64);
    log.close().unwrap();
    let data = std::fs::read(&p).unwrap();
    assert_eq!(verify(&data).unwrap().count, count + 1);
}

#[test]
fn a_file_of_room_alone_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.jsonl").display().to_string();
    std::fs::write(&p, vec![b' '; 4096]).unwrap();
    let (log, opened) = AuditLog::open(&p, SyncMode::Batch).unwrap();
    assert_eq!(opened.records, 0);
    log.close().unwrap();
    let data = std::fs::read(&p).unwrap();
    assert!(data.starts_with(b"{"), "the new log starts at byte 0");
    assert_eq!(verify(&data).unwrap().count, 1);
}

#[test]
fn after_a_failed_write_the_room_is_cut_and_made_again() {
    let (_dir, p, log) = live(10);
    assert!(!split(&p).1.is_empty());
    log.inject_write_failures(true);
    start(&log, 10);
    assert!(log.sync().is_err());
    log.inject_write_failures(false);
    // The retry cuts the file back to its durable content (what a failed
    // write left is not known to be room), writes every held record...
    let want = log.count();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !(log.healthy() && *log.durable().borrow() >= want) {
        assert!(std::time::Instant::now() < deadline, "no recovery");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // ...and makes the room again.
    log.sync().unwrap();
    let (_, room) = split(&p);
    assert!(room.len() as u64 >= PREALLOCATE / 2, "room {}", room.len());
    log.close().unwrap();
    assert_eq!(
        verify(&std::fs::read(&p).unwrap()).unwrap().count,
        want + 1,
        "every record and the outage's"
    );
}

#[test]
fn rotated_segments_have_no_room() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.jsonl").display().to_string();
    let opts = Options {
        rotate_size: Some(64 << 10),
        ..Options::default()
    };
    let (log, _) = AuditLog::open_with(&p, opts).unwrap();
    for _ in 0..20 {
        start(&log, 100);
        log.sync().unwrap();
    }
    let segs = super::segments_of(&p, u64::MAX);
    assert!(segs.len() >= 3, "{}", segs.len());
    for (s, ..) in &segs {
        assert!(split(s).1.is_empty(), "{s} has room");
    }
    assert!(!split(&p).1.is_empty(), "the live file has room");
    log.close().unwrap();
}

#[test]
fn a_file_emptied_between_its_check_and_a_write_gets_no_nul_bytes() {
    let (_dir, p, log) = live(20);
    let before = verify(&std::fs::read(&p).unwrap()).unwrap();
    // `copytruncate` after the check, before the write: the write lands
    // past the end of an empty file.
    super::lock(&log.shared.io).cut_before_write = Some(0);
    start(&log, 3);
    log.sync().unwrap();
    assert!(log.healthy(), "no outage for it");
    start(&log, 2);
    log.close().unwrap();
    // It continues the chain: the three records, the event, the two after.
    let v = continues_after_a_cut(&p, &before);
    assert_eq!(v.count, before.count + 6);
}

#[test]
fn a_file_cut_short_between_its_check_and_a_write_is_moved_aside() {
    let (dir, p, log) = live(20);
    let before = verify(&std::fs::read(&p).unwrap()).unwrap();
    // Cut inside its fifth line, then written to past the cut.
    let original = split(&p).0;
    let cut = original
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(4)
        .unwrap()
        .0
        - 10;
    super::lock(&log.shared.io).cut_before_write = Some(cut as u64);
    start(&log, 3);
    log.sync().unwrap();
    assert!(log.healthy(), "no outage for it");
    log.close().unwrap();
    // The cut file is kept aside as it was found (with the write past its
    // cut); the path holds a new file that continues the chain.
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".aside-"))
        .collect();
    assert_eq!(aside.len(), 1);
    let kept = std::fs::read(aside[0].path()).unwrap();
    assert_eq!(
        kept[..cut],
        original[..cut],
        "the kept file's bytes before its cut"
    );
    let v = continues_after_a_cut(&p, &before);
    assert_eq!(v.count, before.count + 4, "the three records and the event");
}

#[test]
fn closing_a_file_emptied_under_the_log_does_not_lengthen_it() {
    let (_dir, p, log) = live(20);
    assert!(!split(&p).1.is_empty());
    // `copytruncate`, then a stop within the check interval.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(0)
        .unwrap();
    log.close().unwrap();
    let data = std::fs::read(&p).unwrap();
    assert!(
        !data.contains(&0),
        "{} bytes, NUL bytes among them",
        data.len()
    );
}

#[test]
fn a_check_finds_a_file_cut_even_when_bytes_were_written_past_the_cut() {
    use std::os::unix::fs::FileExt;
    let (_dir, p, log) = live(20);
    let (content, _) = split(&p);
    // Cut inside the content, then bytes past the old end (as a room made
    // before the cut was seen would write): no shorter than before.
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(content.len() as u64 / 2).unwrap();
    f.write_all_at(&[b' '; 4096], content.len() as u64).unwrap();
    drop(f);
    assert!(log.reopen().unwrap(), "the cut was not found");
    start(&log, 1);
    log.close().unwrap();
    let data = std::fs::read(&p).unwrap();
    assert!(!data.contains(&0));
    let text = String::from_utf8(data).unwrap();
    assert!(text.starts_with("{\"kind\":\"segment\""), "{}", &text[..80]);
    assert!(verify(text.as_bytes()).is_ok());
}

/// Under a steady stream of records no room is made: a commit that finds
/// records appended since it took its group leaves the room as it is (the
/// appends grow the file past it) — writing spaces ahead of a stream would
/// write every byte twice. Once the log is idle at a commit, the room is
/// made again. (Before: every commit that left less than half a room made
/// more, so after a commit there was always at least half a room.)
#[test]
fn a_busy_log_makes_no_room_and_an_idle_one_does() {
    const ROOM: u64 = 64 << 10;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.jsonl").display().to_string();
    let opts = Options {
        preallocate: ROOM,
        ..Options::with_mode(SyncMode::Batch)
    };
    let (log, _) = AuditLog::open_with(&p, opts).unwrap();
    // The test's thread commits; nobody else does.
    log.shared
        .stop
        .store(true, std::sync::atomic::Ordering::SeqCst);
    log.shared.wake.notify_all();
    super::lock(&log.syncer).take().unwrap().join().unwrap();
    start(&log, 1);
    log.sync().unwrap();
    assert!(
        split(&p).1.len() as u64 >= ROOM / 2,
        "an idle commit makes room"
    );
    let log = std::sync::Arc::new(log);
    let streaming = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let appender = {
        let (log, streaming) = (log.clone(), streaming.clone());
        std::thread::spawn(move || {
            while streaming.load(std::sync::atomic::Ordering::Relaxed) {
                start(&log, 1);
            }
        })
    };
    // Commits under the stream, until one leaves less than half a room
    // (bounded: 10 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut short = false;
    while !short && std::time::Instant::now() < deadline {
        log.sync().unwrap();
        short = (split(&p).1.len() as u64) < ROOM / 2;
    }
    streaming.store(false, std::sync::atomic::Ordering::Relaxed);
    appender.join().unwrap();
    assert!(short, "every commit under a stream of records made room");
    // Idle again: the next commit makes the room.
    log.sync().unwrap();
    let (content, room) = split(&p);
    assert!(
        room.len() as u64 >= ROOM / 2,
        "{} bytes of room after an idle commit",
        room.len()
    );
    assert!(room.iter().all(|&b| b == b' '));
    let n = verify(&content).unwrap().count;
    log.close().unwrap();
    assert_eq!(verify(&std::fs::read(&p).unwrap()).unwrap().count, n);
}
