//! Adapters: implementations of the [ports](crate::ports).
//!
//! The in-memory adapters are always built: they are the reference
//! implementations and the test doubles. SQL stores sit behind the `sqlite`
//! and `postgres` features; the HTTP key validator behind `http-validator`;
//! the object-store (S3) segment sink behind `s3`.

pub mod fs_segments;
#[cfg(feature = "http-validator")]
pub mod http_keys;
pub mod memory;
#[cfg(feature = "s3")]
pub mod object_store_segments;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod sql;
pub mod static_keys;

pub use fs_segments::FsSegmentSink;
#[cfg(feature = "http-validator")]
pub use http_keys::{HttpKeyValidator, HttpValidatorConfig};
pub use memory::{
    MemoryChatBus, MemoryProfileStore, MemoryRecordingStore, MemorySegmentSink, MemoryStreamStore,
    MemoryUserStore, MemoryViewerAnalyticsStore,
};
#[cfg(feature = "s3")]
pub use object_store_segments::{ObjectStoreSegmentSink, ObjectStoreSinkConfig};
pub use static_keys::StaticKeyValidator;
