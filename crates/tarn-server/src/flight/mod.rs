//! Arrow Flight SQL (on `arrow-flight`'s `FlightSqlService`).
//!
//! Flight SQL is stateless between calls, so each call opens a [`tarn_sql::Session`] on the
//! shared catalog. `GetFlightInfo` describes a statement and hands out a ticket; `DoGet`
//! redeems it and streams the result as Arrow IPC, batch by batch (never collected). Queries
//! run when their ticket is redeemed; statements that only know their columns by running
//! (DML, SHOW, DESCRIBE) run at `GetFlightInfo` and their result waits under the ticket.
//! Tickets and prepared statements belong to the principal that made them.
//!
//! Authentication: `Authorization: Bearer <token>` (a Tarn token) on every call, or a Basic
//! `Handshake` with a user's password, which returns a session token valid for 12 hours.

mod metadata;

mod changes;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, CommandGetCatalogs,
    CommandGetDbSchemas, CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandGetXdbcTypeInfo,
    CommandPreparedStatementQuery, CommandPreparedStatementUpdate, CommandStatementQuery, CommandStatementUpdate,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage, SchemaAsIpc, Ticket,
};
use datafusion::scalar::ScalarValue;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tarn_catalog::Catalog;
use tarn_sql::ast::Statement;
use tarn_sql::{Session, SessionConfig, SqlError, StatementOutput};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use crate::Metrics;
use crate::error::{Result, ServerError};
use crate::params;
use tarn_sql::SqlDialect;

type DoGetStream = Pin<Box<dyn Stream<Item = std::result::Result<arrow_flight::FlightData, Status>> + Send + 'static>>;

/// How long an unredeemed ticket or an unused prepared statement is kept.
const TICKET_TTL: Duration = Duration::from_secs(600);
/// The token of an `Authorization: Bearer <token>` header.
fn bearer(header: &str) -> Option<&str> {
    header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer "))
}

/// A session token handed out by `Handshake`.
#[derive(Clone)]
struct HandshakeSession {
    principal: String,
    /// The bearer token the handshake authenticated with; the session ends when it does.
    bearer: Option<String>,
    expires: Instant,
}

/// How long a handshake session token is valid.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// A statement waiting for its `DoGet`.
struct Pending {
    principal: String,
    created: Instant,
    work: PendingWork,
}

enum PendingWork {
    /// A query, run when the ticket is redeemed, and the schema its FlightInfo announced.
    Query(Box<Statement>, SchemaRef),
    /// A statement that already ran; its result stream waits here.
    Ran(StatementOutput),
}

/// A prepared statement and its bound parameter rows.
struct Prepared {
    principal: String,
    sql: String,
    parameters: Vec<Vec<ScalarValue>>,
    used: Instant,
}

pub(crate) struct TarnFlightService {
    catalog: Catalog,
    session_config: SessionConfig,
    auth: bool,
    metrics: Arc<Metrics>,
    pending: Mutex<HashMap<String, Pending>>,
    prepared: Mutex<HashMap<String, Prepared>>,
    /// Handshake session tokens.
    sessions: Mutex<HashMap<String, HandshakeSession>>,
    auditor: crate::audit::Auditor,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The gRPC status for a Tarn error.
fn status(e: SqlError) -> Status {
    use tarn_sql::ErrorKind as K;
    let message = e.to_string();
    match e.kind() {
        K::CatalogNotFound | K::SchemaNotFound | K::TableNotFound => Status::not_found(message),
        K::AlreadyExists => Status::already_exists(message),
        K::Unsupported => Status::unimplemented(message),
        K::Internal => Status::internal(message),
        K::PermissionDenied => Status::permission_denied(message),
        K::Conflict => Status::aborted(message),
        K::ResourcesExhausted => Status::resource_exhausted(message),
        K::Unavailable => Status::unavailable(message),
        K::ConstraintViolation | K::NotNullViolation => Status::failed_precondition(message),
        K::Syntax | K::Invalid => Status::invalid_argument(message),
    }
}

fn schema_ipc(schema: &Schema) -> std::result::Result<bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow::error::ArrowError| Status::internal(format!("encoding a schema: {e}")))?;
    Ok(bytes)
}

/// Stream `batches` as Flight data.
fn flight_stream(
    schema: SchemaRef,
    batches: impl Stream<Item = std::result::Result<RecordBatch, FlightError>> + Send + 'static,
) -> DoGetStream {
    Box::pin(FlightDataEncoderBuilder::new().with_schema(schema).build(batches).map_err(Status::from))
}

/// The rows under the schema GetFlightInfo announced, when the two differ only in nullability:
/// the plan that describes a query may call a column nullable that execution (a folded
/// constant, say) knows is not, and Flight clients refuse a stream whose schema differs.
fn as_announced(output: StatementOutput, announced: SchemaRef) -> StatementOutput {
    let same_shape = output.schema.fields().len() == announced.fields().len()
        && output
            .schema
            .fields()
            .iter()
            .zip(announced.fields())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type() && (b.is_nullable() || !a.is_nullable()));
    if !same_shape || output.schema == announced {
        return output;
    }
    let schema = announced.clone();
    let stream = output.stream.map(move |batch| {
        let batch = batch?;
        Ok(RecordBatch::try_new(schema.clone(), batch.columns().to_vec())?)
    });
    StatementOutput::from_stream(Box::pin(datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(announced, stream)))
}

fn output_stream(output: StatementOutput) -> DoGetStream {
    let schema = output.schema.clone();
    flight_stream(schema, output.stream.map_err(|e| FlightError::Tonic(Box::new(status(SqlError::from(e))))))
}

/// Parameter rows from a DoPut stream of record batches.
async fn parameter_rows(stream: PeekableFlightDataStream) -> std::result::Result<Vec<Vec<ScalarValue>>, Status> {
    let mut batches = FlightRecordBatchStream::new_from_flight_data(stream.map_err(FlightError::from));
    let mut rows = Vec::new();
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(|e| Status::invalid_argument(format!("reading parameters: {e}")))?;
        for row in 0..batch.num_rows() {
            let values = batch
                .columns()
                .iter()
                .map(|c| ScalarValue::try_from_array(c, row))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Status::invalid_argument(format!("reading parameters: {e}")))?;
            rows.push(values);
        }
    }
    Ok(rows)
}

fn one_statement(sql: &str) -> std::result::Result<Statement, Status> {
    let mut statements = tarn_sql::parse_sql(sql).map_err(status)?;
    match statements.len() {
        1 => Ok(statements.remove(0)),
        0 => Err(Status::invalid_argument("the statement is empty")),
        n => Err(Status::invalid_argument(format!("expected one statement, got {n}; send them one at a time"))),
    }
}

/// `num_affected_rows` of a DML result; -1 (unknown) for statements without a count.
async fn affected_rows(output: StatementOutput) -> std::result::Result<i64, Status> {
    if output.is_empty_schema() {
        return Ok(-1);
    }
    let batches = output.collect().await.map_err(status)?;
    let Some(batch) = batches.first() else {
        return Ok(-1);
    };
    let Some(column) = batch.column_by_name("num_affected_rows") else {
        return Ok(-1);
    };
    let values = arrow::compute::cast(column, &arrow::datatypes::DataType::Int64).map_err(|e| Status::internal(e.to_string()))?;
    let values =
        values.as_any().downcast_ref::<arrow::array::Int64Array>().ok_or_else(|| Status::internal("row count is not an integer"))?;
    Ok(values.iter().flatten().next().unwrap_or(-1))
}

impl TarnFlightService {
    pub fn new(catalog: Catalog, session_config: SessionConfig, auth: bool, metrics: Arc<Metrics>, auditor: crate::audit::Auditor) -> Self {
        Self {
            auditor,
            catalog,
            session_config,
            auth,
            metrics,
            pending: Mutex::new(HashMap::new()),
            prepared: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn audit<T>(
        &self,
        principal: &str,
        peer: Option<SocketAddr>,
        statement: &str,
        tables: Vec<String>,
        result: &std::result::Result<T, SqlError>,
    ) {
        let peer = peer.map(|p| p.to_string()).unwrap_or_default();
        let event = crate::audit::AuditEvent::new(principal, "flight-sql", peer, statement, result.as_ref().map(|_| ()));
        self.auditor.record(event.with_tables(tables));
    }

    /// The principal a call's `Authorization` header names.
    async fn authenticate(&self, metadata: &MetadataMap) -> std::result::Result<String, Status> {
        if !self.auth {
            return Ok("admin".into());
        }
        let header = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Status::unauthenticated("send Authorization: Bearer <token>, or handshake with a user and password"))?;
        let token = bearer(header).ok_or_else(|| Status::unauthenticated("the Authorization header must be 'Bearer <token>'"))?;
        let known = lock(&self.sessions).get(token).cloned();
        if let Some(session) = known
            && Instant::now() < session.expires
        {
            return match session.bearer {
                // A session opened with a bearer token lives only as long as that token: a
                // revoked or expired token ends it.
                Some(bearer) => match self.catalog.authenticate_token(&bearer).await {
                    Ok(Some(principal)) => Ok(principal.name),
                    Ok(None) => {
                        lock(&self.sessions).remove(token);
                        Err(Status::unauthenticated("the token this session was opened with is expired or revoked"))
                    }
                    Err(e) => Err(Status::unavailable(format!("checking the token failed: {e}"))),
                },
                // Opened with a password: the principal is checked on every statement.
                None => Ok(session.principal),
            };
        }
        match self.catalog.authenticate_token(token).await {
            Ok(Some(principal)) => Ok(principal.name),
            Ok(None) => Err(Status::unauthenticated("the token is invalid, expired or revoked")),
            Err(e) => Err(Status::internal(format!("checking the token failed: {e}"))),
        }
    }

    /// A session running as `principal` (the local admin when authentication is off).
    async fn sql_session(&self, principal: &str) -> std::result::Result<Session, SqlError> {
        let mut session = Session::with_catalog(self.catalog.clone(), &self.session_config)?;
        if self.auth {
            let found = self
                .catalog
                .get_principal(principal)
                .await?
                .ok_or_else(|| SqlError::PermissionDenied(format!("user '{principal}' no longer exists")))?;
            session.set_principal(found);
        }
        Ok(session)
    }

    async fn session(&self, principal: &str) -> std::result::Result<Session, Status> {
        self.sql_session(principal).await.map_err(status)
    }

    /// Drop tickets and prepared statements nobody came back for.
    fn expire(&self) {
        let now = Instant::now();
        lock(&self.pending).retain(|_, p| now.duration_since(p.created) < TICKET_TTL);
        lock(&self.prepared).retain(|_, p| now.duration_since(p.used) < TICKET_TTL);
        lock(&self.sessions).retain(|_, session| now < session.expires);
    }

    /// Describe (and, for non-queries, run) a statement; its ticket and schema.
    /// `tables` receives the tables it names, for the audit log.
    async fn plan(
        &self,
        principal: String,
        statement: Statement,
        tables: &mut Vec<String>,
    ) -> std::result::Result<(String, SchemaRef), SqlError> {
        self.expire();
        let mut session = self.sql_session(&principal).await?;
        *tables = session.tables_of(&statement);
        let started = Instant::now();
        let (work, schema) = match statement {
            Statement::Query(_) => {
                let described = session.describe_statement(&statement).await?;
                let schema = described.schema.unwrap_or_else(|| Arc::new(Schema::empty()));
                (PendingWork::Query(Box::new(statement), schema.clone()), schema)
            }
            other => {
                let write = other.properties().writes;
                let result = session.execute(other).await;
                self.metrics.record(1, u64::from(write && result.is_ok()), result.is_err(), started.elapsed());
                let output = result?;
                let schema = output.schema.clone();
                (PendingWork::Ran(output), schema)
            }
        };
        let handle = uuid::Uuid::new_v4().to_string();
        lock(&self.pending).insert(handle.clone(), Pending { principal, created: Instant::now(), work });
        Ok((handle, schema))
    }

    fn flight_info(&self, schema: &Schema, ticket: Ticket, descriptor: FlightDescriptor) -> std::result::Result<FlightInfo, Status> {
        Ok(FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(format!("encoding a schema: {e}")))?
            .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
            .with_descriptor(descriptor))
    }

    /// Redeem a statement ticket.
    async fn redeem(&self, principal: &str, handle: &str) -> std::result::Result<DoGetStream, Status> {
        let pending = {
            let mut map = lock(&self.pending);
            match map.get(handle) {
                Some(p) if p.principal != principal => {
                    return Err(Status::permission_denied("this ticket belongs to another principal"));
                }
                Some(_) => map.remove(handle),
                None => None,
            }
        };
        let Some(pending) = pending else {
            return Err(Status::not_found("unknown or already redeemed ticket; call GetFlightInfo again"));
        };
        match pending.work {
            PendingWork::Ran(mut output) => {
                output.stream = self.metrics.track_stream(output.stream);
                Ok(output_stream(output))
            }
            PendingWork::Query(statement, announced) => {
                let mut session = self.session(principal).await?;
                let started = Instant::now();
                let result = session.execute(*statement).await;
                self.metrics.record(1, 0, result.is_err(), started.elapsed());
                let mut output = result.map_err(status)?;
                output.stream = self.metrics.track_stream(output.stream);
                Ok(output_stream(as_announced(output, announced)))
            }
        }
    }

    fn prepared_sql(&self, principal: &str, handle: &[u8]) -> std::result::Result<(String, Vec<Vec<ScalarValue>>), Status> {
        let handle = std::str::from_utf8(handle).map_err(|_| Status::invalid_argument("bad prepared statement handle"))?;
        let mut map = lock(&self.prepared);
        let prepared = map.get_mut(handle).ok_or_else(|| Status::not_found("unknown prepared statement; it was closed or expired"))?;
        if prepared.principal != principal {
            return Err(Status::permission_denied("this prepared statement belongs to another principal"));
        }
        prepared.used = Instant::now();
        Ok((prepared.sql.clone(), prepared.parameters.clone()))
    }
}

/// A prepared statement's text with one row of parameters bound.
fn bind_row(sql: &str, row: Option<&Vec<ScalarValue>>) -> std::result::Result<Statement, Status> {
    match row {
        None => one_statement(sql),
        Some(values) => {
            let bound = params::bind(sql, values, SqlDialect::Databricks).map_err(Status::invalid_argument)?;
            one_statement(&bound)
        }
    }
}

/// INSERT ... VALUES statements into one table with the same columns, as one INSERT of all
/// their rows; anything else unchanged.
fn merge_inserts(statements: Vec<Statement>) -> Vec<Statement> {
    use sqlparser::ast::SetExpr;
    let mergeable = |s: &Statement| match s {
        Statement::Insert(i) => !i.overwrite && i.replace_where.is_none() && matches!(i.query.body.as_ref(), SetExpr::Values(_)),
        _ => false,
    };
    if statements.len() < 2 || !statements.iter().all(mergeable) {
        return statements;
    }
    let mut iter = statements.into_iter();
    let Some(Statement::Insert(mut first)) = iter.next() else {
        return Vec::new();
    };
    let mut rest = Vec::new();
    for next in iter {
        let Statement::Insert(insert) = next else {
            continue;
        };
        let same_target = insert.table == first.table && insert.columns == first.columns;
        match (insert.query.body.as_ref(), first.query.body.as_mut()) {
            (SetExpr::Values(values), SetExpr::Values(into)) if same_target => into.rows.extend(values.rows.iter().cloned()),
            _ => rest.push(Statement::Insert(insert)),
        }
    }
    let mut out = vec![Statement::Insert(first)];
    out.extend(rest);
    out
}

#[tonic::async_trait]
impl FlightSqlService for TarnFlightService {
    /// `["changes", "<table>", ...]` path descriptors: a subscription to a table's changes.
    async fn get_flight_info_fallback(
        &self,
        cmd: arrow_flight::sql::Command,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let Some(ticket) = changes::requested(request.get_ref())? else {
            return Err(Status::unimplemented(format!(
                "unknown request {}; Flight SQL commands, or a [\"changes\", \"<table>\"] path to follow a table",
                cmd.type_url()
            )));
        };
        let principal = self.authenticate(request.metadata()).await?;
        let session = self.session(&principal).await?;
        // Opening the subscription checks privileges and the change data feed, and gives its columns.
        let output = session.follow_changes(&ticket.table, ticket.follow_from(), tarn_sql::DEFAULT_POLL).await.map_err(status)?;
        let info = changes::info(&output.schema, &ticket, request.into_inner())?;
        Ok(Response::new(info))
    }

    /// Redeem a changes ticket: the table's changes, streamed as they commit.
    async fn do_get_fallback(
        &self,
        request: Request<Ticket>,
        message: arrow_flight::sql::Any,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        if message.type_url != changes::TICKET_TYPE {
            return Err(Status::unimplemented(format!("unknown ticket type {}", message.type_url)));
        }
        let ticket = changes::ChangesTicket::from_any(&message.value)?;
        let principal = self.authenticate(request.metadata()).await?;
        let peer = request.remote_addr();
        let session = self.session(&principal).await?;
        let text = format!("FOLLOW CHANGES {}", ticket.table);
        let result = session.follow_changes(&ticket.table, ticket.follow_from(), tarn_sql::DEFAULT_POLL).await;
        let tables = result.as_ref().map(|_| vec![ticket.table.clone()]).unwrap_or_default();
        self.audit(&principal, peer, &text, tables, &result);
        let mut output = result.map_err(status)?;
        output.stream = self.metrics.track_stream(output.stream);
        Ok(Response::new(output_stream(output)))
    }

    type FlightService = TarnFlightService;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> std::result::Result<Response<Pin<Box<dyn Stream<Item = std::result::Result<HandshakeResponse, Status>> + Send>>>, Status> {
        let header = request.metadata().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
        let principal = match header.as_deref().and_then(|h| h.strip_prefix("Basic ")) {
            Some(encoded) => {
                let (user, password) = crate::credentials::decode_basic(encoded)
                    .ok_or_else(|| Status::invalid_argument("the Basic credentials are not base64 of 'user:password'"))?;
                let (user, password) = (user.as_str(), password.as_str());
                if self.auth {
                    let logins = &crate::credentials::LOGINS;
                    logins.wait(user).await;
                    let valid = crate::credentials::verify_password(&self.catalog, user, password)
                        .await
                        .map_err(|e| Status::internal(e.to_string()))?;
                    if !valid {
                        logins.failed(user);
                        return Err(Status::unauthenticated("wrong user name or password"));
                    }
                    logins.succeeded(user);
                }
                user.to_ascii_lowercase()
            }
            None => self.authenticate(request.metadata()).await?,
        };
        // The bearer token the handshake came with (if any) stays bound to the session.
        let origin = header.as_deref().and_then(bearer).and_then(|t| {
            let existing = lock(&self.sessions).get(t).map(|s| s.bearer.clone());
            // A handshake with a session token keeps that session's origin.
            existing.unwrap_or_else(|| Some(t.to_string()))
        });
        let token = format!("flight_{}", uuid::Uuid::new_v4().simple());
        let session = HandshakeSession { principal, bearer: origin, expires: Instant::now() + SESSION_TTL };
        lock(&self.sessions).insert(token.clone(), session);
        let response = HandshakeResponse { protocol_version: 0, payload: token.clone().into() };
        let stream: Pin<Box<dyn Stream<Item = std::result::Result<HandshakeResponse, Status>> + Send>> =
            Box::pin(futures::stream::iter([Ok(response)]));
        let mut response = Response::new(stream);
        let value = format!("Bearer {token}").parse().map_err(|_| Status::internal("cannot encode the session token"))?;
        response.metadata_mut().insert("authorization", value);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let principal = self.authenticate(request.metadata()).await?;
        let statement = one_statement(&query.query)?;
        let peer = request.remote_addr();
        let mut tables = Vec::new();
        let planned = self.plan(principal.clone(), statement, &mut tables).await;
        self.audit(&principal, peer, &query.query, tables, &planned);
        let (handle, schema) = planned.map_err(status)?;
        let ticket = Ticket::new(TicketStatementQuery { statement_handle: handle.into() }.as_any().encode_to_vec());
        Ok(Response::new(self.flight_info(&schema, ticket, request.into_inner())?))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let principal = self.authenticate(request.metadata()).await?;
        let handle = std::str::from_utf8(&ticket.statement_handle).map_err(|_| Status::invalid_argument("bad ticket"))?;
        Ok(Response::new(self.redeem(&principal, handle).await?))
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> std::result::Result<i64, Status> {
        let principal = self.authenticate(request.metadata()).await?;
        let peer = request.remote_addr();
        let mut session = self.session(&principal).await?;
        let mut total = -1;
        for statement in tarn_sql::parse_sql(&command.query).map_err(status)? {
            let started = Instant::now();
            let write = statement.properties().writes;
            let result = session.execute(statement).await;
            self.audit(&principal, peer, &command.query, session.take_touched_tables(), &result);
            self.metrics.record(1, u64::from(write && result.is_ok()), result.is_err(), started.elapsed());
            let count = affected_rows(result.map_err(status)?).await?;
            if count >= 0 {
                total = total.max(0) + count;
            }
        }
        Ok(total)
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> std::result::Result<ActionCreatePreparedStatementResult, Status> {
        let principal = self.authenticate(request.metadata()).await?;
        self.expire();
        let statement = one_statement(&query.query)?;
        let session = self.session(&principal).await?;
        // Describing may fail before parameters are bound (their types are unknown); the
        // statement is then described by running it.
        let described = session.describe_statement(&statement).await.unwrap_or_default();
        let count = params::count(&query.query, SqlDialect::Databricks);
        let parameter_fields: Vec<Field> = (0..count)
            .map(|i| {
                let data_type = described.parameters.get(i).cloned().flatten().unwrap_or(arrow::datatypes::DataType::Utf8);
                Field::new(format!("${}", i + 1), data_type, true)
            })
            .collect();
        let dataset_schema = match (&statement, described.schema) {
            (Statement::Query(_), Some(schema)) => schema_ipc(&schema)?,
            _ => bytes::Bytes::new(),
        };
        let handle = uuid::Uuid::new_v4().to_string();
        lock(&self.prepared).insert(handle.clone(), Prepared { principal, sql: query.query, parameters: Vec::new(), used: Instant::now() });
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema,
            parameter_schema: schema_ipc(&Schema::new(parameter_fields))?,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> std::result::Result<(), Status> {
        let principal = self.authenticate(request.metadata()).await?;
        let handle = String::from_utf8_lossy(&query.prepared_statement_handle).to_string();
        let mut map = lock(&self.prepared);
        if map.get(&handle).is_some_and(|p| p.principal == principal) {
            map.remove(&handle);
        }
        Ok(())
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> std::result::Result<DoPutPreparedStatementResult, Status> {
        let principal = self.authenticate(request.metadata()).await?;
        let handle = query.prepared_statement_handle.clone();
        self.prepared_sql(&principal, &handle)?;
        let rows = parameter_rows(request.into_inner()).await?;
        if let Some(p) = lock(&self.prepared).get_mut(String::from_utf8_lossy(&handle).as_ref()) {
            p.parameters = rows;
        }
        Ok(DoPutPreparedStatementResult { prepared_statement_handle: Some(handle) })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        command: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let principal = self.authenticate(request.metadata()).await?;
        let (sql, rows) = self.prepared_sql(&principal, &command.prepared_statement_handle)?;
        if rows.len() > 1 {
            return Err(Status::invalid_argument("a query takes one row of parameters; bind one row at a time"));
        }
        let statement = bind_row(&sql, rows.first())?;
        let peer = request.remote_addr();
        let mut tables = Vec::new();
        let planned = self.plan(principal.clone(), statement, &mut tables).await;
        self.audit(&principal, peer, &sql, tables, &planned);
        let (handle, schema) = planned.map_err(status)?;
        let ticket = Ticket::new(TicketStatementQuery { statement_handle: handle.into() }.as_any().encode_to_vec());
        Ok(Response::new(self.flight_info(&schema, ticket, request.into_inner())?))
    }

    async fn do_put_prepared_statement_update(
        &self,
        command: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> std::result::Result<i64, Status> {
        let principal = self.authenticate(request.metadata()).await?;
        let peer = request.remote_addr();
        let (sql, mut rows) = self.prepared_sql(&principal, &command.prepared_statement_handle)?;
        let sent = parameter_rows(request.into_inner()).await?;
        if !sent.is_empty() {
            rows = sent;
        }
        let mut session = self.session(&principal).await?;
        let mut total = -1;
        // Each parameter row runs the statement once (executemany). Every row is bound
        // before anything runs, and an INSERT ... VALUES becomes one multi-row INSERT: one
        // commit, all rows or none.
        let runs: Vec<Option<&Vec<ScalarValue>>> = if rows.is_empty() { vec![None] } else { rows.iter().map(Some).collect() };
        let statements = runs.into_iter().map(|row| bind_row(&sql, row)).collect::<std::result::Result<Vec<_>, _>>()?;
        for statement in merge_inserts(statements) {
            let started = Instant::now();
            let write = statement.properties().writes;
            let result = session.execute(statement).await;
            self.audit(&principal, peer, &sql, session.take_touched_tables(), &result);
            self.metrics.record(1, u64::from(write && result.is_ok()), result.is_err(), started.elapsed());
            let count = affected_rows(result.map_err(status)?).await?;
            if count >= 0 {
                total = total.max(0) + count;
            }
        }
        Ok(total)
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        self.authenticate(request.metadata()).await?;
        let schema = query.into_builder().schema();
        let ticket = Ticket::new(query.as_any().encode_to_vec());
        Ok(Response::new(self.flight_info(&schema, ticket, request.into_inner())?))
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.authenticate(request.metadata()).await?;
        let batch = metadata::catalogs(&self.catalog, query).await?;
        Ok(Response::new(flight_stream(batch.schema(), futures::stream::iter([Ok(batch)]))))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        self.authenticate(request.metadata()).await?;
        let schema = query.clone().into_builder().schema();
        let ticket = Ticket::new(query.as_any().encode_to_vec());
        Ok(Response::new(self.flight_info(&schema, ticket, request.into_inner())?))
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.authenticate(request.metadata()).await?;
        let batch = metadata::schemas(&self.catalog, query).await?;
        Ok(Response::new(flight_stream(batch.schema(), futures::stream::iter([Ok(batch)]))))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        self.authenticate(request.metadata()).await?;
        let schema = query.clone().into_builder().schema();
        let ticket = Ticket::new(query.as_any().encode_to_vec());
        Ok(Response::new(self.flight_info(&schema, ticket, request.into_inner())?))
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let principal = self.authenticate(request.metadata()).await?;
        // Only the tables this user may read are listed (and described).
        let visibility = self.session(&principal).await?.visibility().await.map_err(status)?;
        let batch = metadata::tables(&self.catalog, &visibility, query).await?;
        Ok(Response::new(flight_stream(batch.schema(), futures::stream::iter([Ok(batch)]))))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        self.authenticate(request.metadata()).await?;
        let schema = query.into_builder().schema();
        let ticket = Ticket::new(query.as_any().encode_to_vec());
        Ok(Response::new(self.flight_info(&schema, ticket, request.into_inner())?))
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.authenticate(request.metadata()).await?;
        let batch = metadata::table_types(query)?;
        Ok(Response::new(flight_stream(batch.schema(), futures::stream::iter([Ok(batch)]))))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        self.authenticate(request.metadata()).await?;
        let schema = query.clone().into_builder(metadata::sql_info()).schema();
        let ticket = Ticket::new(query.as_any().encode_to_vec());
        Ok(Response::new(self.flight_info(&schema, ticket, request.into_inner())?))
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.authenticate(request.metadata()).await?;
        let batch = query.into_builder(metadata::sql_info()).build().map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(flight_stream(batch.schema(), futures::stream::iter([Ok(batch)]))))
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        self.authenticate(request.metadata()).await?;
        let ticket = Ticket::new(query.as_any().encode_to_vec());
        Ok(Response::new(self.flight_info(&metadata::primary_keys_schema(), ticket, request.into_inner())?))
    }

    async fn do_get_primary_keys(
        &self,
        _query: CommandGetPrimaryKeys,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.authenticate(request.metadata()).await?;
        // Delta tables have no primary keys.
        let schema = Arc::new(metadata::primary_keys_schema());
        let batch = RecordBatch::new_empty(schema.clone());
        Ok(Response::new(flight_stream(schema, futures::stream::iter([Ok(batch)]))))
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        self.authenticate(request.metadata()).await?;
        let schema = query.into_builder(metadata::xdbc_types()).schema();
        let ticket = Ticket::new(query.as_any().encode_to_vec());
        Ok(Response::new(self.flight_info(&schema, ticket, request.into_inner())?))
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.authenticate(request.metadata()).await?;
        let batch = query.into_builder(metadata::xdbc_types()).build().map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(flight_stream(batch.schema(), futures::stream::iter([Ok(batch)]))))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// Serve Flight SQL on `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    service: TarnFlightService,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<()> {
    // Connections go through the gate (bounded in number, closed if silent); live ones are
    // pinged so a vanished client does not hold its place.
    let gate = crate::limits::Gate::new("flight");
    let incoming = futures::stream::unfold((gate, listener), |(gate, listener)| async move {
        let next = gate.accept(&listener).await.map(|(connection, _)| connection);
        Some((next, (gate, listener)))
    });
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .add_service(FlightServiceServer::new(service))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| ServerError::Config(format!("Flight SQL server failed: {e}")))
}

/// Bind the Flight SQL listener.
pub(crate) async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| ServerError::Config(format!("cannot listen on {addr} (Flight SQL): {e}")))
}
