//! The benign layout set (issue 24): ordinary driver and vehicle responses
//! from `testdata/benign/` (written by `testdata/benign/make.py`, apart from
//! the redactor), each addressed to a redact-listed agency of the example
//! policy and each answering a query that agency sent. Each query is decided
//! first (the agency's control field enters the court-order ledger), then
//! its response, with the very `decide_in` the proxy calls.
//!
//! A case is *useful* when the response is forwarded, every value the manifest
//! says to keep arrives (name parts, date of birth, licence number, status,
//! expiry; plate and VIN for RR) and no value it lists as absent does (photo
//! fragments, place of birth). Kept values are compared case-insensitively
//! with runs of blanks squeezed to one space; a date may also arrive in
//! another usual spelling of the same day (`YYYYMMDD`, `YYYY-MM-DD`,
//! `MM/DD/YYYY`, `MMDDYYYY`). Absent values are looked for the same way and
//! again with every non-alphanumeric character removed on both sides.
//!
//! The test prints a table and asserts that at least 95 % are useful.

use bytes::Bytes;
use origuard::decision::ledger::{Ledger, MemoryStore};
use origuard::decision::{decide_in, Context, Decision, Outcome};
use origuard::message::{Direction, Limits};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/benign")
}

/// Upper case, runs of blanks (any white space) squeezed to one space.
fn squeeze(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// Upper-case letters and digits only.
fn alnum(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_uppercase()
}

/// The usual spellings of a date written as `YYYYMMDD`, `YYYY-MM-DD` or
/// `MM/DD/YYYY`; None when `v` is not a date.
fn date_spellings(v: &str) -> Option<Vec<String>> {
    let d: String = v.chars().filter(|c| c.is_ascii_digit()).collect();
    if d.len() != 8
        || !v
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == '/')
    {
        return None;
    }
    let (y, m, dd) = if v.contains('/') {
        (&d[4..8], &d[0..2], &d[2..4])
    } else {
        (&d[0..4], &d[4..6], &d[6..8])
    };
    Some(vec![
        format!("{y}{m}{dd}"),
        format!("{y}-{m}-{dd}"),
        format!("{m}/{dd}/{y}"),
        format!("{m}{dd}{y}"),
    ])
}

fn kept(out_sq: &str, v: &str) -> bool {
    match date_spellings(v) {
        Some(all) => all.iter().any(|s| out_sq.contains(s.as_str())),
        None => out_sq.contains(&squeeze(v)),
    }
}

fn values(v: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(o) = v.as_object() {
        for (k, x) in o {
            match x {
                serde_json::Value::String(s) => out.push((k.clone(), s.clone())),
                serde_json::Value::Array(a) => {
                    for s in a.iter().filter_map(|s| s.as_str()) {
                        out.push((k.clone(), s.to_string()));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn why_not(d: &Decision) -> String {
    let what = match &d.outcome {
        Outcome::Forward(_) => "forwarded",
        Outcome::Deny { .. } => "denied",
        Outcome::Drop => "dropped",
    };
    format!("{what}: {} {}", d.reason, d.detail.unwrap_or(""))
}

/// One case's row: file, style, and useful or why not.
struct Row {
    file: String,
    style: String,
    verdict: Result<(), String>,
}

/// Decides every case and returns its rows and the useful count.
fn run() -> (Vec<Row>, usize) {
    let policy = origuard::runtime::policy_store::load_path(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/policy/colorado.toml")
            .to_str()
            .unwrap(),
    )
    .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir().join("manifest.json")).unwrap()).unwrap();
    let cases = manifest.as_array().unwrap();
    assert!(cases.len() >= 48, "the set has {} cases", cases.len());
    let now = SystemTime::now();
    let ledger = Ledger::new(
        Some(Arc::new(MemoryStore::default())),
        policy.court_order_window,
        now,
    );
    let cx = Context {
        now,
        ledger: Some(&ledger),
    };
    let limits = Limits::default();
    let mut rows = Vec::new();
    let mut useful = 0;
    for c in cases {
        let file = c["file"].as_str().unwrap().to_string();
        let style = c["style"].as_str().unwrap_or("").to_string();
        let read = |f: &str| Bytes::from(std::fs::read(dir().join(f)).unwrap());
        let q = decide_in(
            Direction::Inbound,
            read(c["query"].as_str().unwrap()),
            &policy,
            &limits,
            &cx,
        );
        let verdict = if !matches!(q.outcome, Outcome::Forward(_)) {
            Err(format!("query not forwarded ({})", why_not(&q)))
        } else {
            let d = decide_in(Direction::Outbound, read(&file), &policy, &limits, &cx);
            match &d.outcome {
                Outcome::Forward(b) => {
                    let text = String::from_utf8_lossy(b);
                    let sq = squeeze(&text);
                    let an = alnum(&text);
                    let mut problems = Vec::new();
                    for (k, v) in values(&c["keep"]) {
                        if !kept(&sq, &v) {
                            problems.push(format!("{k} {v:?} missing"));
                        }
                    }
                    for a in c["absent"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|a| a.as_str())
                    {
                        let aa = alnum(a);
                        if sq.contains(&squeeze(a)) || (!aa.is_empty() && an.contains(&aa)) {
                            problems.push(format!("{a:?} ARRIVED"));
                        }
                    }
                    if problems.is_empty() {
                        Ok(())
                    } else {
                        Err(problems.join("; "))
                    }
                }
                _ => Err(format!("not forwarded ({})", why_not(&d))),
            }
        };
        if verdict.is_ok() {
            useful += 1;
        }
        rows.push(Row {
            file,
            style,
            verdict,
        });
    }
    (rows, useful)
}

#[test]
fn benign_layouts_are_useful() {
    let (rows, useful) = run();
    let total = rows.len();
    for Row {
        file,
        style,
        verdict,
    } in &rows
    {
        match verdict {
            Ok(()) => eprintln!("{file:<44} {style:<70} useful"),
            Err(e) => eprintln!("{file:<44} {style:<70} {e}"),
        }
    }
    let fraction = useful as f64 / total as f64;
    eprintln!("benign layouts: {useful} of {total} useful ({fraction:.3})");
    assert!(
        fraction >= 0.95,
        "only {useful} of {total} benign responses are useful ({fraction:.3} < 0.95)"
    );
}

/// The harness itself: the date spellings and the comparison rules.
#[test]
fn harness_rules() {
    assert_eq!(
        date_spellings("01/15/1980").unwrap(),
        ["19800115", "1980-01-15", "01/15/1980", "01151980"]
    );
    assert_eq!(date_spellings("1980-01-15").unwrap()[0], "19800115");
    assert!(date_spellings("D123-456-78").is_none());
    assert!(date_spellings("000000001").is_none());
    assert!(kept("NAM/DOE, JANE Q DOB/19800115", "doe,  jane q"));
    assert!(kept("DOB: 01/15/1980", "1980-01-15"));
    assert!(!kept("DOB/19800116", "19800115"));
    // every case of the set names a query, keeps a name and lists something absent
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir().join("manifest.json")).unwrap()).unwrap();
    for c in manifest.as_array().unwrap() {
        assert!(dir().join(c["query"].as_str().unwrap()).is_file());
        assert!(!c["keep"]["name"].as_array().unwrap().is_empty());
        assert!(!c["absent"].as_array().unwrap().is_empty());
    }
}
