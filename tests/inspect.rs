//! `origuard inspect` over every fixture, against the reviewed golden output
//! in `testdata/messages/inspect.expected`, plus framed captures and exit codes.

use std::path::Path;
use std::process::Command;

#[path = "common/cli.rs"]
mod cli;
use cli::bin;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_fixture_matches_golden_output() {
    let expected =
        std::fs::read_to_string(root().join("testdata/messages/inspect.expected")).unwrap();
    let mut n = 0;
    for line in expected.lines() {
        let (name, want) = line.split_once('\t').unwrap();
        let out = bin()
            .arg("inspect")
            .arg(root().join("testdata/messages").join(name))
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {:?}", out);
        let got = String::from_utf8(out.stdout).unwrap();
        assert_eq!(got.trim_end(), want, "{name}");
        n += 1;
    }
    // Every fixture file is covered.
    let mut files = 0;
    for dir in ["legacy", "xml", "hostile"] {
        files += std::fs::read_dir(root().join("testdata/messages").join(dir))
            .unwrap()
            .count();
    }
    assert_eq!(n, files, "inspect.expected does not list every fixture");
}

fn frame_len4(msgs: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for m in msgs {
        v.extend_from_slice(&(m.len() as u32).to_be_bytes());
        v.extend_from_slice(m);
    }
    v
}

#[test]
fn framed_capture_from_stdin_and_truncation() {
    let dq = std::fs::read(root().join("testdata/messages/legacy/dq_input.txt")).unwrap();
    let dr = std::fs::read(root().join("testdata/messages/xml/dr_photo.xml")).unwrap();
    let mut cap = frame_len4(&[&dq, &dr, b"garbage"]);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cap.len4");
    std::fs::write(&p, &cap).unwrap();
    let out = bin()
        .args(["inspect", "--framing", "len4"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].contains(r#""mke":"DQ""#));
    assert!(lines[1].contains(r#""has_photo":true"#));
    assert!(lines[2].contains(r#""error""#) && lines[2].contains(r#""index":2"#));

    // Truncated last frame: what was read is printed, exit is non-zero.
    cap.extend_from_slice(&[0, 0, 1, 0, b'D']);
    std::fs::write(&p, &cap).unwrap();
    let out = bin()
        .args(["inspect", "--framing", "len4"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 3);
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("stopped after 3"));

    // Usage errors: exit 64.
    let out = bin()
        .args(["inspect", "--framing", "bogus", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    // A missing input is an input error: exit 2.
    let out = bin()
        .args(["inspect", "/nonexistent/file"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn quiet_on_a_closed_pipe() {
    // Enough output to fill the pipe after `head` has gone.
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("many.len4");
    let g = cli::bin()
        .args(["gen", "--count", "1500", "--mix", "xml=0,photo=0,listed=0"])
        .arg(&cap)
        .output()
        .unwrap();
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; {} inspect {} | head -n 1 >/dev/null; echo \"status=$?\"",
            env!("CARGO_BIN_EXE_origuard"),
            cap.display()
        ))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("Broken pipe"), "{err}");
    assert!(out.contains("status=0"), "{out}{err}");
}

#[test]
fn pcaps_are_read_as_captures_by_every_offline_command() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("c.pcap");
    let g = bin()
        .args(["gen", "--count", "25", "--format", "pcap"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    // inspect: one line per message, not one line for the whole file: the
    // 25 messages to port 7101 (outbound: the state side is the client)
    // and the 25 queries they answer (inbound), each line saying which.
    let lines = |args: &[&str]| -> Vec<serde_json::Value> {
        let o = bin().arg("inspect").args(args).arg(&pcap).output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let all = lines(&[]);
    assert_eq!(all.len(), 50);
    let dir_of = |v: &serde_json::Value| v["direction"].as_str().unwrap().to_string();
    assert_eq!(all.iter().filter(|v| dir_of(v) == "outbound").count(), 25);
    assert_eq!(all.iter().filter(|v| dir_of(v) == "inbound").count(), 25);
    for v in &all {
        let flow = v["flow"].as_str().unwrap();
        match dir_of(v).as_str() {
            "outbound" => assert!(flow.ends_with(":7101"), "{v}"),
            _ => assert!(flow.contains(":7101 > "), "{v}"),
        }
    }
    let out = lines(&["--direction", "outbound"]);
    assert_eq!(out.len(), 25);
    assert!(out.iter().all(|v| dir_of(v) == "outbound"));
    // One connection by its client end, and a time window (gen spaces the
    // messages 10 ms apart from 2025-01-01T00:00:00Z).
    let client = all[0]["flow"]
        .as_str()
        .unwrap()
        .split(" > ")
        .find(|e| !e.ends_with(":7101"))
        .unwrap()
        .to_string();
    assert_eq!(lines(&["--flow", &client]).len(), 50);
    assert!(lines(&["--flow", "10.9.9.9:1"]).is_empty());
    let window = lines(&[
        "--direction",
        "outbound",
        "--from",
        "2025-01-01T00:00:00.050Z",
        "--until",
        "2025-01-01T00:00:00.100Z",
    ]);
    assert!(!window.is_empty() && window.len() < 25, "{}", window.len());
    for v in &window {
        let t = v["captured"].as_str().unwrap();
        assert!(
            ("2025-01-01T00:00:00.050000Z"..="2025-01-01T00:00:00.099999Z").contains(&t),
            "{t}"
        );
    }
    // A port no flow uses is an input error naming the flows.
    let o = bin()
        .args(["inspect", "--port", "9"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no TCP flow to or from port 9"));
    // filter: each direction reads its own flow only, counts conserved.
    let policy = root().join("deploy/policy/colorado.toml");
    for d in ["outbound", "inbound"] {
        let o = bin()
            .args([
                "filter",
                "--policy",
                policy.to_str().unwrap(),
                "--direction",
                d,
            ])
            .arg(&pcap)
            .arg(dir.path().join("out"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{err}");
        assert!(err.contains("received        25"), "{d}: {err}");
        assert!(err.contains("(ok)"), "{err}");
    }
    // policy diff --capture: the what-if reads the 25 outbound messages.
    let o = bin()
        .args([
            "policy",
            "diff",
            policy.to_str().unwrap(),
            policy.to_str().unwrap(),
        ])
        .arg("--capture")
        .arg(&pcap)
        .args(["--direction", "outbound"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("0 of 25 messages change outcome"), "{out}");
    // policy profile --learn: the state's responses only (outbound).
    let o = bin()
        .args(["policy", "profile", "--learn"])
        .arg(&pcap)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("learned from 25 messages"), "{err}");
}
