//! Audit log benchmarks (issue 13 target: streaming verify ≥ 1 M records/s
//! on one core, memory flat in the log's size). A synthetic log of 200,000
//! records of decision-record size (about 650 bytes each; `origuard filter`
//! writes about 640) with a checkpoint every 10,000, verified: chain, Merkle tree and
//! checkpoint roots — from a slice, and streamed through the 1 MiB
//! `LineReader` as `audit verify` reads a file. Also the writer's per-record
//! Merkle step and an inclusion proof; and the appender's side of the live
//! log (`audit_append`: what a session pays per record, the syncer sealing
//! and writing on its own thread); and one record committed at a time, on
//! disk, with the live file's room and without (`audit_commit`).
//! Run: cargo bench --bench audit

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use origuard::audit::line::{encode, encode_line, Body};
use origuard::audit::merkle::{Frontier, PathBuilder};
use origuard::audit::record::{anchor_hash, DecisionRecord, Event};
use origuard::audit::verify::{for_lines, verify_file, Chain, ChainOptions};
use origuard::capture::gen::{Generator, Mix, Shape};
use origuard::decision::decide;
use origuard::message::{Direction, Limits};
use std::hint::black_box;

const N: u64 = 200_000;

/// A record the size of a decision record (`origuard filter` writes about
/// 640 bytes each). A `file_event` padded to that size keeps the bench
/// independent of the decision record's fields: verify reads only the
/// chain's fields, whatever the kind.
fn decision(i: u64) -> Event {
    Event::FileEvent {
        event: "replaced",
        file: format!("/var/lib/origuard/audit.jsonl.{i:012}"),
        kept_aside: None,
        detail: Some(format!("{:0>330}", i)),
    }
}

/// A log as the writer makes it, with a checkpoint every 10,000 records.
fn log() -> Vec<u8> {
    let id = "6b1f3c9e0a7d4e2f8c5b1a9d3e7f2c40";
    let ts = "2026-12-01T12:00:00.000Z";
    let mut out = Vec::new();
    let mut tree = Frontier::new();
    let push = |h: &[u8; 32], tree: &mut Frontier| tree.push_record(h);
    let mut head = encode(
        0,
        ts,
        &Event::LogStart {
            log_id: id.into(),
            software: "bench".into(),
        },
        &anchor_hash(id),
        &mut out,
    );
    push(&head, &mut tree);
    for seq in 1..N {
        let ev = if seq % 10_000 == 0 {
            Event::Checkpoint(origuard::audit::checkpoint::CheckpointRecord {
                log_id: id.into(),
                tree_size: seq,
                root: hex::encode(tree.root()),
                frontier: tree.peaks().iter().map(hex::encode).collect(),
                key_id: None,
                signature: None,
            })
        } else {
            decision(seq)
        };
        head = encode(seq, ts, &ev, &head, &mut out);
        push(&head, &mut tree);
    }
    out
}

fn bench(c: &mut Criterion) {
    let data = log();
    eprintln!(
        "log: {N} records, {} bytes ({} bytes per record)",
        data.len(),
        data.len() as u64 / N
    );
    let mut g = c.benchmark_group("audit");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    g.bench_function("verify 200k records (slice)", |b| {
        b.iter(|| {
            let mut chain = Chain::new(ChainOptions::default());
            chain.start_file();
            for_lines(&mut chain, black_box(&data), |_| {}).unwrap();
            assert_eq!(chain.next_seq(), N);
        })
    });
    g.bench_function("verify 200k records (streamed, 1 MiB reads)", |b| {
        b.iter(|| {
            let mut chain = Chain::new(ChainOptions::default());
            let v = verify_file(&mut chain, black_box(&data[..]), |_, _| {}).unwrap();
            assert_eq!(v.count, N);
        })
    });
    g.bench_function("merkle frontier push 200k leaves", |b| {
        b.iter(|| {
            let mut f = Frontier::new();
            for i in 0..N {
                let mut h = [0u8; 32];
                h[..8].copy_from_slice(&i.to_le_bytes());
                f.push_record(black_box(&h));
            }
            black_box(f.root())
        })
    });
    g.bench_function("inclusion proof over 200k leaves", |b| {
        b.iter(|| {
            let mut p = PathBuilder::new(123_456, N);
            for i in 0..N {
                let mut h = [0u8; 32];
                h[..8].copy_from_slice(&i.to_le_bytes());
                p.feed(i, h);
            }
            black_box(p.finish().unwrap())
        })
    });
    g.finish();
    encoding(c);
    appending(c);
    committing(c);
}

/// 512 decisions of mixed messages (outbound, the example policy).
fn mixed_decisions() -> (Vec<origuard::decision::Decision>, origuard::policy::Policy) {
    let p = origuard::runtime::policy_store::load_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/policy/colorado.toml"
    ))
    .unwrap();
    let mut gen = Generator::new(
        5,
        Mix {
            shape: Shape::Mixed,
            ..Mix::default()
        },
    );
    let ds = (0..512)
        .map(|_| {
            decide(
                Direction::Outbound,
                gen.message(false),
                &p,
                &Limits::default(),
                std::time::SystemTime::now(),
            )
        })
        .collect();
    (ds, p)
}

/// The caller's time to append 512 decision records (bodies encoded
/// beforehand, as the proxy does before it takes the log's lock) to a live
/// log in `none` mode on tmpfs — from one thread, and from four at once (a
/// busy proxy's sessions). The syncer seals and writes on its own thread;
/// only the appends are timed — and, for the whole cost, the appends with
/// a `sync` after each 512 (sealing and the write then on the caller's
/// clock). The log rotates at 256 MiB and its closed
/// segments are deleted between samples, outside the timing.
fn appending(c: &mut Criterion) {
    use origuard::runtime::audit_log::{AuditLog, Options, SyncMode};
    let (ds, p) = mixed_decisions();
    let bodies: Vec<Body> = ds
        .iter()
        .map(|d| Body::decision(d, Direction::Outbound, &p, Some("nlets-1")))
        .collect();
    let shm = std::path::Path::new("/dev/shm");
    let dir = tempfile::tempdir_in(if shm.is_dir() {
        shm
    } else {
        std::path::Path::new("/tmp")
    })
    .unwrap();
    let path = dir.path().join("a.jsonl");
    let opts = Options {
        rotate_size: Some(256 << 20),
        ..Options::with_mode(SyncMode::None)
    };
    let (log, _) = AuditLog::open_with(path.to_str().unwrap(), opts).unwrap();
    let tidy = |log: &AuditLog| {
        let _ = log.sync();
        for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
            if e.file_name() != "a.jsonl" {
                let _ = std::fs::remove_file(e.path());
            }
        }
    };
    let mut g = c.benchmark_group("audit_append");
    g.throughput(Throughput::Elements(bodies.len() as u64));
    g.bench_function("512 decision records, one thread", |b| {
        b.iter_custom(|iters| {
            let t = std::time::Instant::now();
            for _ in 0..iters {
                for body in &bodies {
                    black_box(log.append_body(body).unwrap());
                }
            }
            let spent = t.elapsed();
            tidy(&log);
            spent
        })
    });
    g.bench_function("512 decision records and their write, one thread", |b| {
        b.iter_custom(|iters| {
            let t = std::time::Instant::now();
            for _ in 0..iters {
                for body in &bodies {
                    black_box(log.append_body(body).unwrap());
                }
                black_box(log.sync().unwrap());
            }
            let spent = t.elapsed();
            tidy(&log);
            spent
        })
    });
    g.bench_function("512 decision records, four threads", |b| {
        b.iter_custom(|iters| {
            let t = std::time::Instant::now();
            std::thread::scope(|s| {
                for part in bodies.chunks(bodies.len() / 4) {
                    let log = &log;
                    s.spawn(move || {
                        for _ in 0..iters {
                            for body in part {
                                black_box(log.append_body(body).unwrap());
                            }
                        }
                    });
                }
            });
            let spent = t.elapsed();
            tidy(&log);
            spent
        })
    });
    g.finish();
    drop(log);
}

/// One message at a time, durably: a decision record appended and
/// committed (`batch` mode: written and `fdatasync`ed on the caller), to a
/// log on disk (the temporary directory, not tmpfs), with the live file's
/// room (the default) and without (`preallocate = 0`). The room's upkeep
/// (1 MiB of spaces written and synced each 512 KiB of records) happens
/// inside the timed commits, as it does in the proxy's syncer.
fn committing(c: &mut Criterion) {
    use origuard::runtime::audit_log::{AuditLog, Options, SyncMode, PREALLOCATE};
    let (ds, p) = mixed_decisions();
    let bodies: Vec<Body> = ds
        .iter()
        .map(|d| Body::decision(d, Direction::Outbound, &p, Some("nlets-1")))
        .collect();
    let mut g = c.benchmark_group("audit_commit");
    g.throughput(Throughput::Elements(1));
    for (name, room) in [("with the room", PREALLOCATE), ("without a room", 0)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let opts = Options {
            rotate_size: Some(256 << 20),
            preallocate: room,
            ..Options::with_mode(SyncMode::Batch)
        };
        let (log, _) = AuditLog::open_with(path.to_str().unwrap(), opts).unwrap();
        let mut next = bodies.iter().cycle();
        g.bench_function(format!("one decision record and its sync, {name}"), |b| {
            b.iter(|| {
                black_box(log.append_body(next.next().unwrap()).unwrap());
                black_box(log.sync().unwrap())
            })
        });
        drop(log);
    }
    g.finish();
}

/// The writer's per-message work for a decision: its record's line (fields,
/// chain parts, SHA-256) — through serde (the reference encoding, used for rare records),
/// and with the hand-written body the proxy now uses. 512 mixed messages.
fn encoding(c: &mut Criterion) {
    let (ds, p) = mixed_decisions();
    let ts = "2026-12-01T12:00:00.000Z";
    let mut g = c.benchmark_group("audit_encode");
    g.throughput(Throughput::Elements(ds.len() as u64));
    g.bench_function(
        "decision line, serde (DecisionRecord through Body::of)",
        |b| {
            let mut out = Vec::with_capacity(1 << 20);
            b.iter(|| {
                out.clear();
                let mut head = [0u8; 32];
                for (i, d) in ds.iter().enumerate() {
                    let ev = Event::Decision(Box::new(DecisionRecord::of(
                        d,
                        Direction::Outbound,
                        &p,
                        Some("nlets-1"),
                    )));
                    head = encode(i as u64, ts, &ev, &head, &mut out);
                }
                black_box(head)
            })
        },
    );
    g.bench_function("decision line, hand-written body", |b| {
        let mut out = Vec::with_capacity(1 << 20);
        b.iter(|| {
            out.clear();
            let mut head = [0u8; 32];
            for (i, d) in ds.iter().enumerate() {
                let body = Body::decision(d, Direction::Outbound, &p, Some("nlets-1"));
                head = encode_line(i as u64, ts, &body, &head, &mut out);
            }
            black_box(head)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
