//! Message-core benchmarks (issue 2 targets, one core):
//! legacy header parse ≥ 2 M msg/s, XML parse ≥ 1 M msg/s (≈0.5 KB messages),
//! redaction of a ≈50 KB photo response ≥ 1 GB/s (input bytes, including the
//! independent verifier); the release-profile projection of the same
//! response ≥ 1 GB/s (issue 10).
//! Run: cargo bench --bench message

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use origuard::framing::{split_all, FrameCodec, Framing};
use origuard::message::fields::Catalogue;
use origuard::message::{legacy, parse, parse_header, Limits};
use origuard::redact::{redact, release};
use std::hint::black_box;

fn fixture(name: &str) -> Bytes {
    let p = format!("{}/testdata/messages/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(p).expect("fixture"))
}

/// A ≈500-byte legacy response (output header + fields).
fn legacy_500() -> Bytes {
    let mut s = String::from(
        "DR.COOLN0000\r\n10:15 03/04/2025 22890\r\n10:15 03/04/2025 08112 AZNLETS20\r\n*A0TRM0042\r\nTXT\r\n",
    );
    while s.len() < 480 {
        s.push_str("NAM/DOE,JANE Q.DOB/19800115.SEX/F.OLN/000000000.STATUS/VALID\r\n");
    }
    Bytes::from(s)
}

fn bench(c: &mut Criterion) {
    let cat = Catalogue::builtin();
    let limits = Limits::default();

    let leg = legacy_500();
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("legacy_header_{}B", leg.len()), |b| {
        b.iter(|| black_box(legacy::parse_header(black_box(&leg)).unwrap()))
    });
    g.bench_function(format!("legacy_full_{}B", leg.len()), |b| {
        b.iter(|| black_box(parse(black_box(leg.clone()), &cat, &limits).unwrap()))
    });
    let dq = fixture("xml/dq.xml");
    let xml_500 = fixture("xml/dr_not_on_file.xml");
    for (name, m) in [("xml_dq", &dq), ("xml_dr", &xml_500)] {
        g.bench_function(format!("{name}_header_{}B", m.len()), |b| {
            b.iter(|| black_box(parse_header(black_box(m), &cat, &limits).unwrap()))
        });
        g.bench_function(format!("{name}_full_validating_{}B", m.len()), |b| {
            b.iter(|| black_box(parse(black_box(m.clone()), &cat, &limits).unwrap()))
        });
    }
    g.finish();

    let photo = fixture("xml/dr_photo_to_ice.xml");
    let parsed = parse(photo.clone(), &cat, &limits).unwrap();
    let mut g = c.benchmark_group("redact");
    g.throughput(Throughput::Bytes(photo.len() as u64));
    g.bench_function(format!("photo_and_pob_{}KB", photo.len() / 1024), |b| {
        b.iter(|| black_box(redact(black_box(&parsed), &cat, cat.all(), &limits).unwrap()))
    });
    g.bench_function(format!("parse_then_redact_{}KB", photo.len() / 1024), |b| {
        b.iter(|| {
            let m = parse(black_box(photo.clone()), &cat, &limits).unwrap();
            black_box(redact(&m, &cat, cat.all(), &limits).unwrap())
        })
    });
    // The positive model as the proxy runs it for a redact-listed agency:
    // projection onto the example profile, the catalogue pass and both
    // independent checks (from a parsed message).
    let policy = origuard::runtime::policy_store::load_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/policy/colorado.toml"
    ))
    .unwrap();
    let profile = &policy.profiles[1];
    g.bench_function(format!("release_profile_{}KB", photo.len() / 1024), |b| {
        b.iter(|| {
            black_box(release(black_box(&parsed), profile, &cat, cat.all(), &limits).unwrap())
        })
    });
    let legacy_dr = parse(
        Bytes::from_static(b"DR.COOLN0000.VADEADX00.*A0TRM0042.TXT\r\nDOE, JANE Q  DOB/19800115 SEX/F RAC/W HGT/505 WGT/130\r\nOLN/000000000 OLS/CO CLASS/R STATUS/VALID EXP/20290115\r\nADDR/123 EXAMPLE ST DENVER CO 80202\r\nPOB/MX\r\nEND OF RECORD"),
        &cat,
        &limits,
    )
    .unwrap();
    g.throughput(Throughput::Bytes(legacy_dr.raw.len() as u64));
    g.bench_function(
        format!("release_profile_legacy_{}B", legacy_dr.raw.len()),
        |b| {
            b.iter(|| {
                black_box(
                    release(black_box(&legacy_dr), profile, &cat, cat.all(), &limits).unwrap(),
                )
            })
        },
    );
    // Under a court order that covers the photo (`court-order-photo`): the
    // photo is kept, so it is decoded whole and its image structure walked,
    // by the projection and again by the independent check.
    let order_profile = policy
        .profiles
        .iter()
        .find(|p| p.name == "court-order-photo")
        .unwrap();
    g.throughput(Throughput::Bytes(photo.len() as u64));
    g.bench_function(
        format!("release_court_order_photo_{}KB", photo.len() / 1024),
        |b| {
            b.iter(|| {
                black_box(
                    release(black_box(&parsed), order_profile, &cat, cat.all(), &limits).unwrap(),
                )
            })
        },
    );
    // The image check alone, on that photo's base64 text.
    let text = String::from_utf8_lossy(&photo);
    let start = text.find("BinaryBase64Object>").unwrap() + "BinaryBase64Object>".len();
    let b64 = text[start..start + text[start..].find('<').unwrap()]
        .as_bytes()
        .to_vec();
    assert!(origuard::redact::image::base64_image(&b64));
    g.throughput(Throughput::Bytes(b64.len() as u64));
    g.bench_function(format!("image_check_{}KB", b64.len() / 1024), |b| {
        b.iter(|| black_box(origuard::redact::image::base64_image(black_box(&b64))))
    });
    g.finish();

    // Framing: split a stream of 1,000 ≈500-byte messages.
    let mut stream = Vec::new();
    for _ in 0..1000 {
        stream.extend_from_slice(&origuard::framing::encode(Framing::Len4, &leg).unwrap());
    }
    let mut g = c.benchmark_group("framing");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("len4_split_1000x500B", |b| {
        b.iter(|| {
            black_box(
                split_all(Framing::Len4, black_box(&stream), 1 << 20)
                    .0
                    .len(),
            )
        })
    });
    g.finish();
    let _ = FrameCodec::new(Framing::Len4, 1);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
