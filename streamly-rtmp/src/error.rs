//! Error types, one enum per layer: chunk stream, AMF0, session, server.

use std::io;

use thiserror::Error;

/// The chunk stream layer (RTMP spec §5.3) refused the peer's bytes.
///
/// Every variant is a protocol violation or a limit hit by the peer; the
/// connection is closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// A message header announced more bytes than `max_message_len`.
    #[error("chunk stream {csid}: message of {len} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// The chunk stream id.
        csid: u32,
        /// The announced length.
        len: u32,
        /// The configured limit.
        max: u32,
    },
    /// The peer opened more chunk streams than `max_chunk_streams`.
    #[error("more than {max} chunk streams")]
    TooManyChunkStreams {
        /// The configured limit.
        max: usize,
    },
    /// Partially received messages together exceed `max_buffered_bytes`.
    #[error("{buffered} bytes of partial messages exceed the limit of {max}")]
    BufferLimit {
        /// Bytes that would be buffered.
        buffered: usize,
        /// The configured limit.
        max: usize,
    },
    /// A type 1/2/3 chunk header arrived on a chunk stream that never had a
    /// full (type 0) header, so length and type are unknown.
    #[error("chunk stream {csid}: header type {fmt} without a previous header")]
    MissingHeader {
        /// The chunk stream id.
        csid: u32,
        /// The chunk header type (`fmt`).
        fmt: u8,
    },
    /// Set Chunk Size asked for 0 or for more than `max_chunk_size`.
    #[error("set chunk size {requested} is outside 1..={max}")]
    BadChunkSize {
        /// The requested size.
        requested: u32,
        /// The configured limit.
        max: u32,
    },
    /// A protocol control message was too short for its fields.
    #[error("protocol control message type {type_id} truncated ({len} bytes)")]
    BadControlMessage {
        /// The message type id.
        type_id: u8,
        /// Its length.
        len: usize,
    },
    /// An outbound message named a chunk stream id outside 2..=65599.
    #[error("chunk stream id {csid} cannot be encoded")]
    InvalidCsid {
        /// The offending id.
        csid: u32,
    },
}

/// AMF0 data (Action Message Format 0 spec) could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AmfError {
    /// The data ended inside a value.
    #[error("AMF0 value truncated at offset {offset}")]
    Truncated {
        /// Where the value started or the read failed.
        offset: usize,
    },
    /// A type marker this decoder does not handle (references, AVM+ …).
    #[error("AMF0 marker {marker:#04x} at offset {offset} is not supported")]
    UnsupportedMarker {
        /// The marker byte.
        marker: u8,
        /// Its offset.
        offset: usize,
    },
    /// Objects nested deeper than the decoder allows.
    #[error("AMF0 nesting deeper than {max}")]
    TooDeep {
        /// The nesting limit.
        max: usize,
    },
    /// More values (nested ones included) than the decoder accepts.
    #[error("more than {max} AMF0 values")]
    TooMany {
        /// The value limit ([`crate::amf0::MAX_VALUES`]).
        max: usize,
    },
}

/// The RTMP handshake (spec §5.2) failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// C0 asked for a protocol version other than 3 (plain RTMP); 6 is RTMPE.
    #[error("unsupported RTMP version {0}")]
    UnsupportedVersion(u8),
}

/// The ingest session refused the peer's input; the connection is closed
/// after any pending output (an error status) is flushed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The handshake failed.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The chunk stream layer failed.
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    /// A command's AMF0 payload could not be decoded.
    #[error("command payload: {0}")]
    Amf(#[from] AmfError),
    /// A command message was longer than `max_amf_message_len`.
    #[error("command message of {len} bytes exceeds the limit of {max}")]
    CommandTooLarge {
        /// The message length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `connect` named an application this server does not serve.
    #[error("unknown application {app:?}")]
    UnknownApp {
        /// The application name the client asked for.
        app: String,
    },
    /// The client broke the command sequence (e.g. `publish` before
    /// `connect`, or a second `publish` on one connection).
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// The session was already closed (publish rejected or ended).
    #[error("session closed")]
    Closed,
}

/// The server could not start or a connection failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RtmpError {
    /// Binding the listening socket failed.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Socket I/O failed.
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    /// The peer broke the protocol.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The handshake did not finish within `handshake_timeout`.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// No publish was granted within `publish_timeout` of the handshake.
    #[error("no publish within the publish timeout")]
    PublishTimeout,
    /// Nothing was received (or nothing could be sent) within `idle_timeout`.
    #[error("idle timeout")]
    IdleTimeout,
}
