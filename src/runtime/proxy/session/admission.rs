//! A connection's way from pending to session (`specs/proxy.md`,
//! *Admission: pending connections*): the link's pending budget and the
//! peer's slot while pending, a session slot once its first message is
//! complete, or a refusal that every later message is declined under.

use super::super::shared::{Link, PeerSlot, Slot};
use crate::runtime::metrics as m;
use metrics::counter;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

/// A connection's way from pending to session.
pub struct Admission {
    pub(super) peer: IpAddr,
    /// Held while pending (the link's pending permit and the peer's slot).
    pending: Mutex<Option<Pending>>,
    /// Held once admitted.
    session: Mutex<Option<(OwnedSemaphorePermit, PeerSlot, Gauged)>>,
    pub(super) admitted: watch::Sender<bool>,
    /// Why this connection will not be served, once known (refused at
    /// accept, or no session slot): every message it sends is declined.
    pub(super) refused: std::sync::OnceLock<&'static str>,
    /// Cancelled when a known peer takes this pending connection's place.
    pub(super) evicted: CancellationToken,
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
    pub(in crate::runtime::proxy) fn new(
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
            .push_back(super::super::shared::PendingEntry {
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
    pub(in crate::runtime::proxy) fn refused(peer: IpAddr, reason: &'static str) -> Admission {
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
    pub(in crate::runtime::proxy) fn is_refused(&self) -> bool {
        self.refused.get().is_some()
    }

    /// Moves the connection from pending to session (once; later calls are
    /// no-ops). Err: no session slot, with the refusal reason.
    pub(super) fn admit(&self, link: &Arc<Link>, max_per_peer: usize) -> Result<(), &'static str> {
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

    /// Resolves once the connection is a session.
    pub(super) async fn wait_admitted(&self) {
        let mut rx = self.admitted.subscribe();
        let _ = rx.wait_for(|a| *a).await;
    }
}
