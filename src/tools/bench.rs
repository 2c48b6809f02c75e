//! `origuard bench`: plays both ends of a link through any TCP proxy (or
//! none) and measures it honestly.
//!
//! * open loop: message `j` of a connection is due at `t0 + j / rate`, and
//!   its latency is measured from that intended time, not from when it was
//!   actually written — a stalled proxy cannot hide its queueing (no
//!   coordinated omission);
//! * every arrival is checked against what should arrive: with `--policy`,
//!   the exact bytes `decide` produces (pass-through, redaction or decline);
//!   without, the bytes sent. Missing, unexpected and mismatched messages are
//!   counted, so a proxy that loses messages cannot look fast.

use crate::capture::source as capture;
use crate::capture::stream::InputFraming;
use crate::decision::{decide, Outcome};
use crate::framing::{encode_into, FrameCodec, Framing};
use crate::message::Direction;
use crate::runtime::config::{ClientTls, ServerTls};
use crate::runtime::proxy::shared::Io;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

/// Bench options.
#[derive(Clone, Debug)]
pub struct BenchArgs {
    /// Where to connect as the state switch; `self` = our own listener (no proxy).
    pub target: String,
    /// Where to listen as Nlets (the proxy's upstream must point here).
    pub listen: String,
    /// Capture to replay (framed stream or pcap/pcapng).
    pub capture: String,
    /// Capture framing.
    pub capture_framing: InputFraming,
    /// For pcaps: keep flows sent to this port.
    pub port: Option<u16>,
    /// Wire framing toward the proxy.
    pub framing: Framing,
    /// Which way the capture flows: outbound = we send as the switch.
    pub direction: Direction,
    /// Messages per second over all connections (None = as fast as possible).
    pub rate: Option<u64>,
    /// Concurrent sessions.
    pub connections: usize,
    /// Sending time.
    pub duration: Option<Duration>,
    /// Messages to send (overrides duration).
    pub count: Option<u64>,
    /// Predict outcomes with this policy (for origuard); None = expect
    /// byte-identical pass-through.
    pub policy: Option<String>,
    /// TLS directory (ca.pem, switch.pem/.key, nlets.pem/.key) or None.
    pub tls: Option<String>,
    /// Name to verify in the target's certificate.
    pub tls_server_name: String,
    /// Machine-readable output.
    pub json: bool,
    /// How long to wait for stragglers after sending.
    pub settle: Duration,
}

/// Results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Target description.
    pub target: String,
    /// Messages sent.
    pub sent: u64,
    /// Messages expected to arrive (after the policy's drops and denials).
    pub expected: u64,
    /// Arrived as sent (byte-identical).
    pub passed: u64,
    /// Arrived changed as predicted (redacted, or a decline in place).
    pub changed: u64,
    /// Decline replies that came back to the sending side (inbound runs).
    pub replies_back: u64,
    /// Decline replies the policy predicts back on the sending side.
    pub replies_expected: u64,
    /// Expected but never arrived.
    pub missing: u64,
    /// Arrived but matched nothing expected.
    pub unexpected: u64,
    /// Seconds from first send to last arrival.
    pub seconds: f64,
    /// Arrivals per second.
    pub msgs_per_sec: f64,
    /// Payload megabytes per second arrived (10^6 bytes).
    pub mb_per_sec: f64,
    /// Latency percentiles, microseconds, from intended send time.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Maximum.
    pub max_us: f64,
    /// Errors (connections, I/O).
    pub errors: Vec<String>,
}

struct Expect {
    hash: u64,
    len: u32,
    due: Instant,
    changed: bool,
}

#[derive(Default)]
struct Conn {
    fifo: Mutex<VecDeque<Expect>>,
}

fn hash(b: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

/// A capture message with what should come out of the proxy.
struct Item {
    bytes: Bytes,
    /// (hash, len, changed) of what should arrive at the far end.
    forward: Option<(u64, u32, bool)>,
    /// A decline expected back on the sending side.
    reply_back: bool,
}

fn prepare(a: &BenchArgs) -> Result<Vec<Item>, String> {
    let msgs = capture::load(
        &a.capture,
        a.capture_framing,
        a.port,
        crate::framing::DEFAULT_MAX_MESSAGE,
    )?;
    if msgs.is_empty() {
        return Err(format!("{}: no messages", a.capture));
    }
    let policy = match &a.policy {
        Some(p) => Some(
            crate::runtime::policy_store::load_path(p).map_err(|e| format!("policy {p}:\n{e}"))?,
        ),
        None => None,
    };
    let limits = crate::message::Limits::default();
    Ok(msgs
        .into_iter()
        .map(|m| {
            let (forward, reply_back) = match &policy {
                None => (Some((hash(&m), m.len() as u32, false)), false),
                Some(p) => match decide(a.direction, m.clone(), p, &limits).outcome {
                    Outcome::Forward(b) => (Some((hash(&b), b.len() as u32, b != m)), false),
                    Outcome::Deny { reply: Some(r) } if a.direction == Direction::Outbound => {
                        (Some((hash(&r), r.len() as u32, true)), false)
                    }
                    Outcome::Deny { reply: Some(_) } => (None, true),
                    _ => (None, false),
                },
            };
            Item {
                bytes: m,
                forward,
                reply_back,
            }
        })
        .collect())
}

async fn pair(
    a: &BenchArgs,
    target: &str,
    listener: &TcpListener,
) -> Result<(Box<dyn Io>, Box<dyn Io>), String> {
    let tcp = TcpStream::connect(target)
        .await
        .map_err(|e| format!("connect {target}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    // With TLS the proxy finishes the switch-side handshake before it dials
    // upstream, so our client handshake must run while we wait to accept.
    let client: tokio::task::JoinHandle<Result<Box<dyn Io>, String>> = match &a.tls {
        None => tokio::spawn(async move { Ok(Box::new(tcp) as Box<dyn Io>) }),
        Some(dir) => {
            let cfg = crate::runtime::tls::client_config(&ClientTls {
                ca: format!("{dir}/ca.pem"),
                server_name: a.tls_server_name.clone(),
                cert: Some(format!("{dir}/switch.pem")),
                key: Some(format!("{dir}/switch.key")),
            })
            .map_err(|e| e.to_string())?;
            let name = rustls::pki_types::ServerName::try_from(a.tls_server_name.clone())
                .map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                tokio_rustls::TlsConnector::from(Arc::new(cfg))
                    .connect(name, tcp)
                    .await
                    .map(|s| Box::new(s) as Box<dyn Io>)
                    .map_err(|e| format!("tls to target: {e}"))
            })
        }
    };
    let (up, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .map_err(|_| {
            "the target did not connect to our listener within 10 s (is its upstream our --listen? origuard serve must run with --dial on_accept, or dial = \"on_accept\" in its link: bench connects before it sends)"
                .to_string()
        })?
        .map_err(|e| format!("accept: {e}"))?;
    let _ = up.set_nodelay(true);
    let server: Box<dyn Io> = match &a.tls {
        None => Box::new(up),
        Some(dir) => {
            let cfg = crate::runtime::tls::server_config(&ServerTls {
                cert: format!("{dir}/nlets.pem"),
                key: format!("{dir}/nlets.key"),
                client_ca: Some(format!("{dir}/ca.pem")),
            })
            .map_err(|e| e.to_string())?;
            Box::new(
                tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
                    .accept(up)
                    .await
                    .map_err(|e| format!("tls from target: {e}"))?,
            )
        }
    };
    let client = client.await.map_err(|e| e.to_string())??;
    Ok((client, server))
}

/// Runs the benchmark.
pub async fn run_bench(a: BenchArgs) -> Result<Report, String> {
    let items = Arc::new(prepare(&a)?);
    let listener = TcpListener::bind(&a.listen)
        .await
        .map_err(|e| format!("listen {}: {e}", a.listen))?;
    let target = if a.target == "self" {
        listener
            .local_addr()
            .map_err(|e| e.to_string())?
            .to_string()
    } else {
        a.target.clone()
    };
    let n = a.connections.max(1);
    let total: u64 = match (a.count, a.rate, a.duration) {
        (Some(c), _, _) => c,
        (None, Some(r), Some(d)) => (r as f64 * d.as_secs_f64()) as u64,
        (None, None, Some(_)) => u64::MAX,
        _ => items.len() as u64,
    };
    let deadline = a.duration.filter(|_| a.count.is_none());
    let mut pairs = Vec::new();
    for _ in 0..n {
        pairs.push(pair(&a, &target, &listener).await?);
    }
    let sent = Arc::new(AtomicU64::new(0));
    let replies_back = Arc::new(AtomicU64::new(0));
    let replies_expected = Arc::new(AtomicU64::new(0));
    let bar = if a.json {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(if total == u64::MAX { 0 } else { total });
        b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        if let Ok(s) = indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} sent  {per_sec}",
        ) {
            b.set_style(s.progress_chars("=> "));
        }
        b
    };
    let t0 = Instant::now() + Duration::from_millis(50);
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    let mut conns = Vec::new();
    let per_conn_gap = a
        .rate
        .map(|r| Duration::from_secs_f64(n as f64 / r.max(1) as f64));
    for (c, (client, server)) in pairs.into_iter().enumerate() {
        let (send_side, recv_side) = match a.direction {
            Direction::Outbound => (client, server),
            Direction::Inbound => (server, client),
        };
        let (sr, sw) = tokio::io::split(send_side);
        let (rr, _rw) = tokio::io::split(recv_side);
        let conn = Arc::new(Conn::default());
        conns.push(conn.clone());
        // Sender.
        {
            let (items, conn, sent, bar) = (items.clone(), conn.clone(), sent.clone(), bar.clone());
            let rexp = replies_expected.clone();
            let framing = a.framing;
            senders.push(tokio::spawn(async move {
                let mut w = BufWriter::with_capacity(64 * 1024, sw);
                let mut buf = BytesMut::with_capacity(64 * 1024);
                let mut j: u64 = 0;
                tokio::time::sleep_until(t0).await;
                loop {
                    let k = j * n as u64 + c as u64;
                    if k >= total || deadline.is_some_and(|d| t0.elapsed() >= d) {
                        break;
                    }
                    let due = match per_conn_gap {
                        Some(g) => {
                            let due = t0 + g * (j as u32);
                            if due > Instant::now() {
                                let _ = w.flush().await;
                                tokio::time::sleep_until(due).await;
                            }
                            due
                        }
                        None => Instant::now(),
                    };
                    let it = &items[(k % items.len() as u64) as usize];
                    if it.reply_back {
                        rexp.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some((h, len, changed)) = it.forward {
                        conn.fifo
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push_back(Expect {
                                hash: h,
                                len,
                                due,
                                changed,
                            });
                    }
                    buf.clear();
                    if encode_into(framing, &it.bytes, &mut buf).is_err()
                        || w.write_all(&buf).await.is_err()
                    {
                        return Err("write to target failed".to_string());
                    }
                    if per_conn_gap.is_some() {
                        let _ = w.flush().await;
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                    bar.inc(1);
                    j += 1;
                }
                let _ = w.flush().await;
                Ok::<_, String>(w.into_inner())
            }));
        }
        // Replies coming back on the sending side (inbound denials).
        {
            let rb = replies_back.clone();
            let framing = a.framing;
            tokio::spawn(async move {
                let mut f = FramedRead::new(sr, FrameCodec::new(framing, 1 << 26));
                while let Some(Ok(_)) = f.next().await {
                    rb.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // Receiver.
        {
            let conn = conn.clone();
            let framing = a.framing;
            receivers.push(tokio::spawn(async move {
                let mut hist =
                    Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds");
                let mut f =
                    FramedRead::with_capacity(rr, FrameCodec::new(framing, 1 << 26), 64 * 1024);
                let (mut passed, mut changed, mut unexpected, mut missing, mut bytes) =
                    (0u64, 0u64, 0u64, 0u64, 0u64);
                let mut last = Instant::now();
                while let Some(Ok(m)) = f.next().await {
                    let now = Instant::now();
                    last = now;
                    bytes += m.len() as u64;
                    let h = hash(&m);
                    let mut q = conn.fifo.lock().unwrap_or_else(|e| e.into_inner());
                    match q
                        .iter()
                        .take(256)
                        .position(|e| e.hash == h && e.len as usize == m.len())
                    {
                        Some(i) => {
                            missing += i as u64;
                            q.drain(..i);
                            if let Some(e) = q.pop_front() {
                                let _ = hist.record(
                                    (now.saturating_duration_since(e.due).as_micros() as u64)
                                        .max(1),
                                );
                                if e.changed {
                                    changed += 1;
                                } else {
                                    passed += 1;
                                }
                            }
                        }
                        None => unexpected += 1,
                    }
                }
                (hist, passed, changed, unexpected, missing, bytes, last)
            }));
        }
    }
    // Wait for the senders, then give stragglers time to arrive.
    let mut errors = Vec::new();
    let mut writers = Vec::new();
    for s in senders {
        match s.await {
            Ok(Ok(w)) => writers.push(w),
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(e.to_string()),
        }
    }
    bar.finish_and_clear();
    let settle_until = Instant::now() + a.settle;
    while Instant::now() < settle_until {
        let pending: usize = conns
            .iter()
            .map(|c| c.fifo.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Close the sending sides: the proxy closes the session, receivers end.
    for mut w in writers {
        let _ = w.shutdown().await;
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds");
    let (mut passed, mut changed, mut unexpected, mut missing, mut bytes) = (0, 0, 0, 0, 0);
    let mut last = t0;
    for r in receivers {
        match tokio::time::timeout(Duration::from_secs(5), r).await {
            Ok(Ok((h, p, c, u, mi, b, l))) => {
                let _ = hist.add(&h);
                passed += p;
                changed += c;
                unexpected += u;
                missing += mi;
                bytes += b;
                last = last.max(l);
            }
            _ => errors.push("a receiver did not finish".into()),
        }
    }
    let left: u64 = conns
        .iter()
        .map(|c| c.fifo.lock().unwrap_or_else(|e| e.into_inner()).len() as u64)
        .sum();
    missing += left;
    let sent_n = sent.load(Ordering::Relaxed);
    let expected = passed + changed + missing;
    let secs = last.saturating_duration_since(t0).as_secs_f64().max(1e-9);
    let arrived = passed + changed;
    let q = |p: f64| {
        if hist.is_empty() {
            0.0
        } else {
            hist.value_at_quantile(p) as f64
        }
    };
    Ok(Report {
        target: if a.target == "self" {
            "none (direct)".into()
        } else {
            a.target.clone()
        },
        sent: sent_n,
        expected,
        passed,
        changed,
        replies_back: replies_back.load(Ordering::Relaxed),
        replies_expected: replies_expected.load(Ordering::Relaxed),
        missing,
        unexpected,
        seconds: secs,
        msgs_per_sec: arrived as f64 / secs,
        mb_per_sec: bytes as f64 / secs / 1e6,
        p50_us: q(0.5),
        p90_us: q(0.9),
        p99_us: q(0.99),
        p999_us: q(0.999),
        max_us: if hist.is_empty() {
            0.0
        } else {
            hist.max() as f64
        },
        errors,
    })
}

/// Human-readable report.
pub fn render(r: &Report) -> String {
    format!(
        "target {}\n\
         sent {}  expected {}  arrived {} (passed {}, changed as predicted {})  replies back {}/{}\n\
         missing {}  unexpected {}{}\n\
         throughput {:.0} msg/s, {:.1} MB/s over {:.2} s\n\
         latency from intended send (µs): p50 {:.0}  p90 {:.0}  p99 {:.0}  p99.9 {:.0}  max {:.0}\n",
        r.target,
        r.sent,
        r.expected,
        r.passed + r.changed,
        r.passed,
        r.changed,
        r.replies_back,
        r.replies_expected,
        r.missing,
        r.unexpected,
        if r.errors.is_empty() { String::new() } else { format!("  errors: {}", r.errors.join("; ")) },
        r.msgs_per_sec,
        r.mb_per_sec,
        r.seconds,
        r.p50_us,
        r.p90_us,
        r.p99_us,
        r.p999_us,
        r.max_us
    )
}

/// `origuard bench`: exit 1 when messages went missing or arrived unexpected.
pub fn command(b: crate::tools::cli::BenchCli) -> u8 {
    let rate = match b.rate.as_str() {
        "max" => None,
        r => match r.parse::<u64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                eprintln!("origuard bench: --rate {r:?}: a positive number or max");
                return super::common::EX_USAGE;
            }
        },
    };
    let args = BenchArgs {
        target: b.target,
        listen: b.listen,
        capture: b.capture,
        capture_framing: b.capture_framing,
        port: b.port,
        framing: b.framing,
        direction: b.direction,
        rate,
        connections: b.connections,
        duration: b.duration.map(|d| *d),
        count: b.count,
        policy: b.policy,
        tls: b.tls,
        tls_server_name: b.tls_server_name,
        json: b.json,
        settle: std::time::Duration::from_secs(3),
    };
    let json = args.json;
    let rt = match super::common::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("origuard bench: runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(run_bench(args)) {
        Ok(r) => {
            if json {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
            } else {
                print!("{}", render(&r));
            }
            if r.missing > 0 || r.unexpected > 0 || !r.errors.is_empty() {
                1
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("origuard bench: {e}");
            2
        }
    }
}
