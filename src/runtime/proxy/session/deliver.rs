//! Audit before forward (`specs/proxy.md`, *Audit before forward*): a
//! decision's record is appended before its message is queued, and every
//! message decided but not written gets an `undelivered` record.

use super::super::budget::Held;
use super::reader::Reader;
use super::{End, Handler, Out, QueueClosed, Side};
use crate::audit::line::Body;
use crate::audit::record::Event;
use crate::decision::{Decision, Outcome};
use crate::message::Direction;
use crate::policy::Policy;
use crate::runtime::audit_log::{OnFailure, SyncMode};
use crate::runtime::metrics as m;
use bytes::Bytes;
use metrics::counter;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Closes a queue and records everything still in it as undelivered.
pub(super) fn undeliver_rest(
    ctx: &Handler,
    side: Side,
    rx: &mut mpsc::Receiver<Out>,
    reason: &'static str,
) {
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
pub(super) fn undelivered(ctx: &Handler, side: Side, n: u64, seqs: Vec<u64>, reason: &'static str) {
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

/// The process buffer budget stayed exhausted: this side's reader gives up.
pub(super) fn shed(ctx: &Handler, side: Side) -> End {
    counter!(m::SHED, "link" => ctx.link.cfg.name.clone()).increment(1);
    tracing::warn!(link = %ctx.link.cfg.name, side = side.name(), used = ctx.shared.budget.used(),
        budget = ctx.shared.budget.limit(), "buffer budget exhausted: closing the session");
    End::Shed(side)
}

impl Reader<'_> {
    /// Decides one message on the session's task, audits it, and queues
    /// what is to be sent.
    pub(super) async fn handle(&mut self, raw: Bytes, mem: Held) -> Result<(), QueueClosed> {
        self.h.touch();
        let t0 = Instant::now();
        let policy = self.h.shared.policy.current();
        let d = super::reader::decide_here(self.h, self.dir, raw, &policy, true);
        self.metrics.record(&d, &policy, t0.elapsed().as_secs_f64());
        self.deliver(d, &policy, t0, mem).await
    }

    /// Audits a decision taken under `policy` and queues what is to be sent
    /// (the message, or its decline reply).
    pub(super) async fn deliver(
        &mut self,
        d: Decision,
        policy: &Arc<Policy>,
        received: Instant,
        mem: Held,
    ) -> Result<(), QueueClosed> {
        let (ctx, dir) = (self.h, self.dir);
        if dir == Direction::Outbound
            && d.category != crate::decision::Category::Dropped
            && !ctx.learned.swap(true, Ordering::Relaxed)
        {
            // A valid message: its address is a known peer (quick start).
            ctx.link.learn(ctx.admission.peer);
        }
        outage_pace(ctx, &self.forward).await;
        let record = std::mem::take(&mut self.record);
        let Some((seq, wait)) = audit(ctx, &d, dir, policy, record, &mut self.record) else {
            return Ok(());
        };
        let restricted = d.is_restricted();
        let (tx, bytes, side) = match d.outcome {
            Outcome::Forward(bytes) => match dir {
                Direction::Outbound => (&self.forward, bytes, Side::Nlets),
                Direction::Inbound => (&self.forward, bytes, Side::Switch),
            },
            Outcome::Deny { reply: Some(bytes) } => (&self.replies, bytes, Side::Nlets),
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
}

/// During an audit outage a session queues at most this many messages per
/// direction before it decides more: each holds an audit record in memory
/// (`audit.max_held` is shared by every session), so a large `limits.queue`
/// does not fill it with a few sessions' backlogs.
const OUTAGE_QUEUE: usize = 16;

/// Waits, while the audit log is failing and `queue` already holds
/// [`OUTAGE_QUEUE`] messages, for it to recover or the queue to drain (checked
/// every 10 ms: an outage lasts at least one 50 ms retry).
async fn outage_pace(ctx: &Handler, queue: &mpsc::Sender<Out>) {
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
pub(super) async fn committing<F: std::future::Future>(ctx: &Handler, fut: F) -> F::Output {
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

/// Appends the decision's audit record, encoded into `buf` (handed back in
/// `back` for the next record: no allocation per message). `Some((seq,
/// wait))`: forward, after record `seq` is durable when `wait`. `None`: the
/// message must not be forwarded — the log cannot take the record (outage
/// with its held buffer full), or it is restricted traffic during an outage
/// under `on_failure = "restricted"`.
pub(super) fn audit(
    ctx: &Handler,
    d: &Decision,
    dir: Direction,
    policy: &Policy,
    buf: Vec<u8>,
    back: &mut Vec<u8>,
) -> Option<(Option<u64>, bool)> {
    let Some(log) = &ctx.shared.audit else {
        *back = buf;
        return Some((None, false));
    };
    let healthy = log.healthy();
    let rec = Body::decision_in(buf, d, dir, policy, Some(&ctx.link.cfg.name));
    let appended = log.append_body(&rec);
    *back = rec.into_vec();
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
                    undelivered(ctx, Side::toward(dir), 1, vec![seq], "audit_failed");
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
