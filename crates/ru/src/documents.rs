//! Identity documents: the Russian passport (series of four digits, number of six), the birth
//! certificate and the Soviet passport (a Roman-numeral series, a hyphen, two Cyrillic capitals,
//! and a six-digit number), and the newborn's temporary identifier (the mother's ЕНП, the birth
//! date and the child's order). Each is normalised to the form printed on the document.

/// `4509 123456` from `4509123456`, `45 09 123456`, `4509-123456`.
pub fn normalise_passport(s: &str) -> Result<String, String> {
    let digits: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '№'))
        .collect();
    if digits.len() == 10 && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(format!("{} {}", &digits[..4], &digits[4..]))
    } else {
        Err(format!(
            "passport '{s}' must be a 4-digit series and a 6-digit number (4509 123456)"
        ))
    }
}

/// `IV-МЮ 123456` from `iv-мю №123456`, `IVМЮ123456`, with Cyrillic look-alikes (Х, С, І) in
/// the Roman numeral read as the Latin letters they stand for.
pub fn normalise_soviet_series(s: &str, what: &str) -> Result<String, String> {
    let up: String = s.to_uppercase();
    let roman: String = up
        .chars()
        .take_while(|c| !c.is_ascii_digit())
        .map(|c| match c {
            'Х' => 'X',
            'С' => 'C',
            'І' | '1' => 'I',
            other => other,
        })
        .collect();
    let numeral: String = roman.chars().take_while(|c| "IVXLC".contains(*c)).collect();
    let letters: String = roman
        .chars()
        .skip(numeral.chars().count())
        .filter(|c| !matches!(c, '-' | ' ' | '№'))
        .collect();
    let number: String = up.chars().filter(char::is_ascii_digit).collect();
    let letters_ok = letters.chars().count() == 2
        && letters
            .chars()
            .all(|c| ('А'..='Я').contains(&c) || c == 'Ё');
    if !numeral.is_empty() && numeral.len() <= 6 && letters_ok && number.len() == 6 {
        Ok(format!("{numeral}-{letters} {number}"))
    } else {
        Err(format!(
            "{what} '{s}' must be a Roman-numeral series, a hyphen, two Cyrillic capitals and a 6-digit number (IV-МЮ 123456)"
        ))
    }
}

/// The newborn's identifier: `ЕНП_yyyy-mm-dd_N` (the mother's ЕНП, the birth date, the order).
pub fn check_newborn(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('_').collect();
    let ok = match parts[..] {
        [enp, date, n] => {
            crate::check_enp(enp).is_ok()
                && date.len() == 10
                && date.as_bytes().get(4) == Some(&b'-')
                && date.as_bytes().get(7) == Some(&b'-')
                && date.chars().filter(char::is_ascii_digit).count() == 8
                && !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "newborn identifier '{s}' must be the mother's ЕНП, the birth date and the order: ЕНП_yyyy-mm-dd_N"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents() {
        assert_eq!(
            normalise_passport("45 09 123456").as_deref(),
            Ok("4509 123456")
        );
        assert_eq!(
            normalise_passport("4509-123456").as_deref(),
            Ok("4509 123456")
        );
        assert!(normalise_passport("4509 12345").is_err());
        assert!(normalise_passport("45О9 123456").is_err());
        let bc = |s| normalise_soviet_series(s, "birth certificate");
        assert_eq!(bc("IV-МЮ 123456").as_deref(), Ok("IV-МЮ 123456"));
        assert_eq!(bc("iv-мю №123456").as_deref(), Ok("IV-МЮ 123456"));
        assert_eq!(
            bc("ХІІ-ПА 000001").as_deref(),
            Ok("XII-ПА 000001"),
            "Cyrillic look-alikes"
        );
        assert!(bc("IV-MU 123456").is_err(), "Latin letters");
        assert!(bc("-МЮ 123456").is_err());
        assert!(bc("IV-МЮ 12345").is_err());
        assert_eq!(check_newborn("7700000000000016_2026-11-20_1"), Ok(()));
        assert!(check_newborn("7700000000000017_2026-11-20_1").is_err());
        assert!(check_newborn("7700000000000016_20261120_1").is_err());
    }
}
