//! Errors of the remux core and the packager.

use streamly_core::ports::SegmentSinkError;
use thiserror::Error;

/// A frame the muxer could not write. The frame is dropped; the stream
/// goes on.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MuxError {
    /// A video frame arrived before any H.264 configuration.
    #[error("video frame before any AVC sequence header")]
    NoVideoConfig,
    /// An audio frame arrived before any AAC configuration.
    #[error("audio frame before any AAC sequence header")]
    NoAudioConfig,
    /// A NAL unit length prefix runs past the end of the access unit.
    #[error("video frame at {dts} ms: NAL unit length at byte {at} runs past the frame")]
    BadNalLength {
        /// The frame's RTMP timestamp.
        dts: u32,
        /// Offset of the bad length prefix.
        at: usize,
    },
    /// An AAC frame longer than ADTS can frame (8184 bytes).
    #[error("audio frame at {dts} ms is {len} bytes, too long for ADTS")]
    AudioFrameTooLong {
        /// The frame's RTMP timestamp.
        dts: u32,
        /// Its length.
        len: usize,
    },
    /// The AAC configuration cannot be expressed in an ADTS header.
    #[error("AAC configuration not representable in ADTS: {reason}")]
    AdtsUnrepresentable {
        /// Why.
        reason: &'static str,
    },
}

/// What the packager's storage side can fail with.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HlsError {
    /// Listing, reading or rewriting the sink while cleaning up after an
    /// earlier process failed.
    #[error("cleaning up the segment sink failed: {0}")]
    Recovery(#[source] SegmentSinkError),
    /// Reading, rewriting or deleting a recording's files failed.
    #[error("a recording's files in the segment sink: {0}")]
    Recording(#[source] SegmentSinkError),
    /// A recording folder that is not a valid sink path.
    #[error("not a valid recording folder: {0}")]
    BadPrefix(String),
}
