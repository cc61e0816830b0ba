//! The AMF0 decoder never panics; what it decodes re-encodes and decodes to
//! the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamly_rtmp::amf0::{decode_all, encode_all};

fuzz_target!(|data: &[u8]| {
    if let Ok(values) = decode_all(data) {
        let again = decode_all(&encode_all(&values)).expect("re-encoded AMF0 decodes");
        // NaN != NaN: compare the encodings instead of the values.
        assert_eq!(encode_all(&again), encode_all(&values));
    }
});
