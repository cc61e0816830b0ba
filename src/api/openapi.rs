//! `GET /api/openapi.json`: the OpenAPI 3 description of the API.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{auth, error, health, metrics, streams};

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
    }
}

/// The OpenAPI document, derived from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "Streamly", description = "Live streaming platform API: accounts, streams, playback, chat."),
    paths(
        auth::register, auth::login, auth::me, auth::delete_me,
        streams::create, streams::list_live, streams::list_mine, streams::get,
        streams::update, streams::delete, streams::rotate_key,
        health::health, metrics::metrics, openapi_json, hls, ws,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts and tokens"),
        (name = "streams", description = "Streams and their keys"),
        (name = "playback", description = "HLS"),
        (name = "chat", description = "WebSocket chat"),
        (name = "operations", description = "Health, metrics, this document"),
    )
)]
pub struct ApiDoc;
