//! Streamly rtmp (skeleton, filled by its issue).
