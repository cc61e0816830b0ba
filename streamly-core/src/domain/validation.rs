use thiserror::Error;

/// Why a value from outside was refused by a domain constructor.
///
/// `field` names the input (`"username"`, `"email"`, …) so an API layer can
/// point at it; `reason` is a sentence for a human.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {field}: {reason}")]
pub struct ValidationError {
    /// The input that was refused.
    pub field: &'static str,
    /// Why it was refused.
    pub reason: String,
}

impl ValidationError {
    /// A validation error for `field` with a human-readable `reason`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}
