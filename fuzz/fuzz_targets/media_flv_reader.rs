//! Whole FLV files: the header check and the tag iterator.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use streamly_core::media::FlvReader;

fuzz_target!(|data: &[u8]| {
    if let Ok(reader) = FlvReader::new(Bytes::copy_from_slice(data)) {
        for tag in reader {
            if let Ok(tag) = tag {
                let _ = tag.to_frame();
            }
        }
    }
});
