//! Chunk layer tests: hand-made edge cases and property round-trips
//! (encode, interleave chunk streams, split the bytes anywhere, decode).

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::error::ChunkError;

fn msg(csid: u32, timestamp: u32, type_id: u8, stream_id: u32, payload: Vec<u8>) -> RtmpMessage {
    RtmpMessage {
        csid,
        timestamp,
        type_id,
        stream_id,
        payload: Bytes::from(payload),
    }
}

fn decode_all(dec: &mut ChunkDecoder) -> Result<Vec<RtmpMessage>, ChunkError> {
    let mut out = Vec::new();
    while let Some(m) = dec.next_message()? {
        out.push(m);
    }
    Ok(out)
}

#[test]
fn interleaved_audio_inside_video() {
    let mut enc = ChunkEncoder::new();
    let video = msg(6, 40, TYPE_VIDEO, 1, (0..1000u32).map(|i| i as u8).collect());
    let audio = msg(4, 41, TYPE_AUDIO, 1, vec![0xaf, 1, 2, 3]);
    let v = enc.encode_chunks(&video).expect("video");
    let a = enc.encode_chunks(&audio).expect("audio");
    assert!(v.len() > 3);
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&v[0]);
    bytes.extend_from_slice(&v[1]);
    bytes.extend_from_slice(&a[0]);
    for c in &v[2..] {
        bytes.extend_from_slice(c);
    }
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.push(&bytes);
    assert_eq!(decode_all(&mut dec).expect("decodes"), vec![audio, video]);
    assert_eq!(dec.buffered_bytes(), 0);
}

#[test]
fn set_chunk_size_applies_to_the_next_chunk() {
    let mut enc = ChunkEncoder::new();
    let mut bytes = Vec::new();
    let scs = msg(2, 0, TYPE_SET_CHUNK_SIZE, 0, 4096u32.to_be_bytes().to_vec());
    enc.encode(&scs, &mut bytes).expect("scs");
    enc.set_chunk_size(4096);
    let big = msg(6, 0, TYPE_VIDEO, 1, vec![7; 3000]);
    enc.encode(&big, &mut bytes).expect("big");
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.push(&bytes);
    assert_eq!(decode_all(&mut dec).expect("decodes"), vec![scs, big]);
    assert_eq!(dec.chunk_size(), 4096);
}

#[test]
fn huge_message_is_refused_before_buffering() {
    // fmt 0, csid 3, ts 0, length 0xffffff, type 9, stream 1.
    let bytes = [0x03, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0];
    let mut dec = ChunkDecoder::new(ChunkLimits {
        max_message_len: 1 << 20,
        ..ChunkLimits::default()
    });
    dec.push(&bytes);
    assert!(matches!(
        dec.next_message(),
        Err(ChunkError::MessageTooLarge { .. })
    ));
}

#[test]
fn limits_on_chunk_streams_buffer_and_chunk_size() {
    let limits = ChunkLimits {
        max_chunk_streams: 2,
        max_buffered_bytes: 300,
        max_chunk_size: 1000,
        max_message_len: 1000,
    };
    // Three chunk streams.
    let mut enc = ChunkEncoder::new();
    let mut bytes = Vec::new();
    for csid in [3, 4, 5] {
        enc.encode(&msg(csid, 0, TYPE_AUDIO, 1, vec![1]), &mut bytes)
            .expect("enc");
    }
    let mut dec = ChunkDecoder::new(limits);
    dec.push(&bytes);
    assert_eq!(
        decode_all(&mut dec),
        Err(ChunkError::TooManyChunkStreams { max: 2 })
    );

    // Partial messages over the buffer limit.
    let mut enc = ChunkEncoder::new();
    let mut dec = ChunkDecoder::new(limits);
    for csid in [3, 4] {
        let chunks = enc
            .encode_chunks(&msg(csid, 0, TYPE_VIDEO, 1, vec![1; 900]))
            .expect("enc");
        for c in &chunks[..2] {
            dec.push(c);
        }
    }
    assert!(matches!(
        decode_all(&mut dec),
        Err(ChunkError::BufferLimit { .. })
    ));

    // Set chunk size over the limit, and zero.
    for size in [0u32, 5000] {
        let mut enc = ChunkEncoder::new();
        let mut bytes = Vec::new();
        enc.encode(
            &msg(2, 0, TYPE_SET_CHUNK_SIZE, 0, size.to_be_bytes().to_vec()),
            &mut bytes,
        )
        .expect("enc");
        let mut dec = ChunkDecoder::new(limits);
        dec.push(&bytes);
        assert!(matches!(
            decode_all(&mut dec),
            Err(ChunkError::BadChunkSize { .. })
        ));
    }
}

#[test]
fn continuation_without_header_is_an_error() {
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.push(&[0xc3, 1, 2, 3]);
    assert_eq!(
        dec.next_message(),
        Err(ChunkError::MissingHeader { csid: 3, fmt: 3 })
    );
}

#[test]
fn abort_drops_the_partial_message() {
    let mut enc = ChunkEncoder::new();
    let video = enc
        .encode_chunks(&msg(6, 0, TYPE_VIDEO, 1, vec![9; 300]))
        .expect("enc");
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.push(&video[0]);
    let mut abort = Vec::new();
    enc.encode(&msg(2, 0, TYPE_ABORT, 0, 6u32.to_be_bytes().to_vec()), &mut abort)
        .expect("enc");
    dec.push(&abort);
    let got = decode_all(&mut dec).expect("decodes");
    assert_eq!(got.len(), 1);
    assert_eq!(dec.buffered_bytes(), 0);
}

/// A message on one of a few chunk streams, with timestamps that exercise
/// deltas, repeats, extended timestamps and going backwards.
fn arb_messages() -> impl Strategy<Value = Vec<RtmpMessage>> {
    let one = (
        prop_oneof![
            Just(3u32),
            Just(4),
            Just(63),
            Just(64),
            Just(319),
            Just(320),
            Just(65599)
        ],
        prop_oneof![
            0u32..100,
            Just(0x00ff_fffe),
            Just(0x00ff_ffff),
            Just(0x0100_0000),
            any::<u32>()
        ],
        prop_oneof![Just(TYPE_AUDIO), Just(TYPE_VIDEO), Just(TYPE_DATA_AMF0)],
        0u32..3,
        prop_oneof![0usize..8, 100usize..600],
    );
    proptest::collection::vec(one, 1..24).prop_map(|items| {
        let mut last_ts = std::collections::HashMap::<u32, u32>::new();
        items
            .into_iter()
            .enumerate()
            .map(|(i, (csid, ts, type_id, sid, len))| {
                // Small values are deltas on that chunk stream, to get fmt 2/3.
                let ts = if ts < 100 {
                    last_ts.get(&csid).copied().unwrap_or(0).wrapping_add(ts % 3 * 20)
                } else {
                    ts
                };
                last_ts.insert(csid, ts);
                msg(csid, ts, type_id, sid, (0..len).map(|b| (b + i) as u8).collect())
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Messages on several chunk streams, their chunks interleaved (each
    /// chunk stream in order), the byte stream split at arbitrary points:
    /// the decoder yields every message intact.
    #[test]
    fn round_trip_interleaved(
        messages in arb_messages(),
        chunk_size in prop_oneof![Just(1u32), Just(128), 1u32..700],
        picks in proptest::collection::vec(any::<u8>(), 0..4000),
        splits in proptest::collection::vec(1usize..300, 0..40),
    ) {
        let mut enc = ChunkEncoder::new();
        let mut bytes = Vec::new();
        let mut dec_chunk_msgs = Vec::new();
        if chunk_size != DEFAULT_CHUNK_SIZE {
            let scs = msg(2, 0, TYPE_SET_CHUNK_SIZE, 0, chunk_size.to_be_bytes().to_vec());
            enc.encode(&scs, &mut bytes).expect("scs");
            enc.set_chunk_size(chunk_size);
            dec_chunk_msgs.push(scs);
        }
        // Per chunk stream, the queue of chunks of its messages in order.
        let mut queues: Vec<(u32, std::collections::VecDeque<Vec<u8>>)> = Vec::new();
        for m in &messages {
            let chunks = enc.encode_chunks(m).expect("encodes");
            match queues.iter_mut().find(|(c, _)| *c == m.csid) {
                Some((_, q)) => q.extend(chunks),
                None => queues.push((m.csid, chunks.into())),
            }
        }
        let mut picks = picks.into_iter();
        while !queues.is_empty() {
            let i = usize::from(picks.next().unwrap_or(0)) % queues.len();
            if let Some(c) = queues[i].1.pop_front() {
                bytes.extend_from_slice(&c);
            }
            if queues[i].1.is_empty() {
                queues.remove(i);
            }
        }

        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        let mut got = Vec::new();
        let mut rest = &bytes[..];
        let mut splits = splits.into_iter();
        while !rest.is_empty() {
            let n = splits.next().unwrap_or(rest.len()).min(rest.len());
            dec.push(&rest[..n]);
            rest = &rest[n..];
            got.extend(decode_all(&mut dec).expect("decodes"));
        }
        // Messages come out in completion order: compare per chunk stream.
        let mut expected = dec_chunk_msgs;
        expected.extend(messages);
        for csid in [2u32, 3, 4, 63, 64, 319, 320, 65599] {
            let want: Vec<_> = expected.iter().filter(|m| m.csid == csid).collect();
            let have: Vec<_> = got.iter().filter(|m| m.csid == csid).collect();
            prop_assert_eq!(want, have);
        }
        prop_assert_eq!(got.len(), expected.len());
        prop_assert_eq!(dec.buffered_bytes(), 0);
        prop_assert_eq!(dec.reserved_bytes(), 0);
    }

    /// Random bytes never panic the decoder and never exceed its bounds.
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let limits = ChunkLimits {
            max_chunk_size: 4096,
            max_message_len: 4096,
            max_chunk_streams: 8,
            max_buffered_bytes: 8192,
        };
        let mut dec = ChunkDecoder::new(limits);
        dec.push(&data);
        while let Ok(Some(_)) = dec.next_message() {}
        prop_assert!(dec.buffered_bytes() <= data.len());
    }
}
