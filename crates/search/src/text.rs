//! String normalisation for string search: lower case, accents removed, whitespace collapsed.
//! The same function normalises index values and query values, so `Müller` is found by
//! `muller` and `MULLER`, and `Ёлкин` by `елкин`.

/// Folds one lower-case character to its unaccented form; `None` when it is unchanged. A
/// hand-written table for Latin letters with diacritics and Cyrillic `ё` (`й` is a letter of its
/// own in Russian and stays).
fn fold(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' | 'ǎ' | 'ạ' | 'ả' | 'ấ' | 'ầ' | 'ẩ'
        | 'ẫ' | 'ậ' | 'ắ' | 'ằ' | 'ẳ' | 'ẵ' | 'ặ' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' | 'ẹ' | 'ẻ' | 'ẽ' | 'ế' | 'ề' | 'ể'
        | 'ễ' | 'ệ' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' | 'ǐ' | 'ỉ' | 'ị' => "i",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' | 'ǒ' | 'ọ' | 'ỏ' | 'ố' | 'ồ' | 'ổ'
        | 'ỗ' | 'ộ' | 'ơ' | 'ớ' | 'ờ' | 'ở' | 'ỡ' | 'ợ' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' | 'ǔ' | 'ư' | 'ụ' | 'ủ' | 'ứ'
        | 'ừ' | 'ử' | 'ữ' | 'ự' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' | 'ỳ' | 'ỵ' | 'ỷ' | 'ỹ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'ё' => "е",
        _ => return None,
    })
}

/// Normalises text for string search: lower-cased, diacritics folded (also when written as
/// combining marks), whitespace runs collapsed to one space, trimmed.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for upper in s.chars() {
        if upper.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        for c in upper.to_lowercase() {
            if ('\u{0300}'..='\u{036f}').contains(&c) {
                // A decomposed `й` (и + breve) is still `й`; every other mark is dropped.
                if c == '\u{0306}' && out.ends_with('и') {
                    out.pop();
                    out.push('й');
                }
                continue;
            }
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            match fold(c) {
                Some(f) => out.push_str(f),
                None => out.push(c),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn folds_case_accents_and_space() {
        assert_eq!(
            normalize("  Müller-Lüdenscheidt \t Æsir "),
            "muller-ludenscheidt aesir"
        );
        assert_eq!(normalize("François Ñúñez Łódź"), "francois nunez lodz");
        assert_eq!(normalize("Straße"), "strasse");
        assert_eq!(normalize("Москва"), "москва");
        assert_eq!(normalize("Ёлкин Йошкар-Ола"), "елкин йошкар-ола");
        // Decomposed forms: e + combining acute, и + combining breve.
        assert_eq!(normalize("Re\u{301}my И\u{306}"), "remy й");
        assert_eq!(normalize(""), "");
    }
}
