//! A webhook receiver on port 0 that checks `Streamly-Signature` with an
//! HMAC computed from its definition (not the `hmac` crate the sender uses).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// The secret the tests sign with.
pub const SECRET: &[u8] = b"a webhook secret for the tests";

/// HMAC-SHA256 (RFC 2104) over plain SHA-256, hex.
fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new().chain_update(&ipad).chain_update(message).finalize();
    let outer = Sha256::new().chain_update(&opad).chain_update(inner).finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

/// One request the receiver got.
#[derive(Debug)]
pub struct Received {
    pub event_id: String,
    pub body: Value,
    /// Whether `Streamly-Signature` verified (HMAC and a fresh timestamp).
    pub signed: bool,
    /// What the receiver answered.
    pub answered: StatusCode,
}

fn verify(headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(header) = headers.get("streamly-signature").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<u64>().ok(),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let signed = [format!("{t}.").as_bytes(), body].concat();
    now.abs_diff(t) <= 300 && hmac_sha256_hex(SECRET, &signed) == v1
}

#[derive(Clone)]
struct Receiver {
    seen: mpsc::Sender<Received>,
    /// Statuses to answer, in order; 200 once empty.
    script: Arc<Mutex<VecDeque<StatusCode>>>,
}

async fn hook(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let answered = receiver
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(StatusCode::OK);
    let received = Received {
        event_id: headers
            .get("streamly-event-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        signed: verify(&headers, &body),
        answered,
    };
    let _ = receiver.seen.send(received).await;
    answered
}

/// A receiver on 127.0.0.1:0 answering `script` then 200s: its URL and
/// what it receives.
pub async fn receiver(script: Vec<StatusCode>) -> (String, mpsc::Receiver<Received>) {
    let (tx, rx) = mpsc::channel(64);
    let state = Receiver {
        seen: tx,
        script: Arc::new(Mutex::new(script.into())),
    };
    let app = Router::new().route("/hook", post(hook)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

pub async fn next(rx: &mut mpsc::Receiver<Received>, within: Duration) -> Received {
    tokio::time::timeout(within, rx.recv())
        .await
        .expect("a delivery in time")
        .expect("receiver running")
}
