//! Program-specific information (ISO/IEC 13818-1 §2.4.4): the program
//! association table and the program map table, one packet each.

use super::crc::crc32_mpeg2;
use super::packet::{SYNC_BYTE, TS_PACKET_SIZE};

/// PID of the program association table.
pub const PAT_PID: u16 = 0x0000;
/// PID of our program map table.
pub const PMT_PID: u16 = 0x1000;
/// PID of the H.264 elementary stream.
pub const VIDEO_PID: u16 = 0x0100;
/// PID of the AAC elementary stream.
pub const AUDIO_PID: u16 = 0x0101;
/// Stream type of H.264 video (§2.4.4.9, table 2-34).
pub const STREAM_TYPE_H264: u8 = 0x1b;
/// Stream type of AAC audio in ADTS framing.
pub const STREAM_TYPE_AAC_ADTS: u8 = 0x0f;
const PROGRAM_NUMBER: u16 = 1;

/// Writes a packet holding one PSI section (which must fit in 183 bytes).
fn write_section(out: &mut Vec<u8>, pid: u16, cc: &mut u8, section: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[
        SYNC_BYTE,
        0x40 | ((pid >> 8) as u8 & 0x1f),
        pid as u8,
        0x10 | (*cc & 0x0f),
        0, // pointer_field
    ]);
    *cc = cc.wrapping_add(1) & 0x0f;
    out.extend_from_slice(section);
    out.extend_from_slice(&crc32_mpeg2(section).to_be_bytes());
    out.resize(start + TS_PACKET_SIZE, 0xff);
}

/// Writes the PAT: program 1 at [`PMT_PID`].
pub(crate) fn write_pat(out: &mut Vec<u8>, cc: &mut u8) {
    let section_length: u16 = 5 + 4 + 4;
    let section = [
        0x00,
        0xb0 | (section_length >> 8) as u8,
        section_length as u8,
        0x00,
        0x01, // transport_stream_id
        0xc1, // version 0, current
        0x00,
        0x00,
        (PROGRAM_NUMBER >> 8) as u8,
        PROGRAM_NUMBER as u8,
        0xe0 | (PMT_PID >> 8) as u8,
        PMT_PID as u8,
    ];
    write_section(out, PAT_PID, cc, &section);
}

/// Writes the PMT listing video and/or audio, with the PCR on the video PID
/// when there is video, else on the audio PID.
pub(crate) fn write_pmt(out: &mut Vec<u8>, cc: &mut u8, version: u8, video: bool, audio: bool) {
    let mut section = [0u8; 32];
    let pcr_pid = if video { VIDEO_PID } else { AUDIO_PID };
    let mut len = 12;
    section[..12].copy_from_slice(&[
        0x02,
        0,
        0,
        (PROGRAM_NUMBER >> 8) as u8,
        PROGRAM_NUMBER as u8,
        0xc1 | ((version & 0x1f) << 1),
        0x00,
        0x00,
        0xe0 | (pcr_pid >> 8) as u8,
        pcr_pid as u8,
        0xf0,
        0x00,
    ]);
    for (present, stream_type, pid) in [
        (video, STREAM_TYPE_H264, VIDEO_PID),
        (audio, STREAM_TYPE_AAC_ADTS, AUDIO_PID),
    ] {
        if present {
            section[len..len + 5].copy_from_slice(&[
                stream_type,
                0xe0 | (pid >> 8) as u8,
                pid as u8,
                0xf0,
                0,
            ]);
            len += 5;
        }
    }
    // section_length counts what follows it, CRC included.
    let section_length = (len - 3 + 4) as u16;
    section[1] = 0xb0 | (section_length >> 8) as u8;
    section[2] = section_length as u8;
    write_section(out, PMT_PID, cc, &section[..len]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_one_packet_with_valid_crc() {
        let mut out = Vec::new();
        let (mut a, mut b) = (0, 0);
        write_pat(&mut out, &mut a);
        write_pmt(&mut out, &mut b, 0, true, true);
        assert_eq!(out.len(), 2 * TS_PACKET_SIZE);
        for p in out.chunks(TS_PACKET_SIZE) {
            let len = usize::from(u16::from_be_bytes([p[6], p[7]]) & 0x0fff);
            assert_eq!(crc32_mpeg2(&p[5..5 + 3 + len]), 0);
        }
        assert_eq!((a, b), (1, 1));
    }
}
