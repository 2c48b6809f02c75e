//! Time to block as a metric, through the proxy: an agency asks and is
//! answered; a reload lists it for refusal; its next query is declined and
//! `origuard_time_to_block_seconds{list}` observes the time from the reload
//! to that refusal, once (later refusals and agencies already refused
//! before the change do not count).

mod common;
use common::orders::dq;
use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_refusal_after_a_change_is_observed_once() {
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("p.toml");
    let base = cli::DENY_ICE_POLICY;
    std::fs::write(&pol, base).unwrap();
    let h = start(pol.to_str().unwrap(), |c| c.watch_policy = false).await;
    let (sw, nl) = h.pair().await;
    let (swr, _sww) = sw.into_split();
    let (nlr, mut nlw) = nl.into_split();
    let (mut swr, mut nlr) = (Rx::new(swr), Rx::new(nlr));
    let count = || async {
        let (_, m) = h.get("/metrics").await;
        (
            metric(&m, "origuard_time_to_block_seconds_count", &[("list", "d")]),
            metric(&m, "origuard_time_to_block_seconds_sum", &[("list", "d")]),
        )
    };
    assert_eq!(count().await, (0.0, 0.0), "exists from zero");
    // Before the change: HSI's query reaches the switch; ICE's is declined
    // (listed all along, not a new block).
    let hsi = dq("VTHSI0100", "C1", "OLN/X1");
    send(&mut nlw, &hsi).await;
    assert_eq!(&swr.next(DEADLINE).await.unwrap()[..], &hsi[..]);
    // The change: HSI listed.
    std::fs::write(
        &pol,
        base.replace("\"VTICE0900\"]", "\"VTICE0900\", \"VTHSI0100\"]"),
    )
    .unwrap();
    let r = h.proxy.shared.reload("test", false);
    assert!(r.applied, "{}", r.message);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // ICE, refused before the change too: not observed.
    send(&mut nlw, &dq("VTICE0900", "C2", "OLN/X2")).await;
    assert!(nlr.next(DEADLINE).await.is_some(), "a decline reply to ICE");
    assert_eq!(count().await.0, 0.0, "ICE was refused before the change");
    // HSI's first refused query: observed, about 1.2 s after the change.
    for c in ["C3", "C4"] {
        send(&mut nlw, &dq("VTHSI0100", c, "OLN/X1")).await;
        assert!(nlr.next(DEADLINE).await.is_some(), "a decline reply to HSI");
    }
    assert!(swr.next(Duration::from_millis(300)).await.is_none());
    let (n, sum) = count().await;
    assert_eq!(n, 1.0, "observed once per change and list");
    assert!((1.2..30.0).contains(&sum), "time to block {sum} s");
    eprintln!("time to block: {sum:.3} s");
}
