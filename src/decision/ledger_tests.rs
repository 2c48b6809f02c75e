//! The ledger's own rules: warm-up, seen control fields, awaited
//! responses, uses spent in the store, no store.

use super::*;
use crate::message::{Control, Mke, Ori};
use std::time::{Duration, SystemTime};

fn ori(s: &str) -> Ori {
    Ori::new(s.as_bytes()).unwrap()
}

fn order(max: u32) -> crate::policy::legal::Exception {
    crate::policy::legal::Exception {
        id: Arc::from("2026-CR-0042"),
        ori: ori("VTICE0900"),
        subject: crate::policy::legal::SubjectRule::Oln {
            oln: "1".into(),
            state: "CO".into(),
        },
        court: "C".into(),
        judge: "J".into(),
        case: "1".into(),
        document: crate::policy::legal::Document::Warrant,
        not_before: SystemTime::UNIX_EPOCH,
        expires: SystemTime::UNIX_EPOCH + Duration::from_secs(u32::MAX as u64),
        max_uses: max,
        release: crate::message::fields::FieldSet::EMPTY,
        profile: None,
        approved_by: vec!["A".into(), "B".into()],
        identity: Arc::from("k1"),
        adds_to: None,
        issuer: None,
        file: Arc::from("p.toml"),
        line: 1,
    }
}

const W: Duration = Duration::from_secs(60);

fn ledger(start: SystemTime) -> Ledger {
    Ledger::new(Some(Arc::new(MemoryStore::default())), W, start)
}

#[test]
fn warm_up_then_uses_until_spent() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let l = ledger(t0);
    let (o, k) = (ori("VTICE0900"), Mke::new(b"DR").unwrap());
    let e = order(2);
    let c = |s: &str| Control::new(s.as_bytes()).unwrap();
    assert_eq!(l.reserve(&e, o, c("A1"), k, t0), Err(Refusal::Warmup));
    let t = t0 + W + Duration::from_secs(1);
    assert_eq!(l.reserve(&e, o, c("A1"), k, t).unwrap().number, 1);
    // The same pair again: ambiguous for one window.
    assert_eq!(
        l.reserve(&e, o, c("A1"), k, t),
        Err(Refusal::AmbiguousControl)
    );
    assert_eq!(l.reserve(&e, o, c("A2"), k, t).unwrap().number, 2);
    assert_eq!(l.reserve(&e, o, c("A3"), k, t), Err(Refusal::UsedUp));
    assert_eq!(l.take(o, c("A2"), k, t).unwrap().number, 2);
    assert!(l.take(o, c("A2"), k, t).is_none());
}

#[test]
fn a_query_forwarded_earlier_blocks_the_pair_and_forgets_the_awaited() {
    let t0 = SystemTime::UNIX_EPOCH;
    let l = ledger(t0);
    let (o, k) = (ori("VTICE0900"), Mke::new(b"DR").unwrap());
    let e = order(10);
    let t = t0 + Duration::from_secs(1_000);
    let c = Control::new(b"Q1").unwrap();
    // Forwarded before (any ORI, whatever the policy said then).
    l.forwarded_query(o, c, t);
    assert_eq!(
        l.reserve(&e, o, c, k, t + Duration::from_secs(30)),
        Err(Refusal::AmbiguousControl)
    );
    // After the window the pair is free again.
    let later = t + W * 2;
    assert!(l.reserve(&e, o, c, k, later).is_ok());
    // A later ordinary query on the pair forgets the awaited response.
    assert_eq!(l.forwarded_query(o, c, later), 1);
    assert!(l.take(o, c, k, later).is_none());
}

#[test]
fn no_store_refuses_and_a_changed_window_warms_up_again() {
    let l = Ledger::new(None, W, SystemTime::UNIX_EPOCH);
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
    let c = Control::new(b"A1").unwrap();
    let (o, k) = (ori("VTICE0900"), Mke::new(b"DR").unwrap());
    assert_eq!(
        l.reserve(&order(3), o, c, k, t),
        Err(Refusal::NoDurableStore)
    );
    let l = ledger(SystemTime::UNIX_EPOCH);
    l.set_window(W * 2, t);
    assert_eq!(l.reserve(&order(3), o, c, k, t + W), Err(Refusal::Warmup));
    assert!(l.reserve(&order(3), o, c, k, t + W * 3).is_ok());
    let refusing = ledger(SystemTime::UNIX_EPOCH).refusing("x".into());
    assert_eq!(
        refusing.reserve(&order(3), o, c, k, t),
        Err(Refusal::NoDurableStore)
    );
}

#[test]
fn seen_filter_has_no_false_negatives_within_the_window() {
    let l = ledger(SystemTime::UNIX_EPOCH);
    let o = ori("AZNLETS20");
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(50_000);
    for i in 0..20_000u32 {
        let c = Control::new(format!("C{i}").as_bytes()).unwrap();
        l.forwarded_query(o, c, t + Duration::from_millis(i as u64 * 2));
    }
    let end = t + Duration::from_secs(40);
    let s = l.lock();
    for i in 0..20_000u32 {
        let c = Control::new(format!("C{i}").as_bytes()).unwrap();
        assert!(s.seen.contains(pair_hash(o, c), end), "C{i}");
    }
    let fp = (0..20_000u32)
        .filter(|i| {
            let c = Control::new(format!("X{i}").as_bytes()).unwrap();
            s.seen.contains(pair_hash(o, c), end)
        })
        .count();
    assert!(fp < 20, "false positives: {fp} of 20000");
}

/// A store that, while it spends, sees the same pair forwarded by another
/// session (the store is asked without the ledger's lock).
#[derive(Debug, Default)]
struct Interleaved {
    ledger: std::sync::OnceLock<std::sync::Weak<Ledger>>,
    inner: MemoryStore,
}

impl UseStore for Interleaved {
    fn spend(&self, s: &Spend<'_>) -> Result<Option<u32>, StoreError> {
        if let Some(l) = self.ledger.get().and_then(|w| w.upgrade()) {
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
            l.forwarded_query(ori("VTICE0900"), Control::new(b"X1").unwrap(), t);
        }
        self.inner.spend(s)
    }
    fn counts(&self) -> Result<Vec<OrderCount>, StoreError> {
        self.inner.counts()
    }
    fn kind(&self) -> &'static str {
        "test"
    }
}

#[test]
fn a_query_forwarded_while_the_use_is_spent_makes_it_ambiguous() {
    let store = Arc::new(Interleaved::default());
    let l = Arc::new(Ledger::new(Some(store.clone()), W, SystemTime::UNIX_EPOCH));
    store.ledger.set(Arc::downgrade(&l)).unwrap();
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
    let (o, k) = (ori("VTICE0900"), Mke::new(b"DR").unwrap());
    let c = Control::new(b"X1").unwrap();
    assert_eq!(
        l.reserve(&order(3), o, c, k, t),
        Err(Refusal::AmbiguousControl)
    );
    assert!(l.take(o, c, k, t).is_none());
    // The use was spent all the same: counted, never granted twice.
    assert_eq!(l.counts().unwrap()[0].used, 1);
    // Another pair is granted.
    let c2 = Control::new(b"X2").unwrap();
    assert_eq!(l.reserve(&order(3), o, c2, k, t).unwrap().number, 2);
}
