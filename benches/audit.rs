//! Audit log benchmarks (issue 13 target: streaming verify ≥ 1 M records/s
//! on one core, memory flat in the log's size). A synthetic log of 200,000
//! decision records (about 560 bytes each, the size `origuard filter`
//! writes) with a checkpoint every 10,000, verified: chain, Merkle tree and
//! checkpoint roots — from a slice, and streamed through the 1 MiB
//! `LineReader` as `audit verify` reads a file. Also the writer's per-record
//! Merkle step and an inclusion proof.
//! Run: cargo bench --bench audit

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use origuard::audit::merkle::{Frontier, PathBuilder};
use origuard::audit::record::{anchor, encode, DecisionRecord, Event};
use origuard::audit::verify::{for_lines, verify_file, Chain, ChainOptions};
use std::hint::black_box;

const N: u64 = 200_000;

fn decision(i: u64) -> Event {
    Event::Decision(Box::new(DecisionRecord {
        link: Some("ccic".into()),
        direction: "inbound",
        format: Some("legacy"),
        mke: Some("DQ".into()),
        class: Some("query"),
        originating_ori: Some(format!("VTICE{:04}", i % 10_000)),
        destination_ori: vec!["CO".into()],
        counterparty_ori: Some(format!("VTICE{:04}", i % 10_000)),
        control: Some(format!("C{i:09}")),
        action: Some("deny"),
        category: "denied",
        reason: "deny",
        detail: None,
        list: Some("immigration_enforcement".into()),
        entry: Some("VTICE*".into()),
        fields_removed: vec![],
        bytes_in: 129,
        bytes_out: 0,
        reply_bytes: 162,
        policy: "39fc5a9e75cf55272e518cda7576314cfc51a32f589e9d97b9a6808c98adf0d9".into(),
    }))
}

/// A log as the writer makes it, with a checkpoint every 10,000 records.
fn log() -> Vec<u8> {
    let id = "6b1f3c9e0a7d4e2f8c5b1a9d3e7f2c40";
    let ts = "2026-12-01T12:00:00.000Z";
    let mut out = Vec::new();
    let mut tree = Frontier::new();
    let push = |h: &str, tree: &mut Frontier| {
        let mut b = [0u8; 32];
        hex::decode_to_slice(h, &mut b).unwrap();
        tree.push_record(&b);
    };
    let mut head = encode(
        0,
        ts,
        &Event::LogStart {
            log_id: id.into(),
            software: "bench".into(),
        },
        &anchor(id),
        &mut out,
    );
    push(&head, &mut tree);
    for seq in 1..N {
        let ev = if seq % 10_000 == 0 {
            Event::Checkpoint {
                log_id: id.into(),
                tree_size: seq,
                root: hex::encode(tree.root()),
                frontier: tree.peaks().iter().map(hex::encode).collect(),
                key_id: None,
                signature: None,
            }
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
