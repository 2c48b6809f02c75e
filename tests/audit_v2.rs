//! Audit log version 2 through the binary: `audit keygen`, rotated segments
//! verified as one log (a directory), signed checkpoints, a rewrite that
//! keeps the chain self-consistent (and is even re-signed with the stolen
//! key) caught by an earlier saved checkpoint, consistency with a saved
//! checkpoint, and inclusion proofs (`audit prove`, `audit verify-proof`)
//! with wrong proofs refused. Synthetic records only.

use origuard::audit::checkpoint::{load_signing_key, Checkpoint};
use origuard::audit::merkle::Frontier;
use origuard::audit::record::Event;
use origuard::runtime::audit_log::{AuditLog, Options, SyncMode};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[path = "common/cli.rs"]
mod cli;
use cli::run;

/// `audit keygen` into `dir/k.pk8`; the public key file's path.
fn keygen(dir: &Path) -> (String, String) {
    let key = dir.join("k.pk8").display().to_string();
    let (code, out, err) = run(&["audit", "keygen", "--out", &key]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim().len(), 64, "{out}");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (code, _, err) = run(&["audit", "keygen", "--out", &key]);
    assert_eq!(code, 1, "a key file is never overwritten: {err}");
    (key.clone(), format!("{key}.pub"))
}

fn options(key: &str, checkpoint_file: &str) -> Options {
    Options {
        checkpoint_every: Some(25),
        signing_key: Some(key.to_string()),
        checkpoint_file: Some(checkpoint_file.to_string()),
        ..Options::with_mode(SyncMode::Batch)
    }
}

fn append(log: &AuditLog, n: usize) {
    for i in 0..n {
        log.append(&Event::Lifecycle {
            what: if i % 2 == 0 { "start" } else { "stop" },
        })
        .unwrap();
        if i % 10 == 9 {
            log.sync().unwrap();
        }
    }
}

/// Rewrites the log as an attacker with the box (and its key) would: record
/// `k` altered, then every later `prev`, hash, checkpoint root and frontier
/// recomputed and every checkpoint re-signed. The result is a perfectly
/// self-consistent, validly signed log.
fn rewrite(lines: &[String], k: usize, key: &ring::signature::Ed25519KeyPair) -> Vec<String> {
    let mut out = Vec::new();
    let mut tree = Frontier::new();
    let mut prev = String::new();
    for (i, l) in lines.iter().enumerate() {
        let mut body = l[..l.rfind(",\"hash\":\"").unwrap()].to_string();
        if i == k {
            assert!(body.contains("\"what\":\"stop\""), "{body}");
            body = body.replace("\"what\":\"stop\"", "\"what\":\"start\"");
        }
        if i > 0 {
            let at = body.len() - 65;
            body.replace_range(at..at + 64, &prev);
        }
        if body.contains("\"kind\":\"checkpoint\"") {
            let v: serde_json::Value = serde_json::from_str(&format!("{body}}}")).unwrap();
            let mut cp = Checkpoint {
                log_id: v["log_id"].as_str().unwrap().into(),
                tree_size: v["tree_size"].as_u64().unwrap(),
                root: hex::encode(tree.root()),
                time: v["ts"].as_str().unwrap().into(),
                key_id: None,
                signature: None,
            };
            cp.sign(key);
            let set = |b: &mut String, field: &str, val: &str| {
                let s = b.find(&format!("\"{field}\":")).unwrap() + field.len() + 3;
                let e = s + b[s..].find([',', '}']).unwrap();
                b.replace_range(s..e, val);
            };
            set(&mut body, "root", &format!("\"{}\"", cp.root));
            let fr: Vec<String> = tree.peaks().iter().map(hex::encode).collect();
            let fs = body.find("\"frontier\":[").unwrap() + 12;
            let fe = fs + body[fs..].find(']').unwrap();
            body.replace_range(
                fs..fe,
                &fr.iter()
                    .map(|h| format!("\"{h}\""))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            set(
                &mut body,
                "signature",
                &format!("\"{}\"", cp.signature.unwrap()),
            );
        }
        let h = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            format!("{body}}}").as_bytes(),
        ));
        let mut raw = [0u8; 32];
        hex::decode_to_slice(&h, &mut raw).unwrap();
        tree.push_record(&raw);
        out.push(format!("{body},\"hash\":\"{h}\"}}"));
        prev = h;
    }
    out
}

#[test]
fn a_rechained_rewrite_is_caught_by_an_earlier_saved_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path());
    let log_path = dir.path().join("audit.jsonl").display().to_string();
    let cp_file = dir.path().join("audit.checkpoint").display().to_string();
    let (log, _) = AuditLog::open_with(&log_path, options(&key, &cp_file)).unwrap();
    append(&log, 60);
    log.close().unwrap();
    // The witness collects the checkpoint file.
    let saved = dir.path().join("saved.json").display().to_string();
    std::fs::copy(&cp_file, &saved).unwrap();
    let (log, _) = AuditLog::open_with(&log_path, options(&key, &cp_file)).unwrap();
    append(&log, 40);
    log.close().unwrap();
    // The genuine log: signed checkpoints and consistent with the saved one.
    let (code, out, err) = run(&[
        "audit",
        "verify",
        &log_path,
        "--public-key",
        &public,
        "--checkpoint",
        &saved,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("signatures verified") && out.contains("consistent with the saved checkpoint"),
        "{out}"
    );
    // Record 4 (a lifecycle stop) altered, everything after recomputed and
    // re-signed with the stolen key.
    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let der = std::fs::read(&key).unwrap();
    let k = load_signing_key(&der).unwrap();
    let forged = rewrite(&lines, 4, &k);
    assert_ne!(forged, lines);
    std::fs::write(&log_path, forged.join("\n") + "\n").unwrap();
    // On its own the forgery verifies, signatures and all ...
    let (code, out, err) = run(&["audit", "verify", &log_path, "--public-key", &public]);
    assert_eq!(code, 0, "the rewrite is self-consistent: {err}");
    assert!(out.contains("signatures verified"), "{out}");
    // ... but not against the checkpoint saved before it.
    let (code, _, err) = run(&["audit", "verify", &log_path, "--checkpoint", &saved]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("REWRITTEN") && err.contains("the saved checkpoint at size"),
        "{err}"
    );
    let (code, out, _) = run(&[
        "audit",
        "verify",
        "--json",
        &log_path,
        "--checkpoint",
        &saved,
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["saved_checkpoint"]["result"], "differs");
    // A log cut back before the saved size, or a new log, fails too.
    let short: Vec<String> = lines[..20].to_vec();
    std::fs::write(&log_path, short.join("\n") + "\n").unwrap();
    let (code, _, err) = run(&["audit", "verify", &log_path, "--checkpoint", &saved]);
    assert_eq!(code, 1);
    assert!(err.contains("removed from the end"), "{err}");
    let other = dir.path().join("other.jsonl").display().to_string();
    let (log, _) = AuditLog::open(&other, SyncMode::Batch).unwrap();
    append(&log, 100);
    log.close().unwrap();
    let (code, _, err) = run(&["audit", "verify", &other, "--checkpoint", &saved]);
    assert_eq!(code, 1);
    assert!(err.contains("the log was replaced"), "{err}");
}

#[test]
fn rotated_segments_verify_as_one_log_and_a_missing_one_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let (key, public) = keygen(dir.path());
    let log_path = logs.join("audit.jsonl").display().to_string();
    let cp_file = logs.join("audit.jsonl.checkpoint").display().to_string();
    let opts = Options {
        rotate_size: Some(4 << 10),
        ..options(&key, &cp_file)
    };
    let (log, _) = AuditLog::open_with(&log_path, opts).unwrap();
    append(&log, 300);
    log.close().unwrap();
    let d = logs.display().to_string();
    let (code, out, err) = run(&["audit", "verify", &d, "--public-key", &public]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("intact, records 0..")
            && out.contains(" files")
            && out.contains("signatures verified"),
        "{out}"
    );
    let n_files = std::fs::read_dir(&logs).unwrap().count();
    assert!(n_files >= 5, "{n_files}");
    // One closed segment removed: the next file does not continue.
    let mut segs: Vec<_> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.display().to_string().contains(".jsonl.0"))
        .collect();
    segs.sort();
    std::fs::remove_file(&segs[1]).unwrap();
    let (code, _, err) = run(&["audit", "verify", &d]);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not continue the file before it"),
        "{err}"
    );
}

#[test]
fn an_inclusion_proof_round_trips_and_a_wrong_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path());
    let log_path = dir.path().join("audit.jsonl").display().to_string();
    let cp_file = dir.path().join("audit.checkpoint").display().to_string();
    let opts = Options {
        rotate_size: Some(4 << 10),
        ..options(&key, &cp_file)
    };
    let (log, _) = AuditLog::open_with(&log_path, opts).unwrap();
    append(&log, 120);
    log.close().unwrap();
    let d = dir.path().display().to_string();
    let (code, proof, err) = run(&["audit", "prove", "37", "--audit", &d]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&proof).unwrap();
    assert_eq!(v["leaf_index"], 37);
    assert!(v["record"].as_str().unwrap().starts_with("{\"seq\":37,"));
    assert!(!v["audit_path"].as_array().unwrap().is_empty());
    let pf = dir.path().join("proof.json");
    std::fs::write(&pf, &proof).unwrap();
    let p = pf.display().to_string();
    let (code, out, err) = run(&["audit", "verify-proof", &p, "--public-key", &public]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("record 37 is in log") && out.contains("signature verified"),
        "{out}"
    );
    // Every wrong proof is refused.
    let wrong = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut w = v.clone();
        f(&mut w);
        std::fs::write(&pf, w.to_string()).unwrap();
        let (code, _, err) = run(&["audit", "verify-proof", &p, "--public-key", &public]);
        assert_eq!(code, 1, "accepted: {w}");
        assert!(err.contains("REFUSED"), "{err}");
    };
    wrong(&|w| w["leaf_index"] = 36.into());
    wrong(&|w| {
        let h = w["audit_path"][0].as_str().unwrap().to_string();
        let first = if h.as_bytes()[0] == b'0' { '1' } else { '0' };
        let flipped = format!("{first}{}", &h[1..]);
        w["audit_path"][0] = flipped.into();
    });
    wrong(&|w| {
        let r = w["record"].as_str().unwrap();
        let r = if r.contains("\"start\"") {
            r.replace("\"start\"", "\"stop\"")
        } else {
            r.replace("\"stop\"", "\"start\"")
        };
        w["record"] = r.into();
    });
    wrong(&|w| {
        let a = w["audit_path"].as_array_mut().unwrap();
        a.pop();
    });
    wrong(&|w| {
        w["checkpoint"]["tree_size"] = (w["tree_size"].as_u64().unwrap() + 1).into();
        w["tree_size"] = w["checkpoint"]["tree_size"].clone();
    });
    // A record past the latest checkpoint has no proof yet.
    let (code, _, err) = run(&["audit", "prove", "100000", "--audit", &d]);
    assert_eq!(code, 1);
    assert!(
        err.contains("not covered by the latest checkpoint"),
        "{err}"
    );
}

#[test]
fn the_report_reads_a_directory_of_segments_and_names_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let (key, _) = keygen(dir.path());
    let log_path = logs.join("audit.jsonl").display().to_string();
    let cp_file = logs.join("audit.jsonl.checkpoint").display().to_string();
    let opts = Options {
        rotate_size: Some(4 << 10),
        ..options(&key, &cp_file)
    };
    let (log, _) = AuditLog::open_with(&log_path, opts).unwrap();
    append(&log, 200);
    log.close().unwrap();
    let out = dir.path().join("report");
    let (code, _, err) = run(&[
        "report",
        "--audit",
        &logs.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--internal",
    ]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let l = &r["logs"][0];
    assert_eq!(l["intact"], true, "{l}");
    assert!(l["files"].as_array().unwrap().len() >= 3, "{l}");
    assert!(l["checkpoints"].as_u64().unwrap() >= 8, "{l}");
    let cp: Checkpoint = serde_json::from_slice(&std::fs::read(&cp_file).unwrap()).unwrap();
    assert_eq!(l["last_checkpoint"]["root"], cp.root.as_str());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains(&cp.root),
        "the page names the last checkpoint's root"
    );
}
