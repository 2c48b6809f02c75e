//! `origuard audit verify FILE [--expect-head HASH]`.

use crate::audit::verify::verify_each;

/// The result as JSON: `ok` (the exit code is 0), `intact` (the chain
/// verifies), what verified, and the problem if any.
fn verify_json(path: &str, expect_head: Option<&str>, code: u8, text: &str) -> String {
    let data = std::fs::read(path).unwrap_or_default();
    let v = crate::audit::verify::verify(&data);
    let (ok, broken) = match &v {
        Ok(v) => (Some(v.clone()), None),
        Err(b) => (
            crate::audit::verify::verify(&data[..b.valid_bytes]).ok(),
            Some(
                serde_json::json!({ "seq": b.seq, "line": b.line, "what": b.what, "torn_tail": b.torn_tail }),
            ),
        ),
    };
    serde_json::json!({
        "file": path,
        "ok": code == 0,
        "intact": broken.is_none(),
        "exit_code": code,
        "message": text,
        "first_seq": ok.as_ref().map(|v| v.first_seq),
        "next_seq": ok.as_ref().map(|v| v.count),
        "head": ok.as_ref().map(|v| v.head.clone()),
        "log_id": ok.as_ref().map(|v| v.log_id.clone()),
        "continues": ok.as_ref().and_then(|v| v.segment.as_ref().map(|s| serde_json::json!({ "reason": s.reason, "prev": s.prev }))),
        "expect_head": expect_head,
        "broken": broken,
    })
    .to_string()
}

/// Outcome: exit code and text.
pub fn verify_cmd(path: &str, expect_head: Option<&str>) -> (u8, String) {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => return (super::common::EX_INPUT, format!("{path}: cannot read: {e}")),
    };
    let mut found_at = None;
    let want = expect_head.map(|h| h.trim().to_ascii_lowercase());
    match verify_each(&data, |seq, hash| {
        if want.as_deref() == Some(hash) {
            found_at = Some(seq);
        }
    }) {
        Err(b) => (
            1,
            format!(
                "{path}: BROKEN at record {} (line {}): {}",
                b.seq, b.line, b.what
            ),
        ),
        Ok(v) => {
            let ok = match &v.segment {
                None => format!(
                    "{path}: intact, {} records, head {}, log id {}",
                    v.count, v.head, v.log_id
                ),
                Some(h) => format!(
                    "{path}: intact, records {}..{} (this file continues log {} after \"{}\"; verify the file before it for the whole chain), head {}",
                    v.first_seq,
                    v.count.saturating_sub(1),
                    v.log_id,
                    h.reason,
                    v.head
                ),
            };
            match (&want, found_at) {
                (None, _) => (0, ok),
                (Some(_), Some(seq)) if seq + 1 == v.count => (0, format!("{ok}; head matches")),
                (Some(_), Some(seq)) => (
                    0,
                    format!("{ok}; expected head is record {seq}, {} records appended since", v.count - 1 - seq),
                ),
                (Some(h), None) => (
                    1,
                    format!(
                        "{path}: head {} and no record has the expected head {h}: records were removed from the end, or the log was replaced",
                        v.head
                    ),
                ),
            }
        }
    }
}

/// `origuard audit ...`.
pub fn command(c: crate::tools::cli::AuditCommand) -> u8 {
    match c {
        crate::tools::cli::AuditCommand::Verify {
            file,
            expect_head,
            json,
        } => {
            let (code, text) = verify_cmd(&file, expect_head.as_deref());
            if json {
                println!(
                    "{}",
                    verify_json(&file, expect_head.as_deref(), code, &text)
                );
            } else if code == 0 {
                println!("{text}");
            } else {
                eprintln!("{text}");
            }
            code
        }
    }
}
