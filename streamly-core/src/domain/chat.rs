use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::validation::check_display_text;
use super::{StreamId, UserId, Username, ValidationError};

/// A chat room's name. Every stream has one room, named by its [`StreamId`];
/// the same grammar applies (1–64 of `[A-Za-z0-9_-]`), so a room name is safe
/// in a URL, a Redis key or a log line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoomId(String);

impl RoomId {
    /// Validates a room name from outside.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        StreamId::parse(s)
            .map(Self::from)
            .map_err(|e| ValidationError::new("room", e.reason))
    }

    /// The room name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<StreamId> for RoomId {
    fn from(id: StreamId) -> Self {
        Self(id.as_str().to_owned())
    }
}

impl From<&StreamId> for RoomId {
    fn from(id: &StreamId) -> Self {
        Self(id.as_str().to_owned())
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoomId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The identity of one chat message (a random UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub Uuid);

impl MessageId {
    /// A fresh random id.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Longest chat message, in characters (after trimming).
pub const CHAT_TEXT_MAX_CHARS: usize = 500;

/// The text of a chat message: trimmed, 1–500 characters, no control
/// characters and no format characters (zero width, bidi controls: see
/// [`super::is_format_char`]; a zero width joiner between two visible
/// characters is allowed, for emoji sequences).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ChatText(String);

impl ChatText {
    /// Validates message text from outside (surrounding whitespace is trimmed).
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        let len = s.chars().count();
        if len == 0 {
            return Err(ValidationError::new("text", "must not be empty"));
        }
        if len > CHAT_TEXT_MAX_CHARS {
            return Err(ValidationError::new(
                "text",
                format!("must be at most {CHAT_TEXT_MAX_CHARS} characters"),
            ));
        }
        check_display_text("text", s)?;
        Ok(Self(s.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ChatText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Who wrote a chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatAuthor {
    /// The author's user id.
    pub id: UserId,
    /// The author's username at the time of writing.
    pub username: Username,
}

/// A chat message as delivered to clients and kept in history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Unique id (used to delete it).
    pub id: MessageId,
    /// The room it was sent to.
    pub room: RoomId,
    /// Who sent it.
    pub author: ChatAuthor,
    /// What it says.
    pub text: ChatText,
    /// When the server accepted it (RFC 3339 on the wire).
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
}

/// What travels over a [`crate::ports::ChatBus`]: everything every node must
/// tell its clients in a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChatEvent {
    /// A new message; the bus appends it to the room's history.
    Message(ChatMessage),
    /// A message was removed by a moderator; the bus drops it from history.
    Deleted {
        /// The message removed.
        id: MessageId,
    },
    /// A user was timed out or banned: nodes drop that user's pending sends.
    UserSilenced {
        /// Who was silenced.
        user: UserId,
        /// Until when (`None`: banned for good).
        #[serde(with = "time::serde::rfc3339::option")]
        until: Option<OffsetDateTime>,
    },
    /// How many clients one chat node has in the room; nodes add up each
    /// other's reports to tell clients the room's total. Not kept in history.
    NodePresence {
        /// The reporting node (random per process).
        node: Uuid,
        /// Clients connected to the room on that node.
        viewers: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn chat_text() {
        assert_eq!(ChatText::parse("  hi ").map(|t| t.0), Ok("hi".into()));
        assert!(ChatText::parse(" \n ").is_err());
        assert!(ChatText::parse("a\u{0}b").is_err());
        assert!(ChatText::parse(&"x".repeat(500)).is_ok());
        assert!(ChatText::parse(&"x".repeat(501)).is_err());
        for bad in [
            "\u{200B}",
            "hi\u{202E}olleh",
            "\u{2066}x\u{2069}",
            "\u{FEFF}",
            "\u{E0041}",
        ] {
            let err = ChatText::parse(bad).expect_err(bad);
            assert_eq!(err.field, "text");
        }
        assert!(ChatText::parse("🏳\u{FE0F}\u{200D}🌈 gg").is_ok());
    }

    #[test]
    fn event_wire_format_is_tagged() {
        let json = serde_json::to_value(ChatEvent::Deleted {
            id: MessageId(Uuid::nil()),
        })
        .expect("serializes");
        assert_eq!(json["type"], "deleted");
    }

    proptest! {
        #[test]
        fn chat_text_parse_never_panics(s in ".{0,600}") {
            if let Ok(t) = ChatText::parse(&s) {
                prop_assert!(!t.as_str().chars().any(char::is_control));
                let hidden = t
                    .as_str()
                    .chars()
                    .any(|c| super::super::is_format_char(c) && !matches!(c, '\u{200C}' | '\u{200D}'));
                prop_assert!(!hidden);
            }
        }

        #[test]
        fn room_parse_never_panics(s in ".{0,80}") {
            let _ = RoomId::parse(&s);
        }
    }
}
