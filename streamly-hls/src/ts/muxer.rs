//! The MPEG-TS muxer: H.264 access units (AVCC) and raw AAC frames in,
//! 188-byte packets out (ISO/IEC 13818-1; H.264 carriage per §2.14, Annex B
//! byte stream per ITU-T H.264 annex B; ADTS per ISO/IEC 13818-7 §6.2).
//!
//! Sans-IO and allocation-free in steady state: every call appends to the
//! caller's buffer, and the per-frame list of pieces is a reused `Vec`.

use std::sync::Arc;

use streamly_core::media::{AacConfig, AudioFrame, AvcConfig, VideoFrame};

use super::packet::{PES_HEADER_MAX, PesStart, pes_header, write_pes};
use super::psi::{AUDIO_PID, VIDEO_PID, write_pat, write_pmt};
use crate::error::MuxError;

/// Decode timestamps are shifted by this much (90 kHz units, 0.7 s) so that
/// the PCR, which equals the un-shifted DTS, always precedes decoding.
pub const PTS_OFFSET_90K: u64 = 63_000;
const START_CODE: [u8; 4] = [0, 0, 0, 1];
const AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xf0];
const NAL_AUD: u8 = 9;
const NAL_SPS: u8 = 7;
const ADTS_HEADER_LEN: usize = 7;
const STREAM_ID_VIDEO: u8 = 0xe0;
const STREAM_ID_AUDIO: u8 = 0xc0;

/// One piece of a PES packet's bytes, resolved against the frame at hand.
#[derive(Debug, Clone, Copy)]
enum Piece {
    /// The first `n` bytes of the scratch header (PES header, AUD or ADTS).
    Header(usize),
    StartCode,
    Sps(usize),
    Pps(usize),
    /// A byte range of the frame's data.
    Data(usize, usize),
}

/// Milliseconds (unwrapped) to a 90 kHz PTS/DTS, shifted by [`PTS_OFFSET_90K`].
pub fn ms_to_90k(ms: i64) -> u64 {
    (ms.saturating_mul(90).saturating_add(PTS_OFFSET_90K as i64)).max(0) as u64
}

/// Writes PAT, PMT, video and audio PES packets with continuity counters.
#[derive(Debug, Default)]
pub struct TsMuxer {
    video: Option<Arc<AvcConfig>>,
    audio: Option<Arc<AacConfig>>,
    /// Which streams the last PMT announced.
    program: (bool, bool),
    pmt_version: u8,
    cc_pat: u8,
    cc_pmt: u8,
    cc_video: u8,
    cc_audio: u8,
    pieces: Vec<Piece>,
    header: [u8; PES_HEADER_MAX + AUD.len()],
}

impl TsMuxer {
    /// A muxer with no codec configuration yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the H.264 configuration whose SPS/PPS precede each IDR.
    pub fn set_video_config(&mut self, config: Arc<AvcConfig>) {
        self.video = Some(config);
    }

    /// Sets the AAC configuration the ADTS headers are built from.
    pub fn set_audio_config(&mut self, config: Arc<AacConfig>) {
        self.audio = Some(config);
    }

    /// The current H.264 configuration.
    pub fn video_config(&self) -> Option<&Arc<AvcConfig>> {
        self.video.as_ref()
    }

    /// The current AAC configuration.
    pub fn audio_config(&self) -> Option<&Arc<AacConfig>> {
        self.audio.as_ref()
    }

    /// Writes PAT and PMT announcing the given streams (at a segment start).
    /// The PMT version changes whenever the set of streams does.
    pub fn write_tables(&mut self, out: &mut Vec<u8>, video: bool, audio: bool) {
        if self.program != (video, audio) {
            if self.program != (false, false) {
                self.pmt_version = (self.pmt_version + 1) & 0x1f;
            }
            self.program = (video, audio);
        }
        write_pat(out, &mut self.cc_pat);
        write_pmt(out, &mut self.cc_pmt, self.pmt_version, video, audio);
    }

    /// Writes one access unit as Annex B: an access unit delimiter, SPS and
    /// PPS before an IDR (unless the frame carries its own SPS), then the NAL
    /// units with start codes. `dts_ms` is the unwrapped decode time. The
    /// first packet carries the PCR and, on keyframes, the random access
    /// indicator.
    pub fn write_video(
        &mut self,
        out: &mut Vec<u8>,
        frame: &VideoFrame,
        dts_ms: i64,
    ) -> Result<(), MuxError> {
        let config = self.video.clone().ok_or(MuxError::NoVideoConfig)?;
        let len_size = usize::from(config.nal_length_size);
        let data = &frame.data[..];

        // Pass 1: split the AVCC payload into pieces and size the access unit.
        self.pieces.clear();
        let mut es_len = AUD.len();
        let mut has_sps = false;
        let mut pos = 0;
        while pos < data.len() {
            let Some(prefix) = data.get(pos..pos + len_size) else {
                return Err(MuxError::BadNalLength {
                    dts: frame.dts,
                    at: pos,
                });
            };
            let nal_len = prefix.iter().fold(0usize, |n, &b| n << 8 | usize::from(b));
            let start = pos + len_size;
            let end =
                start
                    .checked_add(nal_len)
                    .filter(|&e| e <= data.len())
                    .ok_or(MuxError::BadNalLength {
                        dts: frame.dts,
                        at: pos,
                    })?;
            pos = end;
            if nal_len == 0 {
                continue;
            }
            match data[start] & 0x1f {
                NAL_AUD => continue,
                NAL_SPS => has_sps = true,
                _ => {}
            }
            self.pieces.push(Piece::StartCode);
            self.pieces.push(Piece::Data(start, end));
            es_len += START_CODE.len() + nal_len;
        }
        let insert_params = frame.keyframe && !has_sps;
        if insert_params {
            es_len += config
                .sps
                .iter()
                .chain(&config.pps)
                .map(|p| START_CODE.len() + p.len())
                .sum::<usize>();
        }

        let dts = ms_to_90k(dts_ms);
        let pts = ms_to_90k(dts_ms + i64::from(frame.composition_offset)).max(dts);
        let mut header = [0u8; PES_HEADER_MAX];
        let header_len = pes_header(
            &mut header,
            STREAM_ID_VIDEO,
            pts,
            (pts != dts).then_some(dts),
            es_len,
        );
        self.header[..header_len].copy_from_slice(&header[..header_len]);
        self.header[header_len..header_len + AUD.len()].copy_from_slice(&AUD);
        let scratch_len = header_len + AUD.len();

        // The parameter sets go between the AUD and the NAL units.
        let nals = self.pieces.len();
        if insert_params {
            for i in 0..config.sps.len() {
                self.pieces.push(Piece::StartCode);
                self.pieces.push(Piece::Sps(i));
            }
            for i in 0..config.pps.len() {
                self.pieces.push(Piece::StartCode);
                self.pieces.push(Piece::Pps(i));
            }
            let params = self.pieces.len() - nals;
            self.pieces.rotate_right(params);
        }
        self.pieces.insert(0, Piece::Header(scratch_len));

        let start = PesStart {
            pcr: Some(dts.saturating_sub(PTS_OFFSET_90K) * 300),
            random_access: frame.keyframe,
        };
        let (pieces, scratch) = (&self.pieces, &self.header);
        write_pes(
            out,
            VIDEO_PID,
            &mut self.cc_video,
            start,
            header_len + es_len,
            |i| {
                Some(match *pieces.get(i)? {
                    Piece::Header(n) => &scratch[..n],
                    Piece::StartCode => &START_CODE[..],
                    Piece::Sps(k) => &config.sps[k][..],
                    Piece::Pps(k) => &config.pps[k][..],
                    Piece::Data(s, e) => &data[s..e],
                })
            },
        );
        Ok(())
    }

    /// Writes one raw AAC frame with an ADTS header. When the program has no
    /// video the first packet carries the PCR; `random_access` marks a
    /// segment start.
    pub fn write_audio(
        &mut self,
        out: &mut Vec<u8>,
        frame: &AudioFrame,
        dts_ms: i64,
        random_access: bool,
    ) -> Result<(), MuxError> {
        let config = self.audio.as_ref().ok_or(MuxError::NoAudioConfig)?;
        let frame_len = ADTS_HEADER_LEN + frame.data.len();
        if frame_len > 0x1fff {
            return Err(MuxError::AudioFrameTooLong {
                dts: frame.dts,
                len: frame.data.len(),
            });
        }
        let adts = adts_header(config, frame_len)?;
        let pts = ms_to_90k(dts_ms);
        let mut header = [0u8; PES_HEADER_MAX];
        let header_len = pes_header(&mut header, STREAM_ID_AUDIO, pts, None, frame_len);
        self.header[..header_len].copy_from_slice(&header[..header_len]);
        self.header[header_len..header_len + ADTS_HEADER_LEN].copy_from_slice(&adts);
        let scratch_len = header_len + ADTS_HEADER_LEN;

        let pcr = (!self.program.0).then(|| pts.saturating_sub(PTS_OFFSET_90K) * 300);
        let start = PesStart {
            pcr,
            random_access: random_access && !self.program.0,
        };
        let (scratch, data) = (&self.header, &frame.data[..]);
        write_pes(
            out,
            AUDIO_PID,
            &mut self.cc_audio,
            start,
            scratch_len + data.len(),
            |i| match i {
                0 => Some(&scratch[..scratch_len]),
                1 => Some(data),
                _ => None,
            },
        );
        Ok(())
    }
}

/// The 7-byte ADTS header (no CRC) for a frame of `frame_len` bytes,
/// header included.
pub(crate) fn adts_header(config: &AacConfig, frame_len: usize) -> Result<[u8; ADTS_HEADER_LEN], MuxError> {
    let frequency = config.frequency_index.ok_or(MuxError::AdtsUnrepresentable {
        reason: "the sampling frequency has no ADTS index",
    })?;
    // ADTS has 2 bits of profile (object type − 1): Main, LC, SSR, LTP. For
    // SBR (5) and PS (29), HE-AAC, the core is LC, which is what ADTS
    // signals (implicit SBR; the frequency index is the core's). Any other
    // object type cannot be framed in ADTS.
    let profile = match config.object_type {
        1..=4 => config.object_type - 1,
        5 | 29 => 1,
        _ => {
            return Err(MuxError::AdtsUnrepresentable {
                reason: "the audio object type has no ADTS profile",
            });
        }
    };
    // 0 means "defined in a program config element", which a bare ADTS
    // header without one leaves undecodable.
    let channels = config.channel_config;
    if channels == 0 {
        return Err(MuxError::AdtsUnrepresentable {
            reason: "channel configuration 0 (in-band PCE)",
        });
    }
    let len = frame_len as u16;
    Ok([
        0xff,
        0xf1, // MPEG-4, layer 0, no CRC
        (profile << 6) | ((frequency & 0x0f) << 2) | ((channels >> 2) & 1),
        ((channels & 3) << 6) | ((len >> 11) as u8 & 0x03),
        (len >> 3) as u8,
        ((len as u8 & 0x07) << 5) | 0x1f,
        0xfc, // buffer fullness 0x7FF (VBR), one raw data block
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn adts_refuses_what_it_cannot_express() {
        // Object type 23 (ER AAC LD), 44.1 kHz, stereo.
        let ld = AacConfig::parse(Bytes::from_static(&[0xba, 0x10])).expect("config");
        assert_eq!(ld.object_type, 23);
        assert!(matches!(
            adts_header(&ld, 100),
            Err(MuxError::AdtsUnrepresentable { .. })
        ));
        // LC, 44.1 kHz, channel configuration 0.
        let pce = AacConfig::parse(Bytes::from_static(&[0x12, 0x00])).expect("config");
        assert_eq!(pce.channel_config, 0);
        assert!(matches!(
            adts_header(&pce, 100),
            Err(MuxError::AdtsUnrepresentable { .. })
        ));
        // HE-AAC (SBR, 5) is framed as its LC core.
        let he = AacConfig::parse(Bytes::from_static(&[0x2b, 0x91, 0x88, 0x00])).expect("config");
        assert_eq!(he.object_type, 5);
        assert_eq!(adts_header(&he, 100).expect("LC core")[2] >> 6, 1);
    }

    #[test]
    fn adts_for_lc_44100_stereo() {
        let config = AacConfig::parse(Bytes::from_static(&[0x12, 0x10])).expect("config");
        let h = adts_header(&config, 7 + 300).expect("adts");
        assert_eq!(h[0..2], [0xff, 0xf1]);
        assert_eq!(h[2], 0b0101_0000, "LC, 44.1 kHz");
        let len = (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        assert_eq!(len, 307);
        assert_eq!(h[3] >> 6, 2, "channels");
    }

    /// An x264 record (320x240 High) with `lengthSizeMinusOne` set to 1.
    const RECORD_LEN2: &[u8] = &[
        0x01, 0x64, 0x00, 0x0d, 0xfd, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb,
        0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60, 0x01,
        0x00, 0x04, 0x68, 0xef, 0xbc, 0xb0,
    ];

    /// The elementary stream bytes of the PES packets in `ts` (one PID).
    fn es_payload(ts: &[u8]) -> Vec<u8> {
        let mut pes = Vec::new();
        for p in ts.chunks(188) {
            let start = if p[3] & 0x20 != 0 {
                5 + usize::from(p[4])
            } else {
                4
            };
            pes.extend_from_slice(&p[start..]);
        }
        pes[9 + usize::from(pes[8])..].to_vec()
    }

    fn video(keyframe: bool, data: &'static [u8]) -> VideoFrame {
        VideoFrame {
            dts: 0,
            composition_offset: 40,
            keyframe,
            data: Bytes::from_static(data),
        }
    }

    #[test]
    fn avcc_with_two_byte_lengths_becomes_annex_b() {
        let mut m = TsMuxer::new();
        let config = Arc::new(AvcConfig::parse(Bytes::from_static(RECORD_LEN2)).expect("config"));
        assert_eq!(config.nal_length_size, 2);
        m.set_video_config(config.clone());
        let mut out = Vec::new();
        // An AUD (dropped: we write our own), an IDR slice of 3 bytes.
        m.write_video(
            &mut out,
            &video(true, &[0, 2, 0x09, 0xf0, 0, 3, 0x65, 0xaa, 0xbb]),
            0,
        )
        .expect("mux");
        let mut expected = vec![0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1];
        expected.extend_from_slice(&config.sps[0]);
        expected.extend_from_slice(&[0, 0, 0, 1]);
        expected.extend_from_slice(&config.pps[0]);
        expected.extend_from_slice(&[0, 0, 0, 1, 0x65, 0xaa, 0xbb]);
        assert_eq!(es_payload(&out), expected);

        // In-band SPS: no second copy. Non-keyframe: none at all.
        let mut out = Vec::new();
        m.write_video(&mut out, &video(true, &[0, 2, 0x67, 0x64, 0, 2, 0x65, 0x01]), 0)
            .expect("mux");
        assert_eq!(
            es_payload(&out),
            [
                0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x67, 0x64, 0, 0, 0, 1, 0x65, 0x01
            ]
        );
        let mut out = Vec::new();
        m.write_video(&mut out, &video(false, &[0, 2, 0x41, 0x02]), 0)
            .expect("mux");
        assert_eq!(es_payload(&out), [0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x41, 0x02]);
    }

    #[test]
    fn truncated_nal_lengths_are_errors() {
        let mut m = TsMuxer::new();
        m.set_video_config(Arc::new(
            AvcConfig::parse(Bytes::from_static(RECORD_LEN2)).expect("config"),
        ));
        let mut out = Vec::new();
        for bad in [&[0, 9, 0x65][..], &[0][..], &[0, 1, 0x65, 0][..]] {
            let frame = VideoFrame {
                dts: 7,
                composition_offset: 0,
                keyframe: false,
                data: Bytes::copy_from_slice(bad),
            };
            assert!(matches!(
                m.write_video(&mut out, &frame, 0),
                Err(MuxError::BadNalLength { dts: 7, .. })
            ));
        }
        assert!(out.is_empty(), "nothing written for a refused frame");
    }

    #[test]
    fn timestamps_are_offset() {
        assert_eq!(ms_to_90k(0), PTS_OFFSET_90K);
        assert_eq!(ms_to_90k(1000), 90_000 + PTS_OFFSET_90K);
        assert_eq!(ms_to_90k(-10_000), 0);
    }
}
