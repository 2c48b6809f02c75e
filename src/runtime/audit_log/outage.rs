//! Outage handling: a failed write or sync holds the records and retries
//! with backoff; the first success records the outage.

use super::*;

impl Shared {
    /// Enters (or continues) an outage.
    pub(super) fn failed(&self, what: String) -> AuditError {
        let mut st = lock(&self.state);
        let held = st.held_bytes + st.staged.len();
        // Records not yet durable when the outage began are held too.
        let not_durable = st.next_seq.saturating_sub(*self.durable.borrow());
        match &mut st.outage {
            None => {
                tracing::error!(path = %self.path, error = %what, held_bytes = held,
                    "AUDIT LOG FAILED: records are held in memory and retried; messages wait for them (see [audit] on_failure)");
                metrics::counter!(m::AUDIT_OUTAGES).increment(1);
                metrics::gauge!(m::AUDIT_HEALTHY).set(0.0);
                // `/ready` answers 503 from the log's state; the gauge follows.
                metrics::gauge!(m::READY).set(0.0);
                self.healthy.store(false, Ordering::SeqCst);
                st.outage = Some(Outage {
                    since: now(),
                    error: what.clone(),
                    held: not_durable,
                    refused: 0,
                    failures: 1,
                    last_logged: Instant::now(),
                    suppressed: 0,
                });
            }
            Some(o) => {
                o.failures += 1;
                o.suppressed += 1;
                if o.last_logged.elapsed() >= LOG_EVERY {
                    tracing::error!(path = %self.path, error = %what, since = %o.since, retries = o.suppressed,
                        held = o.held, refused = o.refused, "audit log still failing");
                    o.last_logged = Instant::now();
                    o.suppressed = 0;
                }
            }
        }
        metrics::gauge!(m::AUDIT_HELD_BYTES).set(held as f64);
        drop(st);
        // Wake everyone waiting for durability so they see the state.
        self.durable.send_modify(|_| {});
        AuditError::Io {
            path: self.path.clone(),
            what,
        }
    }

    /// Leaves an outage: records it.
    pub(super) fn recovered(&self) {
        let o = {
            let mut st = lock(&self.state);
            self.healthy.store(true, Ordering::SeqCst);
            st.outage.take()
        };
        let Some(o) = o else { return };
        let until = now();
        tracing::warn!(path = %self.path, since = %o.since, held = o.held, refused = o.refused,
            "audit log recovered: every held record is on disk");
        metrics::gauge!(m::AUDIT_HEALTHY).set(1.0);
        metrics::gauge!(m::AUDIT_HELD_BYTES).set(0.0);
        metrics::gauge!(m::READY).set(1.0);
        let _ = self.append(&Event::AuditOutage {
            since: o.since,
            until,
            error: o.error,
            held: o.held,
            refused: o.refused,
        });
        self.durable.send_modify(|_| {});
    }
}

/// Retry delay after `failures` (≥ 1) failed attempts: 50 ms doubling to 2 s.
pub(super) fn backoff(failures: u64) -> Duration {
    let n = failures.saturating_sub(1).min(6);
    Duration::from_millis(50u64.saturating_mul(1 << n)).min(Duration::from_secs(2))
}
