//! JSON Web Tokens: HS256, with issuer, expiry, `nbf` (RFC 7519 §4.1.5)
//! and `iat` (§4.1.6: not in the future) checked on every verify.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;

use crate::domain::{User, UserId, Username};

/// Shortest secret accepted (bytes): HS256 keys shorter than the hash are weak.
pub const JWT_SECRET_MIN_LEN: usize = 32;

/// Clock skew tolerated between the node that issued a token and the one
/// checking it, in seconds: for `exp`, `nbf` and `iat` alike.
pub const JWT_LEEWAY_SECS: u64 = 5;

/// Why a token was not issued or not accepted.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtError {
    /// The configured secret is too short to be safe.
    #[error("JWT secret must be at least {JWT_SECRET_MIN_LEN} bytes")]
    WeakSecret,
    /// The token's `exp` is in the past.
    #[error("token has expired")]
    Expired,
    /// The token's `nbf` or `iat` is in the future (beyond
    /// `JWT_LEEWAY_SECS`, 5 s): minted ahead of time, or by a wrong clock.
    #[error("token is not valid yet")]
    NotYetValid,
    /// Bad signature, wrong issuer, wrong algorithm or not a JWT at all.
    #[error("token is invalid")]
    Invalid,
    /// Signing failed (should not happen with HS256).
    #[error("token could not be signed: {0}")]
    Signing(String),
}

/// Settings for issuing and verifying tokens.
#[derive(Clone)]
pub struct JwtConfig {
    /// HMAC secret, at least 32 bytes.
    pub secret: Vec<u8>,
    /// `iss` claim written and required.
    pub issuer: String,
    /// How long an issued token stays valid.
    pub ttl: Duration,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// The claims inside a Streamly token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: UserId,
    /// The username when the token was issued.
    pub name: Username,
    /// Issuer.
    pub iss: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

/// Issues and verifies HS256 tokens with one secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    ttl: Duration,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("issuer", &self.issuer)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Builds the keys, refusing secrets shorter than 32 bytes.
    pub fn new(config: &JwtConfig) -> Result<Self, JwtError> {
        if config.secret.len() < JWT_SECRET_MIN_LEN {
            return Err(JwtError::WeakSecret);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        // `nbf` is optional (ours carry none) but honoured when present.
        validation.validate_nbf = true;
        validation.leeway = JWT_LEEWAY_SECS;
        Ok(Self {
            encoding: EncodingKey::from_secret(&config.secret),
            decoding: DecodingKey::from_secret(&config.secret),
            validation,
            issuer: config.issuer.clone(),
            ttl: config.ttl,
        })
    }

    /// Issues a token for `user`, valid for the configured TTL from now.
    pub fn issue(&self, user: &User) -> Result<String, JwtError> {
        self.issue_at(user.id, &user.username, OffsetDateTime::now_utc())
    }

    /// Issues a token as if the time were `now` (tests use this to mint
    /// expired tokens).
    pub fn issue_at(&self, id: UserId, username: &Username, now: OffsetDateTime) -> Result<String, JwtError> {
        let iat = now.unix_timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: id,
            name: username.clone(),
            iss: self.issuer.clone(),
            iat,
            exp: iat.saturating_add(ttl),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| JwtError::Signing(e.to_string()))
    }

    /// Verifies a token's signature, algorithm, issuer, expiry, `nbf`, and
    /// that it was not issued in the future.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        use jsonwebtoken::errors::ErrorKind;
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => JwtError::Expired,
                ErrorKind::ImmatureSignature => JwtError::NotYetValid,
                _ => JwtError::Invalid,
            })?;
        let latest = OffsetDateTime::now_utc()
            .unix_timestamp()
            .saturating_add(JWT_LEEWAY_SECS as i64);
        if claims.iat > latest {
            return Err(JwtError::NotYetValid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &[u8]) -> JwtKeys {
        JwtKeys::new(&JwtConfig {
            secret: secret.to_vec(),
            issuer: "streamly-test".into(),
            ttl: Duration::from_secs(3600),
        })
        .expect("valid config")
    }

    fn alice() -> (UserId, Username) {
        (UserId::new_random(), Username::parse("alice").expect("valid"))
    }

    #[test]
    fn round_trip() {
        let k = keys(&[7; 32]);
        let (id, name) = alice();
        let token = k.issue_at(id, &name, OffsetDateTime::now_utc()).expect("issue");
        let claims = k.verify(&token).expect("verify");
        assert_eq!(claims.sub, id);
        assert_eq!(claims.name, name);
    }

    #[test]
    fn expired_forged_and_garbage_tokens_are_refused() {
        let k = keys(&[7; 32]);
        let (id, name) = alice();
        let old = OffsetDateTime::now_utc() - time::Duration::hours(2);
        let expired = k.issue_at(id, &name, old).expect("issue");
        assert_eq!(k.verify(&expired), Err(JwtError::Expired));

        let other = keys(&[8; 32]);
        let forged = other
            .issue_at(id, &name, OffsetDateTime::now_utc())
            .expect("issue");
        assert_eq!(k.verify(&forged), Err(JwtError::Invalid));

        for junk in ["", "a.b.c", "not a token", "eyJ.eyJ.sig"] {
            assert_eq!(k.verify(junk), Err(JwtError::Invalid));
        }
    }

    /// Signs arbitrary claims with `secret`, as a forger holding the key (or
    /// a node with a wrong clock) would.
    fn sign(secret: &[u8], claims: &serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret),
        )
        .expect("sign")
    }

    fn claims_at(iat: i64, nbf: Option<i64>) -> serde_json::Value {
        let (id, name) = alice();
        let mut c = serde_json::json!({
            "sub": id, "name": name, "iss": "streamly-test", "iat": iat, "exp": iat + 3600,
        });
        if let Some(nbf) = nbf {
            c["nbf"] = nbf.into();
        }
        c
    }

    #[test]
    fn future_nbf_is_refused() {
        let k = keys(&[7; 32]);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let later = sign(&[7; 32], &claims_at(now, Some(now + 600)));
        assert_eq!(k.verify(&later), Err(JwtError::NotYetValid));
        let past = sign(&[7; 32], &claims_at(now, Some(now - 10)));
        assert!(k.verify(&past).is_ok());
        // Within the leeway.
        let skewed = sign(&[7; 32], &claims_at(now, Some(now + 2)));
        assert!(k.verify(&skewed).is_ok());
    }

    #[test]
    fn future_iat_is_refused() {
        let k = keys(&[7; 32]);
        let (id, name) = alice();
        let tomorrow = OffsetDateTime::now_utc() + time::Duration::days(1);
        let minted_ahead = k.issue_at(id, &name, tomorrow).expect("issue");
        assert_eq!(k.verify(&minted_ahead), Err(JwtError::NotYetValid));
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let a_minute_ahead = sign(&[7; 32], &claims_at(now + 60, None));
        assert_eq!(k.verify(&a_minute_ahead), Err(JwtError::NotYetValid));
        // A clock a couple of seconds fast is tolerated.
        let skewed = sign(&[7; 32], &claims_at(now + 2, None));
        assert!(k.verify(&skewed).is_ok());
        // A token without `iat` is not one of ours.
        let mut no_iat = claims_at(now, None);
        no_iat.as_object_mut().expect("object").remove("iat");
        assert_eq!(k.verify(&sign(&[7; 32], &no_iat)), Err(JwtError::Invalid));
    }

    #[test]
    fn wrong_issuer_is_refused() {
        let a = keys(&[7; 32]);
        let b = JwtKeys::new(&JwtConfig {
            secret: vec![7; 32],
            issuer: "someone-else".into(),
            ttl: Duration::from_secs(60),
        })
        .expect("config");
        let (id, name) = alice();
        let token = b.issue_at(id, &name, OffsetDateTime::now_utc()).expect("issue");
        assert_eq!(a.verify(&token), Err(JwtError::Invalid));
    }

    #[test]
    fn short_secret_is_refused() {
        let err = JwtKeys::new(&JwtConfig {
            secret: b"short".to_vec(),
            issuer: "x".into(),
            ttl: Duration::from_secs(1),
        })
        .err();
        assert_eq!(err, Some(JwtError::WeakSecret));
    }
}
