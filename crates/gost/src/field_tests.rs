//! The hand-written field agrees with `crypto-bigint`'s `DynResidue` on every modulus the
//! parameter sets use (p and q), in both its forms (Montgomery, and plain integers for the
//! primes 2^n − c), for random operands and the edge values 0, 1 and p − 1.

use super::*;
use crate::params::{self, ParamSet};
use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{NonZero, U512};

/// xorshift64*: reproducible operands without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn check<const L: usize>(modulus: &U512, seed: u64) {
    let p: Uint<L> = modulus.resize();
    let m = Modulus::<L>::new(&p);
    let params = DynResidueParams::new(&p);
    let nz = NonZero::new(p).unwrap();
    let mut state = seed;
    let mut values: Vec<Uint<L>> = vec![Uint::ZERO, Uint::ONE, p.wrapping_sub(&Uint::ONE)];
    for _ in 0..40 {
        let mut words = [0u64; L];
        for w in words.iter_mut() {
            *w = next(&mut state);
        }
        values.push(Uint::from_words(words) % nz);
    }
    for a in &values {
        let (fa, da) = (Fe::new(a, m), DynResidue::new(a, params));
        assert_eq!(fa.retrieve(), *a);
        assert_eq!(fa.neg().retrieve(), da.neg().retrieve());
        assert_eq!(fa.square().retrieve(), da.square().retrieve());
        let (inv, ok) = fa.invert();
        assert_eq!(ok, *a != Uint::ZERO);
        if ok {
            assert_eq!(inv.mul(&fa).retrieve(), Uint::ONE);
        }
        for b in values.iter().step_by(5) {
            let (fb, db) = (Fe::new(b, m), DynResidue::new(b, params));
            assert_eq!(fa.mul(&fb).retrieve(), da.mul(&db).retrieve());
            assert_eq!(fa.add(&fb).retrieve(), da.add(&db).retrieve());
            assert_eq!(fa.sub(&fb).retrieve(), da.sub(&db).retrieve());
        }
    }
}

#[test]
fn agrees_with_crypto_bigint_on_every_modulus() {
    let hex = |s: &str| super::super::curve::hex_for_tests(s);
    let short: [&ParamSet; 5] = [
        &params::TC26_256_A,
        &params::CRYPTOPRO_A,
        &params::CRYPTOPRO_B,
        &params::CRYPTOPRO_C,
        &params::TEST_256,
    ];
    for (k, set) in short.iter().enumerate() {
        check::<4>(&hex(set.p), 1 + k as u64);
        check::<4>(&hex(set.q), 100 + k as u64);
    }
    let long: [&ParamSet; 4] = [
        &params::TC26_512_A,
        &params::TC26_512_B,
        &params::TC26_512_C,
        &params::TEST_512,
    ];
    for (k, set) in long.iter().enumerate() {
        check::<8>(&hex(set.p), 200 + k as u64);
        check::<8>(&hex(set.q), 300 + k as u64);
    }
    // The primes 2^n − c take the folding product (and were checked above in that form).
    let c4 = |set: &ParamSet| Modulus::<4>::new(&hex(set.p).resize()).c;
    let c8 = |set: &ParamSet| Modulus::<8>::new(&hex(set.p).resize()).c;
    assert_eq!(c4(&params::CRYPTOPRO_A), Some(617));
    assert_eq!(c4(&params::TC26_256_A), Some(617));
    assert_eq!(c8(&params::TC26_512_A), Some(569));
    assert_eq!(c4(&params::CRYPTOPRO_B), None);
    assert_eq!(
        Modulus::<4>::new(&hex(params::CRYPTOPRO_A.q).resize()).c,
        None
    );
}
