//! Court orders as a hostile requester and a careless administrator would
//! try them, through the proxy: a response about another person, a
//! candidate list, an order added by reload after an ordinary query, a
//! restart between two queries on one control field, a deleted ledger, a
//! renamed order. Each case says how many uses were granted of how many
//! allowed (printed for the closing note).

mod common;
use common::orders::*;
use common::*;
use origuard::runtime::audit_log::SyncMode;
use origuard::runtime::config::AuditConfig;
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(400);

/// Connections (switch side reader, Nlets side writer and reader).
struct Link {
    swr: Rx<tokio::net::tcp::OwnedReadHalf>,
    sww: tokio::net::tcp::OwnedWriteHalf,
    nlr: Rx<tokio::net::tcp::OwnedReadHalf>,
    nlw: tokio::net::tcp::OwnedWriteHalf,
}

async fn link(h: &Harness) -> Link {
    let (sw, nl) = h.pair().await;
    let (swr, sww) = sw.into_split();
    let (nlr, nlw) = nl.into_split();
    Link {
        swr: Rx::new(swr),
        sww,
        nlr: Rx::new(nlr),
        nlw,
    }
}

impl Link {
    /// A query from Nlets: true when it reached the switch.
    async fn query(&mut self, q: &[u8]) -> bool {
        send(&mut self.nlw, q).await;
        match self.swr.next(QUIET).await {
            Some(got) => {
                assert_eq!(&got[..], q);
                true
            }
            None => {
                // Declined: the decline reply goes back to Nlets.
                let r = self.nlr.next(DEADLINE).await.expect("a decline reply");
                assert!(!has_photo(&r));
                false
            }
        }
    }

    /// A response from the switch: what reached Nlets.
    async fn respond(&mut self, r: &[u8]) -> Vec<u8> {
        send(&mut self.sww, r).await;
        self.nlr.next(DEADLINE).await.expect("something to Nlets").to_vec()
    }
}

fn last_with(path: &std::path::Path, f: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    decisions(path)
        .into_iter()
        .rev()
        .find(|v| f(v))
        .expect("a matching audit record")
}

fn granted(path: &std::path::Path) -> usize {
    decisions(path)
        .iter()
        .filter(|v| v["reason"] == "court_order")
        .count()
}

fn keep_audit(dir: &std::path::Path) -> impl FnOnce(&mut origuard::runtime::config::Config) {
    let a = dir.join("audit.jsonl").to_str().unwrap().to_string();
    move |c| c.audit = Some(AuditConfig::new(a, SyncMode::Batch))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_about_another_person_or_two_candidates_is_withheld() {
    let pdir = tempfile::tempdir().unwrap();
    let policy = policy_with_orders(pdir.path(), &order("CASE-A", "VTICE0900", 3));
    let h = start(&policy, |_| {}).await;
    let mut l = link(&h).await;
    let audit = h.audit_path();
    // A wrong hit: the state answers the order's query about somebody else.
    assert!(l.query(&order_query("VTICE0900", "W1")).await);
    let out = l.respond(&dr_other_person("VTICE0900", "W1")).await;
    assert!(!has_photo(&out) && !out.windows(3).any(|w| w == b"ROE"));
    let r = last_with(&audit, |v| v["direction"] == "outbound");
    assert_eq!((r["category"].as_str(), r["detail"].as_str()), (Some("denied"), Some("subject_mismatch")));
    assert_eq!(r["order_subject"], "mismatch");
    assert_eq!(r["exception"], "CASE-A");
    assert!(r["control"].is_null(), "a record naming an order has no control field");
    // A candidate list with the subject and another person: withheld whole.
    assert!(l.query(&order_query("VTICE0900", "W2")).await);
    let out = l.respond(&dr_two_candidates("VTICE0900", "W2")).await;
    assert!(!has_photo(&out));
    let r = last_with(&audit, |v| v["direction"] == "outbound");
    assert_eq!((r["order_subject"].as_str(), r["order_records"].as_u64()), (Some("mismatch"), Some(2)));
    // The subject alone: released with the photo.
    assert!(l.query(&order_query("VTICE0900", "W3")).await);
    let out = l.respond(&dr_photo("VTICE0900", "W3")).await;
    assert!(has_photo(&out));
    let r = last_with(&audit, |v| v["direction"] == "outbound");
    assert_eq!((r["reason"].as_str(), r["order_subject"].as_str()), (Some("court_order_release"), Some("match")));
    assert_eq!(r["exception_approvers"], "First Approver, Second Approver");
    let (_, m) = h.get("/metrics").await;
    assert_eq!(metric(&m, "origuard_court_order_responses_total", &[("subject", "mismatch")]), 2.0);
    assert_eq!(metric(&m, "origuard_court_order_responses_total", &[("subject", "match")]), 1.0);
    println!("case wrong person / candidates: uses granted {} of 3 allowed, photos released 1 (the subject's)", granted(&audit));
    h.proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_added_by_reload_does_not_answer_an_earlier_query() {
    let pdir = tempfile::tempdir().unwrap();
    // DCFBI0000 is redact-listed: its queries reach the state anyway.
    let policy = policy_with_orders(pdir.path(), "");
    let h = start(&policy, |_| {}).await;
    let mut l = link(&h).await;
    let audit = h.audit_path();
    // An ordinary query about somebody else, before any order exists.
    assert!(l.query(&dq("DCFBI0000", "R1", "NAM/ROE, RICHARD.DOB/19751203")).await);
    write_orders(pdir.path(), &order("CASE-R", "DCFBI0000", 3));
    assert!(h.proxy.shared.reload("test", false).applied);
    // The order's query on the same control field: not granted.
    assert!(l.query(&order_query("DCFBI0000", "R1")).await);
    let r = last_with(&audit, |v| v["direction"] == "inbound");
    assert_eq!(r["detail"], "court_order_ambiguous_control");
    assert!(r["exception"].is_null());
    // The state answers the first query: the list's profile, no photo.
    let out = l.respond(&dr_other_person("DCFBI0000", "R1")).await;
    assert!(!has_photo(&out));
    assert_eq!(last_with(&audit, |v| v["direction"] == "outbound")["reason"], "redact");
    println!("case order added by reload: uses granted {} of 3 allowed, photos released 0", granted(&audit));
    h.proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_two_queries_does_not_release_the_first_answer() {
    let pdir = tempfile::tempdir().unwrap();
    let adir = tempfile::tempdir().unwrap();
    let policy = policy_with_orders(pdir.path(), &order("CASE-S", "DCFBI0000", 3));
    let h = start(&policy, keep_audit(adir.path())).await;
    let audit = adir.path().join("audit.jsonl");
    let mut l = link(&h).await;
    assert!(l.query(&dq("DCFBI0000", "S1", "NAM/ROE, RICHARD.DOB/19751203")).await);
    drop(l);
    h.proxy.shutdown().await.unwrap();
    let h = start(&policy, keep_audit(adir.path())).await;
    let mut l = link(&h).await;
    assert!(l.query(&order_query("DCFBI0000", "S1")).await);
    assert_eq!(last_with(&audit, |v| v["direction"] == "inbound")["detail"], "court_order_warmup");
    let out = l.respond(&dr_other_person("DCFBI0000", "S1")).await;
    assert!(!has_photo(&out));
    let (_, st) = h.get("/status").await;
    assert!(st.contains("\"awaiting_response\":0"), "{st}");
    println!("case restart between queries: uses granted {} of 3 allowed, photos released 0", granted(&audit));
    h.proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_ledger_grants_nothing_while_the_audit_shows_uses() {
    let pdir = tempfile::tempdir().unwrap();
    let adir = tempfile::tempdir().unwrap();
    let policy = policy_with_orders(pdir.path(), &order("CASE-D", "VTICE0900", 3));
    let h = start(&policy, keep_audit(adir.path())).await;
    let audit = adir.path().join("audit.jsonl");
    let mut l = link(&h).await;
    assert!(l.query(&order_query("VTICE0900", "D1")).await);
    drop(l);
    h.proxy.shutdown().await.unwrap();
    let ledger = format!("{}.court-orders.json", audit.display());
    std::fs::remove_file(&ledger).unwrap();
    let h = start(&policy, keep_audit(adir.path())).await;
    let (_, st) = h.get("/status").await;
    let st: serde_json::Value = serde_json::from_str(&st).unwrap();
    assert!(st["court_orders"]["refused"].as_str().unwrap().contains("fewer uses than the audit log"), "{st}");
    let mut l = link(&h).await;
    assert!(!l.query(&order_query("VTICE0900", "D2")).await);
    assert_eq!(last_with(&audit, |v| v["direction"] == "inbound")["detail"], "court_order_no_durable_store");
    let (_, m) = h.get("/metrics").await;
    assert_eq!(metric(&m, "origuard_court_order_refused_total", &[("reason", "court_order_no_durable_store")]), 1.0);
    println!("case ledger deleted: uses granted {} of 3 allowed (1 before the deletion, 0 after)", granted(&audit));
    h.proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_or_edited_order_keeps_its_count() {
    let pdir = tempfile::tempdir().unwrap();
    let policy = policy_with_orders(pdir.path(), &order("CASE-OLD", "VTICE0900", 1));
    let h = start(&policy, |_| {}).await;
    let audit = h.audit_path();
    let mut l = link(&h).await;
    assert!(l.query(&order_query("VTICE0900", "N1")).await);
    // Renamed, and max_uses raised by the same edit: no fresh use.
    write_orders(pdir.path(), &order("CASE-NEW", "VTICE0900", 5));
    assert!(h.proxy.shared.reload("test", false).applied);
    assert!(!l.query(&order_query("VTICE0900", "N2")).await);
    assert_eq!(last_with(&audit, |v| v["direction"] == "inbound")["detail"], "court_order_used_up");
    // Fresh uses need an order that says which one it adds to.
    let more = format!(
        "{}\n{}adds_to = \"CASE-NEW\"\n",
        order("CASE-NEW", "VTICE0900", 5),
        order("CASE-MORE", "VTICE0900", 1)
    );
    write_orders(pdir.path(), &more);
    let r = h.proxy.shared.reload("test", false);
    assert!(r.applied, "{}", r.message);
    assert!(l.query(&order_query("VTICE0900", "N3")).await);
    let g = last_with(&audit, |v| v["direction"] == "inbound");
    assert_eq!((g["reason"].as_str(), g["exception"].as_str()), (Some("court_order"), Some("CASE-MORE")));
    let (_, st) = h.get("/status").await;
    let st: serde_json::Value = serde_json::from_str(&st).unwrap();
    assert_eq!(st["court_orders"]["uses"]["CASE-NEW"], 1, "{st}");
    assert_eq!(st["court_orders"]["uses"]["CASE-MORE"], 1, "{st}");
    println!("case order renamed: uses granted {} (1 of 1 under the first id, 0 after the rename, 1 of 1 under the order that adds to it)", granted(&audit));
    h.proxy.shutdown().await.unwrap();
}
