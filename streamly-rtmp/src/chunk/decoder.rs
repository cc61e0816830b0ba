//! Inbound chunk stream (RTMP spec §5.3): bytes → complete messages.
//!
//! Each chunk stream id keeps its own header state *and its own partial
//! payload*, so a message on one chunk stream may arrive between the chunks
//! of a message on another (legal RTMP that OBS and ffmpeg produce when audio
//! and large video frames are interleaved). Every quantity taken from the peer
//! is bounded by [`ChunkLimits`]; a chunk is consumed only once it is
//! complete, so "need more bytes" never leaves half-updated state.
//!
//! The byte path: the caller reads the socket straight into the decoder's
//! input ([`ChunkDecoder::input_buffer`]). A message that fits in one chunk
//! (most audio and inter frames at chunk size 4096) is handed out as a slice
//! of that input, without a copy; a longer message is copied once, chunk by
//! chunk, into a buffer allocated once at its declared length. That
//! reservation counts against `max_buffered_bytes` from its first chunk, so
//! a peer's headers alone can never make the decoder reserve more than the
//! limit.

use std::collections::HashMap;

use bytes::{Buf, BytesMut};

use super::{ChunkLimits, DEFAULT_CHUNK_SIZE, RtmpMessage, TYPE_ABORT, TYPE_SET_CHUNK_SIZE};
use crate::error::ChunkError;

/// The 24-bit timestamp value that announces an extended (32-bit) timestamp.
const EXTENDED: u32 = 0x00ff_ffff;

/// Per chunk stream state: the last header seen and the message in flight.
#[derive(Debug, Default)]
struct ChunkStream {
    /// Whether a header (fmt 0, or a lenient fmt 1) has been seen.
    has_header: bool,
    timestamp: u32,
    /// The timestamp field of the last fmt 0/1/2 header (absolute for fmt 0,
    /// a delta otherwise), reused as the delta by fmt 3 headers that start a
    /// new message — the rule ffmpeg's reader and writer follow.
    ts_field: u32,
    /// Whether the last fmt 0/1/2 header used an extended timestamp, which
    /// fmt 3 chunks on this stream then repeat.
    extended: bool,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// Payload received so far of the message in flight (a multi-chunk
    /// message; its capacity is `length`, reserved on its first chunk).
    partial: Option<BytesMut>,
}

/// Turns the bytes of an RTMP chunk stream into messages.
///
/// Feed bytes with [`push`](Self::push) (or append them to
/// [`input_buffer`](Self::input_buffer), e.g. with `read_buf`), then call
/// [`next_message`](Self::next_message) until it returns `Ok(None)`. Set Chunk
/// Size and Abort Message (protocol control types 1 and 2) take effect inside
/// the decoder, between two chunks, as the spec requires; they are still
/// returned so the caller can log them.
#[derive(Debug)]
pub struct ChunkDecoder {
    limits: ChunkLimits,
    chunk_size: u32,
    input: BytesMut,
    streams: HashMap<u32, ChunkStream>,
    /// Sum of the partial payload bytes over all chunk streams.
    buffered: usize,
    /// Sum of the declared lengths of the messages in flight (the capacity
    /// their buffers reserved), bounded by `max_buffered_bytes`.
    reserved: usize,
}

/// What parsing the head of the input buffer found.
enum Parsed {
    NeedMore,
    Consumed(Option<RtmpMessage>),
}

impl ChunkDecoder {
    /// A decoder at the default chunk size (128).
    pub fn new(limits: ChunkLimits) -> Self {
        Self {
            limits,
            chunk_size: DEFAULT_CHUNK_SIZE,
            input: BytesMut::new(),
            streams: HashMap::new(),
            buffered: 0,
            reserved: 0,
        }
    }

    /// The current inbound chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Bytes held by the decoder: unparsed input plus partial messages.
    pub fn buffered_bytes(&self) -> usize {
        self.input.len() + self.buffered
    }

    /// Bytes reserved for the messages in flight: their declared lengths,
    /// at least [`buffered_bytes`](Self::buffered_bytes) minus the unparsed
    /// input, at most `max_buffered_bytes`.
    pub fn reserved_bytes(&self) -> usize {
        self.reserved
    }

    /// Appends received bytes (a copy; a socket reader should rather read
    /// into [`input_buffer`](Self::input_buffer)).
    pub fn push(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// The unparsed input, for a reader to append received bytes to in
    /// place (`read_buf`, after a `reserve`). Append only: bytes already in
    /// the buffer must not be changed or removed. Messages handed out share
    /// this buffer's memory, so a reserve after them allocates a fresh block
    /// while they live.
    pub fn input_buffer(&mut self) -> &mut BytesMut {
        &mut self.input
    }

    /// The next complete message, `Ok(None)` if more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<RtmpMessage>, ChunkError> {
        loop {
            match self.parse_chunk()? {
                Parsed::NeedMore => return Ok(None),
                Parsed::Consumed(None) => continue,
                Parsed::Consumed(Some(msg)) => {
                    self.apply_control(&msg)?;
                    return Ok(Some(msg));
                }
            }
        }
    }

    fn apply_control(&mut self, msg: &RtmpMessage) -> Result<(), ChunkError> {
        if msg.type_id != TYPE_SET_CHUNK_SIZE && msg.type_id != TYPE_ABORT {
            return Ok(());
        }
        let value = msg
            .payload
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or(ChunkError::BadControlMessage {
                type_id: msg.type_id,
                len: msg.payload.len(),
            })?;
        if msg.type_id == TYPE_SET_CHUNK_SIZE {
            // The first bit is reserved and must be zero.
            let requested = value & 0x7fff_ffff;
            if requested == 0 || requested > self.limits.max_chunk_size {
                return Err(ChunkError::BadChunkSize {
                    requested,
                    max: self.limits.max_chunk_size,
                });
            }
            self.chunk_size = requested;
        } else if let Some(stream) = self.streams.get_mut(&value)
            && let Some(partial) = stream.partial.take()
        {
            self.buffered = self.buffered.saturating_sub(partial.len());
            self.reserved = self.reserved.saturating_sub(stream.length as usize);
        }
        Ok(())
    }

    /// Parses one chunk at the head of the input, consuming it only if it is
    /// complete.
    fn parse_chunk(&mut self) -> Result<Parsed, ChunkError> {
        let input = &self.input[..];
        let Some(&first) = input.first() else {
            return Ok(Parsed::NeedMore);
        };
        let fmt = first >> 6;
        let (csid, mut pos) = match first & 0x3f {
            0 => match input.get(1) {
                Some(&b) => (64 + u32::from(b), 2),
                None => return Ok(Parsed::NeedMore),
            },
            1 => match input.get(1..3) {
                Some(b) => (64 + u32::from(b[0]) + 256 * u32::from(b[1]), 3),
                None => return Ok(Parsed::NeedMore),
            },
            n => (u32::from(n), 1),
        };
        let header_len = [11, 7, 3, 0][usize::from(fmt)];
        let Some(header) = input.get(pos..pos + header_len) else {
            return Ok(Parsed::NeedMore);
        };
        pos += header_len;

        let known = self.streams.get(&csid);
        if known.is_none() && self.streams.len() >= self.limits.max_chunk_streams {
            return Err(ChunkError::TooManyChunkStreams {
                max: self.limits.max_chunk_streams,
            });
        }
        let has_header = known.is_some_and(|s| s.has_header);
        if !has_header && fmt >= 2 {
            return Err(ChunkError::MissingHeader { csid, fmt });
        }
        let in_flight = known.is_some_and(|s| s.partial.is_some());

        // The 24-bit timestamp (or delta) field, when the header has one.
        let ts24 = (fmt < 3).then(|| u32::from_be_bytes([0, header[0], header[1], header[2]]));
        let extended = match ts24 {
            Some(t) => t == EXTENDED,
            None => known.is_some_and(|s| s.extended),
        };
        let mut ts_field = ts24.unwrap_or(0);
        if extended {
            let Some(b) = input.get(pos..pos + 4) else {
                return Ok(Parsed::NeedMore);
            };
            ts_field = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            pos += 4;
        }

        // The header this chunk leaves on its chunk stream.
        let prev = known;
        let prev_ts = prev.map_or(0, |s| s.timestamp);
        let (timestamp, length, type_id, stream_id, new_ts_field) = match fmt {
            0 => (
                ts_field,
                u32::from_be_bytes([0, header[3], header[4], header[5]]),
                header[6],
                u32::from_le_bytes([header[7], header[8], header[9], header[10]]),
                ts_field,
            ),
            1 => (
                prev_ts.wrapping_add(ts_field),
                u32::from_be_bytes([0, header[3], header[4], header[5]]),
                header[6],
                prev.map_or(0, |s| s.stream_id),
                ts_field,
            ),
            _ => {
                // has_header was checked above, so `prev` is Some here.
                let (p_len, p_type, p_sid, p_field) =
                    prev.map_or((0, 0, 0, 0), |s| (s.length, s.type_id, s.stream_id, s.ts_field));
                if fmt == 2 {
                    (prev_ts.wrapping_add(ts_field), p_len, p_type, p_sid, ts_field)
                } else if in_flight {
                    // Continuation of the message in flight: nothing changes.
                    (prev_ts, p_len, p_type, p_sid, p_field)
                } else {
                    (prev_ts.wrapping_add(p_field), p_len, p_type, p_sid, p_field)
                }
            }
        };
        if fmt < 3 && in_flight {
            // A new header while a message is in flight: the spec has no
            // such case; the old partial message is abandoned.
            tracing::debug!(csid, fmt, "new chunk header interrupts a partial message");
        }
        if length > self.limits.max_message_len {
            return Err(ChunkError::MessageTooLarge {
                csid,
                len: length,
                max: self.limits.max_message_len,
            });
        }
        let continuing = fmt == 3 && in_flight;
        let received = if continuing {
            prev.and_then(|s| s.partial.as_ref()).map_or(0, BytesMut::len)
        } else {
            0
        };
        let remaining = (length as usize).saturating_sub(received);
        let piece = remaining.min(self.chunk_size as usize);
        if input.len() < pos + piece {
            return Ok(Parsed::NeedMore);
        }

        // The chunk is complete: commit.
        // A partial message abandoned by a new header: its bytes and its
        // reservation (the declared length stored with it) are released.
        let (abandoned, abandoned_reserved) = match prev {
            Some(s) if !continuing => s
                .partial
                .as_ref()
                .map_or((0, 0), |p| (p.len(), s.length as usize)),
            _ => (0, 0),
        };
        // A message that fits in this chunk is handed out from the input.
        let single = !continuing && piece == length as usize;
        let reserved = self.reserved.saturating_sub(abandoned_reserved)
            + if single || continuing { 0 } else { length as usize };
        if reserved > self.limits.max_buffered_bytes {
            return Err(ChunkError::BufferLimit {
                buffered: reserved,
                max: self.limits.max_buffered_bytes,
            });
        }
        self.reserved = reserved;
        self.buffered = self.buffered.saturating_sub(abandoned);
        let stream = self.streams.entry(csid).or_default();
        stream.has_header = true;
        stream.timestamp = timestamp;
        stream.ts_field = new_ts_field;
        stream.extended = extended;
        stream.length = length;
        stream.type_id = type_id;
        stream.stream_id = stream_id;
        self.input.advance(pos);
        let payload = if single {
            stream.partial = None;
            // No copy: the payload shares the input's memory.
            self.input.split_to(piece).freeze()
        } else {
            // One allocation per message, at its declared length (at most
            // `max_message_len`, and counted in `reserved` above).
            if !continuing {
                stream.partial = Some(BytesMut::with_capacity(length as usize));
            }
            let Some(partial) = stream.partial.as_mut() else {
                return Ok(Parsed::Consumed(None));
            };
            partial.extend_from_slice(&self.input[..piece]);
            self.input.advance(piece);
            if partial.len() < length as usize {
                self.buffered += piece;
                return Ok(Parsed::Consumed(None));
            }
            let received = partial.len() - piece;
            self.buffered = self.buffered.saturating_sub(received);
            self.reserved = self.reserved.saturating_sub(length as usize);
            stream.partial.take().map(BytesMut::freeze).unwrap_or_default()
        };
        Ok(Parsed::Consumed(Some(RtmpMessage {
            csid,
            timestamp,
            type_id,
            stream_id,
            payload,
        })))
    }
}
