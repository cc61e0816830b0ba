//! FLV tag bodies (Adobe FLV spec v10.1, E.4.2.1 audio, E.4.3.1 video) and a
//! reader for whole FLV files (E.2 header, E.3 body), for offline remuxing.

use std::sync::Arc;

use bytes::Bytes;

use super::error::take;
use super::{AacConfig, AudioFrame, AvcConfig, MediaError, MediaFrame, VideoFrame};

const CODEC_AVC: u8 = 7;
const SOUND_FORMAT_AAC: u8 = 10;

/// Parses an FLV video tag body into a media frame.
///
/// Returns `Ok(None)` for payloads that carry nothing to forward: the AVC
/// end-of-sequence marker and video info/command frames.
pub fn parse_video_tag(dts: u32, body: &Bytes) -> Result<Option<MediaFrame>, MediaError> {
    const WHAT: &str = "FLV video tag";
    let head = take(WHAT, body, 1)?;
    let frame_type = head[0] >> 4;
    let codec_id = head[0] & 0x0f;
    if frame_type == 5 {
        // Video info/command frame: no picture.
        return Ok(None);
    }
    if codec_id != CODEC_AVC {
        return Err(MediaError::UnsupportedCodec {
            kind: "video",
            codec_id,
        });
    }
    let head = take(WHAT, body, 5)?;
    let packet_type = head[1];
    // SI24, sign-extended.
    let composition_offset =
        (i32::from(head[2]) << 24 | i32::from(head[3]) << 16 | i32::from(head[4]) << 8) >> 8;
    let payload = body.slice(5..);
    match packet_type {
        0 => Ok(Some(MediaFrame::VideoConfig(Arc::new(AvcConfig::parse(
            payload,
        )?)))),
        1 => {
            if payload.is_empty() {
                return Ok(None);
            }
            Ok(Some(MediaFrame::Video(VideoFrame {
                dts,
                composition_offset,
                keyframe: frame_type == 1,
                data: payload,
            })))
        }
        2 => Ok(None),
        other => Err(MediaError::invalid(WHAT, format!("AVC packet type {other}"))),
    }
}

/// Parses an FLV audio tag body into a media frame.
pub fn parse_audio_tag(dts: u32, body: &Bytes) -> Result<Option<MediaFrame>, MediaError> {
    const WHAT: &str = "FLV audio tag";
    let head = take(WHAT, body, 1)?;
    let format = head[0] >> 4;
    if format != SOUND_FORMAT_AAC {
        return Err(MediaError::UnsupportedCodec {
            kind: "audio",
            codec_id: format,
        });
    }
    let head = take(WHAT, body, 2)?;
    let payload = body.slice(2..);
    match head[1] {
        0 => Ok(Some(MediaFrame::AudioConfig(Arc::new(AacConfig::parse(
            payload,
        )?)))),
        1 if payload.is_empty() => Ok(None),
        1 => Ok(Some(MediaFrame::Audio(AudioFrame { dts, data: payload }))),
        other => Err(MediaError::invalid(WHAT, format!("AAC packet type {other}"))),
    }
}

/// The kind of an FLV tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlvTagKind {
    /// Tag type 8.
    Audio,
    /// Tag type 9.
    Video,
    /// Tag type 18 (AMF0 script data such as `onMetaData`).
    Script,
}

/// One tag of an FLV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// What the body holds.
    pub kind: FlvTagKind,
    /// Timestamp in milliseconds (24 bits plus the extended byte).
    pub timestamp: u32,
    /// The tag body (what RTMP carries as a message payload).
    pub body: Bytes,
}

impl FlvTag {
    /// Parses the tag body into a media frame (`Ok(None)` for script tags and
    /// payloads with nothing to forward).
    pub fn to_frame(&self) -> Result<Option<MediaFrame>, MediaError> {
        match self.kind {
            FlvTagKind::Audio => parse_audio_tag(self.timestamp, &self.body),
            FlvTagKind::Video => parse_video_tag(self.timestamp, &self.body),
            FlvTagKind::Script => Ok(None),
        }
    }
}

/// Iterates over the tags of an in-memory FLV file. Tags of unknown types
/// are skipped; a truncated last tag ends the iteration with an error.
#[derive(Debug, Clone)]
pub struct FlvReader {
    data: Bytes,
    pos: usize,
}

impl FlvReader {
    /// Checks the FLV header and positions the reader at the first tag.
    pub fn new(data: Bytes) -> Result<Self, MediaError> {
        const WHAT: &str = "FLV header";
        let head = take(WHAT, &data, 9)?;
        if &head[..3] != b"FLV" {
            return Err(MediaError::invalid(WHAT, "missing FLV signature"));
        }
        let header_len = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) as usize;
        if header_len < 9 || header_len > data.len() {
            return Err(MediaError::invalid(
                WHAT,
                format!("bad header length {header_len}"),
            ));
        }
        // Skip the header and PreviousTagSize0.
        Ok(Self {
            pos: header_len + 4,
            data,
        })
    }
}

impl Iterator for FlvReader {
    type Item = Result<FlvTag, MediaError>;

    fn next(&mut self) -> Option<Self::Item> {
        const WHAT: &str = "FLV tag";
        loop {
            let rest = self.data.get(self.pos..)?;
            if rest.is_empty() {
                return None;
            }
            let head = match take(WHAT, rest, 11) {
                Ok(h) => h,
                Err(e) => {
                    self.pos = self.data.len();
                    return Some(Err(e));
                }
            };
            let tag_type = head[0] & 0x1f;
            let size = usize::from(head[1]) << 16 | usize::from(head[2]) << 8 | usize::from(head[3]);
            let timestamp = u32::from_be_bytes([head[7], head[4], head[5], head[6]]);
            let body_start = self.pos + 11;
            if rest.len() < 11 + size {
                self.pos = self.data.len();
                return Some(Err(MediaError::Truncated {
                    what: WHAT,
                    needed: 11 + size,
                    had: rest.len(),
                }));
            }
            self.pos = body_start + size + 4;
            let kind = match tag_type {
                8 => FlvTagKind::Audio,
                9 => FlvTagKind::Video,
                18 => FlvTagKind::Script,
                _ => continue,
            };
            return Some(Ok(FlvTag {
                kind,
                timestamp,
                body: self.data.slice(body_start..body_start + size),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn video_nalu_with_negative_composition_offset() {
        let body = Bytes::from_static(&[0x17, 0x01, 0xff, 0xff, 0xfe, 0, 0, 0, 1, 0x65]);
        let Ok(Some(MediaFrame::Video(v))) = parse_video_tag(1000, &body) else {
            panic!("expected a video frame");
        };
        assert!(v.keyframe);
        assert_eq!(v.composition_offset, -2);
        assert_eq!(v.pts(), 998);
        assert_eq!(&v.data[..], &[0, 0, 0, 1, 0x65]);
    }

    #[test]
    fn video_sequence_header() {
        let mut body = vec![0x17, 0x00, 0, 0, 0];
        body.extend_from_slice(crate::media::avc::tests::RECORD);
        assert!(matches!(
            parse_video_tag(0, &Bytes::from(body)),
            Ok(Some(MediaFrame::VideoConfig(_)))
        ));
    }

    #[test]
    fn audio_tags() {
        assert!(matches!(
            parse_audio_tag(0, &Bytes::from_static(&[0xaf, 0x00, 0x12, 0x10])),
            Ok(Some(MediaFrame::AudioConfig(_)))
        ));
        let Ok(Some(MediaFrame::Audio(a))) =
            parse_audio_tag(23, &Bytes::from_static(&[0xaf, 0x01, 0x21, 0x42]))
        else {
            panic!("expected audio");
        };
        assert_eq!((a.dts, &a.data[..]), (23, &[0x21u8, 0x42][..]));
        assert_eq!(
            parse_audio_tag(0, &Bytes::from_static(&[0x2f, 0x01])),
            Err(MediaError::UnsupportedCodec {
                kind: "audio",
                codec_id: 2
            })
        );
    }

    #[test]
    fn reader_walks_tags_and_reports_truncation() {
        let mut file = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        // One audio tag, 2-byte body, timestamp 0x01020304 (extended byte 0x01).
        file.extend_from_slice(&[
            8, 0, 0, 2, 0x02, 0x03, 0x04, 0x01, 0, 0, 0, 0xaf, 0x01, 0, 0, 0, 13,
        ]);
        let tags: Vec<_> = FlvReader::new(Bytes::from(file.clone()))
            .expect("header")
            .collect();
        assert_eq!(tags.len(), 1);
        let tag = tags[0].as_ref().expect("tag");
        assert_eq!((tag.kind, tag.timestamp), (FlvTagKind::Audio, 0x0102_0304));

        file.extend_from_slice(&[9, 0, 1, 0]);
        let last = FlvReader::new(Bytes::from(file)).expect("header").last();
        assert!(matches!(last, Some(Err(MediaError::Truncated { .. }))));
        assert!(FlvReader::new(Bytes::from_static(b"GIF89a")).is_err());
    }

    proptest! {
        #[test]
        fn tag_parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64), ts in any::<u32>()) {
            let body = Bytes::from(data);
            let _ = parse_video_tag(ts, &body);
            let _ = parse_audio_tag(ts, &body);
        }

        #[test]
        fn reader_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut file = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
            file.extend_from_slice(&data);
            if let Ok(reader) = FlvReader::new(Bytes::from(file)) {
                for _ in reader {}
            }
        }
    }
}
