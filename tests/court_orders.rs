//! Legal process through the proxy: a court-order query in, its response
//! out with the photo the order covers, declines for everything else; the
//! use in the audit log, the metrics, the ledger and `/status`; and the
//! shadow policy agreeing with `policy diff --capture` on the same messages.

mod common;
use common::orders::*;
use common::*;
use std::time::Duration;

/// The example policy with one order for VTICE0900 (`tests/common/orders.rs`).
fn policy_with_order(dir: &std::path::Path, max_uses: u32, id: &str) -> String {
    policy_with_orders(dir, &order(id, "VTICE0900", max_uses))
}

const ID: &str = "2026-CR-0042";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn court_order_query_and_response_through_the_proxy() {
    court_order_through_the_proxy(1, ID).await;
}

/// The same with the decision stage configured: a policy with court-order
/// exceptions is decided in order on the session's task, so uses are spent
/// exactly as with one worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn court_order_with_decision_workers_is_decided_in_order() {
    // Its own order id: the two tests share the process's metrics.
    court_order_through_the_proxy(3, "2026-CR-0043").await;
}

async fn court_order_through_the_proxy(workers: usize, id: &str) {
    let pdir = tempfile::tempdir().unwrap();
    let policy = policy_with_order(pdir.path(), 1, id);
    let h = start(&policy, move |c| c.limits.decision_workers = workers).await;
    let (_, before) = h.get("/metrics").await;
    let (sw, nl) = h.pair().await;
    let (swr, mut sww) = sw.into_split();
    let (nlr, mut nlw) = nl.into_split();
    let (mut swr, mut nlr) = (Rx::new(swr), Rx::new(nlr));

    // 1. The order's query from ICE reaches the state byte for byte.
    let q = dq(
        "VTICE0900",
        "A1",
        "RSN/V.NAM/DOE, JANE Q.DOB/19800115.SEX/F.IMQ/Y",
    );
    send(&mut nlw, &q).await;
    assert_eq!(swr.next(DEADLINE).await.unwrap(), q);

    // 2. A query about someone else is declined (a reply toward Nlets).
    send(
        &mut nlw,
        &dq("VTICE0900", "A2", "NAM/ROE, RICHARD.DOB/19750301"),
    )
    .await;
    let reply = nlr.next(DEADLINE).await.unwrap();
    assert!(reply.starts_with(b"DR.COOLN0000.VTICE0900"), "{reply:?}");
    assert!(swr.next(Duration::from_millis(300)).await.is_none());

    // 3. The state's answer to the order's query: photo kept, POB withheld.
    send(&mut sww, &dr_photo("VTICE0900", "A1")).await;
    let out = nlr.next(DEADLINE).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("<nc:BinaryBase64Object>/9j/"), "{text}");
    assert!(!text.contains("MEXICO") && !text.contains("POB/"), "{text}");

    // 4. The order is used up (max_uses = 1): the same query again is declined.
    send(&mut nlw, &q).await;
    let reply = nlr.next(DEADLINE).await.unwrap();
    assert!(reply.starts_with(b"DR.COOLN0000"), "{reply:?}");
    assert!(swr.next(Duration::from_millis(300)).await.is_none());
    // And an unsolicited photo response to ICE is declined too.
    send(&mut sww, &dr_photo("VTICE0900", "A9")).await;
    let r = nlr.next(DEADLINE).await.unwrap();
    assert!(!String::from_utf8_lossy(&r).contains("BinaryBase64Object"));

    // Metrics: one use at each stage.
    let (_, after) = h.get("/metrics").await;
    for stage in ["query", "response"] {
        let l = [("exception", id), ("stage", stage)];
        assert_eq!(
            metric(&after, "origuard_court_order_uses_total", &l)
                - metric(&before, "origuard_court_order_uses_total", &l),
            1.0,
            "{stage}"
        );
    }
    // /status and the ledger file next to the audit log.
    let (_, status) = h.get("/status").await;
    let st: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(st["court_orders"]["uses"][id], 1, "{status}");
    let ledger =
        std::fs::read_to_string(format!("{}.court-orders.json", h.audit_path().display())).unwrap();
    assert!(
        ledger.contains("\"used\":1") && ledger.contains(&format!("\"{id}\"")),
        "{ledger}"
    );
    let audit_path = h.audit_path();
    h.proxy.shutdown().await.unwrap();

    // The audit log: the use with its number, both stages, and never the subject.
    let log = std::fs::read_to_string(audit_path).unwrap();
    let uses: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["exception"] == id)
        .collect();
    let reasons: Vec<&str> = uses.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["court_order", "court_order_release"], "{log}");
    assert!(uses.iter().all(|r| r["exception_use"] == 1));
    assert_eq!(uses[0]["reason_code"], "V");
    for secret in ["DOE", "JANE", "ROE", "RICHARD", "19800115", "19750301"] {
        assert!(!log.contains(secret), "{secret} in the audit log");
        assert!(!after.contains(secret), "{secret} in the metrics");
        assert!(!ledger.contains(secret), "{secret} in the ledger");
    }
    assert_eq!(
        origuard::audit::verify::verify(log.as_bytes())
            .map(|v| v.count > 0)
            .ok(),
        Some(true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uses_survive_a_restart() {
    let pdir = tempfile::tempdir().unwrap();
    let policy = policy_with_order(pdir.path(), 1, "RESTART-1");
    let ledger = pdir.path().join("ledger.json");
    let l = ledger.to_str().unwrap().to_string();
    let q = dq("VTICE0900", "B1", "NAM/DOE, JANE Q.DOB/19800115");
    {
        let l = l.clone();
        let h = start(&policy, move |c| c.ledger = Some(l)).await;
        let (sw, nl) = h.pair().await;
        let (swr, _sww) = sw.into_split();
        let (_nlr, mut nlw) = nl.into_split();
        let mut swr = Rx::new(swr);
        send(&mut nlw, &q).await;
        assert_eq!(swr.next(DEADLINE).await.unwrap(), q);
        h.proxy.shutdown().await.unwrap();
    }
    let h = start(&policy, move |c| c.ledger = Some(l)).await;
    let (sw, nl) = h.pair().await;
    let (swr, _sww) = sw.into_split();
    let (nlr, mut nlw) = nl.into_split();
    let (mut swr, mut nlr) = (Rx::new(swr), Rx::new(nlr));
    send(&mut nlw, &q).await;
    assert!(nlr
        .next(DEADLINE)
        .await
        .unwrap()
        .starts_with(b"DR.COOLN0000"));
    assert!(swr.next(Duration::from_millis(300)).await.is_none());
    h.proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_policy_counts_what_would_change_and_agrees_with_diff() {
    let dir = tempfile::tempdir().unwrap();
    // The candidate moves HSI from deny to redact and drops the CBP list.
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/policy");
    std::fs::create_dir_all(dir.path().join("lists")).unwrap();
    for f in ["lists/immigration.txt", "lists/federal_redact.txt"] {
        std::fs::copy(format!("{src}/{f}"), dir.path().join(f)).unwrap();
    }
    let cand = std::fs::read_to_string(format!("{src}/colorado.toml"))
        .unwrap()
        .replace(
            "name = \"hsi\"\naction = \"deny\"",
            "name = \"hsi\"\naction = \"redact\"",
        )
        .replace(
            "entries = [\"DCCBP0000\", \"AZCBP0100\", \"TXBP00100\"]",
            "entries = []",
        );
    let cand_path = dir.path().join("candidate.toml");
    std::fs::write(&cand_path, cand).unwrap();
    let cp = cand_path.to_str().unwrap().to_string();
    let h = start(&example_policy(), move |c| c.shadow_policy = Some(cp)).await;
    let (sw, nl) = h.pair().await;
    let (swr, mut sww) = sw.into_split();
    let (nlr, mut nlw) = nl.into_split();
    let (mut swr, mut nlr) = (Rx::new(swr), Rx::new(nlr));
    // Inbound queries from several agencies; what comes out is what the
    // enforced policy says, whatever the shadow thinks.
    let mut capture = Vec::new();
    let agencies = [
        "DCHSI0000",
        "TXHSI0100",
        "AZCBP0100",
        "AZNLETS20",
        "VTICE0900",
    ];
    for (i, ori) in agencies.iter().cycle().take(25).enumerate() {
        let m = dq(ori, &format!("S{i}"), "OLN/123456789");
        capture.extend_from_slice(
            &origuard::framing::encode(origuard::framing::Framing::Len4, &m).unwrap(),
        );
        send(&mut nlw, &m).await;
        if *ori == "AZNLETS20" {
            assert_eq!(swr.next(DEADLINE).await.unwrap(), m);
        } else {
            // Enforced: denied (a decline back), never forwarded.
            assert!(nlr
                .next(DEADLINE)
                .await
                .unwrap()
                .starts_with(b"DR.COOLN0000"));
        }
    }
    assert!(swr.next(Duration::from_millis(300)).await.is_none());
    let _ = &mut sww;
    let (code, body) = h.get("/shadow").await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["messages"], 25, "{body}");
    // HSI (10 queries): deny -> redact (its inbound is forwarded as
    // redact_inbound: "redact" is the scoped action). CBP (5): deny -> pass.
    let mut moves = std::collections::BTreeMap::new();
    for c in v["changes"].as_array().unwrap() {
        *moves
            .entry((
                c["from"].as_str().unwrap().to_string(),
                c["to"].as_str().unwrap().to_string(),
            ))
            .or_insert(0u64) += c["messages"].as_u64().unwrap();
    }
    assert_eq!(v["changed"], 15, "{body}");
    // The same messages through `policy diff --capture`: the same moves.
    let cap = dir.path().join("in.len4");
    std::fs::write(&cap, &capture).unwrap();
    let old = origuard::runtime::policy_store::load_path(&example_policy()).unwrap();
    let new = origuard::runtime::policy_store::load_path(cand_path.to_str().unwrap()).unwrap();
    let (changed, text) = origuard::tools::policy_cmd::what_if(
        &old,
        &new,
        cap.to_str().unwrap(),
        origuard::message::Direction::Inbound,
        origuard::capture::stream::InputFraming::Framed(origuard::framing::Framing::Len4),
    )
    .unwrap();
    assert_eq!(changed, 15, "{text}");
    for ((from, to), n) in &moves {
        assert!(
            text.contains(&format!("  {from} -> {to}: {n}\n")),
            "{from} -> {to}: {n} not in\n{text}"
        );
    }
    let (_, metrics) = h.get("/metrics").await;
    assert!(
        metric(
            &metrics,
            "origuard_shadow_changes_total",
            &[("list", "hsi")]
        ) >= 10.0
    );
    h.proxy.shutdown().await.unwrap();
}

/// `serve --check` validates the shadow policy and reads the ledger.
#[test]
fn serve_check_refuses_a_bad_shadow_policy_or_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("origuard.toml");
    let ledger = dir.path().join("ledger.json");
    let write = |shadow: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[policy]\nfile = {:?}\nshadow = {shadow:?}\nledger = {:?}\n[audit]\nfile = \"a.jsonl\"\n[admin]\nlisten = \"off\"\n[[link]]\nname = \"a\"\nlisten = \"127.0.0.1:0\"\nupstream = \"127.0.0.1:9\"\n",
                example_policy(),
                ledger.to_str().unwrap()
            ),
        )
        .unwrap()
    };
    let check = || {
        let o = common::cli::bin()
            .args(["serve", "--config", cfg.to_str().unwrap(), "--check"])
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    write(&example_policy());
    assert_eq!(check().0, Some(0), "{}", check().1);
    let bad = dir.path().join("candidate.toml");
    std::fs::write(&bad, "[[list]]\nname = \"x\"\naction = \"block\"\n").unwrap();
    write(bad.to_str().unwrap());
    let (code, err) = check();
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("candidate.toml:3: error: unknown action"),
        "{err}"
    );
    write(&example_policy());
    std::fs::write(&ledger, "not json").unwrap();
    let (code, err) = check();
    assert_eq!(code, Some(65), "{err}");
    assert!(err.contains("not a ledger"), "{err}");
}

/// `policy check` and `policy explain`, text and JSON: the order by id, never its subject.
#[test]
fn policy_commands_name_the_order_never_the_subject() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_with_order(dir.path(), 3, "2026-CR-0042");
    let run = |args: &[&str]| {
        let o = common::cli::bin().args(args).output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
    };
    let outs = [
        run(&["policy", "check", &policy]),
        run(&["policy", "check", "--json", &policy]),
        run(&["policy", "explain", "--policy", &policy, "VTICE0900"]),
        run(&[
            "policy",
            "explain",
            "--json",
            "--policy",
            &policy,
            "VTICE0900",
        ]),
    ];
    for o in &outs {
        assert!(o.contains("2026-CR-0042"), "{o}");
        for secret in ["DOE", "JANE", "1980"] {
            assert!(!o.contains(secret), "{secret} in {o}");
        }
    }
    assert!(outs[2].contains("[active]"), "{}", outs[2]);
}
