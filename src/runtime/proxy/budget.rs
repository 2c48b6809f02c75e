//! The process-wide budget for buffered message bytes (partial frames in
//! read buffers and decided messages in queues): readers take from it before
//! growing a buffer, and what they take travels with the message until it is
//! written. When the budget is spent a reader waits (backpressure: it stops
//! reading its socket); a reader that cannot get memory within
//! [`BUDGET_WAIT`] closes its session (shedding, counted).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Longest a reader waits for memory before its session is shed.
pub const BUDGET_WAIT: Duration = Duration::from_secs(2);

/// Bytes that may be buffered, process-wide.
pub struct Budget {
    used: AtomicUsize,
    limit: usize,
    freed: Notify,
    gauge: metrics::Gauge,
}

/// Bytes taken from a [`Budget`]; given back when dropped.
pub struct Held {
    budget: Arc<Budget>,
    n: usize,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            limit,
            freed: Notify::new(),
            gauge: metrics::gauge!(crate::runtime::metrics::BUFFERED_BYTES),
        })
    }

    /// Bytes in use now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Takes `n` bytes if they are free.
    pub fn try_take(self: &Arc<Self>, n: usize) -> Option<Held> {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            let next = cur.checked_add(n)?;
            if next > self.limit && n > 0 {
                return None;
            }
            match self
                .used
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.gauge.set(next as f64);
                    return Some(Held {
                        budget: self.clone(),
                        n,
                    });
                }
                Err(c) => cur = c,
            }
        }
    }

    /// Takes `n` bytes, waiting up to `wait` for others to give memory back.
    pub async fn take(self: &Arc<Self>, n: usize, wait: Duration) -> Option<Held> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(h) = self.try_take(n) {
                return Some(h);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return None;
            }
        }
    }

    /// Takes `n` bytes whatever the limit (memory already allocated by a
    /// buffer that grew more than asked).
    fn force(self: &Arc<Self>, n: usize) -> Held {
        let now = self.used.fetch_add(n, Ordering::AcqRel) + n;
        self.gauge.set(now as f64);
        Held {
            budget: self.clone(),
            n,
        }
    }

    fn give(&self, n: usize) {
        if n == 0 {
            return;
        }
        let now = self.used.fetch_sub(n, Ordering::AcqRel) - n;
        self.gauge.set(now as f64);
        self.freed.notify_waiters();
    }
}

impl Held {
    /// Bytes held.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Moves `n` bytes (at most all) into a new `Held`.
    pub fn split(&mut self, n: usize) -> Held {
        let n = n.min(self.n);
        self.n -= n;
        Held {
            budget: self.budget.clone(),
            n,
        }
    }

    /// Adds another holding to this one.
    pub fn merge(&mut self, mut other: Held) {
        self.n += std::mem::take(&mut other.n);
    }

    /// Gives back anything above `n`, or takes (forced) up to `n`.
    pub fn set(&mut self, n: usize) {
        if n < self.n {
            self.budget.give(self.n - n);
            self.n = n;
        } else if n > self.n {
            let extra = self.budget.force(n - self.n);
            self.merge(extra);
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.give(self.n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Paused time: the waits below are the runtime's clock, advanced only
    // when every task is waiting, so they take no wall-clock time and no
    // scheduling delay can make them flaky.
    #[tokio::test(start_paused = true)]
    async fn takes_waits_and_gives_back() {
        let b = Budget::new(100);
        let mut a = b.try_take(60).unwrap();
        assert!(b.try_take(50).is_none());
        let part = a.split(20);
        assert_eq!((a.len(), part.len(), b.used()), (40, 20, 60));
        drop(part);
        assert_eq!(b.used(), 40);
        // A waiter gets memory when it is given back, and not before.
        let b2 = b.clone();
        let waiter = tokio::spawn(async move { b2.take(70, Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished());
        drop(a);
        let got = waiter.await.unwrap().unwrap();
        assert_eq!(got.len(), 70);
        // Timing out gives nothing, once the wait is over.
        let t = tokio::time::Instant::now();
        assert!(b.take(40, Duration::from_millis(10)).await.is_none());
        assert!(t.elapsed() >= Duration::from_millis(10));
        let mut g = got;
        g.set(10);
        assert_eq!(b.used(), 10);
        g.set(30);
        assert_eq!(b.used(), 30);
    }
}
