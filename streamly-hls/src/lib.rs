//! Streamly hls (skeleton, filled by its issue).
