//! Quantities and the slice of UCUM that FHIR data and the FHIRPath tests use. A unit is reduced
//! to a factor and a vector of base dimensions, which is enough to compare `1 'cm'` with
//! `10 'mm'` and to multiply `'cm'` by `'m'`; a full UCUM table would be an order of magnitude
//! larger for little gain. Calendar durations (`1 year`, `3 days`) follow the FHIRPath rules:
//! years and months are their own dimension, weeks and below equal their UCUM counterparts.

use crate::dates::CalUnit;
use crate::decimal::Dec;
use std::cmp::Ordering;

/// Dimension slots: m, g, s, mol, K, A, cd, [iU], calendar month.
const DIMS: usize = 9;
const CAL_MONTH: usize = 8;

/// A quantity: a decimal and a unit (a UCUM code, or a FHIRPath calendar keyword).
#[derive(Debug, Clone)]
pub struct Quantity {
    /// The value.
    pub value: Dec,
    /// The unit text as written (`mg`, `'1'`, `days`).
    pub unit: String,
}

/// A unit reduced to base units: `value_in_base = value * factor`.
#[derive(Debug, Clone)]
struct Canon {
    factor: Dec,
    dims: [i8; DIMS],
}

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap_or(Dec::from_i64(1))
}

/// FHIRPath calendar keywords (singular and plural).
pub fn calendar_unit(word: &str) -> Option<CalUnit> {
    Some(match word {
        "year" | "years" => CalUnit::Year,
        "month" | "months" => CalUnit::Month,
        "week" | "weeks" => CalUnit::Week,
        "day" | "days" => CalUnit::Day,
        "hour" | "hours" => CalUnit::Hour,
        "minute" | "minutes" => CalUnit::Minute,
        "second" | "seconds" => CalUnit::Second,
        "millisecond" | "milliseconds" => CalUnit::Milli,
        _ => return None,
    })
}

/// The calendar unit a quantity's unit denotes in date arithmetic: calendar keywords and the
/// UCUM codes of fixed length (`wk`, `d`, `h`, `min`, `s`, `ms`). UCUM `a` and `mo` are
/// averages, not calendar units, so they are refused (`None`).
pub fn arithmetic_unit(unit: &str) -> Option<CalUnit> {
    calendar_unit(unit).or(match unit {
        "wk" => Some(CalUnit::Week),
        "d" => Some(CalUnit::Day),
        "h" => Some(CalUnit::Hour),
        "min" => Some(CalUnit::Minute),
        "s" => Some(CalUnit::Second),
        "ms" => Some(CalUnit::Milli),
        _ => None,
    })
}

fn base(dim: usize) -> [i8; DIMS] {
    let mut v = [0; DIMS];
    v[dim] = 1;
    v
}

/// Atoms: (code, metric, factor to base, dims).
fn atom(code: &str) -> Option<(bool, Canon)> {
    let c = |f: &str, dims: [i8; DIMS]| Canon { factor: d(f), dims };
    let len = base(0);
    let mass = base(1);
    let time = base(2);
    let none = [0; DIMS];
    let vol = {
        let mut v = [0; DIMS];
        v[0] = 3;
        v
    };
    let pressure = [-1, 1, -2, 0, 0, 0, 0, 0, 0];
    let energy = [2, 1, -2, 0, 0, 0, 0, 0, 0];
    Some(match code {
        "m" => (true, c("1", len)),
        "g" => (true, c("1", mass)),
        "s" => (true, c("1", time)),
        "mol" => (true, c("1", base(3))),
        "eq" | "osm" => (true, c("1", base(3))),
        "K" => (true, c("1", base(4))),
        "A" => (true, c("1", base(5))),
        "cd" => (true, c("1", base(6))),
        "L" | "l" => (true, c("0.001", vol)),
        "Pa" => (true, c("1000", pressure)),
        "bar" => (true, c("100000000", pressure)),
        "m[Hg]" => (true, c("133322387.415", pressure)),
        "J" => (true, c("1000", energy)),
        "cal" => (true, c("4184", energy)),
        "N" => (true, c("1000", [1, 1, -2, 0, 0, 0, 0, 0, 0])),
        "Hz" => (true, c("1", [0, 0, -1, 0, 0, 0, 0, 0, 0])),
        "U" => (true, c("1", [0, 0, -1, 1, 0, 0, 0, 0, 0])),
        "[iU]" | "[IU]" => (true, c("1", base(7))),
        "min" => (false, c("60", time)),
        "h" => (false, c("3600", time)),
        "d" => (false, c("86400", time)),
        "wk" => (false, c("604800", time)),
        "mo" => (false, c("2629800", time)),
        "a" => (false, c("31557600", time)),
        "%" => (false, c("0.01", none)),
        "[ppm]" => (false, c("0.000001", none)),
        "[lb_av]" => (false, c("453.59237", mass)),
        "[oz_av]" => (false, c("28.349523125", mass)),
        "[in_i]" => (false, c("0.0254", len)),
        "[ft_i]" => (false, c("0.3048", len)),
        "[yd_i]" => (false, c("0.9144", len)),
        "[mi_i]" => (false, c("1609.344", len)),
        "[pt_us]" => (false, c("0.000473176473", vol)),
        "[gal_us]" => (false, c("0.003785411784", vol)),
        "[drp]" => (false, c("0.00000005", vol)),
        "deg" => (false, c("0.0174532925199433", none)),
        "rad" => (true, c("1", none)),
        _ => return None,
    })
}

fn prefix(p: &str) -> Option<Dec> {
    let e: i32 = match p {
        "Y" => 24,
        "Z" => 21,
        "E" => 18,
        "P" => 15,
        "T" => 12,
        "G" => 9,
        "M" => 6,
        "k" => 3,
        "h" => 2,
        "da" => 1,
        "d" => -1,
        "c" => -2,
        "m" => -3,
        "u" | "µ" => -6,
        "n" => -9,
        "p" => -12,
        "f" => -15,
        _ => return None,
    };
    Some(if e >= 0 {
        Dec::new(10i128.pow(e as u32), 0)
    } else {
        Dec::new(1, (-e) as u32)
    })
}

fn simple_unit(code: &str) -> Option<Canon> {
    if let Some((_, c)) = atom(code) {
        return Some(c);
    }
    for (i, _) in code.char_indices().skip(1) {
        let (p, rest) = code.split_at(i);
        if let (Some(f), Some((true, c))) = (prefix(p), atom(rest)) {
            return Some(Canon {
                factor: f.mul(&c.factor)?,
                dims: c.dims,
            });
        }
    }
    None
}

fn pow(c: &Canon, e: i32) -> Option<Canon> {
    if e.abs() > 24 {
        return None;
    }
    let mut f = Dec::from_i64(1);
    for _ in 0..e.unsigned_abs() {
        f = f.mul(&c.factor)?;
    }
    if e < 0 {
        f = Dec::from_i64(1).div(&f)?;
    }
    let mut dims = [0; DIMS];
    for (k, v) in dims.iter_mut().enumerate() {
        *v = c.dims[k].checked_mul(i8::try_from(e).ok()?)?;
    }
    Some(Canon { factor: f, dims })
}

fn combine(a: &Canon, b: &Canon, divide: bool) -> Option<Canon> {
    let factor = if divide {
        a.factor.div(&b.factor)?
    } else {
        a.factor.mul(&b.factor)?
    };
    let mut dims = a.dims;
    for (k, v) in dims.iter_mut().enumerate() {
        *v = if divide {
            v.checked_sub(b.dims[k])?
        } else {
            v.checked_add(b.dims[k])?
        };
    }
    Some(Canon { factor, dims })
}

/// One component of a UCUM term: `cm2`, `10*3`, `{beats}`, `mm[Hg]`, `s-1`.
fn component(text: &str) -> Option<Canon> {
    // Annotations are comments: `{beats}/min` is `/min`, `mL{total}` is `mL`.
    let text = match text.find('{') {
        Some(i) => {
            let end = text[i..].find('}')? + i;
            let rest = format!("{}{}", &text[..i], &text[end + 1..]);
            return if rest.is_empty() {
                Some(Canon {
                    factor: Dec::from_i64(1),
                    dims: [0; DIMS],
                })
            } else {
                component(&rest)
            };
        }
        None => text,
    };
    if let Some((b, e)) = text.split_once('*').or_else(|| text.split_once('^')) {
        let b: i64 = b.parse().ok()?;
        let e: i32 = e.parse().ok()?;
        let c = Canon {
            factor: Dec::from_i64(b),
            dims: [0; DIMS],
        };
        return pow(&c, e);
    }
    if !text.is_empty() && text.bytes().all(|c| c.is_ascii_digit()) {
        return Some(Canon {
            factor: Dec::from_i64(text.parse().ok()?),
            dims: [0; DIMS],
        });
    }
    if let Some(c) = simple_unit(text) {
        return Some(c);
    }
    // A trailing exponent: `m2`, `s-1`, `cm3`.
    let cut = text.trim_end_matches(|c: char| c.is_ascii_digit());
    let cut = cut.strip_suffix(['-', '+']).unwrap_or(cut);
    if cut.len() < text.len() && !cut.is_empty() {
        let e: i32 = text[cut.len()..].parse().ok()?;
        return pow(&simple_unit(cut)?, e);
    }
    None
}

/// Parses a UCUM unit expression into a factor and dimensions.
fn canon(unit: &str) -> Option<Canon> {
    if let Some(u) = calendar_unit(unit) {
        return Some(match u {
            CalUnit::Year => Canon {
                factor: Dec::from_i64(12),
                dims: base(CAL_MONTH),
            },
            CalUnit::Month => Canon {
                factor: Dec::from_i64(1),
                dims: base(CAL_MONTH),
            },
            CalUnit::Week => canon("wk")?,
            CalUnit::Day => canon("d")?,
            CalUnit::Hour => canon("h")?,
            CalUnit::Minute => canon("min")?,
            CalUnit::Second => canon("s")?,
            CalUnit::Milli => canon("ms")?,
        });
    }
    let mut acc = Canon {
        factor: Dec::from_i64(1),
        dims: [0; DIMS],
    };
    if unit == "1" || unit.is_empty() {
        return Some(acc);
    }
    let mut divide = false;
    let mut start = 0;
    let bytes = unit.as_bytes();
    let mut depth = 0;
    for i in 0..=bytes.len() {
        let c = bytes.get(i).copied();
        match c {
            Some(b'[') | Some(b'{') | Some(b'(') => depth += 1,
            Some(b']') | Some(b'}') | Some(b')') => depth -= 1,
            _ => {}
        }
        if depth == 0 && (c.is_none() || c == Some(b'.') || c == Some(b'/')) {
            let part = &unit[start..i];
            if part.is_empty() {
                if i != 0 {
                    return None;
                }
            } else {
                let inner = part.strip_prefix('(').and_then(|p| p.strip_suffix(')'));
                let comp = match inner {
                    Some(inner) => canon(inner)?,
                    None => component(part)?,
                };
                acc = combine(&acc, &comp, divide)?;
            }
            divide = c == Some(b'/');
            start = i + 1;
        }
    }
    Some(acc)
}

fn dims_text(dims: &[i8; DIMS]) -> String {
    const NAMES: [&str; DIMS] = ["m", "g", "s", "mol", "K", "A", "cd", "[iU]", "mo"];
    let mut parts = Vec::new();
    for (k, &e) in dims.iter().enumerate() {
        if e == 1 {
            parts.push(NAMES[k].to_string());
        } else if e != 0 {
            parts.push(format!("{}{}", NAMES[k], e));
        }
    }
    if parts.is_empty() {
        "1".into()
    } else {
        parts.join(".")
    }
}

impl Quantity {
    /// A quantity.
    pub fn new(value: Dec, unit: impl Into<String>) -> Quantity {
        Quantity {
            value,
            unit: unit.into(),
        }
    }

    /// True when the unit is a calendar keyword (printed without quotes).
    pub fn is_calendar(&self) -> bool {
        calendar_unit(&self.unit).is_some()
    }

    /// `toString()`: `1 'wk'`, `4 days`.
    pub fn to_text(&self) -> String {
        if self.is_calendar() {
            format!("{} {}", self.value, self.unit)
        } else {
            format!("{} '{}'", self.value, self.unit)
        }
    }

    fn base_value(&self) -> Option<(Dec, [i8; DIMS])> {
        let c = canon(&self.unit)?;
        Some((self.value.mul(&c.factor)?, c.dims))
    }

    /// Calendar years/months never equal UCUM `a`/`mo`: the comparison is undefined.
    fn calendar_mismatch(&self, o: &Quantity) -> bool {
        let cal_month =
            |q: &Quantity| matches!(calendar_unit(&q.unit), Some(CalUnit::Year | CalUnit::Month));
        let ucum_month = |q: &Quantity| q.unit == "a" || q.unit == "mo";
        (cal_month(self) && ucum_month(o)) || (cal_month(o) && ucum_month(self))
    }

    /// Orders two quantities after unit conversion; `None` when they are not comparable.
    pub fn compare(&self, o: &Quantity) -> Option<Ordering> {
        if self.unit == o.unit {
            return Some(self.value.cmp_num(&o.value));
        }
        if self.calendar_mismatch(o) {
            return None;
        }
        let (a, da) = self.base_value()?;
        let (b, db) = o.base_value()?;
        (da == db).then(|| a.cmp_num(&b))
    }

    /// True when the units measure the same dimension.
    pub fn comparable(&self, o: &Quantity) -> bool {
        self.unit == o.unit
            || (!self.calendar_mismatch(o)
                && matches!((canon(&self.unit), canon(&o.unit)), (Some(a), Some(b)) if a.dims == b.dims))
    }

    /// Equality: `None` when undefined, `false` for different dimensions.
    pub fn equals(&self, o: &Quantity) -> Option<bool> {
        if self.unit == o.unit {
            return Some(self.value.cmp_num(&o.value) == Ordering::Equal);
        }
        if self.calendar_mismatch(o) {
            return None;
        }
        let (a, da) = self.base_value()?;
        let (b, db) = o.base_value()?;
        Some(da == db && a.cmp_num(&b) == Ordering::Equal)
    }

    /// Equivalence: equal after rounding both to the less precise operand, in the first
    /// operand's unit (so `4 'g' ~ 4040 'mg'`).
    pub fn equivalent(&self, o: &Quantity) -> bool {
        let Some(other) = self.convert_like(o) else {
            return false;
        };
        let s = self.value.scale().min(o.value.scale());
        self.value.round(s).cmp_num(&other.round(s)) == Ordering::Equal
    }

    /// `o`'s value expressed in `self`'s unit.
    fn convert_like(&self, o: &Quantity) -> Option<Dec> {
        if self.unit == o.unit {
            return Some(o.value);
        }
        if self.calendar_mismatch(o) {
            return None;
        }
        let ca = canon(&self.unit)?;
        let (b, db) = o.base_value()?;
        if ca.dims != db {
            return None;
        }
        b.div(&ca.factor)
    }

    /// Sum or difference, in the first operand's unit.
    pub fn add(&self, o: &Quantity, subtract: bool) -> Option<Quantity> {
        let v = self.convert_like(o)?;
        let v = if subtract {
            self.value.sub(&v)?
        } else {
            self.value.add(&v)?
        };
        Some(Quantity::new(v, self.unit.clone()))
    }

    /// Product or quotient, in base units.
    pub fn mul(&self, o: &Quantity, divide: bool) -> Option<Quantity> {
        let ca = canon(&self.unit)?;
        let cb = canon(&o.unit)?;
        let c = combine(&ca, &cb, divide)?;
        let v = if divide {
            self.value.div(&o.value)?
        } else {
            self.value.mul(&o.value)?
        };
        Some(Quantity::new(v.mul(&c.factor)?, dims_text(&c.dims)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(v: &str, u: &str) -> Quantity {
        Quantity::new(Dec::parse(v).unwrap(), u)
    }

    #[test]
    fn converts_common_units() {
        assert_eq!(q("4.0000", "g").equals(&q("4000.0", "mg")), Some(true));
        assert_eq!(q("1", "cm").equals(&q("10", "mm")), Some(true));
        assert_eq!(q("7", "days").equals(&q("1", "week")), Some(true));
        assert_eq!(q("7", "days").equals(&q("1", "wk")), Some(true));
        assert_eq!(q("1", "year").equals(&q("12", "months")), Some(true));
        assert_eq!(q("1", "mo").equals(&q("1", "month")), None);
        assert_eq!(q("185", "[lb_av]").equals(&q("185", "kg")), Some(false));
        assert!(q("4", "g").equivalent(&q("4040", "mg")));
        assert_eq!(
            q("6", "days").compare(&q("1", "week")),
            Some(Ordering::Less)
        );
        assert!(q("1", "cm").comparable(&q("1", "[in_i]")));
        assert!(!q("1", "cm").comparable(&q("1", "s")));
        assert_eq!(
            q("1", "mm[Hg]").compare(&q("1", "mm[Hg]")),
            Some(Ordering::Equal)
        );
        assert!(canon("10*3/uL").is_some());
        assert!(canon("mL/min/{1.73_m2}").is_some());
    }

    #[test]
    fn multiplies_units() {
        let p = q("2.0", "cm").mul(&q("2.0", "m"), false).unwrap();
        assert_eq!(p.equals(&q("0.040", "m2")), Some(true));
        let r = q("4.0", "g").mul(&q("2.0", "m"), true).unwrap();
        assert_eq!(r.equals(&q("2", "g/m")), Some(true));
        let one = q("1.0", "m").mul(&q("1.0", "m"), true).unwrap();
        assert_eq!(one.equals(&q("1", "1")), Some(true));
    }
}
