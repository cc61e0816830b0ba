//! The server side of the RTMP handshake (RTMP spec §5.2): C0+C1 in,
//! S0+S1+S2 out, C2 in.
//!
//! This is the plain handshake: S1 is time + zeros + pseudo-random bytes and
//! S2 echoes C1. Publishers (ffmpeg, OBS/librtmp) accept it; only clients that
//! *play* with Flash-style digest verification need the complex variant, and
//! this server ingests only. C2 is not verified (clients differ in what they
//! echo), so the handshake costs no hashing.

use bytes::{Buf, Bytes, BytesMut};

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
    input: BytesMut,
    seed: u64,
}

impl Handshake {
    /// A new server handshake. `seed` varies S1's filler bytes.
    pub fn new(seed: u64) -> Self {
        Self {
            state: State::WaitC0C1,
            input: BytesMut::new(),
            seed: seed | 1,
        }
    }

    /// Whether C2 has been received.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes handshake bytes, appending any response to `out`. Once the
    /// handshake completes, returns the bytes that followed C2 (the start of
    /// the chunk stream).
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<Option<Bytes>, HandshakeError> {
        self.input.extend_from_slice(bytes);
        if self.state == State::WaitC0C1 {
            let Some(&version) = self.input.first() else {
                return Ok(None);
            };
            if version != 3 {
                return Err(HandshakeError::UnsupportedVersion(version));
            }
            if self.input.len() < 1 + PACKET_LEN {
                return Ok(None);
            }
            let c1 = self.input.split_to(1 + PACKET_LEN).split_off(1);
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
            self.state = State::WaitC2;
        }
        if self.state == State::WaitC2 {
            if self.input.len() < PACKET_LEN {
                return Ok(None);
            }
            self.input.advance(PACKET_LEN);
            self.state = State::Done;
            return Ok(Some(std::mem::take(&mut self.input).freeze()));
        }
        Ok(None)
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
        assert_eq!(hs.push(&c0c1[..100], &mut out), Ok(None));
        assert!(out.is_empty());
        assert_eq!(hs.push(&c0c1[100..], &mut out), Ok(None));
        assert_eq!(out.len(), 1 + 2 * PACKET_LEN);
        assert_eq!(&out[1 + PACKET_LEN + 8..], &c0c1[9..]);
        let mut c2 = vec![0u8; PACKET_LEN];
        c2.extend_from_slice(b"rest");
        let rest = hs.push(&c2, &mut out).expect("ok").expect("done");
        assert_eq!(&rest[..], b"rest");
        assert!(hs.is_done());
    }

    #[test]
    fn wrong_version_fails_at_once() {
        let mut hs = Handshake::new(1);
        assert_eq!(
            hs.push(b"GET / HTTP/1.1\r\n", &mut Vec::new()),
            Err(HandshakeError::UnsupportedVersion(b'G'))
        );
    }
}
