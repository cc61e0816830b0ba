//! The server side of the RTMP handshake (RTMP spec §5.2): C0+C1 in,
//! S0+S1+S2 out, C2 in.
//!
//! This is the plain handshake: S1 is time + zeros + pseudo-random bytes and
//! S2 echoes C1. Publishers (ffmpeg, OBS/librtmp) accept it; only clients that
//! *play* with Flash-style digest verification need the complex variant, and
//! this server ingests only. C2 is not verified (clients differ in what they
//! echo), so the handshake costs no hashing.

use bytes::{Buf, BytesMut};

use crate::error::HandshakeError;

/// Size of C1/C2/S1/S2.
pub const PACKET_LEN: usize = 1536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    WaitC0C1,
    WaitC2,
    Done,
}

/// Handshake progress.
#[derive(Debug)]
pub struct Handshake {
    state: State,
    seed: u64,
}

impl Handshake {
    /// A new server handshake. `seed` varies S1's filler bytes.
    pub fn new(seed: u64) -> Self {
        Self {
            state: State::WaitC0C1,
            seed: seed | 1,
        }
    }

    /// Whether C2 has been received.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes the handshake packets at the head of `input` once they are
    /// whole, appending any response to `out`, and returns whether the
    /// handshake is complete. Bytes after C2 (the start of the chunk
    /// stream) are left in `input`, so the caller can read the socket into
    /// one buffer that the chunk decoder then continues from.
    pub fn consume(&mut self, input: &mut BytesMut, out: &mut Vec<u8>) -> Result<bool, HandshakeError> {
        if self.state == State::WaitC0C1 {
            let Some(&version) = input.first() else {
                return Ok(false);
            };
            if version != 3 {
                return Err(HandshakeError::UnsupportedVersion(version));
            }
            let Some(c1) = input.get(1..1 + PACKET_LEN) else {
                return Ok(false);
            };
            out.reserve(1 + 2 * PACKET_LEN);
            out.push(3);
            // S1: time (0), zero, filler.
            out.extend_from_slice(&[0; 8]);
            let mut x = self.seed;
            for _ in 0..(PACKET_LEN - 8) / 8 {
                // xorshift64: filler only, no security role.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                out.extend_from_slice(&x.to_le_bytes());
            }
            // S2: C1's time, our read time (0), C1's random bytes.
            out.extend_from_slice(&c1[..4]);
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&c1[8..]);
            input.advance(1 + PACKET_LEN);
            self.state = State::WaitC2;
        }
        if self.state == State::WaitC2 {
            if input.len() < PACKET_LEN {
                return Ok(false);
            }
            input.advance(PACKET_LEN);
            self.state = State::Done;
        }
        Ok(self.state == State::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_across_splits() {
        let mut hs = Handshake::new(7);
        let mut out = Vec::new();
        let mut c0c1 = vec![3u8];
        c0c1.extend((0..PACKET_LEN).map(|i| i as u8));
        let mut input = BytesMut::from(&c0c1[..100]);
        assert_eq!(hs.consume(&mut input, &mut out), Ok(false));
        assert!(out.is_empty());
        input.extend_from_slice(&c0c1[100..]);
        assert_eq!(hs.consume(&mut input, &mut out), Ok(false));
        assert!(input.is_empty());
        assert_eq!(out.len(), 1 + 2 * PACKET_LEN);
        assert_eq!(&out[1 + PACKET_LEN + 8..], &c0c1[9..]);
        input.extend_from_slice(&[0u8; PACKET_LEN]);
        input.extend_from_slice(b"rest");
        assert_eq!(hs.consume(&mut input, &mut out), Ok(true));
        assert_eq!(&input[..], b"rest");
        assert!(hs.is_done());
    }

    #[test]
    fn wrong_version_fails_at_once() {
        let mut hs = Handshake::new(1);
        assert_eq!(
            hs.consume(&mut BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]), &mut Vec::new()),
            Err(HandshakeError::UnsupportedVersion(b'G'))
        );
    }
}
