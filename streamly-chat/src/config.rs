//! [`ChatConfig`]: every limit and timer of a chat node, with the defaults
//! documented in `docs/chat-protocol.md`.

use std::time::Duration;

/// A per-user token bucket: `burst` messages, refilled evenly over `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Messages a user may send at once (the bucket size).
    pub burst: u32,
    /// Time to refill the whole bucket.
    pub per: Duration,
}

impl Default for RateLimit {
    /// 5 messages per 10 seconds.
    fn default() -> Self {
        Self {
            burst: 5,
            per: Duration::from_secs(10),
        }
    }
}

/// Limits and timers of a chat node.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChatConfig {
    /// Largest frame accepted from a client, in bytes; larger ones close the
    /// connection with 1009. Default 4 KiB.
    pub max_frame_bytes: usize,
    /// Per-user send rate limit (per node). Default 5 per 10 s.
    pub rate_limit: RateLimit,
    /// Bad frames (invalid JSON, unknown type, binary) a connection may send
    /// before it is closed with 1008. Default 5.
    pub max_bad_frames: u32,
    /// Frames a connection may fall behind the room before it is closed with
    /// 1013 (its bounded outbound queue). Default 256.
    pub outbound_queue: usize,
    /// How long one write to a client may take before the connection is
    /// dropped. Default 10 s.
    pub write_timeout: Duration,
    /// How often the server pings each client. Default 20 s.
    pub heartbeat_interval: Duration,
    /// A client that sends nothing (not even a pong) for this long is closed.
    /// Default 60 s.
    pub idle_timeout: Duration,
    /// Most connections this node accepts; more get HTTP 503. Default 20,000.
    pub max_connections: usize,
    /// Messages sent to a client when it joins. Default 50.
    pub history_on_join: usize,
    /// Presence changes are coalesced into at most one `presence` frame per
    /// room per interval. Default 1 s.
    pub presence_interval: Duration,
    /// Refuse to join a room the [`RoomAuthority`](crate::moderation::RoomAuthority)
    /// has no owner for (`owner()` is `None`): the client gets
    /// `error {code: "unknown_room"}` and close 1008, and no room is created
    /// on this node or the bus. If the authority cannot be reached the join
    /// is refused with `unavailable` and close 1011. Default `false` (any
    /// valid room name opens a room, as in the standalone server).
    pub require_known_room: bool,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: 4 * 1024,
            rate_limit: RateLimit::default(),
            max_bad_frames: 5,
            outbound_queue: 256,
            write_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            max_connections: 20_000,
            history_on_join: 50,
            presence_interval: Duration::from_secs(1),
            require_known_room: false,
        }
    }
}
