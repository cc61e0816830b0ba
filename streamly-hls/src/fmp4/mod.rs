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
//! Decode times go in `tfdt` as they are in the source (milliseconds scaled
//! to the timescale), and each sample's composition offset (PTS − DTS) goes
//! in a version-1 `trun`, which makes it signed. There is no edit list: a
//! reader presents each sample at `tfdt + Σ durations + offset`, so the
//! presentation times are the source's. With B-frames the first PTS is
//! therefore later than the first DTS (an FLV written by ffmpeg starts at
//! DTS 0 with PTS 80 ms for `-bf 3`); players start at the first PTS, and
//! ffmpeg decodes the same frames with the same PTS as from the FLV.

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
