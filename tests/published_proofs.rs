//! Checkable from outside, by an independent implementation: a real
//! two-report sequence (a log of decisions on real messages, signed
//! checkpoints, `origuard report`, more decisions, `origuard report
//! --previous`) whose consistency proof `scripts/verify-consistency.py`
//! (Python standard library, no code shared with the Rust) accepts from
//! the two report.json files and the public key alone, and refuses once a
//! proof hash, a checkpoint's signature or the previous checkpoint is
//! altered; a report made against an altered previous checkpoint says the
//! log was not only appended to. `audit export` for investigators: the
//! same script checks every record's own hash and inclusion proof, and
//! refuses an altered record or path.
//!
//! python3 is required under `CI=true` (`.ci/run` installs it); elsewhere
//! the test says it is missing and stops.

use origuard::audit::record::{DecisionRecord, Event};
use origuard::decision::decide;
use origuard::message::{Direction, Limits};
use origuard::runtime::audit_log::{AuditLog, Options, SyncMode};
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "common/cli.rs"]
mod cli;
use cli::run as origuard;
#[path = "common/tool.rs"]
mod tool;

/// `scripts/verify-consistency.py ARGS`: exit code, stdout and stderr
/// together.
fn script(args: &[&str]) -> (i32, String) {
    let (code, out, err) = cli::outcome(
        Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/verify-consistency.py"
            ))
            .args(args),
    );
    (code, out + &err)
}

/// True when python3 runs; otherwise a failure under `CI=true`, and
/// elsewhere `SKIPPED` and false.
fn python_present(test: &str) -> bool {
    tool::have(
        test,
        "python3",
        "Debian package python3; .ci/run installs it",
    )
}

/// Appends `n` decisions on real messages under the example policy: ICE's
/// driver query (declined) and a response to an unrestricted agency.
fn session(log_path: &Path, key: &str, n: usize) {
    let p = origuard::runtime::policy_store::load_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/policy/colorado.toml"
    ))
    .unwrap();
    let fixture = |f: &str| {
        bytes::Bytes::from(
            std::fs::read(format!(
                "{}/testdata/messages/legacy/{f}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
    };
    let opts = Options {
        checkpoint_every: Some(10),
        signing_key: Some(key.to_string()),
        checkpoint_file: Some(
            log_path
                .parent()
                .unwrap()
                .with_extension("checkpoint")
                .display()
                .to_string(),
        ),
        ..Options::with_mode(SyncMode::Batch)
    };
    let (log, _) = AuditLog::open_with(log_path.to_str().unwrap(), opts).unwrap();
    for i in 0..n {
        let (dir, raw) = if i % 3 == 2 {
            (Direction::Outbound, fixture("dr_input.txt"))
        } else {
            (Direction::Inbound, fixture("dq_from_ice.txt"))
        };
        let d = decide(
            dir,
            raw,
            &p,
            &Limits::default(),
            std::time::SystemTime::now(),
        );
        log.append(&Event::Decision(Box::new(DecisionRecord::of(
            &d,
            dir,
            &p,
            Some("ccic"),
        ))))
        .unwrap();
    }
    log.close().unwrap();
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn write_json(p: &Path, v: &serde_json::Value) -> String {
    std::fs::write(p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    p.display().to_string()
}

/// Flips the first hex digit of a string value.
fn flip(v: &mut serde_json::Value) {
    let s = v.as_str().unwrap().to_string();
    let first = if s.starts_with('0') { "1" } else { "0" };
    *v = serde_json::Value::String(format!("{first}{}", &s[1..]));
}

struct Setup {
    dir: tempfile::TempDir,
    public: String,
}

impl Setup {
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn s(&self, p: &str) -> String {
        self.path(p).display().to_string()
    }
}

/// Two sessions of one log, a report after each (the second with
/// `--previous`).
fn two_reports() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pk8").display().to_string();
    let (code, _, err) = origuard(&["audit", "keygen", "--out", &key]);
    assert_eq!(code, 0, "{err}");
    let st = Setup {
        public: format!("{key}.pub"),
        dir,
    };
    std::fs::create_dir(st.path("audit")).unwrap();
    let log = st.path("audit/audit.jsonl");
    session(&log, &key, 30);
    let (code, _, err) = origuard(&["report", "--audit", &st.s("audit"), "--out", &st.s("r1")]);
    assert_eq!(code, 0, "{err}");
    session(&log, &key, 25);
    let prev = st.s("r1/report.json");
    let (code, _, err) = origuard(&[
        "report",
        "--audit",
        &st.s("audit"),
        "--out",
        &st.s("r2"),
        "--previous",
        &prev,
    ]);
    assert_eq!(code, 0, "{err}");
    st
}

#[test]
fn a_consistency_proof_between_two_reports_checks_from_published_files_only() {
    let st = two_reports();
    let (r1, r2) = (
        json(&st.path("r1/report.json")),
        json(&st.path("r2/report.json")),
    );
    let c = &r2["consistency"][0];
    let (m, n) = (
        c["previous"]["tree_size"].as_u64().unwrap(),
        c["current"]["tree_size"].as_u64().unwrap(),
    );
    assert_eq!(c["previous"], r1["logs"][0]["last_checkpoint"]);
    assert_eq!(c["current"], r2["logs"][0]["last_checkpoint"]);
    assert!(c["verified"].as_bool().unwrap() && 0 < m && m < n, "{c}");
    eprintln!(
        "report 1 checkpoint size {m}, report 2 size {n}, proof {} hashes",
        c["proof"].as_array().unwrap().len()
    );
    let html = std::fs::read_to_string(st.path("r2/report.html")).unwrap();
    assert!(html.contains("Only appended to since the previous report"));
    if !python_present("a_consistency_proof_between_two_reports_checks_from_published_files_only") {
        return;
    }
    let (r1p, r2p) = (st.s("r1/report.json"), st.s("r2/report.json"));
    let (code, out) = script(&["consistency", &r1p, &r2p, "--public-key", &st.public]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("only appended to") && out.contains("all checks passed"),
        "{out}"
    );
    // A proof hash altered.
    let mut bad = r2.clone();
    flip(&mut bad["consistency"][0]["proof"][0]);
    let f = write_json(&st.path("bad-proof.json"), &bad);
    let (code, out) = script(&["consistency", &r1p, &f, "--public-key", &st.public]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does not verify"), "{out}");
    // The current checkpoint's signature altered (in both places).
    let mut bad = r2.clone();
    flip(&mut bad["logs"][0]["last_checkpoint"]["signature"]);
    bad["consistency"][0]["current"] = bad["logs"][0]["last_checkpoint"].clone();
    let f = write_json(&st.path("bad-sig.json"), &bad);
    let (code, out) = script(&["consistency", &r1p, &f, "--public-key", &st.public]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("signature does not verify"), "{out}");
    // Another previous checkpoint than the one published.
    let mut other = r1.clone();
    flip(&mut other["logs"][0]["last_checkpoint"]["root"]);
    let f = write_json(&st.path("other-r1.json"), &other);
    let (code, out) = script(&["consistency", &f, &r2p, "--public-key", &st.public]);
    assert_eq!(code, 1, "{out}");
    // origuard itself, given that altered previous checkpoint: the log's
    // records no longer give its root, so not only appended to.
    let (code, _, err) = origuard(&[
        "report",
        "--audit",
        &st.s("audit"),
        "--out",
        &st.s("r3"),
        "--previous",
        &f,
    ]);
    assert_eq!(code, 1, "{err}");
    let r3 = json(&st.path("r3/report.json"));
    assert_eq!(r3["consistency"][0]["verified"], false);
    assert!(
        r3["consistency"][0]["problem"]
            .as_str()
            .unwrap()
            .starts_with("REWRITTEN"),
        "{}",
        r3["consistency"][0]
    );
}

#[test]
fn an_investigators_export_checks_record_by_record() {
    let st = two_reports();
    let out = st.s("export.json");
    let (code, _, err) = origuard(&[
        "audit",
        "export",
        "--audit",
        &st.s("audit"),
        "--ori",
        "VTICE0900",
        "--out",
        &out,
    ]);
    assert_eq!(code, 0, "{err}");
    let x = json(Path::new(&out));
    let size = x["checkpoint"]["tree_size"].as_u64().unwrap();
    let decisions = x["decisions"].as_array().unwrap();
    // 2 of every 3 decisions are ICE's; records 0 (log_start) and the
    // checkpoints are not decisions.
    assert!(decisions.len() >= 30, "{}", decisions.len());
    assert!(decisions.iter().all(|d| d["ori"] == "VTICE0900"
        && d["list"] == "immigration_enforcement"
        && d["seq"].as_u64().unwrap() < size));
    let counted: u64 = x["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["decisions"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, decisions.len() as u64);
    // No subject data: the fixture's name, date of birth and licence.
    let text = std::fs::read_to_string(&out).unwrap();
    for body in ["NAM/", "DOB/", "OLN/"] {
        assert!(!text.contains(body), "{body} in the export");
    }
    if !python_present("an_investigators_export_checks_record_by_record") {
        return;
    }
    let (code, o) = script(&["export", &out, "--public-key", &st.public]);
    assert_eq!(code, 0, "{o}");
    assert!(
        o.contains(&format!("{} decisions proven", decisions.len())),
        "{o}"
    );
    // A record altered (its reason): its own hash no longer matches.
    let mut bad = x.clone();
    let rec = bad["decisions"][3]["record"].as_str().unwrap();
    let rec = rec.replacen("\"reason\":\"", "\"reason\":\"x", 1);
    bad["decisions"][3]["record"] = serde_json::Value::String(rec);
    let f = write_json(&st.path("bad-record.json"), &bad);
    let (code, o) = script(&["export", &f, "--public-key", &st.public]);
    assert_eq!(code, 1, "{o}");
    assert!(o.contains("does not match its own hash"), "{o}");
    // A path hash altered.
    let mut bad = x.clone();
    flip(&mut bad["decisions"][0]["audit_path"][0]);
    let f = write_json(&st.path("bad-path.json"), &bad);
    let (code, o) = script(&["export", &f, "--public-key", &st.public]);
    assert_eq!(code, 1, "{o}");
    assert!(o.contains("inclusion proof does not lead"), "{o}");
    // Counts that do not match the proven decisions.
    let mut bad = x.clone();
    bad["counts"][0]["decisions"] = serde_json::json!(1_000);
    let f = write_json(&st.path("bad-counts.json"), &bad);
    let (code, o) = script(&["export", &f, "--public-key", &st.public]);
    assert_eq!(code, 1, "{o}");
}
