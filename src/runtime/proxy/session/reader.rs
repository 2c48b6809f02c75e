//! The reader loop (`specs/proxy.md`, *Inside a session*): reads one side,
//! splits frames, decides every message (on the session's own task, or on
//! the decision stage when there is one, taking decisions back in order),
//! audits it and queues what is to be sent ([`super::deliver`]).

use super::super::budget::{Held, BUDGET_WAIT};
use super::super::stage::{Decided, InFlight, WINDOW_PER_WORKER};
use super::cut_off::cut_off;
use super::deliver::{audit, committing, shed, undelivered};
use super::{End, Handler, Out, QueueClosed, Side, READ_BUFFER, REFUSE_WINDOW};
use crate::decision::{decide_in, Context, Decision};
use crate::framing::{FrameCodec, FrameError, Framing};
use crate::message::Direction;
use crate::policy::Policy;
use crate::runtime::metrics as m;
use bytes::{Bytes, BytesMut};
use metrics::counter;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;

/// One direction's reader: the session's [`Handler`], where decided
/// messages go, and what it keeps from message to message (metric handles,
/// the decision stage's in-flight messages, the audit record's buffer).
pub(super) struct Reader<'a> {
    pub(super) h: &'a Handler,
    pub(super) dir: Direction,
    /// The queue toward the far side (forwarded messages).
    pub(super) forward: mpsc::Sender<Out>,
    /// The Nlets queue (decline replies).
    pub(super) replies: mpsc::Sender<Out>,
    pub(super) metrics: m::DecisionMetrics,
    inflight: InFlight<Carry>,
    /// The bytes of the last audit record, reused for the next.
    pub(super) record: Vec<u8>,
}

/// What a message carries while the decision stage decides it.
struct Carry {
    /// The message (kept, cheaply, to decide it here if a worker died).
    raw: Bytes,
    mem: Held,
    received: Instant,
}

/// What one pass of the read loop saw.
enum Read {
    /// Bytes arrived (or none yet within the wait): read on.
    More,
    /// The reader is done.
    End(End),
}

/// Reads one side, decides every message (on the decision stage when there
/// is one, taking decisions back in order) and queues what is to be sent.
/// Whatever ends the reader, the messages already read are decided,
/// audited and queued, or recorded undelivered.
pub(super) async fn run<R: AsyncRead + Unpin>(
    h: &Handler,
    dir: Direction,
    rd: R,
    forward: mpsc::Sender<Out>,
    replies: mpsc::Sender<Out>,
) -> End {
    let window = h
        .shared
        .decisions
        .as_ref()
        .map_or(1, |p| p.workers() * WINDOW_PER_WORKER);
    let mut r = Reader {
        h,
        dir,
        forward,
        replies,
        metrics: m::DecisionMetrics::new(dir),
        inflight: InFlight::new(window),
        record: Vec::new(),
    };
    let end = r.read_loop(rd).await;
    while !r.inflight.is_empty() {
        let _ = r.finish_one().await;
    }
    end
}

impl Reader<'_> {
    /// This reader's side, and the one it writes toward.
    fn sides(&self) -> (Side, Side) {
        match self.dir {
            Direction::Outbound => (Side::Switch, Side::Nlets),
            Direction::Inbound => (Side::Nlets, Side::Switch),
        }
    }

    /// Takes the oldest in-flight decision back, audits and queues it.
    async fn finish_one(&mut self) -> Result<(), QueueClosed> {
        let (ctx, dir) = (self.h, self.dir);
        let Some((d, policy, c)) = committing(ctx, self.inflight.pop()).await else {
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
        self.metrics.record(&d.decision, &policy, d.seconds);
        // Decided without the ledger (the policy had no order then): the
        // ledger still learns every forwarded query's control field.
        crate::decision::court_order::note_forwarded(
            &d.decision,
            dir,
            &ctx.shared.ledger,
            std::time::SystemTime::now(),
        );
        self.deliver(d.decision, &policy, c.received, c.mem).await
    }

    /// One complete message: decided here, or submitted to the decision
    /// stage (taking the oldest back first when the session's window is
    /// full).
    async fn submit(&mut self, raw: Bytes, mem: Held) -> Result<(), QueueClosed> {
        let ctx = self.h;
        let Some(pool) = &ctx.shared.decisions else {
            return self.handle(raw, mem).await;
        };
        let policy = ctx.shared.policy.current();
        if !parallel_safe(ctx, &policy) {
            // Court-order uses and the shadow policy depend on the order of
            // decisions: finish those in flight, then decide this one here.
            while !self.inflight.is_empty() {
                self.finish_one().await?;
            }
            return self.handle(raw, mem).await;
        }
        if !self.inflight.has_room() {
            self.finish_one().await?;
        }
        ctx.touch();
        let received = Instant::now();
        let t = pool.submit(self.dir, raw.clone(), policy.clone(), ctx.shared.msg_limits);
        self.inflight.push(t, policy, Carry { raw, mem, received });
        Ok(())
    }

    /// Reads and decides until the connection ends or the session stops;
    /// at the drain deadline, declines and records what is still arriving
    /// ([`cut_off`]), however the reading stopped.
    async fn read_loop<R: AsyncRead + Unpin>(&mut self, mut rd: R) -> End {
        let ctx = self.h;
        let mut codec = FrameCodec::new(ctx.link.cfg.framing, ctx.shared.limits.max_message);
        let mut buf = BytesMut::new();
        let end = self.read_frames(&mut rd, &mut codec, &mut buf).await;
        let stopped = matches!(end, End::Drained | End::WriteFailed(_));
        if stopped && ctx.shared.cut.is_cancelled() && ctx.admission.refused.get().is_none() {
            cut_off(ctx, self.dir, &mut codec, &mut buf, &mut rd).await;
        }
        end
    }

    /// [`Reader::read_loop`]'s loop: `buf` is empty on entry.
    async fn read_frames<R: AsyncRead + Unpin>(
        &mut self,
        rd: &mut R,
        codec: &mut FrameCodec,
        buf: &mut BytesMut,
    ) -> End {
        let ctx = self.h;
        let (side, _) = self.sides();
        let Some(mut held) = ctx.shared.budget.take(READ_BUFFER, BUDGET_WAIT).await else {
            return shed(ctx, side);
        };
        *buf = BytesMut::with_capacity(READ_BUFFER);
        held.set(buf.capacity());
        let mut at = Pace::default();
        loop {
            if let Err(e) = self.decide_all(codec, buf, &mut held, &mut at).await {
                return e;
            }
            if let Err(e) = self.make_room(buf, &mut held).await {
                return e;
            }
            let (wait, draining) = match self.wait_for(buf, &at) {
                Ok(w) => w,
                Err(e) => return e,
            };
            match self
                .read_some(rd, codec, buf, (wait, draining), &mut at)
                .await
            {
                Read::More => {}
                Read::End(e) => return e,
            }
        }
    }

    /// Decides every complete message in `buf`.
    async fn decide_all(
        &mut self,
        codec: &mut FrameCodec,
        buf: &mut BytesMut,
        held: &mut Held,
        at: &mut Pace,
    ) -> Result<(), End> {
        let ctx = self.h;
        let (side, far) = self.sides();
        loop {
            match codec.decode(buf) {
                Ok(Some(raw)) => {
                    let mem = held.split(held.len().saturating_sub(buf.capacity()));
                    at.partial_since = None;
                    if let Err(why) = ctx.admit() {
                        // Declined with a record; read on (briefly) so
                        // that every message it sent is declined too.
                        refused(ctx, self.dir, raw, why);
                        at.declining
                            .get_or_insert_with(|| Instant::now() + REFUSE_WINDOW);
                        continue;
                    }
                    if self.submit(raw, mem).await.is_err() {
                        return Err(End::WriteFailed(far));
                    }
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(self.frame_error(&e, side)),
            }
        }
    }

    /// Counts and logs a framing error from `side`.
    fn frame_error(&self, e: &FrameError, side: Side) -> End {
        let dir = self.dir;
        counter!(m::FRAME_ERRORS, "direction" => dir.name(), "reason" => e.reason()).increment(1);
        tracing::warn!(link = %self.h.link.cfg.name, direction = dir.name(), error = %e, "framing error: closing session");
        End::FrameError(side)
    }

    /// Gives back a photo's worth of buffer once it is empty, and grows a
    /// full buffer with bytes taken from the process budget.
    async fn make_room(&self, buf: &mut BytesMut, held: &mut Held) -> Result<(), End> {
        let ctx = self.h;
        // A photo grows the read buffer; give the memory back once it is
        // empty, so 1,000 quiet sessions do not each hold a photo's worth.
        if buf.is_empty() && buf.capacity() > 2 * READ_BUFFER {
            *buf = BytesMut::with_capacity(READ_BUFFER);
        }
        held.set(buf.capacity());
        if buf.len() < buf.capacity() {
            return Ok(());
        }
        let lim = &ctx.shared.limits;
        let want = grow_target(buf, ctx.link.cfg.framing, lim.max_message, buf.capacity());
        // Growing copies into a new allocation while the old one is still
        // live: take the whole new size, give the old back after.
        let more = tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => return Err(End::Drained),
            h = ctx.shared.budget.take(want, BUDGET_WAIT) => h,
        };
        match more {
            Some(h) => held.merge(h),
            None => return Err(shed(ctx, self.sides().0)),
        }
        buf.reserve(want - buf.len());
        held.set(buf.capacity());
        Ok(())
    }

    /// How long the next read may wait, and whether the drain had begun
    /// then; `Err` when the reader is done (a quiet session at the drain,
    /// the end of a refusal window).
    fn wait_for(&self, buf: &BytesMut, at: &Pace) -> Result<(Duration, bool), End> {
        let ctx = self.h;
        let lim = &ctx.shared.limits;
        let mut wait = lim.message_timeout.min(lim.idle_timeout);
        let draining = ctx.shared.drain.is_cancelled();
        if draining && buf.is_empty() && self.inflight.is_empty() && at.declining.is_none() {
            // Draining: read on until the session is quiet both ways.
            let left =
                super::super::DRAIN_IDLE.saturating_sub(Duration::from_millis(ctx.idle_ms()));
            if left.is_zero() {
                return Err(End::Drained);
            }
            wait = wait.min(left);
        }
        if let Some(until) = at.declining {
            match until.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => wait = left,
                _ => return Err(refusal_end(ctx.admission.refused.get().copied())),
            }
        }
        Ok((wait, draining))
    }

    /// Reads once (at most `wait`; `draining`: the drain had begun when
    /// it was computed), while taking back decisions that come back
    /// meanwhile; says whether the reader goes on.
    async fn read_some<R: AsyncRead + Unpin>(
        &mut self,
        rd: &mut R,
        codec: &FrameCodec,
        buf: &mut BytesMut,
        (wait, draining): (Duration, bool),
        at: &mut Pace,
    ) -> Read {
        let ctx = self.h;
        let (_, far) = self.sides();
        let r = tokio::select! {
            biased;
            // Complete messages were all read above; stop here (the caller
            // finishes those in flight). At the drain deadline, what is
            // still arriving is declined and the cut recorded.
            _ = ctx.stop.cancelled() => return Read::End(End::Drained),
            // The drain began: recompute the wait (idle sessions end).
            _ = ctx.shared.drain.cancelled(), if !draining => return Read::More,
            // A decision came back: audit and queue it while reading on.
            _ = self.inflight.ready(), if !self.inflight.is_empty() => {
                return match self.finish_one().await {
                    Ok(()) => Read::More,
                    Err(QueueClosed) => Read::End(End::WriteFailed(far)),
                };
            }
            r = committing(ctx, tokio::time::timeout(wait, rd.read_buf(&mut *buf))) => r,
        };
        self.after_read(r, codec, buf, at)
    }

    /// What a read's result means for the reader.
    fn after_read(
        &self,
        r: Result<std::io::Result<usize>, tokio::time::error::Elapsed>,
        codec: &FrameCodec,
        buf: &BytesMut,
        at: &mut Pace,
    ) -> Read {
        let ctx = self.h;
        let lim = &ctx.shared.limits;
        let dir = self.dir;
        let (side, _) = self.sides();
        let refusal = || Read::End(refusal_end(ctx.admission.refused.get().copied()));
        match r {
            Err(_) if at.declining.is_some() => return refusal(),
            Ok(Ok(0)) if at.declining.is_some() && buf.is_empty() => return refusal(),
            Err(_) if !buf.is_empty() => match at.partial_since {
                Some(t) if t.elapsed() >= lim.message_timeout => {
                    counter!(m::FRAME_ERRORS, "direction" => dir.name(), "reason" => "message_timeout").increment(1);
                    return Read::End(End::MessageTimeout(side));
                }
                Some(_) => {}
                None => at.partial_since = Some(Instant::now()),
            },
            Err(_) => {
                at.partial_since = None;
                if Duration::from_millis(ctx.idle_ms()) >= lim.idle_timeout {
                    return Read::End(End::Idle);
                }
            }
            Ok(Ok(0)) if buf.is_empty() => {
                return Read::End(match dir {
                    Direction::Outbound => End::SwitchClosed,
                    Direction::Inbound => End::NletsClosed,
                })
            }
            Ok(Ok(0)) => {
                let e = FrameError::Truncated {
                    offset: codec.offset(),
                    have: buf.len(),
                };
                return Read::End(self.frame_error(&e, side));
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(link = %ctx.link.cfg.name, direction = dir.name(), error = %e, "read error");
                return Read::End(End::ReadError(side));
            }
        }
        Read::More
    }
}

/// A reader's clocks between passes.
#[derive(Default)]
struct Pace {
    /// When the buffer first held part of a message (slow senders are
    /// bounded by `message_timeout`, at most twice over).
    partial_since: Option<Instant>,
    /// Set once the connection is refused: read until then, declining.
    declining: Option<Instant>,
}

/// True when a message may be decided on the decision stage under `policy`:
/// the decision is then a pure function of the message and the policy. A
/// policy with court-order exceptions (a ledger of uses, spent in order) or
/// a configured shadow policy (counted per decision) is decided on the
/// session's task, in order.
fn parallel_safe(ctx: &Handler, policy: &Policy) -> bool {
    policy.exceptions.is_empty() && ctx.shared.shadow.is_none()
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

/// How a refused connection ends: `sessions_full` when it found no session
/// slot, `refused` when it was refused at accept.
pub(super) fn refusal_end(why: Option<&'static str>) -> End {
    match why {
        Some("sessions_full") | Some("peer_sessions") => End::SessionsFull,
        _ => End::Refused,
    }
}

/// A message of a connection that will not be served (refused at accept,
/// or no session slot): decided, audited and recorded undelivered, like any
/// message read.
pub(super) fn refused(ctx: &Handler, dir: Direction, raw: Bytes, why: &'static str) {
    let policy = ctx.shared.policy.current();
    // Not forwarded whatever it is: decided without the court-order ledger,
    // so that a refused connection spends no use of an order.
    let d = decide_here(ctx, dir, raw, &policy, false);
    // Rare (a connection not served): fresh metric handles and buffer.
    m::DecisionMetrics::new(dir).record(&d, &policy, 0.0);
    let mut back = Vec::new();
    if let Some((seq, _)) = audit(ctx, &d, dir, &policy, Vec::new(), &mut back) {
        undelivered(ctx, Side::toward(dir), 1, seq.into_iter().collect(), why);
    }
}

/// Decides one message with the process's court-order ledger, and under
/// the shadow policy when one is configured (counted, never acted on).
pub(super) fn decide_here(
    ctx: &Handler,
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
