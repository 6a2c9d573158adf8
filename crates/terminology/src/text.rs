//! Text matching for `$expand?filter=`: case-insensitive, `ё` as `е`, every word of the filter
//! must start a word of the display (or be a prefix of the code), the way people type.

/// Lower case with `ё` folded to `е`.
pub fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ё' { 'е' } else { c })
        .collect()
}

/// The words of folded text.
pub fn words(folded: &str) -> Vec<&str> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

/// True if every word of `filter` starts some word of `display`, or the filter is a prefix
/// of the code. Both arguments are folded.
pub fn matches(filter_words: &[&str], filter: &str, code: &str, display: &str) -> bool {
    if code.starts_with(filter) {
        return true;
    }
    // A word can only start a display word if it occurs in the display at all; the substring
    // test is fast, the Unicode word split is not, so most displays stop here.
    if !filter_words.iter().all(|f| display.contains(f)) {
        return false;
    }
    let ws = words(display);
    !filter_words.is_empty()
        && filter_words
            .iter()
            .all(|f| ws.iter().any(|w| w.starts_with(f)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_start_display_words() {
        let d = fold("Холера, вызванная холерным вибрионом 01, биовар cholerae");
        let f = fold("ХОЛЕРА вибр");
        assert!(matches(&words(&f), &f, "a00.0", &d));
        assert!(!matches(&words("ера"), "ера", "a00.0", &d));
        assert!(matches(&words("a00"), "a00", "a00.0", &d), "a code prefix");
        assert_eq!(fold("Ёж"), "еж");
    }
}
