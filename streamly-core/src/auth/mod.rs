//! Authentication building blocks: password hashing, JWTs, stream keys and the
//! service-to-service secret.

mod jwt;
mod password;
mod shared_secret;
mod stream_key;

pub use jwt::{Claims, JwtConfig, JwtError, JwtKeys};
pub use password::{PasswordError, PasswordHasher, PasswordVerdict};
pub use shared_secret::{SHARED_SECRET_MIN_LEN, SharedSecret};
pub use stream_key::{StreamKey, StreamKeyHash};
