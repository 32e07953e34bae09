//! The audit log: every statement any protocol runs, who ran it, from where, and how it
//! ended, appended to the Delta table `system.access.audit` — queryable with SQL by admins
//! (nobody else has USE CATALOG on `system` unless granted).
//!
//! Events are buffered and written in batches (one commit per second at most) by one
//! background task, so auditing adds no commit to each statement; the task drains the buffer
//! when the server stops.

use std::time::Duration;

use datafusion::scalar::ScalarValue;
use tarn_catalog::Catalog;
use tarn_sql::{Session, SessionConfig, SqlDialect};

use tokio::sync::mpsc;

use crate::error::{Result, ServerError};

const TABLE: &str = "system.access.audit";

/// One audited statement.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub principal: String,
    pub protocol: &'static str,
    pub client_address: String,
    pub statement: String,
    /// The tables the statements named, fully qualified.
    pub tables: Vec<String>,
    /// `ok`, `denied`, `error` or `canceled`.
    pub outcome: &'static str,
    pub error: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl AuditEvent {
    pub fn new(
        principal: &str,
        protocol: &'static str,
        client_address: String,
        statement: &str,
        result: Result<(), &tarn_sql::SqlError>,
    ) -> Self {
        let (outcome, error) = match result {
            Ok(()) => ("ok", None),
            Err(e @ tarn_sql::SqlError::PermissionDenied(_)) => ("denied", Some(e.to_string())),
            Err(e) => ("error", Some(e.to_string())),
        };
        Self {
            principal: principal.to_string(),
            protocol,
            client_address,
            statement: redact_passwords(statement).chars().take(10_000).collect(),
            tables: Vec::new(),
            outcome,
            error,
            at: chrono::Utc::now(),
        }
    }

    pub fn with_tables(mut self, tables: Vec<String>) -> Self {
        self.tables = tables;
        self
    }
}

/// `statement` with the string after every `PASSWORD` keyword replaced by `'***'`, so
/// `CREATE USER .. WITH PASSWORD '..'` and `ALTER USER .. PASSWORD '..'` never reach the log.
/// Text that does not tokenize is kept only up to its first `PASSWORD`.
pub(crate) fn redact_passwords(statement: &str) -> String {
    if !statement.to_ascii_uppercase().contains("PASSWORD") {
        return statement.to_string();
    }
    // Quoting differs between the dialects ("x" is a name in one, a string in the other; `x`
    // quotes only in Databricks'): redact as both read it.
    let postgres = redact_in(statement, SqlDialect::Postgres);
    let redacted = redact_in(postgres.as_deref().unwrap_or(statement), SqlDialect::Databricks);
    match redacted {
        Some(text) => text,
        None => {
            let cut = statement.to_ascii_uppercase().find("PASSWORD").unwrap_or(statement.len());
            format!("{} (rest redacted)", &statement[..cut])
        }
    }
}

fn redact_in(statement: &str, dialect: SqlDialect) -> Option<String> {
    use sqlparser::tokenizer::Token;
    let tokens = crate::tokens::tokens(statement, dialect).ok()?;
    let mut out = String::with_capacity(statement.len());
    let mut copied = 0;
    let mut after_password = false;
    for (token, range) in tokens {
        match &token {
            Token::Whitespace(_) | Token::Eq => continue,
            Token::Word(w) if w.value.eq_ignore_ascii_case("password") => {
                after_password = true;
                continue;
            }
            // A password may be written as any literal, and as a quoted name ("x", `x`).
            Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::EscapedStringLiteral(_)
            | Token::DollarQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::Number(..)
                if after_password =>
            {
                out.push_str(&statement[copied..range.start]);
                out.push_str("'***'");
                copied = range.end;
            }
            Token::Word(w) if after_password && w.quote_style.is_some() => {
                out.push_str(&statement[copied..range.start]);
                out.push_str("'***'");
                copied = range.end;
            }
            _ => {}
        }
        after_password = false;
    }
    out.push_str(&statement[copied..]);
    Some(out)
}

/// Where protocols send events. Cloning is cheap.
#[derive(Clone)]
pub struct Auditor {
    tx: mpsc::UnboundedSender<AuditEvent>,
}

impl Auditor {
    pub fn record(&self, event: AuditEvent) {
        // The writer only stops at shutdown, after every protocol has stopped.
        let _ = self.tx.send(event);
    }
}

/// The background writer; `finish` writes what is buffered and stops it.
pub struct AuditWriter {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<()>,
}

impl AuditWriter {
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.handle.await;
    }
}

/// Create the audit table if needed and start the writer.
pub async fn start(catalog: Catalog, config: SessionConfig) -> Result<(Auditor, AuditWriter)> {
    catalog.ensure_system_schema("access").await.map_err(|e| ServerError::Sql(e.into()))?;
    let mut session = Session::with_catalog(catalog, &config)?;
    let create = format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (event_time TIMESTAMP NOT NULL, principal STRING, protocol STRING, \
         client_address STRING, statement STRING, tables ARRAY<STRING>, outcome STRING, error STRING) \
         COMMENT 'Every statement run through tarn serve'"
    );
    for statement in tarn_sql::parse_sql(&create)? {
        session.execute(statement).await?;
    }
    // Audit tables of warehouses from before the `tables` column get it (rows are inserted
    // by column name, so its position does not matter).
    let columns = session.sql(&format!("SHOW COLUMNS IN {TABLE}")).await?;
    let has_tables = columns.iter().flatten().any(|batch| {
        (0..batch.num_rows())
            .any(|row| arrow::util::display::array_value_to_string(batch.column(0), row).is_ok_and(|name| name == "tables"))
    });
    if !has_tables {
        session.sql(&format!("ALTER TABLE {TABLE} ADD COLUMNS (tables ARRAY<STRING>)")).await?;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<AuditEvent>();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let mut buffer = Vec::new();
        loop {
            let first = tokio::select! {
                event = rx.recv() => event,
                _ = &mut stop_rx => None,
            };
            let Some(first) = first else { break };
            buffer.push(first);
            // Gather what arrives within a second into the same commit.
            let deadline = tokio::time::sleep(Duration::from_secs(1));
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    event = rx.recv() => match event {
                        Some(e) => buffer.push(e),
                        None => break,
                    },
                    () = &mut deadline => break,
                }
            }
            write(&mut session, &mut buffer).await;
        }
        while let Ok(event) = rx.try_recv() {
            buffer.push(event);
        }
        write(&mut session, &mut buffer).await;
    });
    Ok((Auditor { tx }, AuditWriter { stop: stop_tx, handle }))
}

async fn write(session: &mut Session, buffer: &mut Vec<AuditEvent>) {
    if buffer.is_empty() {
        return;
    }
    // One placeholder per table name inside `array(...)`: every value is bound, none spliced.
    let rows: Vec<String> = buffer
        .iter()
        .map(|e| {
            let tables = vec!["?"; e.tables.len()].join(", ");
            format!("(CAST(? AS TIMESTAMP), ?, ?, ?, ?, CAST(array({tables}) AS ARRAY<STRING>), ?, ?)")
        })
        .collect();
    let rows = rows.join(", ");
    let sql =
        format!("INSERT INTO {TABLE} (event_time, principal, protocol, client_address, statement, tables, outcome, error) VALUES {rows}");
    let mut values = Vec::with_capacity(buffer.len() * 8);
    for e in buffer.iter() {
        values.push(ScalarValue::Utf8(Some(e.at.to_rfc3339())));
        values.push(ScalarValue::Utf8(Some(e.principal.clone())));
        values.push(ScalarValue::Utf8(Some(e.protocol.to_string())));
        values.push(ScalarValue::Utf8(Some(e.client_address.clone())));
        values.push(ScalarValue::Utf8(Some(e.statement.clone())));
        values.extend(e.tables.iter().map(|t| ScalarValue::Utf8(Some(t.clone()))));
        values.push(ScalarValue::Utf8(Some(e.outcome.to_string())));
        values.push(ScalarValue::Utf8(e.error.clone()));
    }
    let result = async {
        let bound = crate::params::bind(&sql, &values, SqlDialect::Databricks).map_err(ServerError::Internal)?;
        for statement in tarn_sql::parse_sql(&bound)? {
            session.execute(statement).await?.collect().await?;
        }
        Ok::<_, ServerError>(())
    }
    .await;
    match result {
        Ok(()) => buffer.clear(),
        // Kept for the next attempt; an audit log that silently drops events is worse than one
        // that retries.
        Err(e) => {
            tracing::error!(error = %e, events = buffer.len(), "writing the audit log failed; will retry")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_passwords;

    #[test]
    fn passwords_never_reach_the_audit_log() {
        assert_eq!(redact_passwords("CREATE USER bob WITH PASSWORD 's3cret'"), "CREATE USER bob WITH PASSWORD '***'");
        assert_eq!(redact_passwords("alter user bob password = 'it''s'; SELECT 1"), "alter user bob password = '***'; SELECT 1");
        assert_eq!(redact_passwords("SELECT 'password'"), "SELECT 'password'");
        assert_eq!(redact_passwords("SELECT 1"), "SELECT 1");
        assert_eq!(redact_passwords("CREATE USER bob PASSWORD \"s3cret\""), "CREATE USER bob PASSWORD '***'");
        assert_eq!(redact_passwords("CREATE USER bob PASSWORD `s3cret`"), "CREATE USER bob PASSWORD '***'");
        assert_eq!(redact_passwords("ALTER USER bob PASSWORD 12345"), "ALTER USER bob PASSWORD '***'");
        assert!(!redact_passwords("CREATE USER x WITH PASSWORD 'unterminated").contains("unterminated"));
    }
}
