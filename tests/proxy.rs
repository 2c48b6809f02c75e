//! The inline proxy over loopback: pass-through byte identity, redaction,
//! deny with replies, live reload on an open session, refused reload,
//! framing errors isolated to their session, partial messages never
//! forwarded, drain, metrics.

mod common;
use common::*;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const SHORT: Duration = Duration::from_millis(400);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_through_is_byte_identical_both_ways() {
    let h = start(&example_policy(), |_| {}).await;
    let (sw, nl) = h.pair().await;
    let (swr, mut sww) = sw.into_split();
    let (nlr, mut nlw) = nl.into_split();
    let (mut swr, mut nlr) = (Rx::new(swr), Rx::new(nlr));
    // Outbound: responses to an unlisted agency, legacy and XML with a photo.
    for name in [
        "xml/dr_photo.xml",
        "legacy/dr_output.txt",
        "xml/kr_photo.xml",
    ] {
        let m = fixture(name);
        send(&mut sww, &m).await;
        assert_eq!(nlr.next(DEADLINE).await.unwrap(), m, "{name}");
    }
    // Inbound: queries from an unlisted agency.
    for name in ["legacy/dq_output.txt", "xml/dq.xml", "legacy/er_output.txt"] {
        let m = fixture(name);
        send(&mut nlw, &m).await;
        assert_eq!(swr.next(DEADLINE).await.unwrap(), m, "{name}");
    }
    // Order is preserved per direction under a burst.
    for i in 0..200 {
        send(
            &mut sww,
            format!("DR.COOLN0000.AZNLETS20.TXT\r\nSEQ/{i:05}").as_bytes(),
        )
        .await;
    }
    for i in 0..200 {
        let m = nlr.next(DEADLINE).await.unwrap();
        assert!(m.ends_with(format!("SEQ/{i:05}").as_bytes()));
    }
    h.proxy.shutdown().await.unwrap();
}

/// An inbound query from `ori` with `control`, sent from Nlets and read on
/// the switch side: the agency asked, so its answer may carry the control.
async fn ask<W: tokio::io::AsyncWrite + Unpin, R: tokio::io::AsyncRead + Unpin>(
    nlw: &mut W,
    swr: &mut Rx<R>,
    ori: &str,
    control: &str,
) {
    send(
        nlw,
        format!("DQ.{ori}.CO.*{control}.TXT\r\nRSN/V.OLN/000000000").as_bytes(),
    )
    .await;
    swr.next(DEADLINE).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redaction_and_deny_with_replies() {
    let h = start(&example_policy(), |_| {}).await;
    let (sw, nl) = h.pair().await;
    let (swr, mut sww) = sw.into_split();
    let (nlr, mut nlw) = nl.into_split();
    let (mut swr, mut nlr) = (Rx::new(swr), Rx::new(nlr));
    // Outbound DR to a redact-listed agency, answering its query: photo and
    // POB removed, written anew.
    ask(&mut nlw, &mut swr, "VADEADX00", "A0TRM0042").await;
    let dr = String::from_utf8(fixture("xml/dr_photo.xml").to_vec())
        .unwrap()
        .replace(">AZNLETS20<", ">VADEADX00<");
    send(&mut sww, dr.as_bytes()).await;
    let got = nlr.next(DEADLINE).await.unwrap();
    let s = std::str::from_utf8(&got).unwrap();
    assert!(
        !s.contains("BinaryBase64Object") && !s.contains("POB/") && !s.contains("EXAMPLE CITY")
    );
    assert!(
        s.contains(">A0TRM0042</nh2:DocumentControlFieldText>") && s.contains(">VADEADX00<"),
        "{s}"
    );
    // The same response again, a query nobody sent: declined, and the
    // decline carries no control field.
    let unasked = dr.replace("A0TRM0042", "Z9UNASKED");
    send(&mut sww, unasked.as_bytes()).await;
    let got = nlr.next(DEADLINE).await.unwrap();
    let s = std::str::from_utf8(&got).unwrap();
    assert!(
        s.contains("REQUEST DECLINED") && !s.contains("Z9UNASKED") && !s.contains("DOE"),
        "{s}"
    );
    // Outbound DR to ICE: replaced by a decline.
    send(&mut sww, &fixture("xml/dr_photo_to_ice.xml")).await;
    let got = nlr.next(DEADLINE).await.unwrap();
    let s = std::str::from_utf8(&got).unwrap();
    // ICE sent no query with ICE0000001: the decline carries no control field.
    assert!(
        s.contains("REQUEST DECLINED")
            && !s.contains("BinaryBase64Object")
            && !s.contains("ICE0000001"),
        "{s}"
    );
    // Inbound DQ from ICE: never reaches the switch; the decline goes back to Nlets.
    send(&mut nlw, &fixture("legacy/dq_from_ice.txt")).await;
    let reply = nlr.next(DEADLINE).await.unwrap();
    assert!(
        reply.starts_with(b"DR.COOLN0000.VTICE0900.*ICE0000001.TXT\r\n"),
        "{reply:?}"
    );
    assert!(
        swr.next(SHORT).await.is_none(),
        "denied query reached the switch"
    );
    let audit = h.audit_path();
    h.proxy.shutdown().await.unwrap();
    // Every decision was audited and the chain verifies.
    let log = std::fs::read(audit).unwrap();
    let v = origuard::audit::verify::verify(&log).unwrap();
    let text = String::from_utf8(log).unwrap();
    // The query asked, the answer, the unasked answer, ICE's DR and ICE's DQ.
    assert_eq!(text.matches("\"kind\":\"decision\"").count(), 5);
    assert!(v.count >= 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_changes_the_next_decision_on_an_open_session() {
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("p.toml");
    let base = cli::DENY_ICE_POLICY;
    std::fs::write(&pol, base).unwrap();
    let h = start(pol.to_str().unwrap(), |c| c.watch_policy = false).await;
    let (sw, nl) = h.pair().await;
    let (_swr, mut sww) = sw.into_split();
    let (nlr, _nlw) = nl.into_split();
    let mut nlr = Rx::new(nlr);
    let dr = fixture("legacy/dr_input.txt");
    send(&mut sww, &dr).await;
    assert_eq!(nlr.next(DEADLINE).await.unwrap(), dr);
    // Deny the requester and reload: the same open session now gets a decline.
    std::fs::write(
        &pol,
        base.replace("[\"VTICE0900\"]", "[\"VTICE0900\", \"AZNLETS20\"]"),
    )
    .unwrap();
    let origuard::runtime::admin::Reloaded {
        applied: ok,
        message: msg,
    } = h.proxy.shared.reload("test", false);
    assert!(ok, "{msg}");
    send(&mut sww, &dr).await;
    let got = nlr.next(DEADLINE).await.unwrap();
    // AZNLETS20 sent no query with A0TRM0042: the decline carries no
    // control field.
    assert!(
        got.starts_with(b"DR.COOLN0000.AZNLETS20.TXT") && got.ends_with(b"INFORMATION"),
        "{got:?}"
    );
    // A broken policy is refused; the running one stays.
    let before = h.proxy.shared.policy.current().version.clone();
    std::fs::write(
        &pol,
        "[[list]]\nname = \"d\"\naction = \"deny\"\nentries = [\"VTICE09\"]\n",
    )
    .unwrap();
    let origuard::runtime::admin::Reloaded {
        applied: ok,
        message: msg,
    } = h.proxy.shared.reload("test", false);
    assert!(
        !ok && msg.contains("refused") && msg.contains("7 characters"),
        "{msg}"
    );
    assert_eq!(h.proxy.shared.policy.current().version, before);
    send(&mut sww, &dr).await;
    assert!(nlr
        .next(DEADLINE)
        .await
        .unwrap()
        .starts_with(b"DR.COOLN0000.AZNLETS20.TXT\r\nREQUEST DECLINED"));
    // Admin endpoint: token required; reload counted.
    let admin = h.proxy.admin_addr.unwrap();
    assert_eq!(http(admin, "POST", "/reload", None).await.0, 401);
    assert_eq!(http(admin, "POST", "/reload", Some("wrong")).await.0, 401);
    std::fs::write(&pol, base).unwrap();
    let (code, body) = http(admin, "POST", "/reload", Some("test-token")).await;
    assert_eq!(code, 200, "{body}");
    send(&mut sww, &dr).await;
    assert_eq!(nlr.next(DEADLINE).await.unwrap(), dr);
    let (_, metrics) = h.get("/metrics").await;
    assert!(
        metric(
            &metrics,
            "origuard_policy_reloads_total",
            &[("result", "refused")]
        ) >= 1.0
    );
    let audit = h.audit_path();
    h.proxy.shutdown().await.unwrap();
    let log = std::fs::read_to_string(audit).unwrap();
    assert!(log.contains("\"result\":\"refused\"") && log.contains("\"trigger\":\"admin\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_watch_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("p.toml");
    let base = cli::DENY_ICE_POLICY;
    std::fs::write(&pol, base).unwrap();
    let h = start(pol.to_str().unwrap(), |_| {}).await;
    let _w = origuard::runtime::reload::watch_policy(h.proxy.shared.clone()).unwrap();
    let v1 = h.proxy.shared.policy.current().version.clone();
    // Replace the file the way editors and config management do: write a
    // temporary file and rename it over the original.
    let tmp = dir.path().join("p.toml.tmp");
    std::fs::write(&tmp, base.replace("VTICE0900", "TXICE2000")).unwrap();
    std::fs::rename(&tmp, &pol).unwrap();
    let mut changed = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if h.proxy.shared.policy.current().version != v1 {
            changed = true;
            break;
        }
    }
    assert!(changed, "file change did not reload the policy");
    h.proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame_closes_only_that_session() {
    let h = start(&example_policy(), |c| c.limits.max_message = 1024).await;
    let (a_sw, a_nl) = h.pair().await;
    let (b_sw, b_nl) = h.pair().await;
    let (a_swr, mut a_sww) = a_sw.into_split();
    let mut a_swr = Rx::new(a_swr);
    let mut a_nl = Rx::new(a_nl);
    // Announce 1 MiB on session A.
    a_sww.write_all(&(1u32 << 20).to_be_bytes()).await.unwrap();
    a_sww
        .write_all(b"DR.COOLN0000.AZNLETS20.TXT\r\n")
        .await
        .unwrap();
    assert!(a_swr.closed(DEADLINE).await, "session A not closed");
    assert!(a_nl.closed(DEADLINE).await);
    // Session B is unaffected.
    let (b_swr, mut b_sww) = b_sw.into_split();
    let _ = b_swr;
    let mut b_nl = Rx::new(b_nl);
    let dr = fixture("legacy/dr_input.txt");
    send(&mut b_sww, &dr).await;
    assert_eq!(b_nl.next(DEADLINE).await.unwrap(), dr);
    let (_, metrics) = h.get("/metrics").await;
    assert!(
        metric(
            &metrics,
            "origuard_frame_errors_total",
            &[("reason", "frame_oversized")]
        ) >= 1.0
    );
    h.proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_reset_mid_message_forwards_nothing_partial() {
    let h = start(&example_policy(), |_| {}).await;
    let (sw, nl) = h.pair().await;
    let mut swr = Rx::new(sw);
    let dq = fixture("xml/dq.xml");
    let framed = origuard::framing::encode(origuard::framing::Framing::Len4, &dq).unwrap();
    let std_nl = nl.into_std().unwrap();
    std_nl.set_nonblocking(false).unwrap();
    {
        use std::io::Write;
        let mut s = &std_nl;
        s.write_all(&framed[..framed.len() / 2]).unwrap();
        s.flush().unwrap();
    }
    // Close with the proxy's half message in flight: the proxy sees EOF
    // inside a frame (truncated), and must forward nothing of it.
    drop(std_nl);
    assert!(
        swr.closed(DEADLINE).await,
        "switch side not closed after upstream reset"
    );
    assert!(swr.next(SHORT).await.is_none());
    h.proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_message_then_close_is_not_forwarded() {
    let h = start(&example_policy(), |_| {}).await;
    let (sw, nl) = h.pair().await;
    let (swr, mut sww) = sw.into_split();
    drop(swr);
    let mut nlr = Rx::new(nl);
    let dr = fixture("legacy/dr_input.txt");
    send(&mut sww, &dr).await;
    let framed = origuard::framing::encode(origuard::framing::Framing::Len4, &dr).unwrap();
    sww.write_all(&framed[..framed.len() - 5]).await.unwrap();
    sww.shutdown().await.unwrap();
    assert_eq!(nlr.next(DEADLINE).await.unwrap(), dr);
    assert!(nlr.next(SHORT).await.is_none(), "partial message forwarded");
    h.proxy.shutdown().await.unwrap();
    let (frames, _) =
        origuard::framing::split_all(origuard::framing::Framing::Len4, &framed, 1 << 20);
    assert_eq!(frames.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_finishes_within_the_cap() {
    let h = start(&example_policy(), |c| {
        c.limits.drain_timeout = Duration::from_secs(1)
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..5 {
        open.push(h.pair().await);
    }
    // One session whose Nlets side never reads while we push a lot.
    let (sw, _nl_never_read) = h.pair().await;
    let (_r, mut w) = sw.into_split();
    let big = vec![b'A'; 60_000];
    let mut msg = b"DR.COOLN0000.AZNLETS20.TXT\r\n".to_vec();
    msg.extend_from_slice(&big);
    let pusher = tokio::spawn(async move {
        for _ in 0..2000 {
            if tokio::time::timeout(Duration::from_secs(3), send(&mut w, &msg))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, _) = h.get("/ready").await;
    assert_eq!(code, 200);
    let t = std::time::Instant::now();
    let shared = h.proxy.shared.clone();
    h.proxy.shutdown().await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "drain took {:?}",
        t.elapsed()
    );
    assert_eq!(shared.sessions.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(shared.ready().is_err());
    pusher.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_reflect_the_counts() {
    let h = start(&example_policy(), |_| {}).await;
    let (_, before) = h.get("/metrics").await;
    let base = |t: &str, cat: &str| {
        metric(
            t,
            "origuard_messages_total",
            &[("direction", "outbound"), ("category", cat)],
        )
    };
    let (p0, r0, d0) = (
        base(&before, "passed"),
        base(&before, "redacted"),
        base(&before, "denied"),
    );
    let (sw, nl) = h.pair().await;
    let (swr, mut sww) = sw.into_split();
    let (nlr, mut nlw) = nl.into_split();
    let (mut swr, mut nlr) = (Rx::new(swr), Rx::new(nlr));
    for _ in 0..3 {
        send(&mut sww, &fixture("legacy/dr_input.txt")).await;
        nlr.next(DEADLINE).await.unwrap();
    }
    ask(&mut nlw, &mut swr, "VADEADX00", "A0TRM0042").await;
    let red = String::from_utf8(fixture("legacy/dr_input.txt").to_vec())
        .unwrap()
        .replace("AZNLETS20", "VADEADX00");
    send(&mut sww, red.as_bytes()).await;
    nlr.next(DEADLINE).await.unwrap();
    send(&mut sww, &fixture("xml/dr_photo_to_ice.xml")).await;
    nlr.next(DEADLINE).await.unwrap();
    let (code, after) = h.get("/metrics").await;
    assert_eq!(code, 200);
    assert!(base(&after, "passed") - p0 >= 3.0);
    assert!(base(&after, "redacted") - r0 >= 1.0);
    assert!(base(&after, "denied") - d0 >= 1.0);
    assert!(after.contains("origuard_redactions_total{field=\"pob\"}"));
    assert!(after.contains("origuard_decision_seconds_bucket"));
    assert!(after.contains("list=\"federal_redact\""));
    assert!(
        !after.contains("VADEADX00") && !after.contains("VTICE0900"),
        "raw ORI in metrics labels"
    );
    let (code, status) = h.get("/status").await;
    assert_eq!(code, 200);
    assert!(status.contains("\"healthy\":true"));
    assert_eq!(h.get("/live").await.0, 200);
    h.proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_unreachable_retries_then_closes() {
    let h = start(&example_policy(), |c| {
        c.limits.upstream_retry = Duration::from_secs(1);
    })
    .await;
    let addr = h.proxy.listen_addrs[0];
    drop(h.nlets);
    let t = std::time::Instant::now();
    let mut s = Rx::new(tokio::net::TcpStream::connect(addr).await.unwrap());
    assert!(s.closed(DEADLINE).await);
    // Retried with backoff (50, 100, 200, 400 ms) for the retry period.
    assert!(
        t.elapsed() >= Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
    let (_, metrics) = http(h.proxy.admin_addr.unwrap(), "GET", "/metrics", None).await;
    assert!(metric(&metrics, "origuard_upstream_failures_total", &[]) >= 4.0);
    assert_eq!(
        metric(
            &metrics,
            "origuard_sessions_total",
            &[("end", "upstream_unreachable")]
        ),
        1.0
    );
    h.proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_partial_message_times_out_without_stalling_others() {
    let h = start(&example_policy(), |c| {
        c.limits.message_timeout = Duration::from_millis(500)
    })
    .await;
    let (slow_sw, slow_nl) = h.pair().await;
    let (fast_sw, fast_nl) = h.pair().await;
    let (slow_r, mut slow_w) = slow_sw.into_split();
    let mut slow_r = Rx::new(slow_r);
    let mut slow_nl = Rx::new(slow_nl);
    // Announce 1,000 bytes and trickle a few.
    slow_w.write_all(&1000u32.to_be_bytes()).await.unwrap();
    slow_w
        .write_all(b"DR.COOLN0000.AZNLETS20.TXT\r\n")
        .await
        .unwrap();
    let t = std::time::Instant::now();
    // The fast session keeps working meanwhile.
    let (_fr, mut fw) = fast_sw.into_split();
    let mut fast_nl = Rx::new(fast_nl);
    for _ in 0..5 {
        send(&mut fw, &fixture("legacy/dr_input.txt")).await;
        assert!(fast_nl.next(DEADLINE).await.is_some());
        let _ = slow_w.write_all(b"X").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(slow_r.closed(DEADLINE).await, "slow session not closed");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    assert!(
        slow_nl.next(SHORT).await.is_none(),
        "partial message forwarded"
    );
    let (_, metrics) = h.get("/metrics").await;
    assert!(
        metric(
            &metrics,
            "origuard_frame_errors_total",
            &[("reason", "message_timeout")]
        ) >= 1.0
    );
    h.proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_finishes_messages_already_received() {
    let h = start(&example_policy(), |_| {}).await;
    let (sw, nl) = h.pair().await;
    let (_r, mut w) = sw.into_split();
    let mut nlr = Rx::new(nl);
    // A burst, then shutdown right away: everything received is forwarded.
    let mut burst = Vec::new();
    for i in 0..50 {
        let m = format!("DR.COOLN0000.AZNLETS20.TXT\r\nSEQ/{i:04}");
        burst.extend_from_slice(
            &origuard::framing::encode(origuard::framing::Framing::Len4, m.as_bytes()).unwrap(),
        );
    }
    w.write_all(&burst).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while nlr.next(DEADLINE).await.is_some() {
            n += 1;
        }
        n
    });
    h.proxy.shutdown().await.unwrap();
    assert_eq!(reader.await.unwrap(), 50);
}

#[tokio::test]
async fn every_metric_has_help_and_build_info_is_exported() {
    let h = start(&example_policy(), |_| {}).await;
    let (code, text) = h.get("/metrics").await;
    assert_eq!(code, 200);
    let want = format!("origuard_build_info{{version=\"{}\"}} 1", origuard::VERSION);
    assert!(
        text.lines().any(|l| l == want),
        "{want:?} not in {:?}",
        text.lines()
            .filter(|l| l.contains("build_info"))
            .collect::<Vec<_>>()
    );
    // Alerting series are there before the first event.
    for series in [
        "origuard_audit_errors_total",
        "origuard_ready",
        "origuard_audit_healthy",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(series)),
            "{series} missing"
        );
    }
    // Every family has HELP text.
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(families.len() >= 5, "{text}");
    for f in families {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("# HELP {f} "))),
            "no HELP for {f}"
        );
    }
    // promtool, when installed (.ci/run installs it), agrees.
    if let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    } else {
        common::tool::missing(
            "promtool check metrics",
            "promtool",
            "Debian package prometheus; .ci/run installs it",
        );
    }
}

/// With the decision stage on (three workers), a burst in each direction
/// arrives in order, each message exactly as `decide` predicts, and every
/// decision is audited once and recorded written once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_decisions_keep_order_and_audit_each_message_once() {
    use origuard::decision::Outcome;
    use origuard::message::Direction;
    let h = start(&example_policy(), |c| c.limits.decision_workers = 3).await;
    let policy = origuard::runtime::policy_store::load_path(&example_policy()).unwrap();
    let limits = origuard::message::Limits {
        max_text: origuard::framing::DEFAULT_MAX_MESSAGE,
        ..Default::default()
    };
    let (sw, nl) = h.pair().await;
    let (swr, mut sww) = sw.into_split();
    let (nlr, mut nlw) = nl.into_split();
    let (mut swr, mut nlr) = (Rx::new(swr), Rx::new(nlr));
    let mut g = origuard::capture::gen::Generator::new(21, Default::default());
    let mut total = 0;
    let predictor = origuard::decision::ledger::Ledger::new(
        Some(std::sync::Arc::new(
            origuard::decision::ledger::MemoryStore::default(),
        )),
        policy.court_order_window,
        std::time::SystemTime::UNIX_EPOCH,
    );
    for dir in [Direction::Outbound, Direction::Inbound] {
        let msgs: Vec<_> = (0..150)
            .map(|_| g.message(dir == Direction::Inbound))
            .collect();
        total += msgs.len();
        let mut want = Vec::new();
        let mut replies = 0;
        for m in &msgs {
            // Predicted with a ledger, as the proxy decides: a response whose
            // control field no query carried is declined.
            let cx = origuard::decision::Context {
                now: std::time::SystemTime::now(),
                ledger: Some(&predictor),
            };
            match (
                origuard::decision::decide_in(dir, m.clone(), &policy, &limits, &cx).outcome,
                dir,
            ) {
                (Outcome::Forward(b), _) => want.push(b),
                (Outcome::Deny { reply: Some(r) }, Direction::Outbound) => want.push(r),
                (Outcome::Deny { reply: Some(_) }, Direction::Inbound) => replies += 1,
                _ => {}
            }
        }
        assert!(want.len() > 50);
        let (tx, rx) = match dir {
            Direction::Outbound => (&mut sww, &mut nlr),
            Direction::Inbound => (&mut nlw, &mut swr),
        };
        let send_all = async {
            for m in &msgs {
                send(tx, m).await;
            }
        };
        let recv_all = async {
            for (i, w) in want.iter().enumerate() {
                let got = rx.next(DEADLINE).await.unwrap();
                assert!(got == w, "{dir:?} message {i} out of order or changed");
            }
        };
        tokio::join!(send_all, recv_all);
        for _ in 0..replies {
            assert!(nlr.next(DEADLINE).await.is_some());
        }
    }
    let audit = h.audit_path();
    h.proxy.shutdown().await.unwrap();
    let log = std::fs::read(audit).unwrap();
    origuard::audit::verify::verify(&log).unwrap();
    let text = String::from_utf8(log).unwrap();
    assert_eq!(text.matches("\"kind\":\"decision\"").count(), total);
    let mut written = std::collections::HashMap::<u64, usize>::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["kind"] == "written" {
            for s in v["seqs"].as_array().unwrap() {
                *written.entry(s.as_u64().unwrap()).or_default() += 1;
            }
        }
    }
    assert!(written.len() > 100, "{}", written.len());
    assert!(written.values().all(|n| *n == 1), "a message written twice");
}
