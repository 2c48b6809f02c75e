//! `origuard gen` and `origuard bench` end to end: a baseline with no proxy,
//! a pcap replay, and a run through `origuard serve` where every arrival is
//! checked against the policy's predicted output.

use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_origuard"))
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const POLICY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/policy/colorado.toml");

#[test]
fn gen_and_bench_without_and_with_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("cap");
    let o = bin()
        .args([
            "gen",
            "--count",
            "300",
            "--seed",
            "5",
            "--direction",
            "both",
        ])
        .arg(&cap)
        .output()
        .unwrap();
    assert!(o.status.success());
    let out_cap = format!("{}.outbound", cap.display());
    let in_cap = format!("{}.inbound", cap.display());
    // Deterministic.
    let again = dir.path().join("again");
    bin()
        .args([
            "gen",
            "--count",
            "300",
            "--seed",
            "5",
            "--direction",
            "both",
        ])
        .arg(&again)
        .output()
        .unwrap();
    assert_eq!(
        std::fs::read(&out_cap).unwrap(),
        std::fs::read(format!("{}.outbound", again.display())).unwrap()
    );

    // Baseline: no proxy, everything arrives as sent.
    let r = json(
        &bin()
            .args([
                "bench",
                "--target",
                "self",
                "--capture",
                &out_cap,
                "--count",
                "600",
                "--json",
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(r["sent"], 600);
    assert_eq!(r["passed"], 600);
    assert_eq!(r["missing"], 0);
    assert!(r["p99_us"].as_f64().unwrap() > 0.0);

    // pcap replay of the same traffic.
    let pcap = dir.path().join("cap.pcap");
    assert!(bin()
        .args(["gen", "--count", "100", "--seed", "5", "--format", "pcap"])
        .arg(&pcap)
        .output()
        .unwrap()
        .status
        .success());
    let r = json(
        &bin()
            .args([
                "bench",
                "--target",
                "self",
                "--port",
                "7101",
                "--json",
                "--capture",
            ])
            .arg(&pcap)
            .output()
            .unwrap(),
    );
    assert_eq!(
        (r["sent"].as_u64(), r["passed"].as_u64()),
        (Some(100), Some(100))
    );

    // Through origuard: redactions and declines arrive as predicted.
    let nlets = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = nlets.local_addr().unwrap().to_string();
    drop(nlets);
    let mut serve = bin()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &up,
            "--policy",
            POLICY,
            "--metrics",
            "off",
            "--drain-timeout",
            "1s",
            // bench connects both sides before it sends.
            "--dial",
            "on_accept",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let listen = {
        use std::io::{BufRead, BufReader};
        let mut lines = BufReader::new(serve.stderr.take().unwrap()).lines();
        loop {
            let l = lines.next().unwrap().unwrap();
            if let Some(rest) = l.strip_prefix("origuard: link default listening on ") {
                std::thread::spawn(move || for _ in lines {});
                break rest.split_whitespace().next().unwrap().to_string();
            }
        }
    };
    for (capture, dir_) in [(&out_cap, "outbound"), (&in_cap, "inbound")] {
        let r = json(
            &bin()
                .args([
                    "bench",
                    "--target",
                    &listen,
                    "--listen",
                    &up,
                    "--policy",
                    POLICY,
                    "--connections",
                    "2",
                ])
                .args([
                    "--direction",
                    dir_,
                    "--count",
                    "300",
                    "--json",
                    "--capture",
                    capture,
                ])
                .output()
                .unwrap(),
        );
        assert_eq!(r["missing"], 0, "{dir_}: {r}");
        assert_eq!(r["unexpected"], 0, "{dir_}: {r}");
        assert!(r["expected"].as_u64().unwrap() > 0);
        if dir_ == "outbound" {
            assert!(
                r["changed"].as_u64().unwrap() > 0,
                "no redaction or decline seen: {r}"
            );
        } else {
            let (back, want) = (
                r["replies_back"].as_u64().unwrap(),
                r["replies_expected"].as_u64().unwrap(),
            );
            assert!(back > 0 && back <= want, "{r}");
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let t = std::time::Instant::now();
    while serve.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(15));
        std::thread::sleep(Duration::from_millis(50));
    }
}
