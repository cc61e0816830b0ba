//! `/api/streams*`: create, list, read, rename, delete, rotate keys.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use streamly_core::domain::{Category, SEARCH_MAX_CHARS, sort_search_results};
use streamly_core::domain::{Page, PageRequest, RoomId, Stream, StreamCursor, StreamId, UserId};
use streamly_core::services::{AccountError, DetailsEdit};
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
    /// A new description, 0–2000 characters (empty: none; surrounding
    /// whitespace is trimmed); line feeds allowed, otherwise the title's
    /// rules (no control or format characters; a zero width joiner only
    /// between two visible characters).
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u00AD\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890\\u0891\\u08E2\\u180E\\u200B\\u200E\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\uFEFF\\uFFF9-\\uFFFB]*$"
    )]
    pub description: Option<String>,
    /// A new category, one of a fixed list; `null` clears it.
    #[serde(default, deserialize_with = "some_or_null")]
    #[schema(value_type = Option<String>, nullable, pattern = "^(gaming|music|art|coding|talk|sports|education|irl|other)$")]
    pub category: Option<Option<String>>,
    /// New tags, replacing all of them: at most 10 (a repeat is kept once), each
    /// 1–24 lowercase ASCII letters, digits or hyphens, starting with a
    /// letter or digit.
    #[schema(value_type = Option<Vec<TagSlug>>, max_items = 10)]
    pub tags: Option<Vec<String>>,
}

/// One tag: `streamly_core::domain::TAG_PATTERN` (a test checks).
#[derive(Debug, ToSchema)]
#[schema(value_type = String, min_length = 1, max_length = 24, pattern = "^[a-z0-9][a-z0-9-]{0,23}$")]
#[allow(dead_code)] // Only its schema is used.
pub struct TagSlug(pub String);

/// A present field as `Some(value)`, `null` included (`Some(None)`); an
/// absent one stays `None` (`#[serde(default)]`).
fn some_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
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
    /// Description (empty: none).
    pub description: String,
    /// Category, `null` when none.
    pub category: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// HLS playlist URL.
    pub playback_url: String,
    /// A recent frame as a 320-pixel-wide JPEG, refreshed about every
    /// 30 s (a placeholder image without `ffmpeg` on the ingest node, or
    /// before the first one); `null` when offline.
    pub thumbnail_url: Option<String>,
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

    pub(super) async fn view(&self, stream: &Stream) -> ApiResult<StreamView> {
        Ok(StreamView {
            id: stream.id.to_string(),
            title: stream.title.to_string(),
            owner: self.owner_view(stream.owner).await?,
            live: stream.is_live(),
            live_since: stream.live_since,
            created_at: stream.created_at,
            viewers: self.viewers.viewers(&RoomId::from(&stream.id)),
            record: stream.record,
            description: stream.details.description.as_str().to_owned(),
            category: stream.details.category.map(|c| c.as_str().to_owned()),
            tags: stream
                .details
                .tags
                .as_slice()
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            playback_url: self.urls.playback_url(&stream.id),
            thumbnail_url: stream.is_live().then(|| self.urls.thumbnail_url(&stream.id)),
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

/// The query of `GET /api/streams`: a page, a category, an order.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiveQuery {
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
    /// Only the streams of this category.
    #[param(pattern = "^(gaming|music|art|coding|talk|sports|education|irl|other)$")]
    pub category: Option<String>,
    /// `recent` (the default): most recently started first. `viewers`: each
    /// page, still cut by the start-time cursor, ordered by viewers (most
    /// first; ties by that order).
    #[param(pattern = "^(recent|viewers)$")]
    pub sort: Option<String>,
}

/// Live streams, most recently started first (then by id), with viewer
/// counts; one page at a time: follow `X-Next-Cursor` (or `Link`).
/// `category` keeps one category; `sort=viewers` orders each page by its
/// viewer counts. Those counts are the chat's, read when answering and not
/// kept by the store, so the store cannot order by them: the pages are cut
/// by start time and each page is sorted by viewers here (a stream never
/// shows up twice or goes missing while paging, but page 2 can hold more
/// viewers than page 1; the home page asks for one page of 100).
#[utoipa::path(get, path = "/api/streams", tag = "streams",
    params(LiveQuery),
    responses(
        (status = 200, description = "A page of live streams", body = Vec<StreamView>, headers(
            ("X-Next-Cursor" = String, description = "Cursor of the next page; absent on the last page"),
            ("Link" = String, description = "`<url of the next page>; rel=\"next\"`; absent on the last page"),
        )),
        (status = 400, description = "`limit` out of range or malformed, a cursor this API did not return, an unknown `category` or `sort`", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn list_live(
    State(state): State<ApiState>,
    query: Result<Query<LiveQuery>, QueryRejection>,
) -> ApiResult<(HeaderMap, Json<Vec<StreamView>>)> {
    let Query(q) = query.map_err(|_| {
        ApiError::BadRequest("malformed query: `limit` must be an integer from 1 to 100".into())
    })?;
    let req =
        PageRequest::parse(q.limit, q.cursor.as_deref()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let category = q
        .category
        .as_deref()
        .map(Category::parse)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let by_viewers = match q.sort.as_deref() {
        None | Some("recent") => false,
        Some("viewers") => true,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "`sort` must be `recent` or `viewers`".into(),
            ));
        }
    };
    let Page { items, next } = state.streams.list_live_page_in(&req, category).await?;
    let mut views = Vec::with_capacity(items.len());
    for s in &items {
        views.push(state.view(s).await?);
    }
    if by_viewers {
        // Stable: ties keep the start-time order.
        views.sort_by_key(|v| std::cmp::Reverse(v.viewers));
    }
    let mut path = "/api/streams".to_owned();
    let mut sep = '?';
    for (name, value) in [
        ("category", category.map(Category::as_str)),
        ("sort", q.sort.as_deref()),
    ] {
        if let Some(value) = value {
            path.push_str(&format!("{sep}{name}={value}"));
            sep = '&';
        }
    }
    Ok((next_page_headers(&path, &req, next.as_ref()), Json(views)))
}

/// The query of `GET /api/search`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words to look for: each must start a word of the title or a tag
    /// (any case; only letters and digits count), or the whole query is a
    /// streamer's username (any case). 1–100 characters.
    #[param(min_length = 1, max_length = 100)]
    pub q: String,
    /// At most this many streams, 1–50 (default 50).
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<u32>,
}

/// Search streams by title, tags or streamer: live ones first (most
/// recently started first), then the others, newest first; at most 50
/// (no pages). SQLite matches with FTS5, Postgres with full-text search;
/// a streamer matches by their exact username.
#[utoipa::path(get, path = "/api/search", tag = "streams",
    params(SearchQuery),
    responses(
        (status = 200, description = "The streams found", body = Vec<StreamView>),
        (status = 400, description = "`q` missing, empty or over 100 characters, or `limit` out of range", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn search(
    State(state): State<ApiState>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<StreamView>>> {
    let Query(q) = query.map_err(|_| {
        ApiError::BadRequest(
            "malformed query: `q` is required and `limit` must be an integer from 1 to 50".into(),
        )
    })?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::BadRequest("`limit` must be from 1 to 50".into()));
    }
    let len = q.q.chars().count();
    if len == 0 || len > SEARCH_MAX_CHARS {
        return Err(ApiError::BadRequest(format!(
            "`q` must be 1 to {SEARCH_MAX_CHARS} characters"
        )));
    }
    let limit = limit as usize;
    let mut found = state.streams.search(&q.q, limit).await?;
    // The streamer: a username, compared as usernames are (any case), never
    // an email (which `find_by_login` also matches).
    if let Ok(name) = streamly_core::domain::Username::parse(q.q.trim()) {
        let user = state
            .accounts
            .users()
            .find_by_login(name.as_str())
            .await?
            .filter(|u| u.username.canonical() == name.canonical());
        if let Some(user) = user {
            for s in state.streams.list_by_owner(user.id).await? {
                if !found.iter().any(|f| f.id == s.id) {
                    found.push(s);
                }
            }
            sort_search_results(&mut found);
            found.truncate(limit);
        }
    }
    let mut views = Vec::with_capacity(found.len());
    for s in &found {
        views.push(state.view(s).await?);
    }
    Ok(Json(views))
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

/// Change a stream you own: its title, description, category, tags,
/// whether it is recorded. Every field is checked before any is changed.
#[utoipa::path(patch, path = "/api/streams/{id}", tag = "streams",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Stream id")),
    request_body = StreamUpdateRequest,
    responses(
        (status = 200, description = "Changed", body = StreamView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such stream, or not yours", body = ErrorBody),
        (status = 422, description = "Invalid title, description, category or tags (`field` names it)", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    path: Result<Path<String>, PathRejection>,
    ApiJson(req): ApiJson<StreamUpdateRequest>,
) -> ApiResult<Json<StreamView>> {
    let id = stream_id(path)?;
    // Validated up front, so a bad field changes nothing.
    if let Some(title) = &req.title {
        streamly_core::domain::StreamTitle::parse(title)?;
    }
    let edit = DetailsEdit {
        description: req.description.as_deref(),
        category: req.category.as_ref().map(Option::as_deref),
        tags: req.tags.as_deref(),
    };
    validate_details(&edit)?;
    let mut stream = match &req.title {
        Some(title) => state.streams.set_title(user.id, &id, title).await?,
        None => state.streams.get_owned(user.id, &id).await?,
    };
    if let Some(record) = req.record
        && record != stream.record
    {
        stream = state.streams.set_record(user.id, &id, record).await?;
    }
    if edit.description.is_some() || edit.category.is_some() || edit.tags.is_some() {
        stream = state.streams.set_details(user.id, &id, edit).await?;
    }
    Ok(Json(state.view(&stream).await?))
}

fn validate_details(edit: &DetailsEdit<'_>) -> ApiResult<()> {
    use streamly_core::domain::{Category, StreamDescription, Tags};
    if let Some(d) = edit.description {
        StreamDescription::parse(d)?;
    }
    if let Some(Some(c)) = edit.category {
        Category::parse(c)?;
    }
    if let Some(t) = edit.tags {
        Tags::parse(t)?;
    }
    Ok(())
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
