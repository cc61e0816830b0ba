//! Fragmented MP4 (CMAF) writing: an init segment and movie fragments for
//! H.264 and AAC, sans-IO.
//!
//! - [`init_segment`] — `ftyp` + `moov` (ISO/IEC 14496-12 §4.3, §8.2–§8.7,
//!   §8.8.1 `mvex`/§8.8.3 `trex`), with an `avc1`/`avcC` sample entry
//!   (ISO/IEC 14496-15 §5.4) and an `mp4a`/`esds` one (ISO/IEC 14496-14
//!   §5.6, descriptors per ISO/IEC 14496-1 §7.2.6). The brands are those of
//!   a CMAF track (ISO/IEC 23000-19 §7.2).
//! - [`FragmentWriter`] — `moof` (`mfhd`, `traf` with `tfhd`, `tfdt`,
//!   `trun`; §8.8) and the `mdat` header (§8.1.1). The caller sends the
//!   header and then the samples' own [`Bytes`](bytes::Bytes): payload is
//!   never copied, and the header buffer is reused.
//!
//! Samples go in as RTMP and FLV carry them: H.264 access units in AVCC
//! form (length-prefixed NAL units; the prefix size is the `avcC`'s
//! lengthSizeMinusOne + 1, since the record is written verbatim) and raw
//! AAC frames (no ADTS). Video is timed at [`VIDEO_TIMESCALE`], audio in its
//! sample rate.
//!
//! ## Timestamps, composition offsets and edit lists
//!
//! The caller converts milliseconds to the track's timescale; nothing here
//! shifts a timeline. Decode times go in `tfdt` as they are in the source,
//! and each sample's composition offset (PTS − DTS) goes in a version-1
//! `trun`, where it is signed, so a negative offset (FLV's CTS is a signed
//! 24-bit field) is written as it is. There is no edit list: a reader
//! presents each sample at `tfdt + Σ durations + offset`, which are the
//! source's presentation times. With B-frames the first PTS is therefore
//! later than the first DTS: ffmpeg's FLV muxer starts the DTS at 0, so
//! with `-bf 3` the first IDR is shown at 80 ms. ffmpeg decodes the same
//! frames from such a file as from the FLV, with the same PTS (the
//! `fmp4_lossless` test); no shift of offsets or decode times was needed.
//!
//! ## Example
//!
//! An audio-only init segment and one fragment of two AAC frames:
//!
//! ```
//! use bytes::Bytes;
//! use streamly_core::media::AacConfig;
//! use streamly_hls::fmp4::{AUDIO_TRACK_ID, FragmentWriter, Fmp4Sample, TrackFragment};
//! use streamly_hls::fmp4::{fragment_len, init_segment};
//!
//! let aac = AacConfig::parse(Bytes::from_static(&[0x12, 0x10]))?; // LC, 44.1 kHz, stereo
//! let init = init_segment(None, Some(&aac));
//! assert_eq!(&init[4..8], b"ftyp");
//!
//! let frame = |data: &'static [u8]| Fmp4Sample {
//!     duration: 1024,
//!     composition_offset: 0,
//!     keyframe: true,
//!     data: Bytes::from_static(data),
//! };
//! let samples = [frame(&[0x21, 0x10]), frame(&[0x21, 0x20, 0x30])];
//! let tracks = [TrackFragment { track_id: AUDIO_TRACK_ID, base_media_decode_time: 0, samples: &samples }];
//! let mut writer = FragmentWriter::new();
//! let header = writer.write(1, &tracks);
//! // Send `header`, then each sample's `data`: together one moof + mdat.
//! assert_eq!(&header[4..8], b"moof");
//! assert_eq!(fragment_len(&header, &tracks), header.len() + 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod boxes;
mod fragment;
mod init;
#[cfg(test)]
mod tests;

pub use fragment::{Fmp4Sample, FragmentWriter, TrackFragment, fragment_len};
pub use init::init_segment;

/// Track id of the H.264 track.
pub const VIDEO_TRACK_ID: u32 = 1;
/// Track id of the AAC track.
pub const AUDIO_TRACK_ID: u32 = 2;
/// Video timescale (90 kHz); audio's timescale is its sample rate.
pub const VIDEO_TIMESCALE: u32 = 90_000;
