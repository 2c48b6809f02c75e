//! Segment names and the start-up resume point (pure).
//!
//! The writer rotates its live file `FILE` by renaming it to
//! `FILE.<first_seq>-<closed>`: the `seq` of its first record, 12 digits
//! zero-padded (so names sort in chain order), and the UTC time it was
//! closed, `YYYYMMDDTHHMMSSZ` (what retention compares with `retain`). The
//! next file begins with a segment header continuing the chain
//! (`record::SegmentHeader`, reason `rotated`).
//!
//! At start the writer reads its live file from the end only as far as the
//! last `checkpoint` record ([`resume_point`]): that record carries the
//! Merkle frontier, so the records after it are all it must check and replay.

use std::time::SystemTime;

/// Digits of the first-seq part of a segment name.
const SEQ_DIGITS: usize = 12;

/// The name a closed segment is renamed to.
pub fn segment_name(live: &str, first_seq: u64, closed: SystemTime) -> String {
    format!("{live}.{first_seq:0SEQ_DIGITS$}-{}", compact_time(closed))
}

/// `2026-12-01T00:00:00Z` as `20261201T000000Z`.
fn compact_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace(['-', ':'], "")
}

/// A closed segment of the live file `live`, from its file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentName {
    /// Its first record.
    pub first_seq: u64,
    /// When it was closed.
    pub closed: SystemTime,
}

/// Parses `name` (a file name, no directory) as a segment of the live file
/// whose file name is `live_name`; None for anything else (the live file,
/// files kept aside, a checkpoint file, other logs).
pub fn parse_segment_name(live_name: &str, name: &str) -> Option<SegmentName> {
    let rest = name.strip_prefix(live_name)?.strip_prefix('.')?;
    let (seq, t) = rest.split_once('-')?;
    if seq.len() != SEQ_DIGITS || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let b = t.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let rfc = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &t[0..4],
        &t[4..6],
        &t[6..8],
        &t[9..11],
        &t[11..13],
        &t[13..15]
    );
    Some(SegmentName {
        first_seq: seq.parse().ok()?,
        closed: humantime::parse_rfc3339(&rfc).ok()?,
    })
}

/// True when a time-based rotation is due: `now` is in a later interval
/// than `started`, intervals counted from the Unix epoch (so a day's
/// interval ends at UTC midnight).
pub fn interval_crossed(started: SystemTime, now: SystemTime, interval_secs: u64) -> bool {
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    let i = interval_secs.max(1);
    secs(now) / i > secs(started) / i
}

const CHECKPOINT_MARK: &[u8] = b",\"kind\":\"checkpoint\",";

/// Where to resume in `buf`, the last bytes of a file (`at_start`: `buf`
/// begins at the file's first byte): the offset of the last complete line
/// that is a `checkpoint` record, when its start is inside `buf`. None
/// means read further back (or, at the start, verify from the beginning).
pub fn resume_point(buf: &[u8], at_start: bool) -> Option<usize> {
    let mut end = buf.len();
    while let Some(pos) = memchr::memmem::rfind(&buf[..end], CHECKPOINT_MARK) {
        let start = match memchr::memrchr(b'\n', &buf[..pos]) {
            Some(nl) => nl + 1,
            None if at_start => 0,
            None => return None,
        };
        let complete = memchr::memchr(b'\n', &buf[pos..]).is_some();
        if complete && buf[start..].starts_with(b"{\"seq\":") {
            return Some(start);
        }
        end = pos;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_sort_in_chain_order() {
        let t = humantime::parse_rfc3339("2026-12-01T00:00:00Z").unwrap();
        let n = segment_name("/var/lib/origuard/audit.jsonl", 1234, t);
        assert_eq!(
            n,
            "/var/lib/origuard/audit.jsonl.000000001234-20261201T000000Z"
        );
        let file = n.rsplit('/').next().unwrap();
        assert_eq!(
            parse_segment_name("audit.jsonl", file),
            Some(SegmentName {
                first_seq: 1234,
                closed: t
            })
        );
        assert!(segment_name("a", 99, t) < segment_name("a", 100, t));
        for other in [
            "audit.jsonl",
            "audit.jsonl.checkpoint",
            "audit.jsonl.broken-2026-12-01T00-00-00Z",
            "audit.jsonl.1",
            "audit.jsonlx.000000001234-20261201T000000Z",
        ] {
            assert_eq!(parse_segment_name("audit.jsonl", other), None, "{other}");
        }
    }

    #[test]
    fn daily_intervals_end_at_utc_midnight() {
        let a = humantime::parse_rfc3339("2026-12-01T23:59:59Z").unwrap();
        let b = humantime::parse_rfc3339("2026-12-02T00:00:00Z").unwrap();
        let c = humantime::parse_rfc3339("2026-12-01T00:00:01Z").unwrap();
        assert!(interval_crossed(a, b, 86400));
        assert!(!interval_crossed(c, a, 86400));
    }

    #[test]
    fn the_resume_point_is_the_last_complete_checkpoint_line() {
        let cp = |s: u64| format!("{{\"seq\":{s},\"ts\":\"t\",\"kind\":\"checkpoint\",\"x\":1}}\n");
        let rec = |s: u64| format!("{{\"seq\":{s},\"ts\":\"t\",\"kind\":\"lifecycle\"}}\n");
        let buf = format!("{}{}{}{}", rec(1), cp(2), rec(3), cp(4));
        let torn = &buf[..buf.len() - 3];
        let at = resume_point(torn.as_bytes(), true).unwrap();
        assert!(torn[at..].starts_with("{\"seq\":2,"));
        let at = resume_point(buf.as_bytes(), true).unwrap();
        assert!(buf[at..].starts_with("{\"seq\":4,"));
        // The line's start is not in the buffer: read further back.
        let mid = &buf[buf.len() - 20..];
        assert_eq!(resume_point(mid.as_bytes(), false), None);
        assert_eq!(resume_point(rec(1).as_bytes(), true), None);
    }
}
