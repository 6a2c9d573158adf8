//! Name keys: Cyrillic transliterated to Latin, then the spelling variants of the common
//! transliteration systems (GOST 7.79, ICAO 9303 in Russian passports, BGN/PCGN, informal)
//! folded to one form. The table is short and national, so it is written here.

/// Cyrillic letters as Latin (GOST 7.79 system B, simplified); other characters as they are.
pub fn translit(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        let t = match c {
            'а' => "a",
            'б' => "b",
            'в' => "v",
            'г' => "g",
            'д' => "d",
            'е' | 'ё' | 'э' => "e",
            'ж' => "zh",
            'з' => "z",
            'и' => "i",
            'й' => "i",
            'к' => "k",
            'л' => "l",
            'м' => "m",
            'н' => "n",
            'о' => "o",
            'п' => "p",
            'р' => "r",
            'с' => "s",
            'т' => "t",
            'у' => "u",
            'ф' => "f",
            'х' => "kh",
            'ц' => "ts",
            'ч' => "ch",
            'ш' => "sh",
            'щ' => "shch",
            'ъ' | 'ь' => "",
            'ы' => "y",
            'ю' => "iu",
            'я' => "ia",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push_str(t);
    }
    out
}

/// The comparison key of a name: transliterated, lower case, variants folded.
pub fn name_key(s: &str) -> String {
    let mut k = translit(s.trim());
    // Longest first, so that "shch" is not read as "sh" + "ch".
    for (from, to) in [
        ("shch", "sh"),
        ("sch", "sh"),
        ("tch", "ch"),
        ("kh", "h"),
        ("tc", "ts"),
        ("tz", "ts"),
        ("yu", "iu"),
        ("ju", "iu"),
        ("ya", "ia"),
        ("ja", "ia"),
        ("yo", "e"),
        ("jo", "e"),
        ("ye", "e"),
        ("je", "e"),
        ("iy", "i"),
        ("yi", "i"),
        ("ij", "i"),
        ("y", "i"),
        ("j", "i"),
        ("w", "v"),
        ("ks", "x"),
        ("ii", "i"),
    ] {
        k = k.replace(from, to);
    }
    k.chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_name_share_a_key() {
        assert_eq!(name_key("Семёнов"), name_key("Семенов"));
        assert_eq!(name_key("Семенов"), name_key("Semenov"));
        assert_eq!(name_key("Юлия"), name_key("Yulia"));
        assert_eq!(name_key("Юлия"), name_key("Iuliia"));
        assert_eq!(name_key("Щукин"), name_key("Shchukin"));
        assert_eq!(name_key("Хабибуллин"), name_key("Khabibullin"));
        assert_eq!(name_key("Дмитрий"), name_key("Dmitriy"));
        assert_ne!(name_key("Иванов"), name_key("Иванова"));
        assert_eq!(translit("Жуков"), "zhukov");
    }
}
