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
