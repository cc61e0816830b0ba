//! The wire protocol: JSON text frames, each with a `type` (see
//! `docs/chat-protocol.md`).
//!
//! Client frames are parsed leniently enough to answer precisely: a frame
//! that is not JSON, or has an unknown `type`, is a `bad_request`; a `send`
//! whose text breaks the rules is an `invalid_text`. Server frames are
//! serialized once per room and shared by every connection.

use serde::{Deserialize, Serialize};
use streamly_core::domain::{ChatAuthor, ChatMessage, MessageId, RoomId, UserId};

/// A frame a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientFrame {
    /// Post a message (writers only). Text is trimmed, 1–500 characters, no
    /// control characters.
    Send {
        /// The message text.
        text: String,
    },
    /// Application-level ping; the server answers `pong`.
    Ping,
    /// Moderators: remove a message from the room and its history.
    Delete {
        /// The message to remove.
        id: MessageId,
    },
    /// Moderators: forbid a user to send for `seconds` seconds.
    Timeout {
        /// Who.
        user: UserId,
        /// How long, 1 to [`MAX_TIMEOUT_SECS`].
        seconds: u64,
    },
    /// Moderators: ban a user from the room (disconnects them; lasts until
    /// `unban`).
    Ban {
        /// Who.
        user: UserId,
    },
    /// Moderators: lift a ban or a timeout.
    Unban {
        /// Who.
        user: UserId,
    },
    /// Owner only: make a user a moderator of the room.
    AddModerator {
        /// Who.
        user: UserId,
    },
    /// Owner only: take a user's moderator rights away.
    RemoveModerator {
        /// Who.
        user: UserId,
    },
}

/// Longest timeout a moderator may give (7 days).
pub const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

/// What a connected client may do in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// No token: may read only.
    Anonymous,
    /// Signed in: may read and send.
    Viewer,
    /// Named by the owner: may also delete, time out and ban.
    Moderator,
    /// The stream's owner: moderator rights, and names moderators.
    Owner,
}

impl Role {
    /// Whether this role may delete, time out and ban.
    pub fn can_moderate(self) -> bool {
        matches!(self, Role::Moderator | Role::Owner)
    }
}

/// Machine-readable reason carried by an `error` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Not JSON, unknown `type`, missing or mistyped fields, binary frame.
    BadRequest,
    /// The `room` query parameter is missing or not a valid room name.
    InvalidRoom,
    /// The room is a valid name but the room authority does not know it
    /// (only when [`ChatConfig::require_known_room`](crate::ChatConfig::require_known_room) is on).
    UnknownRoom,
    /// The token is not a valid Streamly JWT (bad signature, issuer, format).
    InvalidToken,
    /// The token has expired: log in again.
    TokenExpired,
    /// Sending needs a signed-in user (anonymous clients only read).
    Unauthorized,
    /// The action needs the owner's or a moderator's rights.
    Forbidden,
    /// The message text is empty, too long or has control characters.
    InvalidText,
    /// Too many messages: wait `retry_after_ms`.
    RateLimited,
    /// A moderator timed this user out: wait `retry_after_ms`.
    TimedOut,
    /// This user is banned from the room.
    Banned,
    /// The chat bus or moderation store cannot be reached; nothing was sent.
    Unavailable,
    /// The moderation command's arguments are out of range.
    InvalidArgument,
    /// The server is shutting down.
    ShuttingDown,
    /// The token's account was deleted: refused on join, and sent to its
    /// open connections just before they are closed with 1008.
    AccountDeleted,
}

/// A frame the server sends.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerFrame<'a> {
    /// First frame after a successful join: who you are in this room.
    Welcome {
        /// The room joined.
        room: &'a RoomId,
        /// The signed-in user, `null` when anonymous.
        user: Option<&'a ChatAuthor>,
        /// What this connection may do.
        role: Role,
    },
    /// The room's recent messages, oldest first (sent once, after `welcome`).
    History {
        /// The messages.
        messages: &'a [ChatMessage],
    },
    /// How many clients watch the room (sent on join, then only on change,
    /// at most once per presence interval).
    Presence {
        /// Connected clients, anonymous ones included.
        viewers: usize,
    },
    /// Something the client asked for was refused.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable explanation.
        message: &'a str,
        /// When to retry (rate limits and timeouts).
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// Answer to `ping`.
    Pong,
    /// A moderation command was carried out.
    Ack {
        /// The command's `type`.
        action: &'a str,
    },
}

impl ServerFrame<'_> {
    /// Serializes the frame to its JSON text.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail (no maps with
        // non-string keys, no failing Serialize impls).
        serde_json::to_string(self).unwrap_or_else(|_| String::from(r#"{"type":"error"}"#))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse() {
        let f: ClientFrame = serde_json::from_str(r#"{"type":"send","text":"hi"}"#).expect("send");
        assert_eq!(f, ClientFrame::Send { text: "hi".into() });
        let f: ClientFrame = serde_json::from_str(r#"{"type":"ping"}"#).expect("ping");
        assert_eq!(f, ClientFrame::Ping);
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"nope"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"text":"x"}"#).is_err());
        let f: ClientFrame = serde_json::from_str(
            r#"{"type":"timeout","user":"67e55044-10b1-426f-9247-bb680e5fe0c8","seconds":30}"#,
        )
        .expect("timeout");
        assert!(matches!(f, ClientFrame::Timeout { seconds: 30, .. }));
    }

    #[test]
    fn error_frame_shape() {
        let json = ServerFrame::Error {
            code: ErrorCode::RateLimited,
            message: "slow down",
            retry_after_ms: Some(1500),
        }
        .to_json();
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(v["type"], "error");
        assert_eq!(v["code"], "rate_limited");
        assert_eq!(v["retry_after_ms"], 1500);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn client_frame_parse_never_panics(s in ".{0,300}") {
            let _ = serde_json::from_str::<ClientFrame>(&s);
        }

        #[test]
        fn send_frames_round_trip_any_text(text in ".{0,200}") {
            let json = serde_json::json!({"type": "send", "text": text}).to_string();
            let parsed: ClientFrame = serde_json::from_str(&json).expect("valid frame");
            prop_assert_eq!(parsed, ClientFrame::Send { text });
        }
    }
}
