//! `origuard serve` as a process: SIGHUP reloads, SIGTERM drains and exits
//! 0, memory stays bounded while a peer stops reading.

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

struct Served {
    child: Child,
    listen: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    lines: mpsc::Receiver<String>,
}

/// `origuard serve ARGS` on ephemeral loopback ports, its stderr lines
/// delivered on a channel.
fn spawn_serve(args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_origuard"))
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        .env("ORIGUARD_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    (child, rx)
}

fn serve(args: &[&str]) -> Served {
    let (child, rx) = spawn_serve(args);
    let (mut listen, mut admin) = (None, None);
    let t = Instant::now();
    while (listen.is_none() || admin.is_none()) && t.elapsed() < DEADLINE {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            if let Some(rest) = l.strip_prefix("origuard: link default listening on ") {
                listen = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
            if let Some(rest) = l.strip_prefix("origuard: metrics and admin on http://") {
                admin = rest.strip_suffix("/metrics").and_then(|a| a.parse().ok());
            }
        }
    }
    Served {
        child,
        listen: listen.expect("listen address"),
        admin: admin.expect("admin address"),
        lines: rx,
    }
}

fn kill(pid: u32, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_sigterm_drains() {
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("p.toml");
    let audit = dir.path().join("audit.jsonl");
    let base = "[deny]\nreply_ori = \"COOLN0000\"\n[[list]]\nname = \"d\"\naction = \"deny\"\nentries = [\"VTICE0900\"]\n";
    std::fs::write(&pol, base).unwrap();
    let nlets = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = nlets.local_addr().unwrap().to_string();
    let mut s = serve(&[
        "--upstream",
        &up,
        "--policy",
        pol.to_str().unwrap(),
        "--audit",
        audit.to_str().unwrap(),
        // The test accepts the Nlets side before the switch speaks.
        "--dial",
        "on_accept",
    ]);
    let sw = TcpStream::connect(s.listen).await.unwrap();
    let (nl, _) = tokio::time::timeout(DEADLINE, nlets.accept())
        .await
        .unwrap()
        .unwrap();
    let (_swr, mut sww) = sw.into_split();
    let mut nlr = Rx::new(nl);
    let dr = fixture("legacy/dr_input.txt");
    send(&mut sww, &dr).await;
    assert_eq!(nlr.next(DEADLINE).await.unwrap(), dr);
    // SIGHUP with a policy that denies the requester.
    std::fs::write(
        &pol,
        base.replace("[\"VTICE0900\"]", "[\"VTICE0900\", \"AZNLETS20\"]"),
    )
    .unwrap();
    kill(s.child.id(), "-HUP");
    let t = Instant::now();
    loop {
        send(&mut sww, &dr).await;
        let got = nlr.next(DEADLINE).await.unwrap();
        if got.windows(16).any(|w| w == b"REQUEST DECLINED") {
            break;
        }
        assert!(t.elapsed() < DEADLINE, "SIGHUP did not reload");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(http(s.admin, "GET", "/ready", None).await.0, 200);
    // SIGTERM: drains (the open session ends), exits 0.
    kill(s.child.id(), "-TERM");
    let t = Instant::now();
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    let logs: Vec<String> = s.lines.try_iter().collect();
    assert!(logs.iter().any(|l| l.contains("draining")), "{logs:?}");
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(log.contains("\"trigger\":\"sighup\"") && log.contains("\"what\":\"stop\""));
    let o = Command::new(env!("CARGO_BIN_EXE_origuard"))
        .args(["audit", "verify"])
        .arg(&audit)
        .output()
        .unwrap();
    assert!(o.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_keeps_memory_bounded() {
    let nlets = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = nlets.local_addr().unwrap().to_string();
    let mut s = serve(&[
        "--upstream",
        &up,
        "--policy",
        &example_policy(),
        "--drain-timeout",
        "2s",
        "--dial",
        "on_accept",
    ]);
    let pid = s.child.id();
    let sw = TcpStream::connect(s.listen).await.unwrap();
    let (_nl_never_read, _) = tokio::time::timeout(DEADLINE, nlets.accept())
        .await
        .unwrap()
        .unwrap();
    let (_swr, mut sww) = sw.into_split();
    let base_rss = rss_kib(pid);
    // 50 KB messages, up to 2,000 of them (100 MB, far more than all the
    // socket buffers on the way can hold): the Nlets side reads none.
    let mut msg = b"DR.COOLN0000.AZNLETS20.TXT\r\n".to_vec();
    msg.extend(std::iter::repeat_n(b'A', 50_000));
    let mut sent = 0usize;
    for _ in 0..2000 {
        match tokio::time::timeout(Duration::from_secs(2), send(&mut sww, &msg)).await {
            Ok(()) => sent += 1,
            Err(_) => break, // backpressure reached us: the proxy stopped reading
        }
    }
    let peak = rss_kib(pid);
    eprintln!("slow reader: {sent} x 50 KB accepted before backpressure; RSS {base_rss} KiB -> {peak} KiB");
    assert!(
        sent < 2000,
        "the proxy kept reading although Nlets read nothing ({sent} messages)"
    );
    // Bounded: queue (16) + read buffer + socket buffers, far below what was offered.
    assert!(
        peak.saturating_sub(base_rss) < 32 * 1024,
        "RSS grew from {base_rss} KiB to {peak} KiB"
    );
    kill(pid, "-TERM");
    let t = Instant::now();
    while s.child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(10) {
            let _ = s.child.kill();
            panic!("no exit within the 2 s drain cap");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn serve_check_validates_without_binding_or_writing() {
    let dir = tempfile::tempdir().unwrap();
    // A port that is in use: a real start would fail to bind it.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let cfg = dir.path().join("origuard.toml");
    let write = |policy: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[policy]\nfile = {policy:?}\n[audit]\nfile = {:?}\n[admin]\nlisten = \"off\"\n[[link]]\nname = \"a\"\nlisten = \"{addr}\"\nupstream = \"127.0.0.1:9\"\n",
                audit.to_str().unwrap()
            ),
        )
        .unwrap()
    };
    write(&example_policy());
    let o = Command::new(env!("CARGO_BIN_EXE_origuard"))
        .args(["serve", "--config", cfg.to_str().unwrap(), "--check"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("configuration valid: 1 link(s)"), "{out}");
    assert!(!audit.exists(), "--check wrote the audit log");
    // A refused policy: exit 64 with its file:line errors.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[list]]\nname = \"x\"\naction = \"block\"\n").unwrap();
    write(bad.to_str().unwrap());
    let o = Command::new(env!("CARGO_BIN_EXE_origuard"))
        .args(["serve", "--config", cfg.to_str().unwrap(), "--check"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(64), "{err}");
    assert!(err.contains("bad.toml:3: error: unknown action"), "{err}");
    drop(busy);
}

#[test]
fn json_logs_are_pure_json() {
    let (mut child, rx) = spawn_serve(&[
        "--upstream",
        "127.0.0.1:9",
        "--policy",
        &example_policy(),
        "--log-format",
        "json",
    ]);
    let mut lines = Vec::new();
    let t = Instant::now();
    while t.elapsed() < DEADLINE {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            let listening = l.contains("\"listening\"") || l.contains("listening");
            lines.push(l);
            if listening {
                break;
            }
        }
    }
    kill(child.id(), "-TERM");
    let _ = child.wait();
    assert!(lines.iter().any(|l| l.contains("listening")), "{lines:?}");
    for l in &lines {
        assert!(
            serde_json::from_str::<serde_json::Value>(l).is_ok(),
            "not JSON: {l:?}"
        );
        assert!(!l.contains('\u{1b}'), "ANSI escape in {l:?}");
    }
}

#[test]
fn quick_start_flags_are_refused_with_a_config_file() {
    for flag in [
        ["--audit", "/tmp/x.jsonl"],
        ["--metrics", "off"],
        ["--drain-timeout", "1s"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_origuard"))
            .args(["serve", "--config", "deploy/origuard.toml"])
            .args(flag)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(64), "{flag:?}: {err}");
        assert!(err.contains("cannot be used with"), "{flag:?}: {err}");
    }
}
