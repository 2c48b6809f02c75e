//! One session: the switch's connection and our connection to Nlets, two
//! readers that decide every message, two writers that forward them.
//!
//! ```text
//!  switch ──read──▶ [decide outbound] ──queue──▶ write ──▶ Nlets
//!  switch ◀──write── queue ◀── [decide inbound] ◀──read── Nlets
//!                                   └─ decline replies ─▶ (Nlets queue)
//! ```
//!
//! **Admission.** A new connection is *pending* until its first complete
//! message: it holds no session slot, counts against the link's small
//! pending budget (per link and per source address) and must finish that
//! message within `limits.first_message_timeout`. Nlets is dialled only then
//! (`dial = "on_message"`, the default), so idle connections cost nothing
//! upstream; the dial is retried with backoff for `limits.upstream_retry`
//! while the messages already read wait in the queue. With
//! `dial = "on_accept"` (a switch that may only receive) a connection is a
//! session at once and Nlets is dialled at accept.
//!
//! **Memory.** Read buffers grow only with bytes taken from the process
//! budget (`limits.buffer_budget`); what a message took travels with it until
//! written. Queues are bounded in messages (`limits.queue`) and bytes
//! (`limits.queue_bytes`) per direction, so a peer that stops reading stops
//! us reading the other side.
//!
//! **Audit.** A message's decision record is appended before it is queued;
//! the writer waits until that record is durable before writing (group
//! commit keeps this pipelined), then appends a `written` record for the
//! batch. Decided messages that are never written get an `undelivered`
//! record with the reason, so reports never count them as delivered.
//! The policy is read once per message, so a reload applies to the next
//! message of every live session.

use super::budget::{Held, BUDGET_WAIT};
use super::shared::{Io, Link, PeerSlot, Shared, Slot};
use super::stage::{Decided, InFlight, WINDOW_PER_WORKER};
use super::upstream::connect_retrying;
use crate::audit::line::Body;
use crate::audit::record::Event;
use crate::decision::{decide_in, Context, Decision, Outcome};
use crate::framing::{FrameCodec, Framing};
use crate::message::Direction;
use crate::policy::Policy;
use crate::runtime::audit_log::{OnFailure, SyncMode};
use crate::runtime::config::Dial;
use crate::runtime::metrics as m;
use bytes::{Bytes, BytesMut};
use metrics::counter;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

/// Initial read buffer per direction; it grows for large messages. Small
/// enough that 1,000 idle sessions stay cheap.
const READ_BUFFER: usize = 8 * 1024;
/// Most bytes a writer gathers from its queue into one write.
const WRITE_BATCH: usize = 256 * 1024;
/// A write buffer larger than this is released after use.
const KEEP_WRITE_BUFFER: usize = 64 * 1024;

/// How long a connection origuard will not serve (refused at accept, or no
/// session slot for its first message) is still read: every complete
/// message that arrives within it is declined with a record; then it is
/// closed.
pub const REFUSE_WINDOW: Duration = Duration::from_secs(1);

/// A message on its way to a writer.
struct Out {
    bytes: Bytes,
    /// Its decision record, when audited.
    seq: Option<u64>,
    /// The record must be durable before the message is written.
    wait: bool,
    /// Restricted traffic (held through an outage in every mode).
    restricted: bool,
    /// When the message was fully received.
    received: Instant,
    /// Its share of the process buffer budget and of the queue's bytes.
    _mem: Held,
    _queued: OwnedSemaphorePermit,
}

/// How a session ended (metrics label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum End {
    /// The switch closed its connection.
    SwitchClosed,
    /// Nlets closed its connection.
    NletsClosed,
    /// A framing error (oversized, malformed, truncated) from this side.
    FrameError(Side),
    /// A message from this side started but did not complete in time.
    MessageTimeout(Side),
    /// No traffic for the idle timeout.
    Idle,
    /// Shutdown asked the session to finish.
    Drained,
    /// This side stopped accepting data (write failed or timed out).
    WriteFailed(Side),
    /// Reading from this side failed.
    ReadError(Side),
    /// The connection sent no complete message within the first-message timeout.
    FirstMessageTimeout,
    /// The first message came but no session slot was free (link or peer cap).
    SessionsFull,
    /// Refused at accept (the pending budget was full): what it sent within
    /// [`REFUSE_WINDOW`] was declined with a record.
    Refused,
    /// A pending connection (no complete message yet) whose place a known
    /// peer took.
    Evicted,
    /// The upstream stayed unreachable for the whole retry period.
    UpstreamUnreachable,
    /// The process buffer budget stayed exhausted: this side's reader was shed.
    Shed(Side),
}

/// Which side of a session an ending came from (as Pingora tags errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The state switch's connection.
    Switch,
    /// The Nlets connection.
    Nlets,
    /// Neither: the proxy itself (shutdown, idle timer).
    Internal,
}

impl Side {
    /// Lowercase name (audit records, labels).
    pub fn name(self) -> &'static str {
        match self {
            Side::Switch => "switch",
            Side::Nlets => "nlets",
            Side::Internal => "internal",
        }
    }
}

impl End {
    /// The side that caused the ending, when known.
    pub fn side(self) -> Side {
        match self {
            End::SwitchClosed
            | End::FirstMessageTimeout
            | End::SessionsFull
            | End::Refused
            | End::Evicted => Side::Switch,
            End::NletsClosed | End::UpstreamUnreachable => Side::Nlets,
            End::Idle | End::Drained => Side::Internal,
            End::FrameError(s)
            | End::MessageTimeout(s)
            | End::ReadError(s)
            | End::WriteFailed(s)
            | End::Shed(s) => s,
        }
    }

    /// Label.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Worth an info line (the others are routine).
    pub fn notable(self) -> bool {
        !matches!(
            self,
            End::SwitchClosed | End::NletsClosed | End::Idle | End::Drained
        )
    }
}

fn now_ms(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

/// A connection's way from pending to session.
pub struct Admission {
    peer: IpAddr,
    /// Held while pending (the link's pending permit and the peer's slot).
    pending: Mutex<Option<Pending>>,
    /// Held once admitted.
    session: Mutex<Option<(OwnedSemaphorePermit, PeerSlot, Gauged)>>,
    admitted: watch::Sender<bool>,
    /// Why this connection will not be served, once known (refused at
    /// accept, or no session slot): every message it sends is declined.
    refused: std::sync::OnceLock<&'static str>,
    /// Cancelled when a known peer takes this pending connection's place.
    evicted: CancellationToken,
}

/// One unit of a gauge, given back on drop.
struct Gauged(metrics::Gauge);

impl Drop for Gauged {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// What a pending connection holds; dropping it gives it back.
pub struct Pending {
    _permit: OwnedSemaphorePermit,
    _peer: PeerSlot,
    gauge: metrics::Gauge,
    /// Its place in the link's eviction order.
    link: Arc<Link>,
    id: u64,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.gauge.decrement(1.0);
        self.link.unpend(self.id);
    }
}

/// Ids of pending connections (eviction order entries).
static PENDING_IDS: AtomicU64 = AtomicU64::new(0);

impl Admission {
    /// A pending connection from `peer` holding `permit` and `slot`;
    /// `known`: a known peer (never evicted).
    pub(super) fn new(
        link: &Arc<Link>,
        peer: IpAddr,
        known: bool,
        permit: OwnedSemaphorePermit,
        slot: PeerSlot,
    ) -> Admission {
        let gauge = metrics::gauge!(m::CONNECTIONS_PENDING, "link" => link.cfg.name.clone());
        gauge.increment(1.0);
        let id = PENDING_IDS.fetch_add(1, Ordering::Relaxed);
        let evicted = CancellationToken::new();
        link.pending_order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(super::shared::PendingEntry {
                id,
                ip: peer,
                known,
                evict: evicted.clone(),
            });
        Admission {
            peer,
            pending: Mutex::new(Some(Pending {
                _permit: permit,
                _peer: slot,
                gauge,
                link: link.clone(),
                id,
            })),
            session: Mutex::new(None),
            admitted: watch::channel(false).0,
            refused: std::sync::OnceLock::new(),
            evicted,
        }
    }

    /// A connection refused at accept (`reason`: `pending_full`,
    /// `peer_pending`): it will never be a session.
    pub(super) fn refused(peer: IpAddr, reason: &'static str) -> Admission {
        let refused = std::sync::OnceLock::new();
        let _ = refused.set(reason);
        Admission {
            peer,
            pending: Mutex::new(None),
            session: Mutex::new(None),
            admitted: watch::channel(false).0,
            refused,
            evicted: CancellationToken::new(),
        }
    }

    /// True for a connection refused at accept.
    pub(super) fn is_refused(&self) -> bool {
        self.refused.get().is_some()
    }

    /// Moves the connection from pending to session (once; later calls are
    /// no-ops). Err: no session slot, with the refusal reason.
    fn admit(&self, link: &Arc<Link>, max_per_peer: usize) -> Result<(), &'static str> {
        if *self.admitted.borrow() {
            return Ok(());
        }
        if let Some(why) = self.refused.get() {
            return Err(why);
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.is_none() {
            return Ok(());
        }
        let refuse = |why: &'static str| {
            counter!(m::REFUSED, "link" => link.cfg.name.clone(), "reason" => why).increment(1);
            tracing::warn!(link = %link.cfg.name, peer = %self.peer, reason = why,
                "no session slot for a new connection: what it sends is declined, then it is closed");
            *self.refused.get_or_init(|| why)
        };
        let permit = link
            .sessions
            .clone()
            .try_acquire_owned()
            .map_err(|_| refuse("sessions_full"))?;
        let slot = link
            .peer_slot(self.peer, Slot::Session, max_per_peer)
            .ok_or_else(|| refuse("peer_sessions"))?;
        let gauge = metrics::gauge!(m::SESSIONS_ACTIVE, "link" => link.cfg.name.clone());
        gauge.increment(1.0);
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((permit, slot, Gauged(gauge)));
        *pending = None;
        self.admitted.send_replace(true);
        Ok(())
    }

    async fn wait_admitted(&self) {
        let mut rx = self.admitted.subscribe();
        let _ = rx.wait_for(|a| *a).await;
    }
}

struct Ctx {
    shared: Arc<Shared>,
    link: Arc<Link>,
    stop: CancellationToken,
    epoch: Instant,
    activity: AtomicU64,
    /// The switch's address was recorded as a known peer.
    learned: std::sync::atomic::AtomicBool,
    admission: Admission,
    /// Bytes queued toward each side.
    q_nlets: Arc<Semaphore>,
    q_switch: Arc<Semaphore>,
    /// Handles of the unlabelled per-message metrics.
    metrics: m::SessionMetrics,
}

impl Ctx {
    fn admit(&self) -> Result<(), &'static str> {
        self.admission
            .admit(&self.link, self.shared.limits.max_sessions_per_peer)
    }
}

/// Runs a session until one side closes (or shutdown), flushing what was
/// already decided.
pub async fn run(
    shared: Arc<Shared>,
    link: Arc<Link>,
    switch: Box<dyn Io>,
    admission: Admission,
) -> End {
    let (sr, sw) = tokio::io::split(switch);
    let q = shared.limits.queue;
    let qb = shared.limits.queue_bytes.min(u32::MAX as usize);
    let (to_nlets, to_nlets_rx) = mpsc::channel::<Out>(q);
    let (to_switch, to_switch_rx) = mpsc::channel::<Out>(q);
    let ctx = Arc::new(Ctx {
        stop: shared.cut.child_token(),
        shared,
        link,
        epoch: Instant::now(),
        activity: AtomicU64::new(0),
        learned: false.into(),
        admission,
        q_nlets: Arc::new(Semaphore::new(qb)),
        q_switch: Arc::new(Semaphore::new(qb)),
        metrics: m::SessionMetrics::new(),
    });
    if ctx.link.cfg.dial == Dial::OnAccept {
        // A switch that may only receive: a session at once (no pending
        // stage, so no protection against idle connections: pair this with
        // switch-side mutual TLS or a firewall).
        // Refused: the reader declines what it sends, with records.
        let _ = ctx.admit();
    }
    let out_reader = {
        let ctx = ctx.clone();
        let fwd = to_nlets.clone();
        let rep = to_nlets.clone();
        async move {
            let e = reader(&ctx, Direction::Outbound, sr, fwd, rep).await;
            ctx.stop.cancel();
            e
        }
    };
    let nlets_side = nlets_side(&ctx, to_nlets_rx, to_switch, to_nlets);
    let first_message = async {
        let refused = ctx.admission.refused.get().is_some();
        let t = match refused {
            true => REFUSE_WINDOW,
            false => ctx.shared.limits.first_message_timeout,
        };
        tokio::select! {
            _ = ctx.admission.wait_admitted() => None,
            _ = ctx.stop.cancelled() => None,
            _ = ctx.admission.evicted.cancelled() => {
                counter!(m::REFUSED, "link" => ctx.link.cfg.name.clone(), "reason" => "evicted").increment(1);
                ctx.stop.cancel();
                Some(End::Evicted)
            }
            _ = tokio::time::sleep(t) => {
                if *ctx.admission.admitted.borrow() {
                    None
                } else if refused {
                    ctx.stop.cancel();
                    Some(refusal_end(ctx.admission.refused.get().copied()))
                } else {
                    counter!(m::REFUSED, "link" => ctx.link.cfg.name.clone(), "reason" => "first_message_timeout").increment(1);
                    ctx.stop.cancel();
                    Some(End::FirstMessageTimeout)
                }
            }
        }
    };
    let (e_out, (e_nlets, w_n), w_s, e_first) = tokio::join!(
        out_reader,
        nlets_side,
        writer(&ctx, Side::Switch, to_switch_rx, sw),
        first_message
    );
    // The first real cause wins; "stopped" readers only followed it.
    for e in [e_first, w_n, w_s, Some(e_nlets), Some(e_out)]
        .into_iter()
        .flatten()
    {
        if e != End::Drained {
            return e;
        }
    }
    End::Drained
}

/// The Nlets half: dial (once the switch has spoken, or at once), then read
/// and write. If the upstream stays unreachable, every message queued for it
/// is recorded undelivered.
async fn nlets_side(
    ctx: &Arc<Ctx>,
    mut rx: mpsc::Receiver<Out>,
    to_switch: mpsc::Sender<Out>,
    replies: mpsc::Sender<Out>,
) -> (End, Option<End>) {
    if ctx.link.cfg.dial == Dial::OnMessage {
        tokio::select! {
            biased;
            _ = ctx.admission.wait_admitted() => {}
            _ = ctx.stop.cancelled() => {
                // Stopped before the switch spoke: nothing was queued (a
                // message admitted in the same instant is recorded).
                drop(to_switch);
                drop(replies);
                undeliver_rest(ctx, Side::Nlets, &mut rx, "session_closed");
                return (End::Drained, None);
            }
        }
    }
    // Retry while there is something to deliver: once the session stops
    // with nothing queued (a switch that connected and left, a port probe
    // under `dial = "on_accept"`), stop dialling — a late connection would
    // reach Nlets for nobody.
    let nothing_to_deliver = async {
        ctx.stop.cancelled().await;
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if rx.is_empty() {
                break;
            }
        }
    };
    let dialled = tokio::select! {
        r = connect_retrying(&ctx.shared, &ctx.link, &ctx.shared.hard_stop) => Some(r),
        _ = nothing_to_deliver => None,
    };
    let Some(dialled) = dialled else {
        drop(to_switch);
        drop(replies);
        undeliver_rest(ctx, Side::Nlets, &mut rx, "session_closed");
        return (End::Drained, None);
    };
    let io = match dialled {
        Ok(io) => io,
        Err(e) => {
            tracing::warn!(link = %ctx.link.cfg.name, upstream = %ctx.link.cfg.upstream, error = %e,
                "upstream unreachable for the whole retry period: closing the session; its queued messages are recorded undelivered");
            ctx.stop.cancel();
            drop(to_switch);
            drop(replies);
            undeliver_rest(ctx, Side::Nlets, &mut rx, "upstream_unreachable");
            return (End::UpstreamUnreachable, None);
        }
    };
    let (nr, nw) = tokio::io::split(io);
    let in_reader = async {
        let e = reader(ctx, Direction::Inbound, nr, to_switch, replies).await;
        ctx.stop.cancel();
        e
    };
    tokio::join!(in_reader, writer(ctx, Side::Nlets, rx, nw))
}

/// Closes a queue and records everything still in it as undelivered.
fn undeliver_rest(ctx: &Ctx, side: Side, rx: &mut mpsc::Receiver<Out>, reason: &'static str) {
    rx.close();
    let mut seqs = Vec::new();
    let mut n = 0u64;
    while let Ok(o) = rx.try_recv() {
        n += 1;
        seqs.extend(o.seq);
    }
    undelivered(ctx, side, n, seqs, reason);
}

/// Counts and records messages decided but not written.
fn undelivered(ctx: &Ctx, side: Side, n: u64, seqs: Vec<u64>, reason: &'static str) {
    if n == 0 {
        return;
    }
    counter!(m::UNDELIVERED, "side" => side.name(), "reason" => reason).increment(n);
    if let (Some(log), false) = (&ctx.shared.audit, seqs.is_empty()) {
        if log
            .append(&Event::Undelivered {
                link: ctx.link.cfg.name.clone(),
                side: side.name(),
                seqs,
                reason,
            })
            .is_err()
        {
            counter!(m::AUDIT_ERRORS).increment(1);
        }
    }
}

fn shed(ctx: &Ctx, side: Side) -> End {
    counter!(m::SHED, "link" => ctx.link.cfg.name.clone()).increment(1);
    tracing::warn!(link = %ctx.link.cfg.name, side = side.name(), used = ctx.shared.budget.used(),
        budget = ctx.shared.budget.limit(), "buffer budget exhausted: closing the session");
    End::Shed(side)
}

/// Frames up to this size get their whole buffer in one step.
const WHOLE_FRAME: usize = 256 * 1024;
/// Past this, a frame of announced length gets the rest in one step.
const LADDER_TOP: usize = 1 << 20;

/// The next capacity of a read buffer that is full. A frame whose length is
/// announced (len4) and small gets its whole size at once; a large one
/// doubles up to [`LADDER_TOP`] and then gets the rest, so a peer announcing
/// 8 MiB must send 1 MiB before it is given 8, and a finished climb leaves
/// few freed steps behind for the allocator to hold. Without a length
/// (stx-etx) the buffer doubles.
fn grow_target(buf: &[u8], framing: Framing, max: usize, cap: usize) -> usize {
    let doubled = (cap * 2).max(READ_BUFFER);
    match framing {
        Framing::Len4 if buf.len() >= 4 => {
            let frame = 4 + u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            let next = if frame <= WHOLE_FRAME || cap >= LADDER_TOP {
                frame
            } else {
                doubled
            };
            next.min(frame).max(buf.len() + 1)
        }
        Framing::Len4 => doubled,
        Framing::StxEtx => doubled.min(max + 2).max(buf.len() + 1),
    }
}

/// What a reader keeps across messages: its metric handles and the
/// messages in the decision stage.
struct ReaderState {
    metrics: m::DecisionMetrics,
    inflight: InFlight<Carry>,
}

/// What a message carries while the decision stage decides it.
struct Carry {
    /// The message (kept, cheaply, to decide it here if a worker died).
    raw: Bytes,
    mem: Held,
    received: Instant,
}

/// Reads one side, decides every message (on the decision stage when there
/// is one, taking decisions back in order) and queues what is to be sent.
/// Whatever ends the reader, the messages already read are decided,
/// audited and queued, or recorded undelivered.
async fn reader<R: AsyncRead + Unpin>(
    ctx: &Ctx,
    dir: Direction,
    rd: R,
    forward: mpsc::Sender<Out>,
    replies: mpsc::Sender<Out>,
) -> End {
    let window = ctx
        .shared
        .decisions
        .as_ref()
        .map_or(1, |p| p.workers() * WINDOW_PER_WORKER);
    let mut st = ReaderState {
        metrics: m::DecisionMetrics::new(dir),
        inflight: InFlight::new(window),
    };
    let end = read_loop(ctx, dir, rd, &forward, &replies, &mut st).await;
    while !st.inflight.is_empty() {
        let _ = finish_one(ctx, dir, &mut st, &forward, &replies).await;
    }
    end
}

/// Takes the oldest in-flight decision back, audits and queues it.
async fn finish_one(
    ctx: &Ctx,
    dir: Direction,
    st: &mut ReaderState,
    forward: &mpsc::Sender<Out>,
    replies: &mpsc::Sender<Out>,
) -> Result<(), QueueClosed> {
    let Some((d, policy, c)) = committing(ctx, st.inflight.pop()).await else {
        return Ok(());
    };
    let d = match d {
        Some(d) => d,
        None => {
            tracing::error!("a decision worker stopped: deciding on the session's task");
            let t = Instant::now();
            let cx = Context {
                now: std::time::SystemTime::now(),
                ledger: Some(&*ctx.shared.ledger),
            };
            let decision = decide_in(dir, c.raw, &policy, &ctx.shared.msg_limits, &cx);
            Decided {
                decision,
                seconds: t.elapsed().as_secs_f64(),
            }
        }
    };
    st.metrics.record(&d.decision, &policy, d.seconds);
    // Decided without the ledger (the policy had no order then): the
    // ledger still learns every forwarded query's control field.
    crate::decision::court_order::note_forwarded(
        &d.decision,
        dir,
        &ctx.shared.ledger,
        std::time::SystemTime::now(),
    );
    deliver(
        ctx, dir, d.decision, &policy, c.received, c.mem, forward, replies,
    )
    .await
}

/// True when a message may be decided on the decision stage under `policy`:
/// the decision is then a pure function of the message and the policy. A
/// policy with court-order exceptions (a ledger of uses, spent in order) or
/// a configured shadow policy (counted per decision) is decided on the
/// session's task, in order.
fn parallel_safe(ctx: &Ctx, policy: &Policy) -> bool {
    policy.exceptions.is_empty() && ctx.shared.shadow.is_none()
}

/// One complete message: decided here, or submitted to the decision stage
/// (taking the oldest back first when the session's window is full).
async fn submit(
    ctx: &Ctx,
    dir: Direction,
    raw: Bytes,
    mem: Held,
    st: &mut ReaderState,
    forward: &mpsc::Sender<Out>,
    replies: &mpsc::Sender<Out>,
) -> Result<(), QueueClosed> {
    let Some(pool) = &ctx.shared.decisions else {
        return handle(ctx, dir, raw, mem, &mut st.metrics, forward, replies).await;
    };
    let policy = ctx.shared.policy.current();
    if !parallel_safe(ctx, &policy) {
        // Court-order uses and the shadow policy depend on the order of
        // decisions: finish those in flight, then decide this one here.
        while !st.inflight.is_empty() {
            finish_one(ctx, dir, st, forward, replies).await?;
        }
        return handle(ctx, dir, raw, mem, &mut st.metrics, forward, replies).await;
    }
    if !st.inflight.has_room() {
        finish_one(ctx, dir, st, forward, replies).await?;
    }
    ctx.activity.store(now_ms(ctx.epoch), Ordering::Relaxed);
    let received = Instant::now();
    let t = pool.submit(dir, raw.clone(), policy.clone(), ctx.shared.msg_limits);
    st.inflight.push(t, policy, Carry { raw, mem, received });
    Ok(())
}

/// Reads and decides until the connection ends or the session stops; at
/// the drain deadline, declines and records what is still arriving
/// ([`cut_off`]), however the reading stopped.
async fn read_loop<R: AsyncRead + Unpin>(
    ctx: &Ctx,
    dir: Direction,
    mut rd: R,
    forward: &mpsc::Sender<Out>,
    replies: &mpsc::Sender<Out>,
    st: &mut ReaderState,
) -> End {
    let mut codec = FrameCodec::new(ctx.link.cfg.framing, ctx.shared.limits.max_message);
    let mut buf = BytesMut::new();
    let end = read_frames(
        ctx, dir, &mut rd, &mut codec, &mut buf, forward, replies, st,
    )
    .await;
    let stopped = matches!(end, End::Drained | End::WriteFailed(_));
    if stopped && ctx.shared.cut.is_cancelled() && ctx.admission.refused.get().is_none() {
        cut_off(ctx, dir, &mut codec, &mut buf, &mut rd).await;
    }
    end
}

/// [`read_loop`]'s loop: `buf` is empty on entry.
#[allow(clippy::too_many_arguments)]
async fn read_frames<R: AsyncRead + Unpin>(
    ctx: &Ctx,
    dir: Direction,
    rd: &mut R,
    codec: &mut FrameCodec,
    buf: &mut BytesMut,
    forward: &mpsc::Sender<Out>,
    replies: &mpsc::Sender<Out>,
    st: &mut ReaderState,
) -> End {
    let lim = &ctx.shared.limits;
    let framing = ctx.link.cfg.framing;
    let (closed, side, far) = match dir {
        Direction::Outbound => (End::SwitchClosed, Side::Switch, Side::Nlets),
        Direction::Inbound => (End::NletsClosed, Side::Nlets, Side::Switch),
    };
    let budget = &ctx.shared.budget;
    let Some(mut held) = budget.take(READ_BUFFER, BUDGET_WAIT).await else {
        return shed(ctx, side);
    };
    *buf = BytesMut::with_capacity(READ_BUFFER);
    held.set(buf.capacity());
    // When the buffer first held part of a message (slow senders are
    // bounded by message_timeout, at most twice over).
    let mut partial_since: Option<Instant> = None;
    // Set once the connection is refused: read until then, declining.
    let mut declining: Option<Instant> = None;
    loop {
        // Every complete message in the buffer.
        loop {
            match codec.decode(buf) {
                Ok(Some(raw)) => {
                    let mem = held.split(held.len().saturating_sub(buf.capacity()));
                    partial_since = None;
                    if let Err(why) = ctx.admit() {
                        // Declined with a record; read on (briefly) so
                        // that every message it sent is declined too.
                        refused(ctx, dir, raw, why);
                        declining.get_or_insert_with(|| Instant::now() + REFUSE_WINDOW);
                        continue;
                    }
                    if submit(ctx, dir, raw, mem, st, forward, replies)
                        .await
                        .is_err()
                    {
                        return End::WriteFailed(far);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    counter!(m::FRAME_ERRORS, "direction" => dir.name(), "reason" => e.reason())
                        .increment(1);
                    tracing::warn!(link = %ctx.link.cfg.name, direction = dir.name(), error = %e, "framing error: closing session");
                    return End::FrameError(side);
                }
            }
        }
        // A photo grows the read buffer; give the memory back once it is
        // empty, so 1,000 quiet sessions do not each hold a photo's worth.
        if buf.is_empty() && buf.capacity() > 2 * READ_BUFFER {
            *buf = BytesMut::with_capacity(READ_BUFFER);
        }
        held.set(buf.capacity());
        if buf.len() == buf.capacity() {
            let want = grow_target(buf, framing, lim.max_message, buf.capacity());
            // Growing copies into a new allocation while the old one is
            // still live: take the whole new size, give the old back after.
            let extra = want;
            let more = tokio::select! {
                biased;
                _ = ctx.stop.cancelled() => return End::Drained,
                h = budget.take(extra, BUDGET_WAIT) => h,
            };
            match more {
                Some(h) => held.merge(h),
                None => return shed(ctx, side),
            }
            buf.reserve(want - buf.len());
            held.set(buf.capacity());
        }
        let mut wait = lim.message_timeout.min(lim.idle_timeout);
        let draining = ctx.shared.drain.is_cancelled();
        if draining && buf.is_empty() && st.inflight.is_empty() && declining.is_none() {
            // Draining: read on until the session is quiet both ways.
            let idle = now_ms(ctx.epoch).saturating_sub(ctx.activity.load(Ordering::Relaxed));
            let left = super::DRAIN_IDLE.saturating_sub(Duration::from_millis(idle));
            if left.is_zero() {
                return End::Drained;
            }
            wait = wait.min(left);
        }
        if let Some(until) = declining {
            match until.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => wait = left,
                _ => return refusal_end(ctx.admission.refused.get().copied()),
            }
        }
        let r = tokio::select! {
            biased;
            // Complete messages were all read above; stop here (the caller
            // finishes those in flight). At the drain deadline, what is
            // still arriving is declined and the cut recorded.
            _ = ctx.stop.cancelled() => return End::Drained,
            // The drain began: recompute the wait (idle sessions end).
            _ = ctx.shared.drain.cancelled(), if !draining => continue,
            // A decision came back: audit and queue it while reading on.
            _ = st.inflight.ready(), if !st.inflight.is_empty() => {
                if finish_one(ctx, dir, st, forward, replies).await.is_err() {
                    return End::WriteFailed(far);
                }
                continue;
            }
            r = committing(ctx, tokio::time::timeout(wait, rd.read_buf(&mut *buf))) => r,
        };
        match r {
            Err(_) if declining.is_some() => {
                return refusal_end(ctx.admission.refused.get().copied())
            }
            Ok(Ok(0)) if declining.is_some() && buf.is_empty() => {
                return refusal_end(ctx.admission.refused.get().copied())
            }
            Err(_) if !buf.is_empty() => match partial_since {
                Some(t) if t.elapsed() >= lim.message_timeout => {
                    counter!(m::FRAME_ERRORS, "direction" => dir.name(), "reason" => "message_timeout").increment(1);
                    return End::MessageTimeout(side);
                }
                Some(_) => {}
                None => partial_since = Some(Instant::now()),
            },
            Err(_) => {
                partial_since = None;
                let idle_for =
                    now_ms(ctx.epoch).saturating_sub(ctx.activity.load(Ordering::Relaxed));
                if Duration::from_millis(idle_for) >= lim.idle_timeout {
                    return End::Idle;
                }
            }
            Ok(Ok(0)) if buf.is_empty() => return closed,
            Ok(Ok(0)) => {
                let e = crate::framing::FrameError::Truncated {
                    offset: codec.offset(),
                    have: buf.len(),
                };
                counter!(m::FRAME_ERRORS, "direction" => dir.name(), "reason" => e.reason())
                    .increment(1);
                tracing::warn!(link = %ctx.link.cfg.name, direction = dir.name(), error = %e, "framing error: closing session");
                return End::FrameError(side);
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(link = %ctx.link.cfg.name, direction = dir.name(), error = %e, "read error");
                return End::ReadError(side);
            }
        }
    }
}

/// The writer toward a side has stopped (its peer stopped reading or the
/// session is closing): nothing more can be queued.
#[derive(Debug)]
struct QueueClosed;

/// Most bytes a reader reads after the drain deadline.
const CUT_READ_MAX: usize = 256 << 10;
/// Most messages a reader declines after the drain deadline.
const CUT_MAX_MESSAGES: u64 = 1000;
/// How long a reader goes on reading after the drain deadline, and waits
/// for more bytes at most.
const CUT_READ_FOR: Duration = Duration::from_millis(250);
const CUT_READ_WAIT: Duration = Duration::from_millis(50);

/// The drain deadline stopped this reader: reads what has already arrived
/// (bounded: [`CUT_READ_FOR`], [`CUT_READ_MAX`], [`CUT_MAX_MESSAGES`]),
/// declines every complete message in it with a record (`drain_deadline`),
/// and appends a `drain_cut` record saying what was cut off, and whether
/// bytes were still arriving when it stopped (those are neither decided
/// nor counted: the peer's kernel or ours held them).
async fn cut_off<R: AsyncRead + Unpin>(
    ctx: &Ctx,
    dir: Direction,
    codec: &mut FrameCodec,
    buf: &mut BytesMut,
    rd: &mut R,
) {
    let mut declined = 0u64;
    let mut read = 0usize;
    let until = Instant::now() + CUT_READ_FOR;
    let still_arriving = loop {
        while declined < CUT_MAX_MESSAGES {
            let Ok(Some(raw)) = codec.decode(buf) else {
                break;
            };
            refused(ctx, dir, raw, "drain_deadline");
            declined += 1;
        }
        if read >= CUT_READ_MAX || declined >= CUT_MAX_MESSAGES || Instant::now() >= until {
            break true;
        }
        if buf.capacity() - buf.len() < READ_BUFFER {
            buf.reserve(READ_BUFFER);
        }
        match tokio::time::timeout(CUT_READ_WAIT, rd.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => read += n,
            _ => break false,
        }
    };
    let side = match dir {
        Direction::Outbound => Side::Switch,
        Direction::Inbound => Side::Nlets,
    };
    if declined == 0 && buf.is_empty() {
        return;
    }
    tracing::warn!(link = %ctx.link.cfg.name, side = side.name(), declined, unread_bytes = buf.len(), still_arriving,
        "drain deadline: messages still arriving were declined and recorded");
    if let Some(log) = &ctx.shared.audit {
        let _ = log.append(&Event::DrainCut {
            link: ctx.link.cfg.name.clone(),
            side: side.name(),
            declined,
            unread_bytes: buf.len() as u64,
            still_arriving,
        });
    }
}

/// How a refused connection ends: `sessions_full` when it found no session
/// slot, `refused` when it was refused at accept.
fn refusal_end(why: Option<&'static str>) -> End {
    match why {
        Some("sessions_full") | Some("peer_sessions") => End::SessionsFull,
        _ => End::Refused,
    }
}

/// A message of a connection that will not be served (refused at accept,
/// or no session slot): decided, audited and recorded undelivered, like any
/// message read.
fn refused(ctx: &Ctx, dir: Direction, raw: Bytes, why: &'static str) {
    let policy = ctx.shared.policy.current();
    // Not forwarded whatever it is: decided without the court-order ledger,
    // so that a refused connection spends no use of an order.
    let d = decide_here(ctx, dir, raw, &policy, false);
    m::record_decision(&d, dir, &policy, 0.0);
    if let Some((seq, _)) = audit(ctx, &d, dir, &policy) {
        let side = match dir {
            Direction::Outbound => Side::Nlets,
            Direction::Inbound => Side::Switch,
        };
        undelivered(ctx, side, 1, seq.into_iter().collect(), why);
    }
}

/// Decides one message with the process's court-order ledger, and under
/// the shadow policy when one is configured (counted, never acted on).
fn decide_here(
    ctx: &Ctx,
    dir: Direction,
    raw: Bytes,
    policy: &Policy,
    with_ledger: bool,
) -> Decision {
    let now = std::time::SystemTime::now();
    let cx = Context {
        now,
        ledger: with_ledger.then_some(&*ctx.shared.ledger),
    };
    let shadow_raw = ctx.shared.shadow.as_ref().map(|_| raw.clone());
    let d = decide_in(dir, raw, policy, &ctx.shared.msg_limits, &cx);
    if let (Some(sh), Some(raw)) = (&ctx.shared.shadow, shadow_raw) {
        sh.observe(dir, raw, &d, policy, &ctx.shared.msg_limits, now);
    }
    d
}

/// Decides one message on the session's task, audits it, and queues what
/// is to be sent.
async fn handle(
    ctx: &Ctx,
    dir: Direction,
    raw: Bytes,
    mem: Held,
    metrics: &mut m::DecisionMetrics,
    forward: &mpsc::Sender<Out>,
    replies: &mpsc::Sender<Out>,
) -> Result<(), QueueClosed> {
    ctx.activity.store(now_ms(ctx.epoch), Ordering::Relaxed);
    let t0 = Instant::now();
    let policy = ctx.shared.policy.current();
    let d = decide_here(ctx, dir, raw, &policy, true);
    metrics.record(&d, &policy, t0.elapsed().as_secs_f64());
    deliver(ctx, dir, d, &policy, t0, mem, forward, replies).await
}

/// Audits a decision taken under `policy` and queues what is to be sent
/// (the message, or its decline reply).
#[allow(clippy::too_many_arguments)]
async fn deliver(
    ctx: &Ctx,
    dir: Direction,
    d: Decision,
    policy: &crate::policy::Policy,
    received: Instant,
    mem: Held,
    forward: &mpsc::Sender<Out>,
    replies: &mpsc::Sender<Out>,
) -> Result<(), QueueClosed> {
    if dir == Direction::Outbound
        && d.category != crate::decision::Category::Dropped
        && !ctx.learned.swap(true, Ordering::Relaxed)
    {
        // A valid message: its address is a known peer (quick start).
        ctx.link.learn(ctx.admission.peer);
    }
    outage_pace(ctx, forward).await;
    let Some((seq, wait)) = audit(ctx, &d, dir, policy) else {
        return Ok(());
    };
    let restricted = d.is_restricted();
    let (tx, bytes, side) = match d.outcome {
        Outcome::Forward(bytes) => match dir {
            Direction::Outbound => (forward, bytes, Side::Nlets),
            Direction::Inbound => (forward, bytes, Side::Switch),
        },
        Outcome::Deny { reply: Some(bytes) } => (replies, bytes, Side::Nlets),
        _ => return Ok(()),
    };
    let q = match side {
        Side::Switch => &ctx.q_switch,
        _ => &ctx.q_nlets,
    };
    let n = bytes
        .len()
        .clamp(1, ctx.shared.limits.queue_bytes.min(u32::MAX as usize));
    let Ok(queued) = committing(ctx, q.clone().acquire_many_owned(n as u32)).await else {
        return Err(QueueClosed);
    };
    let out = Out {
        bytes,
        seq,
        wait,
        restricted,
        received,
        _mem: mem,
        _queued: queued,
    };
    committing(ctx, tx.send(out))
        .await
        .map_err(|mpsc::error::SendError(out)| {
            undelivered(
                ctx,
                side,
                1,
                out.seq.into_iter().collect(),
                "session_closed",
            );
            QueueClosed
        })
}

/// During an audit outage a session queues at most this many messages per
/// direction before it decides more: each holds an audit record in memory
/// (`audit.max_held` is shared by every session), so a large `limits.queue`
/// does not fill it with a few sessions' backlogs.
const OUTAGE_QUEUE: usize = 16;

/// Waits, while the audit log is failing and `queue` already holds
/// [`OUTAGE_QUEUE`] messages, for it to recover or the queue to drain (checked
/// every 10 ms: an outage lasts at least one 50 ms retry).
async fn outage_pace(ctx: &Ctx, queue: &mpsc::Sender<Out>) {
    let Some(log) = &ctx.shared.audit else {
        return;
    };
    while !log.healthy()
        && queue.max_capacity() - queue.capacity() >= OUTAGE_QUEUE
        && !ctx.stop.is_cancelled()
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Awaits `fut`; if it has to wait, first asks the audit log to make the
/// records appended so far durable (`AuditLog::commit`): a session that
/// would wait has nothing more to add to the current group commit.
async fn committing<F: std::future::Future>(ctx: &Ctx, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut asked = false;
    std::future::poll_fn(|cx| {
        let p = fut.as_mut().poll(cx);
        if p.is_pending() && !asked {
            asked = true;
            if let Some(log) = &ctx.shared.audit {
                log.commit();
            }
        }
        p
    })
    .await
}

/// Appends the decision's audit record. `Some((seq, wait))`: forward, after
/// record `seq` is durable when `wait`. `None`: the message must not be
/// forwarded — the log cannot take the record (outage with its held buffer
/// full), or it is restricted traffic during an outage under
/// `on_failure = "restricted"`.
fn audit(
    ctx: &Ctx,
    d: &Decision,
    dir: Direction,
    policy: &crate::policy::Policy,
) -> Option<(Option<u64>, bool)> {
    let Some(log) = &ctx.shared.audit else {
        return Some((None, false));
    };
    let healthy = log.healthy();
    let rec = Body::decision(d, dir, policy, Some(&ctx.link.cfg.name));
    let appended = log.append_body(&rec);
    let restricted = d.is_restricted();
    match appended {
        Ok(seq) => {
            ctx.metrics.audit_records.increment(1);
            if healthy {
                return Some((Some(seq), log.mode() != SyncMode::None));
            }
            match ctx.shared.on_failure {
                // Held until the record is on disk.
                OnFailure::Stop => Some((Some(seq), true)),
                OnFailure::Restricted if !restricted => Some((Some(seq), false)),
                OnFailure::Restricted => {
                    counter!(m::DROPS, "direction" => dir.name(), "reason" => "audit_failed", "detail" => "").increment(1);
                    let side = match dir {
                        Direction::Outbound => Side::Nlets,
                        Direction::Inbound => Side::Switch,
                    };
                    undelivered(ctx, side, 1, vec![seq], "audit_failed");
                    None
                }
            }
        }
        Err(e) => {
            counter!(m::AUDIT_ERRORS).increment(1);
            counter!(m::DROPS, "direction" => dir.name(), "reason" => "audit_failed", "detail" => "").increment(1);
            tracing::debug!(error = %e, restricted, "audit record refused: message not forwarded");
            None
        }
    }
}

async fn writer<W: AsyncWrite + Unpin>(
    ctx: &Ctx,
    side: Side,
    mut rx: mpsc::Receiver<Out>,
    mut w: W,
) -> Option<End> {
    let mut durable = ctx.shared.audit.as_ref().map(|a| a.durable());
    let framing = ctx.link.cfg.framing;
    let mut buf = BytesMut::new();
    let mut batch: Vec<Out> = Vec::with_capacity(64);
    let write_timeout = ctx.shared.limits.message_timeout;
    let mut result = None;
    'outer: while let Some(first) = rx.recv().await {
        // Gather what is already queued into one write.
        let mut size = first.bytes.len();
        batch.push(first);
        while size < WRITE_BATCH && batch.len() < 64 {
            match rx.try_recv() {
                Ok(o) => {
                    size += o.bytes.len();
                    batch.push(o);
                }
                Err(_) => break,
            }
        }
        // Every record of the batch that must be durable first is. During an
        // audit outage this waits (the messages are held) until recovery.
        // Under `on_failure = "restricted"` an outage releases the
        // unrestricted messages already waiting.
        let must = batch.iter().filter(|o| o.wait).filter_map(|o| o.seq).max();
        let must_restricted = batch
            .iter()
            .filter(|o| o.wait && o.restricted)
            .filter_map(|o| o.seq)
            .max();
        if let (Some(_), Some(rx), Some(log)) = (must, durable.as_mut(), &ctx.shared.audit) {
            loop {
                let target = if ctx.shared.on_failure == OnFailure::Restricted && !log.healthy() {
                    must_restricted
                } else {
                    must
                };
                match target {
                    Some(seq) if *rx.borrow_and_update() <= seq => {}
                    _ => break,
                }
                // Whoever appended them may not be about to wait (a reader
                // finding more to read): this batch needs them now.
                log.commit();
                if rx.changed().await.is_err() {
                    result = Some(End::WriteFailed(side));
                    break 'outer;
                }
            }
        }
        // Frame headers and trailers go into `buf`; payloads are written
        // from their own `Bytes` with vectored writes (no copy of a photo).
        buf.clear();
        let mut parts: Vec<(usize, usize, usize)> = Vec::with_capacity(batch.len());
        let mut unframeable = Vec::new();
        for out in &batch {
            let (h, t) = match framing {
                Framing::Len4 => {
                    buf.extend_from_slice(&(out.bytes.len() as u32).to_be_bytes());
                    (4, 0)
                }
                Framing::StxEtx => {
                    if memchr::memchr2(crate::framing::STX, crate::framing::ETX, &out.bytes)
                        .is_some()
                    {
                        counter!(m::DROPS, "direction" => "any", "reason" => "unframeable", "detail" => "").increment(1);
                        parts.push((usize::MAX, 0, 0));
                        unframeable.extend(out.seq);
                        continue;
                    }
                    buf.extend_from_slice(&[crate::framing::STX]);
                    buf.extend_from_slice(&[crate::framing::ETX]);
                    (1, 1)
                }
            };
            parts.push((buf.len() - h - t, h, t));
        }
        let wrote = tokio::time::timeout(write_timeout, async {
            let mut slices: Vec<&[u8]> = Vec::with_capacity(batch.len() * 3);
            for (out, &(at, h, t)) in batch.iter().zip(&parts) {
                if at == usize::MAX {
                    continue;
                }
                slices.push(&buf[at..at + h]);
                slices.push(&out.bytes);
                if t > 0 {
                    slices.push(&buf[at + h..at + h + t]);
                }
            }
            write_all_vectored(&mut w, &slices).await?;
            w.flush().await?;
            Ok::<(), std::io::Error>(())
        })
        .await;
        let n_unframeable = unframeable.len() as u64;
        undelivered(ctx, side, n_unframeable, unframeable, "unframeable");
        let seqs: Vec<u64> = batch
            .iter()
            .zip(&parts)
            .filter(|(_, p)| p.0 != usize::MAX)
            .filter_map(|(o, _)| o.seq)
            .collect();
        match wrote {
            Ok(Ok(())) => {
                for out in batch.drain(..) {
                    ctx.metrics
                        .forward_seconds
                        .record(out.received.elapsed().as_secs_f64());
                }
                if let (Some(log), false) = (&ctx.shared.audit, seqs.is_empty()) {
                    // Not taken (outage, buffer full): the decisions stay
                    // "decided, delivery not recorded" — never overcounted.
                    if log
                        .append_body(&Body::written(&ctx.link.cfg.name, side.name(), &seqs))
                        .is_err()
                    {
                        counter!(m::AUDIT_ERRORS).increment(1);
                    }
                }
            }
            _ => {
                let n = batch.len() as u64 - n_unframeable;
                batch.clear();
                undelivered(ctx, side, n, seqs, "write_failed");
                result = Some(End::WriteFailed(side));
                break;
            }
        }
        if buf.capacity() > KEEP_WRITE_BUFFER {
            buf = BytesMut::new();
        }
    }
    // Tell the readers nothing more can be sent, then close our side.
    ctx.stop.cancel();
    let n = batch.len() as u64;
    let seqs = batch.drain(..).filter_map(|o| o.seq).collect();
    undelivered(ctx, side, n, seqs, "session_closed");
    undeliver_rest(ctx, side, &mut rx, "session_closed");
    let _ = tokio::time::timeout(Duration::from_secs(1), w.shutdown()).await;
    result
}

/// Writes every slice, in order, with as few system calls as the stream allows.
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    slices: &[&[u8]],
) -> std::io::Result<()> {
    let mut idx = 0;
    let mut off = 0;
    while idx < slices.len() {
        let mut io: Vec<std::io::IoSlice<'_>> = Vec::with_capacity((slices.len() - idx).min(64));
        io.push(std::io::IoSlice::new(&slices[idx][off..]));
        for s in slices[idx + 1..].iter().take(63) {
            io.push(std::io::IoSlice::new(s));
        }
        let mut n = w.write_vectored(&io).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while idx < slices.len() && n > 0 {
            let left = slices[idx].len() - off;
            if n >= left {
                n -= left;
                idx += 1;
                off = 0;
            } else {
                off += n;
                n = 0;
            }
        }
    }
    Ok(())
}
