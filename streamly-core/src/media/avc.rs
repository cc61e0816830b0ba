//! AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.2.4.1).

use bytes::Bytes;
use h264_reader::nal::sps::SeqParameterSet;
use h264_reader::rbsp::{BitReader, ByteReader};

use super::MediaError;
use super::error::take;

const WHAT: &str = "AVCDecoderConfigurationRecord";

/// H.264 decoder configuration, from the FLV/RTMP AVC sequence header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// The record as received (for containers that embed it whole).
    pub record: Bytes,
    /// `AVCProfileIndication` (100 = High).
    pub profile: u8,
    /// `profile_compatibility` flags.
    pub compatibility: u8,
    /// `AVCLevelIndication` (31 = 3.1).
    pub level: u8,
    /// Bytes in each NAL unit length prefix (1, 2 or 4).
    pub nal_length_size: u8,
    /// Sequence parameter sets (NAL units without start code or length).
    pub sps: Vec<Bytes>,
    /// Picture parameter sets.
    pub pps: Vec<Bytes>,
    /// Picture size from the first SPS, when it could be decoded.
    pub dimensions: Option<(u32, u32)>,
}

impl AvcConfig {
    /// Parses a record; `record` is kept and the parameter sets point into it.
    pub fn parse(record: Bytes) -> Result<Self, MediaError> {
        let head = take(WHAT, &record, 6)?;
        if head[0] != 1 {
            return Err(MediaError::invalid(
                WHAT,
                format!("version {} (expected 1)", head[0]),
            ));
        }
        let (profile, compatibility, level) = (head[1], head[2], head[3]);
        let nal_length_size = (head[4] & 0b11) + 1;
        if nal_length_size == 3 {
            return Err(MediaError::invalid(WHAT, "NAL length size 3 is not allowed"));
        }
        let sps_count = usize::from(head[5] & 0b1_1111);
        let mut pos = 6;
        let sps = read_param_sets(&record, &mut pos, sps_count)?;
        let pps_count = usize::from(take(WHAT, record.get(pos..).unwrap_or_default(), 1)?[0]);
        pos += 1;
        let pps = read_param_sets(&record, &mut pos, pps_count)?;
        if sps.is_empty() || pps.is_empty() {
            return Err(MediaError::invalid(WHAT, "needs at least one SPS and one PPS"));
        }
        let dimensions = sps
            .first()
            .and_then(|s| decode_sps(s))
            .and_then(|s| s.pixel_dimensions().ok());
        Ok(Self {
            record,
            profile,
            compatibility,
            level,
            nal_length_size,
            sps,
            pps,
            dimensions,
        })
    }

    /// The RFC 6381 codec string for HLS `CODECS` (`avc1.64001f`).
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile, self.compatibility, self.level
        )
    }
}

fn decode_sps(sps: &[u8]) -> Option<SeqParameterSet> {
    SeqParameterSet::from_bits(BitReader::new(ByteReader::skipping_h264_header(sps))).ok()
}

fn read_param_sets(record: &Bytes, pos: &mut usize, count: usize) -> Result<Vec<Bytes>, MediaError> {
    let mut sets = Vec::with_capacity(count);
    for _ in 0..count {
        let rest = record.get(*pos..).unwrap_or_default();
        let len_bytes = take(WHAT, rest, 2)?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        if len == 0 {
            return Err(MediaError::invalid(WHAT, "empty parameter set"));
        }
        take(WHAT, &rest[2..], len)?;
        sets.push(record.slice(*pos + 2..*pos + 2 + len));
        *pos += 2 + len;
    }
    Ok(sets)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The record of `testdata/av.flv` (x264 High, 320x240), with the
    /// High-profile chroma/bit-depth extension bytes at the end.
    pub(crate) const RECORD: &[u8] = &[
        0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb,
        0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60, 0x01,
        0x00, 0x04, 0x68, 0xef, 0xbc, 0xb0, 0xfd, 0xf8, 0xf8, 0x00,
    ];

    #[test]
    fn parses_a_real_record() {
        let c = AvcConfig::parse(Bytes::from_static(RECORD)).expect("parses");
        assert_eq!(c.profile, 100);
        assert_eq!(c.nal_length_size, 4);
        assert_eq!(c.sps.len(), 1);
        assert_eq!(c.pps.len(), 1);
        assert_eq!(c.sps[0][0] & 0x1f, 7);
        assert_eq!(c.pps[0][0] & 0x1f, 8);
        assert_eq!(c.dimensions, Some((320, 240)));
        assert_eq!(c.codec_string(), "avc1.64000d");
    }

    #[test]
    fn truncations_are_errors() {
        // The last 4 bytes are the optional High-profile extension.
        for n in 0..RECORD.len() - 4 {
            assert!(
                AvcConfig::parse(Bytes::copy_from_slice(&RECORD[..n])).is_err(),
                "prefix {n}"
            );
        }
    }

    /// A well-formed record around `sps` (a NAL header byte, then `sps`).
    fn record_with_sps(sps: &[u8]) -> Bytes {
        let mut r = vec![0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1];
        r.extend_from_slice(&((sps.len() + 1) as u16).to_be_bytes());
        r.push(0x67);
        r.extend_from_slice(sps);
        r.extend_from_slice(&[0x01, 0x00, 0x04, 0x68, 0xef, 0xbc, 0xb0]);
        Bytes::from(r)
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = AvcConfig::parse(Bytes::from(data));
        }

        /// The SPS reader behind `dimensions` (what the health report
        /// shows) on garbage inside an otherwise valid record: no panic,
        /// and the record still parses (the size is then `None` or
        /// whatever the garbage says).
        #[test]
        fn garbage_sps_never_panics(sps in proptest::collection::vec(any::<u8>(), 0..96)) {
            prop_assert!(AvcConfig::parse(record_with_sps(&sps)).is_ok());
        }
    }

    #[test]
    fn truncated_sps_has_no_dimensions() {
        // The fixture's SPS cut after its profile and level bytes.
        let c = AvcConfig::parse(record_with_sps(&RECORD[9..12])).expect("parses");
        assert_eq!(c.dimensions, None);
    }
}
