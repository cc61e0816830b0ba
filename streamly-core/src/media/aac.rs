//! AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).

use bytes::Bytes;

use super::MediaError;

const WHAT: &str = "AudioSpecificConfig";

/// The sampling frequencies addressed by `samplingFrequencyIndex` 0–12.
pub const SAMPLING_FREQUENCIES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// AAC decoder configuration, from the FLV/RTMP AAC sequence header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacConfig {
    /// The AudioSpecificConfig as received.
    pub raw: Bytes,
    /// Audio object type (2 = AAC LC).
    pub object_type: u8,
    /// `samplingFrequencyIndex`, or `None` when the config carried an
    /// explicit frequency (index 15) that matches no table entry.
    pub frequency_index: Option<u8>,
    /// Sampling rate in Hz.
    pub sample_rate: u32,
    /// `channelConfiguration` (1 = mono, 2 = stereo; 0 = defined in-band).
    pub channel_config: u8,
}

impl AacConfig {
    /// Parses an AudioSpecificConfig, including the escape for object types
    /// ≥ 32 and the explicit 24-bit sampling frequency.
    pub fn parse(raw: Bytes) -> Result<Self, MediaError> {
        let mut bits = BitCursor::new(&raw);
        let mut object_type = bits.read(5)? as u8;
        if object_type == 31 {
            object_type = 32 + bits.read(6)? as u8;
        }
        if object_type == 0 {
            return Err(MediaError::invalid(WHAT, "object type 0 is not a codec"));
        }
        let index = bits.read(4)? as u8;
        let (frequency_index, sample_rate) = match index {
            15 => {
                let rate = bits.read(24)?;
                let idx = SAMPLING_FREQUENCIES
                    .iter()
                    .position(|&f| f == rate)
                    .map(|i| i as u8);
                (idx, rate)
            }
            13 | 14 => {
                return Err(MediaError::invalid(
                    WHAT,
                    format!("reserved frequency index {index}"),
                ));
            }
            i => (Some(i), SAMPLING_FREQUENCIES[usize::from(i)]),
        };
        if sample_rate == 0 {
            return Err(MediaError::invalid(WHAT, "sampling frequency 0"));
        }
        let channel_config = bits.read(4)? as u8;
        if channel_config > 7 {
            return Err(MediaError::invalid(
                WHAT,
                format!("reserved channel configuration {channel_config}"),
            ));
        }
        Ok(Self {
            raw,
            object_type,
            frequency_index,
            sample_rate,
            channel_config,
        })
    }

    /// The RFC 6381 codec string for HLS `CODECS` (`mp4a.40.2`).
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }
}

/// Reads big-endian bit fields from a byte slice.
struct BitCursor<'a> {
    bytes: &'a [u8],
    bit: usize,
}

impl<'a> BitCursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, bit: 0 }
    }

    /// Reads `n` ≤ 32 bits.
    fn read(&mut self, n: usize) -> Result<u32, MediaError> {
        let needed = (self.bit + n).div_ceil(8);
        if needed > self.bytes.len() {
            return Err(MediaError::Truncated {
                what: WHAT,
                needed,
                had: self.bytes.len(),
            });
        }
        let mut value = 0u32;
        for _ in 0..n {
            let byte = self.bytes[self.bit / 8];
            let b = (byte >> (7 - self.bit % 8)) & 1;
            value = (value << 1) | u32::from(b);
            self.bit += 1;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lc_44100_stereo() {
        let c = AacConfig::parse(Bytes::from_static(&[0x12, 0x10])).expect("parses");
        assert_eq!(
            (c.object_type, c.frequency_index, c.sample_rate, c.channel_config),
            (2, Some(4), 44100, 2)
        );
        assert_eq!(c.codec_string(), "mp4a.40.2");
    }

    #[test]
    fn explicit_frequency_escape() {
        // object type 2, index 15, 48000 Hz explicit (0x00BB80), 1 channel.
        // bits: 00010 1111 000000001011101110000000 0001
        let c = AacConfig::parse(Bytes::from_static(&[0x17, 0x80, 0x5d, 0xc0, 0x08])).expect("parses");
        assert_eq!(
            (c.sample_rate, c.frequency_index, c.channel_config),
            (48000, Some(3), 1)
        );
    }

    #[test]
    fn object_type_escape() {
        // 11111 000001 (=33) then index 4, channels 2.
        let c = AacConfig::parse(Bytes::from_static(&[0xf8, 0x28, 0x40])).expect("parses");
        assert_eq!(c.object_type, 33);
        assert_eq!(c.sample_rate, 44100);
    }

    #[test]
    fn bad_configs() {
        assert!(AacConfig::parse(Bytes::new()).is_err());
        assert!(AacConfig::parse(Bytes::from_static(&[0x12])).is_err());
        assert!(AacConfig::parse(Bytes::from_static(&[0x16, 0x90])).is_err()); // index 13
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..16)) {
            let _ = AacConfig::parse(Bytes::from(data));
        }
    }
}
