//! [`SharedSecret`]: the service-to-service credential
//! (`STREAMLY_INTERNAL_SECRET`), sent as `Authorization: Bearer <secret>`.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::ValidationError;

/// Shortest secret accepted: 16 bytes keeps guessing out of reach.
pub const SHARED_SECRET_MIN_LEN: usize = 16;

/// A secret shared by the services of one deployment. Never printed
/// (`Debug` is redacted); [`SharedSecret::verify`] compares in constant time.
#[derive(Clone)]
pub struct SharedSecret(String);

impl SharedSecret {
    /// At least [`SHARED_SECRET_MIN_LEN`] visible ASCII characters (it goes
    /// into an HTTP header).
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.len() < SHARED_SECRET_MIN_LEN {
            return Err(ValidationError::new(
                "internal_secret",
                format!("must be at least {SHARED_SECRET_MIN_LEN} characters"),
            ));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::new(
                "internal_secret",
                "must be printable ASCII without spaces",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The secret in plaintext, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret. Both sides are hashed first, so
    /// the comparison takes the same time whatever their lengths and
    /// contents.
    pub fn verify(&self, presented: &str) -> bool {
        let ours = Sha256::digest(self.0.as_bytes());
        let theirs = Sha256::digest(presented.as_bytes());
        ours.ct_eq(&theirs).into()
    }

    /// Whether an `Authorization` header value is `Bearer <this secret>`.
    pub fn verify_bearer(&self, header: &str) -> bool {
        let presented = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .unwrap_or("");
        // Verified even when the scheme is wrong: the time spent says nothing.
        self.verify(presented)
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_the_same_secret() {
        let s = SharedSecret::parse("a-shared-secret-of-some-length").expect("secret");
        assert!(s.verify("a-shared-secret-of-some-length"));
        assert!(!s.verify("a-shared-secret-of-some-lengtH"));
        assert!(!s.verify(""));
        assert!(s.verify_bearer("Bearer a-shared-secret-of-some-length"));
        assert!(!s.verify_bearer("a-shared-secret-of-some-length"));
        assert!(!s.verify_bearer("Basic a-shared-secret-of-some-length"));
        assert!(!format!("{s:?}").contains("shared"));
        assert!(SharedSecret::parse("short").is_err());
        assert!(SharedSecret::parse("a secret with spaces in it").is_err());
    }
}
