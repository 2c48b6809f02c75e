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
        self.nlr
            .next(DEADLINE)
            .await
            .expect("something to Nlets")
            .to_vec()
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
    assert_eq!(
        (r["category"].as_str(), r["detail"].as_str()),
        (Some("denied"), Some("subject_mismatch"))
    );
    assert_eq!(r["order_subject"], "mismatch");
    assert_eq!(r["exception"], "CASE-A");
    assert!(
        r["control"].is_null(),
        "a record naming an order has no control field"
    );
    // A candidate list with the subject and another person: withheld whole.
    assert!(l.query(&order_query("VTICE0900", "W2")).await);
    let out = l.respond(&dr_two_candidates("VTICE0900", "W2")).await;
    assert!(!has_photo(&out));
    let r = last_with(&audit, |v| v["direction"] == "outbound");
    assert_eq!(
        (r["order_subject"].as_str(), r["order_records"].as_u64()),
        (Some("mismatch"), Some(2))
    );
    // The subject alone: released with the photo.
    assert!(l.query(&order_query("VTICE0900", "W3")).await);
    let out = l.respond(&dr_photo("VTICE0900", "W3")).await;
    assert!(has_photo(&out));
    let r = last_with(&audit, |v| v["direction"] == "outbound");
    assert_eq!(
        (r["reason"].as_str(), r["order_subject"].as_str()),
        (Some("court_order_release"), Some("match"))
    );
    assert_eq!(r["exception_approvers"], "First Approver, Second Approver");
    // Who issued the order travels with each use (reports count by it).
    assert_eq!(r["exception_issuer"], "federal_judge");
    let (_, m) = h.get("/metrics").await;
    assert_eq!(
        metric(
            &m,
            "origuard_court_order_responses_total",
            &[("subject", "mismatch")]
        ),
        2.0
    );
    assert_eq!(
        metric(
            &m,
            "origuard_court_order_responses_total",
            &[("subject", "match")]
        ),
        1.0
    );
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
    assert!(
        l.query(&dq("DCFBI0000", "R1", "NAM/ROE, RICHARD.DOB/19751203"))
            .await
    );
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
    assert_eq!(
        last_with(&audit, |v| v["direction"] == "outbound")["reason"],
        "redact"
    );
    println!(
        "case order added by reload: uses granted {} of 3 allowed, photos released 0",
        granted(&audit)
    );
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
    assert!(
        l.query(&dq("DCFBI0000", "S1", "NAM/ROE, RICHARD.DOB/19751203"))
            .await
    );
    drop(l);
    h.proxy.shutdown().await.unwrap();
    let h = start(&policy, keep_audit(adir.path())).await;
    let mut l = link(&h).await;
    assert!(l.query(&order_query("DCFBI0000", "S1")).await);
    assert_eq!(
        last_with(&audit, |v| v["direction"] == "inbound")["detail"],
        "court_order_warmup"
    );
    let out = l.respond(&dr_other_person("DCFBI0000", "S1")).await;
    assert!(!has_photo(&out));
    let (_, st) = h.get("/status").await;
    assert!(st.contains("\"awaiting_response\":0"), "{st}");
    println!(
        "case restart between queries: uses granted {} of 3 allowed, photos released 0",
        granted(&audit)
    );
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
    assert!(
        st["court_orders"]["refused"]
            .as_str()
            .unwrap()
            .contains("fewer uses than the audit log"),
        "{st}"
    );
    let mut l = link(&h).await;
    assert!(!l.query(&order_query("VTICE0900", "D2")).await);
    assert_eq!(
        last_with(&audit, |v| v["direction"] == "inbound")["detail"],
        "court_order_no_durable_store"
    );
    println!(
        "case ledger deleted: uses granted {} of 3 allowed (1 before the deletion, 0 after)",
        granted(&audit)
    );
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
    assert_eq!(
        last_with(&audit, |v| v["direction"] == "inbound")["detail"],
        "court_order_used_up"
    );
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
    assert_eq!(
        (g["reason"].as_str(), g["exception"].as_str()),
        (Some("court_order"), Some("CASE-MORE"))
    );
    let (_, st) = h.get("/status").await;
    let st: serde_json::Value = serde_json::from_str(&st).unwrap();
    assert_eq!(st["court_orders"]["uses"]["CASE-NEW"], 1, "{st}");
    assert_eq!(st["court_orders"]["uses"]["CASE-MORE"], 1, "{st}");
    println!("case order renamed: uses granted {} (1 of 1 under the first id, 0 after the rename, 1 of 1 under the order that adds to it)", granted(&audit));
    h.proxy.shutdown().await.unwrap();
}

fn check(policy: &str) -> (i32, String, String) {
    cli::run(&["policy", "check", policy])
}

#[test]
fn policy_check_refuses_orders_that_can_never_work_or_name_the_subject() {
    let dir = tempfile::tempdir().unwrap();
    let base = order("CASE-L", "VTICE0900", 3);
    // Accents are folded as a state query reads them: MUÑOZ is MUNOZ.
    let folded = base.replace("DOE, JANE Q", "MUÑOZ, JOSÉ");
    let p = policy_with_orders(dir.path(), &folded);
    let (code, _, err) = check(&p);
    assert_eq!(code, 0, "{err}");
    let cases = [
        (
            base.replace("DOE, JANE Q", "STRAßE, ANNA"),
            "can never match a query",
        ),
        (
            base.replace("1980-01-15", "1980-02-30"),
            "not a possible date of birth",
        ),
        (
            base.replace("1980-01-15", "2999-01-01"),
            "not a possible date of birth",
        ),
        (base.replace("CASE-L", "DOE-WARRANT"), "names the subject"),
        (
            base.replace("1:26-cr-00042", "United States v. Jane Doe"),
            "names the subject",
        ),
        (
            base.replace(
                "judicial = true",
                "judicial = true }\ndescription = \"born 01/15/1980\"\n#",
            ),
            "names the subject",
        ),
        (
            base.replace("approved_by", "adds_to = \"NOPE\"\napproved_by"),
            "names no order of this policy",
        ),
    ];
    for (orders, want) in cases {
        write_orders(dir.path(), &orders);
        let (code, out, err) = check(&p);
        assert_eq!(code, 1, "{orders}\n{err}");
        assert!(err.contains(want), "{want}: {err}");
        // Never the subject in what is printed.
        for secret in ["DOE", "JANE", "19800115", "1980-01-15", "STRA"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
    }
    // Careless but valid: warned, not refused.
    let careless = base
        .replace("max_uses = 3", "max_uses = 10000")
        .replace(&order_window_end(&base), "9999-12-31T23:59:59Z");
    write_orders(dir.path(), &careless);
    let (code, _, err) = check(&p);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("max_uses 10000 is more than 10"), "{err}");
    assert!(err.contains("days long (more than 90)"), "{err}");
}

/// The `expires` value written by [`order`].
fn order_window_end(o: &str) -> String {
    o.lines()
        .find_map(|l| l.strip_prefix("expires = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string()
}

#[test]
fn policy_explain_says_why_a_query_would_or_would_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy_with_orders(dir.path(), &order("CASE-E", "VTICE0900", 3));
    let explain = |q: &[u8]| {
        let f = dir.path().join("q.txt");
        std::fs::write(&f, q).unwrap();
        let o = cli::bin()
            .args([
                "policy",
                "explain",
                "--policy",
                &p,
                "VTICE0900",
                "--query",
                f.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let yes = explain(&order_query("VTICE0900", "E1"));
    assert!(yes.contains("order CASE-E: matches"), "{yes}");
    let no = explain(&dq("VTICE0900", "E1", "NAM/DOE, JANE.DOB/19800115"));
    assert!(no.contains("the name differs"), "{no}");
    let veh = explain(&dq(
        "VTICE0900",
        "E1",
        "NAM/DOE, JANE Q.DOB/19800115.LIC/ABC123",
    ));
    assert!(veh.contains("also names a vehicle"), "{veh}");
    for out in [yes, no, veh] {
        assert!(!out.contains("DOE") && !out.contains("19800115"), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_durable_store_every_order_query_is_refused_loudly() {
    let pdir = tempfile::tempdir().unwrap();
    let policy = policy_with_orders(pdir.path(), &order("CASE-M", "VTICE0900", 3));
    // No audit log and no ledger: nowhere durable for the counts.
    let h = start(&policy, |c| c.audit = None).await;
    let (_, st) = h.get("/status").await;
    assert!(st.contains("no durable court-order store"), "{st}");
    let key = [("reason", "court_order_no_durable_store")];
    let (_, before) = h.get("/metrics").await;
    let mut l = link(&h).await;
    assert!(!l.query(&order_query("VTICE0900", "M1")).await);
    let (_, m) = h.get("/metrics").await;
    let n = |t: &str| metric(t, "origuard_court_order_queries_refused_total", &key);
    assert_eq!(n(&m) - n(&before), 1.0);
    println!("case no durable store: uses granted 0 of 3 allowed");
    h.proxy.shutdown().await.unwrap();
}
