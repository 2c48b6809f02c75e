//! One use count across instances, on a real PostgreSQL: two `serve`
//! processes share an order with `max_uses = 3` through one database.
//! One use is spent, the database is stopped (order queries are declined,
//! `court_order_store_unavailable`), started again, and then 50 order
//! queries arrive at once, 25 at each instance: exactly the 2 uses left
//! are granted, 3 of 3 in all.

mod common;
use common::orders::*;
use common::pg::Cluster;
use common::process::{origuard, served, spawn_lines, Served};
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

struct Instance {
    proc: Served,
    sw: Rx<tokio::net::tcp::OwnedReadHalf>,
    _sww: tokio::net::tcp::OwnedWriteHalf,
    nlr: Rx<tokio::net::tcp::OwnedReadHalf>,
    nlw: tokio::net::tcp::OwnedWriteHalf,
    audit: std::path::PathBuf,
}

async fn instance(dir: &Path, policy: &str, conninfo: &str) -> Instance {
    let nlets = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let audit = dir.join("audit.jsonl");
    let cfg = dir.join("origuard.toml");
    std::fs::write(
        &cfg,
        format!(
            "[policy]\nfile = {policy:?}\nwatch = false\nledger_postgres = {conninfo:?}\n\
             [audit]\nfile = {:?}\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [[link]]\nname = \"default\"\nlisten = \"127.0.0.1:0\"\nupstream = \"{}\"\ndial = \"on_accept\"\n",
            audit.to_str().unwrap(),
            nlets.local_addr().unwrap()
        ),
    )
    .unwrap();
    let mut cmd = origuard(&[]);
    cmd.args(["serve", "--config", cfg.to_str().unwrap()]);
    let (child, lines) = spawn_lines(cmd);
    let proc = served(child, lines);
    let sw = TcpStream::connect(proc.listen).await.unwrap();
    let (nl, _) = tokio::time::timeout(DEADLINE, nlets.accept())
        .await
        .unwrap()
        .unwrap();
    let (swr, sww) = sw.into_split();
    let (nlr, nlw) = nl.into_split();
    Instance {
        proc,
        sw: Rx::new(swr),
        _sww: sww,
        nlr: Rx::new(nlr),
        nlw,
        audit,
    }
}

/// Messages on `rx` until `want` arrived or nothing came for `quiet`.
async fn drain<R: tokio::io::AsyncRead + Unpin>(
    rx: &mut Rx<R>,
    want: usize,
    quiet: Duration,
) -> usize {
    let t = Instant::now();
    let mut n = 0;
    while n < want && t.elapsed() < DEADLINE * 3 {
        match rx.next(quiet).await {
            Some(_) => n += 1,
            None => break,
        }
    }
    n
}

fn details(audit: &Path, detail: &str) -> usize {
    decisions(audit)
        .iter()
        .filter(|v| v["direction"] == "inbound" && v["detail"] == detail)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_count_through_a_database_restart() {
    let db = Cluster::start();
    let pdir = tempfile::tempdir().unwrap();
    let policy = policy_with_orders(pdir.path(), &order("CASE-PG", "VTICE0900", 3));
    let (da, dbb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = instance(da.path(), &policy, &db.conninfo()).await;
    let mut b = instance(dbb.path(), &policy, &db.conninfo()).await;

    // One use through A.
    send(&mut a.nlw, &order_query("VTICE0900", "PG0")).await;
    assert!(
        a.sw.next(DEADLINE).await.is_some(),
        "the first use is granted"
    );

    // The database stops: nothing is granted, every refusal is recorded.
    db.server("stop");
    for i in 0..5 {
        send(&mut a.nlw, &order_query("VTICE0900", &format!("DA{i}"))).await;
        send(&mut b.nlw, &order_query("VTICE0900", &format!("DB{i}"))).await;
    }
    assert_eq!(drain(&mut a.nlr, 5, Duration::from_secs(5)).await, 5);
    assert_eq!(drain(&mut b.nlr, 5, Duration::from_secs(5)).await, 5);
    assert!(a.sw.next(Duration::from_millis(200)).await.is_none());
    assert!(b.sw.next(Duration::from_millis(200)).await.is_none());
    let down = details(&a.audit, "court_order_store_unavailable")
        + details(&b.audit, "court_order_store_unavailable");
    assert_eq!(down, 10, "each refusal audited with its reason");
    assert_eq!(
        a.proc
            .metric(
                "origuard_court_order_queries_refused_total",
                &[("reason", "court_order_store_unavailable")]
            )
            .await,
        5.0
    );

    // Back up: 50 order queries at once, 25 at each instance.
    db.server("start");
    let (qa, qb): (Vec<u8>, Vec<u8>) = (0..25)
        .map(|i| {
            let f = |c: &str| {
                let m = order_query("VTICE0900", c);
                let mut out = (m.len() as u32).to_be_bytes().to_vec();
                out.extend_from_slice(&m);
                out
            };
            (f(&format!("CA{i}")), f(&format!("CB{i}")))
        })
        .fold((Vec::new(), Vec::new()), |(mut x, mut y), (p, q)| {
            x.extend(p);
            y.extend(q);
            (x, y)
        });
    use tokio::io::AsyncWriteExt;
    let (ra, rb) = tokio::join!(a.nlw.write_all(&qa), b.nlw.write_all(&qb));
    ra.unwrap();
    rb.unwrap();
    let declined = drain(&mut a.nlr, 25, Duration::from_secs(3)).await
        + drain(&mut b.nlr, 25, Duration::from_secs(3)).await;
    let forwarded = drain(&mut a.sw, 25, Duration::from_millis(500)).await
        + drain(&mut b.sw, 25, Duration::from_millis(500)).await;
    assert_eq!(
        (forwarded, declined),
        (2, 48),
        "exactly the 2 uses left, across both instances"
    );
    let granted = |p: &Path| {
        decisions(p)
            .iter()
            .filter(|v| v["reason"] == "court_order")
            .count()
    };
    let total = granted(&a.audit) + granted(&b.audit);
    assert_eq!(total, 3);
    let used_up =
        details(&a.audit, "court_order_used_up") + details(&b.audit, "court_order_used_up");
    assert_eq!(used_up, 48);
    println!(
        "case two instances, one database: uses granted {total} of 3 allowed (1 before the stop, 0 of 10 while down, {forwarded} of 50 after); used_up {used_up}"
    );
    let _ = (a.proc.stop(), b.proc.stop());
}
