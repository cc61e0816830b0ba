//! Streamly facade.
