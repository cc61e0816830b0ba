//! Authentication building blocks: password hashing, JWTs and stream keys.

mod jwt;
mod password;
mod stream_key;

pub use jwt::{Claims, JwtConfig, JwtError, JwtKeys};
pub use password::{PasswordError, PasswordHasher, PasswordVerdict};
pub use stream_key::{StreamKey, StreamKeyHash};
