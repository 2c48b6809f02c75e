//! The writer loop (`specs/proxy.md`, *Inside a session*): takes what is
//! queued toward one side (up to 64 messages, and no more once 256 KiB are
//! gathered), waits until their audit records are durable, frames them
//! (`framing::wrap`) and writes them in one vectored write from their own
//! buffers, then appends a `written` record for them.
//!
//! In steady state a batch allocates nothing: the batch, its frames, its
//! sequence numbers and the `written` record's bytes live in buffers the
//! writer keeps, and the vectored write's slices on its stack
//! (`tests/alloc_per_message.rs`).

use super::deliver::{undeliver_rest, undelivered};
use super::{End, Handler, Out, Side};
use crate::audit::line::Body;
use crate::framing::{wrap, Wrap};
use crate::runtime::audit_log::OnFailure;
use crate::runtime::metrics as m;
use metrics::counter;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio_util::task::AbortOnDropHandle;

/// Most bytes a writer gathers from its queue into one write.
const WRITE_BATCH: usize = 256 * 1024;
/// Most messages a writer gathers into one write.
const WRITE_MESSAGES: usize = 64;
/// Most slices one `writev` is given (a frame is up to three).
const IO_SLICES: usize = 64;

/// One side's writer and the buffers it keeps from batch to batch.
struct Writer<'a> {
    h: &'a Handler,
    side: Side,
    /// The messages of the batch being written.
    batch: Vec<Out>,
    /// Each message's frame; `None`: it cannot be framed (dropped).
    wraps: Vec<Option<Wrap>>,
    /// The sequence numbers the `written` record names.
    seqs: Vec<u64>,
    /// The `written` record's bytes, reused.
    record: Vec<u8>,
}

/// Writes what is queued toward `side` until the queue closes or a write
/// fails; then records what was left undelivered and closes our side.
pub(super) async fn run<W: AsyncWrite + Unpin>(
    h: &Handler,
    side: Side,
    mut rx: mpsc::Receiver<Out>,
    mut w: W,
) -> Option<End> {
    let mut durable = h.shared.audit.as_ref().map(|a| a.durable());
    let mut wr = Writer {
        h,
        side,
        batch: Vec::with_capacity(WRITE_MESSAGES),
        wraps: Vec::with_capacity(WRITE_MESSAGES),
        seqs: Vec::with_capacity(WRITE_MESSAGES),
        record: Vec::new(),
    };
    let mut result = None;
    while let Some(first) = rx.recv().await {
        if h.shared.hard_stop.is_cancelled() {
            // The session was dropped (hard stop) while this task was
            // being polled: nothing more is written.
            wr.batch.push(first);
            break;
        }
        wr.gather(first, &mut rx);
        if let Some(rx) = durable.as_mut() {
            if wr.wait_durable(rx).await.is_err() {
                result = Some(End::WriteFailed(side));
                break;
            }
        }
        if h.shared.hard_stop.is_cancelled() {
            break;
        }
        if wr.write_batch(&mut w).await.is_err() {
            result = Some(End::WriteFailed(side));
            break;
        }
    }
    // Tell the readers nothing more can be sent, then close our side.
    h.stop.cancel();
    let n = wr.batch.len() as u64;
    let seqs = wr.batch.drain(..).filter_map(|o| o.seq).collect();
    undelivered(h, side, n, seqs, "session_closed");
    undeliver_rest(h, side, &mut rx, "session_closed");
    let _ = tokio::time::timeout(Duration::from_secs(1), w.shutdown()).await;
    result
}

/// [`run`] as a task of its own. A reader that queues a message then wakes
/// another task, which the runtime runs next on the same thread; a writer
/// joined into the reader's own task would be a task waking itself, which
/// the runtime treats as a yield and answers by waking an idle worker
/// thread — one more thread wake-up per message alone.
pub(super) async fn spawned<W: AsyncWrite + Unpin + Send + 'static>(
    h: Arc<Handler>,
    side: Side,
    rx: mpsc::Receiver<Out>,
    w: W,
) -> Option<End> {
    // Aborted when the session is dropped (the hard stop after a drain
    // deadline). An abort takes effect when the task next waits, so a
    // poll already running on another thread may finish its batch (the
    // loop checks `hard_stop` before each): tracked, so that shutdown
    // closes the audit log only once the task is gone and that batch's
    // `written` record was taken.
    let (stop, tasks) = (h.stop.clone(), h.shared.tasks.clone());
    let task = tasks.spawn(async move { run(&h, side, rx, w).await });
    match AbortOnDropHandle::new(task).await {
        Ok(end) => end,
        Err(_) => {
            // It panicked: nothing more is written to this side, and the
            // session stops (the readers would otherwise go on deciding
            // for a side nobody writes to).
            stop.cancel();
            Some(End::WriteFailed(side))
        }
    }
}

/// The queue's sender side is gone (the session is closing).
struct Closed;

impl Writer<'_> {
    /// Takes `first` and what is already queued behind it into the batch.
    fn gather(&mut self, first: Out, rx: &mut mpsc::Receiver<Out>) {
        let mut size = first.bytes.len();
        self.batch.push(first);
        while size < WRITE_BATCH && self.batch.len() < WRITE_MESSAGES {
            match rx.try_recv() {
                Ok(o) => {
                    size += o.bytes.len();
                    self.batch.push(o);
                }
                Err(_) => break,
            }
        }
    }

    /// Waits until every record of the batch that must be durable first
    /// is. During an audit outage this waits (the messages are held) until
    /// recovery; under `on_failure = "restricted"` an outage releases the
    /// unrestricted messages already waiting.
    async fn wait_durable(&self, rx: &mut watch::Receiver<u64>) -> Result<(), Closed> {
        let Some(log) = &self.h.shared.audit else {
            return Ok(());
        };
        let waiting = || self.batch.iter().filter(|o| o.wait);
        let must = waiting().filter_map(|o| o.seq).max();
        if must.is_none() {
            return Ok(());
        }
        let must_restricted = waiting()
            .filter(|o| o.restricted)
            .filter_map(|o| o.seq)
            .max();
        loop {
            let target = if self.h.shared.on_failure == OnFailure::Restricted && !log.healthy() {
                must_restricted
            } else {
                must
            };
            match target {
                Some(seq) if *rx.borrow_and_update() <= seq => {}
                _ => return Ok(()),
            }
            // Whoever appended them may not be about to wait (a reader
            // finding more to read): this batch needs them now.
            log.commit();
            if rx.changed().await.is_err() {
                return Err(Closed);
            }
        }
    }

    /// Frames and writes the batch, then records it `written` (or, when the
    /// write fails or times out, `undelivered`, and `Err`).
    async fn write_batch<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> Result<(), Closed> {
        let (h, side) = (self.h, self.side);
        let framing = h.link.cfg.framing;
        self.wraps.clear();
        let mut unframeable = Vec::new();
        for out in &self.batch {
            let framed = wrap(framing, &out.bytes).ok();
            if framed.is_none() {
                counter!(m::DROPS, "direction" => "any", "reason" => "unframeable", "detail" => "")
                    .increment(1);
                unframeable.extend(out.seq);
            }
            self.wraps.push(framed);
        }
        let wrote = tokio::time::timeout(h.shared.limits.message_timeout, async {
            write_all_vectored(w, &self.batch, &self.wraps).await?;
            w.flush().await
        })
        .await;
        let n_unframeable = unframeable.len() as u64;
        undelivered(h, side, n_unframeable, unframeable, "unframeable");
        self.seqs.clear();
        for (o, f) in self.batch.iter().zip(&self.wraps) {
            if let (Some(seq), Some(_)) = (o.seq, f) {
                self.seqs.push(seq);
            }
        }
        if !matches!(wrote, Ok(Ok(()))) {
            let n = self.batch.len() as u64 - n_unframeable;
            self.batch.clear();
            undelivered(h, side, n, std::mem::take(&mut self.seqs), "write_failed");
            return Err(Closed);
        }
        for out in self.batch.drain(..) {
            h.metrics
                .forward_seconds
                .record(out.received.elapsed().as_secs_f64());
        }
        self.record_written();
        Ok(())
    }

    /// Appends the `written` record of the batch just written.
    fn record_written(&mut self) {
        let Some(log) = &self.h.shared.audit else {
            return;
        };
        if self.seqs.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut self.record);
        let body = Body::written_in(buf, &self.h.link.cfg.name, self.side.name(), &self.seqs);
        // Not taken (outage, buffer full): the decisions stay "decided,
        // delivery not recorded" — never overcounted.
        if log.append_body(&body).is_err() {
            counter!(m::AUDIT_ERRORS).increment(1);
        }
        self.record = body.into_vec();
    }
}

/// The `k`th slice of the batch's frames: head, message, tail of each
/// message in turn (all empty for a message that cannot be framed).
fn piece<'b>(batch: &'b [Out], wraps: &'b [Option<Wrap>], k: usize) -> &'b [u8] {
    let Some(f) = &wraps[k / 3] else {
        return &[];
    };
    match k % 3 {
        0 => f.head(),
        1 => &batch[k / 3].bytes,
        _ => f.tail(),
    }
}

/// Writes every frame of the batch, in order, with as few system calls as
/// the stream allows; the slices are built on the stack (no allocation).
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    batch: &[Out],
    wraps: &[Option<Wrap>],
) -> std::io::Result<()> {
    let n = batch.len() * 3;
    let (mut k, mut off) = (0, 0);
    loop {
        while k < n && off >= piece(batch, wraps, k).len() {
            k += 1;
            off = 0;
        }
        if k == n {
            return Ok(());
        }
        let mut io = [IoSlice::new(&[]); IO_SLICES];
        io[0] = IoSlice::new(&piece(batch, wraps, k)[off..]);
        let mut used = 1;
        for j in k + 1..n {
            if used == IO_SLICES {
                break;
            }
            let p = piece(batch, wraps, j);
            if !p.is_empty() {
                io[used] = IoSlice::new(p);
                used += 1;
            }
        }
        let mut wrote = w.write_vectored(&io[..used]).await?;
        if wrote == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while k < n && wrote > 0 {
            let left = piece(batch, wraps, k).len() - off;
            if wrote >= left {
                wrote -= left;
                k += 1;
                off = 0;
            } else {
                off += wrote;
                wrote = 0;
            }
        }
    }
}
