//! In-memory adapters: one process, nothing persisted.

mod chat_bus;
mod profiles;
mod recordings;
mod segments;
mod streams;
mod users;
mod viewer_analytics;

pub use chat_bus::MemoryChatBus;
pub use profiles::MemoryProfileStore;
pub use recordings::MemoryRecordingStore;
pub use segments::MemorySegmentSink;
pub use streams::MemoryStreamStore;
pub use users::MemoryUserStore;
pub use viewer_analytics::MemoryViewerAnalyticsStore;
