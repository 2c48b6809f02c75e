//! The shadow policy: a candidate policy evaluated on live traffic beside
//! the enforced one. Its decisions are counted, never acted on, so it can
//! never loosen (or tighten) what is forwarded. It is decided without the
//! court-order ledger (a shadow must not use up an order), at the same
//! time as the enforced decision; changes are compared with
//! [`crate::decision::outcome_label`], as `policy diff --capture` does.

use crate::decision::{decide_in, outcome_label, Context, Decision};
use crate::message::{Direction, Limits};
use crate::policy::file::Refused;
use crate::policy::Policy;
use crate::runtime::metrics as m;
use crate::runtime::policy_store::{PolicyStore, Reload};
use bytes::Bytes;
use metrics::counter;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Changes counted per list (enforced), key, from, to.
type Tally = BTreeMap<(String, String, String, String), u64>;

/// The candidate policy and what it would have changed.
pub struct Shadow {
    store: PolicyStore,
    tally: Mutex<Tally>,
    messages: AtomicU64,
    changed: AtomicU64,
}

impl Shadow {
    /// Loads the candidate policy; refused like any policy.
    pub fn open(path: &str) -> Result<Shadow, Refused> {
        Ok(Shadow {
            store: PolicyStore::open(path)?,
            tally: Mutex::new(Tally::new()),
            messages: AtomicU64::new(0),
            changed: AtomicU64::new(0),
        })
    }

    /// Re-reads the candidate (with the enforced policy's reloads).
    pub fn reload(&self) -> Reload {
        self.store.reload()
    }

    /// The candidate now evaluated.
    pub fn current(&self) -> std::sync::Arc<Policy> {
        self.store.current()
    }

    /// Decides `raw` under the candidate and counts a change from `enforced`.
    pub fn observe(
        &self,
        dir: Direction,
        raw: Bytes,
        enforced: &Decision,
        policy: &Policy,
        limits: &Limits,
        now: std::time::SystemTime,
    ) {
        let cand = self.store.current();
        let b = decide_in(dir, raw, &cand, limits, &Context { now, ledger: None });
        self.messages.fetch_add(1, Ordering::Relaxed);
        counter!(m::SHADOW_MESSAGES).increment(1);
        let (from, to) = (outcome_label(enforced), outcome_label(&b));
        if from == to {
            return;
        }
        self.changed.fetch_add(1, Ordering::Relaxed);
        let list = enforced
            .verdict
            .map_or("none", |v| policy.list_name(v))
            .to_string();
        let mke = m::mke_label(enforced).to_string();
        counter!(m::SHADOW_CHANGES, "list" => list.clone(), "mke" => mke.clone(), "from" => from.clone(), "to" => to.clone()).increment(1);
        let mut t = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        *t.entry((list, mke, from, to)).or_default() += 1;
    }

    /// The `GET /shadow` document.
    pub fn report(&self) -> serde_json::Value {
        let p = self.store.current();
        let t = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        serde_json::json!({
            "policy": { "version": p.version, "source": p.source },
            "messages": self.messages.load(Ordering::Relaxed),
            "changed": self.changed.load(Ordering::Relaxed),
            "changes": t.iter().map(|((list, mke, from, to), n)| serde_json::json!({
                "list": list, "mke": mke, "from": from, "to": to, "messages": n,
            })).collect::<Vec<_>>(),
        })
    }
}
