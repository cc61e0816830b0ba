//! [`Frame`]: the transport-agnostic unit the connection handler reads and
//! writes. The WebSocket glue ([`WsTransport`](crate::WsTransport)) maps axum messages to and from
//! it; tests can drive the handler with plain channels.

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;

/// WebSocket close codes the server uses (RFC 6455 §7.4.1).
pub mod close_code {
    /// Normal closure (idle timeout, client asked to close).
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// Policy violation: banned, bad token, bad room, repeated garbage.
    pub const POLICY: u16 = 1008;
    /// A frame larger than the configured cap (4 KiB).
    pub const TOO_BIG: u16 = 1009;
    /// Internal error.
    pub const INTERNAL: u16 = 1011;
    /// The client could not keep up with the room ("try again later").
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// One frame of a chat connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A UTF-8 text frame (all protocol frames are JSON text).
    Text(Utf8Bytes),
    /// A binary frame (not part of the protocol: answered with an error).
    Binary(Bytes),
    /// Transport-level ping.
    Ping(Bytes),
    /// Transport-level pong.
    Pong(Bytes),
    /// Close, with a code and a reason.
    Close(Option<(u16, String)>),
    /// A message the transport refused to buffer because it was larger
    /// than its own limit (its size in bytes); the handler closes with 1009.
    TooLarge(usize),
}

impl Frame {
    /// A text frame from a string.
    pub fn text(s: impl Into<String>) -> Self {
        Frame::Text(Utf8Bytes::from(s.into()))
    }

    /// A close frame.
    pub fn close(code: u16, reason: &str) -> Self {
        Frame::Close(Some((code, reason.to_owned())))
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) | Frame::Ping(b) | Frame::Pong(b) => b.len(),
            Frame::Close(c) => c.as_ref().map_or(0, |(_, r)| r.len() + 2),
            Frame::TooLarge(size) => *size,
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
