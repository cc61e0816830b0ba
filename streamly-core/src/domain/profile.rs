//! What a user shows on their channel page besides their streams: a display
//! name, a bio and an avatar (issue 14), and whom they follow.

use std::fmt;

use bytes::Bytes;
use serde::Serialize;
use time::OffsetDateTime;

use super::validation::{check_display_text, parse_multiline_text};
use super::{UserId, ValidationError};

/// Longest display name, in characters.
pub const DISPLAY_NAME_MAX_CHARS: usize = 50;
/// Longest bio, in characters.
pub const BIO_MAX_CHARS: usize = 500;
/// Most accounts one user may follow: it bounds the "following" list, which
/// is answered in one response.
pub const FOLLOW_LIMIT: u32 = 500;
/// Largest stored avatar (the re-encoded image), in bytes.
pub const AVATAR_MAX_STORED_BYTES: usize = 512 * 1024;

/// A display name: 0–50 characters (the input's), trimmed, one line, the
/// title's rules (no control or format characters; a zero width joiner
/// only between two visible characters). Empty: the username is shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// Validates a display name from outside.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.chars().count() > DISPLAY_NAME_MAX_CHARS {
            return Err(ValidationError::new(
                "display_name",
                format!("must be at most {DISPLAY_NAME_MAX_CHARS} characters"),
            ));
        }
        check_display_text("display_name", s)?;
        Ok(Self(s.trim().to_owned()))
    }

    /// The name (empty: none).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A bio: 0–500 characters, trimmed, line feeds allowed, otherwise as
/// [`DisplayName`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Bio(String);

impl Bio {
    /// Validates a bio from outside; an empty one clears it.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        parse_multiline_text("bio", BIO_MAX_CHARS, s).map(Self)
    }

    /// The bio (empty: none).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The image formats an avatar is stored in (the upload's, re-encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AvatarFormat {
    /// `image/png`.
    Png,
    /// `image/jpeg`.
    Jpeg,
}

impl AvatarFormat {
    /// The MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
        }
    }

    /// The format of a MIME type (parameters ignored); `None` for any other.
    pub fn from_content_type(s: &str) -> Option<Self> {
        let essence = s.split(';').next().unwrap_or_default().trim();
        if essence.eq_ignore_ascii_case("image/png") {
            Some(Self::Png)
        } else if essence.eq_ignore_ascii_case("image/jpeg") {
            Some(Self::Jpeg)
        } else {
            None
        }
    }
}

impl fmt::Display for AvatarFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.content_type())
    }
}

/// A stored avatar: the re-encoded image and when it was set (its version,
/// in URLs and ETags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avatar {
    /// The image format.
    pub format: AvatarFormat,
    /// The image, at most [`AVATAR_MAX_STORED_BYTES`].
    pub bytes: Bytes,
    /// When it was uploaded (whole microseconds).
    pub updated_at: OffsetDateTime,
}

impl Avatar {
    /// A version token for URLs and ETags: the upload time in microseconds.
    pub fn version(&self) -> i64 {
        avatar_version(self.updated_at)
    }
}

/// [`Avatar::version`] from an upload time.
pub fn avatar_version(updated_at: OffsetDateTime) -> i64 {
    i64::try_from(updated_at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// A user's profile. A user who never set one has the default: no display
/// name, no bio, no avatar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Whose profile.
    pub user: UserId,
    /// Display name (empty: none).
    pub display_name: DisplayName,
    /// Bio (empty: none).
    pub bio: Bio,
    /// When the avatar was uploaded, `None` without one.
    pub avatar_updated_at: Option<OffsetDateTime>,
}

impl Profile {
    /// The profile of a user who never set one.
    pub fn empty(user: UserId) -> Self {
        Self {
            user,
            display_name: DisplayName::default(),
            bio: Bio::default(),
            avatar_updated_at: None,
        }
    }
}

/// One account a user follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Followed {
    /// The account followed.
    pub user: UserId,
    /// Since when.
    pub since: OffsetDateTime,
}

/// How many follow a user, and how many they follow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FollowCounts {
    /// Accounts following this user.
    pub followers: u64,
    /// Accounts this user follows.
    pub following: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(DisplayName::parse("  Ada L. ").unwrap().as_str(), "Ada L.");
        assert_eq!(DisplayName::parse("").unwrap().as_str(), "");
        assert!(DisplayName::parse(&"x".repeat(DISPLAY_NAME_MAX_CHARS)).is_ok());
        assert!(DisplayName::parse(&"x".repeat(DISPLAY_NAME_MAX_CHARS + 1)).is_err());
        assert!(DisplayName::parse("two\nlines").is_err());
        assert!(DisplayName::parse("evil\u{202E}txt").is_err());
    }

    #[test]
    fn bios() {
        assert_eq!(
            Bio::parse(" line one\nline two \n").unwrap().as_str(),
            "line one\nline two"
        );
        assert!(Bio::parse(&"é".repeat(BIO_MAX_CHARS)).is_ok());
        assert!(Bio::parse(&"é".repeat(BIO_MAX_CHARS + 1)).is_err());
        assert_eq!(Bio::parse("tab\there").unwrap_err().field, "bio");
    }

    #[test]
    fn avatar_formats() {
        assert_eq!(
            AvatarFormat::from_content_type("image/png"),
            Some(AvatarFormat::Png)
        );
        assert_eq!(
            AvatarFormat::from_content_type("IMAGE/JPEG; q=1"),
            Some(AvatarFormat::Jpeg)
        );
        assert_eq!(AvatarFormat::from_content_type("image/gif"), None);
        assert_eq!(AvatarFormat::from_content_type(""), None);
    }
}
