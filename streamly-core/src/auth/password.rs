//! Password hashing: argon2id PHC strings, with legacy bcrypt hashes still
//! verifying (and reported as needing an upgrade).

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use thiserror::Error;

/// What went wrong hashing or checking a password.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The stored hash is neither a PHC string nor a bcrypt hash.
    #[error("stored password hash is not in a known format")]
    UnknownFormat,
    /// The hashing library failed (bad parameters, out of memory).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordVerdict {
    /// The password is wrong.
    Mismatch,
    /// The password is right and the hash is current.
    Match,
    /// The password is right, but the hash is bcrypt or uses weaker argon2
    /// parameters: store a fresh hash.
    MatchNeedsRehash,
}

impl PasswordVerdict {
    /// Whether the password was right.
    pub fn is_match(self) -> bool {
        !matches!(self, Self::Mismatch)
    }
}

/// Hashes passwords with argon2id and verifies argon2 and bcrypt hashes.
///
/// Hashing is CPU-bound on purpose (tens of milliseconds): call it from
/// `tokio::task::spawn_blocking`, as [`crate::services::Accounts`] does.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .finish()
    }
}

impl Default for PasswordHasher {
    /// OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        Self {
            params: Params::DEFAULT,
        }
    }
}

impl PasswordHasher {
    /// A hasher with explicit argon2id costs (memory in KiB, iterations,
    /// lanes). Low costs are for tests only.
    pub fn with_costs(m_cost_kib: u32, t_cost: u32, lanes: u32) -> Result<Self, PasswordError> {
        let params = Params::new(m_cost_kib, t_cost, lanes, None)
            .map_err(|e| PasswordError::Hashing(e.to_string()))?;
        Ok(Self { params })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes a password into an argon2id PHC string with a random salt.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let mut salt_bytes = [0u8; 16];
        getrandom::fill(&mut salt_bytes).map_err(|e| PasswordError::Hashing(e.to_string()))?;
        let hash: PasswordHash = self
            .argon2()
            .hash_password_with_salt(password.as_bytes(), &salt_bytes)
            .map_err(|e| PasswordError::Hashing(e.to_string()))?;
        Ok(hash.to_string())
    }

    /// Checks `password` against a stored argon2 PHC string or bcrypt hash.
    pub fn verify(&self, password: &str, stored: &str) -> Result<PasswordVerdict, PasswordError> {
        if is_bcrypt(stored) {
            return match bcrypt::verify(password, stored) {
                Ok(true) => Ok(PasswordVerdict::MatchNeedsRehash),
                Ok(false) => Ok(PasswordVerdict::Mismatch),
                Err(_) => Err(PasswordError::UnknownFormat),
            };
        }
        let parsed = PasswordHash::new(stored).map_err(|_| PasswordError::UnknownFormat)?;
        if self
            .argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_err()
        {
            return Ok(PasswordVerdict::Mismatch);
        }
        let current = parsed.algorithm.as_str() == "argon2id"
            && Params::try_from(&parsed)
                .is_ok_and(|p| p.m_cost() >= self.params.m_cost() && p.t_cost() >= self.params.t_cost());
        Ok(if current {
            PasswordVerdict::Match
        } else {
            PasswordVerdict::MatchNeedsRehash
        })
    }

    /// Does the same work as a real verification against a hash that matches
    /// nothing, so an unknown user takes as long to refuse as a wrong password.
    pub fn verify_dummy(&self, password: &str) {
        // A fixed salt is fine here: the result is thrown away.
        let _: Result<PasswordHash, _> = self
            .argon2()
            .hash_password_with_salt(password.as_bytes(), b"streamly-dummy-salt");
    }
}

fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::with_costs(256, 1, 1).expect("valid params")
    }

    #[test]
    fn argon2_round_trip() {
        let h = fast();
        let hash = h.hash("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert_eq!(
            h.verify("correct horse", &hash).ok(),
            Some(PasswordVerdict::Match)
        );
        assert_eq!(
            h.verify("wrong horse", &hash).ok(),
            Some(PasswordVerdict::Mismatch)
        );
    }

    #[test]
    fn weaker_argon2_needs_rehash() {
        let weak = fast().hash("pw123456").expect("hash");
        let strong = PasswordHasher::with_costs(512, 2, 1).expect("params");
        assert_eq!(
            strong.verify("pw123456", &weak).ok(),
            Some(PasswordVerdict::MatchNeedsRehash)
        );
    }

    #[test]
    fn bcrypt_verifies_and_asks_for_upgrade() {
        let legacy = bcrypt::hash("legacy-pass", 4).expect("bcrypt");
        let h = fast();
        assert_eq!(
            h.verify("legacy-pass", &legacy).ok(),
            Some(PasswordVerdict::MatchNeedsRehash)
        );
        assert_eq!(
            h.verify("nope-nope", &legacy).ok(),
            Some(PasswordVerdict::Mismatch)
        );
    }

    #[test]
    fn garbage_hash_is_an_error_not_a_panic() {
        let h = fast();
        for junk in ["", "plaintext", "$2b$xx", "$argon2id$v=19$garbage"] {
            assert!(h.verify("whatever1", junk).is_err(), "{junk:?}");
        }
    }
}
