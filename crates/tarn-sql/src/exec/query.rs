//! Queries, EXPLAIN and SET: handed to DataFusion after name resolution.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::SchemaRef;
use datafusion::dataframe::DataFrame;
use sqlparser::ast::Statement as SqlStatement;

use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::session::Session;

pub(crate) async fn run(session: &mut Session, statement: SqlStatement) -> Result<StatementOutput> {
    if matches!(statement, SqlStatement::Explain { .. }) {
        let log = tarn_engine::ScanLog::default();
        session.scan_log = Some(log.clone());
        let planned = session.plan_statement(statement).await;
        session.scan_log = None;
        let (state, plan) = planned?;
        return explain_with_skipping(&log, DataFrame::new(state, plan)).await;
    }
    let (state, plan) = session.plan_statement(statement).await?;
    let frame = DataFrame::new(state, plan);
    Ok(StatementOutput::from_stream(frame.execute_stream().await?))
}

/// EXPLAIN [ANALYZE] output plus one `delta_files` row per Delta scan: files (and bytes) read
/// versus the table's whole, i.e. what the log's file statistics and partitions skipped.
async fn explain_with_skipping(log: &tarn_engine::ScanLog, frame: DataFrame) -> Result<StatementOutput> {
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let mut batches = frame.collect().await?;
    let scans: Vec<String> = log.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|s| s.describe()).collect();
    if !scans.is_empty() && schema.fields().len() == 2 {
        let kinds: ArrayRef = Arc::new(StringArray::from(vec!["delta_files"; scans.len()]));
        let plans: ArrayRef = Arc::new(StringArray::from(scans));
        if let Ok(batch) = RecordBatch::try_new(schema.clone(), vec![kinds, plans]) {
            batches.push(batch);
        }
    }
    Ok(StatementOutput::from_batches(schema, batches))
}

/// Spark's session setting for the codec of the Parquet files writes make.
const COMPRESSION_CODEC: &str = "spark.sql.parquet.compression.codec";

/// `SET key = value`: DataFusion options (`datafusion.*`) change the session's engine
/// configuration; other keys (such as the Spark/Delta VACUUM safety switch) are kept for Tarn.
/// Spark's ANSI mode is the only one Tarn runs; turning it off would give other answers.
const ANSI_MODE: &str = "spark.sql.ansi.enabled";

pub(crate) fn set(session: &mut Session, key: String, value: String, echo: bool) -> Result<StatementOutput> {
    if key.eq_ignore_ascii_case(ANSI_MODE) && !value.eq_ignore_ascii_case("true") {
        return Err(SqlError::Unsupported(format!(
            "SET {ANSI_MODE} = {value}: Tarn answers as Spark does in ANSI mode only (errors, not NULLs, for overflow, \
             division by zero and bad casts); the try_* functions (try_add, try_divide, try_cast, ..) give NULL instead"
        )));
    }
    let answer = (key.clone(), value.clone());
    if key.starts_with("datafusion.") {
        let mut config = session.base.config().clone();
        config.options_mut().set(&key, &value).map_err(|e| SqlError::user(format!("SET {key}: {e}")))?;
        session.base = tarn_engine::derive_state(&session.base, config, None)?;
    } else {
        let key = key.to_ascii_lowercase();
        if key == COMPRESSION_CODEC {
            // Checked now, so a bad codec fails here and not in the middle of a later write.
            session.data_files.compression = tarn_engine::parse_compression(&value)?;
        }
        session.settings.insert(key, value.to_ascii_lowercase());
    }
    if !echo {
        return Ok(StatementOutput::empty());
    }
    // Spark answers SET with the setting it made.
    use arrow::array::{ArrayRef, StringArray};
    StatementOutput::from_columns(vec![
        ("key", std::sync::Arc::new(StringArray::from(vec![answer.0])) as ArrayRef),
        ("value", std::sync::Arc::new(StringArray::from(vec![answer.1])) as ArrayRef),
    ])
}
