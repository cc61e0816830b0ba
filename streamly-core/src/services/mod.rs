//! Services: the use cases, written against the ports only.

mod accounts;
mod key_validator;
mod streams;

pub use accounts::{AccountError, Accounts, AuthSession, HashingLimit};
pub use key_validator::StoreKeyValidator;
pub use streams::{CreatedStream, DEFAULT_MAX_STREAMS_PER_USER, DetailsEdit, StreamError, Streams};

#[cfg(test)]
mod tests;
