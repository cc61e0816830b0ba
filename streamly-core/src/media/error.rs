use thiserror::Error;

/// Why a media payload could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The payload ended before a field it announces.
    #[error("{what}: truncated (needed {needed} bytes, had {had})")]
    Truncated {
        /// What was being parsed.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        had: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("{what}: {reason}")]
    Invalid {
        /// What was being parsed.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A codec Streamly does not carry (only H.264 video and AAC audio).
    #[error("unsupported {kind} codec id {codec_id}")]
    UnsupportedCodec {
        /// `"video"` or `"audio"`.
        kind: &'static str,
        /// The FLV codec id.
        codec_id: u8,
    },
}

impl MediaError {
    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            reason: reason.into(),
        }
    }
}

/// Returns `bytes[..n]` or a [`MediaError::Truncated`].
pub(crate) fn take<'a>(what: &'static str, bytes: &'a [u8], n: usize) -> Result<&'a [u8], MediaError> {
    bytes.get(..n).ok_or(MediaError::Truncated {
        what,
        needed: n,
        had: bytes.len(),
    })
}
