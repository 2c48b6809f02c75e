//! The court-order ledger: what the decision must remember between
//! messages to apply court orders — the durable use counts (behind
//! [`UseStore`], whose file and PostgreSQL implementations live in the
//! runtime), the responses awaited, and every control field a forwarded
//! query carried within the response window.
//!
//! Pure: no file, no socket, no clock. The time is passed in with every
//! call and the store is given at construction.
//!
//! * **Uses** are counted per order *identity* (court, case and subject:
//!   [`crate::policy::legal::identity`]), never per id, so renaming or
//!   editing an order keeps its count. A use is spent in the store (durably,
//!   atomically) before the query is let through; a store that cannot say
//!   grants nothing. Without a store every order query is refused.
//! * **Awaited responses** are in memory, bounded; a response whose query
//!   this process did not let through (after a restart, or through another
//!   instance) is not released.
//! * **Seen control fields**: every forwarded inbound query's ORI and
//!   control field, whatever the policy said, in a time-bucketed Bloom
//!   filter of fixed size (no false negatives: a false positive only
//!   refuses an order query). An order query on a pair seen within the
//!   window is refused, because the state's answer to the earlier query
//!   could not be told apart. The filter only knows what it saw since it
//!   started: for one window after the ledger starts (a restart) or after
//!   the window changes, no order query is granted (`warmup`).
//!
//! Nothing here holds a subject identifier: identities are slow hashes,
//! and control fields are kept only as hashes.

use crate::message::{Control, Mke, Ori};
use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Most responses awaited at once; beyond, the oldest is forgotten (its
/// response then gets the list's action: fail closed).
pub const MAX_AWAITED: usize = 4096;

/// Time buckets of the seen-control-field filter (the window is split into
/// `SEEN_BUCKETS - 1` slots; one more bucket covers the slot being filled).
pub const SEEN_BUCKETS: usize = 16;

/// Bits per bucket of the seen filter (128 KiB each, 2 MiB in all): about
/// 1 in 200 order queries refused by a false positive at 1,000 forwarded
/// queries a second sustained over a 10-minute window.
pub const SEEN_BITS: usize = 1 << 20;

/// Hash functions of the seen filter.
const SEEN_HASHES: u32 = 4;

/// A use of an order, as the decision records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Use {
    /// Order id (as in force when the use was spent).
    pub id: Arc<str>,
    /// The order's identity (what its count is kept under).
    pub identity: Arc<str>,
    /// Which use this is (1-based).
    pub number: u32,
    /// Of how many allowed.
    pub of: u32,
    /// The order's approvers, as the policy names them (`A, B`).
    pub approvers: Arc<str>,
}

/// One use to spend in a [`UseStore`].
#[derive(Clone, Copy, Debug)]
pub struct Spend<'a> {
    /// The order's identity.
    pub identity: &'a str,
    /// Its id now (kept beside the count, for operators).
    pub id: &'a str,
    /// Most uses the order allows.
    pub max: u32,
}

/// One order's count as a store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderCount {
    /// The order's identity.
    pub identity: String,
    /// Uses spent.
    pub used: u32,
    /// The ids it was spent under (a renamed order shows both).
    pub ids: Vec<String>,
}

/// Why a store could not answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or written now (database down, disk).
    #[error("court-order store unavailable: {0}")]
    Unavailable(String),
}

/// Durable use counts, shared by every session (and, for a database, by
/// every instance). `spend` must be atomic: two concurrent calls never
/// both take the last use.
pub trait UseStore: Send + Sync + std::fmt::Debug {
    /// Spends one use of `s.identity` when fewer than `s.max` are spent
    /// (and fewer than the smallest `max` the store has seen for it: an
    /// edit never adds uses). `Ok(Some(n))`: this is use `n`; `Ok(None)`:
    /// used up.
    fn spend(&self, s: &Spend<'_>) -> Result<Option<u32>, StoreError>;
    /// Uses spent so far, per order identity, with the ids spent under.
    fn counts(&self) -> Result<Vec<OrderCount>, StoreError>;
    /// What kind of store this is (`file`, `postgres`), for `/status`.
    fn kind(&self) -> &'static str;
}

/// Why an order query that names its subject was not let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum Refusal {
    /// Every use is spent.
    UsedUp,
    /// A query on the same ORI and control field was forwarded within the
    /// response window: the answers could not be told apart.
    AmbiguousControl,
    /// The ledger started (or the window changed) less than one window ago.
    Warmup,
    /// The store could not spend the use (unreachable, unwritable).
    StoreUnavailable,
    /// No durable store is configured, or it disagrees with the audit log.
    NoDurableStore,
}

impl Refusal {
    /// The audit detail and metric label: `court_order_` + the name.
    pub fn detail(self) -> &'static str {
        match self {
            Refusal::UsedUp => "court_order_used_up",
            Refusal::AmbiguousControl => "court_order_ambiguous_control",
            Refusal::Warmup => "court_order_warmup",
            Refusal::StoreUnavailable => "court_order_store_unavailable",
            Refusal::NoDurableStore => "court_order_no_durable_store",
        }
    }
}

#[derive(Debug)]
struct Awaited {
    ori: Ori,
    control: u64,
    key: Mke,
    usage: Use,
    until: SystemTime,
}

/// The seen filter: `SEEN_BUCKETS` Bloom filters, one per time slot.
#[derive(Debug)]
struct Seen {
    slot: Duration,
    /// Slot number each bucket holds (u64::MAX: empty).
    slots: Vec<u64>,
    bits: Vec<Vec<u64>>,
}

impl Seen {
    fn new(window: Duration) -> Seen {
        let n = (SEEN_BUCKETS - 1) as u32;
        let slot = (window / n).max(Duration::from_millis(1)) + Duration::from_millis(1);
        Seen {
            slot,
            slots: vec![u64::MAX; SEEN_BUCKETS],
            bits: vec![Vec::new(); SEEN_BUCKETS],
        }
    }

    fn slot_of(&self, t: SystemTime) -> u64 {
        let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        (since.as_millis() / self.slot.as_millis().max(1)) as u64
    }

    fn positions(h: u64) -> impl Iterator<Item = usize> {
        let (a, b) = (h as u32 as u64, (h >> 32) | 1);
        (0..SEEN_HASHES as u64)
            .map(move |i| (a.wrapping_add(i.wrapping_mul(b)) as usize) % SEEN_BITS)
    }

    fn insert(&mut self, h: u64, now: SystemTime) {
        let s = self.slot_of(now);
        let i = (s % SEEN_BUCKETS as u64) as usize;
        if self.slots[i] != s {
            self.slots[i] = s;
            self.bits[i].clear();
            self.bits[i].resize(SEEN_BITS / 64, 0);
        }
        for p in Self::positions(h) {
            self.bits[i][p / 64] |= 1 << (p % 64);
        }
    }

    /// True when `h` may have been inserted within the last window (every
    /// bucket younger than `SEEN_BUCKETS` slots is asked).
    fn contains(&self, h: u64, now: SystemTime) -> bool {
        let s = self.slot_of(now);
        (0..SEEN_BUCKETS).any(|i| {
            let bs = self.slots[i];
            bs != u64::MAX
                && bs <= s
                && s - bs < SEEN_BUCKETS as u64
                && Self::positions(h).all(|p| self.bits[i][p / 64] & (1 << (p % 64)) != 0)
        })
    }
}

#[derive(Debug)]
struct State {
    awaited: VecDeque<Awaited>,
    dropped: u64,
    seen: Seen,
    window: Duration,
    /// Since when the seen filter has watched with this window.
    watching_since: SystemTime,
    /// Order queries whose use is being spent in the store (outside the
    /// lock): ORI, pair hash, and whether a forwarded query on the same
    /// pair came in meanwhile (then the use is not granted).
    pending: Vec<(Ori, u64, bool)>,
}

/// Use counts, awaited responses and seen control fields; shared by every
/// session of a process.
#[derive(Debug)]
pub struct Ledger {
    store: Option<Arc<dyn UseStore>>,
    /// Why order queries are refused whatever they name (no durable store,
    /// a store that disagrees with the audit log).
    refused: Option<String>,
    state: Mutex<State>,
}

/// The hash of an ORI and control field (never stored in clear).
fn pair_hash(ori: Ori, control: Control) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    b"origuard-seen".hash(&mut h);
    ori.as_bytes().hash(&mut h);
    control.as_bytes().hash(&mut h);
    let x = h.finish();
    // FxHash mixes weakly in the low bits: finish with a 64-bit mixer.
    let x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    let x = (x ^ (x >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

impl Ledger {
    /// A ledger over `store` (None: every order query is refused as
    /// `no_durable_store`), started at `now` with response window `window`.
    pub fn new(store: Option<Arc<dyn UseStore>>, window: Duration, now: SystemTime) -> Ledger {
        Ledger {
            store,
            refused: None,
            state: Mutex::new(State {
                awaited: VecDeque::new(),
                dropped: 0,
                seen: Seen::new(window),
                window,
                watching_since: now,
                pending: Vec::new(),
            }),
        }
    }

    /// A ledger whose store is refused (`why` is logged and shown in
    /// `/status`): order queries are refused as `no_durable_store`.
    pub fn refusing(mut self, why: String) -> Ledger {
        self.refused = Some(why);
        self
    }

    /// Why order queries are refused whatever they name, if they are.
    pub fn refused(&self) -> Option<&str> {
        if self.store.is_none() {
            return Some("no durable court-order store is configured");
        }
        self.refused.as_deref()
    }

    /// The store's kind, if there is one.
    pub fn store_kind(&self) -> Option<&'static str> {
        self.store.as_ref().map(|s| s.kind())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Uses spent so far, per order identity.
    pub fn counts(&self) -> Result<Vec<OrderCount>, StoreError> {
        match &self.store {
            Some(s) => s.counts(),
            None => Ok(Vec::new()),
        }
    }

    /// Responses awaited now, and how many were forgotten for lack of room.
    pub fn awaited(&self) -> (usize, u64) {
        let s = self.lock();
        (s.awaited.len(), s.dropped)
    }

    /// Sets the response window (a policy reload may change it): a new
    /// window starts a new filter, and with it a new warm-up.
    pub fn set_window(&self, window: Duration, now: SystemTime) {
        let mut s = self.lock();
        if s.window != window {
            s.window = window;
            s.seen = Seen::new(window);
            s.watching_since = now;
        }
    }

    /// True when an inbound query from `ori` with `control` was forwarded
    /// within the response window (a Bloom filter: never a false "no"; a
    /// false "yes" once in about a million pairs at full load).
    pub fn sent_query(&self, ori: Ori, control: Control, now: SystemTime) -> bool {
        self.lock().seen.contains(pair_hash(ori, control), now)
    }

    /// Records an inbound query forwarded from `ori` with `control` that no
    /// order let through: a response awaited on the same pair can no longer
    /// be told apart from its answer, so it is forgotten (both get the
    /// list's action), and no order query on the pair is granted for one
    /// window. Returns how many awaited responses were forgotten.
    pub fn forwarded_query(&self, ori: Ori, control: Control, now: SystemTime) -> usize {
        let h = pair_hash(ori, control);
        let mut s = self.lock();
        s.seen.insert(h, now);
        for p in s.pending.iter_mut().filter(|p| p.0 == ori && p.1 == h) {
            p.2 = true;
        }
        let before = s.awaited.len();
        s.awaited.retain(|a| !(a.ori == ori && a.control == h));
        before - s.awaited.len()
    }

    /// Spends the next use of an order for a query from `ori` with
    /// `control`, whose response (key `key`) is awaited until `now` plus
    /// the window. Refused when the ledger has no usable store, during the
    /// warm-up, when the pair was seen within the window, when the store
    /// cannot answer, or when the uses are spent.
    pub fn reserve(
        &self,
        order: &crate::policy::legal::Exception,
        ori: Ori,
        control: Control,
        key: Mke,
        now: SystemTime,
    ) -> Result<Use, Refusal> {
        let Some(store) = self.store.as_ref().filter(|_| self.refused.is_none()) else {
            return Err(Refusal::NoDurableStore);
        };
        let h = pair_hash(ori, control);
        {
            let mut s = self.lock();
            if now < s.watching_since + s.window {
                return Err(Refusal::Warmup);
            }
            if s.seen.contains(h, now)
                || s.awaited.iter().any(|a| a.ori == ori && a.control == h)
                || s.pending.iter().any(|p| p.0 == ori && p.1 == h)
            {
                s.seen.insert(h, now);
                return Err(Refusal::AmbiguousControl);
            }
            s.pending.push((ori, h, false));
        }
        // The store is asked without the lock: a slow database must not
        // hold up every other session's queries (they only note theirs).
        let spend = Spend {
            identity: &order.identity,
            id: &order.id,
            max: order.max_uses,
        };
        let spent = store.spend(&spend);
        let mut s = self.lock();
        let poisoned = match s.pending.iter().position(|p| p.0 == ori && p.1 == h) {
            Some(i) => s.pending.swap_remove(i).2,
            None => true,
        };
        let number = match spent {
            Ok(Some(n)) => n,
            Ok(None) => return Err(Refusal::UsedUp),
            Err(e) => {
                tracing::error!(error = %e, order = %order.id, "court-order store: cannot spend a use; the order query is declined");
                return Err(Refusal::StoreUnavailable);
            }
        };
        if poisoned {
            // Another query on the pair was forwarded while the use was
            // being spent: its answer could not be told apart. The use
            // stays spent (counted, never granted twice).
            return Err(Refusal::AmbiguousControl);
        }
        s.seen.insert(h, now);
        if s.awaited.len() >= MAX_AWAITED {
            s.awaited.pop_front();
            s.dropped += 1;
        }
        let usage = Use {
            id: order.id.clone(),
            identity: order.identity.clone(),
            number,
            of: order.max_uses,
            approvers: Arc::from(order.approved_by.join(", ")),
        };
        let until = now + s.window;
        s.awaited.push_back(Awaited {
            ori,
            control: h,
            key,
            usage: usage.clone(),
            until,
        });
        Ok(usage)
    }

    /// Takes the awaited use for a response with key `key` to `ori` with
    /// `control`, if one is still within its window. Expired entries are
    /// discarded on the way.
    pub fn take(&self, ori: Ori, control: Control, key: Mke, now: SystemTime) -> Option<Use> {
        let h = pair_hash(ori, control);
        let mut s = self.lock();
        s.awaited.retain(|a| a.until >= now);
        let i = s
            .awaited
            .iter()
            .position(|a| a.ori == ori && a.control == h && a.key == key)?;
        s.awaited.remove(i).map(|a| a.usage)
    }
}

/// A store in memory: for tests and offline tools (`filter`), never for
/// `serve`, whose counts must outlive the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Identity → (used, smallest max, ids).
    counts: Mutex<BTreeMap<String, MemoryCount>>,
}

type MemoryCount = (u32, u32, Vec<String>);

impl UseStore for MemoryStore {
    fn spend(&self, s: &Spend<'_>) -> Result<Option<u32>, StoreError> {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let e = c
            .entry(s.identity.to_string())
            .or_insert((0, s.max, Vec::new()));
        e.1 = e.1.min(s.max);
        if e.0 >= e.1 {
            return Ok(None);
        }
        e.0 += 1;
        if !e.2.iter().any(|i| i == s.id) {
            e.2.push(s.id.to_string());
        }
        Ok(Some(e.0))
    }

    fn counts(&self) -> Result<Vec<OrderCount>, StoreError> {
        let c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        Ok(c.iter()
            .map(|(k, v)| OrderCount {
                identity: k.clone(),
                used: v.0,
                ids: v.2.clone(),
            })
            .collect())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
