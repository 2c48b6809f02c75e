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

//!
//! **Tasks.** The readers are joined in the session's task; each writer is
//! a task of its own ([`writer::spawned`]), aborted with the session. A
//! reader queueing for a writer joined into its own task would wake the
//! task it runs in, and tokio answers a task that wakes itself by waking an
//! idle worker thread: one more thread wake-up per lone message.
//!
//! **Rooms.** [`Handler`] is the one value a session's loops share (its
//! links, queues' byte bounds, stop token, admission); each loop named in
//! `specs/proxy.md` has its file: [`reader`] (frame, decide, audit, queue),
//! [`writer`] (wait for durability, frame, write, record `written`),
//! [`nlets`] (dial, then the Nlets reader and writer), [`cut_off`] (the
//! drain deadline), with [`admission`] (pending → session) and [`deliver`]
//! (audit before forward, undelivered records) beside them.

mod admission;
mod cut_off;
mod deliver;
mod nlets;
mod reader;
mod writer;

pub use admission::{Admission, Pending};

use super::budget::Held;
use super::shared::{Io, Link, Shared};
use crate::message::Direction;
use crate::runtime::config::Dial;
use crate::runtime::metrics as m;
use bytes::Bytes;
use metrics::counter;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Initial read buffer per direction; it grows for large messages. Small
/// enough that 1,000 idle sessions stay cheap.
const READ_BUFFER: usize = 8 * 1024;

/// How long a connection origuard will not serve (refused at accept, or no
/// session slot for its first message) is still read: every complete
/// message that arrives within it is declined with a record; then it is
/// closed.
pub const REFUSE_WINDOW: Duration = Duration::from_secs(1);

/// A message on its way to a writer.
pub(super) struct Out {
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

impl Side {
    /// The side a message travelling in `dir` is written to.
    fn toward(dir: Direction) -> Side {
        match dir {
            Direction::Outbound => Side::Nlets,
            Direction::Inbound => Side::Switch,
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

/// One session's handler (as mini-redis keeps a `Handler` per connection):
/// what its four loops share. Each loop borrows it; per-direction state
/// (buffers, metric handles, queue senders) lives in the loop's own value
/// ([`reader::Reader`], [`writer::Writer`]).
struct Handler {
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

impl Handler {
    /// Moves the connection from pending to session (see [`Admission`]).
    fn admit(&self) -> Result<(), &'static str> {
        self.admission
            .admit(&self.link, self.shared.limits.max_sessions_per_peer)
    }

    /// Notes traffic now (the idle timeout and the drain's quiet period).
    fn touch(&self) {
        self.activity.store(now_ms(self.epoch), Ordering::Relaxed);
    }

    /// Milliseconds since the last traffic.
    fn idle_ms(&self) -> u64 {
        now_ms(self.epoch).saturating_sub(self.activity.load(Ordering::Relaxed))
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
    let ctx = Arc::new(Handler {
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
            let e = reader::run(&ctx, Direction::Outbound, sr, fwd, rep).await;
            ctx.stop.cancel();
            e
        }
    };
    let nlets_side = nlets::run(&ctx, to_nlets_rx, to_switch, to_nlets);
    let (e_out, (e_nlets, w_n), w_s, e_first) = tokio::join!(
        out_reader,
        nlets_side,
        writer::spawned(ctx.clone(), Side::Switch, to_switch_rx, sw),
        first_message(&ctx)
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

/// The first-message timer: a pending connection that sends no complete
/// message in time (or, refused, stops being read after [`REFUSE_WINDOW`])
/// or whose place a known peer took ends here; `None` once admitted or
/// stopped otherwise.
async fn first_message(ctx: &Handler) -> Option<End> {
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
                Some(reader::refusal_end(ctx.admission.refused.get().copied()))
            } else {
                counter!(m::REFUSED, "link" => ctx.link.cfg.name.clone(), "reason" => "first_message_timeout").increment(1);
                ctx.stop.cancel();
                Some(End::FirstMessageTimeout)
            }
        }
    }
}

/// The writer toward a side has stopped (its peer stopped reading or the
/// session is closing): nothing more can be queued.
#[derive(Debug)]
struct QueueClosed;
