//! Writing ISOBMFF boxes (ISO/IEC 14496-12 §4.2): a 32-bit size, a
//! four-character type, then the body; a full box adds an 8-bit version and
//! 24-bit flags. The size is written as a placeholder and patched once the
//! body (which may nest further boxes) is written.

use bytes::{BufMut, BytesMut};

/// The 3×3 unity transformation matrix of `mvhd` and `tkhd` (§8.2.2, §8.3.2),
/// 16.16 fixed point except the last column (2.30).
pub(super) const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// Bytes of a plain box header (size + type).
pub(super) const BOX_HEADER: usize = 8;
/// Bytes of a full box header (size + type + version + flags).
pub(super) const FULL_BOX_HEADER: usize = 12;

/// Writes a box of type `fourcc` whose body is what `body` appends.
pub(super) fn write_box(buf: &mut BytesMut, fourcc: &[u8; 4], body: impl FnOnce(&mut BytesMut)) {
    let start = buf.len();
    buf.put_u32(0);
    buf.put_slice(fourcc);
    body(buf);
    patch_size(buf, start);
}

/// Writes a full box: `version` and the low 24 bits of `flags` precede the body.
pub(super) fn write_full_box(
    buf: &mut BytesMut,
    fourcc: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut BytesMut),
) {
    write_box(buf, fourcc, |buf| {
        buf.put_u32(u32::from(version) << 24 | (flags & 0x00ff_ffff));
        body(buf);
    });
}

/// Writes `n` zero bytes (reserved and pre-defined fields).
pub(super) fn put_zeros(buf: &mut BytesMut, n: usize) {
    buf.put_bytes(0, n);
}

/// Writes the unity matrix.
pub(super) fn put_matrix(buf: &mut BytesMut) {
    for v in UNITY_MATRIX {
        buf.put_u32(v);
    }
}

/// Sets the size field of the box that starts at `start` to its length so far.
fn patch_size(buf: &mut BytesMut, start: usize) {
    // Init segments and `moof`s are a few kilobytes; the one box that can
    // pass 4 GiB, `mdat`, is not written through here.
    let size = u32::try_from(buf.len() - start).unwrap_or(u32::MAX);
    buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_nest() {
        let mut buf = BytesMut::new();
        write_box(&mut buf, b"moov", |b| {
            write_full_box(b, b"mvhd", 1, 0x0102_0304, |b| b.put_u8(7));
            write_box(b, b"free", |_| {});
        });
        assert_eq!(
            &buf[..],
            &[
                0, 0, 0, 29, b'm', b'o', b'o', b'v', //
                0, 0, 0, 13, b'm', b'v', b'h', b'd', 1, 2, 3, 4, 7, //
                0, 0, 0, 8, b'f', b'r', b'e', b'e',
            ]
        );
        assert_eq!(FULL_BOX_HEADER, BOX_HEADER + 4);
    }
}
