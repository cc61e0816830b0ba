//! Stream keys: 256 random bits from the OS, URL-safe base64, stored only as
//! SHA-256 and compared in constant time.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::ValidationError;

/// Longest stream key accepted from a client (bounds hashing work and logs).
pub const STREAM_KEY_MAX_LEN: usize = 256;

/// A stream key in plaintext: shown to its owner once, presented by the
/// broadcaster when publishing. `Debug` never shows it (and there is no
/// `Display`): read it with [`StreamKey::expose`] only where it must be shown.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamKey(String);

impl StreamKey {
    /// A fresh key: 32 bytes from the OS CSPRNG, URL-safe base64 (43 chars).
    ///
    /// # Errors
    /// Fails only if the operating system cannot supply randomness.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Wraps a key presented by a client (1–256 visible ASCII characters).
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.is_empty() || s.len() > STREAM_KEY_MAX_LEN {
            return Err(ValidationError::new(
                "stream_key",
                format!("must be 1 to {STREAM_KEY_MAX_LEN} characters"),
            ));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::new(
                "stream_key",
                "must be printable ASCII without spaces",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The key in plaintext, for showing to its owner exactly once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 of the key, which is what gets stored.
    pub fn hash(&self) -> StreamKeyHash {
        StreamKeyHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamKey(<redacted>)")
    }
}

/// The SHA-256 of a [`StreamKey`]. Equality is constant-time.
#[derive(Clone, Copy, Eq)]
pub struct StreamKeyHash([u8; 32]);

impl StreamKeyHash {
    /// Wraps 32 bytes read back from storage.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 32 bytes from storage, refusing any other length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ValidationError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| ValidationError::new("key_hash", "must be 32 bytes"))
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, for stores that keep text.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses the output of [`StreamKeyHash::to_hex`].
    pub fn from_hex(s: &str) -> Result<Self, ValidationError> {
        let err = || ValidationError::new("key_hash", "must be 64 hex digits");
        if s.len() != 64 || !s.is_ascii() {
            return Err(err());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| err())?;
        }
        Ok(Self(out))
    }
}

impl PartialEq for StreamKeyHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::hash::Hash for StreamKeyHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for StreamKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to tell hashes apart in logs.
        write!(f, "StreamKeyHash({}…)", &self.to_hex()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_keys_are_long_urlsafe_and_distinct() {
        let a = StreamKey::generate().expect("rng");
        let b = StreamKey::generate().expect("rng");
        assert_eq!(a.expose().len(), 43);
        assert!(
            a.expose()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
        assert_ne!(a.hash(), b.hash());
        assert_eq!(StreamKey::parse(a.expose()).map(|k| k.hash()), Ok(a.hash()));
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn hex_round_trip() {
        let h = StreamKey::generate().expect("rng").hash();
        assert_eq!(StreamKeyHash::from_hex(&h.to_hex()), Ok(h));
        assert!(StreamKeyHash::from_hex("zz").is_err());
        assert!(StreamKeyHash::from_hex(&"é".repeat(32)).is_err());
    }

    proptest! {
        #[test]
        fn parse_and_from_hex_never_panic(s in ".{0,300}") {
            let _ = StreamKey::parse(&s);
            let _ = StreamKeyHash::from_hex(&s);
        }
    }
}
