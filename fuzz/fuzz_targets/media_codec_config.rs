//! AVCDecoderConfigurationRecord (with SPS parsing) and AudioSpecificConfig.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use streamly_core::media::{AacConfig, AvcConfig};

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(avc) = AvcConfig::parse(bytes.clone()) {
        let _ = avc.codec_string();
    }
    let _ = AacConfig::parse(bytes);
});
