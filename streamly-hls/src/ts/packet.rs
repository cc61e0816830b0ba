//! Transport stream packets (ISO/IEC 13818-1 §2.4.3.2 header, §2.4.3.4
//! adaptation field) and PES headers (§2.4.3.6), written into a caller's
//! buffer.
//!
//! [`write_pes`] copies each payload byte exactly once, from the caller's
//! pieces straight into the output, so a frame costs one `memcpy` per
//! 184-byte packet and no allocation once the output has grown.

/// Size of a transport stream packet.
pub const TS_PACKET_SIZE: usize = 188;
/// The sync byte that starts every packet.
pub const SYNC_BYTE: u8 = 0x47;
const PAYLOAD_MAX: usize = TS_PACKET_SIZE - 4;
const PCR_LEN: usize = 6;

/// Options for the first packet of a PES packet.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PesStart {
    /// Program clock reference to carry, in 27 MHz units.
    pub pcr: Option<u64>,
    /// Set the random access indicator (a keyframe starts here).
    pub random_access: bool,
}

/// Writes one PES packet, whose bytes are the concatenation of `pieces`
/// (`total` bytes in all, PES header included), as TS packets on `pid`.
///
/// The last packet is padded with adaptation-field stuffing, never with
/// payload bytes.
pub(crate) fn write_pes<'a, F>(
    out: &mut Vec<u8>,
    pid: u16,
    cc: &mut u8,
    start: PesStart,
    total: usize,
    piece: F,
) where
    F: Fn(usize) -> Option<&'a [u8]>,
{
    let flags_len = if start.pcr.is_some() || start.random_access {
        1 + if start.pcr.is_some() { PCR_LEN } else { 0 }
    } else {
        0
    };
    let packets = (total + flags_len + 1).div_ceil(PAYLOAD_MAX).max(1);
    out.reserve(packets * TS_PACKET_SIZE);

    let mut remaining = total;
    let (mut index, mut offset) = (0usize, 0usize);
    let mut first = true;
    while remaining > 0 || first {
        // Adaptation field bytes this packet needs before stuffing: the
        // length byte plus flags (and PCR) on the first packet.
        let wanted = if first && flags_len > 0 { 1 + flags_len } else { 0 };
        let (payload, af_total) = if remaining + wanted >= PAYLOAD_MAX {
            (PAYLOAD_MAX - wanted, wanted)
        } else {
            (remaining, PAYLOAD_MAX - remaining)
        };
        let control = if af_total > 0 { 0x30 } else { 0x10 };
        out.extend_from_slice(&[
            SYNC_BYTE,
            (u8::from(first) << 6) | ((pid >> 8) as u8 & 0x1f),
            pid as u8,
            control | (*cc & 0x0f),
        ]);
        *cc = cc.wrapping_add(1) & 0x0f;
        if af_total > 0 {
            write_adaptation_field(out, af_total, if first { start } else { PesStart::default() });
        }
        // Copy `payload` bytes from the pieces.
        let mut need = payload;
        while need > 0 {
            let Some(src) = piece(index) else {
                // Pieces shorter than `total`: a bug in the caller. Keep the
                // packet well-formed rather than loop.
                debug_assert!(false, "PES pieces shorter than announced");
                out.resize(out.len() + need, 0xff);
                break;
            };
            let take = (src.len() - offset).min(need);
            out.extend_from_slice(&src[offset..offset + take]);
            need -= take;
            offset += take;
            if offset == src.len() {
                index += 1;
                offset = 0;
            }
        }
        remaining -= payload;
        first = false;
    }
}

/// Writes an adaptation field of exactly `total` bytes (length byte
/// included), with `start`'s flags, padded with 0xFF stuffing.
fn write_adaptation_field(out: &mut Vec<u8>, total: usize, start: PesStart) {
    out.push((total - 1) as u8);
    if total == 1 {
        return;
    }
    let mut flags = 0u8;
    if start.random_access {
        flags |= 0x40;
    }
    if start.pcr.is_some() {
        flags |= 0x10;
    }
    out.push(flags);
    let mut used = 2;
    if let Some(pcr) = start.pcr {
        out.extend_from_slice(&encode_pcr(pcr));
        used += PCR_LEN;
    }
    out.resize(out.len() + (total - used), 0xff);
}

/// The 6-byte PCR field: 33-bit base (90 kHz) and 9-bit extension.
pub(crate) fn encode_pcr(pcr_27mhz: u64) -> [u8; 6] {
    let base = (pcr_27mhz / 300) & 0x1_FFFF_FFFF;
    let ext = (pcr_27mhz % 300) as u16;
    [
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        ((base as u8 & 1) << 7) | 0x7e | (ext >> 8) as u8,
        ext as u8,
    ]
}

/// Writes a 5-byte PTS or DTS field with the 4-bit `prefix`.
fn encode_timestamp(prefix: u8, ts: u64) -> [u8; 5] {
    let ts = ts & 0x1_FFFF_FFFF;
    [
        (prefix << 4) | ((ts >> 29) as u8 & 0x0e) | 1,
        (ts >> 22) as u8,
        ((ts >> 14) as u8 & 0xfe) | 1,
        (ts >> 7) as u8,
        ((ts << 1) as u8 & 0xfe) | 1,
    ]
}

/// Longest PES header [`pes_header`] writes.
pub(crate) const PES_HEADER_MAX: usize = 19;

/// Writes a PES header into `buf` and returns its length. `payload_len`
/// is the elementary stream bytes that follow; a PES packet too long for
/// the 16-bit length field gets length 0 (unbounded, allowed for video).
pub(crate) fn pes_header(
    buf: &mut [u8],
    stream_id: u8,
    pts: u64,
    dts: Option<u64>,
    payload_len: usize,
) -> usize {
    let header_data = if dts.is_some() { 10 } else { 5 };
    let pes_len = 3 + header_data + payload_len;
    let pes_len = if pes_len > usize::from(u16::MAX) {
        0
    } else {
        pes_len as u16
    };
    buf[..9].copy_from_slice(&[
        0,
        0,
        1,
        stream_id,
        (pes_len >> 8) as u8,
        pes_len as u8,
        0x80,
        if dts.is_some() { 0xc0 } else { 0x80 },
        header_data as u8,
    ]);
    match dts {
        Some(dts) => {
            buf[9..14].copy_from_slice(&encode_timestamp(0b0011, pts));
            buf[14..19].copy_from_slice(&encode_timestamp(0b0001, dts));
        }
        None => buf[9..14].copy_from_slice(&encode_timestamp(0b0010, pts)),
    }
    9 + header_data
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(total: usize, start: PesStart) -> Vec<u8> {
        let data: Vec<u8> = (0..total).map(|i| i as u8).collect();
        let mut out = Vec::new();
        let mut cc = 15;
        write_pes(&mut out, 0x100, &mut cc, start, total, |i| {
            (i == 0).then_some(&data[..])
        });
        assert_eq!(out.len() % TS_PACKET_SIZE, 0);
        // Reassemble the payload.
        let mut payload = Vec::new();
        for p in out.chunks(TS_PACKET_SIZE) {
            assert_eq!(p[0], SYNC_BYTE);
            let mut pos = 4;
            if p[3] & 0x20 != 0 {
                pos += 1 + usize::from(p[4]);
            }
            payload.extend_from_slice(&p[pos..]);
        }
        assert_eq!(payload, data);
        out
    }

    #[test]
    fn every_size_round_trips() {
        for total in 1..600 {
            packets(total, PesStart::default());
            packets(
                total,
                PesStart {
                    pcr: Some(123_456_789),
                    random_access: true,
                },
            );
            packets(
                total,
                PesStart {
                    pcr: None,
                    random_access: true,
                },
            );
        }
    }

    #[test]
    fn pcr_and_random_access_in_first_packet() {
        let out = packets(
            400,
            PesStart {
                pcr: Some(27_000_000),
                random_access: true,
            },
        );
        assert_eq!(out[1] & 0x40, 0x40, "payload unit start");
        assert_eq!(out[3] & 0x30, 0x30);
        assert_eq!(out[5], 0x50);
        assert_eq!(&out[6..12], &encode_pcr(27_000_000));
        // Continuity counter wraps from 15 to 0, 1, 2.
        let ccs: Vec<u8> = out.chunks(188).map(|p| p[3] & 0x0f).collect();
        assert_eq!(ccs, vec![15, 0, 1]);
    }

    #[test]
    fn timestamps_encode() {
        let mut buf = [0u8; PES_HEADER_MAX];
        assert_eq!(pes_header(&mut buf, 0xe0, 0x1_2345_6789, Some(90_000), 10), 19);
        assert_eq!(&buf[..9], &[0, 0, 1, 0xe0, 0, 23, 0x80, 0xc0, 10]);
        let decode = |b: &[u8]| {
            (u64::from(b[0] >> 1) & 7) << 30
                | u64::from(b[1]) << 22
                | u64::from(b[2] >> 1) << 15
                | u64::from(b[3]) << 7
                | u64::from(b[4] >> 1)
        };
        assert_eq!(decode(&buf[9..14]), 0x1_2345_6789);
        assert_eq!(decode(&buf[14..19]), 90_000);
        assert_eq!(buf[9] >> 4, 3);
        assert_eq!(pes_header(&mut buf, 0xc0, 5, None, 100_000), 14);
        assert_eq!(&buf[4..6], &[0, 0], "too long: unbounded");
    }
}
