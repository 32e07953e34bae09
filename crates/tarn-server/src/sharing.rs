//! Delta Sharing over HTTP, under `/delta-sharing/` on the HTTP listener: the protocol's REST
//! endpoints for recipients (bearer tokens of `tarnshare_` form, not principals' tokens),
//! the signed file URLs Tarn serves for local storage (HEAD, ranges), and the one-time
//! activation links that turn into profile files. What to answer is `tarn_sharing::Provider`'s;
//! this module maps HTTP to it and every access to the audit log.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use futures::StreamExt;
use object_store::{GetOptions, GetRange, ObjectStoreExt};
use tarn_catalog::Recipient;
use tarn_sharing::{
    CAPABILITIES_HEADER, Capabilities, Page, Provider, QueryRequest, SharingError, TABLE_VERSION_HEADER, TableRef, TableResponse,
};

use crate::audit::{AuditEvent, Auditor};

/// Where the protocol is mounted on the HTTP listener.
pub const PREFIX: &str = "/delta-sharing";

pub struct SharingState {
    provider: Provider,
    auditor: Auditor,
    /// The endpoint recipients use (`http://host:port/delta-sharing`); without it, each
    /// request's `Host` names it.
    endpoint: Option<String>,
    catalog: tarn_catalog::Catalog,
}

impl SharingState {
    pub fn new(provider: Provider, catalog: tarn_catalog::Catalog, auditor: Auditor, endpoint: Option<String>) -> Self {
        Self { provider, auditor, endpoint, catalog }
    }
}

type Shared = State<Arc<SharingState>>;

pub fn routes(state: SharingState) -> Router {
    let table = "/shares/{share}/schemas/{schema}/tables/{table}";
    let api = Router::new()
        .route("/shares", get(list_shares))
        .route("/shares/{share}", get(get_share))
        .route("/shares/{share}/schemas", get(list_schemas))
        .route("/shares/{share}/schemas/{schema}/tables", get(list_tables))
        .route("/shares/{share}/all-tables", get(list_all_tables))
        .route(table, get(table_version))
        .route(&format!("{table}/version"), get(table_version))
        .route(&format!("{table}/metadata"), get(metadata))
        .route(&format!("{table}/query"), post(query))
        .route(&format!("{table}/changes"), get(changes))
        .route("/files/{payload}", get(file))
        .route("/activation/{code}", get(activate))
        .fallback(|| async { SharingError::NotFound("no such Delta Sharing endpoint".into()).into_http() })
        .with_state(Arc::new(state));
    Router::new().nest(PREFIX, api)
}

trait IntoHttp {
    fn into_http(self) -> Response;
}

impl IntoHttp for SharingError {
    fn into_http(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self, "Delta Sharing request failed");
        }
        let mut response = (status, self.body()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

fn endpoint(state: &SharingState, headers: &HeaderMap) -> String {
    if let Some(endpoint) = &state.endpoint {
        return endpoint.trim_end_matches('/').to_string();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}{PREFIX}")
}

/// The recipient the request's bearer token names, or the refusal to answer (audited).
async fn recipient(state: &SharingState, headers: &HeaderMap, peer: &std::net::SocketAddr, what: &str) -> Result<Recipient, Response> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    state.provider.authenticate(authorization).await.map_err(|e| {
        record(state, "?", peer, what.to_string(), vec![], Err(&e));
        e.into_http()
    })
}

fn record(
    state: &SharingState,
    who: &str,
    peer: &std::net::SocketAddr,
    what: String,
    tables: Vec<String>,
    result: Result<(), &SharingError>,
) {
    let (outcome, error) = match result {
        Ok(()) => ("ok", None),
        Err(e) if matches!(e.status(), 401 | 403) => ("denied", Some(e.to_string())),
        Err(e) => ("error", Some(e.to_string())),
    };
    state.auditor.record(AuditEvent {
        principal: format!("recipient:{who}"),
        protocol: "delta-sharing",
        client_address: peer.to_string(),
        statement: what,
        tables,
        outcome,
        error,
        at: chrono::Utc::now(),
    });
}

fn json_response(value: serde_json::Value) -> Response {
    let mut response = value.to_string().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

/// A listing or share lookup: authenticate, answer, audit.
async fn listing<F, Fut>(state: Arc<SharingState>, headers: HeaderMap, peer: std::net::SocketAddr, what: String, answer: F) -> Response
where
    F: FnOnce(Arc<SharingState>, Recipient) -> Fut,
    Fut: std::future::Future<Output = Result<serde_json::Value, SharingError>>,
{
    let who = match recipient(&state, &headers, &peer, &what).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let result = answer(state.clone(), who.clone()).await;
    record(&state, &who.name, &peer, what, vec![], result.as_ref().map(|_| ()));
    match result {
        Ok(value) => json_response(value),
        Err(e) => e.into_http(),
    }
}

async fn list_shares(
    State(state): Shared,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Query(page): Query<Page>,
) -> Response {
    listing(state, headers, peer, "LIST SHARES".into(), |s, r| async move { s.provider.list_shares(&r, &page).await }).await
}

async fn get_share(
    State(state): Shared,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path(share): Path<String>,
) -> Response {
    listing(state, headers, peer, format!("GET SHARE {share}"), |s, r| async move { s.provider.get_share(&r, &share).await }).await
}

async fn list_schemas(
    State(state): Shared,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path(share): Path<String>,
    Query(page): Query<Page>,
) -> Response {
    listing(state, headers, peer, format!("LIST SCHEMAS {share}"), |s, r| async move { s.provider.list_schemas(&r, &share, &page).await })
        .await
}

async fn list_tables(
    State(state): Shared,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path((share, schema)): Path<(String, String)>,
    Query(page): Query<Page>,
) -> Response {
    listing(state, headers, peer, format!("LIST TABLES {share}.{schema}"), |s, r| async move {
        s.provider.list_tables(&r, &share, Some(&schema), &page).await
    })
    .await
}

async fn list_all_tables(
    State(state): Shared,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path(share): Path<String>,
    Query(page): Query<Page>,
) -> Response {
    listing(state, headers, peer, format!("LIST ALL TABLES {share}"), |s, r| async move {
        s.provider.list_tables(&r, &share, None, &page).await
    })
    .await
}

fn table_ref((share, schema, table): (String, String, String)) -> TableRef {
    TableRef { share, schema, table }
}

/// A table-level request: authenticate, answer, audit (with the table, version and files).
async fn table_request<F, Fut>(
    state: Arc<SharingState>,
    headers: HeaderMap,
    peer: std::net::SocketAddr,
    what: String,
    answer: F,
) -> Response
where
    F: FnOnce(Arc<SharingState>, Recipient, Capabilities, String) -> Fut,
    Fut: std::future::Future<Output = Result<TableResponse, SharingError>>,
{
    let who = match recipient(&state, &headers, &peer, &what).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let caps = Capabilities::parse(headers.get(CAPABILITIES_HEADER).and_then(|v| v.to_str().ok()));
    let endpoint = endpoint(&state, &headers);
    match answer(state.clone(), who.clone(), caps, endpoint).await {
        Ok(response) => {
            let detail = format!("{what} version={} files={} format={}", response.version, response.files, response.format.header_value());
            record(&state, &who.name, &peer, detail, vec![response.table.clone()], Ok(()));
            let mut body = response.lines.join("\n");
            body.push('\n');
            let mut http = body.into_response();
            let h = http.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson; charset=utf-8"));
            h.insert(TABLE_VERSION_HEADER, HeaderValue::from(response.version));
            h.insert(CAPABILITIES_HEADER, HeaderValue::from_static(response.format.header_value()));
            http
        }
        Err(e) => {
            record(&state, &who.name, &peer, what, vec![], Err(&e));
            e.into_http()
        }
    }
}

async fn table_version(
    State(state): Shared,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path(path): Path<(String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let name = table_ref(path);
    let what = format!("VERSION {name}");
    let who = match recipient(&state, &headers, &peer, &what).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let result = state.provider.table_version(&who, &name, &params).await;
    record(&state, &who.name, &peer, what, vec![], result.as_ref().map(|_| ()));
    match result {
        Ok(version) => {
            let mut response = StatusCode::OK.into_response();
            response.headers_mut().insert(TABLE_VERSION_HEADER, HeaderValue::from(version));
            response
        }
        Err(e) => e.into_http(),
    }
}

async fn metadata(
    State(state): Shared,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path(path): Path<(String, String, String)>,
) -> Response {
    let name = table_ref(path);
    table_request(
        state,
        headers,
        peer,
        format!("METADATA {name}"),
        |s, r, caps, _| async move { s.provider.metadata(&r, &name, &caps).await },
    )
    .await
}

async fn query(
    State(state): Shared,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path(path): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let name = table_ref(path);
    let what = format!("QUERY {name}");
    table_request(state, headers, peer, what, |s, r, caps, endpoint| async move {
        let request = QueryRequest::parse(&body)?;
        s.provider.query(&r, &name, &caps, &request, &endpoint).await
    })
    .await
}

async fn changes(
    State(state): Shared,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path(path): Path<(String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let name = table_ref(path);
    table_request(state, headers, peer, format!("CHANGES {name}"), |s, r, caps, endpoint| async move {
        s.provider.changes(&r, &name, &caps, &params, &endpoint).await
    })
    .await
}

/// `Range: bytes=a-b | a- | -n` over an object of `size` bytes: the inclusive range to send,
/// `Ok(None)` for the whole object, `Err` when no byte of it is in the object.
fn byte_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    // Several ranges are allowed to be answered with the whole object.
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size.checked_sub(1).ok_or(())?)
        }
        (start, "") => (start.parse().map_err(|_| ())?, size.checked_sub(1).ok_or(())?),
        (start, end) => {
            let (s, e): (u64, u64) = (start.parse().map_err(|_| ())?, end.parse().map_err(|_| ())?);
            (s, e.min(size.saturating_sub(1)))
        }
    };
    if start >= size || end < start {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// A file behind a signed URL: `HEAD` (size), `GET` (all of it) or `GET` with a range (206).
async fn file(
    State(state): Shared,
    method: Method,
    headers: HeaderMap,
    Path(payload): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let signature = params.get(tarn_sharing::SIGNATURE_PARAM).map(String::as_str).unwrap_or_default();
    let access = match state.provider.open_file(&payload, signature).await {
        Ok(access) => access,
        Err(e) => return e.into_http(),
    };
    let meta = match access.store.head(&access.path).await {
        Ok(meta) => meta,
        Err(e) => return SharingError::from(e).into_http(),
    };
    let size = meta.size;
    let range = match byte_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), size) {
        Ok(range) => range,
        Err(()) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return response;
        }
    };
    let (status, length) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, end - start + 1),
        None => (StatusCode::OK, size),
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        let options = GetOptions { range: range.map(|(s, e)| GetRange::Bounded(s..e + 1)), ..Default::default() };
        match access.store.get_opts(&access.path, options).await {
            Ok(result) => Body::from_stream(result.into_stream().map(|chunk| chunk.map_err(std::io::Error::other))),
            Err(e) => return SharingError::from(e).into_http(),
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Some((start, end)) = range
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}

/// A one-time activation link: answers the recipient's profile file (with a fresh token) once.
async fn activate(
    State(state): Shared,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let result = match state.catalog.activate(&code).await {
        Ok(Some((token, record))) => Ok((token, record)),
        Ok(None) => {
            Err(SharingError::NotFound("this activation link is not valid or was used already; ask the provider for a new one".into()))
        }
        Err(e) => Err(SharingError::from(e)),
    };
    match result {
        Ok((token, record)) => {
            record_activation(&state, &record.recipient, &peer);
            let profile = tarn_sharing::profile_json(&endpoint(&state, &headers), &token, record.expires_at);
            let mut response = json_response(profile);
            response.headers_mut().insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"config.share\""));
            response
        }
        Err(e) => {
            record(&state, "?", &peer, "ACTIVATE".into(), vec![], Err(&e));
            e.into_http()
        }
    }
}

fn record_activation(state: &SharingState, recipient: &str, peer: &std::net::SocketAddr) {
    record(state, recipient, peer, "ACTIVATE".into(), vec![], Ok(()));
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn byte_ranges_follow_rfc_9110() {
        assert_eq!(byte_range(None, 100), Ok(None));
        assert_eq!(byte_range(Some("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(byte_range(Some("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=95-200"), 100), Ok(Some((95, 99))));
        assert_eq!(byte_range(Some("bytes=-200"), 100), Ok(Some((0, 99))));
        assert_eq!(byte_range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(byte_range(Some("bytes=5-1"), 100), Err(()));
        assert_eq!(byte_range(Some("bytes=x-1"), 100), Err(()));
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 100), Ok(None));
    }
}
