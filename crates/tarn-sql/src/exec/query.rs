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
    let retry = duplicate_names::aliased(&statement);
    let written = match &statement {
        SqlStatement::Query(query) => crate::column_names::ItemNames::aliases_as_written(query),
        _ => None,
    };
    let (state, plan, names) = match (session.plan_statement(statement).await, retry) {
        (Err(e), Some((aliased, names))) if duplicate_names::is_duplicate_error(&e) => {
            let (state, plan) = session.plan_statement(aliased).await?;
            (state, plan, Some(names))
        }
        (planned, _) => {
            let (state, plan) = planned?;
            (state, plan, None)
        }
    };
    let frame = DataFrame::new(state, plan);
    let stream = frame.execute_stream().await?;
    let stream = match names {
        Some(names) => duplicate_names::renamed(stream, &names)?,
        None => stream,
    };
    let stream = match written.and_then(|w| w.for_width(stream.schema().fields().len())) {
        Some(written) => duplicate_names::shown_as_written(stream, &written)?,
        None => stream,
    };
    Ok(StatementOutput::from_stream(stream))
}

/// The plan of a query whose columns go by position (INSERT's source), where two of them may
/// share a name (`INSERT INTO t SELECT c, c FROM s`), as Spark allows.
pub(crate) async fn plan_positional(
    session: &mut Session,
    query: &sqlparser::ast::Query,
) -> Result<(datafusion::execution::context::SessionState, datafusion::logical_expr::LogicalPlan)> {
    match session.plan_query(query).await {
        Err(e) if duplicate_names::is_duplicate_error(&e) => {
            match duplicate_names::aliased(&SqlStatement::Query(Box::new(query.clone()))) {
                Some((SqlStatement::Query(aliased), _)) => session.plan_query(&aliased).await,
                _ => Err(e),
            }
        }
        planned => planned,
    }
}

/// Spark allows a query's columns to share a name (`SELECT a, a`, `SELECT 1 AS x, 2 AS x`,
/// `typeof(1Y), typeof(1S)` which DataFusion names alike); DataFusion's projections do not. A
/// query refused for that is planned again with the clashing items under unique aliases, and
/// the result's columns get their names back (an Arrow schema may repeat a name).
mod duplicate_names {
    use std::sync::Arc;

    use arrow::datatypes::{Field, Schema};
    use datafusion::physical_plan::SendableRecordBatchStream;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use futures::StreamExt;
    use sqlparser::ast::{Expr as SqlExpr, Ident, SelectItem, SetExpr, Statement};

    use crate::error::{Result, SqlError};

    fn placeholder(i: usize) -> String {
        format!("__tarn_column_{i}")
    }

    pub(super) fn is_duplicate_error(e: &SqlError) -> bool {
        e.to_string().contains("require unique expression names")
    }

    /// The statement with every unnamed expression and every repeated name under a unique
    /// alias; `None` when it is not a plain SELECT or nothing could clash.
    /// The answer names each placeholder: the name the query gave the item, or Spark's.
    pub(super) fn aliased(statement: &Statement) -> Option<(Statement, Vec<(String, String)>)> {
        let Statement::Query(query) = statement else { return None };
        let SetExpr::Select(select) = query.body.as_ref() else { return None };
        let mut seen = std::collections::HashSet::new();
        let mut names = Vec::new();
        let mut items = Vec::with_capacity(select.projection.len());
        for (i, item) in select.projection.iter().enumerate() {
            let alias = Ident::new(placeholder(i));
            items.push(match item {
                SelectItem::UnnamedExpr(expr @ (SqlExpr::Identifier(_) | SqlExpr::CompoundIdentifier(_))) => {
                    let column = expr.to_string().rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
                    if seen.insert(column.clone()) {
                        item.clone()
                    } else {
                        names.push((alias.value.clone(), column));
                        SelectItem::ExprWithAlias { expr: expr.clone(), alias }
                    }
                }
                SelectItem::UnnamedExpr(expr) => {
                    names.push((alias.value.clone(), crate::column_names::spark_name(expr)));
                    SelectItem::ExprWithAlias { expr: expr.clone(), alias }
                }
                SelectItem::ExprWithAlias { expr, alias: given } => {
                    let name = given.value.clone();
                    if seen.insert(name.to_ascii_lowercase()) {
                        item.clone()
                    } else {
                        names.push((alias.value.clone(), name));
                        SelectItem::ExprWithAlias { expr: expr.clone(), alias }
                    }
                }
                other => other.clone(),
            });
        }
        if names.is_empty() {
            return None;
        }
        let mut query = query.clone();
        let SetExpr::Select(select) = query.body.as_mut() else { return None };
        select.projection = items;
        Some((Statement::Query(query), names))
    }

    /// `stream` with its placeholder columns renamed.
    pub(super) fn renamed(stream: SendableRecordBatchStream, names: &[(String, String)]) -> Result<SendableRecordBatchStream> {
        let shown: Vec<Option<String>> =
            stream.schema().fields().iter().map(|f| names.iter().find(|(p, _)| p == f.name()).map(|(_, shown)| shown.clone())).collect();
        shown_as_written(stream, &shown)
    }

    /// `stream` with each column that has a name in `names` (by position) under that name.
    pub(super) fn shown_as_written(stream: SendableRecordBatchStream, names: &[Option<String>]) -> Result<SendableRecordBatchStream> {
        let schema = stream.schema();
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .zip(names.iter().chain(std::iter::repeat(&None)))
            .map(|(f, name)| match name {
                Some(shown) => f.as_ref().clone().with_name(shown),
                None => f.as_ref().clone(),
            })
            .collect();
        let renamed = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        let target = Arc::clone(&renamed);
        let batches = stream.map(move |batch| {
            let batch = batch?;
            Ok(arrow::array::RecordBatch::try_new(Arc::clone(&target), batch.columns().to_vec())?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(renamed, batches)))
    }
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
