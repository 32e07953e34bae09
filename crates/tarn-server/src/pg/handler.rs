//! Simple and extended query protocol over a per-connection [`tarn_sql::Session`].
//!
//! Every statement runs through the session like anywhere else in Tarn. This module only
//! translates: Postgres-only commands (see `commands`), parameters (see `params`), result
//! streams to rows in text or binary format, and outcomes to command tags and SQLSTATEs.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow_pg::datatypes::df::deserialize_parameters;
use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch, into_pg_type};
use async_trait::async_trait;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::{Sink, SinkExt, StreamExt, stream};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler, send_describe_response};
use pgwire::api::results::{
    CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, DescribePortalResponse, DescribeResponse, DescribeStatementResponse,
    FieldInfo, QueryResponse, Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, METADATA_DATABASE, METADATA_USER, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::CopyData;
use pgwire::messages::data::DataRow;
use pgwire::messages::data::{NoData, ParameterDescription};
use pgwire::messages::extendedquery::{Describe, TARGET_TYPE_BYTE_PORTAL, TARGET_TYPE_BYTE_STATEMENT};
use pgwire::types::format::FormatOptions;
use tarn_sql::ast::Statement;
use tarn_sql::{CommandTag, Session, SqlDialect, SqlError, StatementOutput};
use tokio::sync::Mutex;

use super::PgServer;
use super::commands::{self, PgCommand};
use crate::params;

/// Per-connection state, kept in the client's session extensions.
pub(crate) struct Connection {
    pub session: Session,
    /// User, current schema and settings, as `SHOW` and `current_setting` report them.
    pub info: super::session_info::ConnectionInfo,
    /// Results of row-returning utility statements run early to describe a portal.
    pub described: HashMap<String, StatementOutput>,
    /// Open cursors (`DECLARE ... CURSOR`), each a query's result stream read by `FETCH`.
    pub cursors: HashMap<String, Cursor>,
    /// Changes when a CancelRequest names this connection.
    pub cancel: tokio::sync::watch::Receiver<u64>,
    /// Who and where, for the audit log.
    pub user: String,
    pub peer: String,
    _cancel_registration: super::cancel::CancelGuard,
}

/// A declared cursor: the rest of a result stream.
pub(crate) struct Cursor {
    schema: SchemaRef,
    stream: datafusion::physical_plan::SendableRecordBatchStream,
    /// Rows read from the stream but not fetched yet.
    pending: Option<arrow::array::RecordBatch>,
}

impl Cursor {
    /// The next `count` rows (all remaining rows for `None`).
    async fn fetch(&mut self, count: Option<usize>) -> PgWireResult<Vec<arrow::array::RecordBatch>> {
        let mut out = Vec::new();
        let mut wanted = count.unwrap_or(usize::MAX);
        while wanted > 0 {
            let batch = match self.pending.take() {
                Some(batch) => batch,
                None => match self.stream.next().await {
                    Some(batch) => batch.map_err(|e| sql_error(SqlError::from(e)))?,
                    None => break,
                },
            };
            if batch.num_rows() > wanted {
                self.pending = Some(batch.slice(wanted, batch.num_rows() - wanted));
                out.push(batch.slice(0, wanted));
                break;
            }
            wanted -= batch.num_rows();
            out.push(batch);
        }
        Ok(out)
    }
}

type SharedConnection = Arc<Mutex<Connection>>;

/// A statement after Parse: its text, and what describing it found.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    sql: String,
    /// The dialect the text parsed in; bound values are quoted for it.
    dialect: SqlDialect,
    parameters: Vec<Type>,
    parameter_types: Vec<Option<DataType>>,
    schema: Option<SchemaRef>,
}

pub(crate) struct PgHandler {
    server: Arc<PgServer>,
    parser: Arc<PgQueryParser>,
}

impl PgHandler {
    pub fn new(server: Arc<PgServer>) -> Self {
        Self { parser: Arc::new(PgQueryParser { server: server.clone() }), server }
    }
}

/// A Postgres error with `code` as SQLSTATE.
pub(crate) fn pg_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), code.into(), message.into())))
}

/// The SQLSTATE for a Tarn error.
fn sql_error(e: SqlError) -> PgWireError {
    use tarn_sql::ErrorKind as K;
    let code = match e.kind() {
        K::Syntax => "42601",
        K::Unsupported => "0A000",
        K::CatalogNotFound => "3D000",
        K::SchemaNotFound => "3F000",
        K::TableNotFound => "42P01",
        K::AlreadyExists => "42P07",
        K::PermissionDenied => "42501",
        K::ConstraintViolation => "23514",
        K::NotNullViolation => "23502",
        K::Conflict => "40001",
        K::ResourcesExhausted => "53200",
        K::Unavailable => "58030",
        K::Internal => "XX000",
        K::Invalid => "42000",
    };
    pg_error(code, e.to_string())
}

/// The connection's session, created on first use in the database (catalog) it named.
async fn connection<C: ClientInfo>(server: &PgServer, client: &C) -> PgWireResult<SharedConnection> {
    if let Some(existing) = client.session_extensions().get::<SharedConnection>() {
        return Ok((*existing).clone());
    }
    let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
    let database = client.metadata().get(METADATA_DATABASE).cloned().unwrap_or_else(|| tarn_catalog::DEFAULT_CATALOG.to_string());
    let mut session = Session::with_catalog(server.catalog.clone(), &server.session_config).map_err(sql_error)?;
    let application = client.metadata().get("application_name").cloned().unwrap_or_default();
    let info =
        super::session_info::ConnectionInfo::new(&user, tarn_catalog::DEFAULT_SCHEMA, commands::default_settings(&user, &application));
    let state = super::catalog::with_pg_functions(session.state(), &database, &info).map_err(|e| pg_error("XX000", e.to_string()))?;
    session.set_state(state);
    session.execute(tarn_sql::ast::Statement::use_catalog(&database)).await.map_err(sql_error)?;
    // Connecting to a database is open to every user (Postgres grants CONNECT to PUBLIC);
    // what they may do in it is checked statement by statement from here on.
    if server.auth {
        // SCRAM has verified the user; a user dropped since has no principal and no rights.
        let principal = server
            .catalog
            .get_principal(&user)
            .await
            .map_err(|e| sql_error(e.into()))?
            .ok_or_else(|| pg_error("28000", format!("user \"{user}\" does not exist")))?;
        session.set_principal(principal);
    }
    // pg_catalog and information_schema show this user only the tables it may read.
    let visibility = session.visibility().await.map_err(sql_error)?;
    session.set_system_schemas(server.system.for_viewer(visibility));
    info.set_schema(session.current_schema());
    let (pid, secret) = client.pid_and_secret_key();
    let (cancel, registration) = server.cancels.register(pid, secret.to_bytes());
    let shared = Arc::new(Mutex::new(Connection {
        session,
        info,
        described: HashMap::new(),
        cursors: HashMap::new(),
        cancel,
        _cancel_registration: registration,
        user: user.clone(),
        peer: client.socket_addr().to_string(),
    }));
    client.session_extensions().insert::<SharedConnection>(shared.clone());
    Ok(shared)
}

/// Parse one statement text into Tarn statements, in Postgres' dialect. Queries go through
/// the Postgres compatibility rewrites (catalog operators, `::regclass`, ...). Text Postgres'
/// grammar cannot read is tried as Spark/Databricks SQL (`VERSION AS OF`, backticks), so
/// everything Tarn's own dialect offers also works over the wire. Returns the dialect that
/// read it, so bound parameter values are quoted for that dialect.
fn parse_any(sql: &str) -> PgWireResult<(Vec<Statement>, SqlDialect)> {
    match parse_in(sql, SqlDialect::Postgres) {
        Ok(statements) => Ok((statements, SqlDialect::Postgres)),
        Err(postgres_error) => match parse_in(sql, SqlDialect::Databricks) {
            Ok(statements) => Ok((statements, SqlDialect::Databricks)),
            Err(_) => Err(postgres_error),
        },
    }
}

fn parse(sql: &str) -> PgWireResult<Vec<Statement>> {
    Ok(parse_any(sql)?.0)
}

/// Parse in exactly one dialect.
fn parse_in(sql: &str, dialect: SqlDialect) -> PgWireResult<Vec<Statement>> {
    // Before any parser builds a tree: a too-deep one cannot even be dropped safely.
    tarn_sql::check_nesting(sql, dialect).map_err(sql_error)?;
    let sql = &*super::compat::rewrite(sql);
    if dialect == SqlDialect::Databricks {
        return tarn_sql::parse_sql(sql).map_err(sql_error);
    }
    let first = sql.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
    if (matches!(first.as_str(), "SELECT" | "WITH" | "VALUES" | "TABLE") || first.starts_with('('))
        && !super::compat::calls_qualified_functions(sql)
        && let Ok(statements) = compat_parser().parse(sql)
    {
        return Ok(statements
            .into_iter()
            .map(|mut s| {
                super::compat::postgres_subscripts(&mut s);
                super::compat::scalar_functions_in_from(&mut s);
                super::compat::in_subqueries_in_select_lists(&mut s);
                Statement::Query(Box::new(s))
            })
            .collect());
    }
    let statements = tarn_sql::parse_sql_with(sql, SqlDialect::Postgres).map_err(sql_error)?;
    Ok(statements
        .into_iter()
        .map(|s| match s {
            Statement::Query(mut q) => {
                super::compat::hide_qualified_functions(&mut q, true);
                let mut query = compat_parser().rewrite(*q);
                super::compat::hide_qualified_functions(&mut query, false);
                super::compat::postgres_subscripts(&mut query);
                super::compat::scalar_functions_in_from(&mut query);
                super::compat::in_subqueries_in_select_lists(&mut query);
                Statement::Query(Box::new(query))
            }
            other => other,
        })
        .collect())
}

fn compat_parser() -> &'static PostgresCompatibilityParser {
    static PARSER: std::sync::OnceLock<PostgresCompatibilityParser> = std::sync::OnceLock::new();
    PARSER.get_or_init(PostgresCompatibilityParser::new)
}

/// The command tag Postgres sends for a statement that returns no rows.
fn command_tag(statement: &Statement, rows: Option<usize>) -> Tag {
    match statement.properties().tag {
        CommandTag::Rows("INSERT") => Tag::new("INSERT").with_oid(0).with_rows(rows.unwrap_or(0)),
        CommandTag::Rows(tag) => Tag::new(tag).with_rows(rows.unwrap_or(0)),
        CommandTag::Plain(tag) => Tag::new(tag),
    }
}

/// Whether Postgres clients expect a command tag with a row count rather than rows.
fn is_dml(statement: &Statement) -> bool {
    matches!(statement.properties().tag, CommandTag::Rows(_))
}

/// Whether the extended protocol describes rows for the statement: the ones that answer with
/// rows and change nothing (those with rows of their own are run when described, and a
/// change must never happen before its Execute).
fn describes_rows(statement: &Statement) -> bool {
    let properties = statement.properties();
    properties.returns_rows && !properties.writes
}

/// `num_affected_rows` (or the first count) of a DML metrics result.
async fn affected_rows(output: StatementOutput) -> PgWireResult<usize> {
    let batches = output.collect().await.map_err(sql_error)?;
    let Some(batch) = batches.first() else {
        return Ok(0);
    };
    let column = batch
        .column_by_name("num_affected_rows")
        .or_else(|| batch.column_by_name("num_inserted_rows"))
        .or_else(|| (batch.num_columns() > 0).then(|| batch.column(0)));
    let Some(column) = column else { return Ok(0) };
    let counts = arrow::compute::cast(column, &DataType::Int64).map_err(|e| pg_error("XX000", e.to_string()))?;
    let counts =
        counts.as_any().downcast_ref::<arrow::array::Int64Array>().ok_or_else(|| pg_error("XX000", "row count is not an integer"))?;
    Ok(counts.iter().flatten().next().unwrap_or(0).max(0) as usize)
}

fn fields(schema: &SchemaRef, format: &Format, options: Option<Arc<FormatOptions>>) -> PgWireResult<Vec<FieldInfo>> {
    arrow_schema_to_pg_fields(&super::types::wire_schema(schema), format, options)
}

/// Stream `output` as Postgres rows; batches are encoded as they arrive, and a cancel
/// request ends the stream.
fn rows(
    output: StatementOutput,
    format: &Format,
    options: Arc<FormatOptions>,
    cancel: &tokio::sync::watch::Receiver<u64>,
) -> PgWireResult<QueryResponse> {
    let output = super::types::wire_output(output);
    let fields = Arc::new(fields(&output.schema, format, Some(options))?);
    let encoder_fields = fields.clone();
    let rows = output
        .stream
        .map(move |batch| {
            let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> = match batch {
                Ok(batch) => encode_recordbatch(encoder_fields.clone(), batch),
                Err(e) => Box::new(std::iter::once(Err(sql_error(SqlError::from(e))))),
            };
            stream::iter(rows)
        })
        .flatten();
    Ok(QueryResponse::new(fields, super::cancel::cancellable(rows, cancel.clone())))
}

/// Answer a Postgres-only command. Those that read data (DECLARE, FETCH, COPY ... TO STDOUT)
/// are audited like statements, refusals included.
async fn run_command(
    server: &PgServer,
    conn: &mut Connection,
    command: PgCommand,
    format: &Format,
    options: Arc<FormatOptions>,
    text: &str,
) -> PgWireResult<Response> {
    let audited =
        matches!(command, PgCommand::Declare { .. } | PgCommand::Fetch { .. } | PgCommand::CopyOut(_) | PgCommand::CopyRefused(_));
    let result = run_command_unaudited(server, conn, command, format, options).await;
    if audited {
        let failure = match &result {
            Ok(_) => None,
            Err(CommandError::Sql(e)) => Some(e),
            Err(CommandError::Wire(_)) => None,
        };
        let outcome = match (&result, failure) {
            (_, Some(e)) => Err(e),
            (Ok(_), None) => Ok(()),
            (Err(_), None) => Err(&*AUDIT_WIRE_ERROR),
        };
        server.auditor.record(
            crate::audit::AuditEvent::new(&conn.user, "postgres", conn.peer.clone(), text, outcome)
                .with_tables(conn.session.take_touched_tables()),
        );
    }
    result.map_err(|e| match e {
        CommandError::Sql(e) => sql_error(e),
        CommandError::Wire(e) => e,
    })
}

/// A command's failure: a statement's (kept for the audit) or the protocol's.
enum CommandError {
    Sql(SqlError),
    Wire(PgWireError),
}

impl From<PgWireError> for CommandError {
    fn from(e: PgWireError) -> Self {
        CommandError::Wire(e)
    }
}

/// How the audit names a command that failed outside SQL (bad cursor name, refused COPY form).
static AUDIT_WIRE_ERROR: std::sync::LazyLock<SqlError> =
    std::sync::LazyLock::new(|| SqlError::Unsupported("refused by the Postgres front end".into()));

async fn run_command_unaudited(
    server: &PgServer,
    conn: &mut Connection,
    command: PgCommand,
    format: &Format,
    options: Arc<FormatOptions>,
) -> Result<Response, CommandError> {
    Ok(match command {
        PgCommand::Declare { name, query } => {
            let mut statements = parse(&query)?;
            let statement = match (statements.pop(), statements.is_empty()) {
                (Some(s @ Statement::Query(_)), true) => s,
                _ => {
                    return Err(CommandError::Wire(pg_error("42601", "DECLARE ... CURSOR FOR needs a single query")));
                }
            };
            if conn.cursors.contains_key(&name) {
                return Err(CommandError::Wire(pg_error("42P03", format!("cursor \"{name}\" already exists"))));
            }
            let output = conn.session.execute(statement).await.map_err(CommandError::Sql)?;
            conn.cursors.insert(name, Cursor { schema: output.schema, stream: server.metrics.track_stream(output.stream), pending: None });
            Response::Execution(Tag::new("DECLARE CURSOR"))
        }
        PgCommand::Fetch { name, count } => {
            let cursor = conn.cursors.get_mut(&name).ok_or_else(|| pg_error("34000", format!("cursor \"{name}\" does not exist")))?;
            let batches = cursor.fetch(count).await?;
            let output = StatementOutput::from_batches(cursor.schema.clone(), batches);
            let mut response = rows(output, format, options, &conn.cancel)?;
            response.set_command_tag("FETCH");
            Response::Query(response)
        }
        PgCommand::Close { name: Some(name) } => {
            if conn.cursors.remove(&name).is_none() {
                return Err(CommandError::Wire(pg_error("34000", format!("cursor \"{name}\" does not exist"))));
            }
            Response::Execution(Tag::new("CLOSE CURSOR"))
        }
        PgCommand::CopyOut(copy) => Response::CopyOut(copy_out(server, conn, copy).await?),
        PgCommand::CopyRefused(message) => {
            return Err(CommandError::Sql(SqlError::Unsupported(message)));
        }
        PgCommand::Close { name: None } => {
            conn.cursors.clear();
            Response::Execution(Tag::new("CLOSE CURSOR ALL"))
        }
        PgCommand::Begin => Response::TransactionStart(Tag::new("BEGIN")),
        PgCommand::Commit => Response::TransactionEnd(Tag::new("COMMIT")),
        PgCommand::Rollback => Response::TransactionEnd(Tag::new("ROLLBACK")),
        PgCommand::Ignored(tag) => Response::Execution(Tag::new(tag)),
        PgCommand::Set { name, value } => {
            if name == "search_path" {
                // The first schema of the path that exists becomes the current schema.
                let catalog = conn.session.current_catalog().to_string();
                for schema in value.split(',').map(|s| s.trim().trim_matches('"').to_ascii_lowercase()) {
                    let exists = conn.session.catalog().list_schemas(&catalog).await.map_err(|e| sql_error(e.into()))?;
                    if exists.iter().any(|s| s.name == schema) {
                        conn.session.execute(tarn_sql::ast::Statement::use_schema(&schema)).await.map_err(sql_error)?;
                        break;
                    }
                }
            }
            if name == "search_path" {
                conn.info.set_schema(conn.session.current_schema());
            } else {
                conn.info.set(&name, &value);
            }
            Response::Execution(Tag::new("SET"))
        }
        PgCommand::Show { name } => {
            let value = conn.info.get(&name);
            let Some(value) = value else {
                return Err(CommandError::Wire(pg_error("42704", format!("unrecognized configuration parameter \"{name}\""))));
            };
            let output = StatementOutput::from_columns(vec![(
                name.as_str(),
                Arc::new(arrow::array::StringArray::from(vec![value])) as arrow::array::ArrayRef,
            )])
            .map_err(sql_error)?;
            Response::Query(rows(output, &Format::UnifiedText, Arc::new(FormatOptions::default()), &conn.cancel)?)
        }
        PgCommand::ShowAll => {
            let (names, values): (Vec<String>, Vec<String>) = conn.info.all().into_iter().unzip();
            let output = StatementOutput::from_columns(vec![
                ("name", Arc::new(arrow::array::StringArray::from(names)) as arrow::array::ArrayRef),
                ("setting", Arc::new(arrow::array::StringArray::from(values)) as arrow::array::ArrayRef),
            ])
            .map_err(sql_error)?;
            Response::Query(rows(output, &Format::UnifiedText, Arc::new(FormatOptions::default()), &conn.cancel)?)
        }
    })
}

/// `COPY ... TO STDOUT`: the query's rows as CopyData messages, encoded as they stream.
async fn copy_out(server: &PgServer, conn: &mut Connection, copy: commands::CopyOut) -> Result<CopyResponse, CommandError> {
    use commands::CopyFormat;
    let mut statements = parse(&copy.query)?;
    let statement = match (statements.pop(), statements.is_empty()) {
        (Some(s @ Statement::Query(_)), true) => s,
        _ => {
            return Err(CommandError::Wire(pg_error("42601", "COPY needs a table or a single query")));
        }
    };
    let mut output = super::types::wire_output(conn.session.execute(statement).await.map_err(CommandError::Sql)?);
    output.stream = server.metrics.track_stream(output.stream);
    let wire_format = if copy.format == CopyFormat::Binary { Format::UnifiedBinary } else { Format::UnifiedText };
    let fields = Arc::new(fields(&output.schema, &wire_format, None)?);
    let columns = fields.len();
    let new_encoder = {
        let fields = fields.clone();
        let copy = copy.clone();
        move || match copy.format {
            CopyFormat::Binary => CopyEncoder::new_binary(fields.clone()),
            CopyFormat::Text => {
                let mut options = CopyTextOptions::default();
                if let Some(d) = copy.delimiter {
                    options.delimiter = d.to_string().into();
                }
                if let Some(n) = &copy.null {
                    options.null_string = n.as_str().into();
                }
                CopyEncoder::new_text(fields.clone(), options)
            }
            CopyFormat::Csv => {
                let mut options = CopyCsvOptions::default();
                if let Some(d) = copy.delimiter {
                    options.delimiter = d.to_string().into();
                }
                if let Some(n) = &copy.null {
                    options.null_string = n.as_str().into();
                }
                CopyEncoder::new_csv(fields.clone(), options)
            }
        }
    };
    let header = copy.header.then(|| {
        let delimiter = copy.delimiter.unwrap_or(',').to_string();
        let names: Vec<String> = output
            .schema
            .fields()
            .iter()
            .map(|f| {
                let name = f.name();
                if name.contains([',', '"', '\n', '\r']) || name.contains(&delimiter) {
                    format!("\"{}\"", name.replace('"', "\"\""))
                } else {
                    name.clone()
                }
            })
            .collect();
        Ok(CopyData::new(bytes::Bytes::from(format!("{}\n", names.join(&delimiter)))))
    });
    // One encoder for the whole stream: the binary format writes its header only once.
    let mut encoder = new_encoder();
    let body = output.stream.flat_map(move |batch| {
        let rows: Vec<PgWireResult<CopyData>> = match batch {
            Err(e) => vec![Err(sql_error(SqlError::from(e)))],
            Ok(batch) => {
                let schema = batch.schema();
                (0..batch.num_rows())
                    .map(|row| {
                        for (col, field) in fields.iter().enumerate() {
                            arrow_pg::encoder::encode_value(&mut encoder, batch.column(col), row, schema.field(col), field)?;
                        }
                        Ok(encoder.take_copy())
                    })
                    .collect()
            }
        };
        stream::iter(rows)
    });
    let data = super::cancel::cancellable(stream::iter(header).chain(body), conn.cancel.clone());
    let format_code = if copy.format == CopyFormat::Binary { 1 } else { 0 };
    Ok(CopyResponse::new(format_code, columns, data))
}

/// Run one Tarn statement and turn its outcome into a Postgres response.
#[allow(clippy::too_many_arguments)] // the simple and extended protocols each pass what they have
async fn run_statement(
    server: &PgServer,
    conn: &mut Connection,
    statement: Statement,
    format: &Format,
    options: Arc<FormatOptions>,
    early: Option<StatementOutput>,
    rows_described: bool,
    text: &str,
) -> PgWireResult<Response> {
    let _running = server.track_statement();
    let started = std::time::Instant::now();
    let output = match early {
        Some(output) => Ok(output),
        None => conn.session.execute(statement.clone()).await,
    };
    let write = statement.properties().writes;
    server.metrics.record(1, u64::from(write && output.is_ok()), output.is_err(), started.elapsed());
    server.auditor.record(
        crate::audit::AuditEvent::new(&conn.user, "postgres", conn.peer.clone(), text, output.as_ref().map(|_| ()))
            .with_tables(conn.session.take_touched_tables()),
    );
    let output = output.map_err(sql_error)?;
    if let Statement::Use { .. } = statement {
        conn.info.set_schema(conn.session.current_schema());
    }
    if is_dml(&statement) {
        let count = affected_rows(output).await?;
        return Ok(Response::Execution(command_tag(&statement, Some(count))));
    }
    if output.is_empty_schema() {
        return Ok(Response::Execution(command_tag(&statement, None)));
    }
    if !rows_described {
        // The client was told this portal returns no rows (extended protocol): finish the
        // statement and answer with its tag only.
        output.collect().await.map_err(sql_error)?;
        return Ok(Response::Execution(command_tag(&statement, None)));
    }
    let mut output = output;
    output.stream = server.metrics.track_stream(output.stream);
    let mut response = rows(output, format, options, &conn.cancel)?;
    if let Statement::Query(q) = &statement
        && matches!(**q, sqlparser::ast::Statement::Explain { .. })
    {
        response.set_command_tag("EXPLAIN");
    }
    Ok(Response::Query(response))
}

/// What the statement told the user besides its result, as Postgres NOTICE messages (psql
/// prints them; drivers hand them to notice handlers). Notices may come at any time.
async fn send_notices<C>(client: &mut C, conn: &mut Connection) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for notice in conn.session.take_notices() {
        let info = ErrorInfo::new("NOTICE".to_string(), "00000".to_string(), notice);
        client.send(PgWireBackendMessage::NoticeResponse(info.into())).await?;
    }
    Ok(())
}

fn format_options<C: ClientInfo>(client: &C) -> Arc<FormatOptions> {
    Arc::new(FormatOptions::from_client_metadata(client.metadata()))
}

#[async_trait]
impl SimpleQueryHandler for PgHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let shared = connection(&self.server, client).await?;
        let options = format_options(client);
        let texts = commands::split(query).map_err(|e| pg_error("42601", e))?;
        if texts.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::new();
        let mut conn = shared.lock().await;
        for text in texts {
            if let Some(command) = commands::classify(&text) {
                match run_command(&self.server, &mut conn, command, &Format::UnifiedText, options.clone(), &text).await {
                    Ok(r) => responses.push(r),
                    Err(PgWireError::UserError(info)) => {
                        responses.push(Response::Error(info));
                        return Ok(responses);
                    }
                    Err(other) => return Err(other),
                }
                continue;
            }
            for statement in parse(&text)? {
                let response =
                    run_statement(&self.server, &mut conn, statement, &Format::UnifiedText, options.clone(), None, true, &text).await;
                send_notices(client, &mut conn).await?;
                match response {
                    Ok(r) => responses.push(r),
                    // Earlier statements' responses are sent, then the error ends the script.
                    Err(PgWireError::UserError(info)) => {
                        responses.push(Response::Error(info));
                        return Ok(responses);
                    }
                    Err(other) => return Err(other),
                }
            }
        }
        Ok(responses)
    }
}

pub(crate) struct PgQueryParser {
    server: Arc<PgServer>,
}

#[async_trait]
impl QueryParser for PgQueryParser {
    type Statement = Prepared;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let texts = commands::split(sql).map_err(|e| pg_error("42601", e))?;
        if texts.len() > 1 {
            return Err(pg_error("42601", "cannot insert multiple commands into a prepared statement"));
        }
        let Some(text) = texts.into_iter().next() else {
            return Ok(None);
        };
        let count = params::count(&text, SqlDialect::Postgres);
        let mut prepared = Prepared {
            sql: text.clone(),
            dialect: SqlDialect::Postgres,
            parameters: vec![Type::UNKNOWN; count],
            parameter_types: vec![None; count],
            schema: None,
        };
        if commands::classify(&text).is_some() {
            return Ok(Some(prepared));
        }
        let (statements, dialect) = parse_any(&text)?;
        prepared.dialect = dialect;
        let Some(statement) = statements.first() else {
            return Ok(None);
        };
        let shared = connection(&self.server, client).await?;
        let conn = shared.lock().await;
        match conn.session.describe_statement(statement).await {
            Ok(described) => {
                // DML answers with a command tag (a row count), never rows, as in Postgres;
                // so does DDL.
                prepared.schema = if describes_rows(statement) { described.schema } else { None };
                for (i, data_type) in described.parameters.into_iter().enumerate().take(count) {
                    if let Some(data_type) = data_type {
                        prepared.parameters[i] = into_pg_type(&data_type).unwrap_or(Type::UNKNOWN);
                        prepared.parameter_types[i] = Some(data_type);
                    }
                }
            }
            // Without parameter values some statements cannot be planned yet; they are
            // described again once bound.
            Err(e) if count > 0 => {
                tracing::debug!(error = %e, "describing a prepared statement before binding")
            }
            Err(e) => return Err(sql_error(e)),
        }
        // Types the client declared win over inferred ones.
        for (i, t) in types.iter().enumerate().take(count) {
            if let Some(t) = t
                && *t != Type::UNKNOWN
            {
                prepared.parameters[i] = t.clone();
            }
        }
        Ok(Some(prepared))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(stmt.parameters.clone())
    }

    fn get_result_schema(&self, stmt: &Prepared, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        match &stmt.schema {
            Some(schema) => fields(schema, format.unwrap_or(&Format::UnifiedText), None),
            None => Ok(vec![]),
        }
    }
}

/// The statement text of `portal` with its parameters bound.
fn bound_sql(portal: &Portal<Prepared>) -> PgWireResult<String> {
    let prepared = &portal.statement.statement;
    if portal.parameter_len() == 0 {
        return Ok(prepared.sql.clone());
    }
    let inferred: Vec<Option<&DataType>> = prepared.parameter_types.iter().map(Option::as_ref).collect();
    let values = deserialize_parameters(portal, &inferred)?;
    let values = match values {
        datafusion::common::ParamValues::List(list) => list.into_iter().map(|v| v.value).collect::<Vec<_>>(),
        datafusion::common::ParamValues::Map(_) => {
            return Err(pg_error("08P01", "named parameters are not supported"));
        }
    };
    params::bind(&prepared.sql, &values, prepared.dialect).map_err(|e| pg_error("08P01", e))
}

/// A single statement from bound SQL, in the dialect the unbound text parsed in.
fn single(sql: &str, dialect: SqlDialect) -> PgWireResult<Statement> {
    let mut statements = parse_in(sql, dialect)?;
    if statements.len() != 1 {
        return Err(pg_error("42601", "cannot insert multiple commands into a prepared statement"));
    }
    Ok(statements.remove(0))
}

#[async_trait]
impl ExtendedQueryHandler for PgHandler {
    type Statement = Prepared;
    type QueryParser = PgQueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    /// A declared cursor is a portal too: clients (psycopg's server-side cursors) describe
    /// it by name to learn its columns.
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if message.target_type == TARGET_TYPE_BYTE_PORTAL
            && let Some(name) = &message.name
            && client.portal_store().get_portal(name).is_none()
        {
            let shared = connection(&self.server, client).await?;
            let schema = shared.lock().await.cursors.get(name).map(|c| c.schema.clone());
            if let Some(schema) = schema {
                let response = DescribePortalResponse::new(fields(&schema, &Format::UnifiedText, Some(format_options(client)))?);
                send_describe_response(client, &response).await?;
                return Ok(());
            }
        }
        // A statement with parameters but no result columns (INSERT ... VALUES ($1, ..)) is
        // described as ParameterDescription + NoData, as Postgres does; pgwire would send an
        // empty RowDescription, which JDBC reads as "returns rows".
        if message.target_type == TARGET_TYPE_BYTE_STATEMENT
            && let Some(Entry::Value(statement)) = client.portal_store().get_statement(message.name.as_deref().unwrap_or(""))
        {
            let response = self.do_describe_statement(client, &statement).await?;
            if response.fields.is_empty() {
                let oids = response.parameters.iter().map(|t| t.oid()).collect();
                client.send(PgWireBackendMessage::ParameterDescription(ParameterDescription::new(oids))).await?;
                client.send(PgWireBackendMessage::NoData(NoData::new())).await?;
                return Ok(());
            }
        }
        self._on_describe(client, message).await
    }

    async fn do_describe_statement<C>(&self, _client: &mut C, target: &StoredStatement<Prepared>) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &target.statement;
        let parameters = prepared
            .parameters
            .iter()
            .enumerate()
            .map(|(i, t)| match target.parameter_types.get(i) {
                Some(Some(declared)) if *declared != Type::UNKNOWN => declared.clone(),
                // Postgres reports an undetermined parameter as text.
                _ if *t == Type::UNKNOWN => Type::TEXT,
                _ => t.clone(),
            })
            .collect();
        let fields = self.parser.get_result_schema(prepared, None)?;
        Ok(DescribeStatementResponse::new(parameters, fields))
    }

    async fn do_describe_portal<C>(&self, client: &mut C, portal: &Portal<Prepared>) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        let format = &portal.result_column_format;
        if let Some(schema) = &prepared.schema {
            return Ok(DescribePortalResponse::new(fields(schema, format, Some(format_options(client)))?));
        }
        if commands::classify(&prepared.sql).is_some() {
            if let Some(PgCommand::Fetch { name, .. }) = commands::classify(&prepared.sql) {
                let shared = connection(&self.server, client).await?;
                let conn = shared.lock().await;
                let cursor = conn.cursors.get(&name).ok_or_else(|| pg_error("34000", format!("cursor \"{name}\" does not exist")))?;
                return Ok(DescribePortalResponse::new(fields(&cursor.schema, format, Some(format_options(client)))?));
            }
            // SHOW returns one text column named after the setting.
            return Ok(match commands::classify(&prepared.sql) {
                Some(PgCommand::Show { name }) => DescribePortalResponse::new(fields(
                    &Arc::new(Schema::new(vec![arrow::datatypes::Field::new(name, DataType::Utf8, true)])),
                    format,
                    None,
                )?),
                Some(PgCommand::ShowAll) => DescribePortalResponse::new(fields(
                    &Arc::new(Schema::new(vec![
                        arrow::datatypes::Field::new("name", DataType::Utf8, true),
                        arrow::datatypes::Field::new("setting", DataType::Utf8, true),
                    ])),
                    format,
                    None,
                )?),
                _ => DescribePortalResponse::no_data(),
            });
        }
        let statement = single(&bound_sql(portal)?, prepared.dialect)?;
        let shared = connection(&self.server, client).await?;
        let mut conn = shared.lock().await;
        if let Statement::Query(_) = statement {
            let described = conn.session.describe_statement(&statement).await.map_err(sql_error)?;
            let schema = described.schema.unwrap_or_else(|| Arc::new(Schema::empty()));
            return Ok(DescribePortalResponse::new(fields(&schema, format, Some(format_options(client)))?));
        }
        if !describes_rows(&statement) {
            return Ok(DescribePortalResponse::no_data());
        }
        // SHOW/DESCRIBE and friends know their columns only by running; they read only, so
        // run now and hand the result to the Execute that follows.
        let output = conn.session.execute(statement).await.map_err(sql_error)?;
        let schema = output.schema.clone();
        conn.described.insert(portal.name.clone(), output);
        Ok(DescribePortalResponse::new(fields(&schema, format, Some(format_options(client)))?))
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Prepared>, _max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let shared = connection(&self.server, client).await?;
        let options = format_options(client);
        let mut conn = shared.lock().await;
        let sql = bound_sql(portal)?;
        if let Some(command) = commands::classify(&sql) {
            return run_command(&self.server, &mut conn, command, &portal.result_column_format, options, &sql).await;
        }
        let statement = single(&sql, portal.statement.statement.dialect)?;
        let early = conn.described.remove(&portal.name);
        let rows_described = describes_rows(&statement);
        let response =
            run_statement(&self.server, &mut conn, statement, &portal.result_column_format, options, early, rows_described, &sql).await;
        send_notices(client, &mut conn).await?;
        response
    }
}
