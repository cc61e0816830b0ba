//! The initialization segment: `ftyp` and a `moov` whose tracks have no
//! samples of their own (ISO/IEC 14496-12 §8.8.1: an `mvex` announces that
//! they come in movie fragments). Sample entries: `avc1` with `avcC`
//! (ISO/IEC 14496-15 §5.4) and `mp4a` with `esds` (ISO/IEC 14496-14 §5.6,
//! whose descriptors are ISO/IEC 14496-1 §7.2.6).

use bytes::{BufMut, Bytes, BytesMut};
use streamly_core::media::{AacConfig, AvcConfig};

use super::boxes::{put_matrix, put_zeros, write_box, write_full_box};
use super::{AUDIO_TRACK_ID, VIDEO_TIMESCALE, VIDEO_TRACK_ID};

/// `ftyp` (§4.3). Major brand `iso6`, a recent ISOBMFF brand (Annex E;
/// each `isoN` brand includes the tools of those before it), old enough to
/// cover every movie-fragment tool used here: default-base-is-moof,
/// `tfdt`, version-1 `trun` with signed composition offsets. CMAF content
/// commonly declares it. Compatible brands: `iso6` again, `cmfc` (a CMAF
/// track, ISO/IEC 23000-19 §7.2), and `isom`/`mp41` so that readers that
/// only know the original brands still accept the file.
const FTYP_MAJOR: &[u8; 4] = b"iso6";
const FTYP_COMPATIBLE: [&[u8; 4]; 4] = [b"iso6", b"cmfc", b"isom", b"mp41"];
/// Timescale of `mvhd`; nothing is timed in it (durations are 0: unknown, live).
const MOVIE_TIMESCALE: u32 = 1000;
/// `tkhd` flags: track_enabled | track_in_movie (§8.3.2).
const TKHD_FLAGS: u32 = 0x000003;
/// ISO 639-2 "und", packed as three 5-bit letters (§8.4.2).
const LANGUAGE_UND: u16 = ((b'u' - 0x60) as u16) << 10 | ((b'n' - 0x60) as u16) << 5 | (b'd' - 0x60) as u16;
/// `url ` flag: the media data is in the same file (§8.7.2).
const URL_SELF_CONTAINED: u32 = 0x000001;
/// 14496-1 descriptor tags (§7.2.2.1).
const ES_DESCR_TAG: u8 = 0x03;
const DECODER_CONFIG_DESCR_TAG: u8 = 0x04;
const DEC_SPECIFIC_INFO_TAG: u8 = 0x05;
const SL_CONFIG_DESCR_TAG: u8 = 0x06;
/// objectTypeIndication for Audio ISO/IEC 14496-3 (AAC).
const OBJECT_TYPE_AAC: u8 = 0x40;
/// streamType 5 (audio) << 2, upStream 0, reserved 1.
const STREAM_TYPE_AUDIO: u8 = 0x05 << 2 | 1;

/// The init segment (`ftyp` + `moov`) for these tracks: video is track
/// [`VIDEO_TRACK_ID`] at [`VIDEO_TIMESCALE`], audio track [`AUDIO_TRACK_ID`]
/// timed in its sample rate. The `avcC` is the [`AvcConfig::record`] written
/// verbatim (it carries every SPS and PPS and the NAL length size that the
/// samples' length prefixes use); the `esds` DecoderSpecificInfo is
/// [`AacConfig::raw`] verbatim. A track that is `None` is left out.
pub fn init_segment(video: Option<&AvcConfig>, audio: Option<&AacConfig>) -> Bytes {
    let extra = video.map_or(0, |v| v.record.len()) + audio.map_or(0, |a| a.raw.len());
    let mut buf = BytesMut::with_capacity(1024 + extra);
    write_box(&mut buf, b"ftyp", |b| {
        b.put_slice(FTYP_MAJOR);
        b.put_u32(0); // minor_version
        for brand in FTYP_COMPATIBLE {
            b.put_slice(brand);
        }
    });
    write_box(&mut buf, b"moov", |b| {
        write_mvhd(b);
        if let Some(v) = video {
            write_video_trak(b, v);
        }
        if let Some(a) = audio {
            write_audio_trak(b, a);
        }
        write_box(b, b"mvex", |b| {
            let ids = [video.map(|_| VIDEO_TRACK_ID), audio.map(|_| AUDIO_TRACK_ID)];
            for id in ids.into_iter().flatten() {
                // trex (§8.8.3): defaults that every trun overrides, except
                // the sample description index.
                write_full_box(b, b"trex", 0, 0, |b| {
                    b.put_u32(id);
                    b.put_u32(1); // default_sample_description_index
                    b.put_u32(0); // default_sample_duration
                    b.put_u32(0); // default_sample_size
                    b.put_u32(0); // default_sample_flags
                });
            }
        });
    });
    buf.freeze()
}

/// `mvhd` (§8.2.2), version 0.
fn write_mvhd(b: &mut BytesMut) {
    write_full_box(b, b"mvhd", 0, 0, |b| {
        b.put_u32(0); // creation_time
        b.put_u32(0); // modification_time
        b.put_u32(MOVIE_TIMESCALE);
        b.put_u32(0); // duration: unknown
        b.put_u32(0x0001_0000); // rate 1.0
        b.put_u16(0x0100); // volume 1.0
        put_zeros(b, 2 + 8); // reserved
        put_matrix(b);
        put_zeros(b, 6 * 4); // pre_defined
        b.put_u32(AUDIO_TRACK_ID + 1); // next_track_ID
    });
}

/// What differs between the video and the audio `trak`.
struct TrackKind {
    id: u32,
    timescale: u32,
    /// 16.16 fixed point, zero for audio.
    width: u32,
    height: u32,
    /// 8.8 fixed point: 1.0 for audio, 0 for video.
    volume: u16,
    handler: &'static [u8; 4],
    handler_name: &'static [u8],
}

/// `trak` (§8.3.1) with `tkhd`, `mdia` (`mdhd`, `hdlr`, `minf`); `header`
/// writes the media header (`vmhd`/`smhd`) and `entry` the sample entry.
fn write_trak(
    b: &mut BytesMut,
    kind: &TrackKind,
    header: impl FnOnce(&mut BytesMut),
    entry: impl FnOnce(&mut BytesMut),
) {
    write_box(b, b"trak", |b| {
        write_full_box(b, b"tkhd", 0, TKHD_FLAGS, |b| {
            b.put_u32(0); // creation_time
            b.put_u32(0); // modification_time
            b.put_u32(kind.id);
            b.put_u32(0); // reserved
            b.put_u32(0); // duration
            put_zeros(b, 8); // reserved
            b.put_u16(0); // layer
            b.put_u16(0); // alternate_group
            b.put_u16(kind.volume);
            b.put_u16(0); // reserved
            put_matrix(b);
            b.put_u32(kind.width);
            b.put_u32(kind.height);
        });
        write_box(b, b"mdia", |b| {
            write_full_box(b, b"mdhd", 0, 0, |b| {
                b.put_u32(0); // creation_time
                b.put_u32(0); // modification_time
                b.put_u32(kind.timescale);
                b.put_u32(0); // duration
                b.put_u16(LANGUAGE_UND);
                b.put_u16(0); // pre_defined
            });
            write_full_box(b, b"hdlr", 0, 0, |b| {
                b.put_u32(0); // pre_defined
                b.put_slice(kind.handler);
                put_zeros(b, 12); // reserved
                b.put_slice(kind.handler_name); // null-terminated
            });
            write_box(b, b"minf", |b| {
                header(b);
                write_box(b, b"dinf", |b| {
                    write_full_box(b, b"dref", 0, 0, |b| {
                        b.put_u32(1); // entry_count
                        write_full_box(b, b"url ", 0, URL_SELF_CONTAINED, |_| {});
                    });
                });
                write_box(b, b"stbl", |b| {
                    write_full_box(b, b"stsd", 0, 0, |b| {
                        b.put_u32(1); // entry_count
                        entry(b);
                    });
                    // No samples here: they are all in fragments.
                    write_full_box(b, b"stts", 0, 0, |b| b.put_u32(0));
                    write_full_box(b, b"stsc", 0, 0, |b| b.put_u32(0));
                    write_full_box(b, b"stsz", 0, 0, |b| {
                        b.put_u32(0); // sample_size
                        b.put_u32(0); // sample_count
                    });
                    write_full_box(b, b"stco", 0, 0, |b| b.put_u32(0));
                });
            });
        });
    });
}

/// The video `trak`: `vmhd` and an `avc1` sample entry.
fn write_video_trak(b: &mut BytesMut, config: &AvcConfig) {
    let (width, height) = config.dimensions.unwrap_or((0, 0));
    let (w16, h16) = (saturate_u16(width), saturate_u16(height));
    let kind = TrackKind {
        id: VIDEO_TRACK_ID,
        timescale: VIDEO_TIMESCALE,
        width: u32::from(w16) << 16,
        height: u32::from(h16) << 16,
        volume: 0,
        handler: b"vide",
        handler_name: b"VideoHandler\0",
    };
    let header = |b: &mut BytesMut| {
        // vmhd (§12.1.2): flags 1, graphicsmode copy, opcolor 0.
        write_full_box(b, b"vmhd", 0, 1, |b| put_zeros(b, 2 + 3 * 2));
    };
    let entry = |b: &mut BytesMut| {
        // VisualSampleEntry (§12.1.3) then avcC (14496-15 §5.4.2.1).
        write_box(b, b"avc1", |b| {
            put_zeros(b, 6); // reserved
            b.put_u16(1); // data_reference_index
            put_zeros(b, 2 + 2 + 3 * 4); // pre_defined, reserved, pre_defined
            b.put_u16(w16);
            b.put_u16(h16);
            b.put_u32(0x0048_0000); // horizresolution 72 dpi
            b.put_u32(0x0048_0000); // vertresolution 72 dpi
            b.put_u32(0); // reserved
            b.put_u16(1); // frame_count
            put_zeros(b, 32); // compressorname (empty Pascal string)
            b.put_u16(0x0018); // depth: colour, no alpha
            b.put_i16(-1); // pre_defined
            write_box(b, b"avcC", |b| b.put_slice(&config.record));
        });
    };
    write_trak(b, &kind, header, entry);
}

/// The audio `trak`: `smhd` and an `mp4a` sample entry.
fn write_audio_trak(b: &mut BytesMut, config: &AacConfig) {
    let kind = TrackKind {
        id: AUDIO_TRACK_ID,
        timescale: config.sample_rate,
        width: 0,
        height: 0,
        volume: 0x0100,
        handler: b"soun",
        handler_name: b"SoundHandler\0",
    };
    let header = |b: &mut BytesMut| {
        // smhd (§12.2.2): balance 0, reserved.
        write_full_box(b, b"smhd", 0, 0, |b| put_zeros(b, 4));
    };
    let entry = |b: &mut BytesMut| {
        // AudioSampleEntry (§12.2.3) then esds (14496-14 §5.6.1).
        write_box(b, b"mp4a", |b| {
            put_zeros(b, 6); // reserved
            b.put_u16(1); // data_reference_index
            put_zeros(b, 8); // reserved
            b.put_u16(channel_count(config.channel_config));
            b.put_u16(16); // samplesize
            put_zeros(b, 4); // pre_defined, reserved
            // 16.16; a rate above 65535 Hz does not fit (the timescale and
            // the AudioSpecificConfig carry it).
            b.put_u32(u32::from(u16::try_from(config.sample_rate).unwrap_or(0)) << 16);
            write_full_box(b, b"esds", 0, 0, |b| write_es_descriptor(b, &config.raw));
        });
    };
    write_trak(b, &kind, header, entry);
}

/// ES_Descriptor (14496-1 §7.2.6.5) holding a DecoderConfigDescriptor
/// (§7.2.6.6) whose DecoderSpecificInfo is the AudioSpecificConfig, and the
/// SLConfigDescriptor that MP4 files require (predefined 2, 14496-14 §3.1.2).
fn write_es_descriptor(b: &mut BytesMut, asc: &[u8]) {
    let dsi_len = asc.len();
    let dcd_len = 13 + descriptor_header_len(dsi_len) + dsi_len;
    let sl_len = 1;
    let es_len = 3 + descriptor_header_len(dcd_len) + dcd_len + descriptor_header_len(sl_len) + sl_len;
    put_descriptor_header(b, ES_DESCR_TAG, es_len);
    b.put_u16(0); // ES_ID: 0 in files (14496-14 §3.1.2)
    b.put_u8(0); // no dependsOn, URL or OCR stream
    put_descriptor_header(b, DECODER_CONFIG_DESCR_TAG, dcd_len);
    b.put_u8(OBJECT_TYPE_AAC);
    b.put_u8(STREAM_TYPE_AUDIO);
    put_zeros(b, 3); // bufferSizeDB: unknown
    b.put_u32(0); // maxBitrate: unknown
    b.put_u32(0); // avgBitrate: variable
    put_descriptor_header(b, DEC_SPECIFIC_INFO_TAG, dsi_len);
    b.put_slice(asc);
    put_descriptor_header(b, SL_CONFIG_DESCR_TAG, sl_len);
    b.put_u8(2); // predefined: reserved for use in MP4 files
}

/// Bytes of a descriptor's tag and expandable size (14496-1 §8.3.3) for a
/// body of `len` bytes: 7 bits of size per byte, at most four bytes.
fn descriptor_header_len(len: usize) -> usize {
    1 + match len {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        _ => 4,
    }
}

fn put_descriptor_header(b: &mut BytesMut, tag: u8, len: usize) {
    b.put_u8(tag);
    let len = len.min(0x0fff_ffff);
    let bytes = descriptor_header_len(len) - 1;
    for i in (0..bytes).rev() {
        let more = if i == 0 { 0 } else { 0x80 };
        b.put_u8(more | ((len >> (7 * i)) & 0x7f) as u8);
    }
}

/// The sample entry's channel count for an AAC channel configuration
/// (14496-3 Table 1.19): 1–6 as is, 7 is 7.1, 0 (a PCE) is reported as 2.
fn channel_count(channel_config: u8) -> u16 {
    match channel_config {
        1..=6 => u16::from(channel_config),
        7 => 8,
        _ => 2,
    }
}

fn saturate_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_sizes_are_expandable() {
        for (len, want) in [
            (0usize, &[0x05, 0x00][..]),
            (2, &[0x05, 0x02]),
            (0x7f, &[0x05, 0x7f]),
            (0x80, &[0x05, 0x81, 0x00]),
            (0x3fff, &[0x05, 0xff, 0x7f]),
            (0x4000, &[0x05, 0x81, 0x80, 0x00]),
        ] {
            let mut b = BytesMut::new();
            put_descriptor_header(&mut b, DEC_SPECIFIC_INFO_TAG, len);
            assert_eq!(&b[..], want, "len {len}");
            assert_eq!(b.len(), descriptor_header_len(len));
        }
    }

    #[test]
    fn language_is_und() {
        assert_eq!(LANGUAGE_UND, 0x55c4);
    }
}
