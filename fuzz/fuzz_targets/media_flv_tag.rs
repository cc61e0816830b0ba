//! FLV audio/video tag bodies (what RTMP carries), including the AVC and AAC
//! sequence headers inside them.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use streamly_core::media::{MediaFrame, parse_audio_tag, parse_video_tag};

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    if let Ok(Some(MediaFrame::Video(v))) = parse_video_tag(u32::MAX, &body) {
        let _ = v.pts();
        assert!(v.data.len() < data.len());
    }
    let _ = parse_audio_tag(0, &body);
});
