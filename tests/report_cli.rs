//! `origuard report` as a command: a directory of logs, exit codes, and a
//! tampered log reported on the report's first line.

#[path = "common/cli.rs"]
mod cli;
use cli::bin;

#[test]
fn report_from_a_directory_and_a_tampered_log() {
    let (dir, _) = cli::demo("1s", &[]);
    let audit = dir.path().join("audit.jsonl");
    // A directory: the audit file is found, metrics.txt and the rest skipped.
    let out = dir.path().join("r1");
    let o = bin()
        .args(["report", "--audit"])
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .args(["--period", "day", "--internal"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The same with standard output closed (`| head` that ended): written,
    // exit 0, no panic.
    let quiet = dir.path().join("r0");
    let mut child = bin()
        .args(["report", "--audit"])
        .arg(dir.path())
        .arg("--out")
        .arg(&quiet)
        .args(["--period", "day", "--internal"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let q = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&q.stderr);
    assert_eq!(q.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(quiet.join("report.json").is_file());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["mode"], "internal");
    assert_eq!(json["logs"].as_array().unwrap().len(), 1);
    let decisions = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"kind\":\"decision\""))
        .count() as u64;
    assert_eq!(
        json["decisions"], decisions,
        "the report counts every decision"
    );
    let csv = std::fs::read_to_string(out.join("report.csv")).unwrap();
    let sum: u64 = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(5).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(sum, decisions, "internal CSV rows add up to the log");
    // Tamper with one record: the report is still written, says so first,
    // and the command fails unless --allow-broken.
    let text = std::fs::read_to_string(&audit).unwrap();
    let tampered = text.replacen("\"category\":\"denied\"", "\"category\":\"passed\"", 1);
    assert_ne!(text, tampered);
    std::fs::write(&audit, tampered).unwrap();
    let out2 = dir.path().join("r2");
    let o = bin()
        .args(["report", "--audit"])
        .arg(&audit)
        .arg("--out")
        .arg(&out2)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not verify"));
    let page = std::fs::read_to_string(out2.join("report.html")).unwrap();
    let first = page.find("<p id=\"verdict\"").unwrap();
    assert!(page[first..].starts_with("<p id=\"verdict\" class=\"verdict bad\""));
    assert!(
        page[..first].find("<p").is_none(),
        "the verdict is the first thing on the page"
    );
    let o = bin()
        .args(["report", "--allow-broken", "--audit"])
        .arg(&audit)
        .arg("--out")
        .arg(&out2)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    // A missing input: exit 2.
    let o = bin()
        .args(["report", "--audit", "/nonexistent", "--out", "x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// Runs `origuard report --audit AUDIT --policy (example) --out OUT EXTRA`
/// and returns its `report.json`; fails the test when the command fails.
fn report(audit: &std::path::Path, out: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let o = bin()
        .args(["report", "--audit"])
        .arg(audit)
        .args(["--policy", cli::EXAMPLE_POLICY, "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

/// The periods a quarterly and an annual report of the log must print
/// (`2026-Q4`, `2026`), from the decisions' own timestamps.
fn expected_periods(audit: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let (mut q, mut y) = (Vec::new(), Vec::new());
    for l in std::fs::read_to_string(audit).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if v["kind"] != "decision" {
            continue;
        }
        let ts = v["ts"].as_str().unwrap();
        let month: u32 = ts[5..7].parse().unwrap();
        q.push(format!("{}-Q{}", &ts[..4], (month - 1) / 3 + 1));
        y.push(ts[..4].to_string());
    }
    for v in [&mut q, &mut y] {
        v.sort();
        v.dedup();
    }
    (q, y)
}

/// The Colorado table's columns, on the page and in `colorado.csv`
/// (specs/report.md, *Publication shapes*).
const COLORADO_HEADER: &str = "period,family,requests,declined,released_redacted,released_order_federal_judge,released_order_magistrate_judge,released_order_state_judge,released_without_federal_judge";

/// `--period quarter` and `--period year` on a real log: every table is
/// grouped by `2026-Q4` / `2026`, and the Colorado summary has one row per
/// period and restricted family with the documented columns (every issuer
/// kind shown).
#[test]
fn quarterly_and_annual_reports_on_a_demo_log() {
    let (dir, _) = cli::demo("1s", &[]);
    let audit = dir.path().join("audit.jsonl");
    let (quarters, years) = expected_periods(&audit);
    for (period, want) in [("quarter", &quarters), ("year", &years)] {
        let out = dir.path().join(period);
        let json = report(&audit, &out, &["--period", period]);
        assert_eq!(json["period"], period);
        let labels = |table: &str| {
            let mut v: Vec<String> = json[table]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["period"].as_str().unwrap().to_string())
                .collect();
            v.dedup();
            v
        };
        for table in ["periods", "by_family", "colorado", "rows"] {
            assert_eq!(&labels(table), want, "{period}: {table}");
        }
        // One Colorado row per period and family that is not exempt.
        let exempt = ["none", "nlets_system"];
        let colorado = json["colorado"].as_array().unwrap();
        for r in colorado {
            assert!(!exempt.contains(&r["family"].as_str().unwrap()), "{r}");
            let by: Vec<&String> = r["released_under_court_order"]
                .as_object()
                .unwrap()
                .keys()
                .collect();
            assert_eq!(
                by,
                ["federal_judge", "magistrate_judge", "state_judge"],
                "{r}"
            );
            for k in ["requests", "declined", "released_redacted"] {
                assert!(r[k]["value"].is_u64(), "{k}: {r}");
            }
        }
        let families: Vec<&str> = colorado
            .iter()
            .map(|r| r["family"].as_str().unwrap())
            .collect();
        for f in [
            "immigration_enforcement",
            "federal_redact",
            "hsi",
            "cbp",
            "uscis",
            "partners_287g",
        ] {
            assert!(families.contains(&f), "{period}: {f} not in {families:?}");
        }
        let csv = std::fs::read_to_string(out.join("colorado.csv")).unwrap();
        assert_eq!(csv.lines().next(), Some(COLORADO_HEADER));
        assert_eq!(csv.lines().count(), colorado.len() + 1);
        let page = std::fs::read_to_string(out.join("report.html")).unwrap();
        assert!(
            page.contains("<th>Period</th><th>Agency family</th><th>Requests</th><th>Declined</th><th>Released with fields withheld</th><th>Released under order: federal judge</th><th>magistrate judge</th><th>state judge</th><th>Released without a federal judge's order</th>"),
            "the Colorado table's columns"
        );
        assert_eq!(
            page.matches("<tr class=\"colorado\"><td>").count(),
            colorado.len()
        );
        for p in want.iter() {
            assert!(
                page.contains(&format!("<tr class=\"colorado\"><td>{p}</td>")),
                "{p}"
            );
        }
    }
}

/// A figure of `colorado.csv`: `N`, or `>=N` for a lower bound, as the
/// JSON's `{"value", "at_least"}` says.
fn csv_fig(f: &serde_json::Value) -> String {
    let v = f["value"].as_u64().unwrap();
    if f["at_least"] == true {
        format!(">={v}")
    } else {
        v.to_string()
    }
}

/// A published cell as written in a CSV: the count, or `<N`.
fn csv_cell(c: &serde_json::Value) -> String {
    match c.as_u64() {
        Some(n) => n.to_string(),
        None => c.as_str().unwrap().to_string(),
    }
}

/// The publication shapes as files: `by_month_and_key.csv` and
/// `colorado.csv` read back from disk, headers exact, one row per month ×
/// list × key and per period × family, every figure as `report.json` has
/// it (withheld cells `<N`, lower bounds `>=N`); the month rows add up to
/// the audit log's requests of each family where nothing is withheld.
/// `--small-cell TABLE=N` from the command line sets the thresholds that
/// are printed and used.
#[test]
fn publication_files_agree_with_report_json() {
    let (dir, _) = cli::demo("1s", &[]);
    let audit = dir.path().join("audit.jsonl");
    for (name, extra) in [
        ("default", &[][..]),
        (
            "thresholds",
            &[
                "--small-cell",
                "by_month_and_key=3",
                "--small-cell",
                "figures=4",
            ][..],
        ),
    ] {
        let out = dir.path().join(name);
        let json = report(&audit, &out, extra);
        let months = json["by_month_and_key"].as_array().unwrap();
        assert!(!months.is_empty());
        let csv = std::fs::read_to_string(out.join("by_month_and_key.csv")).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("month,list,key,received,declined"));
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), months.len(), "{csv}");
        let mut seen = std::collections::BTreeSet::new();
        for (line, m) in rows.iter().zip(months) {
            let want = format!(
                "{},{},{},{},{}",
                m["month"].as_str().unwrap(),
                m["list"].as_str().unwrap(),
                m["key"].as_str().unwrap(),
                csv_cell(&m["received"]),
                csv_cell(&m["declined"])
            );
            assert_eq!(*line, want);
            let k: Vec<&str> = line.split(',').take(3).collect();
            assert!(
                seen.insert(k.join(",")),
                "one row per month, list and key: {line}"
            );
        }
        let colorado = json["colorado"].as_array().unwrap();
        let csv = std::fs::read_to_string(out.join("colorado.csv")).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some(COLORADO_HEADER));
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), colorado.len(), "{csv}");
        for (line, c) in rows.iter().zip(colorado) {
            let by = &c["released_under_court_order"];
            let want = [
                c["period"].as_str().unwrap().to_string(),
                c["family"].as_str().unwrap().to_string(),
                csv_fig(&c["requests"]),
                csv_fig(&c["declined"]),
                csv_fig(&c["released_redacted"]),
                csv_fig(&by["federal_judge"]),
                csv_fig(&by["magistrate_judge"]),
                csv_fig(&by["state_judge"]),
                csv_fig(&c["released_without_federal_judge"]),
            ]
            .join(",");
            assert_eq!(*line, want);
            // A lower bound is never ">=0": a zero is exact.
            assert!(!line.contains(">=0"), "{line}");
        }
        // The month rows of each family add up to its Colorado requests
        // (one month, one quarter here) where nothing is withheld.
        for c in colorado {
            let family = c["family"].as_str().unwrap();
            let cells: Vec<&serde_json::Value> = months
                .iter()
                .filter(|m| m["list"] == family)
                .map(|m| &m["received"])
                .collect();
            if c["requests"]["at_least"] == false && cells.iter().all(|x| x.is_u64()) {
                let sum: u64 = cells.iter().map(|x| x.as_u64().unwrap()).sum();
                assert_eq!(sum, c["requests"]["value"].as_u64().unwrap(), "{family}");
            }
        }
        // The thresholds in force, and the withheld cells they write.
        let (by_month, figures) = if name == "default" { (10, 10) } else { (3, 4) };
        assert_eq!(json["small_cells"]["by_month_and_key"], by_month);
        assert_eq!(json["small_cells"]["figures"], figures);
        for m in months {
            for k in ["received", "declined"] {
                match m[k].as_u64() {
                    Some(n) => assert!(n == 0 || n >= by_month, "{m}"),
                    None => assert_eq!(m[k], format!("<{by_month}"), "{m}"),
                }
            }
        }
        for r in json["rows"].as_array().unwrap() {
            match r["messages"].as_u64() {
                Some(n) => assert!(n == 0 || n >= figures, "{r}"),
                None => assert_eq!(r["messages"], format!("<{figures}"), "{r}"),
            }
        }
    }
}
