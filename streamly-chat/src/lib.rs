//! Streamly chat (skeleton, filled by its issue).
