//! [`Platform`]: the ports and a config in, the RTMP server and one axum
//! [`Router`] (API + HLS + chat + web UI) out.
//!
//! ```no_run
//! use streamly::platform::{Platform, PlatformConfig};
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main]
//! # async fn main() -> anyhow::Result<()> {
//! let config = PlatformConfig::new(b"a secret of at least thirty-two bytes!!".to_vec());
//! // In-memory stores unless you pass `.users(…)`, `.streams(…)`, … to the builder.
//! let platform = Platform::builder(config).build().await?;
//! let http = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let shutdown = CancellationToken::new();
//! platform.serve(http, shutdown).await?;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use streamly_chat::moderation::{ModerationStore, StreamStoreAuthority};
use streamly_chat::users::UserStoreDirectory;
use streamly_chat::{ChatConfig, ChatHub};
use streamly_core::adapters::{
    MemoryChatBus, MemoryRecordingStore, MemoryStreamStore, MemoryUserStore, MemoryViewerAnalyticsStore,
};
use streamly_core::auth::{JwtConfig, JwtError, JwtKeys, PasswordHasher};
use streamly_core::domain::{ChatEvent, ChatMessage, NodeId, RoomId, StreamId};
use streamly_core::ports::{
    ChatBus, ChatBusError, ChatSubscription, ProfileStore, RecordingStore, SegmentSink, StoreError,
    StreamKeyValidator, StreamStore, UserStore, ViewerAnalyticsStore,
};
use streamly_core::services::{Accounts, HashingLimit, StoreKeyValidator, Streams};
use streamly_hls::{HlsConfig, HlsPublisher};
use streamly_rtmp::{RtmpConfig, RtmpError, RtmpServer, StreamHub};
use tokio_util::sync::CancellationToken;

use crate::analytics::{AnalyticsConfig, PlaybackSessions, ViewerSampler, track_playback};
use crate::api::{self, ApiConfig, ApiState, Dependencies, PublicUrls, ViewerCounts};
use crate::fd_budget::FdBudget;
use crate::http_server::HttpLimits;
use crate::live::Ingest;
use crate::origin::announce::OriginAnnouncer;
use crate::origin::reaper::LeaseReaper;
use crate::origin::redirect::{RedirectState, redirect_to_origin};
use crate::origin::{OriginDirectory, OriginLease};
use crate::recordings::Recordings;
use crate::roles::Roles;
use crate::thumbnails::{ThumbnailConfig, ThumbnailMaker, Thumbnails};
use crate::web::{self, UiConfig};
use crate::webhooks::{WebhookConfig, WebhookConfigError, Webhooks};

/// Everything the platform needs besides its ports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PlatformConfig {
    /// Where the RTMP server listens (default `0.0.0.0:1935`; port 0 picks one).
    pub rtmp_addr: SocketAddr,
    /// RTMP limits and the accepted application names (`live`).
    pub rtmp: RtmpConfig,
    /// HLS segment duration and playlist window.
    pub hls: HlsConfig,
    /// Chat limits. The platform always sets `require_known_room`: a chat
    /// room is a stream, and `/ws?room=<not a stream>` is refused (1008).
    pub chat: ChatConfig,
    /// API settings: public URLs, CORS, body cap, auth rate limit.
    pub api: ApiConfig,
    /// Web UI settings.
    pub ui: UiConfig,
    /// JWT secret, issuer and lifetime.
    pub jwt: JwtConfig,
    /// Password hashing costs.
    pub password_hasher: PasswordHasher,
    /// Password hashes running at once (default: one per core) and how long
    /// a login or registration waits for a turn before a 503 (default 2 s).
    pub password_hashing: HashingLimit,
    /// Mark every stream offline at start. Right with one ingest node (a
    /// crash may have left streams "live"); wrong with several.
    pub reset_live_on_start: bool,
    /// Streams one user may own (default 20); `POST /api/streams` beyond it
    /// is a 409 `stream_limit`.
    pub max_streams_per_user: u32,
    /// Where `stream.live` / `stream.offline` are POSTed, signed (default:
    /// nowhere). See [`crate::webhooks`].
    pub webhooks: Option<WebhookConfig>,
    /// The parts this process runs (default: all). See [`crate::roles`].
    pub roles: Roles,
    /// Time-to-live of the origin leases (with
    /// [`PlatformBuilder::origins`]): a dead ingest node's streams go
    /// offline within it. Default 10 s.
    pub origin_lease_ttl: Duration,
    /// How long a recording is kept after it ended (with a segment sink;
    /// see [`crate::recordings`]); `None`: forever. Default 30 days.
    pub recording_retention: Option<Duration>,
    /// How often expired recordings are swept (ingest role). Default 1 h.
    pub recording_sweep_interval: Duration,
    /// Live thumbnails (ingest role; `ffmpeg` optional). See
    /// [`crate::thumbnails`].
    pub thumbnails: ThumbnailConfig,
    /// Viewer analytics: the sampling period. See [`crate::analytics`].
    pub analytics: AnalyticsConfig,
}

impl PlatformConfig {
    /// Defaults (RTMP on 0.0.0.0:1935, URLs for `localhost`) with this JWT
    /// secret (at least 32 bytes).
    pub fn new(jwt_secret: Vec<u8>) -> Self {
        Self {
            rtmp_addr: SocketAddr::from(([0, 0, 0, 0], 1935)),
            rtmp: RtmpConfig::default(),
            hls: HlsConfig::default(),
            chat: ChatConfig::default(),
            api: ApiConfig::new(PublicUrls::new(
                "http://localhost:8080",
                "rtmp://localhost:1935/live",
            )),
            ui: UiConfig::default(),
            jwt: JwtConfig {
                secret: jwt_secret,
                issuer: "streamly".into(),
                ttl: Duration::from_secs(7 * 24 * 3600),
            },
            password_hasher: PasswordHasher::default(),
            password_hashing: HashingLimit::default(),
            reset_live_on_start: true,
            max_streams_per_user: streamly_core::services::DEFAULT_MAX_STREAMS_PER_USER,
            webhooks: None,
            roles: Roles::ALL,
            origin_lease_ttl: crate::origin::DEFAULT_LEASE_TTL,
            recording_retention: Some(Duration::from_secs(30 * 86_400)),
            recording_sweep_interval: crate::live::RETENTION_SWEEP_INTERVAL,
            thumbnails: ThumbnailConfig::default(),
            analytics: AnalyticsConfig::default(),
        }
    }
}

/// Why the platform could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlatformError {
    /// The JWT configuration was refused (secret too short).
    #[error("JWT configuration: {0}")]
    Jwt(#[from] JwtError),
    /// The RTMP server failed to bind or run.
    #[error("RTMP server: {0}")]
    Rtmp(#[from] RtmpError),
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Http(#[from] std::io::Error),
    /// The store failed during start-up.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The webhook configuration was refused (a URL, the secret).
    #[error("webhooks: {0}")]
    Webhooks(#[from] WebhookConfigError),
    /// `roles` names none of api, ingest, chat.
    #[error("no role to run: enable at least one of api, ingest, chat")]
    NoRoles,
}

/// Builds a [`Platform`] from ports; any port not given is in memory.
#[must_use]
pub struct PlatformBuilder {
    config: PlatformConfig,
    users: Option<Arc<dyn UserStore>>,
    streams: Option<Arc<dyn StreamStore>>,
    chat_bus: Option<Arc<dyn ChatBus>>,
    segments: Option<Arc<dyn SegmentSink>>,
    validator: Option<Arc<dyn StreamKeyValidator>>,
    moderation: Option<Arc<dyn ModerationStore>>,
    origins: Option<Arc<dyn OriginDirectory>>,
    recordings: Option<Arc<dyn RecordingStore>>,
    profiles: Option<Arc<dyn ProfileStore>>,
    viewer_analytics: Option<Arc<dyn ViewerAnalyticsStore>>,
}

impl std::fmt::Debug for PlatformBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PlatformBuilder {
    /// The account store.
    pub fn users(mut self, users: Arc<dyn UserStore>) -> Self {
        self.users = Some(users);
        self
    }

    /// The stream store.
    pub fn streams(mut self, streams: Arc<dyn StreamStore>) -> Self {
        self.streams = Some(streams);
        self
    }

    /// The chat bus (Redis to share rooms across nodes).
    pub fn chat_bus(mut self, bus: Arc<dyn ChatBus>) -> Self {
        self.chat_bus = Some(bus);
        self
    }

    /// Where HLS segments and playlists are persisted (recordings, other
    /// nodes). Default: nowhere; live viewers are served from memory either
    /// way. What an earlier process left there is cleaned up at build
    /// (ingest role). On an API node with [`origins`](Self::origins), the
    /// sink the ingest nodes share: the playlists of a stream whose node
    /// died are ended there.
    pub fn segments(mut self, sink: Arc<dyn SegmentSink>) -> Self {
        self.segments = Some(sink);
        self
    }

    /// Where recordings are listed (see [`crate::recordings`]). Default:
    /// in memory. Broadcasts are recorded only with a
    /// [`segments`](Self::segments) sink.
    pub fn recordings(mut self, store: Arc<dyn RecordingStore>) -> Self {
        self.recordings = Some(store);
        self
    }

    /// Where profiles, avatars and follows are kept. Default: in memory.
    pub fn profiles(mut self, store: Arc<dyn ProfileStore>) -> Self {
        self.profiles = Some(store);
        self
    }

    /// Where viewer analytics are kept (see [`crate::analytics`]): the
    /// shared database with several nodes. Default: in memory.
    pub fn viewer_analytics(mut self, store: Arc<dyn ViewerAnalyticsStore>) -> Self {
        self.viewer_analytics = Some(store);
        self
    }

    /// The stream key check. Default: [`StoreKeyValidator`] over the stream
    /// store (grant marks the stream live, the end marks it offline).
    pub fn validator(mut self, validator: Arc<dyn StreamKeyValidator>) -> Self {
        self.validator = Some(validator);
        self
    }

    /// Where chat moderation decisions are kept (Redis to share them across
    /// chat nodes). Default: in memory.
    pub fn moderation(mut self, store: Arc<dyn ModerationStore>) -> Self {
        self.moderation = Some(store);
        self
    }

    /// The shared stream → origin-node leases (Redis with several ingest
    /// nodes; see [`crate::origin`]). With them, an ingest node claims a
    /// lease per stream it serves and redirects `/hls` requests for the
    /// others to their origin, and an API node marks offline the streams
    /// whose origin died. Default: none (one ingest node).
    pub fn origins(mut self, directory: Arc<dyn OriginDirectory>) -> Self {
        self.origins = Some(directory);
        self
    }

    /// Binds the RTMP port (ingest role) and assembles the parts the
    /// config's [`Roles`] name.
    pub async fn build(self) -> Result<Platform, PlatformError> {
        let config = self.config;
        let roles = config.roles;
        if !(roles.api || roles.ingest || roles.chat) {
            return Err(PlatformError::NoRoles);
        }
        let users = self.users.unwrap_or_else(|| Arc::new(MemoryUserStore::new()));
        let stream_store = self.streams.unwrap_or_else(|| Arc::new(MemoryStreamStore::new()));
        let origins = self.origins;
        // Events come from the ingest node: the hub's publishes and the
        // recordings it finalizes.
        let webhooks = match (&config.webhooks, roles.ingest) {
            (Some(c), true) => Some(Webhooks::new(c.clone())?),
            _ => None,
        };
        let viewer_analytics: Arc<dyn ViewerAnalyticsStore> = self
            .viewer_analytics
            .unwrap_or_else(|| Arc::new(MemoryViewerAnalyticsStore::new()));
        let mut recordings = Recordings::new(
            self.recordings
                .unwrap_or_else(|| Arc::new(MemoryRecordingStore::new())),
            stream_store.clone(),
            self.segments.clone(),
        )
        .with_retention(config.recording_retention)
        .with_analytics(Arc::clone(&viewer_analytics));
        if let Some(webhooks) = &webhooks {
            recordings = recordings.with_webhooks(webhooks.queue());
        }

        let jwt = JwtKeys::new(&config.jwt)?;
        let accounts = Accounts::new(users.clone(), config.password_hasher.clone(), jwt.clone())
            .with_hashing_limit(config.password_hashing);
        let streams = Streams::new(stream_store.clone()).with_max_per_owner(config.max_streams_per_user);
        if config.reset_live_on_start {
            for stream in stream_store.list_live().await? {
                tracing::info!(stream_id = %stream.id, "marking stale live stream offline");
                stream_store.set_live(&stream.id, None).await?;
            }
        }
        // The store's key check: the RTMP server's unless another validator
        // was given, and always the one `/api/internal/publish` answers with.
        let store_validator: Arc<dyn StreamKeyValidator> =
            Arc::new(StoreKeyValidator::new(streams.clone(), config.rtmp.apps.clone()));
        let mut config = config;
        let ingest = if roles.ingest {
            let validator = self.validator.unwrap_or_else(|| Arc::clone(&store_validator));
            Some(
                IngestParts::build(
                    &mut config,
                    validator,
                    self.segments.clone(),
                    &streams,
                    &stream_store,
                    &recordings,
                    webhooks,
                )
                .await?,
            )
        } else {
            None
        };
        let thumbnails = match &ingest {
            Some(_) => Some(Thumbnails::new(config.thumbnails.clone()).await),
            None => None,
        };
        let node_uuid = uuid::Uuid::new_v4();
        let node_id = node_uuid.to_string();
        let announcer = match (&ingest, &origins) {
            (Some(parts), Some(directory)) => Some(OriginAnnouncer::new(
                Arc::clone(directory),
                OriginLease {
                    node_id: node_id.clone(),
                    url: config.api.urls.http.clone(),
                },
                config.origin_lease_ttl,
                parts.rtmp.hub(),
                Arc::clone(&parts.publisher),
            )),
            _ => None,
        };
        let reaper = match (&origins, roles.api) {
            (Some(directory), true) => {
                let reaper = LeaseReaper::new(
                    Arc::clone(directory),
                    stream_store.clone(),
                    config.origin_lease_ttl,
                );
                Some(match &self.segments {
                    Some(sink) => reaper.ending_playlists_in(Arc::clone(sink)),
                    None => reaper,
                })
            }
            _ => None,
        };

        let chat = roles.chat.then(|| {
            let bus: Arc<dyn ChatBus> = Arc::new(MeteredChatBus(
                self.chat_bus
                    .clone()
                    .unwrap_or_else(|| Arc::new(MemoryChatBus::default())),
            ));
            // Rooms are streams: refuse the others rather than open a room
            // per name a client makes up.
            let mut chat_config = config.chat.clone();
            chat_config.require_known_room = true;
            let mut chat = ChatHub::builder(bus)
                .config(chat_config)
                .jwt(jwt.clone())
                .authority(Arc::new(StreamStoreAuthority::new(stream_store.clone())))
                // A token outlives its account: chat asks the store on each join.
                .users(Arc::new(UserStoreDirectory::new(users.clone())));
            if let Some(store) = self.moderation.clone() {
                chat = chat.moderation(store);
            }
            chat.build()
        });

        let dependencies = Dependencies {
            users: (roles.api || roles.chat).then(|| users.clone()),
            streams: Some(stream_store.clone()),
            chat: if roles.chat { self.chat_bus.clone() } else { None },
            segments: if roles.ingest { self.segments.clone() } else { None },
            origins: origins.clone(),
        };
        let viewers: Arc<dyn ViewerCounts> = match &chat {
            Some(chat) => Arc::new(ChatViewers(chat.clone())),
            None => Arc::new(NoChatViewers),
        };
        let state = ApiState::new(
            accounts.clone(),
            streams.clone(),
            viewers,
            config.api.urls.clone(),
            dependencies,
        )
        .key_validator(store_validator)
        .recordings(recordings.clone())
        .profiles(
            self.profiles
                .unwrap_or_else(|| Arc::new(streamly_core::adapters::MemoryProfileStore::new())),
        )
        .viewer_analytics(Arc::clone(&viewer_analytics))
        .stream_health({
            // The hub answers for the streams this node ingests; keyframe
            // warnings at twice the HLS segment target.
            let hub = ingest.as_ref().map(|i| i.rtmp.hub());
            let limits = streamly_core::media::HealthThresholds::for_segment(config.hls.segment_duration);
            Arc::new(move |id: &StreamId| hub.as_ref()?.health(id, &limits))
        })
        .on_scrape({
            let chat = chat.clone();
            let hub = ingest.as_ref().map(|i| i.rtmp.hub());
            move || {
                if let Some(chat) = &chat {
                    metrics::gauge!("streamly_chat_connections").set(chat.connections() as f64);
                }
                if let Some(hub) = &hub {
                    metrics::gauge!("streamly_ingest_live_streams").set(hub.live_streams().len() as f64);
                }
            }
        })
        .on_delete({
            let ingest = ingest.as_ref().map(|i| (i.rtmp.hub(), Arc::clone(&i.publisher)));
            move |id| {
                let Some((hub, publisher)) = &ingest else { return };
                if hub.disconnect(id) {
                    tracing::info!(stream_id = %id, "stream deleted: publisher disconnected");
                }
                if publisher.remove(id) {
                    tracing::info!(stream_id = %id, "stream deleted: its HLS window is gone");
                }
            }
        })
        .on_user_delete({
            let chat = chat.clone();
            move |id| {
                let Some(chat) = &chat else { return };
                let closed = chat.disconnect_user(id);
                if closed > 0 {
                    tracing::info!(user_id = %id, closed, "account deleted: its chat connections are closed");
                }
            }
        });
        // Playback sessions are counted where the playlists are served.
        let playback = ingest.as_ref().map(|_| PlaybackSessions::new());
        let mut app = if roles.api {
            api::router(state, &config.api).merge(web::router(&config.ui))
        } else {
            api::operations_router(state, &config.api)
        };
        if let Some(parts) = &ingest {
            let mut hls = streamly_hls::router(Arc::clone(&parts.publisher));
            if let Some(thumbnails) = &thumbnails {
                hls = hls.merge(crate::thumbnails::router(
                    thumbnails.clone(),
                    Arc::clone(&parts.publisher),
                ));
            }
            if let Some(sessions) = &playback {
                // Inside the redirect: a request sent to the origin is
                // counted there.
                hls = hls.layer(axum::middleware::from_fn_with_state(
                    sessions.clone(),
                    track_playback,
                ));
            }
            if let Some(directory) = &origins {
                hls = hls.layer(axum::middleware::from_fn_with_state(
                    RedirectState {
                        directory: Arc::clone(directory),
                        publisher: Arc::clone(&parts.publisher),
                        node_id: node_id.clone(),
                    },
                    redirect_to_origin,
                ));
            }
            app = app.merge(hls);
        }
        if let Some(chat) = &chat {
            app = app.merge(streamly_chat::router(chat.clone()));
        }
        // Routed without a sink too: its recordings' files are then a JSON
        // 404, not the web UI's page.
        if roles.api || roles.ingest {
            app = app.merge(crate::recordings::router(recordings.clone()));
        }
        let router = api::harden(app, &web::content_security_policy(&config.ui, &config.api.urls));
        tracing::info!(%roles, node_id, "platform assembled");
        let thumbnails = match (&ingest, thumbnails) {
            (Some(parts), Some(thumbnails)) => {
                let maker = ThumbnailMaker::new(thumbnails, parts.hub.clone(), Arc::clone(&parts.publisher));
                Some(match &self.segments {
                    Some(sink) => maker.with_recordings(Arc::clone(recordings.store()), Arc::clone(sink)),
                    None => maker,
                })
            }
            _ => None,
        };
        let sampler = (roles.ingest || roles.chat).then(|| {
            let mut sampler = ViewerSampler::new(
                Arc::clone(&viewer_analytics),
                stream_store.clone(),
                NodeId::from_uuid(node_uuid),
                config.analytics.period(),
            )
            .with_retention(config.recording_retention);
            if let Some(sessions) = playback {
                sampler = sampler.playback(sessions);
            }
            if let Some(chat) = &chat {
                sampler = sampler.chat(chat.clone());
            }
            if let Some(parts) = &ingest {
                sampler = sampler.ingest(parts.hub.clone());
            }
            sampler
        });
        let (rtmp, ingest, webhooks) = match ingest {
            Some(parts) => (
                Some(parts.rtmp),
                Some(match &self.segments {
                    Some(_) => Ingest::new(parts.hub, parts.publisher)
                        .with_recordings(recordings, config.recording_sweep_interval),
                    None => Ingest::new(parts.hub, parts.publisher),
                }),
                parts.webhooks,
            ),
            None => (None, None, None),
        };
        Ok(Platform {
            router,
            rtmp,
            ingest,
            chat,
            webhooks,
            announcer,
            reaper,
            thumbnails,
            sampler,
            accounts,
            streams,
        })
    }
}

/// The ingest role's parts, before they run.
struct IngestParts {
    rtmp: RtmpServer,
    hub: StreamHub,
    publisher: Arc<HlsPublisher>,
    webhooks: Option<Webhooks>,
}

impl IngestParts {
    /// Binds RTMP, sets up packaging (and persistence, cleaning up what an
    /// earlier run left) and the webhooks that listen to the hub.
    async fn build(
        config: &mut PlatformConfig,
        validator: Arc<dyn StreamKeyValidator>,
        segments: Option<Arc<dyn SegmentSink>>,
        streams: &Streams,
        stream_store: &Arc<dyn StreamStore>,
        recordings: &Recordings,
        webhooks: Option<Webhooks>,
    ) -> Result<Self, PlatformError> {
        let rtmp = RtmpServer::bind(config.rtmp_addr, config.rtmp.clone(), validator)?;
        // A public RTMP URL with port 0 (tests binding port 0) gets the real port.
        if let Some(fixed) = with_bound_port(&config.api.urls.rtmp, rtmp.local_addr().port()) {
            config.api.urls.rtmp = fixed;
        }
        let hub = rtmp.hub();
        // Its own hub subscription, apart from the packagers'.
        let webhooks = webhooks.map(|w| w.listen_to(&hub, streams.clone()));
        let mut publisher = HlsPublisher::new(config.hls.clone());
        if let Some(sink) = &segments {
            publisher = publisher.persist_to(Arc::clone(sink));
        }
        // Streams live elsewhere (other ingest nodes sharing the store and
        // the sink) keep their files.
        let live_elsewhere: Vec<StreamId> = stream_store
            .list_live()
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect();
        match publisher.recover_except(&live_elsewhere).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "cleaned up the segments an earlier run left"),
            Err(e) => tracing::warn!(error = %e, "could not clean up the segments an earlier run left"),
        }
        // Recordings a crash left open are finalized: everything written
        // so far stays playable.
        match recordings.recover(&live_elsewhere).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(finalized = n, "finalized the recordings an earlier run left open"),
            Err(e) => {
                tracing::warn!(error = %e, "could not finalize the recordings an earlier run left open")
            }
        }
        Ok(Self {
            rtmp,
            hub,
            publisher: Arc::new(publisher),
            webhooks,
        })
    }
}

/// The assembled platform: serve it with [`Platform::serve`], or take it
/// apart with [`Platform::into_parts`] to run the pieces in your own app.
pub struct Platform {
    router: Router,
    rtmp: Option<RtmpServer>,
    ingest: Option<Ingest>,
    chat: Option<ChatHub>,
    webhooks: Option<Webhooks>,
    announcer: Option<OriginAnnouncer>,
    reaper: Option<LeaseReaper>,
    thumbnails: Option<ThumbnailMaker>,
    sampler: Option<ViewerSampler>,
    accounts: Accounts,
    streams: Streams,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("rtmp", &self.rtmp)
            .finish_non_exhaustive()
    }
}

/// The pieces of a [`Platform`], for integrators who run them themselves.
/// The parts of a role the config leaves out are `None`.
#[derive(Debug)]
#[non_exhaustive]
pub struct PlatformParts {
    /// API + HLS + chat + UI (those of the config's roles). Serve with
    /// [`crate::http_server::serve`] (or axum's
    /// `into_make_service_with_connect_info::<SocketAddr>()`) so the auth
    /// rate limit sees client addresses.
    pub router: Router,
    /// The bound RTMP server: `tokio::spawn(rtmp.run(token))`.
    pub rtmp: Option<RtmpServer>,
    /// RTMP → HLS: `tokio::spawn(ingest.run(token))`; after cancellation it
    /// waits for every packager to write its final playlist.
    pub ingest: Option<Ingest>,
    /// The chat hub: call `shutdown()` to close chat connections.
    pub chat: Option<ChatHub>,
    /// The webhook sender, when configured: `tokio::spawn(webhooks.run(token))`
    /// with a token cancelled once the RTMP server has stopped, so the
    /// `stream.offline` of publishers closed at shutdown are sent.
    pub webhooks: Option<Webhooks>,
    /// This ingest node's origin leases, with
    /// [`PlatformBuilder::origins`]: `tokio::spawn(announcer.run(token))`.
    pub announcer: Option<OriginAnnouncer>,
    /// Marks offline the streams whose origin died (API role, with
    /// [`PlatformBuilder::origins`]): `tokio::spawn(reaper.run(token))`.
    pub reaper: Option<LeaseReaper>,
    /// Live thumbnails (ingest role): `tokio::spawn(maker.run(token))`.
    pub thumbnails: Option<ThumbnailMaker>,
    /// Viewer analytics samples (ingest and chat roles):
    /// `tokio::spawn(sampler.run(token))`.
    pub sampler: Option<ViewerSampler>,
}

impl Platform {
    /// Starts building a platform.
    pub fn builder(config: PlatformConfig) -> PlatformBuilder {
        PlatformBuilder {
            config,
            users: None,
            streams: None,
            chat_bus: None,
            segments: None,
            validator: None,
            moderation: None,
            origins: None,
            recordings: None,
            profiles: None,
            viewer_analytics: None,
        }
    }

    /// The HTTP router: API, HLS, chat WebSocket and web UI (those of the
    /// config's roles).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Where the RTMP server listens (`None` without the ingest role).
    pub fn rtmp_addr(&self) -> Option<SocketAddr> {
        self.rtmp.as_ref().map(RtmpServer::local_addr)
    }

    /// The accounts service (to create users from code).
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// The streams service.
    pub fn streams(&self) -> &Streams {
        &self.streams
    }

    /// The pieces.
    pub fn into_parts(self) -> PlatformParts {
        PlatformParts {
            router: self.router,
            rtmp: self.rtmp,
            ingest: self.ingest,
            chat: self.chat,
            webhooks: self.webhooks,
            announcer: self.announcer,
            reaper: self.reaper,
            thumbnails: self.thumbnails,
            sampler: self.sampler,
        }
    }

    /// Serves HTTP on `http` (and RTMP on its bound port, with the ingest
    /// role) until `shutdown` is cancelled, then stops cleanly: publishers
    /// are closed (their streams go offline), every live playlist gets
    /// `EXT-X-ENDLIST`, chat connections are closed and in-flight HTTP
    /// requests finish, within `HttpLimits::shutdown_timeout` whatever
    /// clients do.
    ///
    /// HTTP runs with [`HttpLimits::default`] fitted to this process's
    /// descriptor budget ([`FdBudget::platform_now`]); see
    /// [`serve_with_limits`](Self::serve_with_limits) to choose.
    pub async fn serve(
        self,
        http: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), PlatformError> {
        let limits = HttpLimits::default().within_fd_budget(FdBudget::platform_now().http);
        self.serve_with_limits(http, limits, shutdown).await
    }

    /// [`serve`](Self::serve) with these HTTP limits.
    pub async fn serve_with_limits(
        self,
        http: tokio::net::TcpListener,
        limits: HttpLimits,
        shutdown: CancellationToken,
    ) -> Result<(), PlatformError> {
        let PlatformParts {
            router,
            rtmp,
            ingest,
            chat,
            webhooks,
            announcer,
            reaper,
            thumbnails,
            sampler,
        } = self.into_parts();
        // Stopped after RTMP (below): the publishers' `stream.offline` go out.
        let stop_webhooks = CancellationToken::new();
        let webhooks_task = webhooks.map(|w| tokio::spawn(w.run(stop_webhooks.clone())));
        let rtmp_task = rtmp.map(|rtmp| tokio::spawn(rtmp.run(shutdown.clone())));
        let ingest_task = ingest.map(|ingest| tokio::spawn(ingest.run(shutdown.clone())));
        // Released after the packagers end their playlists: late viewers on
        // other nodes still find the ended window until then.
        let stop_announcer = CancellationToken::new();
        let announcer_task = announcer.map(|a| tokio::spawn(a.run(stop_announcer.clone())));
        let reaper_task = reaper.map(|r| tokio::spawn(r.run(shutdown.clone())));
        let thumbnails_task = thumbnails.map(|t| tokio::spawn(t.run(shutdown.clone())));
        let sampler_task = sampler.map(|s| tokio::spawn(s.run(shutdown.clone())));
        // Chat WebSockets are upgraded out of the HTTP server's hands: the
        // hub closes them (1001), alongside the HTTP drain and within the
        // same deadline.
        let close_chat = {
            let shutdown = shutdown.clone();
            let deadline = limits.shutdown_timeout;
            async move {
                shutdown.cancelled().await;
                if let Some(chat) = chat
                    && tokio::time::timeout(deadline, chat.shutdown()).await.is_err()
                {
                    tracing::warn!("chat connections still open at the shutdown deadline");
                }
            }
        };
        let (served, ()) = tokio::join!(
            crate::http_server::serve(http, router, limits, shutdown.clone().cancelled_owned()),
            close_chat,
        );
        // The HTTP side only returns after cancellation (or on error): make
        // sure the rest stops too, then wait for it.
        shutdown.cancel();
        let rtmp_result = match rtmp_task {
            Some(task) => Some(task.await),
            None => None,
        };
        if let Some(task) = ingest_task
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "ingest task failed");
        }
        stop_announcer.cancel();
        stop_webhooks.cancel();
        for (name, task) in [
            ("webhooks", webhooks_task),
            ("origin leases", announcer_task),
            ("origin lease sweep", reaper_task),
            ("thumbnails", thumbnails_task),
            ("viewer analytics", sampler_task),
        ] {
            if let Some(task) = task
                && let Err(e) = task.await
            {
                tracing::error!(task = name, error = %e, "task failed");
            }
        }
        served?;
        match rtmp_result {
            Some(Ok(r)) => r?,
            Some(Err(e)) => tracing::error!(error = %e, "RTMP task failed"),
            None => {}
        }
        tracing::info!("platform stopped");
        Ok(())
    }
}

/// `rtmp://host:0/app` → `rtmp://host:<port>/app`; `None` when the URL's
/// port is not 0.
fn with_bound_port(url: &str, port: u16) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.strip_suffix(":0")?;
    Some(format!("{scheme}://{host}:{port}/{path}"))
}

/// Viewer counts from the chat hub: [`ChatHub::viewers`], the room's clients
/// on every node (from `NodePresence` reports) when this node has a client
/// in it, else 0.
struct ChatViewers(ChatHub);

impl ViewerCounts for ChatViewers {
    fn viewers(&self, room: &RoomId) -> u64 {
        self.0.viewers(room) as u64
    }
}

/// Viewer counts on a node without the chat role: none known here.
struct NoChatViewers;

impl ViewerCounts for NoChatViewers {
    fn viewers(&self, _room: &RoomId) -> u64 {
        0
    }
}

/// Counts chat messages published through this node.
struct MeteredChatBus(Arc<dyn ChatBus>);

#[async_trait]
impl ChatBus for MeteredChatBus {
    async fn publish(&self, room: &RoomId, event: ChatEvent) -> Result<(), ChatBusError> {
        let is_message = matches!(event, ChatEvent::Message(_));
        self.0.publish(room, event).await?;
        if is_message {
            metrics::counter!("streamly_chat_messages_total").increment(1);
        }
        Ok(())
    }

    async fn subscribe(&self, room: &RoomId) -> Result<ChatSubscription, ChatBusError> {
        self.0.subscribe(room).await
    }

    async fn history(&self, room: &RoomId, limit: usize) -> Result<Vec<ChatMessage>, ChatBusError> {
        self.0.history(room, limit).await
    }

    async fn ping(&self) -> Result<(), ChatBusError> {
        self.0.ping().await
    }
}

/// Re-exported so integrators can name the hub type.
pub type RtmpHub = StreamHub;
