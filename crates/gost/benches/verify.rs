//! Signature verifications per second (issue 9: registration needs two per document, a doctor's
//! and an organisation's). Run: `cargo bench -p zdrav-gost --bench verify`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zdrav_gost::{verify_detached, TrustStore};

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

/// The trust check registration adds per signature (`--trusted-ca`): a GOST-256 path of
/// signer, intermediate and trusted root, i.e. two certificate signatures; with the
/// intermediate's CRL, which revokes the signer (a refusal after the signer's certificate and
/// the CRL are verified); and the whole of a registration's per-signature work.
fn chain(c: &mut Criterion) {
    let sig = include_bytes!("../tests/data/chain/chain256.p7s");
    let mut trust = TrustStore::new();
    let loaded = trust.add_certificates(include_bytes!("../tests/data/chain/root.pem"));
    assert_eq!(loaded, Ok(1));
    let mut with_crl = TrustStore::new();
    let _ = with_crl.add_certificates(include_bytes!("../tests/data/chain/root.pem"));
    let _ = with_crl.add_crls(include_bytes!("../tests/data/chain/inter-revoked.crl"));
    let signer = verify_detached(sig, BODY)
        .ok()
        .and_then(|mut s| s.pop())
        .expect("the fixture verifies");
    let at = 1_800_000_000;
    let mut g = c.benchmark_group("chain");
    g.throughput(Throughput::Elements(1));
    let root = include_bytes!("../tests/data/chain/root.pem");
    // A signer seen for the first time: a new store each iteration (its loading is outside
    // the measurement).
    g.bench_function("gost256_path_first", |b| {
        b.iter_batched(
            || {
                let mut t = TrustStore::new();
                let _ = t.add_certificates(root);
                t
            },
            |t| t.check(&signer.certificate_der, &signer.cms_certificates, at),
            criterion::BatchSize::SmallInput,
        )
    });
    // The same signer again: the remembered path.
    g.bench_function("gost256_path_again", |b| {
        b.iter(|| trust.check(&signer.certificate_der, &signer.cms_certificates, at))
    });
    g.bench_function("gost256_path_crl", |b| {
        b.iter(|| with_crl.check(&signer.certificate_der, &signer.cms_certificates, at))
    });
    g.bench_function("gost256_cms_and_path", |b| {
        b.iter(|| {
            verify_detached(sig, BODY).map(|s| {
                s.iter()
                    .filter(|s| {
                        trust
                            .check(&s.certificate_der, &s.cms_certificates, at)
                            .is_ok()
                    })
                    .count()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, verify, chain);
criterion_main!(benches);
