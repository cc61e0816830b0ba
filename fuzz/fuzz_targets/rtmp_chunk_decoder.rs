//! The RTMP chunk decoder: arbitrary bytes, fed in arbitrary pieces, never
//! panic and never make the decoder hold more than its limits allow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamly_rtmp::chunk::{ChunkDecoder, ChunkLimits};

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let limits = ChunkLimits {
        max_chunk_size: 4096,
        max_message_len: 16 * 1024,
        max_chunk_streams: 8,
        max_buffered_bytes: 32 * 1024,
    };
    let mut dec = ChunkDecoder::new(limits);
    let piece = usize::from(split).max(1);
    for part in data.chunks(piece) {
        dec.push(part);
        loop {
            match dec.next_message() {
                Ok(Some(msg)) => assert!(msg.payload.len() <= limits.max_message_len as usize),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        // Unparsed input is below one chunk; partial messages are bounded.
        assert!(dec.buffered_bytes() <= limits.max_buffered_bytes + 4096 + 18 + piece);
    }
});
