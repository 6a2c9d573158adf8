//! Exact decimals for FHIRPath: a 128-bit mantissa and a decimal scale. FHIR decimals carry their
//! precision in their text (`1.10` is not `1.1` for equivalence), and binary floats would make
//! `1.2 + 1.8 = 3.0` false, so arithmetic stays in base ten; only the transcendental functions go
//! through `f64`.

use std::cmp::Ordering;
use std::fmt;

/// Scale cap: beyond it results are rounded (FHIRPath only promises 8 decimal places).
const MAX_SCALE: u32 = 28;
/// Digits kept by inexact division.
const DIV_SCALE: u32 = 16;

/// A decimal number `m / 10^s`.
#[derive(Debug, Clone, Copy)]
pub struct Dec {
    m: i128,
    s: u32,
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Dec {
    /// The decimal `m / 10^s`.
    pub fn new(m: i128, s: u32) -> Dec {
        Dec { m, s }
    }

    /// An integer as a decimal of scale 0.
    pub fn from_i64(v: i64) -> Dec {
        Dec { m: v as i128, s: 0 }
    }

    /// Number of digits after the decimal point.
    pub fn scale(&self) -> u32 {
        self.s
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.m == 0
    }

    /// Parses `[+-]digits[.digits][e[+-]digits]`.
    pub fn parse(text: &str) -> Option<Dec> {
        let t = text.trim();
        let (neg, t) = match t.as_bytes().first()? {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let (mant, exp) = match t.find(['e', 'E']) {
            Some(i) => (&t[..i], t[i + 1..].parse::<i32>().ok()?),
            None => (t, 0),
        };
        let (int, frac) = match mant.split_once('.') {
            Some((i, f)) => (i, f),
            None => (mant, ""),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if mant.contains('.') && (frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        let mut m: i128 = 0;
        let mut s: i64 = 0;
        for (i, b) in int.bytes().chain(frac.bytes()).enumerate() {
            let digit = (b - b'0') as i128;
            match m.checked_mul(10).and_then(|x| x.checked_add(digit)) {
                Some(x) => {
                    m = x;
                    if i >= int.len() {
                        s += 1;
                    }
                }
                // Too many digits: the rest only refines beyond i128; drop the fraction tail.
                None if i >= int.len() => break,
                None => return None,
            }
        }
        s -= exp as i64;
        if s < 0 {
            m = m.checked_mul(pow10(u32::try_from(-s).ok()?)?)?;
            s = 0;
        }
        let mut d = Dec {
            m: if neg { -m } else { m },
            s: u32::try_from(s).ok()?,
        };
        if d.s > MAX_SCALE {
            d = d.round(MAX_SCALE);
        }
        Some(d)
    }

    /// Converts a float (for results of `exp`, `ln`, `sqrt`, ...), keeping 15 significant digits.
    pub fn from_f64(v: f64) -> Option<Dec> {
        if !v.is_finite() {
            return None;
        }
        let d = Dec::parse(&format!("{v:.15e}"))?;
        Some(d.trim())
    }

    /// The nearest float.
    pub fn to_f64(self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// Drops trailing fractional zeros.
    pub fn trim(mut self) -> Dec {
        while self.s > 0 && self.m % 10 == 0 {
            self.m /= 10;
            self.s -= 1;
        }
        self
    }

    /// The same value at a larger scale (`None` on overflow).
    fn rescale_up(&self, s: u32) -> Option<i128> {
        if s < self.s {
            return None;
        }
        self.m.checked_mul(pow10(s - self.s)?)
    }

    /// Rounds half away from zero to `s` decimal places.
    pub fn round(&self, s: u32) -> Dec {
        if s >= self.s {
            return match self.rescale_up(s) {
                Some(m) => Dec { m, s },
                None => *self,
            };
        }
        let Some(p) = pow10(self.s - s) else {
            return Dec { m: 0, s };
        };
        let q = self.m / p;
        let r = (self.m % p).abs();
        // `2r >= p` without overflowing.
        let adj = if r >= p - r { self.m.signum() } else { 0 };
        Dec {
            m: q.saturating_add(adj),
            s,
        }
    }

    /// Truncates toward zero to `s` places.
    pub fn trunc_to(&self, s: u32) -> Dec {
        if s >= self.s {
            return self.round(s);
        }
        match pow10(self.s - s) {
            Some(p) => Dec { m: self.m / p, s },
            None => Dec { m: 0, s },
        }
    }

    /// Rounds toward negative infinity to `s` places.
    pub fn floor_to(&self, s: u32) -> Dec {
        let t = self.trunc_to(s);
        if t.cmp_num(self) == Ordering::Greater {
            Dec {
                m: t.m.saturating_sub(1),
                s,
            }
        } else {
            t
        }
    }

    /// Rounds toward positive infinity to `s` places.
    pub fn ceil_to(&self, s: u32) -> Dec {
        let t = self.trunc_to(s);
        if t.cmp_num(self) == Ordering::Less {
            Dec {
                m: t.m.saturating_add(1),
                s,
            }
        } else {
            t
        }
    }

    /// The integer part (toward zero), if it fits.
    pub fn trunc_i64(&self) -> Option<i64> {
        i64::try_from(self.trunc_to(0).m).ok()
    }

    /// Floor as an integer.
    pub fn floor_i64(&self) -> Option<i64> {
        i64::try_from(self.floor_to(0).m).ok()
    }

    /// Ceiling as an integer.
    pub fn ceil_i64(&self) -> Option<i64> {
        i64::try_from(self.ceil_to(0).m).ok()
    }

    fn align(a: &Dec, b: &Dec) -> Option<(i128, i128, u32)> {
        let s = a.s.max(b.s);
        Some((a.rescale_up(s)?, b.rescale_up(s)?, s))
    }

    /// Numeric comparison (`1.10` equals `1.1`).
    pub fn cmp_num(&self, other: &Dec) -> Ordering {
        match Dec::align(self, other) {
            Some((a, b, _)) => a.cmp(&b),
            None => self
                .to_f64()
                .partial_cmp(&other.to_f64())
                .unwrap_or(Ordering::Equal),
        }
    }

    /// Sum.
    pub fn add(&self, o: &Dec) -> Option<Dec> {
        let (a, b, s) = Dec::align(self, o)?;
        Some(Dec {
            m: a.checked_add(b)?,
            s,
        })
    }

    /// Difference.
    pub fn sub(&self, o: &Dec) -> Option<Dec> {
        self.add(&o.neg())
    }

    /// Negation.
    pub fn neg(&self) -> Dec {
        Dec {
            m: self.m.checked_neg().unwrap_or(i128::MAX),
            s: self.s,
        }
    }

    /// Absolute value.
    pub fn abs(&self) -> Dec {
        Dec {
            m: self.m.saturating_abs(),
            s: self.s,
        }
    }

    /// Product.
    pub fn mul(&self, o: &Dec) -> Option<Dec> {
        let mut a = *self;
        let mut b = *o;
        loop {
            if let Some(m) = a.m.checked_mul(b.m) {
                let d = Dec { m, s: a.s + b.s };
                return Some(if d.s > MAX_SCALE {
                    d.round(MAX_SCALE)
                } else {
                    d
                });
            }
            // Shed fractional digits of the more precise operand until the product fits.
            if a.s >= b.s && a.s > 0 {
                a = a.round(a.s - 1);
            } else if b.s > 0 {
                b = b.round(b.s - 1);
            } else {
                return None;
            }
        }
    }

    /// Quotient (`None` when dividing by zero), exact where possible, else 16 places.
    pub fn div(&self, o: &Dec) -> Option<Dec> {
        if o.m == 0 {
            return None;
        }
        let mut scale = DIV_SCALE.max(self.s).max(o.s);
        loop {
            // a / b with a = m1 * 10^-s1; compute m1 * 10^(scale + s2 - s1) / m2.
            let shift = scale as i64 + o.s as i64 - self.s as i64;
            let num = if shift >= 0 {
                pow10(shift as u32).and_then(|p| self.m.checked_mul(p))
            } else {
                pow10((-shift) as u32).map(|p| self.m / p)
            };
            if let Some(num) = num {
                let q = num / o.m;
                let r = (num % o.m).saturating_abs();
                let d = o.m.saturating_abs();
                let sign = if (num < 0) != (o.m < 0) { -1 } else { 1 };
                let adj = if r >= d - r { sign } else { 0 };
                return Some(
                    Dec {
                        m: q.saturating_add(adj),
                        s: scale,
                    }
                    .trim(),
                );
            }
            if scale == 0 {
                return None;
            }
            scale -= 1;
        }
    }

    /// Truncated division (`div`).
    pub fn int_div(&self, o: &Dec) -> Option<Dec> {
        let (a, b, _) = Dec::align(self, o)?;
        if b == 0 {
            return None;
        }
        Some(Dec { m: a / b, s: 0 })
    }

    /// Remainder of truncated division (`mod`).
    pub fn modulo(&self, o: &Dec) -> Option<Dec> {
        let (a, b, s) = Dec::align(self, o)?;
        if b == 0 {
            return None;
        }
        Some(Dec { m: a % b, s })
    }

    /// Integer power by repeated multiplication.
    pub fn powi(&self, e: u32) -> Option<Dec> {
        let mut r = Dec::from_i64(1);
        for _ in 0..e {
            r = r.mul(self)?;
        }
        Some(r)
    }

    /// The value as an integer when it has no fractional part.
    pub fn as_i64_exact(&self) -> Option<i64> {
        let t = self.trim();
        if t.s == 0 {
            i64::try_from(t.m).ok()
        } else {
            None
        }
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.m.unsigned_abs().to_string();
        let sign = if self.m < 0 { "-" } else { "" };
        if self.s == 0 {
            return write!(f, "{sign}{digits}");
        }
        let s = self.s as usize;
        if digits.len() > s {
            let (i, fr) = digits.split_at(digits.len() - s);
            write!(f, "{sign}{i}.{fr}")
        } else {
            write!(f, "{sign}0.{}{digits}", "0".repeat(s - digits.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    #[test]
    fn parse_and_print_keep_precision() {
        assert_eq!(d("1.10").to_string(), "1.10");
        assert_eq!(d("-0.0034").to_string(), "-0.0034");
        assert_eq!(d("1e3").to_string(), "1000");
        assert_eq!(d("1.5e-2").to_string(), "0.015");
        assert!(Dec::parse("1.").is_none());
        assert!(Dec::parse("a").is_none());
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(
            d("1.2").add(&d("1.8")).unwrap().cmp_num(&d("3")),
            Ordering::Equal
        );
        assert_eq!(d("1.2").mul(&d("1.8")).unwrap().to_string(), "2.16");
        assert_eq!(d("1").div(&d("2")).unwrap().to_string(), "0.5");
        assert_eq!(
            d("1.2").div(&d("1.8")).unwrap().round(2).to_string(),
            "0.67"
        );
        assert_eq!(d("2.2").modulo(&d("1.8")).unwrap().to_string(), "0.4");
        assert_eq!(d("-1.5").round(0).to_string(), "-2");
        assert_eq!(d("-2.1").floor_i64(), Some(-3));
        assert!(d("1").div(&d("0")).is_none());
    }
}
