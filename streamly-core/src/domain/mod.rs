//! Domain types, validated at construction.
//!
//! Every constructor that takes outside input (`parse`) returns a
//! [`ValidationError`] instead of panicking, so a value of one of these types
//! is always well-formed.

mod chat;
mod ids;
mod stream;
mod user;
mod validation;

pub use chat::{ChatAuthor, ChatEvent, ChatMessage, ChatText, MessageId, RoomId};
pub use ids::{StreamId, UserId};
pub use stream::{Stream, StreamTitle};
pub use user::{EMAIL_MAX_LEN, Email, NewUser, PASSWORD_MAX_LEN, PASSWORD_MIN_LEN, Password, User, Username};
pub use validation::ValidationError;
