use std::sync::Arc;

use bytes::Bytes;

use super::{AacConfig, AvcConfig};

/// One unit of media on its way from ingest to packaging.
///
/// Timestamps are RTMP/FLV milliseconds as the publisher sent them: 32 bits
/// that wrap after ~49.7 days. Consumers that need a monotonic clock unwrap
/// them (the HLS packager does).
#[derive(Debug, Clone, PartialEq)]
pub enum MediaFrame {
    /// New H.264 decoder configuration (SPS/PPS). Sent before the first video
    /// frame and again whenever the publisher changes it.
    VideoConfig(Arc<AvcConfig>),
    /// New AAC decoder configuration. Sent before the first audio frame.
    AudioConfig(Arc<AacConfig>),
    /// One H.264 access unit.
    Video(VideoFrame),
    /// One raw AAC frame (no ADTS header).
    Audio(AudioFrame),
    /// The publisher's `onMetaData` (informational).
    Metadata(Arc<StreamMetadata>),
}

impl MediaFrame {
    /// The frame's decode timestamp in milliseconds, for frames that have one.
    pub fn dts(&self) -> Option<u32> {
        match self {
            Self::Video(v) => Some(v.dts),
            Self::Audio(a) => Some(a.dts),
            _ => None,
        }
    }
}

/// One H.264 access unit in AVCC form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// Decode timestamp, milliseconds.
    pub dts: u32,
    /// Presentation minus decode time, milliseconds (non-zero with B-frames).
    pub composition_offset: i32,
    /// Whether this is a random access point (IDR).
    pub keyframe: bool,
    /// NAL units, each prefixed by its length in
    /// [`AvcConfig::nal_length_size`] bytes, big-endian.
    pub data: Bytes,
}

impl VideoFrame {
    /// Presentation timestamp in milliseconds (may wrap like `dts`).
    pub fn pts(&self) -> u32 {
        self.dts.wrapping_add_signed(self.composition_offset)
    }
}

/// One raw AAC frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    /// Timestamp, milliseconds.
    pub dts: u32,
    /// The raw AAC payload (no ADTS header).
    pub data: Bytes,
}

/// What a publisher announced about its stream in `onMetaData`. Every field
/// is optional because encoders differ in what they send.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamMetadata {
    /// Picture width.
    pub width: Option<f64>,
    /// Picture height.
    pub height: Option<f64>,
    /// Frames per second.
    pub frame_rate: Option<f64>,
    /// Video bitrate, kbit/s.
    pub video_data_rate: Option<f64>,
    /// Audio bitrate, kbit/s.
    pub audio_data_rate: Option<f64>,
    /// Encoder name.
    pub encoder: Option<String>,
}
