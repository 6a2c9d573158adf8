//! Signature verifications per second (issue 9: registration needs two per document, a doctor's
//! and an organisation's). Run: `cargo bench -p zdrav-gost --bench verify`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zdrav_gost::verify_detached;

const BODY: &[u8] = include_bytes!("../tests/data/body.txt");

fn verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify_detached");
    g.throughput(Throughput::Elements(1));
    for (name, sig) in [
        ("gost256", &include_bytes!("../tests/data/gost256.p7s")[..]),
        ("gost512", &include_bytes!("../tests/data/gost512.p7s")[..]),
        ("p256", &include_bytes!("../tests/data/p256.p7s")[..]),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| verify_detached(sig, BODY).map(|s| s.len()))
        });
    }
    g.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
