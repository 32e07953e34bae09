//! `GET /api/v1/tables/{table}/changes`: a table's changes as they commit, as NDJSON (one
//! row per line) or, with `Accept: text/event-stream`, as Server-Sent Events whose `id` is
//! the commit version — so a reconnecting `EventSource` (which sends `Last-Event-ID`)
//! resumes after the last commit it saw, exactly once.
//!
//! Query parameters: `from=N` (start with version N), `after=N` (start after it); neither
//! means from the next commit on. The response never ends on its own.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use tarn_catalog::Principal;
use tarn_sql::FollowFrom;

use crate::ServerError;
use crate::http::AppState;

/// An idle event stream sends a comment this often, so proxies keep it open.
const HEARTBEAT: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangesQuery {
    from: Option<i64>,
    after: Option<i64>,
    poll_ms: Option<u64>,
}

fn json_lines(batch: &RecordBatch) -> Result<Vec<String>, ServerError> {
    let mut buf = Vec::new();
    {
        let mut writer = arrow::json::LineDelimitedWriter::new(&mut buf);
        writer.write(batch).map_err(|e| ServerError::Internal(e.to_string()))?;
        writer.finish().map_err(|e| ServerError::Internal(e.to_string()))?;
    }
    Ok(String::from_utf8_lossy(&buf).lines().map(str::to_string).collect())
}

/// The commit version of a batch of changes (all its rows come from one commit).
fn version_of(batch: &RecordBatch) -> Option<i64> {
    let column = batch.column_by_name("_commit_version")?;
    let column = arrow::compute::cast(column, &arrow::datatypes::DataType::Int64).ok()?;
    let versions = column.as_primitive::<Int64Type>();
    (!versions.is_empty() && versions.is_valid(0)).then(|| versions.value(0))
}

pub(crate) async fn follow(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(table): Path<String>,
    Query(query): Query<ChangesQuery>,
    headers: HeaderMap,
) -> Result<Response, ServerError> {
    let sse = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/event-stream"));
    let last_event = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
    let from = match (query.from, query.after.or(last_event)) {
        (Some(_), Some(_)) if query.after.is_some() => {
            return Err(ServerError::BadRequest("give from or after, not both".into()));
        }
        (_, Some(v)) => FollowFrom::After(v),
        (Some(v), None) => FollowFrom::Version(v),
        (None, None) => FollowFrom::Now,
    };
    let poll = Duration::from_millis(query.poll_ms.unwrap_or(100).clamp(10, 60_000));
    let session = state.session(principal.as_ref())?;
    let who = principal.as_ref().map_or("admin", |Extension(p)| p.name.as_str()).to_string();
    let result = session.follow_changes(&table, from, poll).await;
    let event =
        crate::audit::AuditEvent::new(&who, "http", peer.to_string(), &format!("FOLLOW CHANGES {table}"), result.as_ref().map(|_| ()));
    state.auditor().record(event.with_tables(if result.is_ok() { vec![table.clone()] } else { vec![] }));
    let mut output = result?;
    output.stream = state.metrics().track_stream(output.stream);

    let batches = output.stream;
    if sse {
        // axum's Sse frames the events and sends the keep-alive comments while idle.
        let events = changes(batches).flat_map(|rows| {
            let events: Vec<Event> = match rows {
                Ok((version, lines)) => lines
                    .into_iter()
                    .map(|line| {
                        let event = match version {
                            Some(v) => Event::default().id(v.to_string()),
                            None => Event::default(),
                        };
                        event.event("change").data(line)
                    })
                    .collect(),
                Err(e) => vec![Event::default().event("error").data(error_body(&e))],
            };
            futures::stream::iter(events.into_iter().map(Ok::<_, std::convert::Infallible>))
        });
        let mut response = Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT)).into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Ok(response);
    }
    let body = changes(batches).map(|rows| {
        let text = match rows {
            Ok((_, lines)) => lines.into_iter().map(|line| line + "\n").collect(),
            Err(e) => error_body(&e) + "\n",
        };
        Ok::<_, std::io::Error>(Bytes::from(text))
    });
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Each batch of changes as its commit version and its rows as JSON lines; a failure is the
/// last item.
fn changes(
    batches: datafusion::physical_plan::SendableRecordBatchStream,
) -> impl futures::Stream<Item = Result<(Option<i64>, Vec<String>), ServerError>> {
    futures::stream::unfold((batches, false), |(mut batches, failed)| async move {
        if failed {
            return None;
        }
        let rows = match batches.next().await? {
            Ok(batch) => json_lines(&batch).map(|lines| (version_of(&batch), lines)),
            Err(e) => Err(ServerError::Sql(e.into())),
        };
        let failed = rows.is_err();
        Some((rows, (batches, failed)))
    })
}

/// A failure after the stream started: the last thing the client reads.
fn error_body(error: &ServerError) -> String {
    serde_json::json!({ "error": { "message": error.to_string(), "status": error.status().as_u16() } }).to_string()
}
