//! The whole ingest session: handshake, chunks, commands, media. Half the
//! inputs are prefixed with a valid handshake and publish command sequence,
//! so the fuzzer spends its time past them. Publishes are accepted and the
//! media tags parsed, as the server does.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use streamly_core::media::{parse_audio_tag, parse_video_tag};
use streamly_rtmp::amf0::{Amf0Value, encode_all};
use streamly_rtmp::chunk::{ChunkEncoder, RtmpMessage};
use streamly_rtmp::handshake::PACKET_LEN;
use streamly_rtmp::{IngestSession, SessionConfig, SessionEvent};

fn command(enc: &mut ChunkEncoder, msid: u32, values: &[Amf0Value], out: &mut Vec<u8>) {
    let msg = RtmpMessage {
        csid: 3,
        timestamp: 0,
        type_id: 20,
        stream_id: msid,
        payload: Bytes::from(encode_all(values)),
    };
    let _ = enc.encode(&msg, out);
}

fn prefix() -> Vec<u8> {
    let s = |v: &str| Amf0Value::String(v.to_owned());
    let mut out = vec![3u8];
    out.extend(std::iter::repeat_n(7u8, 2 * PACKET_LEN));
    let mut enc = ChunkEncoder::new();
    let app = Amf0Value::Object(vec![("app".into(), s("live"))]);
    command(
        &mut enc,
        0,
        &[s("connect"), Amf0Value::Number(1.0), app],
        &mut out,
    );
    command(
        &mut enc,
        0,
        &[s("createStream"), Amf0Value::Number(2.0), Amf0Value::Null],
        &mut out,
    );
    let publish = [
        s("publish"),
        Amf0Value::Number(3.0),
        Amf0Value::Null,
        s("key"),
        s("live"),
    ];
    command(&mut enc, 1, &publish, &mut out);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let mut session = IngestSession::new(SessionConfig::default(), 1, std::time::Instant::now());
    let mut input = if mode & 1 == 1 { prefix() } else { Vec::new() };
    input.extend_from_slice(data);
    let piece = usize::from(mode >> 1).max(1) * 16;
    for part in input.chunks(piece) {
        if session.handle_input(part, std::time::Instant::now()).is_err() {
            return;
        }
        let _ = session.take_output();
        while let Some(event) = session.poll_event() {
            match event {
                SessionEvent::PublishRequested { .. } => session.accept_publish(),
                SessionEvent::Video { timestamp, body } => {
                    let _ = parse_video_tag(timestamp, &body);
                }
                SessionEvent::Audio { timestamp, body } => {
                    let _ = parse_audio_tag(timestamp, &body);
                }
                _ => {}
            }
        }
    }
});
