//! One session: the switch's connection and our connection to Nlets, two
//! readers that decide every message, two writers that forward them.
//!
//! ```text
//!  switch ──read──▶ [decide outbound] ──queue──▶ write ──▶ Nlets
//!  switch ◀──write── queue ◀── [decide inbound] ◀──read── Nlets
//!                                   └─ decline replies ─▶ (Nlets queue)
//! ```
//!
//! Queues are bounded (`limits.queue` messages per direction), so a slow
//! reader on one side stops us reading the other: memory stays bounded.
//! A message's audit record is appended before it is queued, and the writer
//! waits until that record is durable before writing (group commit keeps
//! this pipelined). The policy is read once per message from the store, so a
//! reload applies to the next message of every live session.

use super::shared::{Link, Shared};
use crate::audit::record::{DecisionRecord, Event};
use crate::decision::{decide, Decision, Outcome};
use crate::framing::{FrameCodec, Framing};
use crate::message::Direction;
use crate::runtime::audit_log::SyncMode;
use crate::runtime::metrics as m;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use metrics::{counter, histogram};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, FramedRead};
use tokio_util::sync::CancellationToken;

/// A byte stream (TCP or TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Initial read buffer per direction; it grows for large messages. Small
/// enough that 1,000 idle sessions stay cheap.
const READ_BUFFER: usize = 8 * 1024;
/// Most bytes a writer gathers from its queue into one write.
const WRITE_BATCH: usize = 256 * 1024;
/// A write buffer larger than this is released after use.
const KEEP_WRITE_BUFFER: usize = 64 * 1024;

/// A message on its way to a writer.
struct Out {
    bytes: Bytes,
    /// Audit record that must be durable first.
    seq: Option<u64>,
    /// When the message was fully received.
    received: Instant,
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

impl End {
    /// The side that caused the ending, when known.
    pub fn side(self) -> Side {
        match self {
            End::SwitchClosed => Side::Switch,
            End::NletsClosed => Side::Nlets,
            End::Idle | End::Drained => Side::Internal,
            End::FrameError(s)
            | End::MessageTimeout(s)
            | End::ReadError(s)
            | End::WriteFailed(s) => s,
        }
    }

    /// Label.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

fn now_ms(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

struct Ctx {
    shared: Arc<Shared>,
    link: Arc<Link>,
    stop: CancellationToken,
    epoch: Instant,
    activity: AtomicU64,
}

/// Runs a session until one side closes (or shutdown), flushing what was
/// already decided.
pub async fn run(
    shared: Arc<Shared>,
    link: Arc<Link>,
    switch: Box<dyn Io>,
    nlets: Box<dyn Io>,
) -> End {
    let (sr, sw) = tokio::io::split(switch);
    let (nr, nw) = tokio::io::split(nlets);
    let q = shared.limits.queue;
    let (to_nlets, to_nlets_rx) = mpsc::channel::<Out>(q);
    let (to_switch, to_switch_rx) = mpsc::channel::<Out>(q);
    let ctx = Arc::new(Ctx {
        stop: shared.drain.child_token(),
        shared,
        link,
        epoch: Instant::now(),
        activity: AtomicU64::new(0),
    });
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
    let in_reader = {
        let ctx = ctx.clone();
        async move {
            let e = reader(&ctx, Direction::Inbound, nr, to_switch, to_nlets).await;
            ctx.stop.cancel();
            e
        }
    };
    let (e_out, e_in, w_n, w_s) = tokio::join!(
        out_reader,
        in_reader,
        writer(&ctx, Side::Nlets, to_nlets_rx, nw),
        writer(&ctx, Side::Switch, to_switch_rx, sw)
    );
    // The first real cause wins; "stopped" readers only followed it.
    for e in [w_n, w_s, Some(e_out), Some(e_in)].into_iter().flatten() {
        if e != End::Drained {
            return e;
        }
    }
    End::Drained
}

async fn reader<R: AsyncRead + Unpin>(
    ctx: &Ctx,
    dir: Direction,
    rd: R,
    forward: mpsc::Sender<Out>,
    replies: mpsc::Sender<Out>,
) -> End {
    let lim = &ctx.shared.limits;
    let codec = FrameCodec::new(ctx.link.cfg.framing, lim.max_message);
    let mut framed = FramedRead::with_capacity(rd, codec, READ_BUFFER);
    let (closed, side, far) = match dir {
        Direction::Outbound => (End::SwitchClosed, Side::Switch, Side::Nlets),
        Direction::Inbound => (End::NletsClosed, Side::Nlets, Side::Switch),
    };
    // When the buffer first held part of a message (slow senders are
    // bounded by message_timeout, at most twice over).
    let mut partial_since: Option<Instant> = None;
    loop {
        let wait = lim.message_timeout.min(lim.idle_timeout);
        let next = tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => {
                // Finish the complete messages already received, then stop.
                let mut codec = framed.decoder().clone();
                while let Ok(Some(raw)) = codec.decode(framed.read_buffer_mut()) {
                    if handle(ctx, dir, raw, &forward, &replies).await.is_err() {
                        return End::WriteFailed(far);
                    }
                }
                return End::Drained;
            }
            r = tokio::time::timeout(wait, framed.next()) => r,
        };
        let raw = match next {
            Err(_) if !framed.read_buffer().is_empty() => {
                match partial_since {
                    Some(t) if t.elapsed() >= lim.message_timeout => {
                        counter!(m::FRAME_ERRORS, "direction" => dir.name(), "reason" => "message_timeout").increment(1);
                        return End::MessageTimeout(side);
                    }
                    Some(_) => {}
                    None => partial_since = Some(Instant::now()),
                }
                continue;
            }
            Err(_) => {
                partial_since = None;
                let idle_for =
                    now_ms(ctx.epoch).saturating_sub(ctx.activity.load(Ordering::Relaxed));
                if Duration::from_millis(idle_for) >= lim.idle_timeout {
                    return End::Idle;
                }
                continue;
            }
            Ok(None) => return closed,
            Ok(Some(Err(crate::framing::FrameError::Io(e)))) => {
                tracing::debug!(link = %ctx.link.cfg.name, direction = dir.name(), error = %e, "read error");
                return End::ReadError(side);
            }
            Ok(Some(Err(e))) => {
                counter!(m::FRAME_ERRORS, "direction" => dir.name(), "reason" => e.reason())
                    .increment(1);
                tracing::warn!(link = %ctx.link.cfg.name, direction = dir.name(), error = %e, "framing error: closing session");
                return End::FrameError(side);
            }
            Ok(Some(Ok(raw))) => raw,
        };
        partial_since = None;
        // A photo grows the read buffer; give the memory back once it is
        // empty, so 1,000 quiet sessions do not each hold a photo's worth.
        if framed.read_buffer().is_empty() && framed.read_buffer().capacity() > 2 * READ_BUFFER {
            *framed.read_buffer_mut() = BytesMut::with_capacity(READ_BUFFER);
        }
        if handle(ctx, dir, raw, &forward, &replies).await.is_err() {
            return End::WriteFailed(far);
        }
    }
}

/// The writer toward a side has stopped (its peer stopped reading or the
/// session is closing): nothing more can be queued.
#[derive(Debug)]
struct QueueClosed;

/// Decides one message, audits it, and queues what is to be sent.
async fn handle(
    ctx: &Ctx,
    dir: Direction,
    raw: Bytes,
    forward: &mpsc::Sender<Out>,
    replies: &mpsc::Sender<Out>,
) -> Result<(), QueueClosed> {
    ctx.activity.store(now_ms(ctx.epoch), Ordering::Relaxed);
    let t0 = Instant::now();
    let policy = ctx.shared.policy.current();
    let d = decide(dir, raw, &policy, &ctx.shared.msg_limits);
    m::record_decision(&d, dir, &policy, t0.elapsed().as_secs_f64());
    let Ok(seq) = audit(ctx, &d, dir, &policy) else {
        return Ok(());
    };
    let sent = match d.outcome {
        Outcome::Forward(bytes) => {
            forward
                .send(Out {
                    bytes,
                    seq,
                    received: t0,
                })
                .await
        }
        Outcome::Deny { reply: Some(bytes) } => {
            replies
                .send(Out {
                    bytes,
                    seq,
                    received: t0,
                })
                .await
        }
        _ => Ok(()),
    };
    sent.map_err(|_| QueueClosed)
}

/// Appends the decision's audit record. `Ok(Some(seq))`: the writer must
/// wait for it to be durable. `Err(())`: the record could not be written and
/// the message must not be forwarded (restricted traffic stops when the audit
/// log fails; unrestricted pass-through continues, counted).
fn audit(
    ctx: &Ctx,
    d: &Decision,
    dir: Direction,
    policy: &crate::policy::Policy,
) -> Result<Option<u64>, ()> {
    let Some(log) = &ctx.shared.audit else {
        return Ok(None);
    };
    let rec = Event::Decision(Box::new(DecisionRecord::of(
        d,
        dir,
        policy,
        Some(&ctx.link.cfg.name),
    )));
    match log.append(&rec) {
        Ok(seq) => {
            counter!(m::AUDIT_RECORDS).increment(1);
            Ok((log.mode() != SyncMode::None).then_some(seq))
        }
        Err(e) => {
            counter!(m::AUDIT_ERRORS).increment(1);
            metrics::gauge!(m::AUDIT_HEALTHY).set(0.0);
            let restricted = d.is_restricted();
            metrics::gauge!(m::READY).set(0.0);
            tracing::error!(error = %e, restricted, "AUDIT LOG FAILED: restricted traffic is not forwarded");
            if restricted {
                counter!(m::DROPS, "direction" => dir.name(), "reason" => "audit_failed", "detail" => "").increment(1);
                Err(())
            } else {
                Ok(None)
            }
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
        // Every record of the batch must be durable first.
        if let (Some(seq), Some(rx)) = (batch.iter().filter_map(|o| o.seq).max(), durable.as_mut())
        {
            loop {
                if *rx.borrow_and_update() > seq {
                    break;
                }
                if let Some(log) = &ctx.shared.audit {
                    if !log.healthy() {
                        result = Some(End::WriteFailed(side));
                        break 'outer;
                    }
                }
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
        match wrote {
            Ok(Ok(())) => {
                for out in batch.drain(..) {
                    histogram!(m::FORWARD_SECONDS).record(out.received.elapsed().as_secs_f64());
                }
            }
            _ => {
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
    drop(rx);
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
