//! [`StreamHub`]: the live streams of one server, and their subscribers.
//!
//! ## Ordering guarantee
//!
//! On a grant the publisher's connection registers the stream here, then
//! broadcasts [`StreamEvent::Started`], and only then answers the client with
//! `NetStream.Publish.Start` — so no media frame is forwarded before
//! `Started`. A subscriber replays the stream state (below), so one that calls
//! [`StreamHub::subscribe`] when it sees `Started` misses nothing as long as it
//! subscribes before the second keyframe (in practice: at once). A consumer
//! that knows the stream id beforehand can use
//! [`StreamHub::subscribe_upcoming`] instead: attached before `Started`, it
//! gets the next publish from its first frame whatever the timing (a very
//! short publish may even end before a `Started` handler runs, and then
//! `subscribe` returns `None`).
//!
//! ## Replay (GOP cache)
//!
//! Each live stream keeps the frames since its last keyframe and the decoder
//! configuration that was current when that GOP started. The cache is bounded
//! by `gop_cache_bytes` (see [`crate::RtmpConfig`]), counting every cached
//! frame: media payloads, configuration records, metadata, plus 64 bytes per
//! frame. A configuration frame (sequence header, metadata) replaces the
//! cached one of its kind, so an encoder repeating them cannot grow it. A new subscriber first receives
//! that configuration (`Metadata`, `VideoConfig`, `AudioConfig`), then the
//! cached GOP starting at its keyframe, then live frames. Until the second
//! keyframe the cache holds everything since the publish began (frames before
//! the first keyframe included). If a GOP outgrows the
//! cache, the cache is emptied until the next keyframe; subscribers arriving
//! then get the configuration and live frames, and must wait for a keyframe.
//!
//! ## Slow subscribers
//!
//! Each subscriber has a bounded channel (`subscriber_capacity` frames).
//! Frames are offered with `try_send`: a subscriber whose channel is full is
//! dropped at once (its receiver then yields `None`, as at the end of the
//! stream; [`StreamHub::is_live`] tells the two apart), counted in
//! [`StreamHub::dropped_subscribers`] and logged. The publisher never waits
//! for a subscriber, so one slow consumer never stalls any stream's ingest.
//!
//! ## Health
//!
//! Each live stream keeps a [`StreamHealth`] that every forwarded frame
//! updates under the lock `forward` already holds: O(1), no copy, no
//! allocation (see `streamly_core::media::StreamHealth`). The arrival time
//! is read here, the one clock call per frame. [`StreamHub::health`]
//! reports it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use streamly_core::domain::StreamId;
use streamly_core::media::{HealthReport, HealthThresholds, MediaFrame, StreamHealth};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// Most receivers [`StreamHub::subscribe_upcoming`] keeps waiting per stream.
const MAX_WAITING: usize = 64;

/// A change in the set of live streams.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// A publish was granted; frames follow. Subscribe now to miss nothing.
    Started {
        /// The stream.
        stream_id: StreamId,
        /// The connection that publishes it (as in the logs).
        connection_id: u64,
        /// The RTMP application name.
        app: String,
    },
    /// The publish ended. Subscribers' receivers have ended, and the
    /// validator's `publish_ended` has returned (or timed out).
    Ended {
        /// The stream.
        stream_id: StreamId,
    },
}

/// Why a stream could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AlreadyLive;

#[derive(Debug, Default)]
struct Replay {
    metadata: Option<MediaFrame>,
    video_config: Option<MediaFrame>,
    audio_config: Option<MediaFrame>,
}

impl Replay {
    fn frames(&self) -> impl Iterator<Item = &MediaFrame> {
        [&self.metadata, &self.video_config, &self.audio_config]
            .into_iter()
            .flatten()
    }
}

/// What one cached frame costs, counted against `gop_cache_bytes`: its
/// payload plus this much for the frame itself (queue slot, headers).
const FRAME_OVERHEAD: usize = 64;

/// The bytes a cached frame holds: payload (or configuration record, or the
/// metadata with its encoder name) plus [`FRAME_OVERHEAD`].
fn cached_size(frame: &MediaFrame) -> usize {
    FRAME_OVERHEAD
        + match frame {
            MediaFrame::Video(v) => v.data.len(),
            MediaFrame::Audio(a) => a.data.len(),
            // SPS and PPS are slices of the record.
            MediaFrame::VideoConfig(c) => c.record.len(),
            MediaFrame::AudioConfig(c) => c.raw.len(),
            MediaFrame::Metadata(m) => {
                std::mem::size_of_val(&**m) + m.encoder.as_ref().map_or(0, String::len)
            }
        }
}

/// Which configuration a frame carries, if it is a configuration frame.
fn config_kind(frame: &MediaFrame) -> Option<u8> {
    match frame {
        MediaFrame::Metadata(_) => Some(0),
        MediaFrame::VideoConfig(_) => Some(1),
        MediaFrame::AudioConfig(_) => Some(2),
        _ => None,
    }
}

/// One live stream's fan-out state.
#[derive(Debug)]
struct LiveStream {
    subscribers: Vec<mpsc::Sender<MediaFrame>>,
    /// The latest configuration frames.
    current: Replay,
    /// The configuration when the cached GOP started.
    gop_start: Replay,
    gop: Vec<MediaFrame>,
    gop_bytes: usize,
    /// Whether the current GOP outgrew the cache.
    gop_overflow: bool,
    /// Whether a keyframe has been forwarded yet.
    seen_keyframe: bool,
    /// Whether the publish has ended (no more subscribers are added).
    closed: bool,
    /// Cancelled by [`StreamHub::disconnect`]: the publisher's connection ends.
    kick: CancellationToken,
    /// What the dashboard shows, updated by every frame.
    health: StreamHealth,
}

impl LiveStream {
    fn new(subscribers: Vec<mpsc::Sender<MediaFrame>>, kick: CancellationToken, started: Instant) -> Self {
        Self {
            subscribers,
            current: Replay::default(),
            gop_start: Replay::default(),
            gop: Vec::new(),
            gop_bytes: 0,
            gop_overflow: false,
            seen_keyframe: false,
            closed: false,
            kick,
            health: StreamHealth::new(started),
        }
    }
}

#[derive(Debug)]
struct HubInner {
    // A std mutex: held for map lookups and inserts only, never across await.
    streams: Mutex<HashMap<StreamId, Arc<Mutex<LiveStream>>>>,
    /// Subscribers waiting for a stream's next publish. Locked only while
    /// `streams` is held (lock order: `streams`, then `waiting`).
    waiting: Mutex<HashMap<StreamId, Vec<mpsc::Sender<MediaFrame>>>>,
    events: broadcast::Sender<StreamEvent>,
    subscriber_capacity: usize,
    gop_cache_bytes: usize,
    dropped: AtomicU64,
}

/// The live streams of an [`RtmpServer`](crate::RtmpServer): subscribe to
/// their frames or to started/ended events. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StreamHub {
    inner: Arc<HubInner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the maps inconsistent
    // (single inserts/removes), so poisoning is ignored.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl StreamHub {
    /// A hub whose subscriber channels hold `subscriber_capacity` frames (at
    /// least 4, so the replayed configuration always fits) and whose GOP
    /// cache holds up to `gop_cache_bytes` of payload per stream.
    pub fn new(subscriber_capacity: usize, gop_cache_bytes: usize) -> Self {
        let (events, _) = broadcast::channel(256);
        Self {
            inner: Arc::new(HubInner {
                streams: Mutex::new(HashMap::new()),
                waiting: Mutex::new(HashMap::new()),
                events,
                subscriber_capacity: subscriber_capacity.max(4),
                gop_cache_bytes,
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// Started/ended events from now on. A receiver that lags behind by more
    /// than 256 events gets `RecvError::Lagged` and should resynchronise with
    /// [`live_streams`](Self::live_streams).
    pub fn events(&self) -> broadcast::Receiver<StreamEvent> {
        self.inner.events.subscribe()
    }

    /// Whether `stream` has a publisher.
    pub fn is_live(&self, stream: &StreamId) -> bool {
        lock(&self.inner.streams).contains_key(stream)
    }

    /// The streams that have a publisher.
    pub fn live_streams(&self) -> Vec<StreamId> {
        lock(&self.inner.streams).keys().cloned().collect()
    }

    /// Subscribers dropped so far because their channel was full.
    pub fn dropped_subscribers(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Closes the connection of `stream`'s current publisher, as if it had
    /// disconnected: its connection task ends the publish normally (the
    /// subscribers' receivers end, the validator's `publish_ended` is called,
    /// then [`StreamEvent::Ended`] is broadcast) and closes the socket. Returns
    /// at once, before that has happened; `false` if the stream was not live.
    /// The client may reconnect and publish again if its key is still valid:
    /// revoke the key first to keep it out.
    pub fn disconnect(&self, stream: &StreamId) -> bool {
        let Some(live) = lock(&self.inner.streams).get(stream).cloned() else {
            return false;
        };
        lock(&live).kick.cancel();
        true
    }

    /// The health of a live stream's ingest now (see the module docs),
    /// with warnings raised at `limits`; `None` if the stream is not live.
    pub fn health(&self, stream: &StreamId, limits: &HealthThresholds) -> Option<HealthReport> {
        let live = lock(&self.inner.streams).get(stream).cloned()?;
        let live = lock(&live);
        Some(live.health.snapshot(Instant::now(), limits))
    }

    /// Subscribes to a live stream's frames: the replayed state first (see
    /// the module docs), then live frames. `None` if the stream is not live.
    /// The receiver yields `None` when the publish ends (or when this
    /// subscriber fell too far behind and was dropped).
    pub fn subscribe(&self, stream: &StreamId) -> Option<mpsc::Receiver<MediaFrame>> {
        let live = lock(&self.inner.streams).get(stream).cloned()?;
        Some(self.attach(&live))
    }

    /// Adds a subscriber to a live stream, replaying its state first.
    fn attach(&self, live: &Mutex<LiveStream>) -> mpsc::Receiver<MediaFrame> {
        let mut live = lock(live);
        // Room for the replay plus the usual headroom for live frames.
        let capacity = self.inner.subscriber_capacity + live.gop.len() + 3;
        let (tx, rx) = mpsc::channel(capacity);
        for frame in live.gop_start.frames().chain(live.gop.iter()) {
            // Cannot fail: the channel is new and large enough.
            let _ = tx.try_send(frame.clone());
        }
        if live.gop.is_empty() && live.gop_start.frames().next().is_none() {
            // No GOP cached (overflow, or disabled): replay the latest config.
            for frame in live.current.frames() {
                let _ = tx.try_send(frame.clone());
            }
        }
        // A publish that closed meanwhile: the receiver ends after the replay.
        if !live.closed {
            live.subscribers.push(tx);
        }
        rx
    }

    /// Like [`subscribe`](Self::subscribe), but if the stream is not live the
    /// receiver waits for its next publish and gets it from the first frame
    /// (it is attached before `Started` is broadcast). For consumers that
    /// know the stream id in advance (a recorder, a test). At most
    /// 64 receivers wait per stream: beyond that the oldest is
    /// closed. Waiting receivers that were dropped are pruned on each call.
    pub fn subscribe_upcoming(&self, stream: &StreamId) -> mpsc::Receiver<MediaFrame> {
        // `streams` stays locked so that `register` cannot slip in between.
        let streams = lock(&self.inner.streams);
        if let Some(live) = streams.get(stream).cloned() {
            drop(streams);
            return self.attach(&live);
        }
        let mut waiting = lock(&self.inner.waiting);
        waiting.retain(|_, senders| {
            senders.retain(|tx| !tx.is_closed());
            !senders.is_empty()
        });
        let (tx, rx) = mpsc::channel(self.inner.subscriber_capacity);
        let senders = waiting.entry(stream.clone()).or_default();
        if senders.len() >= MAX_WAITING {
            senders.remove(0);
        }
        senders.push(tx);
        rx
    }

    /// Registers a granted stream and broadcasts `Started`.
    pub(crate) fn register(
        &self,
        stream_id: &StreamId,
        connection_id: u64,
        app: &str,
    ) -> Result<Publisher, AlreadyLive> {
        let kick = CancellationToken::new();
        let live = {
            let mut streams = lock(&self.inner.streams);
            if streams.contains_key(stream_id) {
                return Err(AlreadyLive);
            }
            let subscribers = lock(&self.inner.waiting).remove(stream_id).unwrap_or_default();
            let live = Arc::new(Mutex::new(LiveStream::new(
                subscribers,
                kick.clone(),
                Instant::now(),
            )));
            streams.insert(stream_id.clone(), Arc::clone(&live));
            live
        };
        // No receivers is fine: nobody listens yet.
        let _ = self.inner.events.send(StreamEvent::Started {
            stream_id: stream_id.clone(),
            connection_id,
            app: app.to_owned(),
        });
        Ok(Publisher {
            hub: self.clone(),
            stream_id: stream_id.clone(),
            live,
            kick,
            closed: false,
        })
    }
}

/// A registered publish: forwards frames; unregisters on [`close`] or
/// drop, and broadcasts `Ended` on drop.
///
/// [`close`]: Publisher::close
#[derive(Debug)]
pub(crate) struct Publisher {
    hub: StreamHub,
    stream_id: StreamId,
    live: Arc<Mutex<LiveStream>>,
    kick: CancellationToken,
    closed: bool,
}

impl Publisher {
    /// The stream being published.
    pub(crate) fn stream_id(&self) -> &StreamId {
        &self.stream_id
    }

    /// Cancelled when [`StreamHub::disconnect`] asks this publisher to go.
    pub(crate) fn kicked(&self) -> CancellationToken {
        self.kick.clone()
    }

    /// Offers a frame to every subscriber and updates the replay state.
    pub(crate) fn forward(&self, frame: MediaFrame) {
        let cache_max = self.hub.inner.gop_cache_bytes;
        let mut live = lock(&self.live);
        let live = &mut *live;
        live.health.observe(&frame, Instant::now());
        match &frame {
            MediaFrame::Metadata(_) => live.current.metadata = Some(frame.clone()),
            MediaFrame::VideoConfig(_) => live.current.video_config = Some(frame.clone()),
            MediaFrame::AudioConfig(_) => live.current.audio_config = Some(frame.clone()),
            // The first keyframe keeps what came before it (the stream start).
            MediaFrame::Video(v)
                if v.keyframe && !std::mem::replace(&mut live.seen_keyframe, true) && !live.gop_overflow => {}
            MediaFrame::Video(v) if v.keyframe => {
                live.gop.clear();
                live.gop_bytes = 0;
                live.gop_overflow = false;
                live.gop_start = Replay {
                    metadata: live.current.metadata.clone(),
                    video_config: live.current.video_config.clone(),
                    audio_config: live.current.audio_config.clone(),
                };
            }
            _ => {}
        }
        if !live.gop_overflow {
            // A configuration frame replaces the cached one of its kind (an
            // encoder repeating sequence headers must not grow the cache).
            if let Some(kind) = config_kind(&frame)
                && let Some(i) = live.gop.iter().rposition(|f| config_kind(f) == Some(kind))
            {
                let old = live.gop.remove(i);
                live.gop_bytes -= cached_size(&old);
            }
            let size = cached_size(&frame);
            if live.gop_bytes + size <= cache_max {
                live.gop_bytes += size;
                live.gop.push(frame.clone());
            } else {
                live.gop.clear();
                live.gop_bytes = 0;
                live.gop_overflow = true;
                live.gop_start = Replay::default();
            }
        }
        let stream_id = &self.stream_id;
        let dropped = &self.hub.inner.dropped;
        let health = &mut live.health;
        live.subscribers.retain(|tx| match tx.try_send(frame.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                health.dropped_subscriber();
                let total = dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(%stream_id, dropped_total = total, "slow subscriber dropped (channel full)");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    /// Counts a frame the connection dropped (a malformed tag) in the
    /// stream's health.
    pub(crate) fn dropped_frame(&self) {
        lock(&self.live).health.dropped_frame(Instant::now());
    }

    /// Unregisters the stream: `is_live` turns false and subscribers'
    /// receivers end. Idempotent. `Ended` is broadcast when the publisher
    /// is dropped, after the server has told the validator.
    pub(crate) fn close(&mut self) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        {
            let mut streams = lock(&self.hub.inner.streams);
            if streams
                .get(&self.stream_id)
                .is_some_and(|l| Arc::ptr_eq(l, &self.live))
            {
                streams.remove(&self.stream_id);
            }
        }
        let mut live = lock(&self.live);
        live.closed = true;
        live.subscribers.clear();
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.close();
        let _ = self.hub.inner.events.send(StreamEvent::Ended {
            stream_id: self.stream_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests;
