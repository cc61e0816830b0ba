//! Avatar uploads: decoded with limits (size, dimensions, memory) so a
//! decompression bomb is refused before it is unpacked, cropped to a
//! square, scaled to at most [`AVATAR_SIDE`] pixels and re-encoded in the
//! upload's format. Only the re-encoded image is stored: whatever else the
//! file carried (metadata, trailing bytes, a polyglot payload) is gone.

use std::io::Cursor;
use std::sync::Arc;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use streamly_core::domain::{AVATAR_MAX_STORED_BYTES, Avatar, AvatarFormat, now_utc};
use thiserror::Error;
use tokio::sync::Semaphore;

/// Largest upload accepted, in bytes (larger: 413 before decoding): the
/// HTTP server's default body cap ([`crate::http_server::HttpLimits`]).
pub const AVATAR_UPLOAD_MAX_BYTES: usize = 1024 * 1024;
/// Widest and tallest image decoded, in pixels.
pub const AVATAR_MAX_INPUT_SIDE: u32 = 4096;
/// Most memory one decode may allocate, in bytes (a 4096 × 4096 RGBA
/// image).
pub const AVATAR_MAX_DECODE_ALLOC: u64 = 4096 * 4096 * 4;
/// Side of the stored square, in pixels (smaller uploads keep their size).
pub const AVATAR_SIDE: u32 = 256;
/// JPEG quality of re-encoded JPEG avatars.
const JPEG_QUALITY: u8 = 85;
/// Decodes running at once, platform-wide: each holds up to
/// [`AVATAR_MAX_DECODE_ALLOC`] and a core for up to a few hundred ms.
const CONCURRENT_DECODES: usize = 2;

/// Why an upload was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AvatarError {
    /// The declared content type is not `image/png` or `image/jpeg`.
    #[error("avatars must be image/png or image/jpeg")]
    UnsupportedType,
    /// The bytes are not the image the content type says.
    #[error("the body is not a valid {0} image")]
    NotAnImage(AvatarFormat),
    /// The image is larger than [`AVATAR_MAX_INPUT_SIDE`] on a side or
    /// would need more than [`AVATAR_MAX_DECODE_ALLOC`] to decode.
    #[error(
        "the image is too large to decode: at most {AVATAR_MAX_INPUT_SIDE}×{AVATAR_MAX_INPUT_SIDE} pixels"
    )]
    TooLarge,
    /// Every decoding slot is taken; retry shortly.
    #[error("too many avatar uploads at once")]
    Busy,
    /// The decoding task failed (a bug); logged.
    #[error("the avatar could not be processed")]
    Internal,
}

/// Turns uploads into stored avatars, at most a few at a time.
#[derive(Debug, Clone)]
pub struct AvatarProcessor {
    slots: Arc<Semaphore>,
}

impl Default for AvatarProcessor {
    fn default() -> Self {
        Self {
            slots: Arc::new(Semaphore::new(CONCURRENT_DECODES)),
        }
    }
}

impl AvatarProcessor {
    /// Decodes `body` (declared as `content_type`) on a blocking thread and
    /// returns the avatar to store. Refuses at once with
    /// [`AvatarError::Busy`] when every slot is taken.
    pub async fn process(&self, content_type: &str, body: bytes::Bytes) -> Result<Avatar, AvatarError> {
        let format = AvatarFormat::from_content_type(content_type).ok_or(AvatarError::UnsupportedType)?;
        let permit = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| AvatarError::Busy)?;
        let encoded = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            reencode(format, &body)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "avatar decoding task failed");
            AvatarError::Internal
        })??;
        Ok(Avatar {
            format,
            bytes: encoded.into(),
            updated_at: now_utc(),
        })
    }
}

/// Decodes `bytes` as `format` within the limits, crops and scales, and
/// encodes the result in the same format.
pub fn reencode(format: AvatarFormat, bytes: &[u8]) -> Result<Vec<u8>, AvatarError> {
    let image_format = match format {
        AvatarFormat::Png => ImageFormat::Png,
        AvatarFormat::Jpeg => ImageFormat::Jpeg,
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(AVATAR_MAX_INPUT_SIDE);
    limits.max_image_height = Some(AVATAR_MAX_INPUT_SIDE);
    limits.max_alloc = Some(AVATAR_MAX_DECODE_ALLOC);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => AvatarError::TooLarge,
        _ => AvatarError::NotAnImage(format),
    })?;
    let side = image.width().min(image.height()).min(AVATAR_SIDE);
    let square = image.resize_to_fill(side, side, FilterType::Triangle);
    let mut out = Vec::new();
    let written = match format {
        AvatarFormat::Png => {
            let square = if square.color().has_alpha() {
                DynamicImage::ImageRgba8(square.to_rgba8())
            } else {
                DynamicImage::ImageRgb8(square.to_rgb8())
            };
            square.write_with_encoder(PngEncoder::new(&mut out))
        }
        AvatarFormat::Jpeg => DynamicImage::ImageRgb8(square.to_rgb8())
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)),
    };
    written.map_err(|e| {
        tracing::error!(error = %e, "avatar encoding failed");
        AvatarError::Internal
    })?;
    // 256 × 256 × 4 bytes uncompressed is 256 KiB: an encoder never
    // reaches the cap, but the store's bound is checked, not assumed.
    if out.len() > AVATAR_MAX_STORED_BYTES {
        return Err(AvatarError::TooLarge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, RgbImage, Rgba, RgbaImage};

    fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).expect("encode");
        out.into_inner()
    }

    fn decode(bytes: &[u8]) -> DynamicImage {
        image::load_from_memory(bytes).expect("decodes")
    }

    #[test]
    fn a_png_becomes_a_square_png_of_at_most_256() {
        let mut img = RgbaImage::new(640, 480);
        img.put_pixel(320, 240, Rgba([255, 0, 0, 128]));
        let out = reencode(AvatarFormat::Png, &encode(img.into(), ImageFormat::Png)).expect("accepted");
        assert_eq!(image::guess_format(&out).expect("format"), ImageFormat::Png);
        let back = decode(&out);
        assert_eq!((back.width(), back.height()), (256, 256));
        assert!(back.color().has_alpha(), "transparency kept");
    }

    #[test]
    fn a_small_jpeg_keeps_its_size_cropped_square() {
        let img = RgbImage::from_pixel(120, 90, image::Rgb([10, 200, 30]));
        let out = reencode(AvatarFormat::Jpeg, &encode(img.into(), ImageFormat::Jpeg)).expect("accepted");
        assert_eq!(image::guess_format(&out).expect("format"), ImageFormat::Jpeg);
        let back = decode(&out);
        assert_eq!((back.width(), back.height()), (90, 90));
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_it_is_unpacked() {
        // 8192 × 8192 of one grey: a ~100 KB PNG that unpacks to 64 MiB.
        let bomb = encode(GrayImage::new(8192, 8192).into(), ImageFormat::Png);
        assert!(bomb.len() < 400 * 1024, "{} bytes", bomb.len());
        assert_eq!(reencode(AvatarFormat::Png, &bomb), Err(AvatarError::TooLarge));
    }

    #[test]
    fn garbage_and_mislabelled_bytes_are_refused() {
        assert_eq!(
            reencode(AvatarFormat::Png, b"not an image at all"),
            Err(AvatarError::NotAnImage(AvatarFormat::Png))
        );
        let jpeg = encode(RgbImage::new(16, 16).into(), ImageFormat::Jpeg);
        assert_eq!(
            reencode(AvatarFormat::Png, &jpeg),
            Err(AvatarError::NotAnImage(AvatarFormat::Png))
        );
        let png = encode(RgbImage::new(16, 16).into(), ImageFormat::Png);
        assert_eq!(
            reencode(AvatarFormat::Png, &png[..png.len() / 2]),
            Err(AvatarError::NotAnImage(AvatarFormat::Png)),
            "a truncated file"
        );
        assert_eq!(
            reencode(AvatarFormat::Jpeg, &[]),
            Err(AvatarError::NotAnImage(AvatarFormat::Jpeg))
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for len in [1usize, 8, 33, 100, 1000, 5000] {
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            for format in [AvatarFormat::Png, AvatarFormat::Jpeg] {
                assert!(reencode(format, &bytes).is_err());
                // With a valid signature in front, the decoder gets further.
                let magic: &[u8] = match format {
                    AvatarFormat::Png => b"\x89PNG\r\n\x1a\n",
                    AvatarFormat::Jpeg => b"\xFF\xD8\xFF\xE0",
                };
                bytes.splice(0..0, magic.iter().copied());
                assert!(reencode(format, &bytes).is_err());
            }
        }
    }

    #[tokio::test]
    async fn the_declared_type_must_be_png_or_jpeg() {
        let processor = AvatarProcessor::default();
        let png = bytes::Bytes::from(encode(RgbImage::new(8, 8).into(), ImageFormat::Png));
        assert_eq!(
            processor.process("image/gif", png.clone()).await,
            Err(AvatarError::UnsupportedType)
        );
        let avatar = processor.process("image/png", png).await.expect("accepted");
        assert_eq!(avatar.format, AvatarFormat::Png);
    }
}
