//! `origuard demo`: the whole system in one process over real loopback
//! sockets — a simulated Nlets sending queries from several agencies (some on
//! the example deny and redact lists), the proxy with the example policy,
//! and a simulated state switch whose DMV answers every query it receives
//! with the record, photo and place of birth. At the end it prints what
//! happened, from the audit log, and checks on the Nlets side that no
//! restricted agency received a photo or a place of birth.

use crate::audit::verify::verify;
use crate::capture::gen::{Generator, Mix};
use crate::decision::Category;
use crate::framing::{encode, FrameCodec, Framing};
use crate::message::fields::Catalogue;
use crate::message::{parse, Format, Limits};
use crate::runtime::config::Config;
use crate::runtime::proxy::Proxy;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::FramedRead;

/// Demo options.
pub struct DemoArgs {
    /// How long traffic is sent.
    pub duration: Duration,
    /// Queries per second from the simulated Nlets.
    pub rate: u32,
    /// Where to keep the audit log and metrics snapshot.
    pub dir: Option<String>,
    /// Seed for the synthetic traffic.
    pub seed: u64,
    /// Policy file (default: the example policy).
    pub policy: Option<String>,
}

#[derive(Default)]
struct NletsSide {
    queries_sent: AtomicU64,
    received: AtomicU64,
    declines: AtomicU64,
    /// Protected fields that reached a restricted agency (must stay 0).
    leaks: AtomicU64,
    photos_to_unrestricted: AtomicU64,
    stripped_to_restricted: AtomicU64,
}

const FRAMING: Framing = Framing::Len4;

/// The demo's directory (created), its audit log path (a previous one
/// removed) and the policy file; the exit code when one is missing.
fn prepare(a: &DemoArgs) -> Result<(std::path::PathBuf, std::path::PathBuf, String), u8> {
    let dir = match &a.dir {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("origuard-demo-{}", std::process::id())),
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("origuard demo: {}: {e}", dir.display());
        return Err(1);
    }
    let audit = dir.join("audit.jsonl");
    let _ = std::fs::remove_file(&audit);
    let policy = match a.policy.clone() {
        Some(p) => {
            if let Err(e) = crate::tools::common::readable(&p) {
                eprintln!("origuard demo: policy {e}");
                return Err(crate::tools::common::EX_INPUT);
            }
            p
        }
        None => match crate::tools::common::example_policy_path(&dir) {
            Ok(p) => p,
            Err(e) => {
                eprintln!(
                    "origuard demo: writing the example policy to {}: {e}",
                    dir.display()
                );
                return Err(1);
            }
        },
    };
    Ok((dir, audit, policy))
}

/// The proxy's configuration: one link to the simulated Nlets at `up`,
/// the audit log with checkpoints signed by a throw-away key (made in
/// `dir` when missing).
fn config(
    dir: &std::path::Path,
    audit: &std::path::Path,
    policy: &str,
    up: &str,
) -> Result<Config, u8> {
    let mut cfg = Config::quick(
        "127.0.0.1:0",
        up,
        policy,
        FRAMING,
        Some((
            audit.to_string_lossy().into_owned(),
            crate::runtime::audit_log::SyncMode::Batch,
        )),
        Some(([127, 0, 0, 1], 0).into()),
    );
    // The simulated switch receives Nlets' queries from the start.
    cfg.links[0].dial = crate::runtime::config::Dial::OnAccept;
    // Checkpoints signed with a throw-away key, so that the report shows a
    // signed checkpoint a reader can check with the public key beside it.
    let key = dir.join("demo-signing.key");
    if !key.exists() {
        if let Err(e) = super::audit_cmd::keygen(&key.to_string_lossy()) {
            eprintln!("origuard demo: signing key: {e}");
            return Err(1);
        }
    }
    if let Some(a) = cfg.audit.as_mut() {
        a.opts.signing_key = Some(key.to_string_lossy().into_owned());
        // Checkpoints every 500 records (`[audit]`'s default is 10,000;
        // a short demo reaches 500, so its first checkpoint can stand for
        // an earlier published report), every 60 s, and at the stop.
        a.opts.checkpoint_every = Some(500);
        a.opts.checkpoint_interval = Some(Duration::from_secs(60));
    }
    Ok(cfg)
}

/// Progress until the sender is done: a live line on a terminal, a line a
/// second otherwise.
async fn show_progress(sender: &tokio::task::JoinHandle<()>, stats: &NletsSide) {
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let t0 = Instant::now();
    let mut last = 0;
    while !sender.is_finished() {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let secs = t0.elapsed().as_secs();
        if !tty && secs == last {
            continue;
        }
        last = secs;
        print!(
            "{}  t={:>4.1}s  queries sent {:>6}  messages back at Nlets {:>6}  declines {:>5}  leaks {}   {}",
            if tty { "\r" } else { "" },
            t0.elapsed().as_secs_f64(),
            stats.queries_sent.load(Ordering::Relaxed),
            stats.received.load(Ordering::Relaxed),
            stats.declines.load(Ordering::Relaxed),
            stats.leaks.load(Ordering::Relaxed),
            if tty { "" } else { "\n" }
        );
        let _ = std::io::stdout().flush();
    }
    if tty {
        println!();
    }
}

/// The demo's first lines: policy, rate, where each part listens.
fn announce(a: &DemoArgs, p: &crate::policy::Policy, policy: &str, up: &str, proxy: &Proxy) {
    println!(
        "origuard demo — policy {} ({}), {} s at {} queries/s",
        p.short_version(),
        policy,
        a.duration.as_secs(),
        a.rate
    );
    println!("  Nlets simulator  127.0.0.1 (upstream {up})");
    println!("  origuard         {} (switch side)", proxy.listen_addrs[0]);
    if let Some(ad) = proxy.admin_addr {
        println!("  metrics          http://{ad}/metrics  (live while the demo runs)");
    }
}

/// Runs the demo; returns the exit code.
pub async fn run_demo(a: DemoArgs) -> u8 {
    let (dir, audit, policy) = match prepare(&a) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let nlets = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("origuard demo: bind: {e}");
            return 1;
        }
    };
    let up = nlets
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let cfg = match config(&dir, &audit, &policy, &up) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let proxy = match Proxy::start(&cfg, None).await {
        Ok(p) => p,
        Err(e @ crate::runtime::proxy::StartError::Policy { .. }) => {
            eprintln!("origuard demo: {e}");
            return crate::tools::common::EX_INPUT;
        }
        Err(e) => {
            eprintln!("origuard demo: {e}");
            return 1;
        }
    };
    let p = proxy.shared.policy.current();
    announce(&a, &p, &policy, &up, &proxy);
    // The switch connects; Nlets accepts the proxy's upstream connection.
    let switch = match TcpStream::connect(proxy.listen_addrs[0]).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("origuard demo: connect: {e}");
            return 1;
        }
    };
    let nl = match tokio::time::timeout(Duration::from_secs(5), nlets.accept()).await {
        Ok(Ok((s, _))) => s,
        _ => {
            eprintln!("origuard demo: the proxy did not connect upstream");
            return 1;
        }
    };
    let _ = switch.set_nodelay(true);
    let _ = nl.set_nodelay(true);
    let stats = Arc::new(NletsSide::default());
    let switch_task = tokio::spawn(switch_sim(switch, a.seed ^ 0x5eed));
    let (nlr, nlw) = nl.into_split();
    let reader = tokio::spawn(nlets_reader(nlr, stats.clone(), proxy.shared.clone()));
    let sender = tokio::spawn(nlets_sender(nlw, stats.clone(), a.seed, a.rate, a.duration));
    show_progress(&sender, &stats).await;
    let _ = sender.await;
    // Let in-flight responses arrive, then stop everything.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let metrics_file = dir.join("metrics.txt");
    let _ = std::fs::write(&metrics_file, crate::runtime::metrics::render());
    let _ = proxy.shutdown().await;
    switch_task.abort();
    reader.abort();
    report(
        &audit,
        &metrics_file,
        &stats,
        crate::report::Family::of_policy(&p),
        &policy,
    )
}

/// The state switch + DMV: answers every query it receives.
async fn switch_sim(sock: TcpStream, seed: u64) {
    let (r, mut w) = sock.into_split();
    let mut frames = FramedRead::new(r, FrameCodec::new(FRAMING, 1 << 24));
    let mut g = Generator::new(seed, Mix::default());
    let cat = Catalogue::builtin();
    while let Some(Ok(q)) = frames.next().await {
        let Ok(m) = parse(q, &cat, &Limits::default()) else {
            continue;
        };
        let control = m.control.map(|c| c.to_string());
        let resp = g.response(
            m.mke.as_str(),
            m.originating.as_str(),
            control.as_deref(),
            m.format == Format::Xml,
        );
        if let Ok(f) = encode(FRAMING, &resp) {
            if w.write_all(&f).await.is_err() {
                return;
            }
        }
    }
}

/// Simulated Nlets: sends queries at a steady rate.
async fn nlets_sender(
    mut w: tokio::net::tcp::OwnedWriteHalf,
    stats: Arc<NletsSide>,
    seed: u64,
    rate: u32,
    dur: Duration,
) {
    let mut g = Generator::new(seed, Mix::default());
    let start = tokio::time::Instant::now();
    let gap = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let mut i: u32 = 0;
    while start.elapsed() < dur {
        let q = g.message(true);
        if let Ok(f) = encode(FRAMING, &q) {
            if w.write_all(&f).await.is_err() {
                return;
            }
        }
        stats.queries_sent.fetch_add(1, Ordering::Relaxed);
        i += 1;
        tokio::time::sleep_until(start + gap * i).await;
    }
}

/// Simulated Nlets: receives responses and declines, and checks each one
/// against the policy: nothing protected may reach a restricted agency.
async fn nlets_reader(
    r: tokio::net::tcp::OwnedReadHalf,
    stats: Arc<NletsSide>,
    shared: Arc<crate::runtime::proxy::Shared>,
) {
    let mut frames = FramedRead::new(r, FrameCodec::new(FRAMING, 1 << 24));
    let cat = Catalogue::builtin();
    while let Some(Ok(m)) = frames.next().await {
        stats.received.fetch_add(1, Ordering::Relaxed);
        let Ok(msg) = parse(m.clone(), &cat, &Limits::default()) else {
            continue;
        };
        if memchr::memmem::find(&m, b"REQUEST DECLINED").is_some() {
            stats.declines.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let Some(dest) = msg.dests.first() else {
            continue;
        };
        let restricted = shared
            .policy
            .current()
            .lookup(dest.as_bytes())
            .action
            .restricts();
        if restricted && (msg.has_photo() || msg.has_pob()) {
            stats.leaks.fetch_add(1, Ordering::Relaxed);
        } else if restricted {
            stats.stripped_to_restricted.fetch_add(1, Ordering::Relaxed);
        } else if msg.has_photo() {
            stats.photos_to_unrestricted.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What the proxy decided, from the audit log: a table per direction,
/// list, key and outcome, the totals and the fields removed; and the
/// number of decisions.
fn decided(data: &[u8]) -> (String, u64) {
    let mut table: BTreeMap<(String, String, String, String), u64> = BTreeMap::new();
    let mut counts = crate::decision::counts::Counts::default();
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if v["kind"] != "decision" {
            continue;
        }
        let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
        let list = v["list"].as_str().unwrap_or("(no list)").to_string();
        *table
            .entry((s("direction"), list, s("mke"), s("category")))
            .or_default() += 1;
        if let Ok(cat) = serde_json::from_value::<Category>(v["category"].clone()) {
            let removed = v["fields_removed"].as_array().into_iter().flatten();
            counts.add_record(cat, removed.map(|f| f.as_str().unwrap_or("?")));
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "\nWhat the proxy decided (from the audit log):");
    let _ = writeln!(
        out,
        "  {:<9} {:<24} {:<4} {:<9} {:>7}",
        "direction", "agency list", "key", "outcome", "count"
    );
    for ((dir, list, mke, cat), n) in &table {
        let _ = writeln!(out, "  {dir:<9} {list:<24} {mke:<4} {cat:<9} {n:>7}");
    }
    let total = counts.received;
    let _ = writeln!(
        out,
        "  total {total} = passed {} + redacted {} + denied {} + dropped {}",
        counts.passed, counts.redacted, counts.denied, counts.dropped
    );
    let _ = writeln!(
        out,
        "  fields removed from messages released redacted, per field: {}\n  (a photo response withheld whole is not in this line; \"Photos withheld\" below counts both)",
        if counts.fields.is_empty() {
            "none".into()
        } else {
            counts
                .fields
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    (out, total)
}

/// What arrived at Nlets, as the simulator checked it.
fn at_nlets(out: &mut String, stats: &NletsSide) {
    let leaks = stats.leaks.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "\nWhat arrived at Nlets (checked independently by the simulator):"
    );
    let _ = writeln!(
        out,
        "  responses with photos to unrestricted agencies   {}",
        stats.photos_to_unrestricted.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "  responses to redact-listed agencies, stripped    {}",
        stats.stripped_to_restricted.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "  decline replies                                  {}",
        stats.declines.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "  photos or places of birth to restricted agencies {leaks}{}",
        if leaks == 0 {
            "  (none: good)"
        } else {
            "  LEAK"
        }
    );
}

/// Where the audit log and metrics are, and how to check the log.
fn audit_lines(
    out: &mut String,
    audit: &std::path::Path,
    metrics_file: &std::path::Path,
    verified: &Result<crate::audit::verify::Verified, crate::audit::verify::Broken>,
) {
    let _ = writeln!(out, "\nAudit log:  {}", audit.display());
    match verified {
        Ok(v) => {
            let _ = writeln!(
                out,
                "            intact, {} records, head {}",
                v.count, v.head
            );
        }
        Err(e) => {
            let _ = writeln!(out, "            BROKEN: {e}");
        }
    }
    let public = audit.with_file_name("demo-signing.key.pub");
    let _ = writeln!(
        out,
        "            checkpoints signed with a throw-away key, public key {}\n            check it: origuard audit verify {} --public-key {}",
        public.display(),
        audit.display(),
        public.display()
    );
    let _ = writeln!(
        out,
        "Metrics:    {} (snapshot at the end of the run)",
        metrics_file.display()
    );
}

/// Writes the public report of the run and prints its "In short", exact.
fn report_lines(
    out: &mut String,
    audit: &std::path::Path,
    data: Vec<u8>,
    families: Vec<crate::report::Family>,
    policy: &str,
) {
    // The oversight report, as the public would read it, with a
    // consistency proof from the one published at the first checkpoint.
    let dir = audit.parent().unwrap_or(std::path::Path::new("."));
    let rep = dir.join("report");
    let earlier = dir.join("report-earlier");
    let previous = earlier_report(audit, &data, &families, &earlier);
    let proof = !previous.is_empty();
    let inputs = [crate::report::Input {
        path: audit.display().to_string(),
        data,
    }];
    let opts = crate::report::Options {
        mode: crate::report::Mode::Public,
        period: crate::report::Period::Month,
        from: None,
        to: None,
        families,
        small_cells: Default::default(),
        previous,
    };
    match super::report_cmd::write(&inputs, &opts, &rep) {
        Ok((r, _)) => {
            // The report's own answers, exact (the internal report of the
            // same run: the public one shows the same figures with counts
            // under 10 withheld), so that the demo and the report agree.
            let exact = crate::report::publish(
                &r,
                crate::report::Mode::Internal,
                &crate::runtime::audit_log::now(),
            );
            let _ = writeln!(
                out,
                "\nIn short (the report's figures, exact; the public report withholds counts under 10):"
            );
            for a in crate::report::publish::in_short(&exact) {
                let _ = writeln!(out, "  [{}] {}: {}", a.period, a.question, a.answer);
            }
            let _ = writeln!(
                out,
                "Report:     {} (public; also report.csv, report.json)\n            internal (CBI) version: origuard report --audit {} --policy {policy} --internal --out DIR",
                rep.join("report.html").display(),
                audit.display()
            );
            if proof {
                let _ = writeln!(
                    out,
                    "Earlier:    {} (the report as published at the first checkpoint); report.json above carries\n            the consistency proof from it: check it without the log (scripts/ of the source tree):\n            python3 scripts/verify-consistency.py consistency {} {} --public-key {}",
                    earlier.join("report.json").display(),
                    earlier.join("report.json").display(),
                    rep.join("report.json").display(),
                    dir.join("demo-signing.key.pub").display()
                );
            }
        }
        Err(e) => {
            let _ = writeln!(out, "Report:     could not be written: {e}");
        }
    }
}

/// The public report an oversight body would have published at the log's
/// first checkpoint (the records up to it), written to `out`; the
/// checkpoints it publishes (none when the log has no checkpoint).
fn earlier_report(
    audit: &std::path::Path,
    data: &[u8],
    families: &[crate::report::Family],
    out: &std::path::Path,
) -> Vec<crate::audit::checkpoint::Checkpoint> {
    let mut end = 0;
    let first = data.split_inclusive(|&b| b == b'\n').find(|l| {
        end += l.len();
        memchr::memmem::find(l, b"\"kind\":\"checkpoint\"").is_some()
    });
    if first.is_none() {
        return Vec::new();
    }
    let inputs = [crate::report::Input {
        path: audit.display().to_string(),
        data: data[..end].to_vec(),
    }];
    let opts = crate::report::Options {
        mode: crate::report::Mode::Public,
        period: crate::report::Period::Month,
        from: None,
        to: None,
        families: families.to_vec(),
        small_cells: Default::default(),
        previous: Vec::new(),
    };
    match super::report_cmd::write(&inputs, &opts, out) {
        Ok((r, _)) => r
            .logs
            .iter()
            .filter_map(|l| l.last_checkpoint.clone())
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn report(
    audit: &std::path::Path,
    metrics_file: &std::path::Path,
    stats: &NletsSide,
    families: Vec<crate::report::Family>,
    policy: &str,
) -> u8 {
    let data = std::fs::read(audit).unwrap_or_default();
    let verified = verify(&data);
    let (mut out, total) = decided(&data);
    let leaks = stats.leaks.load(Ordering::Relaxed);
    at_nlets(&mut out, stats);
    audit_lines(&mut out, audit, metrics_file, &verified);
    report_lines(&mut out, audit, data, families, policy);
    print!("{out}");
    if leaks > 0 || verified.is_err() || total == 0 {
        1
    } else {
        0
    }
}

/// `origuard demo`.
pub fn command(c: crate::tools::cli::DemoCli) -> u8 {
    super::common::init_tracing(crate::runtime::config::LogFormat::Text, "warn");
    match super::common::runtime() {
        Ok(rt) => rt.block_on(run_demo(DemoArgs {
            duration: *c.duration,
            rate: c.rate,
            dir: c.dir,
            seed: c.seed,
            policy: c.policy,
        })),
        Err(e) => {
            eprintln!("origuard demo: runtime: {e}");
            1
        }
    }
}
