//! What a streamer tells viewers about a stream besides its title: a
//! description, a category and tags (issue 15, editing and discovery).

use std::fmt;

use serde::Serialize;

use super::ValidationError;
use super::validation::parse_multiline_text;

/// Longest stream description, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 2000;
/// Most tags on one stream.
pub const TAGS_MAX: usize = 10;
/// Longest tag, in characters.
pub const TAG_MAX_CHARS: usize = 24;
/// What a tag looks like: a lowercase ASCII slug, 1–24 characters, starting
/// with a letter or digit (the API's schema says the same).
pub const TAG_PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,23}$";

/// A stream's description: 0–2000 characters (the input's, surrounding
/// whitespace included), trimmed; line feeds allowed, otherwise the title's
/// rules, on the untrimmed input: no control characters, no format characters (zero width, bidi
/// controls; a zero width joiner between two visible characters is kept).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StreamDescription(String);

impl StreamDescription {
    /// Validates a description from outside; an empty one clears it.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        parse_multiline_text("description", DESCRIPTION_MAX_CHARS, s).map(Self)
    }

    /// The description (empty: none).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The fixed list of categories a stream can be filed under: a short list
/// keeps the home page's filter a plain choice and every spelling the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Video games.
    Gaming,
    /// Music, live or produced.
    Music,
    /// Drawing, painting, crafts.
    Art,
    /// Programming and making software.
    Coding,
    /// Talk shows, podcasts, just chatting.
    Talk,
    /// Sports and fitness.
    Sports,
    /// Teaching and learning.
    Education,
    /// Outside, travel, "in real life".
    Irl,
    /// Anything else.
    Other,
}

impl Category {
    /// Every category, in the order the UI lists them.
    pub const ALL: [Category; 9] = [
        Self::Gaming,
        Self::Music,
        Self::Art,
        Self::Coding,
        Self::Talk,
        Self::Sports,
        Self::Education,
        Self::Irl,
        Self::Other,
    ];

    /// The slug used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gaming => "gaming",
            Self::Music => "music",
            Self::Art => "art",
            Self::Coding => "coding",
            Self::Talk => "talk",
            Self::Sports => "sports",
            Self::Education => "education",
            Self::Irl => "irl",
            Self::Other => "other",
        }
    }

    /// A category from its slug (exactly as [`Category::as_str`] spells it).
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            let all: Vec<&str> = Self::ALL.iter().map(|c| c.as_str()).collect();
            ValidationError::new("category", format!("must be one of: {}", all.join(", ")))
        })
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tag: see [`TAG_PATTERN`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Tag(String);

impl Tag {
    /// Validates a tag (no normalization: `Speedrun` is refused, not
    /// lowered, so what the schema accepts is what is kept).
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= TAG_MAX_CHARS
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
        if !ok {
            return Err(ValidationError::new(
                "tags",
                format!(
                    "each tag must be 1–{TAG_MAX_CHARS} lowercase letters, digits or hyphens, starting with a letter or digit"
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stream's tags: at most [`TAGS_MAX`] given, in the order given, a
/// repeated one kept once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Tags(Vec<Tag>);

impl Tags {
    /// Validates a list of tags from outside.
    pub fn parse<S: AsRef<str>>(tags: &[S]) -> Result<Self, ValidationError> {
        if tags.len() > TAGS_MAX {
            return Err(ValidationError::new("tags", format!("at most {TAGS_MAX} tags")));
        }
        let mut out: Vec<Tag> = Vec::with_capacity(tags.len());
        for t in tags {
            let tag = Tag::parse(t.as_ref())?;
            // A repeat is dropped (the schema cannot say "unique" here).
            if !out.contains(&tag) {
                out.push(tag);
            }
        }
        Ok(Self(out))
    }

    /// The tags as stored: space separated (a tag has no space).
    pub fn joined(&self) -> String {
        self.0.iter().map(Tag::as_str).collect::<Vec<_>>().join(" ")
    }

    /// Tags as [`Tags::joined`] wrote them.
    pub fn from_joined(s: &str) -> Result<Self, ValidationError> {
        Self::parse(&s.split_whitespace().collect::<Vec<_>>())
    }

    /// The tags.
    pub fn as_slice(&self) -> &[Tag] {
        &self.0
    }
}

/// A stream's description, category and tags (all empty for a new stream).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamDetails {
    /// Free text under the player (empty: none).
    pub description: StreamDescription,
    /// Where the home page files it (`None`: uncategorized).
    pub category: Option<Category>,
    /// Short slugs the search matches.
    pub tags: Tags,
}

/// The words of a search query: runs of letters and digits, lowercased, at
/// most [`SEARCH_WORDS_MAX`] (the rest is ignored). Empty: the query matches
/// nothing. Every store matches each word as a prefix of a word of the
/// stream's title or tags (all the words must match).
pub fn search_words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(SEARCH_WORDS_MAX)
        .map(str::to_lowercase)
        .collect()
}

/// Orders search results: live streams first, most recently started first;
/// then the others, newest first; ties by id.
pub fn sort_search_results(streams: &mut [super::Stream]) {
    streams.sort_by(|a, b| {
        b.live_since
            .cmp(&a.live_since)
            .then_with(|| b.created_at.cmp(&a.created_at))
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// Words of a search query that count.
pub const SEARCH_WORDS_MAX: usize = 8;

/// Longest search query, in characters.
pub const SEARCH_MAX_CHARS: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        assert_eq!(StreamDescription::parse("").expect("empty").as_str(), "");
        assert_eq!(
            StreamDescription::parse(" two\nlines ").expect("lines").as_str(),
            "two\nlines"
        );
        assert!(StreamDescription::parse(&"é".repeat(2000)).is_ok());
        assert!(StreamDescription::parse(&"é".repeat(2001)).is_err());
        for bad in ["a\u{202E}b", "\u{200B}", "a\rb", "tab\there", "x\u{7}"] {
            let e = StreamDescription::parse(bad).expect_err(bad);
            assert_eq!(e.field, "description");
        }
    }

    #[test]
    fn categories_round_trip() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Ok(c));
        }
        assert!(Category::parse("Gaming").is_err());
        assert!(Category::parse("").is_err());
    }

    #[test]
    fn tags() {
        let t = Tags::parse(&["speedrun", "any-percent", "n64"]).expect("tags");
        assert_eq!(t.joined(), "speedrun any-percent n64");
        assert_eq!(Tags::from_joined(&t.joined()), Ok(t));
        assert_eq!(Tags::from_joined(""), Ok(Tags::default()));
        for s in ["", "-a", "A", "a b", "é", "a_b", &"a".repeat(25), "a\u{200B}"] {
            assert!(Tag::parse(s).is_err(), "{s:?}");
        }
        for s in ["ok", "9", "a-", &"a".repeat(24)] {
            assert!(Tag::parse(s).is_ok(), "{s:?}");
        }
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert!(Tags::parse(&eleven).is_err());
        assert!(Tags::parse(&eleven[..10]).is_ok());
        assert_eq!(Tags::parse(&["a", "b", "a"]).expect("repeats").joined(), "a b");
    }

    #[test]
    fn query_words() {
        assert_eq!(search_words("  Chess, SPEED-run! "), ["chess", "speed", "run"]);
        assert!(search_words(" ** ").is_empty());
    }
}
