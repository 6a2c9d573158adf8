//! UCUM canonical units, from the official `ucum-essence.xml` (vendored gzipped in `defs/`).
//!
//! A quantity is canonicalised by expanding every unit down to the seven UCUM base units
//! (`m s g rad K C cd`), so `97 mg/dL` and `0.97 g/L` both become `970 g.m-3` and compare
//! directly in the index. Conventions: the base unit of mass is the gram (as in UCUM itself, not
//! the SI kilogram); the canonical unit lists base units in byte order of their codes, each with
//! its exponent when it is not 1, joined by `.` (`g.m-1.s-2`); a dimensionless quantity has the
//! unit `1`. Arbitrary units (`[IU]`, `[CFU]`...) are their own base units. Special (non-ratio)
//! units such as `Cel` or `[pH]` have no canonical form. Canonical values are rounded to 12
//! significant digits so that different conversion paths give identical numbers.

use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

static ESSENCE_GZ: &[u8] = include_bytes!("../defs/ucum-essence.xml.gz");

/// A unit expanded to base units: a factor and the exponents of the base units (sorted by code).
#[derive(Debug, Clone, PartialEq)]
struct Canon {
    factor: f64,
    dims: Vec<(String, i32)>,
}

impl Canon {
    fn one() -> Canon {
        Canon {
            factor: 1.0,
            dims: Vec::new(),
        }
    }

    fn base(code: &str) -> Canon {
        Canon {
            factor: 1.0,
            dims: vec![(code.to_string(), 1)],
        }
    }

    fn scale(mut self, f: f64) -> Canon {
        self.factor *= f;
        self
    }

    fn pow(mut self, exp: i32) -> Canon {
        self.factor = self.factor.powi(exp);
        for d in &mut self.dims {
            d.1 *= exp;
        }
        self
    }

    /// `self . other^sign`.
    fn mul(mut self, other: &Canon, sign: i32) -> Canon {
        self.factor = if sign < 0 {
            self.factor / other.factor
        } else {
            self.factor * other.factor
        };
        for (code, exp) in &other.dims {
            match self.dims.binary_search_by(|d| d.0.as_str().cmp(code)) {
                Ok(i) => self.dims[i].1 = self.dims[i].1.saturating_add(exp * sign),
                Err(i) => self.dims.insert(i, (code.clone(), exp * sign)),
            }
        }
        self.dims.retain(|d| d.1 != 0);
        self
    }

    fn unit_string(&self) -> String {
        if self.dims.is_empty() {
            return "1".to_string();
        }
        let mut out = String::new();
        for (code, exp) in &self.dims {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(code);
            if *exp != 1 {
                out.push_str(&exp.to_string());
            }
        }
        out
    }
}

/// One `<unit>` of the essence file before resolution.
struct RawUnit {
    value: f64,
    unit: String,
    special: bool,
    arbitrary: bool,
    metric: bool,
}

/// The loaded table: prefixes and every (non-special) atom resolved to base units.
struct Ucum {
    prefixes: Vec<(String, f64)>,
    atoms: HashMap<String, Canon>,
    metric: HashMap<String, bool>,
}

/// Where the expression parser looks up atoms: the finished table, or the resolver while the
/// table is being built (unit definitions refer to other units).
trait Atoms {
    fn atom(&self, code: &str) -> Option<Canon>;
    fn is_metric(&self, code: &str) -> bool;
    fn prefixes(&self) -> &[(String, f64)];
}

impl Atoms for Ucum {
    fn atom(&self, code: &str) -> Option<Canon> {
        self.atoms.get(code).cloned()
    }
    fn is_metric(&self, code: &str) -> bool {
        self.metric.get(code).copied().unwrap_or(false)
    }
    fn prefixes(&self) -> &[(String, f64)] {
        &self.prefixes
    }
}

struct Resolver {
    prefixes: Vec<(String, f64)>,
    bases: Vec<String>,
    raw: HashMap<String, RawUnit>,
    memo: std::cell::RefCell<HashMap<String, Option<Canon>>>,
    depth: std::cell::Cell<u32>,
}

impl Atoms for Resolver {
    fn atom(&self, code: &str) -> Option<Canon> {
        if self.bases.iter().any(|b| b == code) {
            return Some(Canon::base(code));
        }
        if let Some(c) = self.memo.borrow().get(code) {
            return c.clone();
        }
        let raw = self.raw.get(code)?;
        // Definitions are acyclic in the official table; the guard only protects against a
        // corrupted file.
        if raw.special || self.depth.get() > 32 {
            return None;
        }
        self.depth.set(self.depth.get() + 1);
        let resolved = if raw.arbitrary && raw.unit == "1" {
            Some(Canon::base(code))
        } else {
            parse_expr(self, &raw.unit).map(|c| c.scale(raw.value))
        };
        self.depth.set(self.depth.get() - 1);
        self.memo
            .borrow_mut()
            .insert(code.to_string(), resolved.clone());
        resolved
    }
    fn is_metric(&self, code: &str) -> bool {
        self.bases.iter().any(|b| b == code) || self.raw.get(code).is_some_and(|r| r.metric)
    }
    fn prefixes(&self) -> &[(String, f64)] {
        &self.prefixes
    }
}

fn load() -> Ucum {
    let mut text = String::new();
    // The vendored table is part of the build; an unreadable copy is a broken build, not input.
    flate2::read::GzDecoder::new(ESSENCE_GZ)
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("vendored ucum-essence.xml.gz is not valid gzip: {e}"));
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("vendored ucum-essence.xml is not valid XML: {e}"));
    let mut prefixes = Vec::new();
    let mut bases = Vec::new();
    let mut raw = HashMap::new();
    for el in doc.root_element().children().filter(|n| n.is_element()) {
        let Some(code) = el.attribute("Code") else {
            continue;
        };
        let value_el = el.children().find(|c| c.has_tag_name("value"));
        let value = value_el
            .and_then(|v| v.attribute("value"))
            .and_then(|v| v.parse::<f64>().ok());
        match el.tag_name().name() {
            "prefix" => {
                if let Some(v) = value {
                    prefixes.push((code.to_string(), v));
                }
            }
            "base-unit" => bases.push(code.to_string()),
            "unit" => {
                let yes = |a: &str| el.attribute(a) == Some("yes");
                raw.insert(
                    code.to_string(),
                    RawUnit {
                        value: value.unwrap_or(1.0),
                        unit: value_el
                            .and_then(|v| v.attribute("Unit"))
                            .unwrap_or("1")
                            .to_string(),
                        special: yes("isSpecial") || value.is_none(),
                        arbitrary: yes("isArbitrary"),
                        metric: yes("isMetric"),
                    },
                );
            }
            _ => {}
        }
    }
    // Longest prefix first, so `da` wins over `d`.
    prefixes.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
    let resolver = Resolver {
        prefixes,
        bases,
        raw,
        memo: Default::default(),
        depth: Default::default(),
    };
    let mut atoms = HashMap::new();
    let mut metric = HashMap::new();
    for code in resolver.bases.iter().chain(resolver.raw.keys()) {
        if let Some(c) = resolver.atom(code) {
            atoms.insert(code.clone(), c);
        }
        metric.insert(code.clone(), resolver.is_metric(code));
    }
    Ucum {
        prefixes: resolver.prefixes,
        atoms,
        metric,
    }
}

fn table() -> &'static Ucum {
    static TABLE: OnceLock<Ucum> = OnceLock::new();
    TABLE.get_or_init(load)
}

/// Recursive-descent parser over the UCUM grammar (case-sensitive codes).
struct Parser<'a, A: Atoms> {
    atoms: &'a A,
    s: &'a [u8],
    pos: usize,
    /// Parenthesis nesting, bounded because units come from clients.
    depth: u32,
}

fn parse_expr<A: Atoms>(atoms: &A, expr: &str) -> Option<Canon> {
    let mut p = Parser {
        atoms,
        s: expr.as_bytes(),
        pos: 0,
        depth: 0,
    };
    let c = p.term()?;
    (p.pos == p.s.len()).then_some(c)
}

impl<A: Atoms> Parser<'_, A> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn term(&mut self) -> Option<Canon> {
        let mut acc = if self.peek() == Some(b'/') {
            self.pos += 1;
            Canon::one().mul(&self.component()?, -1)
        } else {
            self.component()?
        };
        while let Some(op) = self.peek() {
            let sign = match op {
                b'.' => 1,
                b'/' => -1,
                _ => break,
            };
            self.pos += 1;
            let next = self.component()?;
            acc = acc.mul(&next, sign);
        }
        Some(acc)
    }

    fn component(&mut self) -> Option<Canon> {
        match self.peek()? {
            b'(' => {
                self.pos += 1;
                self.depth += 1;
                if self.depth > 16 {
                    return None;
                }
                let inner = self.term()?;
                self.depth -= 1;
                if self.peek() != Some(b')') {
                    return None;
                }
                self.pos += 1;
                self.annotation()?;
                Some(inner)
            }
            b'{' => {
                self.annotation()?;
                Some(Canon::one())
            }
            _ => {
                let unit = self.simple()?;
                self.annotation()?;
                Some(unit)
            }
        }
    }

    /// Skips an optional `{...}` annotation (annotations carry no meaning for conversion).
    fn annotation(&mut self) -> Option<()> {
        if self.peek() == Some(b'{') {
            let end = self.s[self.pos..].iter().position(|&c| c == b'}')?;
            self.pos += end + 1;
        }
        Some(())
    }

    fn simple(&mut self) -> Option<Canon> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            match c {
                b'[' => {
                    let end = self.s[self.pos..].iter().position(|&c| c == b']')?;
                    self.pos += end + 1;
                }
                b'.' | b'/' | b'(' | b')' | b'{' | b'}' => break,
                _ => self.pos += 1,
            }
        }
        let sym = std::str::from_utf8(&self.s[start..self.pos]).ok()?;
        if sym.is_empty() {
            return None;
        }
        if sym.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Canon::one().scale(sym.parse::<f64>().ok()?));
        }
        let (atom, exp) = split_exponent(sym)?;
        Some(self.prefixed_atom(atom)?.pow(exp))
    }

    fn prefixed_atom(&self, sym: &str) -> Option<Canon> {
        if let Some(c) = self.atoms.atom(sym) {
            return Some(c);
        }
        self.atoms.prefixes().iter().find_map(|(p, v)| {
            let rest = sym.strip_prefix(p.as_str())?;
            if !self.atoms.is_metric(rest) {
                return None;
            }
            Some(self.atoms.atom(rest)?.scale(*v))
        })
    }
}

/// Splits `m2`, `s-1`, `10*-3`, `[in_i]2` into the atom and its integer exponent.
fn split_exponent(sym: &str) -> Option<(&str, i32)> {
    let bytes = sym.as_bytes();
    let mut i = bytes.len();
    while i > 0 && bytes[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i == bytes.len() {
        return Some((sym, 1));
    }
    let mut j = i;
    if j > 0 && (bytes[j - 1] == b'-' || bytes[j - 1] == b'+') {
        j -= 1;
    }
    if j == 0 {
        return None;
    }
    let exp: i32 = sym[j..].trim_start_matches('+').parse().ok()?;
    // No real unit has a large exponent; bounding it keeps the arithmetic far from overflow.
    (exp.abs() <= 99).then_some((&sym[..j], exp))
}

/// Rounds to 12 significant digits (through the decimal formatter, which rounds correctly at
/// every magnitude).
fn round_sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    format!("{x:.11e}").parse().unwrap_or(x)
}

/// Converts `value unit` (a UCUM code) to canonical base units: `canonical(97.0, "mg/dL")` is
/// `Some((970.0, "g.m-3"))`. `None` for unknown, malformed or special (non-ratio) units.
pub fn canonical(value: f64, unit: &str) -> Option<(f64, String)> {
    let unit = unit.trim();
    if unit.is_empty() || !value.is_finite() {
        return None;
    }
    let c = parse_expr(table(), unit)?;
    let v = round_sig(value * c.factor);
    v.is_finite().then(|| (v, c.unit_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(v: f64, u: &str) -> (f64, String) {
        canonical(v, u).unwrap_or_else(|| panic!("{u} should convert"))
    }

    #[test]
    fn mass_concentration() {
        assert_eq!(canon(97.0, "mg/dL"), (970.0, "g.m-3".to_string()));
        assert_eq!(canon(0.97, "g/L"), (970.0, "g.m-3".to_string()));
        assert_eq!(canon(0.97, "kg/m3"), (970.0, "g.m-3".to_string()));
    }

    #[test]
    fn substance_concentration_is_not_mass() {
        let (v, u) = canon(5.4, "mmol/L");
        assert_eq!(u, "m-3");
        assert_eq!(v, 3.251953818e24);
        assert_eq!(canon(5.4, "mol/m3").1, "m-3");
        assert_eq!(canon(0.0054, "mol/L").0, v);
        assert_ne!(canon(97.0, "mg/dL").1, u);
    }

    #[test]
    fn customary_and_time() {
        assert_eq!(canon(1.0, "[lb_av]"), (453.59237, "g".to_string()));
        assert_eq!(canon(1.0, "h"), (3600.0, "s".to_string()));
        assert_eq!(canon(1.0, "[in_i]"), (0.0254, "m".to_string()));
        assert_eq!(canon(72.0, "/min"), (1.2, "s-1".to_string()));
        assert_eq!(canon(72.0, "{beats}/min"), (1.2, "s-1".to_string()));
        assert_eq!(canon(50.0, "%"), (0.5, "1".to_string()));
        assert_eq!(canon(3.0, "10*3/uL"), (3e12, "m-3".to_string()));
    }

    #[test]
    fn pressure_in_gram_base_units() {
        // 120 mm[Hg] = 15998.64 Pa; with the gram as base unit of mass that is 15998640 g/(m.s2).
        assert_eq!(
            canon(120.0, "mm[Hg]"),
            (15998640.0, "g.m-1.s-2".to_string())
        );
        assert_eq!(canon(1.0, "kPa"), (1e6, "g.m-1.s-2".to_string()));
    }

    #[test]
    fn grammar() {
        assert_eq!(canon(25.0, "kg.m-2"), (25000.0, "g.m-2".to_string()));
        assert_eq!(canon(25.0, "kg/(m.m)"), (25000.0, "g.m-2".to_string()));
        assert_eq!(canon(2.0, "mL{total}"), (2e-6, "m3".to_string()));
        assert_eq!(canon(1.0, "10*-3"), (0.001, "1".to_string()));
        assert_eq!(canon(7.0, "[IU]/L").1, "[iU].m-3");
        assert_eq!(canon(1.0, "cd"), (1.0, "cd".to_string()));
        assert_eq!(canon(1.0, "deg").1, "rad");
    }

    #[test]
    fn every_ratio_unit_of_the_table_resolves() {
        // 7 base units + 303 units, of which 21 are special (non-ratio).
        assert_eq!(table().atoms.len(), 7 + 303 - 21);
    }

    #[test]
    fn not_convertible() {
        assert_eq!(canonical(37.0, "Cel"), None);
        assert_eq!(canonical(7.4, "[pH]"), None);
        assert_eq!(canonical(1.0, "furlongs"), None);
        assert_eq!(canonical(1.0, ""), None);
        assert_eq!(canonical(1.0, "mg/"), None);
        assert_eq!(canonical(1.0, "(mg"), None);
        assert_eq!(canonical(1.0, "{unclosed"), None);
        assert_eq!(canonical(1.0, "m-"), None);
        assert_eq!(canonical(1.0, "m2147483647"), None);
        assert_eq!(canonical(1.0, &"(".repeat(100_000)), None);
    }
}
