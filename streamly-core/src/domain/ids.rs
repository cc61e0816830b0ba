use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ValidationError;

/// The identity of a user: a random UUID (v4) assigned at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(Uuid);

impl UserId {
    /// The smallest id (all zero bits): with [`UserId::MAX`], the bounds of
    /// a range over every id.
    pub const MIN: Self = Self(Uuid::nil());
    /// The largest id (all one bits).
    pub const MAX: Self = Self(Uuid::max());

    /// A fresh random id.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    /// Wraps an existing UUID (as read back from storage).
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID inside.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for UserId {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| ValidationError::new("user_id", "not a UUID"))
    }
}

/// The longest [`StreamId`] accepted.
pub const STREAM_ID_MAX_LEN: usize = 64;

/// The identity of a stream, used in playback URLs (`/hls/<id>/index.m3u8`)
/// and as the chat room name.
///
/// Streamly generates random UUIDs ([`StreamId::new_random`]); an integrator
/// embedding only the RTMP and HLS crates may use its own names (`demo`), so
/// any 1–64 characters of `[A-Za-z0-9_-]` are accepted. Either way the id is
/// safe to put in a URL path or a file name, and it is never the stream key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct StreamId(String);

impl StreamId {
    /// A fresh random id (a hyphenated UUID v4).
    pub fn new_random() -> Self {
        Self(Uuid::new_v4().hyphenated().to_string())
    }

    /// Validates an id from outside: 1–64 characters of `[A-Za-z0-9_-]`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.is_empty() || s.len() > STREAM_ID_MAX_LEN {
            return Err(ValidationError::new(
                "stream_id",
                format!("must be 1 to {STREAM_ID_MAX_LEN} characters"),
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ValidationError::new(
                "stream_id",
                "may contain only letters, digits, '_' and '-'",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for StreamId {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for StreamId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn random_stream_ids_are_valid() {
        let id = StreamId::new_random();
        assert_eq!(StreamId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn stream_id_rejects_path_characters() {
        for bad in ["", "../x", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(StreamId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(StreamId::parse("demo").is_ok());
    }

    proptest! {
        #[test]
        fn stream_id_parse_never_panics_and_accepts_only_slugs(s in ".{0,80}") {
            if let Ok(id) = StreamId::parse(&s) {
                prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
                prop_assert!(!id.as_str().is_empty() && id.as_str().len() <= STREAM_ID_MAX_LEN);
            }
        }

        #[test]
        fn user_id_parse_never_panics(s in ".{0,50}") {
            let _ = s.parse::<UserId>();
        }
    }
}
