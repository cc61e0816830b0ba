//! The RTMP chunk stream layer (RTMP spec §5.3, Adobe 2012): messages are
//! split into chunks of at most the chunk size, each with a compressed header
//! that refers to the previous header on the same chunk stream.
//!
//! - [`ChunkDecoder`] — ours, bounded, correct for interleaved chunk streams.
//! - [`ChunkEncoder`] — the outbound side (our responses), also used by the
//!   tests to produce every header form the decoder must understand.

mod decoder;
mod encoder;

pub use decoder::ChunkDecoder;
pub use encoder::ChunkEncoder;

use bytes::Bytes;

/// The chunk size both sides start with (spec §5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;

/// Protocol control: Set Chunk Size.
pub const TYPE_SET_CHUNK_SIZE: u8 = 1;
/// Protocol control: Abort Message.
pub const TYPE_ABORT: u8 = 2;
/// Protocol control: Acknowledgement.
pub const TYPE_ACK: u8 = 3;
/// User Control Message (spec §6.2).
pub const TYPE_USER_CONTROL: u8 = 4;
/// Protocol control: Window Acknowledgement Size.
pub const TYPE_WINDOW_ACK_SIZE: u8 = 5;
/// Protocol control: Set Peer Bandwidth.
pub const TYPE_SET_PEER_BANDWIDTH: u8 = 6;
/// Audio message (an FLV audio tag body).
pub const TYPE_AUDIO: u8 = 8;
/// Video message (an FLV video tag body).
pub const TYPE_VIDEO: u8 = 9;
/// AMF3 data message (a zero byte then AMF0 in practice).
pub const TYPE_DATA_AMF3: u8 = 15;
/// AMF3 command message.
pub const TYPE_COMMAND_AMF3: u8 = 17;
/// AMF0 data message (`@setDataFrame`/`onMetaData`).
pub const TYPE_DATA_AMF0: u8 = 18;
/// AMF0 command message (`connect`, `publish`, …).
pub const TYPE_COMMAND_AMF0: u8 = 20;

/// One RTMP message, as reassembled from (or split into) chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpMessage {
    /// The chunk stream it travelled on (2..=65599).
    pub csid: u32,
    /// Absolute timestamp in milliseconds (wrapping).
    pub timestamp: u32,
    /// Message type id.
    pub type_id: u8,
    /// Message stream id (0 for control and `NetConnection` commands).
    pub stream_id: u32,
    /// The message payload.
    pub payload: Bytes,
}

/// Bounds on what a peer can make the decoder hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Largest Set Chunk Size accepted.
    pub max_chunk_size: u32,
    /// Largest message length accepted.
    pub max_message_len: u32,
    /// Most chunk stream ids one connection may use.
    pub max_chunk_streams: usize,
    /// Most bytes of partial messages held at once, over all chunk streams.
    pub max_buffered_bytes: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        Self {
            max_chunk_size: 1 << 20,
            max_message_len: 8 << 20,
            max_chunk_streams: 64,
            max_buffered_bytes: 16 << 20,
        }
    }
}

#[cfg(test)]
mod tests;
