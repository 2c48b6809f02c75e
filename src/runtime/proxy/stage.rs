//! The ordered parallel decision stage: a small pool of threads that run the
//! pure [`decide`] for every session, so one busy session is not bound to
//! one core. It only computes: each session submits its messages in order,
//! keeps the tickets in a bounded FIFO and takes the decisions back in that
//! same order ([`InFlight`]), then audits and queues them itself — the
//! audit-before-forward and exactly-once rules of `specs/proxy.md` stay in
//! the session, untouched by the pool.
//!
//! **Bounded.** Each worker has a bounded queue ([`WORKER_QUEUE`] jobs); a
//! session has at most its window of messages in flight. When every worker
//! queue is full the session decides the message itself (the caller runs
//! it), so submitting never waits and never grows memory.

use crate::decision::ledger::Ledger;
use crate::decision::{decide_in, Context, Decision};
use crate::message::Direction;
use crate::policy::Policy;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

/// Jobs waiting per worker before submitters decide inline.
pub const WORKER_QUEUE: usize = 64;
/// Messages one session may have in flight per worker.
pub const WINDOW_PER_WORKER: usize = 4;

/// A decision and how long it took (seconds), for the metrics.
pub struct Decided {
    /// The decision.
    pub decision: Decision,
    /// Time spent in [`decide`], seconds.
    pub seconds: f64,
}

fn timed_decide(
    dir: Direction,
    raw: Bytes,
    policy: &Policy,
    limits: &crate::message::Limits,
    ledger: Option<&Ledger>,
) -> Decided {
    let t = Instant::now();
    // The ledger is asked which control fields were sent (and learns the
    // forwarded queries); a policy decided here has no court order.
    let cx = Context {
        now: std::time::SystemTime::now(),
        ledger,
    };
    let decision = decide_in(dir, raw, policy, limits, &cx);
    Decided {
        decision,
        seconds: t.elapsed().as_secs_f64(),
    }
}

struct Job {
    dir: Direction,
    raw: Bytes,
    policy: Arc<Policy>,
    limits: crate::message::Limits,
    done: oneshot::Sender<Decided>,
}

/// The worker threads, shared by every session of the process. Dropping the
/// pool ends them once their queues are empty.
pub struct DecisionPool {
    workers: Vec<SyncSender<Job>>,
    next: AtomicUsize,
    ledger: Option<Arc<Ledger>>,
}

impl DecisionPool {
    /// A pool of `n` worker threads (at least one), deciding with the
    /// process's `ledger`.
    pub fn new(n: usize, ledger: Option<Arc<Ledger>>) -> std::io::Result<DecisionPool> {
        let mut workers = Vec::with_capacity(n.max(1));
        for i in 0..n.max(1) {
            let (tx, rx) = sync_channel::<Job>(WORKER_QUEUE);
            let l = ledger.clone();
            std::thread::Builder::new()
                .name(format!("origuard-decide-{i}"))
                .spawn(move || {
                    while let Ok(j) = rx.recv() {
                        let d = timed_decide(j.dir, j.raw, &j.policy, &j.limits, l.as_deref());
                        // The session may have gone: its decision is dropped
                        // with it (nothing was audited or forwarded).
                        let _ = j.done.send(d);
                    }
                })?;
            workers.push(tx);
        }
        Ok(DecisionPool {
            workers,
            next: AtomicUsize::new(0),
            ledger,
        })
    }

    /// Worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Hands one message to a worker (round robin, skipping full queues);
    /// decides it on the caller's thread when every queue is full.
    pub fn submit(
        &self,
        dir: Direction,
        raw: Bytes,
        policy: Arc<Policy>,
        limits: crate::message::Limits,
    ) -> Ticket {
        let (tx, rx) = oneshot::channel();
        let mut job = Job {
            dir,
            raw,
            policy,
            limits,
            done: tx,
        };
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for k in 0..self.workers.len() {
            let w = &self.workers[(start + k) % self.workers.len()];
            match w.try_send(job) {
                Ok(()) => return Ticket::Waiting(rx),
                Err(TrySendError::Full(j)) | Err(TrySendError::Disconnected(j)) => job = j,
            }
        }
        Ticket::Ready(Some(Box::new(timed_decide(
            job.dir,
            job.raw,
            &job.policy,
            &job.limits,
            self.ledger.as_deref(),
        ))))
    }
}

/// A submitted message's decision, to be taken back in order.
pub enum Ticket {
    /// Decided on the caller's thread (taken once; boxed: a decision is
    /// large and most tickets are waiting).
    Ready(Option<Box<Decided>>),
    /// Being decided by a worker.
    Waiting(oneshot::Receiver<Decided>),
}

impl Ticket {
    /// The decision; `None` only if a worker thread died (a bug in
    /// `decide`: the message is then neither audited nor forwarded).
    pub async fn wait(&mut self) -> Option<Decided> {
        match self {
            Ticket::Ready(d) => d.take().map(|b| *b),
            Ticket::Waiting(rx) => rx.await.ok(),
        }
    }
}

/// One session direction's messages in flight, oldest first, with what
/// each carries along until it is audited and queued.
pub struct InFlight<T> {
    q: VecDeque<(Ticket, Arc<Policy>, T)>,
    window: usize,
}

impl<T> InFlight<T> {
    /// A FIFO of at most `window` messages.
    pub fn new(window: usize) -> InFlight<T> {
        InFlight {
            q: VecDeque::with_capacity(window.max(1)),
            window: window.max(1),
        }
    }

    /// True when another message may be submitted without taking one back.
    pub fn has_room(&self) -> bool {
        self.q.len() < self.window
    }

    /// Nothing in flight.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Messages in flight.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// Appends a submitted message.
    pub fn push(&mut self, t: Ticket, policy: Arc<Policy>, carry: T) {
        self.q.push_back((t, policy, carry));
    }

    /// Waits for the oldest message's decision without removing it: safe to
    /// cancel (in a `select!`); call [`InFlight::pop`] once it is ready.
    pub async fn ready(&mut self) {
        if let Some((Ticket::Waiting(rx), _, _)) = self.q.front_mut() {
            // Turn a finished receiver into a ready ticket so the result is
            // kept if the caller's select moves on.
            let r = rx.await.ok();
            if let Some(front) = self.q.front_mut() {
                front.0 = Ticket::Ready(r.map(Box::new));
            }
        }
    }

    /// Takes the oldest message back, waiting for its decision.
    pub async fn pop(&mut self) -> Option<(Option<Decided>, Arc<Policy>, T)> {
        let (mut t, p, c) = self.q.pop_front()?;
        let d = t.wait().await;
        Some((d, p, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Arc<Policy> {
        Arc::new(
            crate::runtime::policy_store::load_path(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/deploy/policy/colorado.toml"
            ))
            .unwrap(),
        )
    }

    /// Decisions come back in submission order and equal the inline ones,
    /// whatever the pool size, including when queues overflow to inline.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ordered_and_identical_to_inline() {
        let p = policy();
        let lim = crate::message::Limits::default();
        let mut g = crate::capture::gen::Generator::new(2, crate::capture::gen::Mix::default());
        let msgs: Vec<Bytes> = (0..300).map(|i| g.message(i % 2 == 0)).collect();
        for n in [1, 2, 4] {
            let pool = DecisionPool::new(n, None).unwrap();
            let mut fl: InFlight<usize> = InFlight::new(1000);
            for (i, m) in msgs.iter().enumerate() {
                let t = pool.submit(Direction::Outbound, m.clone(), p.clone(), lim);
                fl.push(t, p.clone(), i);
            }
            let mut i = 0;
            while let Some((d, _, idx)) = fl.pop().await {
                assert_eq!(idx, i);
                let want = crate::decision::decide(
                    Direction::Outbound,
                    msgs[i].clone(),
                    &p,
                    &lim,
                    std::time::SystemTime::now(),
                );
                let got = d.unwrap().decision;
                assert_eq!(got.outcome, want.outcome, "message {i} with {n} workers");
                assert_eq!(got.category, want.category);
                i += 1;
            }
            assert_eq!(i, msgs.len());
        }
    }

    /// `ready` can be cancelled and resumed without losing a decision.
    #[tokio::test]
    async fn ready_is_cancel_safe() {
        let p = policy();
        let pool = DecisionPool::new(1, None).unwrap();
        let mut fl: InFlight<()> = InFlight::new(2);
        let m = Bytes::from_static(b"DQ.AZNLETS20.CO.TXT\nNAM/DOE,JANE.DOB/19800115");
        fl.push(
            pool.submit(Direction::Inbound, m, p.clone(), Default::default()),
            p,
            (),
        );
        assert!(fl.has_room());
        tokio::select! {
            biased;
            _ = std::future::ready(()) => {}
            _ = fl.ready() => {}
        }
        fl.ready().await;
        let (d, _, ()) = fl.pop().await.unwrap();
        assert!(d.is_some());
        assert!(fl.is_empty());
    }
}
