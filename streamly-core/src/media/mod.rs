//! Media frames shared by ingest (`streamly-rtmp`) and packaging
//! (`streamly-hls`), and the parsers that produce them from FLV tag bodies.
//!
//! RTMP carries FLV tag bodies (Adobe FLV spec v10.1, annex E.4.2/E.4.3): H.264
//! in AVCC form with an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.2.4)
//! as sequence header, and raw AAC with an AudioSpecificConfig (ISO/IEC
//! 14496-3 §1.6.2.1). The parsers here are pure, bounded by the input slice,
//! and never panic on bad bytes: they return [`MediaError`].
//!
//! [`StreamHealth`] accumulates a live stream's health (bitrates, frame
//! rate, keyframe interval, codecs, warnings) from the frames as they pass:
//! sans-IO, O(1) and allocation-free per frame.

mod aac;
mod avc;
mod error;
mod flv;
mod frame;
mod health;

pub use aac::AacConfig;
pub use avc::AvcConfig;
pub use error::MediaError;
pub use flv::{FlvReader, FlvTag, FlvTagKind, parse_audio_tag, parse_video_tag};
pub use frame::{AudioFrame, MediaFrame, StreamMetadata, VideoFrame};
pub use health::{
    AudioHealth, HealthReport, HealthThresholds, HealthWarning, HealthWarningCode, StreamHealth, VideoHealth,
};
