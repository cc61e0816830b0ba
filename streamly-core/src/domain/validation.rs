use thiserror::Error;

/// Why a value from outside was refused by a domain constructor.
///
/// `field` names the input (`"username"`, `"email"`, …) so an API layer can
/// point at it; `reason` is a sentence for a human.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {field}: {reason}")]
pub struct ValidationError {
    /// The input that was refused.
    pub field: &'static str,
    /// Why it was refused.
    pub reason: String,
}

impl ValidationError {
    /// A validation error for `field` with a human-readable `reason`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// Unicode's format characters (general category Cf, Unicode 16.0): zero
/// width and invisible characters, bidirectional embeddings, overrides and
/// isolates, the soft hyphen, the byte-order mark, tag characters.
/// Inclusive ranges, sorted.
const FORMAT_CHARS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),   // soft hyphen
    ('\u{0600}', '\u{0605}'),   // Arabic number signs
    ('\u{061C}', '\u{061C}'),   // Arabic letter mark (bidi)
    ('\u{06DD}', '\u{06DD}'),   // Arabic end of ayah
    ('\u{070F}', '\u{070F}'),   // Syriac abbreviation mark
    ('\u{0890}', '\u{0891}'),   // Arabic pound and piastre marks above
    ('\u{08E2}', '\u{08E2}'),   // Arabic disputed end of ayah
    ('\u{180E}', '\u{180E}'),   // Mongolian vowel separator
    ('\u{200B}', '\u{200F}'),   // zero width space, ZWNJ, ZWJ, LRM, RLM
    ('\u{202A}', '\u{202E}'),   // bidi embeddings and overrides (LRE … RLO)
    ('\u{2060}', '\u{2064}'),   // word joiner, invisible operators
    ('\u{2066}', '\u{206F}'),   // bidi isolates (LRI … PDI), deprecated format
    ('\u{FEFF}', '\u{FEFF}'),   // zero width no-break space (BOM)
    ('\u{FFF9}', '\u{FFFB}'),   // interlinear annotation
    ('\u{110BD}', '\u{110BD}'), // Kaithi number sign
    ('\u{110CD}', '\u{110CD}'), // Kaithi number sign above
    ('\u{13430}', '\u{1343F}'), // Egyptian hieroglyph format controls
    ('\u{1BCA0}', '\u{1BCA3}'), // shorthand format controls
    ('\u{1D173}', '\u{1D17A}'), // musical symbol beam and slur controls
    ('\u{E0001}', '\u{E0001}'), // language tag
    ('\u{E0020}', '\u{E007F}'), // tag characters
];

/// Whether `c` is a Unicode format character (general category Cf).
pub fn is_format_char(c: char) -> bool {
    FORMAT_CHARS
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Checks free text shown to other people (titles, chat): no control
/// characters and no format characters ([`is_format_char`]), which can hide
/// text, reorder it (bidi overrides) or make it look empty.
///
/// One exception: a zero width joiner or non-joiner (U+200D, U+200C) between
/// two visible characters is kept, since emoji sequences (👩‍💻) and Persian
/// spelling need it; anywhere else it is refused too.
pub(crate) fn check_display_text(field: &'static str, s: &str) -> Result<(), ValidationError> {
    let visible =
        |c: Option<char>| c.is_some_and(|c| !c.is_whitespace() && !c.is_control() && !is_format_char(c));
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_control() {
            return Err(ValidationError::new(field, "must not contain control characters"));
        }
        if !is_format_char(c) {
            continue;
        }
        let joiner = matches!(c, '\u{200C}' | '\u{200D}')
            && visible(i.checked_sub(1).and_then(|j| chars.get(j).copied()))
            && visible(chars.get(i + 1).copied());
        if !joiner {
            return Err(ValidationError::new(
                field,
                format!(
                    "must not contain invisible formatting or bidirectional control characters (found U+{:04X})",
                    u32::from(c)
                ),
            ));
        }
    }
    Ok(())
}

/// Validates multi-line free text of at most `max_chars` characters (the
/// input's, surrounding whitespace included): line feeds allowed, each line
/// as [`check_display_text`] (checked before trimming, so a trailing tab or
/// carriage return is refused as the API schemas' patterns refuse it).
/// Returns it trimmed; empty is allowed.
pub(crate) fn parse_multiline_text(
    field: &'static str,
    max_chars: usize,
    s: &str,
) -> Result<String, ValidationError> {
    if s.chars().count() > max_chars {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    for line in s.split('\n') {
        check_display_text(field, line)?;
    }
    Ok(s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn format_table_is_sorted_and_disjoint() {
        for pair in FORMAT_CHARS.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
    }

    #[test]
    fn format_characters() {
        for c in [
            '\u{00AD}',
            '\u{061C}',
            '\u{180E}',
            '\u{200B}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{202E}',
            '\u{2060}',
            '\u{2066}',
            '\u{2069}',
            '\u{FEFF}',
            '\u{E0001}',
            '\u{E007F}',
        ] {
            assert!(is_format_char(c), "U+{:04X}", u32::from(c));
        }
        for c in [
            'a', ' ', '\u{00AC}', '\u{00AE}', '\u{2010}', '\u{2065}', '\u{FE0F}', '😀', 'é',
        ] {
            assert!(!is_format_char(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn display_text() {
        assert!(check_display_text("t", "hello, wörld 😀").is_ok());
        // Emoji ZWJ sequence and a Persian ZWNJ between letters.
        assert!(check_display_text("t", "👩\u{200D}💻").is_ok());
        assert!(check_display_text("t", "می\u{200C}خواهم").is_ok());
        for bad in [
            "\u{200B}",
            "a\u{200B}b",
            "abc\u{202E}fdp.exe",
            "\u{2066}x\u{2069}",
            "\u{FEFF}hi",
            "soft\u{00AD}hyphen",
            "\u{200D}",
            "a\u{200D}",
            "a \u{200C}b",
            "a\u{7}b",
        ] {
            let err = check_display_text("title", bad).expect_err(bad);
            assert_eq!(err.field, "title");
        }
        let err = check_display_text("title", "x\u{202E}y").expect_err("bidi");
        assert!(err.reason.contains("U+202E"), "{}", err.reason);
    }

    proptest! {
        #[test]
        fn accepted_text_has_only_joiners_between_visible_characters(s in "\\PC{0,20}[\u{200B}-\u{200F}\u{202A}-\u{202E}]?\\PC{0,20}") {
            if check_display_text("t", &s).is_ok() {
                let chars: Vec<char> = s.chars().collect();
                for (i, &c) in chars.iter().enumerate() {
                    prop_assert!(!c.is_control());
                    if is_format_char(c) {
                        let joiner = matches!(c, '\u{200C}' | '\u{200D}');
                        prop_assert!(joiner);
                        prop_assert!(i > 0 && i + 1 < chars.len());
                    }
                }
            }
        }
    }
}
