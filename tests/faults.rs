//! The fault matrix: the proxy under the faults an operator meets — a full
//! audit disk, idle and half-sent connections, an unreachable Nlets, a
//! rotated or deleted audit file, a flood on the admin port, `kill -9` —
//! each checked against the guarantees in specs/proxy.md and specs/audit.md:
//! nothing forwarded without a durable record, nothing read left undecided
//! or unrecorded, nothing counted as delivered that was not written, memory
//! within its budget, and the switch never locked out.
//!
//! Loopback only; every wait is bounded. Longer versions: benches/soak.sh.

mod common;
use common::process::*;
use common::*;
use origuard::audit::verify::verify;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const TOKEN: &str = "fault-token";

/// `origuard serve --config` as a process.
type Proc = Served;

/// Writes a config for one link and returns its path.
fn config(dir: &Path, audit: &Path, upstream: &str, limits: &str, audit_extra: &str) -> PathBuf {
    let token = dir.join("token");
    std::fs::write(&token, TOKEN).unwrap();
    write_config(
        dir,
        audit,
        upstream,
        audit_extra,
        &format!("token_file = {:?}", token.to_str().unwrap()),
        &format!("drain_timeout = \"1s\"\n{limits}"),
    )
}

/// A temp dir, a fake Nlets listener and a config for one link to it (audit
/// log `DIR/audit.jsonl`).
struct Setup {
    dir: tempfile::TempDir,
    audit: PathBuf,
    nlets: TcpListener,
    cfg: PathBuf,
}

async fn setup(limits: &str, audit_extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let nlets = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = nlets.local_addr().unwrap().to_string();
    let cfg = config(dir.path(), &audit, &up, limits, audit_extra);
    Setup {
        dir,
        audit,
        nlets,
        cfg,
    }
}

/// Starts `wrapper... origuard serve --config cfg` and waits for its addresses.
fn spawn(wrapper: &[&str], cfg: &Path) -> Proc {
    let mut cmd = origuard(wrapper);
    cmd.args(["serve", "--config", cfg.to_str().unwrap()]);
    let (child, lines) = spawn_lines(cmd);
    served(child, lines)
}

async fn wait_for<F, Fut>(what: &str, limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t = Instant::now();
    while !f().await {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Every record of a log (one file), as JSON.
fn records(data: &[u8]) -> Vec<serde_json::Value> {
    // Complete lines only: a live file may end in a record being written.
    data.split_inclusive(|&b| b == b'\n')
        .filter(|l| l.ends_with(b"\n"))
        .map(|l| serde_json::from_slice(l).unwrap())
        .filter(|v: &serde_json::Value| v.get("seq").is_some())
        .collect()
}

fn of_kind<'a>(recs: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    recs.iter().filter(|r| r["kind"] == kind).collect()
}

fn seqs(recs: &[&serde_json::Value]) -> Vec<u64> {
    recs.iter()
        .flat_map(|r| r["seqs"].as_array().unwrap().iter())
        .map(|s| s.as_u64().unwrap())
        .collect()
}

/// `unshare -m` (root) or `unshare -Urm` (user namespaces), if either works
/// here: the wrapper that gives serve a private tmpfs.
fn namespace_wrapper() -> Option<Vec<&'static str>> {
    for args in [vec!["unshare", "-m"], vec!["unshare", "-Urm"]] {
        let ok = Command::new(args[0])
            .args(&args[1..])
            .args(["sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt && true"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(args);
        }
    }
    None
}

/// A proxy whose audit log lives on a private 1 MiB tmpfs, with one switch
/// session whose first message has arrived at Nlets.
struct OnTmpfs {
    _dir: tempfile::TempDir,
    p: Proc,
    /// The tmpfs as the proxy sees it.
    inside: PathBuf,
    sww: tokio::net::tcp::OwnedWriteHalf,
    _swr: tokio::net::tcp::OwnedReadHalf,
    nlr: Rx<TcpStream>,
}

/// `None` (and a line saying so) where no private tmpfs can be mounted; a
/// failure under `CI=true` instead ([`common::tool::missing`]).
async fn on_tmpfs(test: &str, audit_extra: &str) -> Option<OnTmpfs> {
    let Some(ns) = namespace_wrapper() else {
        common::tool::missing(
            test,
            "a private tmpfs (unshare -m as root, or unshare -Urm with user namespaces)",
            "util-linux's unshare; CI runs as root",
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("auditfs");
    std::fs::create_dir(&mnt).unwrap();
    let nlets = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = config(
        dir.path(),
        &mnt.join("audit.jsonl"),
        &nlets.local_addr().unwrap().to_string(),
        "",
        audit_extra,
    );
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs {} && exec \"$@\"",
        mnt.display()
    );
    let mut wrapper = ns.clone();
    wrapper.extend(["sh", "-c", &script, "sh"]);
    let p = spawn(&wrapper, &cfg);
    let inside = PathBuf::from(format!("/proc/{}/root{}", p.pid(), mnt.display()));
    let sw = TcpStream::connect(p.listen).await.unwrap();
    let (swr, mut sww) = sw.into_split();
    send(&mut sww, &msg(0)).await;
    let (nl, _) = tokio::time::timeout(DEADLINE, nlets.accept())
        .await
        .unwrap()
        .unwrap();
    let mut nlr = Rx::new(nl);
    assert_eq!(nlr.next(DEADLINE).await.unwrap(), msg(0));
    Some(OnTmpfs {
        _dir: dir,
        p,
        inside,
        sww,
        _swr: swr,
        nlr,
    })
}

/// Fills the tmpfs; returns the filler to delete.
fn fill(inside: &Path) -> PathBuf {
    let filler = inside.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    filler
}

// 1. Audit disk full: nothing is forwarded without a durable record; the
//    messages are held, and once the disk takes writes again every one is
//    delivered, once, in order, with its record, and an audit_outage record
//    says what happened. Readiness follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f1_audit_disk_full_holds_every_message_and_recovers() {
    // No room (`preallocate`): with it the log writes on into its room
    // after the disk fills (f1c), and here the outage is the point.
    let Some(t) = on_tmpfs("f1", "preallocate = 0").await else {
        return;
    };
    let OnTmpfs {
        p,
        inside,
        mut sww,
        mut nlr,
        ..
    } = t;
    let filler = fill(&inside);
    // One message at a time while the records still fit in the file's
    // last page; then the disk refuses and the log enters an outage. The
    // rest are sent at once, into the outage: the session must pace itself.
    // (Messages decided before the outage is known wait in the queue,
    // bounded by `limits.queue`: how many depends on how soon the syncer
    // finds the disk full, so the bound below counts them apart.)
    let mut before = 0u64;
    let known = Instant::now();
    while p.metric("origuard_audit_healthy", &[]).await != 0.0 {
        assert!(
            before < 100 && known.elapsed() < DEADLINE,
            "no outage on a full disk"
        );
        before += 1;
        send(&mut sww, &msg(before as usize)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in before as usize + 1..=100 {
        send(&mut sww, &msg(i)).await;
    }
    assert_eq!(p.get("/ready").await.0, 503);
    assert!(p.metric("origuard_audit_outages_total", &[]).await >= 1.0);
    let mut got = 0;
    while let Some(m) = nlr.next(Duration::from_millis(300)).await {
        got += 1;
        assert_eq!(m, msg(got));
    }
    // Held: whatever arrived has its record on disk; nothing more arrives.
    let during = std::fs::read(inside.join("audit.jsonl")).unwrap();
    let durable = of_kind(&records(&during), "decision").len();
    assert!(
        durable > got,
        "{got} forwarded but only {durable} decisions on disk"
    );
    assert!(got < 100, "the outage held nothing");
    assert!(
        nlr.next(Duration::from_millis(800)).await.is_none(),
        "a message was forwarded while its record could not be written"
    );
    // Space again: everything held is delivered, in order, exactly once.
    std::fs::remove_file(&filler).unwrap();
    for i in got + 1..=100 {
        assert_eq!(nlr.next(DEADLINE).await.unwrap(), msg(i), "message {i}");
    }
    assert!(
        nlr.next(Duration::from_millis(300)).await.is_none(),
        "a duplicate"
    );
    wait_for("readiness", DEADLINE, || async {
        p.get("/ready").await.0 == 200
    })
    .await;
    let data = std::fs::read(inside.join("audit.jsonl")).unwrap();
    verify(&data).expect("the log verifies after the outage");
    let recs = records(&data);
    let decisions = of_kind(&recs, "decision");
    assert_eq!(decisions.len(), 101);
    let outage = of_kind(&recs, "audit_outage");
    assert_eq!(outage.len(), 1);
    // Held: the records not yet durable when the disk filled and those of
    // the messages read during the outage (the rest waited in the socket:
    // bounded queues stopped the reading).
    let held = outage[0]["held"].as_u64().unwrap();
    assert!((1..=100).contains(&held), "{}", outage[0]);
    // However long `limits.queue`, a session decides at most 16 messages
    // ahead of its writer during an outage (plus the writer's batch of up
    // to 64 and the message being decided): records held stay bounded.
    assert!(
        held <= before + 16 + 64 + 2,
        "held {held} ({before} sent before the outage): the outage pace let the session run ahead"
    );
    assert_eq!(outage[0]["refused"], 0);
    assert!(outage[0]["error"]
        .as_str()
        .unwrap()
        .contains("No space left"));
    // Every decision was written to the socket, and says so.
    let written = seqs(&of_kind(&recs, "written"));
    for d in &decisions {
        assert!(written.contains(&d["seq"].as_u64().unwrap()), "{d}");
    }
    assert!(p.stop().success());
}

// 2. Idle lockout: 1,030 connections that send nothing, from one address,
//    neither take session slots nor dial Nlets; the switch (another address)
//    is served at once; they are closed at the first-message timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f2_idle_connections_cannot_lock_out_the_switch() {
    let Setup {
        dir: _dir,
        nlets,
        cfg,
        ..
    } = setup("first_message_timeout = \"5s\"", "").await;
    let p = spawn(&[], &cfg);
    let mut idle = Vec::new();
    for _ in 0..1030 {
        let s = TcpSocket::new_v4().unwrap();
        s.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        idle.push(s.connect(p.listen).await.unwrap());
    }
    // Let the accept loop take them all (on a loaded machine some may
    // already have reached the first-message timeout: count those too).
    let sorted = |m: &str| {
        let r = |reason| {
            metric(
                m,
                "origuard_connections_refused_total",
                &[("reason", reason)],
            )
        };
        (
            metric(m, "origuard_connections_pending", &[]) + r("first_message_timeout"),
            r("peer_pending"),
        )
    };
    wait_for("the idle connections to be sorted", DEADLINE, || async {
        let (held, refused) = sorted(&p.get("/metrics").await.1);
        held + refused >= 1030.0
    })
    .await;
    let m = p.get("/metrics").await.1;
    assert_eq!(sorted(&m), (64.0, 966.0), "per-peer pending cap");
    assert_eq!(metric(&m, "origuard_sessions_active", &[]), 0.0);
    // Nobody dialled Nlets for them.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), nlets.accept())
            .await
            .is_err(),
        "an idle connection dialled Nlets"
    );
    // The switch speaks and is served.
    let sw = TcpStream::connect(p.listen).await.unwrap();
    let (_swr, mut sww) = sw.into_split();
    send(&mut sww, &msg(1)).await;
    let (nl, _) = tokio::time::timeout(DEADLINE, nlets.accept())
        .await
        .unwrap()
        .unwrap();
    let mut nlr = Rx::new(nl);
    assert_eq!(nlr.next(DEADLINE).await.unwrap(), msg(1));
    // The idle ones are closed at the first-message timeout, and counted.
    wait_for("the first-message timeout", DEADLINE, || async {
        p.metric("origuard_connections_pending", &[]).await == 0.0
    })
    .await;
    let m = p.get("/metrics").await.1;
    assert_eq!(
        metric(
            &m,
            "origuard_connections_refused_total",
            &[("reason", "first_message_timeout")]
        ),
        64.0
    );
    assert_eq!(metric(&m, "origuard_sessions_active", &[]), 1.0);
    drop(idle);
    assert!(p.stop().success());
}

// 3. Partial frames: 20 sessions each holding an almost complete 8 MiB
//    frame stay within the process buffer budget (32 MiB here): RSS grows by
//    at most the budget + 32 MiB, the rest shed and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f3_partial_frames_stay_within_the_buffer_budget() {
    let Setup {
        dir: _dir,
        nlets: _nlets,
        cfg,
        ..
    } = setup("buffer_budget = 33554432\nmessage_timeout = \"20s\"", "").await;
    let p = spawn(&[], &cfg);
    let base = vm_kib(p.pid(), "VmRSS:");
    let frame = 8 * 1024 * 1024 - 16;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let addr = p.listen;
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let mut head = (frame as u32).to_be_bytes().to_vec();
            head.extend_from_slice(b"DR.COOLN0000.AZNLETS20.TXT\r\n");
            let _ = s.write_all(&head).await;
            let body = vec![b'A'; 64 * 1024];
            let mut sent = head.len();
            // All but the last 100 bytes, as far as the proxy reads.
            while sent + body.len() < frame - 100 {
                match tokio::time::timeout(Duration::from_secs(3), s.write_all(&body)).await {
                    Ok(Ok(())) => sent += body.len(),
                    _ => break,
                }
            }
            (s, sent)
        }));
    }
    let mut held = Vec::new();
    for t in tasks {
        held.push(t.await.unwrap());
    }
    let peak = vm_kib(p.pid(), "VmHWM:");
    let rss = vm_kib(p.pid(), "VmRSS:");
    eprintln!("partial frames: base {base} KiB, RSS {rss} KiB, peak {peak} KiB");
    // Growth over the idle process (whose RSS is mostly this unoptimised
    // build's code: about 22 MiB here, 7 MiB for the release binary).
    assert!(
        peak - base <= (32 + 32) * 1024,
        "peak RSS {peak} KiB is more than the 32 MiB budget + 32 MiB over the idle {base} KiB"
    );
    wait_for("shedding", DEADLINE, || async {
        p.metric("origuard_shed_total", &[]).await >= 1.0
    })
    .await;
    let used = p.metric("origuard_buffered_bytes", &[]).await;
    assert!(used <= 33554432.0 * 1.05, "buffered {used} over the budget");
    drop(held);
    assert!(p.stop().success());
}

// 4a. A short upstream outage loses nothing: the session retries the dial
//     and delivers what it read meanwhile, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f4_short_upstream_outage_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let up = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cfg = config(
        dir.path(),
        &dir.path().join("audit.jsonl"),
        &up.to_string(),
        "",
        "",
    );
    let p = spawn(&[], &cfg);
    let sw = TcpStream::connect(p.listen).await.unwrap();
    let (_swr, mut sww) = sw.into_split();
    for i in 0..10 {
        send(&mut sww, &msg(i)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    // Nlets comes back on the same address.
    let nlets = TcpListener::bind(up).await.unwrap();
    let (nl, _) = tokio::time::timeout(DEADLINE, nlets.accept())
        .await
        .unwrap()
        .unwrap();
    let mut nlr = Rx::new(nl);
    for i in 0..10 {
        assert_eq!(nlr.next(DEADLINE).await.unwrap(), msg(i), "message {i}");
    }
    let m = p.get("/metrics").await.1;
    assert!(metric(&m, "origuard_upstream_failures_total", &[]) >= 2.0);
    assert_eq!(metric(&m, "origuard_undelivered_total", &[]), 0.0);
    assert!(p.stop().success());
}

// 4b. A long outage: every message read is decided, audited and counted,
//     and the log says it was not delivered (no `written` record for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f4_long_upstream_outage_records_every_read_message_undelivered() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let up = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cfg = config(
        dir.path(),
        &audit,
        &up.to_string(),
        "upstream_retry = \"600ms\"",
        "",
    );
    let p = spawn(&[], &cfg);
    let mut sw = TcpStream::connect(p.listen).await.unwrap();
    for i in 0..10 {
        send(&mut sw, &msg(i)).await;
    }
    assert!(
        Rx::new(sw).closed(DEADLINE).await,
        "the session was not closed"
    );
    let m = p.get("/metrics").await.1;
    assert_eq!(
        metric(
            &m,
            "origuard_undelivered_total",
            &[("reason", "upstream_unreachable")]
        ),
        10.0
    );
    assert_eq!(metric(&m, "origuard_messages_total", &[]), 10.0);
    assert!(p.stop().success());
    let data = std::fs::read(audit).unwrap();
    verify(&data).unwrap();
    let recs = records(&data);
    let decided: Vec<u64> = of_kind(&recs, "decision")
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(decided.len(), 10);
    let undelivered = of_kind(&recs, "undelivered");
    assert_eq!(seqs(&undelivered), decided);
    assert_eq!(undelivered[0]["reason"], "upstream_unreachable");
    assert!(
        of_kind(&recs, "written").is_empty(),
        "a delivery was claimed"
    );
}

// 5a. logrotate copytruncate and deletion of the live file: detected within
//     seconds, a new segment continues the chain (no NUL bytes), readiness
//     stays, and the next start accepts the file (no restart loop).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f5_truncated_or_deleted_live_log_starts_a_new_segment() {
    let Setup {
        dir,
        audit,
        nlets,
        cfg,
    } = setup("", "").await;
    let p = spawn(&[], &cfg);
    let sw = TcpStream::connect(p.listen).await.unwrap();
    let (_swr, mut sww) = sw.into_split();
    send(&mut sww, &msg(0)).await;
    let (nl, _) = tokio::time::timeout(DEADLINE, nlets.accept())
        .await
        .unwrap()
        .unwrap();
    let mut nlr = Rx::new(nl);
    assert_eq!(nlr.next(DEADLINE).await.unwrap(), msg(0));
    let mut n = 1;
    let mut traffic = async |sww: &mut tokio::net::tcp::OwnedWriteHalf, k: usize| {
        for _ in 0..k {
            send(sww, &msg(n)).await;
            assert_eq!(nlr.next(DEADLINE).await.unwrap(), msg(n));
            n += 1;
        }
    };
    traffic(&mut sww, 20).await;
    // copytruncate.
    std::fs::copy(&audit, dir.path().join("audit.jsonl.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&audit)
        .unwrap()
        .set_len(0)
        .unwrap();
    traffic(&mut sww, 20).await;
    wait_for("the truncation to be noticed", DEADLINE, || async {
        metric(
            &p.get("/metrics").await.1,
            "origuard_audit_file_events_total",
            &[("event", "truncated")],
        ) == 1.0
    })
    .await;
    let data = std::fs::read(&audit).unwrap();
    assert!(!data.contains(&0), "NUL bytes after copytruncate");
    let v = verify(&data).unwrap();
    assert_eq!(v.segment.as_ref().unwrap().reason, "truncated");
    assert_eq!(p.get("/ready").await.0, 200);
    // Deletion.
    std::fs::rename(&audit, dir.path().join("audit.jsonl.2")).unwrap();
    let aside = dir.path().join("audit.jsonl.2");
    traffic(&mut sww, 5).await;
    wait_for("a new file", DEADLINE, || async { audit.exists() }).await;
    traffic(&mut sww, 5).await;
    // A rotation tool's reopen call: token required; answers what it did.
    assert_eq!(http(p.admin, "POST", "/reopen", None).await.0, 401);
    let (code, body) = http(p.admin, "POST", "/reopen", Some(TOKEN)).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("file unchanged"), "{body}");
    let status = p.stop();
    assert!(status.success(), "{status:?}");
    // Each file verifies; together they hold every decision; the chain
    // runs from one file into the next.
    let two = verify(&std::fs::read(&aside).unwrap()).unwrap();
    let three = verify(&std::fs::read(&audit).unwrap()).unwrap();
    let h3 = three.segment.as_ref().unwrap();
    assert_eq!(h3.reason, "deleted");
    assert_eq!(
        (h3.next_seq, h3.prev.as_str()),
        (two.count, two.head.as_str())
    );
    // The next start continues the file (no refusal, no restart loop).
    let p = spawn(&[], &cfg);
    assert_eq!(p.get("/ready").await.0, 200);
    assert!(p.stop().success());
}

// 5b. A log that fails verification at start (the NUL run an old
//     copytruncate left) is kept aside untouched and serving starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f5_a_broken_log_at_start_is_kept_aside_not_a_restart_loop() {
    let Setup {
        dir,
        audit,
        nlets,
        cfg,
    } = setup("", "").await;
    let up = nlets.local_addr().unwrap().to_string();
    assert!(spawn(&[], &cfg).stop().success());
    let mut data = vec![0u8; 47 * 1024];
    data.extend(std::fs::read(&audit).unwrap());
    std::fs::write(&audit, &data).unwrap();
    let p = spawn(&[], &cfg);
    assert_eq!(p.get("/ready").await.0, 200);
    assert_eq!(
        p.metric(
            "origuard_audit_file_events_total",
            &[("event", "kept_aside")]
        )
        .await,
        1.0
    );
    assert!(p.stop().success());
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("audit.jsonl.broken-"))
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        std::fs::read(&kept[0]).unwrap(),
        data,
        "kept aside untouched"
    );
    let text = std::fs::read_to_string(&audit).unwrap();
    verify(text.as_bytes()).unwrap();
    assert!(text.contains("\"event\":\"kept_aside\"") && text.contains(kept[0].to_str().unwrap()));
    // With on_corrupt = "refuse" the operator gets exit 65 (no restart loop
    // under the shipped unit) and a clear message.
    std::fs::write(&audit, &data).unwrap();
    let cfg = config(dir.path(), &audit, &up, "", "on_corrupt = \"refuse\"");
    let o = common::cli::bin()
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not verify"));
}

// 6. Admin flood: idle admin connections beyond the cap are evicted (the
//    cap bounds file descriptors), the data plane keeps accepting, and accept
//    failures on the data port (out of descriptors) are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f6_admin_flood_does_not_starve_the_data_plane() {
    let Setup {
        dir: _dir,
        nlets,
        cfg,
        ..
    } = setup("", "").await;
    let cfg_text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[admin]\n", "[admin]\nmax_connections = 16\n");
    std::fs::write(&cfg, cfg_text).unwrap();
    let p = spawn(&["sh", "-c", "ulimit -n 64 && exec \"$@\"", "sh"], &cfg);
    let mut flood = Vec::new();
    // More than the cap: the rest wait in the kernel's backlog (a full
    // backlog makes further clients wait in SYN retries; not ours to hold).
    for _ in 0..150 {
        if let Ok(Ok(c)) =
            tokio::time::timeout(Duration::from_millis(100), TcpStream::connect(p.admin)).await
        {
            flood.push(c);
        }
    }
    assert!(
        flood.len() > 16 * 3,
        "only {} admin connections",
        flood.len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The switch is still served.
    let sw = TcpStream::connect(p.listen).await.unwrap();
    let (_swr, mut sww) = sw.into_split();
    send(&mut sww, &msg(7)).await;
    let (nl, _) = tokio::time::timeout(DEADLINE, nlets.accept())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Rx::new(nl).next(DEADLINE).await.unwrap(), msg(7));
    drop(flood);
    // Out of descriptors on the data port: accept fails, is counted, and
    // serving resumes once the flood ends.
    let mut data_flood = Vec::new();
    for _ in 0..260 {
        if let Ok(s) = TcpStream::connect(p.listen).await {
            data_flood.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(data_flood);
    wait_for("an accept failure to be counted", DEADLINE, || async {
        p.metric("origuard_accept_errors_total", &[("listener", "default")])
            .await
            >= 1.0
    })
    .await;
    assert!(p.stop().success());
}

// 8. kill -9 during appends: the log always verifies, and no record claims a
//    delivery that did not arrive (written ⊆ received ⊆ decided).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_appends_never_overcounts_deliveries() {
    let Setup {
        dir: _dir,
        audit,
        nlets,
        cfg,
    } = setup("", "").await;
    let mut received = 0u64;
    for round in 0..3 {
        let mut p = spawn(&[], &cfg);
        let sw = TcpStream::connect(p.listen).await.unwrap();
        let (_swr, mut sww) = sw.into_split();
        let sender = tokio::spawn(async move {
            for i in 0..100_000 {
                if sww
                    .write_all(
                        &origuard::framing::encode(origuard::framing::Framing::Len4, &msg(i))
                            .unwrap(),
                    )
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        let (nl, _) = tokio::time::timeout(DEADLINE, nlets.accept())
            .await
            .unwrap()
            .unwrap();
        let mut nlr = Rx::new(nl);
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(300 + 100 * round) {
            if nlr.next(Duration::from_millis(100)).await.is_some() {
                received += 1;
            }
        }
        let _ = p.child.kill();
        let _ = p.child.wait();
        while nlr.next(Duration::from_millis(200)).await.is_some() {
            received += 1;
        }
        sender.abort();
        let _ = sender.await;
    }
    // One more start recovers any torn tail.
    assert!(spawn(&[], &cfg).stop().success());
    let data = std::fs::read(&audit).unwrap();
    verify(&data).unwrap();
    let recs = records(&data);
    let written = seqs(&of_kind(&recs, "written")).len() as u64;
    let decided = of_kind(&recs, "decision").len() as u64;
    eprintln!("kill -9 x3: decided {decided}, received {received}, recorded written {written}");
    assert!(
        written <= received,
        "written {written} > received {received}"
    );
    assert!(
        received <= decided,
        "received {received} > decided {decided}"
    );
    assert!(written > 0);
}

// 7. Memory after load: rounds of 1,000 concurrent sessions (a photo each,
//    so every read buffer grows) leave the process under 32 MiB once
//    they close — the allocator gives the memory back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f7_memory_is_returned_after_rounds_of_1000_sessions() {
    let Setup {
        dir: _dir,
        nlets,
        cfg,
        ..
    } = setup("max_pending_per_peer = 2000\nmax_pending = 2000", "").await;
    let p = spawn(&[], &cfg);
    let photo = fixture("xml/dr_photo.xml");
    let nlets = std::sync::Arc::new(nlets);
    let mut after = Vec::new();
    for _round in 0..3 {
        let acceptor = {
            let nlets = nlets.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                for _ in 0..1000 {
                    let (s, _) = tokio::time::timeout(DEADLINE, nlets.accept())
                        .await
                        .unwrap()
                        .unwrap();
                    got.push(Rx::new(s));
                }
                let mut n = 0;
                for r in &mut got {
                    if r.next(DEADLINE).await.is_some() {
                        n += 1;
                    }
                }
                (got, n)
            })
        };
        let mut switches = Vec::new();
        for _ in 0..1000 {
            let mut s = TcpStream::connect(p.listen).await.unwrap();
            send(&mut s, &photo).await;
            switches.push(s);
        }
        let (upstreams, n) = acceptor.await.unwrap();
        assert_eq!(n, 1000, "every session delivered its message");
        let peak = vm_kib(p.pid(), "VmRSS:");
        drop(switches);
        drop(upstreams);
        wait_for("the sessions to close", DEADLINE, || async {
            p.metric("origuard_sessions_active", &[]).await == 0.0
        })
        .await;
        // jemalloc purges freed pages after 1 s (.cargo/config.toml).
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let rss = vm_kib(p.pid(), "VmRSS:");
        eprintln!(
            "1,000 sessions: RSS {peak} KiB with them, {rss} KiB after (anon {} KiB, file {} KiB)",
            vm_kib(p.pid(), "RssAnon:"),
            vm_kib(p.pid(), "RssFile:")
        );
        // The anonymous part: the whole RSS also holds the file-backed
        // pages of the unoptimised test build's code (26 MiB of it, and
        // growing with every dependency; 5 MiB for the release binary),
        // which says nothing about memory given back.
        after.push(vm_kib(p.pid(), "RssAnon:"));
    }
    let last = *after.last().unwrap();
    assert!(
        last < 16 * 1024,
        "anonymous RSS {last} KiB after the sessions closed (rounds: {after:?})"
    );
    assert!(p.stop().success());
}

// 1c. The live file's room is a reserve: spaces written ahead of its
//     content are blocks the file already has, so when the disk fills the
//     log goes on making records durable in them, and messages keep moving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f1c_the_room_keeps_the_log_writing_on_a_full_disk() {
    let Some(t) = on_tmpfs("f1c", "preallocate = 262144").await else {
        return;
    };
    let OnTmpfs {
        p,
        inside,
        mut sww,
        mut nlr,
        ..
    } = t;
    wait_for("the room", DEADLINE, || async {
        std::fs::metadata(inside.join("audit.jsonl")).is_ok_and(|m| m.len() > 200 << 10)
    })
    .await;
    let filler = fill(&inside);
    assert!(
        std::fs::write(inside.join("probe"), [b'x'; 4096]).is_err(),
        "the disk is not full"
    );
    // 100 messages, one at a time, each forwarded only once its records
    // are durable: about 80 KiB of records, inside the room.
    for i in 1..=100 {
        send(&mut sww, &msg(i)).await;
        assert_eq!(nlr.next(DEADLINE).await.unwrap(), msg(i), "message {i}");
    }
    assert_eq!(p.metric("origuard_audit_healthy", &[]).await, 1.0);
    assert_eq!(p.metric("origuard_audit_outages_total", &[]).await, 0.0);
    let data = std::fs::read(inside.join("audit.jsonl")).unwrap();
    verify(&data).expect("the log verifies");
    assert_eq!(of_kind(&records(&data), "decision").len(), 101);
    std::fs::remove_file(&filler).unwrap();
    assert!(p.stop().success());
}

// 1b. `on_failure = "restricted"`: during an outage unrestricted traffic is
//     still forwarded (its record written at recovery), restricted traffic
//     is refused — not forwarded, not declined, counted — and recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f1b_on_failure_restricted_keeps_ordinary_traffic_moving() {
    // No room: see f1.
    let Some(t) = on_tmpfs("f1b", "on_failure = \"restricted\"\npreallocate = 0").await else {
        return;
    };
    let OnTmpfs {
        p,
        inside,
        mut sww,
        mut nlr,
        ..
    } = t;
    let filler = fill(&inside);
    // Push records until the log notices the disk is full.
    let mut i = 1;
    while p.metric("origuard_audit_healthy", &[]).await != 0.0 {
        send(&mut sww, &msg(i)).await;
        assert_eq!(nlr.next(DEADLINE).await.unwrap(), msg(i));
        i += 1;
        assert!(i < 5000, "the disk never filled");
    }
    // Restricted: a driver-licence response to a denied agency.
    let denied = fixture("legacy/dr_input.txt");
    let denied = String::from_utf8_lossy(&denied).replace("AZNLETS20", "VTICE0900");
    send(&mut sww, denied.as_bytes()).await;
    // Unrestricted traffic still moves, in order, behind it.
    for k in i..i + 5 {
        send(&mut sww, &msg(k)).await;
        assert_eq!(nlr.next(DEADLINE).await.unwrap(), msg(k), "message {k}");
    }
    assert!(
        p.metric("origuard_drops_total", &[("reason", "audit_failed")])
            .await
            >= 1.0,
        "the restricted message was not refused"
    );
    std::fs::remove_file(&filler).unwrap();
    wait_for("recovery", DEADLINE, || async {
        p.get("/ready").await.0 == 200
    })
    .await;
    let data = std::fs::read(inside.join("audit.jsonl")).unwrap();
    verify(&data).unwrap();
    let recs = records(&data);
    let undelivered = of_kind(&recs, "undelivered");
    assert!(undelivered.iter().any(|u| u["reason"] == "audit_failed"));
    assert_eq!(of_kind(&recs, "decision").len(), i + 6);
    assert!(p.stop().success());
}
