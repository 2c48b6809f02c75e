//! `origuard demo` (the README's first command) runs, reports and finds no leak.

#[path = "common/cli.rs"]
mod cli;

#[test]
fn demo_runs_and_reports_no_leak() {
    let dir = tempfile::tempdir().unwrap();
    let o = cli::bin()
        .args(["demo", "--duration", "2s", "--rate", "100", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("photos or places of birth to restricted agencies 0  (none: good)"),
        "{out}"
    );
    assert!(
        out.contains("immigration_enforcement") && out.contains("denied"),
        "{out}"
    );
    assert!(
        out.contains("federal_redact") && out.contains("redacted"),
        "{out}"
    );
    assert!(out.contains("intact,"), "{out}");
    assert!(dir.path().join("audit.jsonl").exists() && dir.path().join("metrics.txt").exists());
    let m = std::fs::read_to_string(dir.path().join("metrics.txt")).unwrap();
    assert!(m.contains("origuard_messages_total"));
}

#[test]
fn demo_runs_outside_a_checkout_with_the_built_in_policy() {
    let cwd = tempfile::tempdir().unwrap();
    let dir = cwd.path().join("run");
    let o = cli::bin()
        .current_dir(cwd.path())
        .args(["demo", "--duration", "1s", "--rate", "50", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("(none: good)"), "{out}");
    assert!(dir.join("policy/colorado.toml").exists());
    assert!(dir.join("policy/lists/immigration.txt").exists());
}

/// The demo and the report of the same run agree on every figure, and both
/// agree with the audit log read here on its own: per agency family,
/// requests received (every message kind) and declined, responses released
/// redacted, court-order uses; photos and places of birth withheld. Every
/// family of the policy is in the report with its description, 0 when it
/// had no traffic.
#[test]
fn demo_and_report_agree_with_the_audit_log() {
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().unwrap();
    let o = cli::bin()
        .args(["demo", "--duration", "2s", "--rate", "150", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{out}");
    // The audit log, read independently.
    #[derive(Default, Debug, PartialEq)]
    struct Fam {
        received: u64,
        declined: u64,
        redacted: u64,
        orders_q: u64,
        orders_r: u64,
    }
    let mut fam: BTreeMap<String, Fam> = BTreeMap::new();
    let (mut photos, mut pob) = (0u64, 0u64);
    let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    for l in log.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if v["kind"] != "decision" {
            continue;
        }
        let list = v["list"].as_str().unwrap_or("none").to_string();
        let (dir, cat) = (
            v["direction"].as_str().unwrap(),
            v["category"].as_str().unwrap(),
        );
        let removed = |f: &str| {
            v["fields_removed"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == f))
        };
        let f = fam.entry(list).or_default();
        let order = v["exception"].is_string();
        match dir {
            "inbound" => {
                f.received += 1;
                f.declined += (cat == "denied") as u64;
                f.orders_q += order as u64;
            }
            _ => {
                f.redacted += (cat == "redacted") as u64;
                f.orders_r += order as u64;
            }
        }
        let cpr_withheld =
            v["mke"] == "CPR" && dir == "outbound" && (cat == "denied" || cat == "dropped");
        photos += (removed("photo") || cpr_withheld) as u64;
        pob += removed("pob") as u64;
    }
    assert!(fam["immigration_enforcement"].declined > 0, "{fam:?}");
    // The demo's "In short" lines.
    for (list, f) in &fam {
        let tag = if list == "none" {
            "Requests from agencies on no list: ".to_string()
        } else {
            format!("(list “{list}”): ")
        };
        let line = out
            .lines()
            .find(|l| l.contains(&tag))
            .unwrap_or_else(|| panic!("no line for {list}: {out}"));
        let want = format!(
            "{} received, {} declined; released with fields withheld: {}; court orders: {} queries let through, {} responses released",
            f.received, f.declined, f.redacted, f.orders_q, f.orders_r
        );
        assert!(line.ends_with(&want), "{list}: {line} / {want}");
    }
    assert!(
        out.contains(&format!(
            "(removed, or the photo response withheld whole): {photos}\n"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("Places of birth withheld from responses: {pob}\n")),
        "{out}"
    );
    // The public report of the run: every family of the policy, with its
    // description; exact figures equal, lower bounds below.
    let public: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report/report.json")).unwrap(),
    )
    .unwrap();
    // Checkable from outside: the report carries a consistency proof from
    // the report as published at the log's first checkpoint, verified.
    let c = &public["consistency"][0];
    assert_eq!(c["verified"], true, "{c}");
    assert!(
        c["previous"]["tree_size"].as_u64() < c["current"]["tree_size"].as_u64(),
        "{c}"
    );
    assert_eq!(
        c["previous"],
        serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(dir.path().join("report-earlier/report.json")).unwrap()
        )
        .unwrap()["logs"][0]["last_checkpoint"]
    );
    assert!(out.contains("verify-consistency.py consistency"), "{out}");
    let rows = public["by_family"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["family"].as_str().unwrap()).collect();
    for want in [
        "immigration_enforcement",
        "immigration_pattern",
        "federal_redact",
        "hsi",
        "cbp",
        "uscis",
        "partners_287g",
        "nlets_system",
        "none",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for r in rows {
        let name = r["family"].as_str().unwrap();
        assert!(!r["description"].as_str().unwrap().is_empty(), "{r}");
        let f = fam.get(name);
        let exact = |k: &str| match (k, f) {
            (_, None) => 0,
            ("received", Some(f)) => f.received,
            ("declined", Some(f)) => f.declined,
            ("released_redacted", Some(f)) => f.redacted,
            ("court_order_queries", Some(f)) => f.orders_q,
            (_, Some(f)) => f.orders_r,
        };
        for k in [
            "received",
            "declined",
            "released_redacted",
            "court_order_queries",
            "court_order_releases",
        ] {
            let (v, at_least) = (r[k]["value"].as_u64().unwrap(), r[k]["at_least"] == true);
            if at_least {
                assert!(v <= exact(k), "{name} {k}: {r}");
            } else {
                assert_eq!(v, exact(k), "{name} {k}: {r}");
            }
        }
    }
    // The report carries the log's last checkpoint, signed with the demo's
    // throw-away key, and the log verifies against that key.
    let sig = public["logs"][0]["last_checkpoint"]["signature"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(sig.len(), 128, "{}", public["logs"]);
    let v = cli::bin()
        .args(["audit", "verify"])
        .arg(dir.path().join("audit.jsonl"))
        .arg("--public-key")
        .arg(dir.path().join("demo-signing.key.pub"))
        .output()
        .unwrap();
    assert!(
        v.status.success() && String::from_utf8_lossy(&v.stdout).contains("signatures verified"),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    // The CSV marks court-order uses.
    let csv = std::fs::read_to_string(dir.path().join("report/report.csv")).unwrap();
    assert!(csv.starts_with(
        "period,direction,list,key,outcome,messages,photos_withheld,pob_withheld,court_order\n"
    ));
    assert!(csv
        .lines()
        .skip(1)
        .all(|l| l.ends_with(",no") || l.ends_with(",yes")));
    // The internal report from the command line: every figure exact.
    let rep = dir.path().join("internal");
    let o = cli::bin()
        .args(["report", "--internal", "--audit"])
        .arg(dir.path().join("audit.jsonl"))
        .arg("--policy")
        .arg(
            // The policy the demo ran with, as its last line names it.
            out.split("--policy ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .unwrap(),
        )
        .arg("--out")
        .arg(&rep)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let internal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rep.join("report.json")).unwrap()).unwrap();
    for r in internal["by_family"].as_array().unwrap() {
        let f = fam.get(r["family"].as_str().unwrap());
        let got = (
            r["received"]["value"].as_u64().unwrap(),
            r["declined"]["value"].as_u64().unwrap(),
            r["released_redacted"]["value"].as_u64().unwrap(),
        );
        let want = f.map_or((0, 0, 0), |f| (f.received, f.declined, f.redacted));
        assert_eq!(got, want, "{r}");
        assert_eq!(r["received"]["at_least"], false);
    }
}
