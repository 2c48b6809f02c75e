//! `origuard gen` and `origuard bench` end to end: a baseline with no proxy,
//! a pcap replay, and a run through `origuard serve` where every arrival is
//! checked against the policy's predicted output.

#[path = "common/tool.rs"]
mod tool;

use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "common/cli.rs"]
mod cli;
use cli::bin;

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const POLICY: &str = cli::EXAMPLE_POLICY;

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

    // A reader that is gone (`| head` that ended) is not a failure, and no
    // panic: the same bench, text and JSON, with standard output closed.
    for json_flag in [false, true] {
        let mut c = bin();
        c.args(["bench", "--target", "self", "--capture", &out_cap]);
        c.args(["--count", "50"]);
        if json_flag {
            c.arg("--json");
        }
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "json {json_flag}: {err}");
        assert!(!err.contains("panicked"), "json {json_flag}: {err}");
    }

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
    // The other flow of the pcap: the 100 queries it answers, inbound.
    let r = json(
        &bin()
            .args(["bench", "--target", "self", "--direction", "inbound"])
            .args(["--json", "--capture"])
            .arg(&pcap)
            .output()
            .unwrap(),
    );
    assert_eq!(
        (r["sent"].as_u64(), r["passed"].as_u64()),
        (Some(100), Some(100))
    );
    assert!(r["pace_p50_us"].is_null(), "--rate max has no pacing: {r}");

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

/// True when `tool` runs; otherwise says why the check is skipped.

#[test]
fn gen_pcap_is_a_clean_two_way_tcp_conversation_with_paced_times() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("c.pcap");
    let o = bin()
        .args(["gen", "--count", "40", "--seed", "9", "--format", "pcap"])
        .args(["--rate", "200", "--start", "2025-06-01T12:00:00Z"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The flow to port 7101 carries exactly the stream format's messages.
    let stream = dir.path().join("c.len4");
    assert!(bin()
        .args(["gen", "--count", "40", "--seed", "9"])
        .arg(&stream)
        .status()
        .unwrap()
        .success());
    let out = |f: &std::path::Path| bin().arg("inspect").arg(f).output().unwrap().stdout;
    let from_pcap = String::from_utf8(out(&pcap)).unwrap();
    let from_stream = String::from_utf8(out(&stream)).unwrap();
    assert_eq!(
        from_pcap.lines().count(),
        80,
        "40 messages and 40 counterparts"
    );
    for line in from_stream.lines() {
        let ctl = serde_json::from_str::<serde_json::Value>(line).unwrap()["control"].clone();
        assert!(from_pcap.contains(&ctl.to_string()), "{ctl}");
    }
    if !tool::have(
        "gen_pcap_is_a_clean_two_way_tcp_conversation_with_paced_times",
        "tshark",
        "Debian package tshark; .ci/run installs it",
    ) {
        return;
    }
    let tshark = |args: &[&str]| {
        let o = Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    // One conversation, frames both ways.
    let conv = tshark(&["-q", "-z", "conv,tcp"]);
    let rows: Vec<&str> = conv.lines().filter(|l| l.contains("<->")).collect();
    assert_eq!(rows.len(), 1, "{conv}");
    assert!(
        rows[0].contains("10.0.0.1:40000") && rows[0].contains("10.0.0.2:7101"),
        "{conv}"
    );
    // Handshake first, FIN from both sides last, no analysis warnings
    // (retransmission, out of order, lost segment, duplicate ACK).
    let flags = tshark(&[
        "-T",
        "fields",
        "-e",
        "tcp.flags.str",
        "-e",
        "frame.time_epoch",
    ]);
    let lines: Vec<&str> = flags.lines().collect();
    assert!(
        lines[0].contains("S") && !lines[0].contains("A"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("S") && lines[1].contains("A"),
        "{}",
        lines[1]
    );
    assert_eq!(lines.iter().filter(|l| l.contains("F")).count(), 2);
    let warnings = tshark(&["-Y", "tcp.analysis.flags"]);
    assert!(warnings.trim().is_empty(), "{warnings}");
    // Real, paced timestamps: from the start, over 40 messages at 200/s.
    let times: Vec<f64> = lines
        .iter()
        .filter_map(|l| l.split('\t').nth(1)?.parse().ok())
        .collect();
    let start = 1_748_779_200.0; // 2025-06-01T12:00:00Z
    assert!((times[0] - start).abs() < 1e-3, "{}", times[0]);
    let span = times[times.len() - 1] - times[0];
    assert!((0.19..0.22).contains(&span), "{span}");
    // Payload reassembles to the bytes the stream format carries.
    let follow = tshark(&["-q", "-z", "follow,tcp,raw,0"]);
    let first_node1 = follow
        .lines()
        .skip_while(|l| !l.starts_with("Node 1"))
        .nth(1)
        .unwrap();
    assert!(!first_node1.is_empty());
}

#[test]
fn bench_replays_a_pcap_at_its_recorded_timing_and_raw_counts_frames() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("c.pcap");
    assert!(bin()
        .args(["gen", "--count", "50", "--format", "pcap", "--rate", "100"])
        .arg(&pcap)
        .status()
        .unwrap()
        .success());
    // 50 messages 10 ms apart: about half a second at the recorded timing
    // (bounded by the count; a generous upper bound for a loaded machine).
    let t = std::time::Instant::now();
    let r = json(
        &bin()
            .args(["bench", "--target", "self", "--port", "7101", "--json"])
            .args(["--rate", "recorded", "--capture"])
            .arg(&pcap)
            .output()
            .unwrap(),
    );
    assert_eq!(
        (r["sent"].as_u64(), r["passed"].as_u64()),
        (Some(50), Some(50))
    );
    assert!(r["seconds"].as_f64().unwrap() >= 0.45, "{r}");
    assert!(t.elapsed() < Duration::from_secs(60));
    // Twice the capture: the timing repeats end to end.
    let r = json(
        &bin()
            .args(["bench", "--target", "self", "--port", "7101", "--json"])
            .args(["--rate", "recorded", "--count", "100", "--capture"])
            .arg(&pcap)
            .output()
            .unwrap(),
    );
    assert_eq!(r["passed"].as_u64(), Some(100));
    assert!(r["seconds"].as_f64().unwrap() >= 0.95, "{r}");
    // A framed stream has no timing: refused as input (exit 2).
    let stream = dir.path().join("c.len4");
    assert!(bin()
        .args(["gen", "--count", "5"])
        .arg(&stream)
        .status()
        .unwrap()
        .success());
    let o = bin()
        .args([
            "bench",
            "--target",
            "self",
            "--rate",
            "recorded",
            "--capture",
        ])
        .arg(&stream)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("no timing"));
    // --raw: counts and checksums, bounded by count.
    let r = json(
        &bin()
            .args([
                "bench", "--target", "self", "--raw", "--json", "--count", "2000",
            ])
            .args(["--connections", "2", "--capture"])
            .arg(&stream)
            .output()
            .unwrap(),
    );
    assert_eq!(r["passed"].as_u64(), Some(2000), "{r}");
    assert_eq!(r["checksum_ok"], true);
    // --raw cannot predict a policy.
    let o = bin()
        .args([
            "bench",
            "--target",
            "self",
            "--raw",
            "--policy",
            POLICY,
            "--capture",
        ])
        .arg(&stream)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(64));
}

/// README's trial run: `deploy/gen-test-certs.sh`, the shipped
/// `deploy/origuard.toml` (TLS on both sides, mutual; the default
/// `dial = "on_message"`) with only its paths and ports made local, and
/// `bench --tls` with the generated certificates: every message arrives as
/// the policy predicts; the bench warms each connection up (one message,
/// not counted) so that the proxy dials it, and reports its pacing floor.
#[test]
fn bench_runs_with_the_shipped_config_and_test_certificates() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let o = Command::new("bash")
        .arg(format!("{root}/deploy/gen-test-certs.sh"))
        .arg(&certs)
        .output();
    let o = match o {
        Ok(o) if o.status.success() => o,
        other => {
            // openssl (or bash) is missing: a failure under CI.
            tool::missing(
                "bench_runs_with_the_shipped_config_and_test_certificates",
                &format!("a working deploy/gen-test-certs.sh (openssl; got {other:?})"),
                "Debian package openssl; .ci/run installs it",
            );
            return;
        }
    };
    assert!(String::from_utf8_lossy(&o.stdout).contains("test certificates"));
    // The example policy beside the configuration, as in deploy/.
    std::fs::create_dir_all(dir.path().join("policy/lists")).unwrap();
    for f in [
        "colorado.toml",
        "lists/immigration.txt",
        "lists/federal_redact.txt",
    ] {
        std::fs::copy(
            format!("{root}/deploy/policy/{f}"),
            dir.path().join("policy").join(f),
        )
        .unwrap();
    }
    let nlets = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = nlets.local_addr().unwrap().to_string();
    drop(nlets);
    std::fs::write(dir.path().join("admin.token"), "t\n").unwrap();
    let shipped = std::fs::read_to_string(format!("{root}/deploy/origuard.toml")).unwrap();
    let mut config = shipped.clone();
    for (from, to) in [
        (
            "/var/lib/origuard/audit.jsonl",
            dir.path().join("audit.jsonl").to_str().unwrap().to_string(),
        ),
        (
            "/etc/origuard/admin.token",
            dir.path().join("admin.token").to_str().unwrap().to_string(),
        ),
        ("0.0.0.0:7101", "127.0.0.1:0".to_string()),
        ("127.0.0.1:7102", up.clone()),
        ("127.0.0.1:9750", "127.0.0.1:0".to_string()),
    ] {
        assert!(
            config.contains(from),
            "deploy/origuard.toml no longer has {from}"
        );
        config = config.replace(from, &to);
    }
    assert!(!config.contains("dial"), "the shipped config sets dial");
    // As README says for a trial: no [signing] table (signed policies are
    // tested in tests/signed_bundle.rs).
    let mut in_signing = false;
    config = config
        .lines()
        .filter(|l| {
            if l.starts_with('[') {
                in_signing = l.starts_with("[signing]");
            }
            !in_signing
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let cfg = dir.path().join("origuard.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut serve = bin()
        .args([
            "serve",
            "--config",
            cfg.to_str().unwrap(),
            "--log-format",
            "text",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // serve's stderr is read to the end on a thread of its own (the pipe
    // stays open while serve runs), and shown if the bench fails.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let err = serve.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader};
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut log = Vec::new();
    let listen = loop {
        let l = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("serve ended before listening: {log:#?}"));
        log.push(l.clone());
        if let Some(rest) = l.strip_prefix("origuard: link ccic listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let cap = dir.path().join("out.len4");
    assert!(bin()
        .args(["gen", "--count", "60", "--seed", "3"])
        .arg(&cap)
        .status()
        .unwrap()
        .success());
    let o = bin()
        .args(["bench", "--target", &listen, "--listen", &up, "--capture"])
        .arg(&cap)
        .args(["--policy", &format!("{root}/deploy/policy/colorado.toml")])
        .args(["--tls", certs.to_str().unwrap()])
        .args([
            "--rate",
            "200",
            "--count",
            "60",
            "--connections",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    let _ = serve.kill();
    let _ = serve.wait();
    log.extend(rx.try_iter());
    if !o.status.success() {
        panic!(
            "bench failed: {}\nserve said: {log:#?}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let r = json(&o);
    assert_eq!(r["sent"], 60, "{r}");
    assert_eq!(
        (r["missing"].as_u64(), r["unexpected"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );
    // One warm-up per connection, each paired with the upstream connection
    // it caused (a mismatch would show as missing and unexpected).
    assert_eq!(r["warmup"], 2, "{r}");
    assert!(
        r["changed"].as_u64().unwrap() > 0,
        "nothing redacted or declined: {r}"
    );
    let (p50, p99, max) = (
        r["pace_p50_us"].as_f64().unwrap(),
        r["pace_p99_us"].as_f64().unwrap(),
        r["pace_max_us"].as_f64().unwrap(),
    );
    assert!(p50 <= p99 && p99 <= max, "{r}");
}
