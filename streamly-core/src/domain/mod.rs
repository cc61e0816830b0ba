//! Domain types, validated at construction.
//!
//! Every constructor that takes outside input (`parse`) returns a
//! [`ValidationError`] instead of panicking, so a value of one of these types
//! is always well-formed.

mod analytics;
mod chat;
mod details;
mod ids;
mod page;
mod profile;
mod recording;
mod stream;
mod user;
mod validation;

pub use analytics::{
    BroadcastAnalytics, BroadcastKey, MAX_SAMPLES_PER_BROADCAST, MAX_SESSIONS_PER_BROADCAST, NodeId,
    SESSION_ID_MAX_LEN, SESSION_ID_MIN_LEN, SessionHash, ViewerPoint, ViewerSample,
};
pub use chat::{ChatAuthor, ChatEvent, ChatMessage, ChatText, MessageId, RoomId};
pub use details::{
    Category, DESCRIPTION_MAX_CHARS, SEARCH_MAX_CHARS, SEARCH_WORDS_MAX, StreamDescription, StreamDetails,
    TAG_MAX_CHARS, TAG_PATTERN, TAGS_MAX, Tag, Tags, search_words, sort_search_results,
};
pub use ids::{StreamId, UserId};
pub use page::{
    CURSOR_MAX_LEN, CURSOR_PATTERN, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Page, PageRequest, StreamCursor,
    paginate,
};
pub use profile::{
    AVATAR_MAX_STORED_BYTES, Avatar, AvatarFormat, BIO_MAX_CHARS, Bio, DISPLAY_NAME_MAX_CHARS, DisplayName,
    FOLLOW_LIMIT, FollowCounts, Followed, Profile, avatar_version,
};
pub use recording::{
    RECORDINGS_PREFIX, Recording, RecordingEnd, RecordingId, RecordingStatus, recording_prefix,
};
pub use stream::{Stream, StreamTitle, TITLE_MAX_CHARS, sort_live_first, sort_newest_first};
pub use user::{EMAIL_MAX_LEN, Email, NewUser, PASSWORD_MAX_LEN, PASSWORD_MIN_LEN, Password, User, Username};
pub use validation::{ValidationError, is_format_char};

/// The current UTC time truncated to whole microseconds: what every store
/// can keep exactly, so a value read back compares equal to the one written.
pub fn now_utc() -> time::OffsetDateTime {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}
