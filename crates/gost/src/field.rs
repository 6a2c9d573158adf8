//! Arithmetic modulo an odd prime on `L` 64-bit limbs in Montgomery form, for the curve code.
//!
//! Why by hand rather than `crypto-bigint`'s `DynResidue`: that type carries its modulus
//! parameters (five integers) inside every element, so each of the thousands of element copies
//! in a verification moves about 170 bytes, and its product is a wide multiplication followed by
//! a separate reduction. Here an element is its limbs and a reference to parameters shared per
//! modulus, and the product interleaves multiplication and reduction (CIOS, Koç et al. 1996).
//! Only public data is handled (signature verification), so nothing needs constant time.
//! Tested against `crypto-bigint` on random operands in `field_tests`, and through the curve
//! tests, the standard's examples and the OpenSSL oracle.

use crypto_bigint::Uint;

/// The parameters of one modulus, made once and shared by its elements.
pub(crate) struct Modulus<const L: usize> {
    p: [u64; L],
    /// c where p = 2^(64·L) − c with c below 2³²: the CryptoPro-A, TC26-256-A and TC26-512-A
    /// primes. Their elements are kept as plain integers and a product is reduced by folding
    /// its high half times c onto its low half, cheaper than a Montgomery reduction.
    c: Option<u64>,
    /// −p⁻¹ mod 2⁶⁴.
    inv: u64,
    /// R² mod p, R = 2^(64·L): turns an integer into Montgomery form.
    r2: [u64; L],
    /// R mod p: one in Montgomery form.
    one: [u64; L],
    /// p − 2, the exponent of an inverse by Fermat's little theorem.
    p_minus_2: [u64; L],
}

/// An element modulo some [`Modulus`], always below p: in Montgomery form (a·R mod p), or the
/// integer itself for a pseudo-Mersenne p.
#[derive(Clone, Copy)]
pub(crate) struct Fe<const L: usize> {
    v: [u64; L],
    m: &'static Modulus<L>,
}

impl<const L: usize> PartialEq for Fe<L> {
    fn eq(&self, other: &Self) -> bool {
        self.v == other.v
    }
}

/// a < b, as L-limb integers.
fn less<const L: usize>(a: &[u64; L], b: &[u64; L]) -> bool {
    for i in (0..L).rev() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
    }
    false
}

/// a − b, wrapping; returns the borrow.
fn sub_in_place<const L: usize>(a: &mut [u64; L], b: &[u64; L]) -> bool {
    let mut borrow = false;
    for i in 0..L {
        let (d, b1) = a[i].overflowing_sub(b[i]);
        let (d, b2) = d.overflowing_sub(u64::from(borrow));
        a[i] = d;
        borrow = b1 || b2;
    }
    borrow
}

/// a + b, wrapping; returns the carry.
fn add_in_place<const L: usize>(a: &mut [u64; L], b: &[u64; L]) -> bool {
    let mut carry = false;
    for i in 0..L {
        let (s, c1) = a[i].overflowing_add(b[i]);
        let (s, c2) = s.overflowing_add(u64::from(carry));
        a[i] = s;
        carry = c1 || c2;
    }
    carry
}

impl<const L: usize> Modulus<L> {
    /// The parameters of the odd modulus `p`, kept for the life of the process: a curve's
    /// moduli are made once (see `GostCurve::new`), so this is bounded by the parameter sets.
    pub(crate) fn new(p: &Uint<L>) -> &'static Modulus<L> {
        let mut words = [0u64; L];
        for (w, limb) in words.iter_mut().zip(p.as_words()) {
            *w = *limb;
        }
        // p₀⁻¹ mod 2⁶⁴ by Newton's iteration: each step doubles the correct low bits.
        let mut inv: u64 = 1;
        for _ in 0..7 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(words[0].wrapping_mul(inv)));
        }
        let double = |x: &mut [u64; L]| {
            let mut t = *x;
            let carry = add_in_place(&mut t, x);
            if carry || !less(&t, &words) {
                sub_in_place(&mut t, &words);
            }
            *x = t;
        };
        // 2^k mod p by doubling from 1: R at k = 64·L, R² at k = 128·L.
        let mut x = [0u64; L];
        x[0] = 1;
        let mut one = [0u64; L];
        for k in 1..=(128 * L) {
            double(&mut x);
            if k == 64 * L {
                one = x;
            }
        }
        let mut p_minus_2 = words;
        sub_in_place(&mut p_minus_2, &{
            let mut two = [0u64; L];
            two[0] = 2;
            two
        });
        let c = (words[1..].iter().all(|w| *w == u64::MAX))
            .then(|| words[0].wrapping_neg())
            .filter(|c| *c < 1 << 32);
        Box::leak(Box::new(Modulus {
            p: words,
            c,
            inv: inv.wrapping_neg(),
            r2: x,
            one,
            p_minus_2,
        }))
    }

    /// The product of two elements in their form: a·b mod p for a pseudo-Mersenne p, else
    /// a·b·R⁻¹ mod p. Below p for operands below p.
    fn product(&self, a: &[u64; L], b: &[u64; L]) -> [u64; L] {
        match self.c {
            Some(c) => self.fold_mul(a, b, c),
            None => self.mont_mul(a, b),
        }
    }

    /// a·b mod p for p = 2^(64·L) − c: the 2L-limb product is hi·2^(64·L) + lo ≡ hi·c + lo.
    fn fold_mul(&self, a: &[u64; L], b: &[u64; L], c: u64) -> [u64; L] {
        let mut wide = [0u64; 16];
        for i in 0..L {
            let mut carry: u64 = 0;
            for j in 0..L {
                let s = u128::from(wide[i + j])
                    + u128::from(a[i]) * u128::from(b[j])
                    + u128::from(carry);
                wide[i + j] = s as u64;
                carry = (s >> 64) as u64;
            }
            wide[i + L] = carry;
        }
        let mut r = [0u64; L];
        let mut carry: u128 = 0;
        for i in 0..L {
            let s = u128::from(wide[i]) + u128::from(wide[i + L]) * u128::from(c) + carry;
            r[i] = s as u64;
            carry = s >> 64;
        }
        // What is left is carry·2^(64·L) ≡ carry·c, below 2⁹⁶; adding it may overflow once
        // more, by at most one 2^(64·L), which is c again.
        let mut extra = carry * u128::from(c);
        while extra != 0 {
            let mut k = 0;
            while extra != 0 && k < L {
                let s = u128::from(r[k]) + (extra & u128::from(u64::MAX));
                r[k] = s as u64;
                extra = (extra >> 64) + (s >> 64);
                k += 1;
            }
            if extra != 0 {
                // Carried out of the top limb: 2^(64·L) ≡ c.
                extra *= u128::from(c);
            }
        }
        if !less(&r, &self.p) {
            sub_in_place(&mut r, &self.p);
        }
        r
    }

    /// a·b·R⁻¹ mod p (CIOS): for a, b < p the result is below p.
    fn mont_mul(&self, a: &[u64; L], b: &[u64; L]) -> [u64; L] {
        let mut t = [0u64; L];
        let mut top: u64 = 0;
        for &bi in b.iter() {
            let mut c: u64 = 0;
            for j in 0..L {
                let s = u128::from(t[j]) + u128::from(a[j]) * u128::from(bi) + u128::from(c);
                t[j] = s as u64;
                c = (s >> 64) as u64;
            }
            let s = u128::from(top) + u128::from(c);
            top = s as u64;
            let top2 = (s >> 64) as u64;
            let u = t[0].wrapping_mul(self.inv);
            let s = u128::from(t[0]) + u128::from(u) * u128::from(self.p[0]);
            let mut c = (s >> 64) as u64;
            for j in 1..L {
                let s = u128::from(t[j]) + u128::from(u) * u128::from(self.p[j]) + u128::from(c);
                t[j - 1] = s as u64;
                c = (s >> 64) as u64;
            }
            let s = u128::from(top) + u128::from(c);
            t[L - 1] = s as u64;
            top = top2 + (s >> 64) as u64;
        }
        if top != 0 || !less(&t, &self.p) {
            sub_in_place(&mut t, &self.p);
        }
        t
    }
}

impl<const L: usize> Fe<L> {
    /// The element x (which must be below the modulus).
    pub(crate) fn new(x: &Uint<L>, m: &'static Modulus<L>) -> Fe<L> {
        let mut words = [0u64; L];
        for (w, limb) in words.iter_mut().zip(x.as_words()) {
            *w = *limb;
        }
        match m.c {
            Some(_) => Fe { v: words, m },
            None => Fe {
                v: m.mont_mul(&words, &m.r2),
                m,
            },
        }
    }

    /// One.
    pub(crate) fn one(m: &'static Modulus<L>) -> Fe<L> {
        match m.c {
            Some(_) => {
                let mut v = [0u64; L];
                v[0] = 1;
                Fe { v, m }
            }
            None => Fe { v: m.one, m },
        }
    }

    /// Zero.
    pub(crate) fn zero(m: &'static Modulus<L>) -> Fe<L> {
        Fe { v: [0; L], m }
    }

    /// The element as an integer below the modulus.
    pub(crate) fn retrieve(&self) -> Uint<L> {
        if self.m.c.is_some() {
            return Uint::from_words(self.v);
        }
        let mut one = [0u64; L];
        one[0] = 1;
        Uint::from_words(self.m.mont_mul(&self.v, &one))
    }

    /// self · other.
    pub(crate) fn mul(&self, other: &Fe<L>) -> Fe<L> {
        Fe {
            v: self.m.product(&self.v, &other.v),
            m: self.m,
        }
    }

    /// self².
    pub(crate) fn square(&self) -> Fe<L> {
        self.mul(self)
    }

    /// self + other.
    pub(crate) fn add(&self, other: &Fe<L>) -> Fe<L> {
        let mut v = self.v;
        let carry = add_in_place(&mut v, &other.v);
        if carry || !less(&v, &self.m.p) {
            sub_in_place(&mut v, &self.m.p);
        }
        Fe { v, m: self.m }
    }

    /// self − other.
    pub(crate) fn sub(&self, other: &Fe<L>) -> Fe<L> {
        let mut v = self.v;
        if sub_in_place(&mut v, &other.v) {
            add_in_place(&mut v, &self.m.p);
        }
        Fe { v, m: self.m }
    }

    /// −self.
    pub(crate) fn neg(&self) -> Fe<L> {
        Fe::zero(self.m).sub(self)
    }

    /// self⁻¹ by Fermat's little theorem (self^(p−2)), and whether it exists (self ≠ 0).
    pub(crate) fn invert(&self) -> (Fe<L>, bool) {
        if self.v == [0; L] {
            return (*self, false);
        }
        let mut acc = Fe::one(self.m);
        for i in (0..64 * L).rev() {
            acc = acc.square();
            if (self.m.p_minus_2[i / 64] >> (i % 64)) & 1 == 1 {
                acc = acc.mul(self);
            }
        }
        (acc, true)
    }
}

#[cfg(test)]
#[path = "field_tests.rs"]
mod tests;
