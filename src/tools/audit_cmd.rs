//! `origuard audit verify FILE [--expect-head HASH]`.

use crate::audit::verify::verify_each;

/// Outcome: exit code and text.
pub fn verify_cmd(path: &str, expect_head: Option<&str>) -> (u8, String) {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => return (64, format!("{path}: cannot read: {e}")),
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
        crate::tools::cli::AuditCommand::Verify { file, expect_head } => {
            let (code, text) = verify_cmd(&file, expect_head.as_deref());
            if code == 0 {
                println!("{text}");
            } else {
                eprintln!("{text}");
            }
            code
        }
    }
}
