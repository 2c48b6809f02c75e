//! Nothing lost, second pass (issue 26): `origuard serve` under connection
//! churn, a stop under load, and floods — every message the switch sent is
//! delivered to Nlets or declined with a record (a `decision` and an
//! `undelivered` record naming why); none is lost unaccounted. Each test
//! prints its figures: sent / delivered / declined with a record / lost.
//!
//! Loopback only; every load loop is bounded in count and time.

mod common;
use common::process::*;
use common::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Writes a config for one link (plus `limits` and `admin` lines) and
/// returns its path.
fn config(dir: &Path, upstream: &str, limits: &str, admin: &str) -> PathBuf {
    write_config(dir, &dir.join("audit.jsonl"), upstream, "", admin, limits)
}

/// A fake Nlets that accepts any number of connections and records every
/// message it receives.
struct Nlets {
    addr: String,
    got: Arc<Mutex<Vec<Vec<u8>>>>,
}

async fn nlets() -> Nlets {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let g = g.clone();
            tokio::spawn(async move {
                let mut rx = Rx::new(s);
                while let Some(m) = rx.next(Duration::from_secs(60)).await {
                    g.lock().unwrap().push(m.to_vec());
                }
            });
        }
    });
    Nlets { addr, got }
}

impl Nlets {
    fn received(&self) -> Vec<Vec<u8>> {
        self.got.lock().unwrap().clone()
    }
}

/// What the audit log says about outbound messages.
#[derive(Debug, Default)]
struct Ledger {
    decisions: usize,
    written: usize,
    undelivered: usize,
    /// `undelivered` seqs by reason.
    reasons: std::collections::BTreeMap<String, usize>,
}

fn ledger(audit: &Path) -> Ledger {
    let data = std::fs::read(audit).unwrap();
    let mut l = Ledger::default();
    let mut decided = HashSet::new();
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let r: serde_json::Value = serde_json::from_slice(line).unwrap();
        let n = || r["seqs"].as_array().unwrap().len();
        match r["kind"].as_str() {
            Some("decision") if r["direction"] == "outbound" => {
                l.decisions += 1;
                decided.insert(r["seq"].as_u64().unwrap());
            }
            Some("written") if r["side"] == "nlets" => l.written += n(),
            Some("undelivered") if r["side"] == "nlets" => {
                l.undelivered += n();
                *l.reasons
                    .entry(r["reason"].as_str().unwrap().to_string())
                    .or_default() += n();
            }
            _ => {}
        }
    }
    l
}

/// Sends `total` connect / send one message / close cycles, `concurrent`
/// at a time; returns how many messages were sent in full.
async fn churn(listen: std::net::SocketAddr, total: usize, concurrent: usize) -> usize {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrent {
        let (next, sent) = (next.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= total {
                    return;
                }
                let Ok(mut s) = TcpStream::connect(listen).await else {
                    continue;
                };
                let frame =
                    origuard::framing::encode(origuard::framing::Framing::Len4, &msg(i)).unwrap();
                if s.write_all(&frame).await.is_ok() && s.shutdown().await.is_ok() {
                    sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .expect("churn took over 120 s")
            .unwrap();
    }
    sent.load(std::sync::atomic::Ordering::SeqCst)
}

/// Waits (at most 20 s) until the proxy has decided `n` outbound messages
/// or the count has not moved for 2 s: connections still in the listen
/// backlog when the test stops the proxy are item 1's case, not this one's.
async fn settle(p: &Served, n: usize) {
    let t = Instant::now();
    let (mut last, mut since) = (-1.0, Instant::now());
    while t.elapsed() < Duration::from_secs(20) {
        let now = p
            .metric("origuard_messages_total", &[("direction", "outbound")])
            .await;
        if now as usize >= n || since.elapsed() > Duration::from_secs(2) {
            return;
        }
        if now != last {
            (last, since) = (now, Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// Issue 26, item 2. 5,000 connect / send one / close cycles, 64 at a time,
// with a per-address pending limit of 16 so that many are refused at
// accept: every message is delivered, or declined with a record
// (`undelivered`, reason `peer_pending`); none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_of_5000_connections_loses_nothing_unaccounted() {
    let dir = tempfile::tempdir().unwrap();
    let up = nlets().await;
    let cfg = config(
        dir.path(),
        &up.addr,
        "max_pending_per_peer = 16\ndrain_timeout = \"10s\"",
        "",
    );
    let mut cmd = origuard(&[]);
    cmd.args(["serve", "--config", cfg.to_str().unwrap()]);
    let (child, lines) = spawn_lines(cmd);
    let p = served(child, lines);
    let t = Instant::now();
    let sent = churn(p.listen, 5000, 64).await;
    let took = t.elapsed();
    settle(&p, sent).await;
    let refused = p
        .metric(
            "origuard_connections_refused_total",
            &[("reason", "peer_pending")],
        )
        .await;
    assert!(p.stop().success());
    let got = up.received();
    let unique: HashSet<&Vec<u8>> = got.iter().collect();
    let l = ledger(&dir.path().join("audit.jsonl"));
    let lost = sent as i64 - got.len() as i64 - l.undelivered as i64;
    eprintln!(
        "churn: sent {sent} in {took:.1?}; delivered {}; declined with a record {} {:?}; lost {lost}; refused at accept {refused}; decisions {}, written {}",
        got.len(),
        l.undelivered,
        l.reasons,
        l.decisions,
        l.written
    );
    assert_eq!(sent, 5000);
    assert_eq!(unique.len(), got.len(), "a message delivered twice");
    assert_eq!(l.decisions, sent, "every message sent was decided");
    assert_eq!(l.written, got.len(), "written records = delivered");
    assert_eq!(lost, 0, "messages lost unaccounted");
    assert!(refused > 0.0, "the refusal path was not exercised");
}

/// Sends messages `from..from + n` on one connection as fast as the proxy
/// takes them (100 frames per write), then waits for the proxy to close;
/// stops early at a write error. Returns how many were written in full.
async fn stream(listen: std::net::SocketAddr, from: usize, n: usize, until: Instant) -> usize {
    let s = TcpStream::connect(listen).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let mut sent = 0;
    while sent < n && Instant::now() < until {
        let k = 100.min(n - sent);
        let mut buf = Vec::new();
        for i in from + sent..from + sent + k {
            buf.extend(
                origuard::framing::encode(origuard::framing::Framing::Len4, &msg(i)).unwrap(),
            );
        }
        if w.write_all(&buf).await.is_err() {
            break;
        }
        sent += k;
    }
    // Wait (bounded) for the proxy to close the session.
    let mut tmp = [0u8; 64];
    let _ = tokio::time::timeout(DEADLINE, tokio::io::AsyncReadExt::read(&mut r, &mut tmp)).await;
    sent
}

/// Waits (bounded) for the process to exit; its status.
fn wait_exit(p: &mut Served, limit: Duration) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = p.child.try_wait().unwrap() {
            return s;
        }
        assert!(t.elapsed() < limit, "serve did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts serve with `limits`, streams `n` messages on each of `conns`
/// connections (for at most `send_for`), sends SIGTERM once Nlets has
/// received 1,000, and returns (sent, Nlets' messages, the ledger, the
/// `drain_cut` records, seconds from SIGTERM to exit).
async fn drain_case(
    limits: &str,
    conns: usize,
    n: usize,
    send_for: Duration,
) -> (usize, Vec<Vec<u8>>, Ledger, Vec<serde_json::Value>, f64) {
    let dir = tempfile::tempdir().unwrap();
    let up = nlets().await;
    let cfg = config(dir.path(), &up.addr, limits, "");
    let mut cmd = origuard(&[]);
    cmd.args(["serve", "--config", cfg.to_str().unwrap()]);
    let (child, lines) = spawn_lines(cmd);
    let mut p = served(child, lines);
    let until = Instant::now() + send_for;
    let senders: Vec<_> = (0..conns)
        .map(|c| tokio::spawn(stream(p.listen, c * 100_000, n, until)))
        .collect();
    let t = Instant::now();
    while up.got.lock().unwrap().len() < 1000 {
        assert!(t.elapsed() < DEADLINE, "no traffic");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kill(p.pid(), "-TERM");
    let stopped = Instant::now();
    let status = tokio::task::block_in_place(|| wait_exit(&mut p, Duration::from_secs(40)));
    let took = stopped.elapsed().as_secs_f64();
    assert!(status.success(), "{status:?}");
    let mut sent = 0;
    for s in senders {
        sent += s.await.unwrap();
    }
    // Nlets' readers finish what was written before the proxy closed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let audit = dir.path().join("audit.jsonl");
    let cuts = std::fs::read(&audit)
        .unwrap()
        .split(|&b| b == b'\n')
        .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
        .filter(|r| r["kind"] == "drain_cut")
        .collect();
    (sent, up.received(), ledger(&audit), cuts, took)
}

// Issue 26, item 1. SIGTERM while four connections stream 5,000 messages
// each as fast as the proxy takes them: the drain keeps reading every
// session until it is quiet, so every message sent is delivered (the
// deadline, 30 s, is not reached): none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_delivers_everything_sent() {
    let (sent, got, l, cuts, took) =
        drain_case("drain_timeout = \"30s\"", 4, 5000, Duration::from_secs(60)).await;
    let unique: HashSet<&Vec<u8>> = got.iter().collect();
    let lost = sent as i64 - got.len() as i64 - l.undelivered as i64;
    eprintln!(
        "drain: sent {sent}; delivered {}; declined with a record {} {:?}; lost {lost}; decisions {}, written {}; drain_cut records {}; exit {took:.2} s after SIGTERM",
        got.len(), l.undelivered, l.reasons, l.decisions, l.written, cuts.len()
    );
    assert_eq!(sent, 20_000);
    assert_eq!(unique.len(), got.len(), "a message delivered twice");
    assert_eq!(l.decisions, sent);
    assert_eq!(l.written, got.len());
    assert_eq!(lost, 0, "messages lost unaccounted");
    assert!(cuts.is_empty(), "{cuts:?}");
}

// Issue 26, item 1. The deadline: a sender that does not stop is cut off
// at `drain_timeout` (1 s): every message decided is written or declined
// with a record, and `drain_cut` records say what the deadline stopped.
// What the sender's kernel still held when the connection closed never
// reached origuard: reported, not asserted (TCP gives no acknowledgement).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_deadline_records_what_it_cut_off() {
    let (sent, got, l, cuts, took) = drain_case(
        "drain_timeout = \"1s\"",
        2,
        1_000_000,
        Duration::from_secs(8),
    )
    .await;
    let unique: HashSet<&Vec<u8>> = got.iter().collect();
    let beyond = sent as i64 - got.len() as i64 - l.undelivered as i64;
    eprintln!(
        "drain deadline: sent {sent}; delivered {}; declined with a record {} {:?}; decided {}; not read by origuard (in flight in kernel buffers at the close) {beyond}; drain_cut records {cuts:?}; exit {took:.2} s after SIGTERM",
        got.len(), l.undelivered, l.reasons, l.decisions
    );
    assert_eq!(unique.len(), got.len(), "a message delivered twice");
    assert_eq!(l.written, got.len());
    assert_eq!(
        l.decisions,
        l.written + l.undelivered,
        "a decided message neither written nor declined"
    );
    assert!(!cuts.is_empty(), "no drain_cut record");
    let cut_declined: u64 = cuts.iter().map(|c| c["declined"].as_u64().unwrap()).sum();
    assert_eq!(
        l.reasons.get("drain_deadline").copied().unwrap_or(0) as u64,
        cut_declined
    );
    assert!(took < 3.0, "the deadline was not kept: {took:.2} s");
}

// Issue 26, item 6. 500 idle connections on the admin port (the cap is 64):
// `/live` and `/ready` are still answered within 1 s each, the process
// holds a bounded number of file descriptors, and the switch is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_probes_answer_under_500_idle_connections() {
    let dir = tempfile::tempdir().unwrap();
    let up = nlets().await;
    let cfg = config(dir.path(), &up.addr, "", "max_connections = 64");
    let mut cmd = origuard(&[]);
    cmd.args(["serve", "--config", cfg.to_str().unwrap()]);
    let (child, lines) = spawn_lines(cmd);
    let p = served(child, lines);
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(TcpStream::connect(p.admin).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut worst = Duration::ZERO;
    for path in ["/live", "/ready", "/live", "/ready", "/metrics"] {
        let t = Instant::now();
        let (code, _) =
            tokio::time::timeout(Duration::from_secs(5), http(p.admin, "GET", path, None))
                .await
                .unwrap_or_else(|_| panic!("{path}: no answer within 5 s"));
        let took = t.elapsed();
        assert_eq!(code, 200, "{path}");
        if path != "/metrics" {
            worst = worst.max(took);
        }
    }
    let fds = std::fs::read_dir(format!("/proc/{}/fd", p.pid()))
        .unwrap()
        .count();
    // The switch is served meanwhile.
    let sw = TcpStream::connect(p.listen).await.unwrap();
    let (_r, mut w) = sw.into_split();
    send(&mut w, &msg(7)).await;
    let t = Instant::now();
    while up.received().is_empty() {
        assert!(t.elapsed() < DEADLINE, "the switch was not served");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "admin flood: 500 idle admin connections; slowest /live or /ready answer {worst:?}; process fds {fds}"
    );
    assert!(worst < Duration::from_secs(1), "probe took {worst:?}");
    assert!(fds < 64 + 40, "{fds} file descriptors");
    drop(idle);
    assert!(p.stop().success());
}

// Issue 26, item 5. The switch (127.0.0.1, known: it has sent a valid
// message) always gets in: 1,100 idle connections from 110 other loopback
// addresses (127.0.0.2 to 127.0.0.111, ten each) fill the pending budget
// (256) and more; the switch's new connection takes the place of the
// oldest idle one and its message is delivered within 3 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_switch_gets_in_past_1100_idle_connections() {
    lockout_case(false).await;
}

// The same with the switch's address configured (`switch_addresses`): it
// is known before it has spoken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_switch_address_gets_in_past_1100_idle_connections() {
    lockout_case(true).await;
}

async fn lockout_case(configured: bool) {
    let dir = tempfile::tempdir().unwrap();
    let up = nlets().await;
    let cfg = config(dir.path(), &up.addr, "", "");
    if configured {
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        text.push_str("switch_addresses = [\"127.0.0.1\"]\n");
        std::fs::write(&cfg, text).unwrap();
    }
    let mut cmd = origuard(&[]);
    cmd.args(["serve", "--config", cfg.to_str().unwrap()]);
    let (child, lines) = spawn_lines(cmd);
    let p = served(child, lines);
    let before = usize::from(!configured);
    // Quick start: the switch speaks once, so its address becomes known.
    if !configured {
        let sw = TcpStream::connect(p.listen).await.unwrap();
        let (_r, mut w) = sw.into_split();
        send(&mut w, &msg(0)).await;
        let t = Instant::now();
        while up.received().is_empty() {
            assert!(t.elapsed() < DEADLINE, "first message not delivered");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let mut idle = Vec::new();
    for a in 2..=111u8 {
        for _ in 0..10 {
            let s = tokio::net::TcpSocket::new_v4().unwrap();
            s.bind(format!("127.0.0.{a}:0").parse().unwrap()).unwrap();
            idle.push(s.connect(p.listen).await.unwrap());
        }
    }
    let pending = p.metric("origuard_connections_pending", &[]).await;
    let t = Instant::now();
    let sw = TcpStream::connect(p.listen).await.unwrap();
    let (_r, mut w) = sw.into_split();
    send(&mut w, &msg(1)).await;
    while up.received().len() < before + 1 {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "the switch's message was not delivered within 3 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = t.elapsed();
    let evicted = p
        .metric(
            "origuard_connections_refused_total",
            &[("reason", "evicted")],
        )
        .await;
    let refused = p
        .metric(
            "origuard_connections_refused_total",
            &[("reason", "pending_full")],
        )
        .await;
    eprintln!(
        "lockout (switch_addresses configured: {configured}): 1,100 idle connections from 110 addresses ({pending} pending when the switch came, {refused} refused pending_full); the switch's message delivered in {took:?}; {evicted} evicted"
    );
    assert_eq!(evicted, 1.0);
    drop(idle);
    assert!(p.stop().success());
}
