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
//!   counted, so a proxy that loses messages cannot look fast;
//! * paced sends wait on the timer until shortly before they are due and
//!   then yield until the due instant ([`wait_until`]), so pacing is not
//!   held to the timer's 1 ms tick; how late each send really started is
//!   reported as the bench's own floor (`pace_*_us`), which the latencies
//!   include;
//! * a target that dials its upstream only on the first message (origuard's
//!   default `dial = "on_message"`) is served by sending each outbound
//!   connection's first capture message as a warm-up before the run
//!   (checked on arrival, not counted).

use crate::capture::source as capture;
use crate::capture::stream::InputFraming;
use crate::decision::ledger::{Ledger, MemoryStore};
use crate::decision::{decide_in, Context, Outcome};
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
    /// For pcaps: which flows (their direction from the server port, only
    /// those in `direction`), connection and time window to replay.
    pub select: crate::capture::select::Select,
    /// Wire framing toward the proxy.
    pub framing: Framing,
    /// Which way the capture flows: outbound = we send as the switch.
    pub direction: Direction,
    /// When each message is sent.
    pub pace: Pace,
    /// Count frames and check a running checksum only: no per-message
    /// comparison, no latency (the load generator is never the bottleneck).
    pub raw: bool,
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

/// When messages are sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// As fast as the target takes them.
    Max,
    /// This many messages per second over all connections, evenly spaced.
    Rate(u64),
    /// At the capture's own timing: each message at its recorded offset
    /// from the first (pcap timestamps), repeated end to end when more
    /// messages than the capture holds are asked for.
    Recorded,
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
    /// The bench's own floor: how late paced sends started after their
    /// intended time, microseconds (median; None at `--rate max`).
    pub pace_p50_us: Option<f64>,
    /// 99th percentile of the same.
    pub pace_p99_us: Option<f64>,
    /// Maximum of the same.
    pub pace_max_us: Option<f64>,
    /// Warm-up messages sent before the run to make an on-message target
    /// dial its upstream (one per connection; not counted above).
    pub warmup: u64,
    /// `--raw`: whether the running checksum of every connection's arrivals
    /// matched what was sent (None without `--raw`).
    pub checksum_ok: Option<bool>,
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

/// A cheap checksum of one message at memory speed: the wrapping sum of
/// its 8-byte words, the tail and the length (for `--raw`).
fn word_sum(b: &[u8]) -> u64 {
    let mut chunks = b.chunks_exact(8);
    let mut sum = b.len() as u64;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        sum = sum.wrapping_add(u64::from_le_bytes(w));
    }
    let mut w = [0u8; 8];
    w[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    sum.wrapping_add(u64::from_le_bytes(w))
}

/// Folds one message's [`word_sum`] into a connection's running checksum
/// (order-sensitive).
fn fold(acc: u64, sum: u64) -> u64 {
    acc.rotate_left(7) ^ sum
}

/// A capture message with what should come out of the proxy.
struct Item {
    bytes: Bytes,
    /// Its [`word_sum`].
    sum: u64,
    /// Offset from the capture's first message (recorded timing).
    at: Duration,
    /// (hash, len, changed) of what should arrive at the far end.
    forward: Option<(u64, u32, bool)>,
    /// A decline expected back on the sending side.
    reply_back: bool,
}

/// Why a bench could not start: bad input (the capture) or anything else.
#[derive(Debug)]
pub enum BenchError {
    /// The capture cannot be used (unreadable, empty, no timing for
    /// `--rate recorded`): exit 2.
    Input(String),
    /// Set-up or network failure: exit 1.
    Run(String),
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchError::Input(e) | BenchError::Run(e) => f.write_str(e),
        }
    }
}

impl From<String> for BenchError {
    fn from(e: String) -> Self {
        BenchError::Run(e)
    }
}

fn prepare(a: &BenchArgs) -> Result<Vec<Item>, BenchError> {
    let msgs = capture::load_timed(
        &a.capture,
        a.capture_framing,
        &a.select,
        crate::framing::DEFAULT_MAX_MESSAGE,
    )
    .map_err(|e| BenchError::Input(e.to_string()))?;
    if msgs.is_empty() {
        return Err(BenchError::Input(format!("{}: no messages", a.capture)));
    }
    let first = msgs.iter().filter_map(|(_, t)| *t).min();
    if a.pace == Pace::Recorded && first.is_none() {
        return Err(BenchError::Input(format!(
            "{}: --rate recorded needs a pcap/pcapng capture (a framed stream has no timing)",
            a.capture
        )));
    }
    let first = first.unwrap_or(0);
    let policy = match &a.policy {
        Some(p) => Some(
            crate::runtime::policy_store::load_path(p)
                .map_err(|e| BenchError::Input(format!("policy {p}:\n{e}")))?,
        ),
        None => None,
    };
    let limits = crate::message::Limits::default();
    // Predicted as `serve` decides: with a ledger, so that a response whose
    // control field no query carried is predicted declined, as it will be.
    let ledger = policy.as_ref().map(|p| {
        Ledger::new(
            Some(std::sync::Arc::new(MemoryStore::default())),
            p.court_order_window,
            std::time::SystemTime::UNIX_EPOCH,
        )
    });
    Ok(msgs
        .into_iter()
        .map(|(m, t)| {
            let at = Duration::from_micros(t.unwrap_or(first).saturating_sub(first));
            let (forward, reply_back) = match &policy {
                None => (Some((hash(&m), m.len() as u32, false)), false),
                Some(p) => match decide_in(
                    a.direction,
                    m.clone(),
                    p,
                    &limits,
                    &Context {
                        now: std::time::SystemTime::now(),
                        ledger: ledger.as_ref(),
                    },
                )
                .outcome
                {
                    Outcome::Forward(b) => (Some((hash(&b), b.len() as u32, b != m)), false),
                    Outcome::Deny { reply: Some(r) } if a.direction == Direction::Outbound => {
                        (Some((hash(&r), r.len() as u32, true)), false)
                    }
                    Outcome::Deny { reply: Some(_) } => (None, true),
                    _ => (None, false),
                },
            };
            Item {
                sum: word_sum(&m),
                bytes: m,
                at,
                forward,
                reply_back,
            }
        })
        .collect())
}

/// How long to wait for a target that dials on accept before taking it for
/// one that dials on the first message.
const ACCEPT_WAIT: Duration = Duration::from_secs(1);

/// Connects as the switch (TLS when asked) and waits up to `wait` for
/// the target to connect to our listener; `None` for the Nlets side when
/// it did not (a target that dials on the first message: see [`warm_up`]).
/// `wait`: how long to wait for the upstream connection (zero once a
/// target has shown that it dials on the first message).
async fn pair(
    a: &BenchArgs,
    target: &str,
    listener: &TcpListener,
    wait: Duration,
) -> Result<(Box<dyn Io>, Option<Box<dyn Io>>), String> {
    let tcp = TcpStream::connect(target)
        .await
        .map_err(|e| format!("connect {target}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let client: Box<dyn Io> = match &a.tls {
        None => Box::new(tcp),
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
            let s = tokio::time::timeout(
                Duration::from_secs(10),
                tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp),
            )
            .await
            .map_err(|_| "tls to target: no handshake within 10 s".to_string())?
            .map_err(|e| format!("tls to target (server name {}): {e}", a.tls_server_name))?;
            Box::new(s)
        }
    };
    if wait.is_zero() {
        return Ok((client, None));
    }
    match tokio::time::timeout(wait, accept(a, listener)).await {
        Ok(server) => Ok((client, Some(server?))),
        Err(_) => Ok((client, None)),
    }
}

/// Accepts the target's upstream connection (TLS when asked).
async fn accept(a: &BenchArgs, listener: &TcpListener) -> Result<Box<dyn Io>, String> {
    let (up, _) = listener
        .accept()
        .await
        .map_err(|e| format!("accept: {e}"))?;
    let _ = up.set_nodelay(true);
    Ok(match &a.tls {
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
    })
}

/// For a target that dials only on the first message: sends `it` (the
/// connection's warm-up) as the switch, accepts the upstream connection it
/// makes, and reads the warm-up's predicted output there, if any.
async fn warm_up(
    a: &BenchArgs,
    listener: &TcpListener,
    client: &mut Box<dyn Io>,
    it: &Item,
) -> Result<Box<dyn Io>, String> {
    if a.direction == Direction::Inbound {
        return Err(format!(
            "the target did not connect to our listener within {} s: an inbound bench sends as Nlets, so the target must dial on accept (origuard serve --dial on_accept, or dial = \"on_accept\" in its [[link]]); is its upstream our --listen?",
            ACCEPT_WAIT.as_secs()
        ));
    }
    let mut buf = BytesMut::new();
    encode_into(a.framing, &it.bytes, &mut buf).map_err(|e| e.to_string())?;
    client
        .write_all(&buf)
        .await
        .map_err(|e| format!("warm-up write: {e}"))?;
    let _ = client.flush().await;
    let mut server = tokio::time::timeout(Duration::from_secs(10), accept(a, listener))
        .await
        .map_err(|_| {
            "the target did not connect to our listener within 10 s of the first message (is its upstream our --listen?)".to_string()
        })??;
    if let Some((h, len, _)) = it.forward {
        let mut f = FramedRead::new(&mut server, FrameCodec::new(a.framing, 1 << 26));
        match tokio::time::timeout(Duration::from_secs(10), f.next()).await {
            Ok(Some(Ok(m))) if hash(&m) == h && m.len() == len as usize => {}
            Ok(Some(Ok(_))) => {
                return Err("warm-up: the target forwarded something other than predicted".into())
            }
            _ => return Err("warm-up: the first message did not arrive within 10 s".into()),
        }
    }
    Ok(server)
}

/// Waits until `due` with sub-100 µs precision: the timer (1 ms ticks)
/// until [`SPIN`] before it, then yields to the runtime until it has
/// passed. Returns how late it returned, microseconds.
pub async fn wait_until(due: Instant) -> u64 {
    let now = Instant::now();
    if due > now + SPIN {
        tokio::time::sleep_until(due - SPIN).await;
    }
    while Instant::now() < due {
        tokio::task::yield_now().await;
    }
    Instant::now().saturating_duration_since(due).as_micros() as u64
}

/// How long before a due instant [`wait_until`] stops trusting the timer.
const SPIN: Duration = Duration::from_micros(1500);

/// What one connection's receiver saw.
struct Received {
    hist: Histogram<u64>,
    passed: u64,
    changed: u64,
    unexpected: u64,
    missing: u64,
    bytes: u64,
    last: Instant,
    /// Frames and running checksum (`--raw`).
    frames: u64,
    checksum: u64,
}

impl Received {
    fn new() -> Received {
        Received {
            hist: new_hist(),
            passed: 0,
            changed: 0,
            unexpected: 0,
            missing: 0,
            bytes: 0,
            last: Instant::now(),
            frames: 0,
            checksum: 0,
        }
    }
}

fn new_hist() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

/// Matches every arrival against the connection's expected messages.
async fn receive_checked<R: tokio::io::AsyncRead + Unpin>(
    rr: R,
    conn: Arc<Conn>,
    framing: Framing,
) -> Received {
    let mut r = Received::new();
    let mut f = FramedRead::with_capacity(rr, FrameCodec::new(framing, 1 << 26), 64 * 1024);
    while let Some(Ok(m)) = f.next().await {
        let now = Instant::now();
        r.last = now;
        r.bytes += m.len() as u64;
        r.frames += 1;
        let h = hash(&m);
        let mut q = conn.fifo.lock().unwrap_or_else(|e| e.into_inner());
        match q
            .iter()
            .take(256)
            .position(|e| e.hash == h && e.len as usize == m.len())
        {
            Some(i) => {
                r.missing += i as u64;
                q.drain(..i);
                if let Some(e) = q.pop_front() {
                    let _ = r
                        .hist
                        .record((now.saturating_duration_since(e.due).as_micros() as u64).max(1));
                    if e.changed {
                        r.changed += 1;
                    } else {
                        r.passed += 1;
                    }
                }
            }
            None => r.unexpected += 1,
        }
    }
    r
}

/// `--raw`: counts frames and folds a running checksum, nothing more.
async fn receive_raw<R: tokio::io::AsyncRead + Unpin>(rr: R, framing: Framing) -> Received {
    let mut r = Received::new();
    let mut f = FramedRead::with_capacity(rr, FrameCodec::new(framing, 1 << 26), 256 * 1024);
    while let Some(Ok(m)) = f.next().await {
        r.bytes += m.len() as u64;
        r.frames += 1;
        r.checksum = fold(r.checksum, word_sum(&m));
    }
    r.last = Instant::now();
    r
}

/// Offset of message `k` from the start under the recorded timing: the
/// capture's own offsets, repeated every `cycle`.
fn recorded_at(items: &[Item], k: u64, cycle: Duration) -> Duration {
    let len = items.len() as u64;
    let round = (k / len).min(u32::MAX as u64) as u32;
    cycle * round + items[(k % len) as usize].at
}

/// One capture repetition under the recorded timing: the span from the
/// first to the last message plus one mean gap.
fn recorded_cycle(items: &[Item]) -> Duration {
    let span = items.iter().map(|i| i.at).max().unwrap_or_default();
    let gaps = (items.len() as u32).saturating_sub(1).max(1);
    (span + span / gaps).max(Duration::from_micros(1))
}

/// The whole capture framed once, for `--raw` at full speed: the bytes, the
/// end offset of each message and each message's [`word_sum`].
struct Framed {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    sums: Vec<u64>,
}

/// Most bytes of the pre-framed capture written in one call.
const RAW_SLICE: usize = 256 * 1024;

impl Framed {
    fn of(items: &[Item], framing: Framing) -> Result<Framed, BenchError> {
        let mut buf = BytesMut::new();
        let mut ends = Vec::with_capacity(items.len());
        for it in items {
            encode_into(framing, &it.bytes, &mut buf)
                .map_err(|e| BenchError::Input(e.to_string()))?;
            ends.push(buf.len());
        }
        Ok(Framed {
            bytes: buf.to_vec(),
            ends,
            sums: items.iter().map(|i| i.sum).collect(),
        })
    }
}

/// Writes `quota` messages of the pre-framed capture from message `start`
/// (wrapping), in slices of whole messages, folding the running checksum.
async fn send_framed<W: tokio::io::AsyncWrite + Unpin + Send + 'static>(
    mut w: W,
    f: &Framed,
    start: usize,
    quota: u64,
    deadline: Option<Instant>,
    sent: &AtomicU64,
) -> Result<Sent, String> {
    let len = f.ends.len();
    let (mut i, mut done, mut checksum) = (start % len, 0u64, 0u64);
    while done < quota && deadline.is_none_or(|d| Instant::now() < d) {
        let from = if i == 0 { 0 } else { f.ends[i - 1] };
        let mut j = i;
        while j < len && f.ends[j] - from < RAW_SLICE && done + ((j - i) as u64) < quota {
            checksum = fold(checksum, f.sums[j]);
            j += 1;
        }
        if j == i {
            // One message larger than a slice.
            checksum = fold(checksum, f.sums[i]);
            j = i + 1;
        }
        w.write_all(&f.bytes[from..f.ends[j - 1]])
            .await
            .map_err(|_| "write to target failed".to_string())?;
        done += (j - i) as u64;
        sent.fetch_add((j - i) as u64, Ordering::Relaxed);
        i = j % len;
    }
    let _ = w.flush().await;
    Ok((Box::new(w), done, checksum, new_hist()))
}

/// What a sender did: its stream (to close), messages sent, the running
/// checksum of what it sent, and how late its paced sends started (µs).
type Sent = (
    Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
    u64,
    u64,
    Histogram<u64>,
);

/// What every sender of one run shares.
#[derive(Clone)]
struct Plan {
    items: Arc<Vec<Item>>,
    /// Connections.
    n: usize,
    /// Messages to send in all (`u64::MAX`: until the deadline).
    total: u64,
    /// When sending starts.
    t0: Instant,
    /// Stop sending this long after `t0`.
    deadline: Option<Duration>,
    pace: Pace,
    raw: bool,
    framing: Framing,
    /// The gap between two sends on one connection (`--rate`).
    per_conn_gap: Option<Duration>,
    /// The capture's length (`--pace recorded`).
    cycle: Duration,
    sent: Arc<AtomicU64>,
    replies_expected: Arc<AtomicU64>,
    bar: indicatif::ProgressBar,
}

/// What the receivers saw, added up.
#[derive(Default)]
struct Totals {
    passed: u64,
    changed: u64,
    unexpected: u64,
    missing: u64,
    bytes: u64,
}

/// Runs the benchmark: connect every pair, start a sender, a reply reader
/// and a receiver per connection, wait for the senders, let stragglers
/// arrive, close, collect, report.
pub async fn run_bench(a: BenchArgs) -> Result<Report, BenchError> {
    if a.raw && a.policy.is_some() {
        return Err(BenchError::Run(
            "--raw compares nothing, so it cannot predict a policy: drop --policy".into(),
        ));
    }
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
    let (pairs, warmup) = connect_all(&a, &target, &listener, &items).await?;
    let plan = plan(&a, items);
    let framed = if plan.raw && plan.pace == Pace::Max {
        Some(Arc::new(Framed::of(&plan.items, a.framing)?))
    } else {
        None
    };
    let replies_back = Arc::new(AtomicU64::new(0));
    let (senders, receivers, conns) = start_connections(&a, &plan, framed, pairs, &replies_back);
    let (mut errors, writers, sent_by_conn, late) = join_senders(senders).await;
    plan.bar.finish_and_clear();
    if !plan.raw {
        settle(&conns, a.settle).await;
    }
    // Close the sending sides: the proxy closes the session, receivers end
    // (with --raw, once everything in flight has arrived).
    for mut w in writers {
        let _ = w.shutdown().await;
    }
    let wait = if plan.raw {
        a.settle + Duration::from_secs(5)
    } else {
        Duration::from_secs(5)
    };
    let (mut totals, hist, last, checksum_ok) = join_receivers(
        receivers,
        sent_by_conn,
        plan.raw,
        plan.t0,
        wait,
        &mut errors,
    )
    .await;
    totals.missing += conns
        .iter()
        .map(|c| c.fifo.lock().unwrap_or_else(|e| e.into_inner()).len() as u64)
        .sum::<u64>();
    let secs = last
        .saturating_duration_since(plan.t0)
        .as_secs_f64()
        .max(1e-9);
    Ok(report(
        &a,
        &plan,
        &totals,
        secs,
        &hist,
        &late,
        warmup,
        checksum_ok,
        errors,
        &replies_back,
    ))
}

/// Tasks of a run, per connection: senders, receivers, expectations.
type Started = (
    Vec<tokio::task::JoinHandle<Result<Sent, String>>>,
    Vec<tokio::task::JoinHandle<Received>>,
    Vec<Arc<Conn>>,
);

/// Starts, per connection, its sender, reply reader and receiver.
fn start_connections(
    a: &BenchArgs,
    plan: &Plan,
    framed: Option<Arc<Framed>>,
    pairs: Vec<(Box<dyn Io>, Box<dyn Io>)>,
    replies_back: &Arc<AtomicU64>,
) -> Started {
    let (mut senders, mut receivers, mut conns) = (Vec::new(), Vec::new(), Vec::new());
    for (c, (client, server)) in pairs.into_iter().enumerate() {
        let (send_side, recv_side) = match a.direction {
            Direction::Outbound => (client, server),
            Direction::Inbound => (server, client),
        };
        let (sr, sw) = tokio::io::split(send_side);
        let (rr, _rw) = tokio::io::split(recv_side);
        let conn = Arc::new(Conn::default());
        conns.push(conn.clone());
        senders.push(match &framed {
            // The fast raw path writes the pre-framed capture in large slices.
            Some(f) => spawn_framed(plan, f.clone(), c, sw),
            None => tokio::spawn(send_messages(plan.clone(), c, conn.clone(), sw)),
        });
        count_replies(sr, a.framing, replies_back.clone());
        receivers.push(if plan.raw {
            tokio::spawn(receive_raw(rr, a.framing))
        } else {
            tokio::spawn(receive_checked(rr, conn, a.framing))
        });
    }
    (senders, receivers, conns)
}

/// Connects every pair, one connection at a time, so that each upstream
/// connection the target makes belongs to the switch connection that
/// caused it; with the number of warm-up messages sent.
async fn connect_all(
    a: &BenchArgs,
    target: &str,
    listener: &TcpListener,
    items: &[Item],
) -> Result<(Vec<(Box<dyn Io>, Box<dyn Io>)>, u64), BenchError> {
    let mut pairs = Vec::new();
    let mut warmup = 0u64;
    for _ in 0..a.connections.max(1) {
        // After one warm-up the target is known to dial on the first
        // message: no more waiting for it to dial on accept.
        let wait = if warmup > 0 {
            Duration::ZERO
        } else {
            ACCEPT_WAIT
        };
        let (mut client, server) = pair(a, target, listener, wait).await?;
        let server = match server {
            Some(s) => s,
            None => {
                warmup += 1;
                warm_up(a, listener, &mut client, &items[0]).await?
            }
        };
        pairs.push((client, server));
    }
    Ok((pairs, warmup))
}

/// The run's shared plan: how many, how fast, from when; the progress bar.
fn plan(a: &BenchArgs, items: Arc<Vec<Item>>) -> Plan {
    let n = a.connections.max(1);
    let total: u64 = match (a.count, a.pace, a.duration) {
        (Some(c), _, _) => c,
        (None, Pace::Rate(r), Some(d)) => (r as f64 * d.as_secs_f64()) as u64,
        (None, _, Some(_)) => u64::MAX,
        _ => items.len() as u64,
    };
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
    Plan {
        cycle: recorded_cycle(&items),
        items,
        n,
        total,
        t0: Instant::now() + Duration::from_millis(50),
        deadline: a.duration.filter(|_| a.count.is_none()),
        pace: a.pace,
        raw: a.raw,
        framing: a.framing,
        per_conn_gap: match a.pace {
            Pace::Rate(r) => Some(Duration::from_secs_f64(n as f64 / r.max(1) as f64)),
            _ => None,
        },
        sent: Arc::new(AtomicU64::new(0)),
        replies_expected: Arc::new(AtomicU64::new(0)),
        bar,
    }
}

/// The raw sender of connection `c`: its share of the pre-framed capture.
fn spawn_framed(
    plan: &Plan,
    f: Arc<Framed>,
    c: usize,
    sw: tokio::io::WriteHalf<Box<dyn Io>>,
) -> tokio::task::JoinHandle<Result<Sent, String>> {
    let (n, t0, sent) = (plan.n, plan.t0, plan.sent.clone());
    let quota = plan.total.saturating_add(n as u64 - 1 - c as u64) / n as u64;
    let start = c * f.ends.len() / n;
    let until = plan.deadline.map(|d| t0 + d);
    tokio::spawn(async move {
        tokio::time::sleep_until(t0).await;
        send_framed(sw, &f, start, quota, until, &sent).await
    })
}

/// Connection `c`'s sender, message by message: paced, noting what each
/// message should become at the far end.
async fn send_messages(
    plan: Plan,
    c: usize,
    conn: Arc<Conn>,
    sw: tokio::io::WriteHalf<Box<dyn Io>>,
) -> Result<Sent, String> {
    let mut w = BufWriter::with_capacity(64 * 1024, sw);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let (mut j, mut checksum): (u64, u64) = (0, 0);
    let mut late = new_hist();
    let items = &plan.items;
    tokio::time::sleep_until(plan.t0).await;
    loop {
        let k = j * plan.n as u64 + c as u64;
        if k >= plan.total || plan.deadline.is_some_and(|d| plan.t0.elapsed() >= d) {
            break;
        }
        let due = match (plan.pace, plan.per_conn_gap) {
            (Pace::Rate(_), Some(g)) => Some(plan.t0 + g * (j as u32)),
            (Pace::Recorded, _) => Some(plan.t0 + recorded_at(items, k, plan.cycle)),
            _ => None,
        };
        let due = match due {
            Some(due) => {
                if due > Instant::now() {
                    let _ = w.flush().await;
                }
                let _ = late.record(wait_until(due).await.max(1));
                due
            }
            None => Instant::now(),
        };
        let it = &items[(k % items.len() as u64) as usize];
        if it.reply_back {
            plan.replies_expected.fetch_add(1, Ordering::Relaxed);
        }
        if plan.raw {
            checksum = fold(checksum, it.sum);
        } else if let Some((h, len, changed)) = it.forward {
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
        if encode_into(plan.framing, &it.bytes, &mut buf).is_err()
            || w.write_all(&buf).await.is_err()
        {
            return Err("write to target failed".to_string());
        }
        if plan.pace != Pace::Max {
            let _ = w.flush().await;
        }
        plan.sent.fetch_add(1, Ordering::Relaxed);
        plan.bar.inc(1);
        j += 1;
    }
    let _ = w.flush().await;
    let w: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = Box::new(w.into_inner());
    Ok((w, j, checksum, late))
}

/// Counts the replies coming back on the sending side (inbound denials).
fn count_replies(sr: tokio::io::ReadHalf<Box<dyn Io>>, framing: Framing, back: Arc<AtomicU64>) {
    tokio::spawn(async move {
        let mut f = FramedRead::new(sr, FrameCodec::new(framing, 1 << 26));
        while let Some(Ok(_)) = f.next().await {
            back.fetch_add(1, Ordering::Relaxed);
        }
    });
}

/// Senders' results: errors, streams to close, (count, checksum) per
/// connection, and how late the paced sends started.
type Joined = (
    Vec<String>,
    Vec<Box<dyn tokio::io::AsyncWrite + Unpin + Send>>,
    Vec<Option<(u64, u64)>>,
    Histogram<u64>,
);

/// Waits for every sender.
async fn join_senders(senders: Vec<tokio::task::JoinHandle<Result<Sent, String>>>) -> Joined {
    let (mut errors, mut writers, mut sent_by_conn) = (Vec::new(), Vec::new(), Vec::new());
    let mut late = new_hist();
    for s in senders {
        match s.await {
            Ok(Ok((w, count, sum, l))) => {
                let _ = late.add(&l);
                writers.push(w);
                sent_by_conn.push(Some((count, sum)));
            }
            Ok(Err(e)) => {
                errors.push(e);
                sent_by_conn.push(None);
            }
            Err(e) => {
                errors.push(e.to_string());
                sent_by_conn.push(None);
            }
        }
    }
    (errors, writers, sent_by_conn, late)
}

/// Gives stragglers up to `settle` to arrive.
async fn settle(conns: &[Arc<Conn>], settle: Duration) {
    let settle_until = Instant::now() + settle;
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
}

/// Waits for every receiver (each within `wait`) and adds up what they
/// saw: totals, latencies, the last arrival, the raw checksum verdict.
async fn join_receivers(
    receivers: Vec<tokio::task::JoinHandle<Received>>,
    sent_by_conn: Vec<Option<(u64, u64)>>,
    raw: bool,
    t0: Instant,
    wait: Duration,
    errors: &mut Vec<String>,
) -> (Totals, Histogram<u64>, Instant, Option<bool>) {
    let mut t = Totals::default();
    let mut hist = new_hist();
    let mut checksum_ok = raw.then_some(true);
    let mut last = t0;
    for (r, sent_here) in receivers.into_iter().zip(sent_by_conn) {
        let Ok(Ok(got)) = tokio::time::timeout(wait, r).await else {
            errors.push("a receiver did not finish".into());
            continue;
        };
        let _ = hist.add(&got.hist);
        if let (true, Some((count, sum))) = (raw, sent_here) {
            t.passed += got.frames.min(count);
            t.missing += count.saturating_sub(got.frames);
            t.unexpected += got.frames.saturating_sub(count);
            if got.checksum != sum || got.frames != count {
                checksum_ok = Some(false);
            }
        }
        t.passed += got.passed;
        t.changed += got.changed;
        t.unexpected += got.unexpected;
        t.missing += got.missing;
        t.bytes += got.bytes;
        last = last.max(got.last);
    }
    (t, hist, last, checksum_ok)
}

/// The report of a run.
#[allow(clippy::too_many_arguments)] // each is one measured part of the run
fn report(
    a: &BenchArgs,
    plan: &Plan,
    t: &Totals,
    secs: f64,
    hist: &Histogram<u64>,
    late: &Histogram<u64>,
    warmup: u64,
    checksum_ok: Option<bool>,
    errors: Vec<String>,
    replies_back: &AtomicU64,
) -> Report {
    let q = |p: f64| {
        if hist.is_empty() {
            0.0
        } else {
            hist.value_at_quantile(p) as f64
        }
    };
    Report {
        target: if a.target == "self" {
            "none (direct)".into()
        } else {
            a.target.clone()
        },
        sent: plan.sent.load(Ordering::Relaxed),
        expected: t.passed + t.changed + t.missing,
        passed: t.passed,
        changed: t.changed,
        replies_back: replies_back.load(Ordering::Relaxed),
        replies_expected: plan.replies_expected.load(Ordering::Relaxed),
        missing: t.missing,
        unexpected: t.unexpected,
        seconds: secs,
        msgs_per_sec: (t.passed + t.changed) as f64 / secs,
        mb_per_sec: t.bytes as f64 / secs / 1e6,
        p50_us: q(0.5),
        p90_us: q(0.9),
        p99_us: q(0.99),
        p999_us: q(0.999),
        max_us: if hist.is_empty() {
            0.0
        } else {
            hist.max() as f64
        },
        pace_p50_us: (!late.is_empty()).then(|| late.value_at_quantile(0.5) as f64),
        pace_p99_us: (!late.is_empty()).then(|| late.value_at_quantile(0.99) as f64),
        pace_max_us: (!late.is_empty()).then(|| late.max() as f64),
        warmup,
        checksum_ok,
        errors,
    }
}

/// Human-readable report.
pub fn render(r: &Report) -> String {
    format!(
        "target {}\n\
         sent {}  expected {}  arrived {} (passed {}, changed as predicted {})  replies back {}/{}\n\
         missing {}  unexpected {}{}{}\n\
         throughput {:.0} msg/s, {:.1} MB/s over {:.2} s\n\
         latency from intended send (µs): p50 {:.0}  p90 {:.0}  p99 {:.0}  p99.9 {:.0}  max {:.0}\n{}",
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
        match r.checksum_ok {
            Some(true) => "  checksum ok",
            Some(false) => "  CHECKSUM MISMATCH",
            None => "",
        },
        if r.errors.is_empty() { String::new() } else { format!("  errors: {}", r.errors.join("; ")) },
        r.msgs_per_sec,
        r.mb_per_sec,
        r.seconds,
        r.p50_us,
        r.p90_us,
        r.p99_us,
        r.p999_us,
        r.max_us,
        floor(r)
    )
}

/// The bench's own floor and warm-up, as lines of the text report.
fn floor(r: &Report) -> String {
    let mut s = String::new();
    if let (Some(p50), Some(p99), Some(max)) = (r.pace_p50_us, r.pace_p99_us, r.pace_max_us) {
        s.push_str(&format!(
            "bench floor: paced sends started p50 {p50:.0} µs, p99 {p99:.0} µs, max {max:.0} µs after their intended time (included in the latency; --target self measures the whole floor)\n"
        ));
    }
    if r.warmup > 0 {
        s.push_str(&format!(
            "warm-up: {} message(s), one per connection, sent before the run so that the target dials its upstream (not counted)\n",
            r.warmup
        ));
    }
    s
}

/// `origuard bench`: exit 1 when messages went missing or arrived unexpected
/// (or, with `--raw`, the checksum differs), 2 for a capture it cannot use.
pub fn command(b: crate::tools::cli::BenchCli) -> u8 {
    let pace = match b.rate.as_str() {
        "max" => Pace::Max,
        "recorded" => Pace::Recorded,
        r => match r.parse::<u64>() {
            Ok(n) if n > 0 => Pace::Rate(n),
            _ => {
                eprintln!("origuard bench: --rate {r:?}: a positive number, max or recorded");
                return super::common::EX_USAGE;
            }
        },
    };
    if b.raw && b.policy.is_some() {
        eprintln!("origuard bench: --raw compares nothing, so it cannot predict --policy: use one or the other");
        return super::common::EX_USAGE;
    }
    let args = BenchArgs {
        target: b.target,
        listen: b.listen,
        capture: b.capture,
        capture_framing: b.capture_framing,
        select: b.pcap.select(Some(b.direction)),
        framing: b.framing,
        direction: b.direction,
        pace,
        raw: b.raw,
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
            // A closed pipe (`| head`) is not a failure of the bench.
            let written = if json {
                super::common::print_line(&serde_json::to_string(&r).unwrap_or_default(), "bench")
            } else {
                super::common::write_stdout(render(&r).as_bytes(), "bench")
            };
            if written != 0
                || r.missing > 0
                || r.unexpected > 0
                || !r.errors.is_empty()
                || r.checksum_ok == Some(false)
            {
                1
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("origuard bench: {e}");
            match e {
                BenchError::Input(_) => super::common::EX_INPUT,
                BenchError::Run(_) => 1,
            }
        }
    }
}
