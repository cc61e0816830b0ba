//! `GET /api/openapi.json`: the OpenAPI 3 description of the API.

use axum::Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{
    analytics, auth, channels, error, health, internal, metrics, recordings, stream_health, streams,
};

/// The HLS output of a stream (served by `streamly-hls` from the stream's
/// live window): `index.m3u8` (LL-HLS over fMP4, blocking reload),
/// `master.m3u8`, `ts.m3u8` (MPEG-TS) and the media files they name.
#[utoipa::path(get, path = "/hls/{id}/{file}", tag = "playback",
    params(
        ("id" = String, Path, description = "Stream id"),
        ("file" = String, Path, description = "`index.m3u8`, `master.m3u8`, `ts.m3u8`, or an init segment, segment or part named in them"),
        ("_HLS_msn" = Option<u64>, Query, description = "index.m3u8: block until this media sequence number is listed (RFC 8216bis 6.2.5.2)"),
        ("_HLS_part" = Option<u64>, Query, description = "index.m3u8, with _HLS_msn: block until this part of it is listed"),
        ("_HLS_skip" = Option<String>, Query, description = "index.m3u8: `YES` or `v2` for a delta update (EXT-X-SKIP)"),
        ("session" = Option<String>, Query, description = "Playlists: the player's random session id (8 to 64 letters, digits, - or _), counted in the stream's viewer analytics; anything else is not counted"),
        ("Range" = Option<String>, Header, description = "Media files: one byte range"),
    ),
    responses(
        (status = 200, description = "Playlist (application/vnd.apple.mpegurl), fMP4 (video/mp4) or MPEG-TS (video/mp2t)"),
        (status = 206, description = "The requested byte range of a media file"),
        (status = 304, description = "Playlist unchanged (If-None-Match matched its ETag)"),
        (status = 400, description = "_HLS_msn too far ahead, or a malformed blocking-reload query"),
        (status = 404, description = "Not live, or no such file"),
        (status = 416, description = "The byte range is outside the file"),
        (status = 503, description = "The blocked-on part did not appear within three target durations, or too many requests wait on this stream"),
    ))]
#[allow(dead_code)]
fn hls() {}

/// A recording's media (served from the segment sink): `index.m3u8`
/// (the VOD playlist, `EVENT` while recording), the init segments and
/// fMP4 segments it names, and `download.mp4`, the whole recording as one
/// fragmented MP4 (streamed, `Content-Disposition: attachment`).
#[utoipa::path(get, path = "/recordings/{id}/{file}", tag = "recordings",
    params(
        ("id" = String, Path, description = "Recording id"),
        ("file" = String, Path, description = "`index.m3u8`, `download.mp4`, `thumbnail.jpg`, or an init segment or segment named in the playlist"),
        ("Range" = Option<String>, Header, description = "Playlist and segments: one byte range"),
    ),
    responses(
        (status = 200, description = "Playlist (application/vnd.apple.mpegurl), fMP4 (video/mp4), or the thumbnail (image/jpeg; image/svg+xml placeholder when none was made)"),
        (status = 206, description = "The requested byte range"),
        (status = 404, description = "No such recording or file", body = error::ErrorBody),
        (status = 416, description = "The byte range is outside the file"),
        (status = 503, description = "The store or the segment sink is unavailable", body = error::ErrorBody),
    ))]
#[allow(dead_code)]
fn recording_media() {}

/// A live stream's thumbnail (served by the ingest node that has its
/// window): a recent frame as a 320-pixel-wide JPEG, refreshed about every
/// 30 s; a placeholder SVG before the first one or without `ffmpeg`.
#[utoipa::path(get, path = "/hls/{id}/thumbnail.jpg", tag = "playback",
    params(
        ("id" = String, Path, description = "Stream id"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag of a thumbnail already held"),
    ),
    responses(
        (status = 200, description = "The thumbnail (image/jpeg, Cache-Control: public, max-age=15, an ETag) or the placeholder (image/svg+xml)"),
        (status = 304, description = "Unchanged (If-None-Match matched its ETag)"),
        (status = 404, description = "This node has no window for the stream (not live here)", body = error::ErrorBody),
    ))]
#[allow(dead_code)]
fn hls_thumbnail() {}

/// The chat WebSocket of a room (served by `streamly-chat`). Add
/// `token=<jwt>` to write; anonymous clients read.
#[utoipa::path(get, path = "/ws", tag = "chat",
    params(
        ("room" = String, Query, description = "Stream id"),
        ("token" = Option<String>, Query, description = "JWT, to send messages"),
    ),
    responses((status = 101, description = "Switching to the WebSocket protocol")))]
#[allow(dead_code)]
fn ws() {}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "internal",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "STREAMLY_INTERNAL_SECRET, shared by the platform's services",
                    ))
                    .build(),
            ),
        );
    }
}

/// Adds to every operation the answers that come from the router's layers
/// and extractors rather than from the handler, unless the handler's own
/// annotation already names that status (its description wins):
///
/// | status | when | from |
/// |---|---|---|
/// | 400, 413, 415, 422 | the operation takes a JSON body | `ApiJson` and the body cap |
/// | 401, 503 | the operation needs a token | `AuthUser` (checks the user in the store) |
/// | 403 | a write under `/api` | the `Origin` check |
/// | 404 | the path has an `{id}` | unknown or foreign stream |
/// | 429 + `Retry-After` | a route in `RATE_LIMITED` | the per-IP limiter |
/// | 503 | any `/api` operation but this document | the store is unavailable |
/// | 408 | every operation | `http_server`'s request timeout (empty body) |
struct LayerResponses;

impl Modify for LayerResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            let ops = [
                ("get", item.get.as_mut()),
                ("post", item.post.as_mut()),
                ("patch", item.patch.as_mut()),
                ("delete", item.delete.as_mut()),
                ("put", item.put.as_mut()),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                if !super::ROUTES.contains(&(method, path.as_str())) {
                    // HLS and chat: documented by hand, not served by this router.
                    continue;
                }
                add_layer_responses(path, method, op);
            }
        }
    }
}

fn add_layer_responses(path: &str, method: &str, op: &mut Operation) {
    let api = path.starts_with("/api") && path != "/api/openapi.json";
    if op.request_body.is_some() {
        ensure(op, "400", || error("Malformed JSON, or a body that is not UTF-8"));
        ensure(op, "413", || {
            error("Body larger than the configured cap (64 KiB by default)")
        });
        ensure(op, "415", || {
            error("Not a JSON body (`Content-Type: application/json` missing)")
        });
        ensure(op, "422", || {
            error("A field is missing, of the wrong type, or invalid (`field` names it)")
        });
    }
    if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
        ensure(op, "401", || {
            error("Missing, malformed, expired or revoked token, or a deleted account")
        });
    }
    if api && method != "get" {
        ensure(op, "403", || {
            error("Cross-site request from an origin that is not allowed")
        });
    }
    if path.contains("{id}") {
        ensure(op, "404", || error("No such stream, or not yours"));
    }
    if super::RATE_LIMITED.contains(&path) {
        ensure(op, "429", || {
            error("Too many requests from this address (or its IPv6 /64)")
        });
        // The handler's own 429 gets the header too.
        if let Some(RefOr::T(limited)) = op.responses.responses.get_mut("429") {
            limited
                .headers
                .entry("Retry-After".to_owned())
                .or_insert_with(|| RefOr::T(retry_after()));
        }
    }
    if api {
        ensure(op, "503", || error("The store is unavailable; retry later"));
    }
    ensure(op, "408", || {
        ResponseBuilder::new()
            .description("The request did not complete within the server's request timeout (empty body)")
            .build()
    });
}

fn ensure(op: &mut Operation, status: &str, response: impl FnOnce() -> Response) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::T(response()));
}

fn error(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

fn retry_after() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Integer)
                .minimum(Some(1))
                .build(),
        ))
        .description(Some("Seconds to wait before retrying"))
        .build()
}

/// The OpenAPI document, derived from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "Streamly", description = "Live streaming platform API: accounts, streams, playback, chat."),
    paths(
        auth::register, auth::login, auth::me, auth::delete_me,
        streams::create, streams::list_live, streams::list_mine, streams::search, streams::get,
        streams::update, streams::delete, streams::rotate_key, stream_health::health, stream_health::health_events, analytics::analytics,
        recordings::list, recordings::get, recordings::delete, recording_media,
        channels::channel, channels::avatar, channels::update_profile, channels::upload_avatar,
        channels::delete_avatar, channels::follow, channels::unfollow, channels::following,
        health::health, metrics::metrics, openapi_json, hls, hls_thumbnail, ws,
        internal::publish, internal::publish_ended,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail)),
    modifiers(&BearerAuth, &LayerResponses),
    tags(
        (name = "auth", description = "Accounts and tokens"),
        (name = "streams", description = "Streams and their keys"),
        (name = "playback", description = "HLS"),
        (name = "recordings", description = "Past broadcasts: VOD playlists and MP4 downloads"),
        (name = "channels", description = "Channels: profiles, avatars and follows"),
        (name = "chat", description = "WebSocket chat"),
        (name = "operations", description = "Health, metrics, this document"),
        (name = "internal", description = "Service to service: the key check ingest nodes ask (served only with STREAMLY_INTERNAL_SECRET set)"),
    )
)]
pub struct ApiDoc;
