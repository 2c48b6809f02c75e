//! What every link and session of the proxy shares: the live policy, the
//! audit log, limits, drain tokens, the links; reload and readiness. Apart
//! from [`super`] (which starts the proxy) and [`super::session`] (which
//! uses it) so that neither imports the other.

use super::budget::Budget;
use crate::audit::record::Event;
use crate::runtime::admin::{NotReady, Reloaded, ReopenError};
use crate::runtime::audit_log::{AuditLog, OnFailure};
use crate::runtime::config::LinkConfig;
use crate::runtime::metrics as m;
use crate::runtime::policy_store::{PolicyStore, Reload};
use crate::runtime::tls::LinkTls;
use metrics::counter;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// A byte stream (TCP or TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// State shared by every link and session.
pub struct Shared {
    /// The live policy.
    pub policy: PolicyStore,
    /// The audit log (None only in the flag quick start without `--audit`).
    pub audit: Option<Arc<AuditLog>>,
    /// What is forwarded while the audit log cannot write.
    pub on_failure: OnFailure,
    /// Message bytes the process may buffer.
    pub budget: Arc<Budget>,
    /// Limits and timeouts.
    pub limits: crate::runtime::config::Limits,
    /// Parser limits derived from them.
    pub msg_limits: crate::message::Limits,
    /// The decision stage's worker threads (`limits.decision_workers` > 1);
    /// None: every session decides on its own task.
    pub decisions: Option<super::stage::DecisionPool>,
    /// Cancelled to start draining: stop accepting, sessions finish at the
    /// next message boundary.
    pub drain: CancellationToken,
    /// Cancelled when the drain deadline (`limits.drain_timeout`) passes:
    /// readers stop; complete messages they still find are declined with a
    /// record and the cut is recorded (`drain_cut`).
    pub cut: CancellationToken,
    /// Cancelled 2 s after the cut if sessions are still open: they are
    /// closed at once.
    pub hard_stop: CancellationToken,
    /// Every session's task and each of its writers' (`session::writer`):
    /// shutdown waits for all of them to be gone before it closes the audit
    /// log, so no writer is still writing or recording then.
    pub tasks: tokio_util::task::TaskTracker,
    /// Connections being served now (pending or in session).
    pub sessions: AtomicUsize,
    /// Links (for certificate reload and status).
    pub links: Vec<Arc<Link>>,
    /// Cancelled when someone (signal, admin endpoint) asks the process to stop.
    pub stop_request: CancellationToken,
    /// Serialises reloads (policy store swaps are atomic anyway).
    pub(super) reload_lock: Mutex<()>,
    /// Court-order use counts and awaited responses.
    pub ledger: Arc<crate::decision::ledger::Ledger>,
    /// The candidate policy evaluated beside the enforced one.
    pub shadow: Option<crate::runtime::shadow::Shadow>,
}

/// One configured link at run time.
pub struct Link {
    /// Its configuration.
    pub cfg: LinkConfig,
    /// TLS on either side.
    pub tls: LinkTls,
    /// Connections open (pending or in session), taken before accepting so
    /// file descriptors stay bounded: `max_sessions + max_pending`.
    pub(super) conns: Arc<Semaphore>,
    /// Connections not yet past their first complete message.
    pub(super) pending: Arc<Semaphore>,
    /// Sessions (connections past their first message).
    pub(super) sessions: Arc<Semaphore>,
    /// Pending connections and sessions per source address.
    pub(super) peers: Mutex<HashMap<IpAddr, PeerCount>>,
    /// Connections refused at accept (pending budget full) while what they
    /// sent is read and declined with a record: [`MAX_REFUSING`].
    pub(super) refusing: Arc<Semaphore>,
    /// Addresses that have sent a valid message (known peers when
    /// `switch_addresses` is empty), at most [`MAX_LEARNED`].
    pub(super) learned: Mutex<std::collections::HashSet<IpAddr>>,
    /// Pending connections in the order they were accepted: (address,
    /// known, eviction token). A known peer's connection that finds the
    /// pending budget full evicts the oldest of an unknown address.
    pub(super) pending_order: Mutex<std::collections::VecDeque<PendingEntry>>,
}

/// A pending connection, for eviction.
pub(super) struct PendingEntry {
    pub(super) id: u64,
    pub(super) ip: IpAddr,
    pub(super) known: bool,
    pub(super) evict: tokio_util::sync::CancellationToken,
}

/// Most addresses learned as known peers per link (quick start).
pub const MAX_LEARNED: usize = 64;

impl Link {
    /// True when `ip` is a known peer: one of `switch_addresses`, or with
    /// none configured, an address that has sent a valid message.
    pub fn known(&self, ip: IpAddr) -> bool {
        if !self.cfg.switch_addresses.is_empty() {
            return self.cfg.switch_addresses.contains(&ip);
        }
        self.learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&ip)
    }

    /// Records that `ip` sent a valid message (quick start: it becomes a
    /// known peer; no effect with `switch_addresses`).
    pub fn learn(&self, ip: IpAddr) {
        if !self.cfg.switch_addresses.is_empty() {
            return;
        }
        let mut l = self.learned.lock().unwrap_or_else(|e| e.into_inner());
        if l.len() < MAX_LEARNED {
            l.insert(ip);
        }
    }

    /// Forgets a pending connection (admitted or ended).
    pub(super) fn unpend(&self, id: u64) {
        let mut q = self.pending_order.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = q.iter().position(|e| e.id == id) {
            q.remove(i);
        }
    }

    /// Evicts the oldest pending connection of an unknown address; true
    /// when one was found.
    pub(super) fn evict_unknown_pending(&self) -> bool {
        let mut q = self.pending_order.lock().unwrap_or_else(|e| e.into_inner());
        match q.iter().position(|e| !e.known) {
            Some(i) => {
                if let Some(e) = q.remove(i) {
                    tracing::debug!(link = %self.cfg.name, peer = %e.ip, "pending connection evicted for a known peer");
                    e.evict.cancel();
                }
                true
            }
            None => false,
        }
    }
}

/// Connections per link being refused at once (each read for at most
/// [`super::session::REFUSE_WINDOW`]); at the cap the accept loop waits, and
/// further connections stay in the kernel's backlog.
pub const MAX_REFUSING: usize = 512;

/// What one source address holds on a link.
#[derive(Default, Debug, Clone, Copy)]
pub(super) struct PeerCount {
    pub(super) pending: usize,
    pub(super) sessions: usize,
}

/// Which per-peer count a [`PeerSlot`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    Pending,
    Session,
}

/// One unit of a peer's pending or session count; given back on drop.
pub(super) struct PeerSlot {
    link: Arc<Link>,
    ip: IpAddr,
    slot: Slot,
}

impl Link {
    /// Takes a pending or session slot for `ip` if it is under `max`.
    pub(super) fn peer_slot(
        self: &Arc<Self>,
        ip: IpAddr,
        slot: Slot,
        max: usize,
    ) -> Option<PeerSlot> {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let c = peers.entry(ip).or_default();
        let n = match slot {
            Slot::Pending => &mut c.pending,
            Slot::Session => &mut c.sessions,
        };
        if *n >= max {
            if c.pending == 0 && c.sessions == 0 {
                peers.remove(&ip);
            }
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            link: self.clone(),
            ip,
            slot,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut peers = self.link.peers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = peers.get_mut(&self.ip) {
            match self.slot {
                Slot::Pending => c.pending = c.pending.saturating_sub(1),
                Slot::Session => c.sessions = c.sessions.saturating_sub(1),
            }
            if c.pending == 0 && c.sessions == 0 {
                peers.remove(&self.ip);
            }
        }
    }
}

impl Shared {
    /// True when ready for traffic: not draining and the audit log healthy.
    pub fn ready(&self) -> Result<(), NotReady> {
        if self.drain.is_cancelled() {
            return Err(NotReady::Draining);
        }
        if let Some(a) = &self.audit {
            if let Some(f) = a.failure() {
                return Err(NotReady::AuditFailed(f));
            }
        }
        Ok(())
    }

    /// Compares the audit log's path with its open file and starts a new
    /// file if a rotation tool moved, replaced or truncated it (`SIGUSR1`,
    /// `POST /reopen`).
    pub fn reopen(&self) -> Result<String, ReopenError> {
        match &self.audit {
            None => Err(ReopenError::NoAuditLog),
            Some(a) => match a.reopen() {
                Ok(true) => Ok(format!(
                    "audit log {}: a new file continues the chain",
                    a.path()
                )),
                Ok(false) => Ok(format!(
                    "audit log {}: file unchanged, still writing it",
                    a.path()
                )),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Reloads the policy (and certificates when `tls`), counting and
    /// auditing the attempt. Says whether the policy was applied, for operators.
    // Long (~110 lines): policy, certificates, counters and the audit record
    // of one attempt under one lock, in order; not yet split.
    pub fn reload(&self, trigger: &str, tls: bool) -> Reloaded {
        let _g = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
        let before = self.policy.current();
        let r = self.policy.reload();
        // Signed court orders: who entered and approved each new one; each
        // order refused (the orders in force before stay, with the policy).
        let order_events: Vec<Event> = match &r {
            Reload::Applied { .. } => {
                let now = self.policy.current();
                Event::signers_in_force(Some(&before), &now)
                    .into_iter()
                    .chain(Event::policy_signed(Some(&before), &now))
                    .chain(Event::orders_entered(Some(&before), &now))
                    .collect()
            }
            Reload::Refused { errors, .. } => Event::bundle_refused(errors, trigger)
                .into_iter()
                .chain(Event::orders_refused(errors, trigger))
                .collect(),
        };
        for e in &order_events {
            match e {
                Event::OrderRefused { file, reason, .. } => {
                    counter!(m::COURT_ORDERS_REFUSED).increment(1);
                    tracing::warn!(trigger, file, "{reason}");
                }
                Event::BundleRefused { file, reason, .. } => {
                    counter!(m::POLICY_BUNDLES_REFUSED).increment(1);
                    tracing::warn!(trigger, file, "{reason}");
                }
                _ => {}
            }
        }
        let (ok, msg, event) = match &r {
            Reload::Applied { old, new } => {
                m::policy_in_force(Some(old), &self.policy.current());
                crate::runtime::time_to_block::policy_changed(&before, &self.policy.current());
                self.ledger.set_window(
                    self.policy.current().court_order_window,
                    std::time::SystemTime::now(),
                );
                (
                    true,
                    format!("policy {} applied (was {})", &new[..12], &old[..12]),
                    Event::policy_load(true, new, self.policy.path(), trigger, 0),
                )
            }
            Reload::Refused { kept, errors } => (
                false,
                format!("policy refused, {} still in force:\n{errors}", &kept[..12]),
                Event::policy_load(
                    false,
                    kept,
                    self.policy.path(),
                    trigger,
                    errors.errors.len(),
                ),
            ),
        };
        counter!(m::POLICY_RELOADS, "result" => if ok { "applied" } else { "refused" }, "trigger" => trigger.to_string())
            .increment(1);
        if let Some(a) = &self.audit {
            for e in std::iter::once(&event).chain(&order_events) {
                if a.append(e).is_err() {
                    counter!(m::AUDIT_ERRORS).increment(1);
                }
            }
        }
        if ok {
            tracing::info!(trigger, "{msg}");
        } else {
            tracing::warn!(trigger, "{msg}");
        }
        let mut msg = msg;
        if let Some(sh) = &self.shadow {
            match sh.reload() {
                Reload::Applied { new, .. } => {
                    msg.push_str(&format!("\nshadow policy {} loaded", &new[..12]))
                }
                Reload::Refused { kept, errors } => {
                    tracing::warn!(
                        trigger,
                        "shadow policy refused, {} still evaluated:\n{errors}",
                        &kept[..12]
                    );
                    msg.push_str(&format!(
                        "\nshadow policy refused, {} still evaluated:\n{errors}",
                        &kept[..12]
                    ));
                }
            }
        }
        if tls {
            for l in &self.links {
                match l.tls.reload() {
                    Ok(()) => counter!(m::TLS_RELOADS, "result" => "applied").increment(1),
                    Err(e) => {
                        counter!(m::TLS_RELOADS, "result" => "refused").increment(1);
                        tracing::warn!(link = %l.cfg.name, error = %e, "certificate reload refused; old certificates stay");
                        msg.push_str(&format!(
                            "\nlink {}: certificate reload refused: {e}",
                            l.cfg.name
                        ));
                    }
                }
            }
        }
        Reloaded {
            applied: ok,
            message: msg,
        }
    }
}

impl Shared {
    /// The service manager's `STATUS=` text while serving.
    pub fn serving_status(&self) -> String {
        format!("serving; policy {}", self.policy.current().short_version())
    }
}

impl crate::runtime::admin::Control for Shared {
    fn admin_call(&self, who: &str, action: &str, outcome: &str) {
        tracing::info!(admin = who, action, outcome, "admin call");
        if let Some(a) = &self.audit {
            let e = Event::AdminCall {
                identity: who.to_string(),
                action: action.to_string(),
                outcome: outcome.to_string(),
            };
            if a.append(&e).is_err() {
                counter!(m::AUDIT_ERRORS).increment(1);
            }
        }
    }

    fn ready(&self) -> Result<(), NotReady> {
        Shared::ready(self)
    }

    fn status(&self) -> serde_json::Value {
        let p = self.policy.current();
        let audit = self.audit.as_ref().map(|a| {
            // The head of what is sealed: never waits for the disk.
            let (sealed, head) = a.sealed();
            serde_json::json!({
                "path": a.path(), "records": a.count(), "sealed": sealed, "head": head,
                "healthy": a.healthy(), "sync": a.mode().name(),
                "outage": a.outage().map(|o| serde_json::json!({
                    "since": o.since, "error": o.error, "held": o.held, "refused": o.refused, "retries": o.failures,
                })),
            })
        });
        // Uses by the id each order has now; counts of orders no longer in
        // the policy are summed (their identity is not shown: a guess
        // could be checked against it).
        let (uses, store_error) = match self.ledger.counts() {
            Ok(c) => {
                let mut m = std::collections::BTreeMap::<String, u32>::new();
                for oc in c {
                    let id = p
                        .exceptions
                        .iter()
                        .find(|e| *e.identity == *oc.identity)
                        .map_or_else(
                            || "(orders no longer in the policy)".to_string(),
                            |e| e.id.to_string(),
                        );
                    *m.entry(id).or_insert(0) += oc.used;
                }
                (m, None)
            }
            Err(e) => (Default::default(), Some(e.to_string())),
        };
        serde_json::json!({
            "policy": { "version": p.version, "source": p.source, "lists": p.lists.len(), "entries": p.entries.len() },
            "audit": audit,
            "sessions": self.sessions.load(Ordering::SeqCst),
            "buffered_bytes": self.budget.used(),
            "buffer_budget": self.budget.limit(),
            "draining": self.drain.is_cancelled(),
            "ready": Shared::ready(self).is_ok(),
            "links": self.links.iter().map(|l| l.cfg.name.clone()).collect::<Vec<_>>(),
            "court_orders": {
                "store": self.ledger.store_kind(),
                "refused": self.ledger.refused(),
                "uses": uses,
                "store_error": store_error,
                "awaiting_response": self.ledger.awaited().0,
            },
        })
    }

    /// `POST /reload`: tells the service manager, as SIGHUP and the file
    /// watch do (`RELOADING=1` with the monotonic time, then `READY=1`).
    fn reload(&self, trigger: &str, tls: bool) -> Reloaded {
        crate::runtime::systemd::reloading();
        let r = Shared::reload(self, trigger, tls);
        crate::runtime::systemd::ready(&self.serving_status());
        r
    }

    fn shadow(&self) -> Option<serde_json::Value> {
        self.shadow.as_ref().map(|s| s.report())
    }

    fn stop(&self) {
        self.stop_request.cancel();
    }

    fn reopen(&self) -> Result<String, ReopenError> {
        Shared::reopen(self)
    }
}
