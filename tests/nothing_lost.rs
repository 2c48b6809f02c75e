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
    let p = dir.join("origuard.toml");
    std::fs::write(
        &p,
        format!(
            "[policy]\nfile = {:?}\nwatch = false\n\
             [audit]\nfile = {:?}\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n{admin}\n\
             [limits]\n{limits}\n\
             [[link]]\nname = \"default\"\nlisten = \"127.0.0.1:0\"\nupstream = {upstream:?}\n",
            example_policy(),
            dir.join("audit.jsonl").to_str().unwrap(),
        ),
    )
    .unwrap();
    p
}

fn msg(i: usize) -> Vec<u8> {
    format!("DR.COOLN0000.AZNLETS20.TXT\r\nSEQ/{i:05}").into_bytes()
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
