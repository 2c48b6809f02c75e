//! `origuard serve` as a process: SIGHUP reloads, SIGTERM drains and exits
//! 0, memory stays bounded while a peer stops reading.

mod common;
use common::process::*;
use common::*;
use std::collections::HashSet;
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

/// `origuard serve ARGS` on ephemeral loopback ports, its stderr lines
/// delivered on a channel.
fn spawn_serve(args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    spawn_serve_env(args, &[])
}

/// [`spawn_serve`] with extra environment variables.
fn spawn_serve_env(args: &[&str], env: &[(&str, &str)]) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = origuard(&[]);
    cmd.arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        .envs(env.iter().copied());
    spawn_lines(cmd)
}

fn serve(args: &[&str]) -> Served {
    serve_env(args, &[])
}

/// [`serve`] with extra environment variables.
fn serve_env(args: &[&str], env: &[(&str, &str)]) -> Served {
    let (child, rx) = spawn_serve_env(args, env);
    served(child, rx)
}

fn rss_kib(pid: u32) -> u64 {
    vm_kib(pid, "VmRSS:")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_sigterm_drains() {
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("p.toml");
    let audit = dir.path().join("audit.jsonl");
    let base = cli::DENY_ICE_POLICY;
    std::fs::write(&pol, base).unwrap();
    let nlets = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = nlets.local_addr().unwrap().to_string();
    let mut s = serve(&[
        "--upstream",
        &up,
        "--policy",
        pol.to_str().unwrap(),
        "--audit",
        audit.to_str().unwrap(),
        // The test accepts the Nlets side before the switch speaks.
        "--dial",
        "on_accept",
    ]);
    let sw = TcpStream::connect(s.listen).await.unwrap();
    let (nl, _) = tokio::time::timeout(DEADLINE, nlets.accept())
        .await
        .unwrap()
        .unwrap();
    let (_swr, mut sww) = sw.into_split();
    let mut nlr = Rx::new(nl);
    let dr = fixture("legacy/dr_input.txt");
    send(&mut sww, &dr).await;
    assert_eq!(nlr.next(DEADLINE).await.unwrap(), dr);
    // SIGHUP with a policy that denies the requester.
    std::fs::write(
        &pol,
        base.replace("[\"VTICE0900\"]", "[\"VTICE0900\", \"AZNLETS20\"]"),
    )
    .unwrap();
    kill(s.child.id(), "-HUP");
    let t = Instant::now();
    loop {
        send(&mut sww, &dr).await;
        let got = nlr.next(DEADLINE).await.unwrap();
        if got.windows(16).any(|w| w == b"REQUEST DECLINED") {
            break;
        }
        assert!(t.elapsed() < DEADLINE, "SIGHUP did not reload");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(http(s.admin, "GET", "/ready", None).await.0, 200);
    // SIGTERM: drains (the open session ends), exits 0.
    kill(s.child.id(), "-TERM");
    let t = Instant::now();
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    let logs: Vec<String> = s.lines.try_iter().collect();
    assert!(logs.iter().any(|l| l.contains("draining")), "{logs:?}");
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(log.contains("\"trigger\":\"sighup\"") && log.contains("\"what\":\"stop\""));
    let o = common::cli::bin()
        .args(["audit", "verify"])
        .arg(&audit)
        .output()
        .unwrap();
    assert!(o.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_keeps_memory_bounded() {
    let nlets = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = nlets.local_addr().unwrap().to_string();
    let mut s = serve(&[
        "--upstream",
        &up,
        "--policy",
        &example_policy(),
        "--drain-timeout",
        "2s",
        "--dial",
        "on_accept",
    ]);
    let pid = s.child.id();
    let sw = TcpStream::connect(s.listen).await.unwrap();
    let (_nl_never_read, _) = tokio::time::timeout(DEADLINE, nlets.accept())
        .await
        .unwrap()
        .unwrap();
    let (_swr, mut sww) = sw.into_split();
    let base_rss = rss_kib(pid);
    // 50 KB messages, up to 2,000 of them (100 MB, far more than all the
    // socket buffers on the way can hold): the Nlets side reads none.
    let mut msg = b"DR.COOLN0000.AZNLETS20.TXT\r\n".to_vec();
    msg.extend(std::iter::repeat_n(b'A', 50_000));
    let mut sent = 0usize;
    for _ in 0..2000 {
        match tokio::time::timeout(Duration::from_secs(2), send(&mut sww, &msg)).await {
            Ok(()) => sent += 1,
            Err(_) => break, // backpressure reached us: the proxy stopped reading
        }
    }
    let peak = rss_kib(pid);
    eprintln!("slow reader: {sent} x 50 KB accepted before backpressure; RSS {base_rss} KiB -> {peak} KiB");
    assert!(
        sent < 2000,
        "the proxy kept reading although Nlets read nothing ({sent} messages)"
    );
    // Bounded: queue_bytes (16 MiB) + read buffer + socket buffers, far below what was offered.
    assert!(
        peak.saturating_sub(base_rss) < 32 * 1024,
        "RSS grew from {base_rss} KiB to {peak} KiB"
    );
    kill(pid, "-TERM");
    let t = Instant::now();
    while s.child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(10) {
            let _ = s.child.kill();
            panic!("no exit within the 2 s drain cap");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn serve_check_validates_without_binding_or_writing() {
    let dir = tempfile::tempdir().unwrap();
    // A port that is in use: a real start would fail to bind it.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let cfg = dir.path().join("origuard.toml");
    let write = |policy: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[policy]\nfile = {policy:?}\n[audit]\nfile = {:?}\n[admin]\nlisten = \"off\"\n[[link]]\nname = \"a\"\nlisten = \"{addr}\"\nupstream = \"127.0.0.1:9\"\n",
                audit.to_str().unwrap()
            ),
        )
        .unwrap()
    };
    write(&example_policy());
    let o = common::cli::bin()
        .args(["serve", "--config", cfg.to_str().unwrap(), "--check"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("configuration valid: 1 link(s)"), "{out}");
    assert!(!audit.exists(), "--check wrote the audit log");
    // A refused policy: exit 64 with its file:line errors.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[list]]\nname = \"x\"\naction = \"block\"\n").unwrap();
    write(bad.to_str().unwrap());
    let o = common::cli::bin()
        .args(["serve", "--config", cfg.to_str().unwrap(), "--check"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(64), "{err}");
    assert!(err.contains("bad.toml:3: error: unknown action"), "{err}");
    // Every problem in one run: the refused policy, each missing TLS file
    // of two links, the empty token file.
    std::fs::write(dir.path().join("token"), "  \n").unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[policy]\nfile = {:?}\n[audit]\nfile = {:?}\n[admin]\nlisten = \"off\"\ntoken_file = \"token\"\n\
             [[link]]\nname = \"a\"\nlisten = \"{addr}\"\nupstream = \"127.0.0.1:9\"\n\
             [link.switch_tls]\ncert = \"nope/a.pem\"\nkey = \"nope/a.key\"\n\
             [[link]]\nname = \"b\"\nlisten = \"127.0.0.1:0\"\nupstream = \"127.0.0.1:9\"\n\
             [link.nlets_tls]\nca = \"nope/ca.pem\"\nserver_name = \"nlets.test\"\n",
            bad.to_str().unwrap(),
            audit.to_str().unwrap()
        ),
    )
    .unwrap();
    let o = common::cli::bin()
        .args(["serve", "--config", cfg.to_str().unwrap(), "--check"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(64), "{err}");
    for want in [
        "bad.toml:3: error: unknown action",
        "link a: switch_tls.cert",
        "a.pem",
        "link a: switch_tls.key",
        "a.key",
        "link b: nlets_tls.ca",
        "ca.pem",
        "is empty",
        "5 problem(s) found",
    ] {
        assert!(err.contains(want), "{want:?} not in:\n{err}");
    }
    assert!(!audit.exists(), "--check wrote the audit log");
    drop(busy);
}

#[test]
fn json_logs_are_pure_json() {
    let (mut child, rx) = spawn_serve(&[
        "--upstream",
        "127.0.0.1:9",
        "--policy",
        &example_policy(),
        "--log-format",
        "json",
    ]);
    let mut lines = Vec::new();
    let t = Instant::now();
    while t.elapsed() < DEADLINE {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            let listening = l.contains("\"listening\"") || l.contains("listening");
            lines.push(l);
            if listening {
                break;
            }
        }
    }
    kill(child.id(), "-TERM");
    let _ = child.wait();
    assert!(lines.iter().any(|l| l.contains("listening")), "{lines:?}");
    for l in &lines {
        assert!(
            serde_json::from_str::<serde_json::Value>(l).is_ok(),
            "not JSON: {l:?}"
        );
        assert!(!l.contains('\u{1b}'), "ANSI escape in {l:?}");
    }
}

#[test]
fn quick_start_flags_are_refused_with_a_config_file() {
    for flag in [
        ["--audit", "/tmp/x.jsonl"],
        ["--metrics", "off"],
        ["--drain-timeout", "1s"],
    ] {
        let o = common::cli::bin()
            .args(["serve", "--config", "deploy/origuard.toml"])
            .args(flag)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(64), "{flag:?}: {err}");
        assert!(err.contains("cannot be used with"), "{flag:?}: {err}");
    }
}

/// Stops a served process with SIGTERM and waits (bounded) for exit 0.
fn stop(s: &mut Served) {
    let status = s.terminate();
    assert!(status.success(), "{status:?}");
}

/// The policy version in force, from `/status`.
async fn status_version(admin: std::net::SocketAddr) -> String {
    let (code, body) = http(admin, "GET", "/status", None).await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["policy"]["version"].as_str().unwrap().to_string()
}

/// Waits (bounded, well under the periodic check's 10 s) until the policy
/// version in force differs from `old`; returns it.
async fn next_version(admin: std::net::SocketAddr, old: &str, what: &str) -> String {
    let t = Instant::now();
    loop {
        let v = status_version(admin).await;
        if v != old {
            return v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{what}: no reload within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The applied and refused file-watch reloads, from `/metrics`.
async fn watch_reloads(admin: std::net::SocketAddr) -> (f64, f64) {
    let (_, m) = http(admin, "GET", "/metrics", None).await;
    let name = "origuard_policy_reloads_total";
    (
        metric(
            &m,
            name,
            &[("result", "applied"), ("trigger", "file_watch")],
        ),
        metric(
            &m,
            name,
            &[("result", "refused"), ("trigger", "file_watch")],
        ),
    )
}

/// A deny policy with `entries` inline and the list file `list`.
fn policy_text(entries: &[&str], list: &str) -> String {
    let e: Vec<String> = entries.iter().map(|e| format!("{e:?}")).collect();
    format!(
        "[deny]\nreply_ori = \"COOLN0000\"\n[[list]]\nname = \"d\"\naction = \"deny\"\nentries = [{}]\nfiles = [\"{list}\"]\n",
        e.join(", ")
    )
}

/// Updates a ConfigMap volume at `mount` the way the kubelet's atomic
/// writer does: the files go into a new timestamped directory, a temporary
/// link `..data_tmp` to it is renamed over `..data`, then the old directory
/// is removed. Each file in the mount is a link `NAME -> ..data/NAME`.
fn kubelet_update(mount: &std::path::Path, n: u32, files: &[(&str, &str)]) {
    use std::os::unix::fs::symlink;
    let ts = format!("..2026_12_01_00_00_{n:02}.{n:09}");
    for (name, text) in files {
        let f = mount.join(&ts).join(name);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }
    let old = std::fs::read_link(mount.join("..data")).ok();
    symlink(&ts, mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    // One link per top-level name: `lists -> ..data/lists` for `lists/x.txt`.
    for (name, _) in files {
        let top = name.split('/').next().unwrap();
        if std::fs::symlink_metadata(mount.join(top)).is_err() {
            symlink(format!("..data/{top}"), mount.join(top)).unwrap();
        }
    }
    if let Some(old) = old {
        std::fs::remove_dir_all(mount.join(old)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_swaps_reload_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("policy");
    std::fs::create_dir(&mount).unwrap();
    // The list in a subdirectory, as deploy/kubernetes mounts it (items).
    const L: &str = "lists/deny.txt";
    kubelet_update(
        &mount,
        0,
        &[
            ("policy.toml", &policy_text(&["VTICE0900"], L)),
            (L, "TXICE2000\n"),
        ],
    );
    let pol = mount.join("policy.toml");
    let mut s = serve(&[
        "--upstream",
        "127.0.0.1:9",
        "--policy",
        pol.to_str().unwrap(),
    ]);
    let mut seen = vec![status_version(s.admin).await];
    // Three updates: the policy file, then only the list file, then both.
    let updates: [(String, &str); 3] = [
        (policy_text(&["VTICE0900", "AZICE0000"], L), "TXICE2000\n"),
        (
            policy_text(&["VTICE0900", "AZICE0000"], L),
            "TXICE2000\nCAICE0000\n",
        ),
        (policy_text(&["VADEADX00"], L), "NYICE0000\n"),
    ];
    for (i, (p, list)) in updates.iter().enumerate() {
        let n = i as u32 + 1;
        kubelet_update(&mount, n, &[("policy.toml", p), (L, list)]);
        let v = next_version(s.admin, seen.last().unwrap(), &format!("update {n}")).await;
        seen.push(v);
        // Let any late event of this update land before the next one.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(watch_reloads(s.admin).await, (n as f64, 0.0), "update {n}");
    }
    let distinct: HashSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), 4, "{seen:?}");
    stop(&mut s);
    let logs: Vec<String> = s.lines.try_iter().collect();
    assert!(
        !logs.iter().any(|l| l.contains("without a file event")),
        "a reload came from the periodic check, not the watch: {logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_renames_reload_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("policy.toml");
    std::fs::write(dir.path().join("deny.txt"), "TXICE2000\n").unwrap();
    std::fs::write(&pol, policy_text(&["VTICE0900"], "deny.txt")).unwrap();
    let mut s = serve(&[
        "--upstream",
        "127.0.0.1:9",
        "--policy",
        pol.to_str().unwrap(),
    ]);
    let mut seen = vec![status_version(s.admin).await];
    for (n, ori) in ["AZICE0000", "CAICE0000", "NYICE0000"].iter().enumerate() {
        let n = n as u32 + 1;
        let tmp = dir.path().join(".policy.toml.tmp");
        std::fs::write(&tmp, policy_text(&["VTICE0900", ori], "deny.txt")).unwrap();
        std::fs::rename(&tmp, &pol).unwrap();
        let v = next_version(s.admin, seen.last().unwrap(), &format!("rename {n}")).await;
        seen.push(v);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(watch_reloads(s.admin).await, (n as f64, 0.0), "rename {n}");
    }
    // A list file renamed over: also followed.
    let tmp = dir.path().join(".deny.txt.tmp");
    std::fs::write(&tmp, "TXICE2000\nWAICE0000\n").unwrap();
    std::fs::rename(&tmp, dir.path().join("deny.txt")).unwrap();
    next_version(s.admin, seen.last().unwrap(), "list file rename").await;
    stop(&mut s);
    let logs: Vec<String> = s.lines.try_iter().collect();
    assert!(
        !logs.iter().any(|l| l.contains("without a file event")),
        "{logs:?}"
    );
}

/// Receives datagrams on `sock` until one contains `want` (bounded).
fn notified(sock: &std::os::unix::net::UnixDatagram, want: &str) -> Vec<String> {
    let mut got = Vec::new();
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    while t.elapsed() < DEADLINE {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).to_string();
            let done = msg.lines().any(|l| l == want);
            got.push(msg);
            if done {
                return got;
            }
        }
    }
    panic!("no {want} from the service: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_notify_ready_after_bind_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "notify-test-token\n").unwrap();
    let mut s = serve_env(
        &[
            "--upstream",
            "127.0.0.1:9",
            "--policy",
            &example_policy(),
            "--admin-token-file",
            token.to_str().unwrap(),
        ],
        &[("NOTIFY_SOCKET", path.to_str().unwrap())],
    );
    let got = notified(&sock, "READY=1");
    let ready = got.last().unwrap();
    assert!(ready.contains("STATUS=serving; policy "), "{ready:?}");
    // READY=1 came after the listener and the admin endpoint were bound.
    TcpStream::connect(s.listen).await.unwrap();
    assert_eq!(http(s.admin, "GET", "/ready", None).await.0, 200);
    // SIGHUP: RELOADING=1 with the monotonic time, then READY=1 again.
    kill(s.child.id(), "-HUP");
    let got = notified(&sock, "RELOADING=1");
    assert!(got.last().unwrap().contains("MONOTONIC_USEC="), "{got:?}");
    notified(&sock, "READY=1");
    // POST /reload (admin): the same pair, in that order.
    let (code, _) = http(s.admin, "POST", "/reload", Some("notify-test-token")).await;
    assert_eq!(code, 200);
    let got = notified(&sock, "RELOADING=1");
    assert!(got.last().unwrap().contains("MONOTONIC_USEC="), "{got:?}");
    let got = notified(&sock, "READY=1");
    assert!(
        got.last().unwrap().contains("STATUS=serving; policy "),
        "{got:?}"
    );
    // SIGTERM: STOPPING=1, then exit 0.
    kill(s.child.id(), "-TERM");
    notified(&sock, "STOPPING=1");
    stop(&mut s);
}
