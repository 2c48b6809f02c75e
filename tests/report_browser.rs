//! The demo writes its oversight report, and a real browser (headless
//! Chromium) draws it in a desktop window and in a 390 px phone one: every
//! chart bar laid out with a size, no chart label outside its drawing, no
//! table number wider than its cell, the page no wider than the window,
//! and every figure in the page's tables equal to the CSV beside it.
//! `.ci/run` installs Chromium from Debian's packages when it is missing;
//! without it this test fails under `CI=true`, and elsewhere says so and
//! checks the files only.

#[path = "common/cli.rs"]
mod cli;
#[path = "common/tool.rs"]
mod tool;

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
    let (dir, stdout) = cli::demo("2s", &[]);
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
    // Figures of rows split by a court-order flag are checked through the
    // group total in the page; the demo's policy has no order, so every
    // CSV row is a whole group outcome.
    assert!(csv.lines().skip(1).all(|l| l.ends_with(",no")), "{csv}");
    let Some(bin) = chromium() else {
        tool::missing(
            "browser check",
            "chromium",
            ".ci/run installs the Debian package",
        );
        return;
    };
    // A desktop window and a 390 px phone.
    for (w, h) in [(1280, 900), (390, 844)] {
        let check = render(bin, &page, w, h);
        let bars = check["bars"].as_u64().unwrap();
        assert!(bars >= 5, "{w}px: {check}");
        assert_eq!(
            check["drawn"].as_u64().unwrap(),
            bars,
            "{w}px: a chart bar was not drawn"
        );
        assert_eq!(check["width"].as_u64(), Some(w), "{check}");
        assert!(
            check["page_width"].as_u64().unwrap() <= w,
            "{w}px: the page is wider than the window: {check}"
        );
        assert!(
            check["chart_texts"].as_u64().unwrap() >= bars / 4,
            "{check}"
        );
        assert_eq!(
            check["clipped"],
            serde_json::json!([]),
            "{w}px: chart labels clipped"
        );
        assert_eq!(
            check["cut"],
            serde_json::json!([]),
            "{w}px: numbers cut off"
        );
        let sections = check["sections"].to_string();
        for s in ["In short", "By agency family", "Methodology"] {
            assert!(sections.contains(s), "{s}: {sections}");
        }
        let figs = check["figures"].as_object().unwrap();
        for (k, v) in &want {
            assert_eq!(
                figs.get(k).and_then(|x| x.as_str()),
                Some(v.as_str()),
                "{w}px: figure {k}"
            );
        }
    }
}

/// Renders `page` in headless Chromium in a `w`×`h` window; the page's own
/// post-layout check (`#render-check`).
///
/// Headless Chromium keeps its window at least 500 px wide, so the page is
/// laid out in a `w`×`h` frame of a wrapper page that copies the frame's
/// check out (both files, so same origin with file access allowed).
fn render(bin: &str, page: &std::path::Path, w: u64, h: u64) -> serde_json::Value {
    let wrapper = page.with_file_name(format!("frame-{w}.html"));
    std::fs::write(
        &wrapper,
        format!(
            "<!doctype html><html><body style=\"margin:0\"><iframe id=\"f\" src=\"{}\" width=\"{w}\" height=\"{h}\" style=\"border:0\"></iframe><pre id=\"render-check\" hidden></pre><script>window.addEventListener('load',function(){{document.getElementById('render-check').textContent=document.getElementById('f').contentDocument.getElementById('render-check').textContent;}});</script></body></html>",
            page.file_name().unwrap().to_str().unwrap()
        ),
    )
    .unwrap();
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--allow-file-access-from-files",
            "--window-size=1280,900",
        ])
        .arg("--dump-dom")
        .arg(format!("file://{}", wrapper.display()))
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
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}
