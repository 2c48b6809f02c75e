//! The demo writes its oversight report, and a real browser (headless
//! Chromium) draws it: every chart bar laid out with a size, and every
//! figure in the page's tables equal to the CSV beside it. `.ci/run`
//! installs Chromium from Debian's packages when it is missing; without it
//! this test says so and checks the files only.

use std::collections::HashMap;
use std::process::Command;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
fn the_demo_report_is_drawn_and_matches_its_csv() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_origuard"))
        .args(["demo", "--duration", "2s", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let page = dir.path().join("report").join("report.html");
    assert!(
        stdout.contains(&page.display().to_string()),
        "the demo names its report: {stdout}"
    );
    let csv = std::fs::read_to_string(dir.path().join("report/report.csv")).unwrap();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["intact"], true);
    assert_eq!(json["mode"], "public");
    // CSV: key -> messages.
    let mut want: HashMap<String, String> = HashMap::new();
    for l in csv.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        want.insert(f[..5].join(","), f[5].to_string());
    }
    assert!(want.len() >= 10, "{csv}");
    let Some(bin) = chromium() else {
        eprintln!("SKIPPED browser check: no chromium here (.ci/run installs the Debian package)");
        return;
    };
    let out = Command::new(bin)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom
        .find("<pre id=\"render-check\" hidden=\"\">")
        .expect("render check in the DOM");
    let rest = &dom[start..];
    let body = &rest[rest.find('>').unwrap() + 1..rest.find("</pre>").unwrap()];
    let body = body
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let check: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let bars = check["bars"].as_u64().unwrap();
    assert!(bars >= 5, "{check}");
    assert_eq!(
        check["drawn"].as_u64().unwrap(),
        bars,
        "a chart bar was not drawn"
    );
    let figs = check["figures"].as_object().unwrap();
    for (k, v) in &want {
        assert_eq!(
            figs.get(k).and_then(|x| x.as_str()),
            Some(v.as_str()),
            "figure {k}"
        );
    }
}
