//! `GET /api/streams/{id}/health`: a live stream's ingest health, for its
//! owner; `GET /api/streams/{id}/health/events`: the same pushed every
//! second as server-sent events, which the dashboard reads.
//!
//! The figures come from a [`StreamHealthSource`]: the platform answers
//! from its RTMP hub (`StreamHub::health`), so only the node that ingests
//! the stream knows them; elsewhere the stream is `not_live` here.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;
use streamly_core::domain::StreamId;
use streamly_core::media::{AudioHealth, HealthReport, HealthWarning, VideoHealth};
use utoipa::ToSchema;

use super::ApiState;
use super::auth::AuthUser;
use super::error::{ApiError, ApiResult, ErrorBody};

/// Where the API reads a live stream's health (the platform: its RTMP hub).
pub trait StreamHealthSource: Send + Sync {
    /// The stream's health now; `None` when it is not live on this node.
    fn health(&self, stream: &StreamId) -> Option<HealthReport>;
}

impl<F> StreamHealthSource for F
where
    F: Fn(&StreamId) -> Option<HealthReport> + Send + Sync,
{
    fn health(&self, stream: &StreamId) -> Option<HealthReport> {
        self(stream)
    }
}

/// The shared form [`ApiState::stream_health`] keeps.
pub(super) type SharedHealthSource = Arc<dyn StreamHealthSource>;

/// A live stream's ingest health. Absent figures are `null`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreamHealthView {
    /// The video track; `null` when no video arrives.
    pub video: Option<VideoHealthView>,
    /// The audio track; `null` when no audio arrives.
    pub audio: Option<AudioHealthView>,
    /// Seconds since the publish started.
    pub uptime_s: f64,
    /// The encoder's name, from its `onMetaData`.
    pub encoder: Option<String>,
    /// The video bitrate the encoder declared (`videodatarate`), kbit/s.
    pub declared_video_kbps: Option<f64>,
    /// The audio bitrate the encoder declared (`audiodatarate`), kbit/s.
    pub declared_audio_kbps: Option<f64>,
    /// Decode timestamps that went back, or forward by more than 1 s,
    /// since the publish started.
    pub timestamp_jumps: u64,
    /// Malformed frames the ingest dropped since the publish started.
    pub dropped_frames: u64,
    /// Consumers (packager, recorder) cut off for falling behind.
    pub dropped_subscribers: u64,
    /// What to fix, if anything.
    pub warnings: Vec<HealthWarningView>,
}

/// The video track of a [`StreamHealthView`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VideoHealthView {
    /// `h264`.
    pub codec: String,
    /// RFC 6381 codec string, e.g. `avc1.64001f`.
    pub codec_string: Option<String>,
    /// H.264 profile: `High`, `Main`, `Constrained Baseline`, …
    pub profile: Option<String>,
    /// H.264 level, e.g. `3.1`.
    pub level: Option<String>,
    /// Picture width, pixels (from the SPS).
    pub width: Option<u32>,
    /// Picture height, pixels (from the SPS).
    pub height: Option<u32>,
    /// Frames per second over the last 10 s.
    pub fps: Option<f64>,
    /// Inbound kbit/s over the last 10 s (fewer seconds just after the start).
    pub bitrate_kbps: Option<f64>,
    /// Inbound kbit/s over the last complete second.
    pub bitrate_1s_kbps: Option<f64>,
    /// Seconds between the last two keyframes.
    pub keyframe_interval_s: Option<f64>,
    /// Frames received.
    pub frames: u64,
}

/// The audio track of a [`StreamHealthView`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AudioHealthView {
    /// `aac`.
    pub codec: String,
    /// RFC 6381 codec string, e.g. `mp4a.40.2`.
    pub codec_string: Option<String>,
    /// AAC object type: `LC`, `HE-AAC`, …
    pub profile: Option<String>,
    /// Sampling rate, Hz.
    pub sample_rate: Option<u32>,
    /// Channels.
    pub channels: Option<u8>,
    /// Inbound kbit/s over the last 10 s (fewer seconds just after the start).
    pub bitrate_kbps: Option<f64>,
    /// Inbound kbit/s over the last complete second.
    pub bitrate_1s_kbps: Option<f64>,
    /// Frames received.
    pub frames: u64,
}

/// Something the streamer can act on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthWarningView {
    /// `no_video`, `no_audio`, `keyframe_interval`, `bitrate_mismatch`,
    /// `timestamp_jumps` or `dropped_frames` (more may come).
    #[schema(example = "keyframe_interval")]
    pub code: String,
    /// A sentence for the streamer, with the figures.
    pub message: String,
}

impl From<HealthReport> for StreamHealthView {
    fn from(r: HealthReport) -> Self {
        Self {
            video: r.video.map(VideoHealthView::from),
            audio: r.audio.map(AudioHealthView::from),
            uptime_s: r.uptime_s,
            encoder: r.encoder,
            declared_video_kbps: r.declared_video_kbps,
            declared_audio_kbps: r.declared_audio_kbps,
            timestamp_jumps: r.timestamp_jumps,
            dropped_frames: r.dropped_frames,
            dropped_subscribers: r.dropped_subscribers,
            warnings: r.warnings.into_iter().map(HealthWarningView::from).collect(),
        }
    }
}

impl From<VideoHealth> for VideoHealthView {
    fn from(v: VideoHealth) -> Self {
        Self {
            codec: v.codec.to_owned(),
            codec_string: v.codec_string,
            profile: v.profile.map(str::to_owned),
            level: v.level,
            width: v.width,
            height: v.height,
            fps: v.fps,
            bitrate_kbps: v.bitrate_kbps,
            bitrate_1s_kbps: v.bitrate_1s_kbps,
            keyframe_interval_s: v.keyframe_interval_s,
            frames: v.frames,
        }
    }
}

impl From<AudioHealth> for AudioHealthView {
    fn from(a: AudioHealth) -> Self {
        Self {
            codec: a.codec.to_owned(),
            codec_string: a.codec_string,
            profile: a.profile.map(str::to_owned),
            sample_rate: a.sample_rate,
            channels: a.channels,
            bitrate_kbps: a.bitrate_kbps,
            bitrate_1s_kbps: a.bitrate_1s_kbps,
            frames: a.frames,
        }
    }
}

impl From<HealthWarning> for HealthWarningView {
    fn from(w: HealthWarning) -> Self {
        Self {
            code: w.code.as_str().to_owned(),
            message: w.message,
        }
    }
}

/// The ingest health of a live stream you own: codecs, resolution, frame
/// rate, bitrates, keyframe interval, uptime, encoder, and warnings.
#[utoipa::path(get, path = "/api/streams/{id}/health", tag = "streams",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Stream id")),
    responses(
        (status = 200, description = "The stream's health now", body = StreamHealthView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such stream, or not yours", body = ErrorBody),
        (status = 409, description = "`not_live`: the stream is not live (on this node)", body = ErrorBody),
    ))]
pub async fn health(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<StreamHealthView>> {
    let id = owned_stream(&state, &user, path).await?;
    let report = state
        .stream_health
        .as_ref()
        .and_then(|source| source.health(&id))
        .ok_or(ApiError::NotLive)?;
    Ok(Json(report.into()))
}

/// The stream a `{id}` path names, if `user` owns it (404 otherwise, as
/// for a stream that does not exist).
async fn owned_stream(
    state: &ApiState,
    user: &streamly_core::domain::User,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<StreamId> {
    let Path(raw) = path.map_err(|_| ApiError::stream_not_found())?;
    let id = StreamId::parse(&raw).map_err(|_| ApiError::stream_not_found())?;
    let stream = state.streams.get(&id).await?;
    if stream.owner != user.id {
        return Err(ApiError::stream_not_found());
    }
    Ok(id)
}

/// How often [`health_events`] sends the figures.
pub const HEALTH_EVENT_PERIOD: Duration = Duration::from_secs(1);
/// How long one [`health_events`] stream lasts before it ends (the client
/// reconnects): no response stays open without bound.
pub const HEALTH_EVENTS_MAX_LIFE: Duration = Duration::from_secs(300);

/// The ingest health of a live stream you own, pushed as server-sent
/// events: a `health` event (the `GET …/health` body) every second, then
/// one `not_live` event when the stream stops, and the response ends. It
/// also ends after 5 minutes (reconnect). Send the token in
/// `Authorization`, as everywhere (read it with `fetch`, not
/// `EventSource`, which cannot send headers).
#[utoipa::path(get, path = "/api/streams/{id}/health/events", tag = "streams",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Stream id")),
    responses(
        (status = 200, description = "`text/event-stream`: `event: health` with a StreamHealthView as `data`, every second; `event: not_live` at the end", content_type = "text/event-stream", body = String),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such stream, or not yours", body = ErrorBody),
        (status = 409, description = "`not_live`: the stream is not live (on this node)", body = ErrorBody),
    ))]
pub async fn health_events(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let id = owned_stream(&state, &user, path).await?;
    let source = state.stream_health.clone().ok_or(ApiError::NotLive)?;
    if source.health(&id).is_none() {
        return Err(ApiError::NotLive);
    }
    let ends = tokio::time::Instant::now() + HEALTH_EVENTS_MAX_LIFE;
    // The first tick is at once: the figures now, then every period.
    let tick = tokio::time::interval(HEALTH_EVENT_PERIOD);
    let events = futures_util::stream::unfold(Some((source, id, tick)), move |next| async move {
        let (source, id, mut tick) = next?;
        tick.tick().await;
        if tokio::time::Instant::now() >= ends {
            return None;
        }
        Some(match source.health(&id) {
            Some(report) => {
                let event = Event::default()
                    .event("health")
                    .json_data(StreamHealthView::from(report))
                    .unwrap_or_else(|e| {
                        tracing::error!(error = %e, "stream health did not serialize");
                        Event::default().comment("serialization failed")
                    });
                (Ok(event), Some((source, id, tick)))
            }
            None => (Ok(Event::default().event("not_live").data("{}")), None),
        })
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
