//! A [`StreamKeyValidator`] over a fixed list of keys, for examples and tests.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::auth::{StreamKey, StreamKeyHash};
use crate::domain::{StreamId, ValidationError};
use crate::ports::{PublishDecision, PublishRequest, RejectReason, StreamKeyValidator, ValidatorError};

/// Grants publishes whose key is in a fixed list, under that key's stream id.
///
/// Keys are kept only as hashes. Calls to `validate` and `publish_ended` are
/// recorded, so tests can check what the RTMP server asked.
#[derive(Debug, Default)]
pub struct StaticKeyValidator {
    keys: HashMap<StreamKeyHash, StreamId>,
    // A std mutex: pushes only, never across await.
    log: Mutex<Vec<ValidatorCall>>,
}

/// A call a [`StaticKeyValidator`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidatorCall {
    /// `validate` was asked about `app`; the answer was `decision`.
    Validate {
        /// The app name asked about.
        app: String,
        /// What was answered.
        decision: PublishDecision,
    },
    /// `publish_ended` for this stream.
    Ended(StreamId),
}

impl StaticKeyValidator {
    /// A validator granting `key → stream` for each pair.
    pub fn new(pairs: impl IntoIterator<Item = (StreamId, StreamKey)>) -> Self {
        Self {
            keys: pairs.into_iter().map(|(id, key)| (key.hash(), id)).collect(),
            log: Mutex::new(Vec::new()),
        }
    }

    /// Parses `id=key,id2=key2` (the `STREAMLY_STREAM_KEYS` format).
    pub fn from_spec(spec: &str) -> Result<Self, ValidationError> {
        let mut pairs = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (id, key) = item
                .split_once('=')
                .ok_or_else(|| ValidationError::new("stream_keys", format!("{item:?} is not id=key")))?;
            pairs.push((StreamId::parse(id.trim())?, StreamKey::parse(key.trim())?));
        }
        if pairs.is_empty() {
            return Err(ValidationError::new("stream_keys", "no id=key pairs given"));
        }
        Ok(Self::new(pairs))
    }

    /// Every call received so far, in order.
    pub fn calls(&self) -> Vec<ValidatorCall> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, call: ValidatorCall) {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).push(call);
    }
}

#[async_trait]
impl StreamKeyValidator for StaticKeyValidator {
    async fn validate(&self, request: &PublishRequest) -> Result<PublishDecision, ValidatorError> {
        let decision = match self.keys.get(&request.key.hash()) {
            Some(id) => PublishDecision::Grant(id.clone()),
            None => PublishDecision::Reject(RejectReason::UnknownKey),
        };
        self.record(ValidatorCall::Validate {
            app: request.app.clone(),
            decision: decision.clone(),
        });
        Ok(decision)
    }

    async fn publish_ended(&self, stream: &StreamId) -> Result<(), ValidatorError> {
        self.record(ValidatorCall::Ended(stream.clone()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spec_grants_and_rejects() {
        let v = StaticKeyValidator::from_spec("demo=secret1, other=secret2").expect("spec");
        let ask = |key: &str| PublishRequest {
            app: "live".into(),
            key: StreamKey::parse(key).expect("key"),
        };
        assert_eq!(
            v.validate(&ask("secret1")).await.expect("ok"),
            PublishDecision::Grant(StreamId::parse("demo").expect("id"))
        );
        assert_eq!(
            v.validate(&ask("nope")).await.expect("ok"),
            PublishDecision::Reject(RejectReason::UnknownKey)
        );
        assert_eq!(v.calls().len(), 2);
        for bad in ["", "demo", "../x=k", "demo=a b"] {
            assert!(StaticKeyValidator::from_spec(bad).is_err(), "{bad:?}");
        }
    }
}
