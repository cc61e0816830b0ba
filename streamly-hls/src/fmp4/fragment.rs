//! Movie fragments (ISO/IEC 14496-12 §8.8): a `moof` describing each
//! track's run of samples, then an `mdat` holding them. Only the headers are
//! written here; sample bytes are never copied.

use bytes::{BufMut, Bytes, BytesMut};

use super::VIDEO_TRACK_ID;
use super::boxes::{BOX_HEADER, FULL_BOX_HEADER, write_box, write_full_box};

/// `tfhd` flag: offsets are relative to the first byte of the `moof` (§8.8.7).
pub(super) const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// `trun` flags (§8.8.8): which optional fields are present.
pub(super) const TRUN_DATA_OFFSET: u32 = 0x00_0001;
pub(super) const TRUN_SAMPLE_DURATION: u32 = 0x00_0100;
pub(super) const TRUN_SAMPLE_SIZE: u32 = 0x00_0200;
pub(super) const TRUN_SAMPLE_FLAGS: u32 = 0x00_0400;
pub(super) const TRUN_COMPOSITION_OFFSET: u32 = 0x00_0800;
/// Sample flags (§8.8.3.1): sample_depends_on = 2 (an I picture), sync.
pub(super) const SAMPLE_SYNC: u32 = 0x0200_0000;
/// sample_depends_on = 1 (not an I picture), sample_is_non_sync_sample = 1.
pub(super) const SAMPLE_NON_SYNC: u32 = 0x0101_0000;

/// `mfhd`: full box header + sequence_number.
const MFHD_LEN: usize = FULL_BOX_HEADER + 4;
/// `tfhd` with only the track id.
const TFHD_LEN: usize = FULL_BOX_HEADER + 4;
/// `tfdt` version 1: a 64-bit base media decode time.
const TFDT_LEN: usize = FULL_BOX_HEADER + 8;
/// `trun` before its samples: sample_count and data_offset.
const TRUN_FIXED_LEN: usize = FULL_BOX_HEADER + 4 + 4;

/// The least the header buffer grows by: a few fragments' headers (a 2 s
/// GOP at 60 fps with 48 kHz audio needs about 3.2 KiB), so that while
/// earlier headers are still held a new buffer is needed only every few
/// fragments.
const CHUNK: usize = 16 * 1024;

/// One sample of a fragment, timed in its track's timescale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmp4Sample {
    /// Until the next sample's decode time.
    pub duration: u32,
    /// Presentation time minus decode time (signed: `trun` version 1).
    /// Written for the video track only.
    pub composition_offset: i32,
    /// A sync sample (an IDR). Only the video track distinguishes: every
    /// audio sample is a sync sample.
    pub keyframe: bool,
    /// The sample as stored: an AVCC access unit (length-prefixed NAL units,
    /// the prefix size the `avcC` declares) or a raw AAC frame (no ADTS).
    pub data: Bytes,
}

/// A track's run in a fragment.
#[derive(Debug, Clone, Copy)]
pub struct TrackFragment<'a> {
    /// [`VIDEO_TRACK_ID`](super::VIDEO_TRACK_ID) or
    /// [`AUDIO_TRACK_ID`](super::AUDIO_TRACK_ID); it decides whether sample
    /// flags and composition offsets are per sample (video) or not.
    pub track_id: u32,
    /// Decode time of the first sample, in the track's timescale (`tfdt`).
    pub base_media_decode_time: u64,
    /// The run, in decode order.
    pub samples: &'a [Fmp4Sample],
}

impl TrackFragment<'_> {
    fn is_video(&self) -> bool {
        self.track_id == VIDEO_TRACK_ID
    }

    fn payload_len(&self) -> usize {
        self.samples.iter().map(|s| s.data.len()).sum()
    }

    fn trun_flags(&self) -> u32 {
        let flags = TRUN_DATA_OFFSET | TRUN_SAMPLE_DURATION | TRUN_SAMPLE_SIZE | TRUN_SAMPLE_FLAGS;
        if self.is_video() {
            flags | TRUN_COMPOSITION_OFFSET
        } else {
            flags
        }
    }

    /// Bytes of this track's `traf`.
    fn traf_len(&self) -> usize {
        let per_sample = if self.is_video() { 16 } else { 12 };
        BOX_HEADER + TFHD_LEN + TFDT_LEN + TRUN_FIXED_LEN + per_sample * self.samples.len()
    }
}

/// Writes fragment headers into one reused buffer: each call hands out the
/// bytes written (`split().freeze()`), the next writes after them, and when
/// the buffer is full and every header handed out from it has been dropped
/// (sent), it starts over at the front. So in steady state writing a
/// fragment allocates nothing. While headers are still held (a segment
/// window keeps them) a full buffer is replaced by a new one of at least
/// 16 KiB: two allocations (the memory and `bytes`' shared header) every
/// few fragments.
#[derive(Debug, Default)]
pub struct FragmentWriter {
    buf: BytesMut,
}

impl FragmentWriter {
    /// A writer with an empty buffer; the first fragment sizes it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes a `moof` and the header of the `mdat` that follows it:
    ///
    /// - `mfhd` with `sequence_number` (§8.8.5; start at 1, then +1 per fragment);
    /// - per track with samples, in the order given, a `traf`: `tfhd` with
    ///   default-base-is-moof and the track id (§8.8.7), `tfdt` version 1
    ///   (§8.8.12), `trun` version 1 (§8.8.8) with the data offset of the
    ///   track's first sample from the `moof`'s first byte, and per sample
    ///   duration, size, flags (video: a keyframe is depends-on-none and
    ///   sync, other pictures depend on others and are not sync; audio: all
    ///   sync) and, for video, the signed composition offset;
    /// - the `mdat` header (§8.1.1): 8 bytes, or 16 with a 64-bit size if
    ///   the samples pass 4 GiB.
    ///
    /// The caller then sends every sample's `data`, tracks in the order
    /// given, samples in order. Empty tracks are skipped. A data offset
    /// past 2 GiB cannot be expressed (`trun` has 32 bits) and saturates:
    /// fragments are segments' parts and far smaller.
    pub fn write(&mut self, sequence_number: u32, tracks: &[TrackFragment<'_>]) -> Bytes {
        let present = || tracks.iter().filter(|t| !t.samples.is_empty());
        let moof_len = BOX_HEADER + MFHD_LEN + present().map(|t| t.traf_len()).sum::<usize>();
        let payload_len: usize = present().map(|t| t.payload_len()).sum();
        let mdat_size = BOX_HEADER + payload_len;
        let small_size = u32::try_from(mdat_size).ok();
        let mdat_header_len = if small_size.is_some() {
            BOX_HEADER
        } else {
            BOX_HEADER + 8
        };
        let header_len = moof_len + mdat_header_len;
        if self.buf.capacity() - self.buf.len() < header_len {
            // Out of room: take back the buffer if every header handed out
            // from it is gone (no allocation), else start a new one, big
            // enough for several headers.
            self.buf.reserve(header_len.max(CHUNK));
        }

        let buf = &mut self.buf;
        write_box(buf, b"moof", |b| {
            write_full_box(b, b"mfhd", 0, 0, |b| b.put_u32(sequence_number));
            let mut data_offset = moof_len + mdat_header_len;
            for track in present() {
                write_traf(b, track, data_offset);
                data_offset += track.payload_len();
            }
        });
        debug_assert_eq!(buf.len(), moof_len, "moof size as predicted");
        match small_size {
            Some(size) => {
                buf.put_u32(size);
                buf.put_slice(b"mdat");
            }
            None => {
                buf.put_u32(1); // the size is the 64-bit largesize that follows
                buf.put_slice(b"mdat");
                buf.put_u64(mdat_size as u64 + 8);
            }
        }
        buf.split().freeze()
    }
}

/// One track's `traf` whose first sample is `data_offset` bytes from the
/// `moof`'s start.
fn write_traf(b: &mut BytesMut, track: &TrackFragment<'_>, data_offset: usize) {
    write_box(b, b"traf", |b| {
        write_full_box(b, b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, |b| {
            b.put_u32(track.track_id);
        });
        write_full_box(b, b"tfdt", 1, 0, |b| b.put_u64(track.base_media_decode_time));
        write_full_box(b, b"trun", 1, track.trun_flags(), |b| {
            b.put_u32(u32::try_from(track.samples.len()).unwrap_or(u32::MAX));
            b.put_i32(i32::try_from(data_offset).unwrap_or(i32::MAX));
            let video = track.is_video();
            for s in track.samples {
                b.put_u32(s.duration);
                b.put_u32(u32::try_from(s.data.len()).unwrap_or(u32::MAX));
                b.put_u32(if !video || s.keyframe {
                    SAMPLE_SYNC
                } else {
                    SAMPLE_NON_SYNC
                });
                if video {
                    b.put_i32(s.composition_offset);
                }
            }
        });
    });
}

/// Total length of the fragment: `header.len()` plus every sample's bytes.
pub fn fragment_len(header: &Bytes, tracks: &[TrackFragment<'_>]) -> usize {
    header.len() + tracks.iter().map(|t| t.payload_len()).sum::<usize>()
}
