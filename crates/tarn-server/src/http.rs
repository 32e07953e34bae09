//! The HTTP API (axum). The app is a function of its state, so tests can drive it directly.
//!
//! `POST /api/v1/statements` with `{"statement": "...", "catalog"?: "...", "schema"?: "..."}` runs
//! the statements in order and returns the last one's result, streamed as it is produced:
//! JSON (default), CSV (`Accept: text/csv`) or an Arrow IPC stream
//! (`Accept: application/vnd.apache.arrow.stream`).

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use tarn_catalog::Principal;
use tarn_sql::ast::Statement;
use tarn_sql::{Session, SessionConfig, StatementOutput, parse_sql};

use crate::statements::{Statements, Status};
use crate::{Metrics, ServerError};

const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// Shared by all requests: how to open a session on the warehouse.
#[derive(Clone)]
pub struct AppState {
    config: SessionConfig,
    /// Opened once; every request's session shares it.
    catalog: tarn_catalog::Catalog,
    auth: bool,
    metrics: Arc<Metrics>,
    statements: Arc<Statements>,
    auditor: crate::audit::Auditor,
}

impl AppState {
    /// A session running as `principal` (none: authentication is off, the local admin).
    pub(crate) fn session(&self, principal: Option<&Extension<Principal>>) -> std::result::Result<Session, ServerError> {
        let mut session = Session::with_catalog(self.catalog.clone(), &self.config)?;
        if let Some(Extension(principal)) = principal {
            session.set_principal(principal.clone());
        }
        Ok(session)
    }

    pub(crate) fn auditor(&self) -> &crate::audit::Auditor {
        &self.auditor
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn new(
        config: SessionConfig,
        catalog: tarn_catalog::Catalog,
        auth: bool,
        metrics: Arc<Metrics>,
        auditor: crate::audit::Auditor,
    ) -> Self {
        Self { config, catalog, auth, metrics, auditor, statements: Arc::new(Statements::default()) }
    }
}

/// What `GET /` answers: a static page saying what the server offers and where its API is
/// described (no data, no secrets; the same for everyone).
const INDEX_PAGE: &str = include_str!("index.html");

pub fn router(state: AppState) -> Router {
    let state = Arc::new(state);
    let api = Router::new()
        .route("/api/v1/statements", post(run_statement))
        .route("/api/v1/statements/{id}", get(get_statement))
        .route("/api/v1/statements/{id}/cancel", post(cancel_statement))
        .merge(
            Router::new()
                .route("/api/v1/catalogs", get(list_catalogs))
                .route("/api/v1/catalogs/{catalog}/schemas", get(list_schemas))
                .route("/api/v1/catalogs/{catalog}/schemas/{schema}/tables", get(list_tables))
                .route("/api/v1/catalogs/{catalog}/schemas/{schema}/tables/{table}", get(describe_table))
                .route_layer(axum::middleware::from_fn_with_state(state.clone(), audit_browsing)),
        )
        .route("/api/v1/tables/{table}/changes", get(crate::http_changes::follow))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/", get(|| async { axum::response::Html(INDEX_PAGE) }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .merge(api)
        .with_state(state)
}

/// Catalog browsing reads metadata as statements do, so it is audited as they are: the
/// request (`GET /api/v1/...`), who sent it, the table it describes, and whether it was
/// allowed.
async fn audit_browsing(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let who = request.extensions().get::<Principal>().map_or("admin", |p| p.name.as_str()).to_string();
    let path = request.uri().path().to_string();
    let text = format!("GET {path}");
    let segments: Vec<String> = path.split('/').map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    // /api/v1/catalogs/{c}/schemas/{s}/tables/{t}
    let tables = match segments.as_slice() {
        [_, "api", "v1", "catalogs", c, "schemas", s, "tables", t] => vec![format!("{c}.{s}.{t}")],
        _ => Vec::new(),
    };
    let response = next.run(request).await;
    let status = response.status();
    let failure = (!status.is_success()).then(|| match status {
        axum::http::StatusCode::FORBIDDEN => tarn_sql::SqlError::PermissionDenied(format!("HTTP {status}")),
        _ => tarn_sql::SqlError::User(format!("HTTP {status}")),
    });
    let outcome = match &failure {
        Some(e) => Err(e),
        None => Ok(()),
    };
    state.auditor.record(crate::audit::AuditEvent::new(&who, "http", peer.to_string(), &text, outcome).with_tables(tables));
    response
}

/// Every API route needs `Authorization: Bearer <token>` unless auth is off.
async fn require_token(State(state): State<Arc<AppState>>, mut request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if !state.auth {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_string);
    let Some(token) = token else {
        return ServerError::Unauthorized("send Authorization: Bearer <token> (tarn token create --user NAME makes one)".into())
            .into_response();
    };
    match state.catalog.authenticate_token(&token).await {
        Ok(Some(principal)) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Ok(None) => ServerError::Unauthorized("the token is invalid, expired or revoked".into()).into_response(),
        Err(e) => ServerError::Sql(e.into()).into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatementRequest {
    statement: String,
    catalog: Option<String>,
    schema: Option<String>,
    /// Run asynchronously: wait at most this long, then answer 202 with a statement id to poll
    /// (`GET /api/v1/statements/{id}`) or cancel (`POST /api/v1/statements/{id}/cancel`).
    wait_timeout_ms: Option<u64>,
}

#[derive(Clone, Copy)]
enum Format {
    Json,
    Csv,
    Arrow,
}

fn negotiate(headers: &HeaderMap) -> Format {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains(ARROW_STREAM) {
        Format::Arrow
    } else if accept.contains("text/csv") {
        Format::Csv
    } else {
        Format::Json
    }
}

/// The OpenAPI document, kept beside the handlers it describes.
async fn openapi() -> Response {
    let mut response = include_str!("openapi.json").into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    response
}

async fn run_statement(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> std::result::Result<Response, ServerError> {
    let started = std::time::Instant::now();
    let who = principal.as_ref().map_or("admin", |Extension(p)| p.name.as_str()).to_string();
    let text = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("statement").and_then(|s| s.as_str()).map(str::to_string))
        .unwrap_or_default();
    let audit = Audit { who, peer: peer.to_string(), text };
    let mut counts = Counts::default();
    let result = execute_request(&state, principal.as_ref(), &headers, &body, &mut counts, &audit).await;
    if !counts.recorded_by_task {
        audit.record(&state.auditor, std::mem::take(&mut counts.tables), result.as_ref().map(|_| ()));
        state.metrics.record(counts.statements, counts.commits, result.is_err(), started.elapsed());
    }
    result
}

/// Who sent a request and what, for the audit log.
#[derive(Clone)]
struct Audit {
    who: String,
    peer: String,
    text: String,
}

impl Audit {
    fn record(&self, auditor: &crate::audit::Auditor, tables: Vec<String>, result: std::result::Result<(), &ServerError>) {
        let other_error;
        let outcome = match result {
            Ok(()) => Ok(()),
            Err(ServerError::Sql(e)) => Err(e),
            Err(other) => {
                other_error = tarn_sql::SqlError::User(other.to_string());
                Err(&other_error)
            }
        };
        auditor.record(crate::audit::AuditEvent::new(&self.who, "http", self.peer.clone(), &self.text, outcome).with_tables(tables));
    }
}

/// Audits an asynchronous statement that was cancelled before it ended.
struct CanceledAudit(Option<(Audit, crate::audit::Auditor)>);

impl Drop for CanceledAudit {
    fn drop(&mut self) {
        if let Some((audit, auditor)) = self.0.take() {
            let mut event = crate::audit::AuditEvent::new(&audit.who, "http", audit.peer.clone(), &audit.text, Ok(()));
            event.outcome = "canceled";
            auditor.record(event);
        }
    }
}

/// What a request did, for the metrics and the audit log.
#[derive(Default)]
struct Counts {
    statements: u64,
    commits: u64,
    tables: Vec<String>,
    /// Asynchronous statements record themselves when they end.
    recorded_by_task: bool,
}

async fn execute_request(
    state: &AppState,
    principal: Option<&Extension<Principal>>,
    headers: &HeaderMap,
    body: &Bytes,
    counts: &mut Counts,
    audit: &Audit,
) -> std::result::Result<Response, ServerError> {
    let request: StatementRequest = serde_json::from_slice(body)
        .map_err(|e| ServerError::BadRequest(format!("the body must be JSON like {{\"statement\": \"SELECT 1\"}}: {e}")))?;
    counts.statements = parse_sql(&request.statement)?.len() as u64;
    if let Some(wait) = request.wait_timeout_ms {
        let id = uuid::Uuid::new_v4().to_string();
        let mut session = state.session(principal)?;
        let metrics = state.metrics.clone();
        let auditor = state.auditor.clone();
        let audit = audit.clone();
        let n = counts.statements;
        counts.recorded_by_task = true;
        let owner = owner_of(principal);
        state.statements.start(id.clone(), &owner, async move {
            // A cancelled statement's task is dropped midway: it is audited as cancelled.
            let mut canceled = CanceledAudit(Some((audit.clone(), auditor.clone())));
            let started = std::time::Instant::now();
            let result = async {
                let (output, commits) = run_statements(&mut session, request).await?;
                let schema = output.schema.clone();
                let batches = output.collect().await?;
                Ok::<_, ServerError>((schema, batches, commits))
            }
            .await;
            canceled.0 = None;
            audit.record(&auditor, session.take_touched_tables(), result.as_ref().map(|_| ()));
            metrics.record(n, result.as_ref().map_or(0, |r| r.2), result.is_err(), started.elapsed());
            result.map(|(schema, batches, _)| (schema, batches))
        });
        let status = state.statements.wait(&id, &owner, std::time::Duration::from_millis(wait)).await;
        return Ok(status_response(&id, status));
    }
    let mut session = state.session(principal)?;
    let ran = run_statements(&mut session, request).await;
    counts.tables = session.take_touched_tables();
    let notices = session.take_notices();
    let (output, commits) = ran?;
    let mut output = first_batch_ready(output).await?;
    output.stream = state.metrics.track_stream(output.stream);
    counts.commits = commits;
    let statement_id = uuid::Uuid::new_v4().to_string();
    Ok(respond(output, negotiate(headers), statement_id, notices))
}

/// Run a request's statements in a fresh session; returns the last result (lazy) and how many
/// statements changed something.
async fn run_statements(session: &mut Session, request: StatementRequest) -> std::result::Result<(StatementOutput, u64), ServerError> {
    let statements = parse_sql(&request.statement)?;
    if statements.is_empty() {
        return Err(ServerError::BadRequest("the statement is empty".into()));
    }
    // Request fields are names, never SQL: typed statements, quoted in one place.
    if let Some(catalog) = &request.catalog {
        session.execute(Statement::use_catalog(catalog)).await?;
    }
    if let Some(schema) = &request.schema {
        session.execute(Statement::use_schema(schema)).await?;
    }
    let last = statements.len() - 1;
    let mut result = None;
    let mut commits = 0;
    for (i, statement) in statements.into_iter().enumerate() {
        let changes = u64::from(statement.properties().writes);
        let output = session.execute(statement).await?;
        commits += changes;
        if i == last {
            result = Some(output);
        } else {
            output.collect().await?;
        }
    }
    let output = result.ok_or_else(|| ServerError::BadRequest("the statement is empty".into()))?;
    Ok((output, commits))
}

/// Whose an asynchronous statement is: the principal's name ("" without authentication).
fn owner_of(principal: Option<&Extension<Principal>>) -> String {
    principal.map(|p| p.name.clone()).unwrap_or_default()
}

async fn get_statement(State(state): State<Arc<AppState>>, principal: Option<Extension<Principal>>, Path(id): Path<String>) -> Response {
    match state.statements.status(&id, &owner_of(principal.as_ref())) {
        Some(status) => status_response(&id, status),
        None => unknown_statement(&id),
    }
}

async fn cancel_statement(State(state): State<Arc<AppState>>, principal: Option<Extension<Principal>>, Path(id): Path<String>) -> Response {
    match state.statements.cancel(&id, &owner_of(principal.as_ref())) {
        Some(status) => status_response(&id, status),
        None => unknown_statement(&id),
    }
}

fn unknown_statement(id: &str) -> Response {
    ServerError::NotFound(format!("statement '{id}' is unknown (or finished long ago and was forgotten)")).into_response()
}

/// `{"statement_id", "status", ...}` with the rows when it succeeded, the error when it failed.
fn status_response(id: &str, status: Status) -> Response {
    let (code, doc) = match status {
        Status::Running => (axum::http::StatusCode::ACCEPTED, serde_json::json!({ "statement_id": id, "status": "RUNNING" })),
        Status::Canceled => (axum::http::StatusCode::OK, serde_json::json!({ "statement_id": id, "status": "CANCELED" })),
        Status::Failed { message, status } => (
            axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
            serde_json::json!({ "statement_id": id, "status": "FAILED", "error": { "message": message, "status": status } }),
        ),
        Status::Succeeded { schema, batches } => {
            let columns: Vec<serde_json::Value> = result_columns(&schema);
            let mut rows = Vec::new();
            for batch in batches.iter() {
                match json_rows(batch) {
                    Ok(r) => rows.extend(r),
                    Err(e) => return e.into_response(),
                }
            }
            let count = rows.len();
            (
                axum::http::StatusCode::OK,
                serde_json::json!({ "statement_id": id, "status": "SUCCEEDED", "columns": columns, "rows": rows, "row_count": count }),
            )
        }
    };
    (code, axum::Json(doc)).into_response()
}

async fn list_catalogs(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
) -> std::result::Result<Response, ServerError> {
    let session = state.session(principal.as_ref())?;
    let names: Vec<String> =
        session.catalog().list_catalogs().await.map_err(tarn_sql::SqlError::from)?.into_iter().map(|c| c.name).collect();
    Ok(axum::Json(serde_json::json!({ "catalogs": names })).into_response())
}

async fn list_schemas(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path(catalog): Path<String>,
) -> std::result::Result<Response, ServerError> {
    let mut session = state.session(principal.as_ref())?;
    // Listing needs what SHOW SCHEMAS needs (USE CATALOG).
    session.execute(Statement::show_schemas_in(&catalog)).await?;
    let names: Vec<String> =
        session.catalog().list_schemas(&catalog).await.map_err(tarn_sql::SqlError::from)?.into_iter().map(|s| s.name).collect();
    Ok(axum::Json(serde_json::json!({ "catalog": catalog, "schemas": names })).into_response())
}

async fn list_tables(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path((catalog, schema)): Path<(String, String)>,
) -> std::result::Result<Response, ServerError> {
    let mut session = state.session(principal.as_ref())?;
    // Listing needs what SHOW TABLES needs (USE CATALOG and USE SCHEMA).
    session.execute(Statement::show_tables_in(&catalog, &schema)).await?;
    let mut tables: Vec<serde_json::Value> = session
        .catalog()
        .list_tables(&catalog, &schema)
        .await
        .map_err(tarn_sql::SqlError::from)?
        .into_iter()
        .map(|t| serde_json::json!({ "name": t.name, "kind": t.kind, "location": t.location }))
        .collect();
    // Views are listed beside the tables (kind "view"; they have no location).
    let views = session.catalog().list_views(&catalog, &schema).await.map_err(tarn_sql::SqlError::from)?;
    tables.extend(views.into_iter().map(|v| serde_json::json!({ "name": v.name, "kind": "view", "location": null })));
    Ok(axum::Json(serde_json::json!({ "catalog": catalog, "schema": schema, "tables": tables })).into_response())
}

/// A table's columns and DESCRIBE DETAIL, as JSON.
async fn describe_table(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path((catalog, schema, table)): Path<(String, String, String)>,
) -> std::result::Result<Response, ServerError> {
    let mut session = state.session(principal.as_ref())?;
    let mut columns = Vec::new();
    for batch in session.execute(Statement::describe_table(&catalog, &schema, &table)).await?.collect().await? {
        columns.extend(json_rows(&batch)?);
    }
    // DESCRIBE lists partition information after the columns; keep the columns.
    let columns: Vec<serde_json::Value> =
        columns.into_iter().take_while(|c| c.get("col_name").and_then(|v| v.as_str()).is_some_and(|n| !n.starts_with('#'))).collect();
    let mut detail = serde_json::Value::Null;
    for batch in session.execute(Statement::describe_detail(&catalog, &schema, &table)).await?.collect().await? {
        if let Some(first) = json_rows(&batch)?.into_iter().next() {
            detail = first;
        }
    }
    Ok(axum::Json(serde_json::json!({ "name": format!("{catalog}.{schema}.{table}"), "columns": columns, "detail": detail }))
        .into_response())
}

fn json_rows(batch: &RecordBatch) -> std::result::Result<Vec<serde_json::Value>, ServerError> {
    let mut buf = Vec::new();
    {
        let mut writer = arrow::json::ArrayWriter::new(&mut buf);
        writer.write(batch).and_then(|()| writer.finish()).map_err(|e| ServerError::Sql(tarn_sql::SqlError::Internal(e.to_string())))?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&buf).map_err(|e| ServerError::Sql(tarn_sql::SqlError::Internal(e.to_string())))
}

/// The notices the statements gave (e.g. `USING parquet` made a Delta table) travel as
/// `Tarn-Notice` headers in every format, and as `notices` in JSON.
fn respond(output: StatementOutput, format: Format, statement_id: String, notices: Vec<String>) -> Response {
    let headers: Vec<HeaderValue> =
        notices.iter().filter_map(|n| HeaderValue::from_str(&n.replace(|c: char| !c.is_ascii() || c.is_control(), "?")).ok()).collect();
    let (content_type, encoder): (&'static str, Box<dyn Encoder>) = match format {
        Format::Json => ("application/json", Box::new(JsonEncoder::new(&output.schema, statement_id, notices))),
        Format::Csv => ("text/csv", Box::new(CsvEncoder { wrote: false, schema: output.schema.clone() })),
        Format::Arrow => (ARROW_STREAM, Box::new(ArrowEncoder { schema: output.schema.clone(), writer: None })),
    };
    let mut response = Body::from_stream(encode(output, encoder)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    for notice in headers {
        response.headers_mut().append("tarn-notice", notice);
    }
    response
}

/// Wait for the first batch before answering: most execution errors (out of memory, bad
/// casts, missing files) happen before it and then get a proper status instead of a
/// truncated 200. Later batches still stream as they come.
async fn first_batch_ready(mut output: StatementOutput) -> std::result::Result<StatementOutput, ServerError> {
    let first = match output.stream.next().await {
        Some(Err(e)) => return Err(ServerError::Sql(e.into())),
        other => other,
    };
    let schema = output.schema.clone();
    let rest = futures::stream::iter(first).chain(output.stream);
    Ok(StatementOutput {
        schema: schema.clone(),
        stream: Box::pin(datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, rest)),
    })
}

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Turns a result into bytes: a prologue, one chunk per batch, an epilogue.
trait Encoder: Send {
    fn begin(&mut self, _out: &mut Vec<u8>) -> std::io::Result<()> {
        Ok(())
    }
    fn batch(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> std::io::Result<()>;
    fn end(&mut self, out: &mut Vec<u8>) -> std::io::Result<()>;
    /// The statement failed after rows were sent. By default the response is cut off (a
    /// client sees an incomplete body, never a complete-looking wrong one).
    fn fail(&mut self, error: &ServerError, _out: &mut Vec<u8>) -> std::io::Result<()> {
        Err(io_error(error))
    }
}

enum Phase {
    Begin,
    Rows,
    Done,
}

/// Stream the encoded result: nothing is collected, each batch is sent as it arrives.
fn encode(
    output: StatementOutput,
    encoder: Box<dyn Encoder>,
) -> impl futures::Stream<Item = std::result::Result<Bytes, std::io::Error>> + Send {
    futures::stream::unfold((output.stream, encoder, Phase::Begin), |(mut stream, mut encoder, phase)| async move {
        let mut out = Vec::new();
        let (result, next) = match phase {
            Phase::Begin => (encoder.begin(&mut out), Phase::Rows),
            Phase::Rows => match stream.next().await {
                Some(Ok(batch)) => (encoder.batch(&batch, &mut out), Phase::Rows),
                Some(Err(e)) => (encoder.fail(&ServerError::Sql(e.into()), &mut out), Phase::Done),
                None => (encoder.end(&mut out), Phase::Done),
            },
            Phase::Done => return None,
        };
        let next = if result.is_err() { Phase::Done } else { next };
        Some((result.map(|()| Bytes::from(out)), (stream, encoder, next)))
    })
}

/// A result's columns as `{"name", "type"}`, the type in Spark's SQL names (`string`,
/// `array<int>`), the vocabulary of the browse endpoints and DESCRIBE.
fn result_columns(schema: &SchemaRef) -> Vec<serde_json::Value> {
    schema.fields().iter().map(|f| serde_json::json!({ "name": f.name(), "type": tarn_sql::spark_type_name(f.data_type()) })).collect()
}

/// `{"statement_id": .., "columns": [{"name", "type"}], "rows": [{..}, ..], "row_count": n}`.
struct JsonEncoder {
    head: String,
    first: bool,
    count: usize,
}

impl JsonEncoder {
    fn new(schema: &SchemaRef, statement_id: String, notices: Vec<String>) -> Self {
        let columns: Vec<serde_json::Value> = result_columns(schema);
        let notices = if notices.is_empty() { String::new() } else { format!("\"notices\":{},", serde_json::json!(notices)) };
        let head = format!(
            "{{\"statement_id\":{},{notices}\"columns\":{},\"rows\":[",
            serde_json::Value::String(statement_id),
            serde_json::Value::Array(columns)
        );
        Self { head, first: true, count: 0 }
    }
}

impl Encoder for JsonEncoder {
    fn begin(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        out.extend_from_slice(self.head.as_bytes());
        Ok(())
    }

    fn batch(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> std::io::Result<()> {
        self.count += batch.num_rows();
        let mut lines = Vec::new();
        {
            let mut writer = arrow::json::LineDelimitedWriter::new(&mut lines);
            writer.write(batch).map_err(io_error)?;
            writer.finish().map_err(io_error)?;
        }
        for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if !self.first {
                out.push(b',');
            }
            self.first = false;
            out.extend_from_slice(line);
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        out.extend_from_slice(format!("],\"row_count\":{}}}", self.count).as_bytes());
        Ok(())
    }

    /// JSON can say so: the document ends with an `error` member and no `row_count`.
    fn fail(&mut self, error: &ServerError, out: &mut Vec<u8>) -> std::io::Result<()> {
        let body = serde_json::json!({ "message": error.to_string(), "status": error.status().as_u16() });
        out.extend_from_slice(format!("],\"error\":{body}}}").as_bytes());
        Ok(())
    }
}

/// RFC 4180 CSV with one header line (also for an empty result).
struct CsvEncoder {
    wrote: bool,
    schema: SchemaRef,
}

impl Encoder for CsvEncoder {
    fn batch(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> std::io::Result<()> {
        let mut writer = arrow::csv::WriterBuilder::new().with_header(!self.wrote).build(out);
        writer.write(batch).map_err(io_error)?;
        self.wrote = true;
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        if !self.wrote {
            let empty = RecordBatch::new_empty(self.schema.clone());
            self.batch(&empty, out)?;
        }
        Ok(())
    }
}

/// An Arrow IPC stream: schema, one message per batch, end-of-stream marker.
struct ArrowEncoder {
    schema: SchemaRef,
    writer: Option<arrow::ipc::writer::StreamWriter<Vec<u8>>>,
}

impl ArrowEncoder {
    fn drain(&mut self, out: &mut Vec<u8>) {
        if let Some(w) = self.writer.as_mut() {
            out.append(w.get_mut());
        }
    }
}

impl Encoder for ArrowEncoder {
    fn begin(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        self.writer = Some(arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &self.schema).map_err(io_error)?);
        self.drain(out);
        Ok(())
    }

    fn batch(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> std::io::Result<()> {
        if let Some(w) = self.writer.as_mut() {
            w.write(batch).map_err(io_error)?;
        }
        self.drain(out);
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        if let Some(w) = self.writer.as_mut() {
            w.finish().map_err(io_error)?;
        }
        self.drain(out);
        Ok(())
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, then let running requests finish.
/// Connections go through [`crate::limits`]: a bounded number, each closed if silent, and
/// request headers that must arrive in time.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> crate::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::ServiceExt;

    let gate = crate::limits::Gate::new("http");
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (connection, peer) = tokio::select! {
            accepted = gate.accept(&listener) => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request.map(Body::new))
        });
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(crate::limits::HEADER_READ_TIMEOUT);
        builder.http2().timer(TokioTimer::new());
        let served = graceful.watch(builder.serve_connection(TokioIo::new(connection), service).into_owned());
        tokio::spawn(async move {
            if let Err(e) = served.await {
                tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
        });
    }
    // Running requests (and open result streams) get a while to finish.
    if tokio::time::timeout(std::time::Duration::from_secs(60), graceful.shutdown()).await.is_err() {
        tracing::warn!("HTTP connections still open after 60 s; stopping anyway");
    }
    Ok(())
}
