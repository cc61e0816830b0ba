use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::validation::check_display_text;
use super::{StreamId, UserId, ValidationError};
use crate::auth::StreamKeyHash;

/// Longest stream title, in characters.
pub const TITLE_MAX_CHARS: usize = 140;

/// A stream title: trimmed, 1–140 characters, no control characters and no
/// format characters (zero width, bidi controls: see
/// [`super::is_format_char`]; a zero width joiner between two visible
/// characters is allowed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StreamTitle(String);

impl StreamTitle {
    /// Validates a title from outside (surrounding whitespace is trimmed;
    /// the length limit counts it, as the API's schema does).
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let raw_len = s.chars().count();
        let s = s.trim();
        if s.is_empty() {
            return Err(ValidationError::new("title", "must not be empty"));
        }
        if raw_len > TITLE_MAX_CHARS {
            return Err(ValidationError::new(
                "title",
                format!("must be at most {TITLE_MAX_CHARS} characters"),
            ));
        }
        check_display_text("title", s)?;
        Ok(Self(s.to_owned()))
    }

    /// The title.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for StreamTitle {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A stream a user owns, as stored.
///
/// The stream key itself is never stored: only its SHA-256 ([`StreamKeyHash`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// Public identity, used in playback URLs and as the chat room.
    pub id: StreamId,
    /// The user who owns it.
    pub owner: UserId,
    /// What viewers see in the listing.
    pub title: StreamTitle,
    /// SHA-256 of the current stream key.
    pub key_hash: StreamKeyHash,
    /// `Some(start)` while a publisher is live, `None` when offline.
    pub live_since: Option<OffsetDateTime>,
    /// When the stream was created.
    pub created_at: OffsetDateTime,
    /// Whether each broadcast is recorded (kept in the segment sink with a
    /// VOD playlist). On by default.
    pub record: bool,
    /// Description, category and tags (issue 15).
    pub details: super::StreamDetails,
}

impl Stream {
    /// Whether a publisher is live on this stream right now.
    pub fn is_live(&self) -> bool {
        self.live_since.is_some()
    }
}

/// Sorts streams newest first (by creation time, then id): the order of
/// "my streams" listings.
pub fn sort_newest_first(streams: &mut [Stream]) {
    streams.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
}

/// Sorts streams most recently gone live first (then by id): the order of the
/// live listing.
pub fn sort_live_first(streams: &mut [Stream]) {
    streams.sort_by(|a, b| b.live_since.cmp(&a.live_since).then_with(|| a.id.cmp(&b.id)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn titles() {
        assert_eq!(StreamTitle::parse("  hi  ").map(|t| t.0), Ok("hi".into()));
        assert!(StreamTitle::parse("   ").is_err());
        assert!(StreamTitle::parse("a\u{7}b").is_err());
        assert!(StreamTitle::parse(&"é".repeat(140)).is_ok());
        assert!(StreamTitle::parse(&"é".repeat(141)).is_err());
        // The input's length counts, surrounding whitespace included.
        assert!(StreamTitle::parse(&format!(" {} ", "é".repeat(139))).is_err());
        // Invisible or reordering characters (issue 11: a title of only U+200B).
        for bad in [
            "\u{200B}",
            " \u{200B} ",
            "\u{FEFF}",
            "live\u{202E}gnp.exe",
            "\u{2067}x",
            "a\u{00AD}b",
        ] {
            let err = StreamTitle::parse(bad).expect_err(bad);
            assert_eq!(err.field, "title");
            assert!(err.reason.contains("invisible"), "{}", err.reason);
        }
        assert!(StreamTitle::parse("coding 👩\u{200D}💻").is_ok());
    }

    proptest! {
        #[test]
        fn title_parse_never_panics(s in ".{0,200}") {
            if let Ok(t) = StreamTitle::parse(&s) {
                prop_assert!(!t.as_str().is_empty());
                prop_assert!(t.as_str().chars().count() <= TITLE_MAX_CHARS);
            }
        }

        #[test]
        fn titles_with_a_bidi_control_are_refused(
            a in "\\PC{0,20}",
            c in prop::sample::select(vec!['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
                '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{200B}', '\u{FEFF}']),
            b in "\\PC{0,20}",
        ) {
            let title = format!("{a}{c}{b}");
            prop_assert!(StreamTitle::parse(&title).is_err());
        }
    }
}
