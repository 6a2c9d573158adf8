//! GOST R 34.10-2012 appendix A examples (also RFC 7091 section 7) and parameter-set checks.

use super::*;
use crate::params::{self, ParamSet};

/// The examples run on 8 limbs for either size; `sizes_agree` runs them on 4 limbs too.
type Curve = super::Curve<8>;
type PublicKey = super::PublicKey<8>;
use crypto_bigint::Encoding;

/// One worked example of the standard: the curve, private key d, public key Q, digest e,
/// nonce k and the signature (r, s).
struct Example {
    set: &'static ParamSet,
    d: &'static str,
    qx: &'static str,
    qy: &'static str,
    e: &'static str,
    k: &'static str,
    r: &'static str,
    s: &'static str,
}

/// GOST R 34.10-2012 example A.1 (256-bit, p = 0x8000…0431).
const A1: Example = Example {
    set: &params::TEST_256,
    d: "7A929ADE789BB9BE10ED359DD39A72C11B60961F49397EEE1D19CE9891EC3B28",
    qx: "7F2B49E270DB6D90D8595BEC458B50C58585BA1D4E9B788F6689DBD8E56FD80B",
    qy: "26F1B489D6701DD185C8413A977B3CBBAF64D1C593D26627DFFB101A87FF77DA",
    e: "2DFBC1B372D89A1188C09C52E0EEC61FCE52032AB1022E8E67ECE6672B043EE5",
    k: "77105C9B20BCD3122823C8CF6FCC7B956DE33814E95B7FE64FED924594DCEAB3",
    r: "41AA28D2F1AB148280CD9ED56FEDA41974053554A42767B83AD043FD39DC0493",
    s: "01456C64BA4642A1653C235A98A60249BCD6D3F746B631DF928014F6C5BF9C40",
};

/// GOST R 34.10-2012 example A.2 (512-bit).
const A2: Example = Example {
    set: &params::TEST_512,
    d: "0BA6048AADAE241BA40936D47756D7C93091A0E8514669700EE7508E508B1020\
        72E8123B2200A0563322DAD2827E2714A2636B7BFD18AADFC62967821FA18DD4",
    qx: "115DC5BC96760C7B48598D8AB9E740D4C4A85A65BE33C1815B5C320C854621DD\
         5A515856D13314AF69BC5B924C8B4DDFF75C45415C1D9DD9DD33612CD530EFE1",
    qy: "37C7C90CD40B0F5621DC3AC1B751CFA0E2634FA0503B3D52639F5D7FB72AFD61\
         EA199441D943FFE7F0C70A2759A3CDB84C114E1F9339FDF27F35ECA93677BEEC",
    e: "3754F3CFACC9E0615C4F4A7C4D8DAB531B09B6F9C170C533A71D147035B0C591\
        7184EE536593F4414339976C647C5D5A407ADEDB1D560C4FC6777D2972075B8C",
    k: "0359E7F4B1410FEACC570456C6801496946312120B39D019D455986E364F3658\
        86748ED7A44B3E794434006011842286212273A6D14CF70EA3AF71BB1AE679F1",
    r: "2F86FA60A081091A23DD795E1E3C689EE512A3C82EE0DCC2643C78EEA8FCACD3\
        5492558486B20F1C9EC197C90699850260C93BCBCD9C5C3317E19344E173AE36",
    s: "1081B394696FFE8E6585E7A9362D26B6325F56778AADBC081C0BFBE933D52FF5\
        823CE288E8C4F362526080DF7F70CE406A6EEB1F56919CB92A9853BDE73E5B4A",
};

fn flip(v: &U512, bit: usize) -> U512 {
    let mut bytes = v.to_be_bytes();
    bytes[63 - bit / 8] ^= 1 << (bit % 8);
    U512::from_be_slice(&bytes)
}

/// The example's public key, checked to be on the curve.
fn key(curve: &Curve, ex: &Example) -> PublicKey {
    curve
        .public_key(&hex(ex.qx), &hex(ex.qy))
        .expect("example public key is on its curve")
}

fn check_example(ex: &Example) {
    let curve = Curve::new(ex.set);
    let key = key(&curve, ex);
    let (e, r, s) = (hex(ex.e), hex(ex.r), hex(ex.s));
    assert!(
        curve.verify_e(&key, &e, &r, &s),
        "{}: example verifies",
        ex.set.name
    );
    for bit in [0, 7, 100, ex.set.bits - 3] {
        assert!(
            !curve.verify_e(&key, &flip(&e, bit), &r, &s),
            "flipped e bit {bit}"
        );
        assert!(
            !curve.verify_e(&key, &e, &flip(&r, bit), &s),
            "flipped r bit {bit}"
        );
        assert!(
            !curve.verify_e(&key, &e, &r, &flip(&s, bit)),
            "flipped s bit {bit}"
        );
    }
    // Swapped r and s must fail too.
    assert!(!curve.verify_e(&key, &e, &s, &r));
}

/// The CMS byte conventions: digest little-endian, signature s‖r big-endian.
fn check_example_bytes(ex: &Example) {
    let curve = Curve::new(ex.set);
    let n = curve.len();
    let key = key(&curve, ex);
    let be = |s: &str| hex(s).to_be_bytes()[64 - n..].to_vec();
    let mut digest = be(ex.e);
    digest.reverse();
    let signature = [be(ex.s), be(ex.r)].concat();
    assert!(curve.verify_digest(&key, &digest, &signature));
    let mut bad = digest.clone();
    bad[n - 1] ^= 0x80;
    assert!(
        !curve.verify_digest(&key, &bad, &signature),
        "flipped digest bit"
    );
    let r_s = [be(ex.r), be(ex.s)].concat();
    assert!(
        !curve.verify_digest(&key, &digest, &r_s),
        "r‖s order is refused"
    );
    assert!(
        !curve.verify_digest(&key, &digest, &signature[1..]),
        "short signature"
    );
    // The same key given as a certificate carries it: x‖y little-endian.
    let mut x = be(ex.qx);
    let mut y = be(ex.qy);
    x.reverse();
    y.reverse();
    let cert_key = curve
        .public_key_le(&[x, y].concat())
        .expect("LE key decodes");
    assert!(curve.verify_digest(&cert_key, &digest, &signature));
}

/// The scalar multiplication agrees with the example: Q = d·G and r = x(k·G) mod q.
fn check_example_points(ex: &Example) {
    let curve = Curve::new(ex.set);
    let q_point = curve.mul2(&hex(ex.d), &curve.g, &U512::ZERO, &curve.g);
    assert_eq!(curve.affine_x(&q_point), Some(hex(ex.qx)));
    let c = curve.mul2(&U512::ZERO, &curve.g, &hex(ex.k), &curve.g);
    let x = curve.affine_x(&c).expect("k·G is finite");
    assert_eq!(reduce(&x, &curve.q), hex(ex.r));
}

#[test]
fn example_a1_256_verifies_and_bit_flips_fail() {
    check_example(&A1);
}

#[test]
fn example_a2_512_verifies_and_bit_flips_fail() {
    check_example(&A2);
}

#[test]
fn example_a1_256_in_cms_byte_order() {
    check_example_bytes(&A1);
}

#[test]
fn example_a2_512_in_cms_byte_order() {
    check_example_bytes(&A2);
}

#[test]
fn example_points_match_scalar_multiplication() {
    check_example_points(&A1);
    check_example_points(&A2);
}

#[test]
fn every_parameter_set_is_consistent() {
    let sets = [
        &params::TC26_256_A,
        &params::CRYPTOPRO_A,
        &params::CRYPTOPRO_B,
        &params::CRYPTOPRO_C,
        &params::TC26_512_A,
        &params::TC26_512_B,
        &params::TC26_512_C,
        &params::TEST_256,
        &params::TEST_512,
    ];
    for set in sets {
        let curve = Curve::new(set);
        assert!(
            curve.on_curve(&curve.g.x, &curve.g.y),
            "{}: G on curve",
            set.name
        );
        let qg = curve.mul2(&curve.q, &curve.g, &U512::ZERO, &curve.g);
        assert!(curve.is_zero(&qg.z), "{}: q·G = O", set.name);
        assert!(
            curve.q.bits_vartime() > set.bits - 3,
            "{}: q size",
            set.name
        );
        assert!(curve.q.bits_vartime() <= set.bits, "{}: q size", set.name);
    }
}

#[test]
fn parameter_oids_resolve() {
    assert_eq!(
        params::by_oid("1.2.643.2.2.35.1").map(|s| s.name),
        Some(params::CRYPTOPRO_A.name)
    );
    assert_eq!(
        params::by_oid("1.2.643.7.1.2.1.1.2").map(|s| s.name),
        Some(params::CRYPTOPRO_A.name)
    );
    assert_eq!(
        params::by_oid("1.2.643.7.1.2.1.2.1").map(|s| s.bits),
        Some(512)
    );
    assert!(
        params::by_oid("1.2.643.2.2.35.0").is_none(),
        "test curve is not accepted"
    );
}

#[test]
fn bad_public_keys_and_out_of_range_signatures_are_refused() {
    let curve = Curve::new(&params::TEST_256);
    assert!(curve
        .public_key(&hex(A1.qx), &flip(&hex(A1.qy), 0))
        .is_none());
    assert!(curve.public_key(&curve.p, &hex(A1.qy)).is_none());
    assert!(curve.public_key_le(&[0u8; 63]).is_none());
    let key = key(&curve, &A1);
    let (e, r, s) = (hex(A1.e), hex(A1.r), hex(A1.s));
    assert!(!curve.verify_e(&key, &e, &U512::ZERO, &s));
    assert!(!curve.verify_e(&key, &e, &r, &U512::ZERO));
    assert!(!curve.verify_e(&key, &e, &r.wrapping_add(&curve.q), &s));
    assert!(!curve.verify_e(&key, &e, &r, &s.wrapping_add(&curve.q)));
}

/// A 256-bit curve on 4 limbs (as certificates use it) gives the same verdicts as on 8.
#[test]
fn sizes_agree() {
    let small = super::Curve::<4>::new(A1.set);
    let key = small
        .public_key(&hex(A1.qx), &hex(A1.qy))
        .expect("example key on its curve");
    let (e, r, s) = (hex(A1.e), hex(A1.r), hex(A1.s));
    assert!(small.verify_e(&key, &e, &r, &s));
    assert!(!small.verify_e(&key, &flip(&e, 3), &r, &s));
    assert!(!small.verify_e(&key, &e, &s, &r));
    let q_point = small.mul2(&hex(A1.d), &small.g, &U512::ZERO, &small.g);
    assert_eq!(small.affine_x(&q_point), Some(hex(A1.qx)));
    let gost = GostCurve::new(A1.set);
    assert!(matches!(gost, GostCurve::Short(_)));
    assert!(matches!(GostCurve::new(A2.set), GostCurve::Long(_)));
}

/// The signed digits add back up to the scalar, are odd and below 8 in size, and no two
/// non-zero digits are closer than four places.
#[test]
fn wnaf_digits_rebuild_the_scalar() {
    let mut k = hex(A1.d);
    for round in 0..64 {
        let digits = wnaf(&k);
        let mut sum = Uint::<9>::ZERO;
        for (i, d) in digits.iter().enumerate().rev() {
            sum = sum.shl_vartime(1);
            sum = if *d >= 0 {
                sum.wrapping_add(&Uint::<9>::from_u8(*d as u8))
            } else {
                sum.wrapping_sub(&Uint::<9>::from_u8((-*d) as u8))
            };
            assert!(
                *d == 0 || (d % 2 != 0 && d.abs() < 8),
                "round {round}, digit {i}: {d}"
            );
        }
        assert_eq!(sum, k.resize::<9>(), "round {round}");
        let places: Vec<usize> = (0..digits.len()).filter(|&i| digits[i] != 0).collect();
        assert!(places.windows(2).all(|w| w[1] - w[0] >= 4), "round {round}");
        // The next scalar: a cheap, well-mixed walk over 256-bit values.
        k = k
            .wrapping_mul(&hex(A1.e))
            .wrapping_add(&U512::from_u64(round + 1))
            % NonZero::new(hex(A1.s)).unwrap();
    }
    assert!(wnaf(&U512::ZERO).is_empty());
}

/// Runs `short` on every 256-bit parameter set and `long` on every 512-bit one.
fn every_set(short: fn(&ParamSet), long: fn(&ParamSet)) {
    for set in [
        &params::TC26_256_A,
        &params::CRYPTOPRO_A,
        &params::CRYPTOPRO_B,
        &params::CRYPTOPRO_C,
        &params::TEST_256,
    ] {
        short(set);
    }
    for set in [
        &params::TC26_512_A,
        &params::TC26_512_B,
        &params::TC26_512_C,
        &params::TEST_512,
    ] {
        long(set);
    }
}

/// An affine point other than G, and `rounds` pairs of scalars below q, from (k1, k2) on.
fn point_and_scalars<const L: usize>(
    c: &super::Curve<L>,
    mut k1: U512,
    mut k2: U512,
    rounds: u64,
) -> (Point<L>, Vec<(U512, U512)>) {
    let p = c.mul2(&U512::from_u64(0x1234_5678_9abc), &c.g, &U512::ZERO, &c.g);
    let p = c.odd_multiples(&p).expect("affine")[0];
    let q = NonZero::new(c.q).unwrap();
    let mut out = Vec::new();
    for round in 0..rounds {
        out.push((k1, k2));
        k1 = k1
            .wrapping_mul(&U512::from_u64(0x9e37_79b9_7f4a_7c15))
            .wrapping_add(&U512::from_u64(round))
            % q;
        k2 = k2.wrapping_mul(&k1).wrapping_add(&U512::ONE) % q;
    }
    (p, out)
}

/// The windowed k1·G + k2·P equals Shamir's trick on every parameter set, for many scalars,
/// on the sizes certificates use.
#[test]
fn windowed_multiplication_agrees_with_shamir() {
    fn check<const L: usize>(set: &ParamSet) {
        let c = super::Curve::<L>::new(set);
        let start = c.q.wrapping_sub(&U512::from_u64(7));
        let (p, scalars) = point_and_scalars(&c, start, U512::from_u64(3), 24);
        for (round, (k1, k2)) in scalars.iter().enumerate() {
            let a = c.mul2_g(k1, k2, &p, None);
            let b = c.mul2(k1, &c.g, k2, &p);
            assert_eq!(c.affine_x(&a), c.affine_x(&b), "{} round {round}", set.name);
        }
    }
    every_set(check::<4>, check::<8>);
}

/// The a = −3 doubling equals the general one (a·Z⁴ added) on every curve where it applies,
/// for points with Z ≠ 1, and those curves are the ones expected. Both multiplications use
/// the same doubling, so `windowed_multiplication_agrees_with_shamir` cannot catch this.
#[test]
fn doubling_for_a_minus_3_agrees_with_the_general_formula() {
    fn check<const L: usize>(set: &ParamSet) -> bool {
        let fast = super::Curve::<L>::new(set);
        let mut general = super::Curve::<L>::new(set);
        general.a_is_minus_3 = false;
        let mut p = fast.double(&fast.g);
        for round in 0..16 {
            let (a, b) = (fast.double(&p), general.double(&p));
            // Equal as affine points: X1·Z2² = X2·Z1² and Y1·Z2³ = Y2·Z1³.
            let (za2, zb2) = (a.z.square(), b.z.square());
            assert!(
                a.x.mul(&zb2) == b.x.mul(&za2),
                "{} x, round {round}",
                set.name
            );
            assert!(
                a.y.mul(&zb2).mul(&b.z) == b.y.mul(&za2).mul(&a.z),
                "{} y, round {round}",
                set.name
            );
            p = fast.add(&a, &fast.g);
        }
        fast.a_is_minus_3
    }
    let short: Vec<&str> = [
        &params::TC26_256_A,
        &params::CRYPTOPRO_A,
        &params::CRYPTOPRO_B,
        &params::CRYPTOPRO_C,
        &params::TEST_256,
    ]
    .into_iter()
    .filter(|s| check::<4>(s))
    .map(|s| s.name)
    .collect();
    let long: Vec<&str> = [
        &params::TC26_512_A,
        &params::TC26_512_B,
        &params::TC26_512_C,
        &params::TEST_512,
    ]
    .into_iter()
    .filter(|s| check::<8>(s))
    .map(|s| s.name)
    .collect();
    assert_eq!(
        short,
        [
            params::CRYPTOPRO_A.name,
            params::CRYPTOPRO_B.name,
            params::CRYPTOPRO_C.name
        ]
    );
    assert_eq!(long, [params::TC26_512_A.name, params::TC26_512_B.name]);
}

/// The comparison of x mod q with r without an inversion finds x among r, r + q, r + 2q, …:
/// on TC26 256-bit A (cofactor 4, so p ≈ 4q) x is often above 2q.
#[test]
fn x_mod_q_is_found_above_q() {
    let c = super::Curve::<4>::new(&params::TC26_256_A);
    let q = NonZero::new(c.q).unwrap();
    let mut above = 0;
    for k in 2..40u64 {
        let p = c.mul2(&U512::from_u64(k), &c.g, &U512::ZERO, &c.g);
        let x = c.affine_x(&p).expect("finite");
        let r = x % q;
        assert!(c.x_is(&p, &r), "k = {k}");
        assert!(!c.x_is(&p, &(r.wrapping_add(&U512::ONE) % q)), "k = {k}");
        if x >= c.q.wrapping_add(&c.q) {
            above += 1;
        }
    }
    assert!(above > 5, "x above 2q for {above} multiples");
}

/// The comb multiplication (`comb.rs`) equals the windowed one on every parameter set.
#[test]
fn comb_multiplication_agrees_with_windows() {
    fn check<const L: usize>(set: &ParamSet) {
        let c = super::Curve::<L>::new(set);
        let start = c.q.wrapping_sub(&U512::ONE);
        let (p, scalars) = point_and_scalars(&c, start, U512::from_u64(63), 16);
        let (gc, pc) = (c.comb(&c.g).expect("G comb"), c.comb(&p).expect("P comb"));
        for (round, (k1, k2)) in scalars.iter().enumerate() {
            let a = c.mul2_comb(k1, &gc, k2, &pc);
            let b = c.mul2_g(k1, k2, &p, None);
            assert_eq!(c.affine_x(&a), c.affine_x(&b), "{} round {round}", set.name);
        }
    }
    every_set(check::<4>, check::<8>);
}

/// A key used often enough gets its comb, and the standard's examples still verify through it
/// while altered ones fail.
#[test]
fn a_busy_key_verifies_through_its_comb() {
    for ex in [&A1, &A2] {
        let curve = Curve::new(ex.set);
        let key = key(&curve, ex);
        let (e, r, s) = (hex(ex.e), hex(ex.r), hex(ex.s));
        for _ in 0..=comb::USES_BEFORE_COMB {
            assert!(curve.verify_e(&key, &e, &r, &s), "{}", ex.set.name);
        }
        assert!(
            curve.combs(&key).is_some(),
            "{}: the comb was made",
            ex.set.name
        );
        assert!(curve.verify_e(&key, &e, &r, &s));
        for bit in [0, 9, ex.set.bits - 3] {
            assert!(!curve.verify_e(&key, &flip(&e, bit), &r, &s), "e bit {bit}");
            assert!(!curve.verify_e(&key, &e, &flip(&r, bit), &s), "r bit {bit}");
            assert!(!curve.verify_e(&key, &e, &r, &flip(&s, bit)), "s bit {bit}");
        }
    }
}
