//! Patient matching for the MPI (ЕРЗ-style client registry), without storage: [`score`]
//! compares a searched-for Patient with a candidate field by field, adding log-odds weights in
//! the manner of Fellegi and Sunter (agreement on a rare, reliable field counts much, a
//! disagreement on a unique identifier counts heavily against), and grades the sum
//! ([`Grade`]). Names are compared after folding case and `ё`, transliterating Cyrillic to
//! Latin and reducing the common transliteration variants to one key ([`names`]), so
//! `Семёнов`, `Семенов` and `Semenov` agree and `Петрова-Водкина` agrees with `Петрова`. The
//! server finds the candidates (by identifier, birth date and its day–month swap, surname)
//! and calls this.

mod names;

pub use names::{name_key, translit};

use serde_json::Value;

/// How sure a match is (the R4 `match-grade` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grade {
    /// Not returned.
    CertainlyNot,
    /// Worth a look.
    Possible,
    /// Very likely the same person; a human confirms.
    Probable,
    /// The same person: may be linked automatically.
    Certain,
}

impl Grade {
    /// The `match-grade` code.
    pub fn code(self) -> &'static str {
        match self {
            Grade::Certain => "certain",
            Grade::Probable => "probable",
            Grade::Possible => "possible",
            Grade::CertainlyNot => "certainly-not",
        }
    }
}

/// The comparison of two patients.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// Sum of the field weights.
    pub weight: f64,
    /// The weight mapped to 0..1 (the searchset's `search.score`).
    pub score: f64,
    /// The grade.
    pub grade: Grade,
    /// Whether a shared identifier agreed (and none disagreed).
    pub identifier_agrees: bool,
    /// What agreed or disagreed, for people reviewing a match.
    pub reasons: Vec<String>,
}

/// Identifier systems that name one person for life: agreement identifies, disagreement
/// excludes.
const UNIQUE: [&str; 3] = [
    "urn:identity:snils:Patient",
    "urn:identity:enp:Patient",
    "urn:identity:passport-rf:Patient",
];

fn identifiers(p: &Value) -> Vec<(String, String)> {
    p.get("identifier")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let s = i.get("system").and_then(Value::as_str)?;
            let v = i.get("value").and_then(Value::as_str)?;
            let compact: String = v.chars().filter(|c| c.is_alphanumeric()).collect();
            Some((s.to_string(), compact.to_lowercase()))
        })
        .collect()
}

fn official_name(p: &Value) -> Option<&Value> {
    let names = p.get("name").and_then(Value::as_array)?;
    names
        .iter()
        .find(|n| n.get("use").and_then(Value::as_str) == Some("official"))
        .or_else(|| names.first())
}

fn family(p: &Value) -> Option<&str> {
    official_name(p)?.get("family").and_then(Value::as_str)
}

fn given(p: &Value, i: usize) -> Option<&str> {
    official_name(p)?.get("given")?.as_array()?.get(i)?.as_str()
}

fn text(p: &Value, ptr: &str) -> Option<String> {
    p.pointer(ptr)
        .and_then(Value::as_str)
        .map(|s| s.trim().to_lowercase().replace('ё', "е"))
        .filter(|s| !s.is_empty())
}

/// Compares names: 2 exact (after keys), 1 close, 0 unknown, -1 different.
fn compare_names(a: &str, b: &str) -> i8 {
    let (ka, kb) = (name_key(a), name_key(b));
    if ka.is_empty() || kb.is_empty() {
        return 0;
    }
    if ka == kb {
        return 2;
    }
    // Hyphenated or double surnames: one part agreeing is a strong sign.
    let parts = |k: &str| -> Vec<String> {
        k.split(['-', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (pa, pb) = (parts(&ka), parts(&kb));
    if (pa.len() > 1 || pb.len() > 1) && pa.iter().any(|x| pb.contains(x)) {
        return 1;
    }
    if strsim::jaro_winkler(&ka, &kb) >= 0.93 {
        return 1;
    }
    -1
}

/// Birth dates: 2 equal, 1 day and month swapped, 0 unknown, -1 different.
fn compare_dates(a: Option<&str>, b: Option<&str>) -> i8 {
    let (Some(a), Some(b)) = (a, b) else {
        return 0;
    };
    if a == b {
        return 2;
    }
    let split = |d: &str| -> Option<(String, String, String)> {
        let mut it = d.splitn(3, '-');
        Some((it.next()?.into(), it.next()?.into(), it.next()?.into()))
    };
    match (split(a), split(b)) {
        (Some((ya, ma, da)), Some((yb, mb, db))) if ya == yb && ma == db && da == mb => 1,
        _ => -1,
    }
}

fn birth_date(p: &Value) -> Option<&str> {
    p.get("birthDate").and_then(Value::as_str)
}

/// Scores candidate `b` against the searched-for patient `a`.
pub fn score(a: &Value, b: &Value) -> Match {
    let mut w = 0.0;
    let mut reasons = Vec::new();
    let mut note = |dw: f64, why: String| {
        w += dw;
        reasons.push(format!("{why} ({dw:+})"));
    };
    // Identifiers shared by system.
    let (ia, ib) = (identifiers(a), identifiers(b));
    let (mut agree, mut conflict) = (false, false);
    for (sys, val) in &ia {
        let theirs: Vec<&String> = ib
            .iter()
            .filter(|(s, _)| s == sys)
            .map(|(_, v)| v)
            .collect();
        if theirs.is_empty() {
            continue;
        }
        let unique = UNIQUE.contains(&sys.as_str());
        if theirs.contains(&val) {
            agree = true;
            note(
                if unique { 12.0 } else { 6.0 },
                format!("identifier {sys} agrees"),
            );
        } else if unique {
            conflict = true;
            note(-14.0, format!("identifier {sys} differs"));
        }
    }
    if let (Some(x), Some(y)) = (family(a), family(b)) {
        match compare_names(x, y) {
            2 => note(4.0, "family name agrees".into()),
            1 => note(2.5, "family name is close".into()),
            0 => {}
            _ => note(-3.0, "family name differs".into()),
        }
    }
    for (i, label, agree_w, differ_w) in
        [(0, "given name", 3.0, -3.0), (1, "patronymic", 2.0, -2.5)]
    {
        if let (Some(x), Some(y)) = (given(a, i), given(b, i)) {
            match compare_names(x, y) {
                2 => note(agree_w, format!("{label} agrees")),
                1 => note(agree_w * 0.6, format!("{label} is close")),
                0 => {}
                _ => note(differ_w, format!("{label} differs")),
            }
        }
    }
    match compare_dates(birth_date(a), birth_date(b)) {
        2 => note(5.0, "birth date agrees".into()),
        1 => note(3.0, "birth date agrees with day and month swapped".into()),
        0 => {}
        _ => note(-5.0, "birth date differs".into()),
    }
    match (text(a, "/gender"), text(b, "/gender")) {
        (Some(x), Some(y)) if x == y => note(1.0, "gender agrees".into()),
        (Some(x), Some(y)) if x != "unknown" && y != "unknown" => {
            note(-4.0, "gender differs".into())
        }
        _ => {}
    }
    for (ptr, label) in [
        ("/address/0/postalCode", "postal code"),
        ("/address/0/city", "city"),
    ] {
        if let (Some(x), Some(y)) = (text(a, ptr), text(b, ptr)) {
            if x == y {
                note(1.0, format!("{label} agrees"));
            }
        }
    }
    let identifier_agrees = agree && !conflict;
    let grade = if identifier_agrees && w >= 16.0 {
        Grade::Certain
    } else if w >= 10.0 {
        Grade::Probable
    } else if w >= 5.0 {
        Grade::Possible
    } else {
        Grade::CertainlyNot
    };
    // A logistic of the weight: 0.5 at the "possible" threshold, near 1 for certain ones.
    let score = 1.0 / (1.0 + (-(w - 5.0) / 3.0).exp());
    Match {
        weight: w,
        score: (score * 1000.0).round() / 1000.0,
        grade,
        identifier_agrees,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(family: &str, given: &[&str], birth: &str, gender: &str, snils: Option<&str>) -> Value {
        let mut v = json!({"resourceType": "Patient", "name": [{"family": family, "given": given}],
            "birthDate": birth, "gender": gender});
        if let Some(s) = snils {
            v["identifier"] = json!([{"system": "urn:identity:snils:Patient", "value": s}]);
        }
        v
    }

    #[test]
    fn same_person_written_differently() {
        let stored = p(
            "Семёнов",
            &["Пётр", "Алексеевич"],
            "1980-03-07",
            "male",
            Some("112-233-445 95"),
        );
        let e_for_yo = p(
            "Семенов",
            &["Петр", "Алексеевич"],
            "1980-03-07",
            "male",
            None,
        );
        assert_eq!(score(&e_for_yo, &stored).grade, Grade::Probable);
        let latin = p("Semenov", &["Petr"], "1980-03-07", "male", None);
        assert!(
            score(&latin, &stored).grade >= Grade::Probable,
            "{:?}",
            score(&latin, &stored)
        );
        let swapped = p(
            "Семенов",
            &["Петр", "Алексеевич"],
            "1980-07-03",
            "male",
            None,
        );
        assert!(score(&swapped, &stored).grade >= Grade::Probable);
        let with_snils = p(
            "Семенов",
            &["Петр"],
            "1980-03-07",
            "male",
            Some("11223344595"),
        );
        assert_eq!(score(&with_snils, &stored).grade, Grade::Certain);
        let hyphen = p("Петрова-Водкина", &["Анна"], "1990-01-02", "female", None);
        let short = p("Петрова", &["Анна"], "1990-01-02", "female", None);
        assert!(score(&short, &hyphen).grade >= Grade::Probable);
    }

    #[test]
    fn different_people_sharing_name_and_birth_date_are_not_merged() {
        let a = p(
            "Иванов",
            &["Иван", "Иванович"],
            "1975-05-05",
            "male",
            Some("112-233-445 95"),
        );
        let b = p(
            "Иванов",
            &["Иван", "Иванович"],
            "1975-05-05",
            "male",
            Some("087-654-303 00"),
        );
        let m = score(&a, &b);
        assert!(m.grade < Grade::Possible, "{m:?}");
        let no_ids = p("Иванов", &["Иван", "Иванович"], "1975-05-05", "male", None);
        let m = score(&no_ids, &b);
        assert!(
            m.grade < Grade::Certain,
            "name and birth date alone are never certain: {m:?}"
        );
        let other = p("Сидоров", &["Олег"], "1960-11-20", "male", None);
        assert_eq!(score(&other, &b).grade, Grade::CertainlyNot);
    }
}
