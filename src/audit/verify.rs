//! `audit verify`: checks a log's hash chain record by record.

use super::record::anchor;
use sha2::{Digest, Sha256};

/// An intact log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The sequence number after the last record (the number of records
    /// when the file holds the log from its start).
    pub count: u64,
    /// Sequence number of the first record in the file (0 from the start).
    pub first_seq: u64,
    /// The header of a file that continues a log begun elsewhere.
    pub segment: Option<super::record::SegmentHeader>,
    /// Hash of the last record (the head), or the anchor for an empty log.
    pub head: String,
    /// The log's id.
    pub log_id: String,
    /// Byte length of the verified content (for recovery).
    pub valid_bytes: usize,
}

/// The first problem found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("record {seq} (line {line}): {what}")]
pub struct Broken {
    /// The sequence number expected at the bad record.
    pub seq: u64,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub what: String,
    /// Bytes before the bad record (everything before verified).
    pub valid_bytes: usize,
    /// True when the only problem is an unterminated last line (a torn write).
    pub torn_tail: bool,
}

const HASH_KEY: &[u8] = b",\"hash\":\"";

/// The fields of a record the chain needs.
#[derive(serde::Deserialize)]
struct ChainFields<'a> {
    seq: Option<u64>,
    #[serde(borrow)]
    prev: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    log_id: Option<std::borrow::Cow<'a, str>>,
}

/// Verifies the whole log.
pub fn verify(data: &[u8]) -> Result<Verified, Broken> {
    verify_each(data, |_, _| {})
}

/// Verifies the whole log, calling `each(seq, hash)` for every good record.
pub fn verify_each(data: &[u8], mut each: impl FnMut(u64, &str)) -> Result<Verified, Broken> {
    let mut prev: Option<String> = None;
    let mut log_id = String::new();
    let mut offset = 0usize;
    let mut seq = 0u64;
    let mut line_no = 0usize;
    let mut segment = None;
    if let Some(nl) = memchr::memchr(b'\n', data) {
        if let Ok(h) = serde_json::from_slice::<super::record::SegmentHeader>(&data[..nl]) {
            if h.kind == "segment" {
                seq = h.next_seq;
                log_id = h.log_id.clone();
                prev = Some(h.prev.clone());
                offset = nl + 1;
                line_no = 1;
                segment = Some(h);
            }
        }
    }
    let first_seq = seq;
    while offset < data.len() {
        let rest = &data[offset..];
        line_no += 1;
        let bad = |what: String| Broken {
            seq,
            line: line_no,
            what,
            valid_bytes: offset,
            torn_tail: false,
        };
        let Some(nl) = memchr::memchr(b'\n', rest) else {
            let mut b = bad("last record is incomplete (no newline): torn write".into());
            b.torn_tail = true;
            return Err(b);
        };
        let line = &rest[..nl];
        // Own hash.
        let Some(hpos) = memchr::memmem::rfind(line, HASH_KEY) else {
            return Err(bad("no hash field".into()));
        };
        let tail = &line[hpos + HASH_KEY.len()..];
        if tail.len() != 66 || &tail[64..] != b"\"}" {
            return Err(bad("hash field is not the last field".into()));
        }
        let stored = std::str::from_utf8(&tail[..64]).map_err(|_| bad("hash is not hex".into()))?;
        let mut h = Sha256::new();
        h.update(&line[..hpos]);
        h.update(b"}");
        let computed = hex::encode(h.finalize());
        if computed != stored {
            return Err(bad(
                "content does not match its hash (record altered)".into()
            ));
        }
        // Only the chain's fields, borrowed (a record's other fields are
        // skipped, not built: this is most of the time of a verify).
        let v: ChainFields<'_> =
            serde_json::from_slice(line).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        let got_seq = v.seq;
        if got_seq != Some(seq) {
            return Err(bad(format!(
                "sequence is {}, expected {seq} (record missing, reordered or inserted)",
                got_seq.map_or("absent".to_string(), |s| s.to_string())
            )));
        }
        let got_prev = v.prev.as_deref().unwrap_or("");
        match &prev {
            None => {
                if v.kind.as_deref() != Some("log_start") {
                    return Err(bad("first record is not log_start".into()));
                }
                log_id = v.log_id.as_deref().unwrap_or("").to_string();
                if got_prev != anchor(&log_id) {
                    return Err(bad("first record does not anchor on its log id".into()));
                }
            }
            Some(p) => {
                if got_prev != p {
                    return Err(bad(if seq == first_seq {
                        "prev does not match the segment header (chain broken)".into()
                    } else {
                        "prev does not match the previous record's hash (chain broken)".into()
                    }));
                }
            }
        }
        each(seq, &computed);
        prev = Some(computed);
        offset += nl + 1;
        seq += 1;
    }
    if seq == first_seq && segment.is_none() {
        return Err(Broken {
            seq: 0,
            line: 1,
            what: "empty log".into(),
            valid_bytes: 0,
            torn_tail: false,
        });
    }
    Ok(Verified {
        count: seq,
        first_seq,
        segment,
        head: prev.unwrap_or_default(),
        log_id,
        valid_bytes: offset,
    })
}
