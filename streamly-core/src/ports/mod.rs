//! The ports: traits for everything that touches storage or the network
//! between nodes. All are object-safe and used as `Arc<dyn Port>`; adapters
//! live in [`crate::adapters`].

mod chat_bus;
mod profile_store;
mod recording_store;
mod segment_sink;
mod store;
mod validator;
mod viewer_analytics;

pub use chat_bus::{ChatBus, ChatBusError, ChatSubscription, SubscriptionError};
pub use profile_store::ProfileStore;
pub use recording_store::RecordingStore;
pub use segment_sink::{SegmentPath, SegmentSink, SegmentSinkError};
pub use store::{ConflictField, StoreError, StreamStore, UserStore};
pub use validator::{PublishDecision, PublishRequest, RejectReason, StreamKeyValidator, ValidatorError};
pub use viewer_analytics::ViewerAnalyticsStore;

#[cfg(test)]
pub use store::{MockStreamStore, MockUserStore};
