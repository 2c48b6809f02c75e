//! End-to-end: `origuard filter` over the testdata captures in both
//! directions, `audit verify` on its log (and on tampered copies), and the
//! what-if `policy diff --capture`.

use origuard::framing::{split_all, Framing};
use origuard::message::{fields::Catalogue, parse, Limits};
use std::path::Path;

const POLICY: &str = cli::EXAMPLE_POLICY;

fn cap(name: &str) -> String {
    format!("{}/testdata/captures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[path = "common/cli.rs"]
mod cli;
use cli::bin;

struct Run {
    stderr: String,
    input: Vec<bytes::Bytes>,
    out: Vec<bytes::Bytes>,
    replies: Vec<bytes::Bytes>,
    audit: String,
}

fn filter(dir: &Path, direction: &str, capture: &str) -> Run {
    let out = dir.join(format!("{direction}.out"));
    let replies = dir.join(format!("{direction}.replies"));
    let audit = dir.join(format!("{direction}.audit"));
    let o = bin()
        .args([
            "filter",
            "--policy",
            POLICY,
            "--direction",
            direction,
            "--framing",
            "len4",
        ])
        .arg("--replies")
        .arg(&replies)
        .arg("--audit")
        .arg(&audit)
        .arg(cap(capture))
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8(o.stderr).unwrap();
    assert!(o.status.success(), "{stderr}");
    let read = |p: &Path| {
        let (f, e) = split_all(Framing::Len4, &std::fs::read(p).unwrap(), 1 << 24);
        assert!(e.is_none());
        f
    };
    Run {
        stderr,
        input: read(Path::new(&cap(capture))),
        out: read(&out),
        replies: read(&replies),
        audit: audit.to_str().unwrap().to_string(),
    }
}

fn count(stderr: &str, what: &str) -> u64 {
    let line = stderr.lines().find(|l| l.starts_with(what)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

const MARKERS: [&str; 5] = [
    "BinaryBase64Object",
    "/9j/",
    "POB/",
    "PLACE OF BIRTH",
    "EXAMPLE CITY",
];

#[test]
fn outbound_capture() {
    let dir = tempfile::tempdir().unwrap();
    let r = filter(dir.path(), "outbound", "outbound.len4");
    let (rec, pass, red, den, drop) = (
        count(&r.stderr, "received"),
        count(&r.stderr, "passed"),
        count(&r.stderr, "redacted"),
        count(&r.stderr, "denied"),
        count(&r.stderr, "dropped"),
    );
    // The capture holds responses only: a response to a restricted agency
    // whose control field no query (in this run) carried is declined, with
    // no control field in the decline. One response carries no control
    // field at all: it is redacted.
    assert_eq!(
        (rec, pass, red, den, drop),
        (14, 4, 1, 9, 0),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("(ok)"));
    assert_eq!(r.out.len() as u64, pass + red);
    let cat = Catalogue::builtin();
    let lim = Limits::default();
    let mut passed_seen = 0;
    for o in &r.out {
        let m = parse(o.clone(), &cat, &lim).unwrap();
        let dest = m.dests.as_slice()[0].to_string();
        if ["AZNLETS20", "AZ"].contains(&dest.as_str()) {
            // Pass-through: byte-identical to an input message.
            assert!(r.input.iter().any(|i| i == o), "{dest}: not byte-identical");
            passed_seen += 1;
        } else {
            // Redacted for a restricted agency: no protected field remains,
            // header and control field intact.
            for mk in MARKERS {
                assert!(
                    memchr::memmem::find(o, mk.as_bytes()).is_none(),
                    "{dest} got {mk}"
                );
            }
            assert!(!m.has_photo() && !m.has_pob());
        }
    }
    assert_eq!(passed_seen, 4);
    // Decline replies replace the denied responses (the denied outbound
    // query gets none); none echoes a control field the agency did not send.
    assert_eq!(r.replies.len(), 8);
    for rep in &r.replies {
        let m = parse(rep.clone(), &cat, &lim).unwrap();
        assert_eq!(m.originating.as_str(), "COOLN0000");
        assert!(m.control.is_none(), "{rep:?}");
        for mk in MARKERS {
            assert!(memchr::memmem::find(rep, mk.as_bytes()).is_none());
        }
    }
    // Audit: one policy record + one per message, chain intact, no content.
    let o = bin().args(["audit", "verify", &r.audit]).output().unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        o.status.success() && text.contains("intact, 16 records"),
        "{text}"
    );
    let log = std::fs::read_to_string(&r.audit).unwrap();
    for mk in ["DOE", "19800115", "EXAMPLE", "MEXICO", "/9j/", "000000000"] {
        assert!(!log.contains(mk), "audit holds {mk}");
    }
}

#[test]
fn inbound_capture_and_declines() {
    let dir = tempfile::tempdir().unwrap();
    let r = filter(dir.path(), "inbound", "inbound.len4");
    assert_eq!(count(&r.stderr, "received"), 18);
    // Deny is total: the denied agency's administrative message is denied
    // too (no decline: it is not a query), so 7 denied with 6 replies.
    assert_eq!(count(&r.stderr, "denied"), 7, "{}", r.stderr);
    assert!(r.stderr.contains("(6 decline replies)"), "{}", r.stderr);
    assert_eq!(count(&r.stderr, "dropped"), 2, "{}", r.stderr);
    assert_eq!(count(&r.stderr, "passed"), 9, "{}", r.stderr);
    // Every forwarded inbound message is byte-identical to its input.
    for o in &r.out {
        assert!(r.input.iter().any(|i| i == o));
    }
    let cat = Catalogue::builtin();
    let mut keys: Vec<String> = Vec::new();
    for rep in &r.replies {
        let m = parse(rep.clone(), &cat, &Limits::default()).unwrap();
        assert_eq!(m.originating.as_str(), "COOLN0000");
        keys.push(format!("{}>{}", m.mke, m.dests.as_slice()[0]));
    }
    keys.sort();
    assert_eq!(
        keys,
        [
            "CPR>VTICE0900",
            "DR>AXADMHELP",
            "DR>TXICE2000",
            "DR>VTICE0900",
            "DR>VTICE0900",
            "KR>CAICE7777"
        ]
    );
}

#[test]
fn tampered_audit_log_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let r = filter(dir.path(), "outbound", "outbound.len4");
    let orig = std::fs::read_to_string(&r.audit).unwrap();
    let ok = bin().args(["audit", "verify", &r.audit]).output().unwrap();
    let ok_text = String::from_utf8(ok.stdout).unwrap();
    let head = ok_text
        .split("head ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let lines: Vec<&str> = orig.lines().collect();
    let write = |ls: &[&str]| {
        let p = dir.path().join("t.audit");
        std::fs::write(&p, ls.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        p
    };
    let verify = |p: &Path, extra: &[&str]| {
        let o = bin()
            .args(["audit", "verify"])
            .arg(p)
            .args(extra)
            .output()
            .unwrap();
        (
            o.status.code().unwrap(),
            String::from_utf8(o.stderr).unwrap(),
        )
    };
    // Altered: a denied decision rewritten as passed.
    let mut t = lines.clone();
    let altered = t[3].replace("\"category\":\"denied\"", "\"category\":\"passed\"");
    t[3] = &altered;
    let (c, e) = verify(&write(&t), &[]);
    assert!(c == 1 && e.contains("BROKEN at record 3"), "{e}");
    // Removed.
    let mut t = lines.clone();
    t.remove(5);
    let (c, e) = verify(&write(&t), &[]);
    assert!(c == 1 && e.contains("BROKEN at record 5"), "{e}");
    // Reordered.
    let mut t = lines.clone();
    t.swap(7, 8);
    let (c, e) = verify(&write(&t), &[]);
    assert!(c == 1 && e.contains("BROKEN at record 7"), "{e}");
    // Inserted.
    let mut t = lines.clone();
    t.insert(9, lines[9]);
    let (c, e) = verify(&write(&t), &[]);
    assert!(c == 1 && e.contains("BROKEN at record 10"), "{e}");
    // Truncated: only the published head catches it.
    let t = &lines[..lines.len() - 2];
    let p = write(t);
    assert_eq!(verify(&p, &[]).0, 0);
    let (c, e) = verify(&p, &["--expect-head", &head]);
    assert!(c == 1 && e.contains("removed from the end"), "{e}");
    let (c, _) = verify(Path::new(&r.audit), &["--expect-head", &head]);
    assert_eq!(c, 0);
}

#[test]
fn what_if_lists_changed_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new.toml");
    let text = std::fs::read_to_string(POLICY).unwrap().replace(
        "action = \"redact\"\ndescription = \"Federal",
        "action = \"deny\"\ndescription = \"Federal",
    );
    std::fs::write(&new, text).unwrap();
    std::fs::create_dir_all(dir.path().join("lists")).unwrap();
    for f in ["immigration.txt", "federal_redact.txt"] {
        std::fs::copy(
            format!("{}/deploy/policy/lists/{f}", env!("CARGO_MANIFEST_DIR")),
            dir.path().join("lists").join(f),
        )
        .unwrap();
    }
    let o = bin()
        .args(["policy", "diff", POLICY])
        .arg(&new)
        .args([
            "--capture",
            &cap("outbound.len4"),
            "--direction",
            "outbound",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("list \"federal_redact\": action redact -> deny"),
        "{out}"
    );
    assert!(out.contains("7 of 14 messages change outcome"), "{out}");
    assert!(out.contains("redact -> deny: 6"), "{out}");
    assert!(out.contains("drop(redact_failed) -> deny: 1"), "{out}");
    assert!(out.contains("#2 DR VADEADX00: redact -> deny"), "{out}");
}

#[test]
fn json_summary_adds_up_and_matches_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let r = filter(dir.path(), "outbound", "outbound.len4");
    let o = bin()
        .args([
            "filter",
            "--json",
            "--policy",
            POLICY,
            "--direction",
            "outbound",
        ])
        .arg(cap("outbound.len4"))
        .arg(dir.path().join("json.out"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&err).unwrap();
    let n = |k: &str| v[k].as_u64().unwrap();
    for k in ["received", "passed", "redacted", "denied", "dropped"] {
        assert_eq!(n(k), count(&r.stderr, k), "{k}");
    }
    assert_eq!(
        n("received"),
        n("passed") + n("redacted") + n("denied") + n("dropped")
    );
    assert!(v["fields_removed"]["photo"].as_u64().unwrap() > 0);
    assert!(v["error"].is_null());
    assert_eq!(v["policy"]["version"].as_str().unwrap().len(), 64);
    // The forwarded messages are the same as without --json.
    assert_eq!(
        std::fs::read(dir.path().join("json.out")).unwrap(),
        std::fs::read(dir.path().join("outbound.out")).unwrap()
    );
}

#[test]
fn audit_verify_json() {
    let (dir, _) = cli::demo("1s", &[]);
    let log = dir.path().join("audit.jsonl");
    let run = |extra: &[&str]| {
        let o = bin()
            .args(["audit", "verify", "--json"])
            .arg(&log)
            .args(extra)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (o.status.code().unwrap(), v)
    };
    let (code, v) = run(&[]);
    assert_eq!(
        (code, &v["ok"], &v["intact"]),
        (0, &serde_json::json!(true), &serde_json::json!(true))
    );
    assert_eq!(v["first_seq"], 0);
    let head = v["head"].as_str().unwrap().to_string();
    let (code, v) = run(&["--expect-head", &"0".repeat(64)]);
    assert_eq!(
        (code, &v["ok"], &v["intact"]),
        (1, &serde_json::json!(false), &serde_json::json!(true))
    );
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(
        &log,
        text.replacen("\"kind\":\"decision\"", "\"kind\":\"decisioN\"", 1),
    )
    .unwrap();
    let (code, v) = run(&["--expect-head", &head]);
    assert_eq!((code, &v["intact"]), (1, &serde_json::json!(false)));
    assert!(
        v["broken"]["what"].as_str().unwrap().contains("altered"),
        "{v}"
    );
    assert!(v["broken"]["seq"].as_u64().unwrap() > 0);
}
