//! Policy benchmarks (issue 3 targets): load + validate + compile a policy
//! with 100,000 exact ORIs and 100 patterns (< 100 ms); lookups on a mixed
//! set of ORIs (≥ 10 M/s on one core).
//! Run: cargo bench --bench policy

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use origuard::policy::file::load;
use std::collections::HashMap;
use std::hint::black_box;

const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A deterministic pseudo-random ORI (xorshift; no real agencies).
fn ori(seed: &mut u64) -> String {
    (0..9)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            ALPHA[(*seed % 36) as usize] as char
        })
        .collect()
}

fn files() -> HashMap<String, Vec<u8>> {
    let mut seed = 0x9E3779B97F4A7C15u64;
    let mut exact = String::new();
    for _ in 0..100_000 {
        exact.push_str(&ori(&mut seed));
        exact.push('\n');
    }
    let mut pats = Vec::new();
    for i in 0..100 {
        let o = ori(&mut seed);
        let p = match i % 3 {
            0 => format!("??{}????", &o[2..5]),
            1 => format!("{}*", &o[..4]),
            _ => format!("{}?????", &o[..4]),
        };
        pats.push(format!("{p:?}"));
    }
    let toml = format!(
        "[deny]\nreply_ori = \"COOLN0000\"\n[[list]]\nname = \"big\"\naction = \"deny\"\nfiles = [\"big.txt\"]\n\
         [[list]]\nname = \"pats\"\naction = \"redact\"\nentries = [{}]\n[[list]]\nname = \"members\"\naction = \"allow\"\nentries = [\"NL\", \"AX\"]\n",
        pats.join(", ")
    );
    let mut m = HashMap::new();
    m.insert("p.toml".to_string(), toml.into_bytes());
    m.insert("big.txt".to_string(), exact.into_bytes());
    m
}

fn bench(c: &mut Criterion) {
    let f = files();
    let read = |p: &str| {
        f.get(p)
            .cloned()
            .ok_or_else(|| std::io::Error::other("missing"))
    };
    let mut g = c.benchmark_group("policy");
    g.sample_size(10);
    g.bench_function("load_100k_exact_100_patterns", |b| {
        b.iter(|| black_box(load("p.toml", &mut |p: &str| read(p)).unwrap()))
    });
    let p = load("p.toml", &mut |p: &str| read(p)).unwrap();
    // Mixed lookups: 1/4 listed exact, 1/4 random (mostly unlisted, scanning
    // all patterns), 1/4 member codes, 1/4 pattern-shaped.
    let listed: Vec<&[u8]> = f["big.txt"]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .take(1000)
        .collect();
    let mut seed = 42u64;
    let mut oris: Vec<Vec<u8>> = Vec::new();
    for i in 0..4096 {
        oris.push(match i % 4 {
            0 => listed[i % listed.len()].to_vec(),
            1 => ori(&mut seed).into_bytes(),
            2 => format!("NL{}", &ori(&mut seed)[..7]).into_bytes(),
            _ => {
                let o = ori(&mut seed);
                format!("{}ICE{}", &o[..2], &o[5..]).into_bytes()
            }
        });
    }
    g.sample_size(30);
    g.throughput(Throughput::Elements(oris.len() as u64));
    g.bench_function("lookup_mixed_4096", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for o in &oris {
                n += p.lookup(black_box(o)).action as u32;
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
