//! The ordered parallel decision stage alone (issue 11): one session's
//! stream of mixed messages (40 % legacy DR, 30 % legacy DQ, 20 % small
//! NIEM DR, 10 % NIEM DR with a photo) decided inline and on pools of 1, 2
//! and 4 workers, decisions taken back in order through a bounded window.
//! On a machine with fewer cores than workers the larger pools cannot pay.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use origuard::capture::gen::{Generator, Mix, Shape};
use origuard::decision::decide;
use origuard::message::Direction;
use origuard::runtime::proxy::stage::{DecisionPool, InFlight, WINDOW_PER_WORKER};
use std::hint::black_box;
use std::sync::Arc;

fn messages() -> Vec<Bytes> {
    let mix = Mix {
        shape: Shape::Mixed,
        ..Mix::default()
    };
    let mut g = Generator::new(11, mix);
    (0..512).map(|_| g.message(false)).collect()
}

fn stage(c: &mut Criterion) {
    let policy = Arc::new(
        origuard::runtime::policy_store::load_path(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/policy/colorado.toml"
        ))
        .unwrap(),
    );
    let limits = origuard::message::Limits::default();
    let msgs = messages();
    let bytes: usize = msgs.iter().map(|m| m.len()).sum();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("decision_stage");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.sample_size(20);
    g.bench_function("inline", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(decide(
                    Direction::Outbound,
                    m.clone(),
                    &policy,
                    &limits,
                    std::time::SystemTime::now(),
                ));
            }
        })
    });
    for n in [1, 2, 4] {
        let pool = DecisionPool::new(n, None).unwrap();
        g.bench_function(format!("workers_{n}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut fl: InFlight<()> = InFlight::new(n * WINDOW_PER_WORKER);
                    for m in &msgs {
                        if !fl.has_room() {
                            black_box(fl.pop().await);
                        }
                        fl.push(
                            pool.submit(Direction::Outbound, m.clone(), policy.clone(), limits),
                            policy.clone(),
                            (),
                        );
                    }
                    while let Some(d) = fl.pop().await {
                        black_box(d);
                    }
                })
            })
        });
    }
    g.finish();
    eprintln!(
        "decision_stage: {} messages, {:.0} B mean",
        msgs.len(),
        bytes as f64 / msgs.len() as f64
    );
}

criterion_group!(benches, stage);
criterion_main!(benches);
