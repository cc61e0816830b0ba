//! Outbound chunk stream (RTMP spec §5.3): messages → chunks, with the
//! smallest header each chunk allows (fmt 0 → 1 → 2 → 3), following the same
//! header-compression rules as ffmpeg's writer.

use std::collections::HashMap;

use super::{DEFAULT_CHUNK_SIZE, RtmpMessage};
use crate::error::ChunkError;

const EXTENDED: u32 = 0x00ff_ffff;

#[derive(Debug, Clone, Copy)]
struct Sent {
    timestamp: u32,
    ts_field: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

/// Splits messages into chunks.
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: u32,
    streams: HashMap<u32, Sent>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    /// An encoder at the default chunk size (128).
    pub fn new() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
        }
    }

    /// Sets the outbound chunk size (clamped to 1..=0x7fffffff). The caller
    /// must have sent the matching Set Chunk Size message first.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.clamp(1, 0x7fff_ffff);
    }

    /// The outbound chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Appends all chunks of `msg` to `out`.
    pub fn encode(&mut self, msg: &RtmpMessage, out: &mut Vec<u8>) -> Result<(), ChunkError> {
        for chunk in self.encode_chunks(msg)? {
            out.extend_from_slice(&chunk);
        }
        Ok(())
    }

    /// The chunks of `msg`, separately, so a caller (a test) may interleave
    /// them with the chunks of messages on other chunk streams.
    pub fn encode_chunks(&mut self, msg: &RtmpMessage) -> Result<Vec<Vec<u8>>, ChunkError> {
        let csid = msg.csid;
        if !(2..=65599).contains(&csid) {
            return Err(ChunkError::InvalidCsid { csid });
        }
        // Lengths beyond 24 bits cannot be expressed; callers never build them.
        let length = u32::try_from(msg.payload.len())
            .ok()
            .filter(|&l| l <= 0x00ff_ffff)
            .ok_or(ChunkError::MessageTooLarge {
                csid,
                len: u32::MAX,
                max: 0x00ff_ffff,
            })?;
        let prev = self.streams.get(&csid).copied();
        let (fmt, ts_field) = match prev {
            Some(p) if p.stream_id == msg.stream_id && msg.timestamp >= p.timestamp => {
                let delta = msg.timestamp - p.timestamp;
                if p.length == length && p.type_id == msg.type_id {
                    if delta == p.ts_field {
                        (3, p.ts_field)
                    } else {
                        (2, delta)
                    }
                } else {
                    (1, delta)
                }
            }
            _ => (0, msg.timestamp),
        };
        self.streams.insert(
            csid,
            Sent {
                timestamp: msg.timestamp,
                ts_field,
                length,
                type_id: msg.type_id,
                stream_id: msg.stream_id,
            },
        );
        let extended = ts_field >= EXTENDED;
        let ts24 = ts_field.min(EXTENDED);

        let mut chunks = Vec::new();
        let mut rest = &msg.payload[..];
        let mut first = true;
        loop {
            let mut chunk = Vec::with_capacity(18 + rest.len().min(self.chunk_size as usize));
            let this_fmt = if first { fmt } else { 3 };
            basic_header(this_fmt, csid, &mut chunk);
            if this_fmt < 3 {
                chunk.extend_from_slice(&ts24.to_be_bytes()[1..]);
            }
            if this_fmt < 2 {
                chunk.extend_from_slice(&length.to_be_bytes()[1..]);
                chunk.push(msg.type_id);
            }
            if this_fmt == 0 {
                chunk.extend_from_slice(&msg.stream_id.to_le_bytes());
            }
            if extended {
                chunk.extend_from_slice(&ts_field.to_be_bytes());
            }
            let n = rest.len().min(self.chunk_size as usize);
            chunk.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            chunks.push(chunk);
            first = false;
            if rest.is_empty() {
                return Ok(chunks);
            }
        }
    }
}

fn basic_header(fmt: u8, csid: u32, out: &mut Vec<u8>) {
    let fmt = fmt << 6;
    match csid {
        2..=63 => out.push(fmt | csid as u8),
        64..=319 => out.extend_from_slice(&[fmt, (csid - 64) as u8]),
        _ => {
            let v = csid - 64;
            out.extend_from_slice(&[fmt | 1, (v & 0xff) as u8, (v >> 8) as u8]);
        }
    }
}
