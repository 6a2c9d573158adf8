//! Fixed-base combs for keys that sign again and again.
//!
//! A verification computes u1·G + u2·Q. With windows of odd multiples (`Curve::mul2_g`) that is
//! one doubling per bit of q plus an addition per five bits of each scalar. A comb stores, for
//! every window j of W bits and every digit d, the point d·2^(W·j)·P; a multiplication is then
//! one mixed addition per window and no doubling at all. For a 256-bit curve that is 86
//! additions instead of 256 doublings and ~100 additions: a third of the work.
//!
//! G is the same for every signature, so its comb is made once per curve. Q is a signer's key:
//! its comb costs about as much as 25 verifications and takes 217 KB (256-bit curves; 780 KB
//! for 512-bit ones), so it is made only for a key that has already verified
//! [`USES_BEFORE_COMB`] signatures (an organisation signs every document it registers), and all
//! key combs together stay under [`COMB_BUDGET`].

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crypto_bigint::U512;

use super::{Curve, Point, PublicKey};
use crate::field::Fe;

/// Bits per window.
const W: usize = 6;
/// Non-zero digits per window.
const DIGITS: usize = (1 << W) - 1;
/// Verifications by a key before its comb is made.
pub(super) const USES_BEFORE_COMB: u32 = 32;
/// Bytes all key combs may hold together.
const COMB_BUDGET: usize = 64 << 20;
/// Bytes key combs hold now.
static COMB_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The affine points d·2^(W·j)·P, at index j·DIGITS + d − 1.
pub(super) type Table<const L: usize> = Vec<(Fe<L>, Fe<L>)>;

/// A key's comb, counted against [`COMB_BUDGET`] while it lives.
pub(super) struct KeyComb<const L: usize> {
    table: Table<L>,
    bytes: usize,
}

impl<const L: usize> Drop for KeyComb<L> {
    fn drop(&mut self) {
        COMB_BYTES.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// What a key keeps towards its comb.
#[derive(Default)]
pub(super) struct KeyCombSlot<const L: usize> {
    uses: AtomicU32,
    comb: OnceLock<Option<KeyComb<L>>>,
}

/// Digit j (W bits from bit W·j) of k.
fn digit(k: &U512, j: usize) -> usize {
    let words = k.as_words();
    let bit = W * j;
    let (w, o) = (bit / 64, bit % 64);
    let mut v = words.get(w).copied().unwrap_or(0) >> o;
    if o + W > 64 {
        v |= words.get(w + 1).copied().unwrap_or(0) << (64 - o);
    }
    (v as usize) & DIGITS
}

impl<const L: usize> Curve<L> {
    /// Windows needed for scalars below q.
    fn windows(&self) -> usize {
        self.q.bits_vartime().div_ceil(W)
    }

    /// The comb of `p` (a point of order q), made affine with one shared inversion; `None` if a
    /// multiple is at infinity, which cannot happen for a point of order q.
    pub(super) fn comb(&self, p: &Point<L>) -> Option<Table<L>> {
        let windows = self.windows();
        let mut jac: Vec<Point<L>> = Vec::with_capacity(windows * DIGITS);
        let mut base = *p;
        for _ in 0..windows {
            let mut acc = base;
            jac.push(acc);
            for _ in 1..DIGITS {
                acc = self.add(&acc, &base);
                jac.push(acc);
            }
            base = self.add(&acc, &base);
        }
        let mut prefix = Vec::with_capacity(jac.len());
        let mut acc = Fe::<L>::one(self.fp);
        for pt in &jac {
            if self.is_zero(&pt.z) {
                return None;
            }
            prefix.push(acc);
            acc = acc.mul(&pt.z);
        }
        let (mut inv, ok) = acc.invert();
        if !ok {
            return None;
        }
        let zero = Fe::<L>::zero(self.fp);
        let mut out = vec![(zero, zero); jac.len()];
        for i in (0..jac.len()).rev() {
            let zinv = inv.mul(&prefix[i]);
            inv = inv.mul(&jac[i].z);
            let zinv2 = zinv.square();
            out[i] = (jac[i].x.mul(&zinv2), jac[i].y.mul(&zinv2).mul(&zinv));
        }
        Some(out)
    }

    /// k1·G + k2·Q from the combs of G and Q, for k1, k2 below q.
    pub(super) fn mul2_comb(&self, k1: &U512, g: &Table<L>, k2: &U512, q: &Table<L>) -> Point<L> {
        let one = Fe::<L>::one(self.fp);
        let mut acc = self.infinity();
        for (k, table) in [(k1, g), (k2, q)] {
            for j in 0..self.windows() {
                let d = digit(k, j);
                if let Some(&(x, y)) = d.checked_sub(1).and_then(|d| table.get(j * DIGITS + d)) {
                    acc = self.add_affine(&acc, &Point { x, y, z: one });
                }
            }
        }
        acc
    }

    /// The combs of G and of `key`, if the key has earned one and it fits the budget.
    pub(super) fn combs<'a>(
        &'a self,
        key: &'a PublicKey<L>,
    ) -> Option<(&'a Table<L>, &'a Table<L>)> {
        let slot = &key.comb;
        let made = match slot.comb.get() {
            Some(made) => made,
            None => {
                if slot.uses.fetch_add(1, Ordering::Relaxed) < USES_BEFORE_COMB {
                    return None;
                }
                slot.comb.get_or_init(|| {
                    let bytes = self.windows() * DIGITS * std::mem::size_of::<(Fe<L>, Fe<L>)>();
                    if COMB_BYTES.fetch_add(bytes, Ordering::Relaxed) + bytes > COMB_BUDGET {
                        COMB_BYTES.fetch_sub(bytes, Ordering::Relaxed);
                        return None;
                    }
                    // Counted from here, so a comb that cannot be made gives its bytes back.
                    let mut comb = KeyComb {
                        table: Vec::new(),
                        bytes,
                    };
                    comb.table = self.comb(&key.point)?;
                    Some(comb)
                })
            }
        };
        let q = &made.as_ref()?.table;
        let g = self.g_comb.get_or_init(|| self.comb(&self.g)).as_ref()?;
        Some((g, q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_rebuild_the_scalar() {
        let k = U512::from_be_hex(concat!(
            "0123456789abcdef0fedcba98765432100112233445566778899aabbccddeeff",
            "f0e1d2c3b4a5968778695a4b3c2d1e0f0123456789abcdef0fedcba987654321"
        ));
        let mut back = U512::ZERO;
        for j in (0..512usize.div_ceil(W)).rev() {
            back = back.shl_vartime(W);
            back = back.wrapping_add(&U512::from_u64(digit(&k, j) as u64));
        }
        assert_eq!(back, k);
    }
}
