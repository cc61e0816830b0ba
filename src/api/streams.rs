//! `/api/streams*`: create, list, read, rename, delete, rotate keys.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use streamly_core::domain::{Page, PageRequest, RoomId, Stream, StreamCursor, StreamId, UserId};
use streamly_core::services::AccountError;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use super::auth::AuthUser;
use super::error::{ApiError, ApiJson, ApiResult, ErrorBody};

/// `POST /api/streams` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StreamTitleRequest {
    /// 1–140 characters, not only whitespace (surrounding whitespace is
    /// trimmed); no control characters and no format characters (zero
    /// width, bidi controls: the pattern lists those of the BMP; a zero
    /// width joiner or non-joiner is allowed between two visible
    /// characters only).
    #[schema(
        min_length = 1,
        max_length = 140,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890\\u0891\\u08E2\\u180E\\u200B\\u200E\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\uFEFF\\uFFF9-\\uFFFB]*[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890\\u0891\\u08E2\\u180E\\u200B\\u200E\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\uFEFF\\uFFF9-\\uFFFB][^\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890\\u0891\\u08E2\\u180E\\u200B\\u200E\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\uFEFF\\uFFF9-\\uFFFB]*$"
    )]
    pub title: String,
}

/// `PATCH /api/streams/{id}` body: the fields to change (none: nothing
/// changes).
#[derive(Debug, Deserialize, ToSchema)]
pub struct StreamUpdateRequest {
    /// A new title, as [`StreamTitleRequest::title`].
    #[schema(
        min_length = 1,
        max_length = 140,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890\\u0891\\u08E2\\u180E\\u200B\\u200E\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\uFEFF\\uFFF9-\\uFFFB]*[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890\\u0891\\u08E2\\u180E\\u200B\\u200E\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\uFEFF\\uFFF9-\\uFFFB][^\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890\\u0891\\u08E2\\u180E\\u200B\\u200E\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\uFEFF\\uFFF9-\\uFFFB]*$"
    )]
    pub title: Option<String>,
    /// Record the stream's broadcasts (from its next publish on).
    pub record: Option<bool>,
}

/// The query of the list endpoints: `?limit=&cursor=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Where the page starts: the `X-Next-Cursor` of the previous page
    /// (treat it as opaque). A malformed one is a 400. The pattern is
    /// `streamly_core::domain::CURSOR_PATTERN` (a test checks).
    #[param(
        min_length = 3,
        max_length = 86,
        pattern = "^-?[0-9]{1,20}\\.[A-Za-z0-9_-]{1,64}$"
    )]
    pub cursor: Option<String>,
}

impl PageQuery {
    pub(super) fn page(query: Result<Query<PageQuery>, QueryRejection>) -> ApiResult<PageRequest> {
        let Query(q) = query.map_err(|_| {
            ApiError::BadRequest("malformed query: `limit` must be an integer from 1 to 100".into())
        })?;
        PageRequest::parse(q.limit, q.cursor.as_deref()).map_err(|e| ApiError::BadRequest(e.to_string()))
    }
}

/// `X-Next-Cursor` and `Link: <…>; rel="next"` when a next page exists.
pub(super) fn next_page_headers(path: &str, req: &PageRequest, next: Option<&StreamCursor>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(next) = next {
        let cursor = next.encode();
        let link = format!("<{path}?limit={}&cursor={cursor}>; rel=\"next\"", req.limit());
        // Digits, '.', '-', '_' and letters only: always a valid header value.
        if let (Ok(cursor), Ok(link)) = (HeaderValue::from_str(&cursor), HeaderValue::from_str(&link)) {
            headers.insert(NEXT_CURSOR, cursor);
            headers.insert(header::LINK, link);
        }
    }
    headers
}

/// The response header naming the next page's cursor.
const NEXT_CURSOR: &str = "x-next-cursor";

/// The public part of a stream's owner.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OwnerView {
    /// User id.
    pub id: String,
    /// Username.
    pub username: String,
}

/// A stream as anyone may see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StreamView {
    /// Stream id: used in the playback URL and as the chat room.
    pub id: String,
    /// Title.
    pub title: String,
    /// Who owns it.
    pub owner: OwnerView,
    /// Whether a publisher is live now.
    pub live: bool,
    /// Since when it is live (RFC 3339), `null` when offline.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub live_since: Option<OffsetDateTime>,
    /// When it was created (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Viewers connected to its chat room, summed over every node sharing
    /// the chat bus — but 0 when the answering node has no client in the
    /// room (it does not follow rooms it does not serve).
    pub viewers: u64,
    /// Whether its broadcasts are recorded (on by default; `PATCH` it).
    pub record: bool,
    /// HLS playlist URL.
    pub playback_url: String,
    /// WebSocket chat URL.
    pub chat_url: String,
}

/// A stream as its owner sees it in `GET /api/streams/mine`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OwnedStreamView {
    /// The public view.
    #[serde(flatten)]
    pub stream: StreamView,
    /// Where to publish (the key goes after it: `<rtmp_url>/<key>`).
    pub rtmp_url: String,
}

/// `POST /api/streams` answer: the only time (with rotate) the key is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedStreamResponse {
    /// The stream.
    #[serde(flatten)]
    pub stream: StreamView,
    /// The stream key. Shown once; only its hash is stored.
    pub stream_key: String,
    /// RTMP server URL for OBS ("Server"); the key is OBS's "Stream Key".
    pub rtmp_url: String,
}

/// `POST /api/streams/{id}/key` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RotatedKeyResponse {
    /// Stream id.
    pub id: String,
    /// The new key; the old one stopped working.
    pub stream_key: String,
    /// RTMP server URL.
    pub rtmp_url: String,
}

fn stream_id(path: Result<Path<String>, PathRejection>) -> ApiResult<StreamId> {
    let Path(raw) = path.map_err(|_| ApiError::stream_not_found())?;
    StreamId::parse(&raw).map_err(|_| ApiError::stream_not_found())
}

impl ApiState {
    async fn owner_view(&self, owner: UserId) -> ApiResult<OwnerView> {
        let username = match self.accounts.get(owner).await {
            Ok(user) => user.username.to_string(),
            Err(AccountError::Store(e)) => return Err(e.into()),
            Err(_) => "(deleted)".to_owned(),
        };
        Ok(OwnerView {
            id: owner.to_string(),
            username,
        })
    }

    async fn view(&self, stream: &Stream) -> ApiResult<StreamView> {
        Ok(StreamView {
            id: stream.id.to_string(),
            title: stream.title.to_string(),
            owner: self.owner_view(stream.owner).await?,
            live: stream.is_live(),
            live_since: stream.live_since,
            created_at: stream.created_at,
            viewers: self.viewers.viewers(&RoomId::from(&stream.id)),
            record: stream.record,
            playback_url: self.urls.playback_url(&stream.id),
            chat_url: self.urls.chat_url(&stream.id),
        })
    }
}

/// Create a stream; the answer carries its key, once. A user owns at most
/// `max_streams_per_user` streams (20 by default).
#[utoipa::path(post, path = "/api/streams", tag = "streams",
    security(("bearer" = [])),
    request_body = StreamTitleRequest,
    responses(
        (status = 201, description = "Created", body = CreatedStreamResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 409, description = "`stream_limit`: you already have as many streams as allowed (20 by default); delete one first", body = ErrorBody),
        (status = 422, description = "Invalid title", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    ApiJson(req): ApiJson<StreamTitleRequest>,
) -> ApiResult<impl IntoResponse> {
    let created = state.streams.create(user.id, &req.title).await?;
    let stream = state.view(&created.stream).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedStreamResponse {
            stream,
            stream_key: created.key.expose().to_owned(),
            rtmp_url: state.urls.rtmp.clone(),
        }),
    ))
}

/// Live streams, most recently started first (then by id), with viewer
/// counts; one page at a time: follow `X-Next-Cursor` (or `Link`).
#[utoipa::path(get, path = "/api/streams", tag = "streams",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of live streams", body = Vec<StreamView>, headers(
            ("X-Next-Cursor" = String, description = "Cursor of the next page; absent on the last page"),
            ("Link" = String, description = "`<url of the next page>; rel=\"next\"`; absent on the last page"),
        )),
        (status = 400, description = "`limit` out of range or malformed, or a cursor this API did not return", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn list_live(
    State(state): State<ApiState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<(HeaderMap, Json<Vec<StreamView>>)> {
    let req = PageQuery::page(query)?;
    let Page { items, next } = state.streams.list_live_page(&req).await?;
    let mut views = Vec::with_capacity(items.len());
    for s in &items {
        views.push(state.view(s).await?);
    }
    Ok((
        next_page_headers("/api/streams", &req, next.as_ref()),
        Json(views),
    ))
}

/// The signed-in user's streams, newest first (then by id); one page at a
/// time: follow `X-Next-Cursor` (or `Link`).
#[utoipa::path(get, path = "/api/streams/mine", tag = "streams",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of your streams", body = Vec<OwnedStreamView>, headers(
            ("X-Next-Cursor" = String, description = "Cursor of the next page; absent on the last page"),
            ("Link" = String, description = "`<url of the next page>; rel=\"next\"`; absent on the last page"),
        )),
        (status = 400, description = "`limit` out of range or malformed, or a cursor this API did not return", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn list_mine(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<(HeaderMap, Json<Vec<OwnedStreamView>>)> {
    let req = PageQuery::page(query)?;
    let Page { items, next } = state.streams.list_by_owner_page(user.id, &req).await?;
    let mut views = Vec::with_capacity(items.len());
    for s in &items {
        views.push(OwnedStreamView {
            stream: state.view(s).await?,
            rtmp_url: state.urls.rtmp.clone(),
        });
    }
    Ok((
        next_page_headers("/api/streams/mine", &req, next.as_ref()),
        Json(views),
    ))
}

/// One stream (public information).
#[utoipa::path(get, path = "/api/streams/{id}", tag = "streams",
    params(("id" = String, Path, description = "Stream id")),
    responses(
        (status = 200, description = "The stream", body = StreamView),
        (status = 404, description = "No such stream", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<StreamView>> {
    let id = stream_id(path)?;
    let stream = state.streams.get(&id).await?;
    Ok(Json(state.view(&stream).await?))
}

/// Change a stream you own: its title, whether it is recorded.
#[utoipa::path(patch, path = "/api/streams/{id}", tag = "streams",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Stream id")),
    request_body = StreamUpdateRequest,
    responses(
        (status = 200, description = "Changed", body = StreamView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such stream, or not yours", body = ErrorBody),
        (status = 422, description = "Invalid title", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    path: Result<Path<String>, PathRejection>,
    ApiJson(req): ApiJson<StreamUpdateRequest>,
) -> ApiResult<Json<StreamView>> {
    let id = stream_id(path)?;
    let mut stream = match &req.title {
        Some(title) => state.streams.set_title(user.id, &id, title).await?,
        None => state.streams.get_owned(user.id, &id).await?,
    };
    if let Some(record) = req.record
        && record != stream.record
    {
        stream = state.streams.set_record(user.id, &id, record).await?;
    }
    Ok(Json(state.view(&stream).await?))
}

/// Delete a stream you own. A publisher live on this node is disconnected.
#[utoipa::path(delete, path = "/api/streams/{id}", tag = "streams",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Stream id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such stream, or not yours", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    let id = stream_id(path)?;
    state.streams.delete(user.id, &id).await?;
    // The key is gone with the row, so a disconnected publisher cannot
    // publish again.
    if let Some(stop) = &state.on_delete {
        stop(&id);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a stream's key; the old key stops working at once.
#[utoipa::path(post, path = "/api/streams/{id}/key", tag = "streams",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Stream id")),
    responses(
        (status = 200, description = "New key", body = RotatedKeyResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such stream, or not yours", body = ErrorBody),
    ))]
pub async fn rotate_key(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<RotatedKeyResponse>> {
    let id = stream_id(path)?;
    let key = state.streams.rotate_key(user.id, &id).await?;
    Ok(Json(RotatedKeyResponse {
        id: id.to_string(),
        stream_key: key.expose().to_owned(),
        rtmp_url: state.urls.rtmp.clone(),
    }))
}
