//! RESTORE, OPTIMIZE [ZORDER BY] and VACUUM.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use deltalake::operations::optimize::OptimizeType;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::{FilterOp, FilterValue};
use sqlparser::ast::{BinaryOperator, Expr as SqlExpr, Ident, ObjectName};
use tarn_engine::{TimeTravel, resolve_timestamp};

use crate::ast::VersionSpec;
use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::session::Session;

use super::create_table::normalize_column;
use super::util::metrics_output;
use super::write::unknown_column;

pub(crate) async fn restore(session: &mut Session, table: &ObjectName, to: &VersionSpec) -> Result<StatementOutput> {
    let target = session.open_target(table, None).await?;
    let version = match session.time_travel(to).await? {
        TimeTravel::Version(v) => v,
        TimeTravel::Timestamp(ts) => resolve_timestamp(&target.table, ts).await?,
    };
    let latest = target.table.version().map_or(-1, |v| v as i64);
    if version < 0 || version > latest {
        return Err(SqlError::user(format!("cannot restore {} to version {version}: its versions are 0 to {latest}", target.display)));
    }
    if version == latest {
        return Err(SqlError::user(format!("{} is already at version {version}; nothing to restore", target.display)));
    }
    let (_, metrics) = target
        .table
        .clone()
        .restore()
        .with_version_to_restore(version as u64)
        .with_custom_execute_handler(tarn_engine::post_commit_hooks())
        .with_commit_properties(tarn_engine::commit_properties())
        .await?;
    metrics_output(&[
        ("restored_version", version),
        ("num_removed_files", metrics.num_removed_file as i64),
        ("num_restored_files", metrics.num_restored_file as i64),
    ])
}

/// A partition filter of OPTIMIZE ... WHERE, owned until the builder borrows it.
struct OwnedFilter {
    column: String,
    op: FilterOp,
    values: Vec<String>,
    set: bool,
}

fn literal_text(expr: &SqlExpr) -> Option<String> {
    match expr {
        SqlExpr::Value(v) => match &v.value {
            sqlparser::ast::Value::SingleQuotedString(s) | sqlparser::ast::Value::DoubleQuotedString(s) => Some(s.clone()),
            sqlparser::ast::Value::Number(n, _) => Some(n.clone()),
            sqlparser::ast::Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        },
        SqlExpr::UnaryOp { op: sqlparser::ast::UnaryOperator::Minus, expr } => literal_text(expr).map(|t| format!("-{t}")),
        _ => None,
    }
}

fn column_of(expr: &SqlExpr) -> Option<String> {
    match expr {
        SqlExpr::Identifier(i) => Some(normalize_column(i)),
        SqlExpr::CompoundIdentifier(parts) => parts.last().map(normalize_column),
        SqlExpr::Nested(e) => column_of(e),
        _ => None,
    }
}

fn partition_filters(expr: &SqlExpr, partitions: &[String], out: &mut Vec<OwnedFilter>) -> Result<()> {
    let unsupported = || {
        SqlError::user(format!(
            "OPTIMIZE ... WHERE supports only comparisons of partition columns ({}) with literals, joined by AND; got '{expr}'",
            partitions.join(", ")
        ))
    };
    let check = |column: String| -> Result<String> {
        partitions.iter().find(|p| p.eq_ignore_ascii_case(&column)).cloned().ok_or_else(|| {
            SqlError::user(format!(
                "OPTIMIZE ... WHERE may only filter on partition columns ({}); '{column}' is not one",
                if partitions.is_empty() { "the table has none".to_string() } else { partitions.join(", ") }
            ))
        })
    };
    match expr {
        SqlExpr::Nested(inner) => partition_filters(inner, partitions, out),
        SqlExpr::BinaryOp { left, op: BinaryOperator::And, right } => {
            partition_filters(left, partitions, out)?;
            partition_filters(right, partitions, out)
        }
        SqlExpr::BinaryOp { left, op, right } => {
            let (column, value, flipped) = match (column_of(left), literal_text(right)) {
                (Some(c), Some(v)) => (c, v, false),
                _ => match (column_of(right), literal_text(left)) {
                    (Some(c), Some(v)) => (c, v, true),
                    _ => return Err(unsupported()),
                },
            };
            let op = match (op, flipped) {
                (BinaryOperator::Eq, _) => FilterOp::Eq,
                (BinaryOperator::NotEq, _) => FilterOp::Ne,
                (BinaryOperator::Lt, false) | (BinaryOperator::Gt, true) => FilterOp::Lt,
                (BinaryOperator::LtEq, false) | (BinaryOperator::GtEq, true) => FilterOp::Le,
                (BinaryOperator::Gt, false) | (BinaryOperator::Lt, true) => FilterOp::Gt,
                (BinaryOperator::GtEq, false) | (BinaryOperator::LtEq, true) => FilterOp::Ge,
                _ => return Err(unsupported()),
            };
            out.push(OwnedFilter { column: check(column)?, op, values: vec![value], set: false });
            Ok(())
        }
        SqlExpr::InList { expr: inner, list, negated } => {
            let column = column_of(inner).ok_or_else(unsupported)?;
            let values = list.iter().map(literal_text).collect::<Option<Vec<_>>>().ok_or_else(unsupported)?;
            out.push(OwnedFilter { column: check(column)?, op: if *negated { FilterOp::NotIn } else { FilterOp::In }, values, set: true });
            Ok(())
        }
        _ => Err(unsupported()),
    }
}

pub(crate) async fn optimize(
    session: &mut Session,
    table: &ObjectName,
    predicate: Option<SqlExpr>,
    zorder_by: Vec<Ident>,
) -> Result<StatementOutput> {
    let target = session.open_target(table, None).await?;
    let state = target.table.snapshot()?;
    let snapshot = state.snapshot();
    let partitions: Vec<String> = snapshot.metadata().partition_columns().to_vec();
    let schema = snapshot.arrow_schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();

    let mut owned = Vec::new();
    if let Some(p) = &predicate {
        partition_filters(p, &partitions, &mut owned)?;
    }
    let filters: Vec<deltalake::FilterLiteral<'_>> = owned
        .iter()
        .map(|f| {
            let value = if f.set {
                FilterValue::Set(f.values.iter().map(String::as_str).collect())
            } else {
                FilterValue::Scalar(f.values[0].as_str())
            };
            (f.column.as_str(), f.op, value)
        })
        .collect();

    let mut zorder_columns = Vec::new();
    for ident in &zorder_by {
        let name = normalize_column(ident);
        let Some(actual) = names.iter().find(|n| n.eq_ignore_ascii_case(&name)) else {
            return Err(unknown_column(&name, &names));
        };
        if partitions.iter().any(|p| p == actual) {
            return Err(SqlError::user(format!("ZORDER BY '{actual}': it is a partition column, and files are already grouped by it")));
        }
        zorder_columns.push(actual.to_string());
    }

    let mut builder = target
        .table
        .clone()
        .optimize()
        .with_filters(&filters)
        .with_session_state(Arc::new(session.base.clone()))
        .with_custom_execute_handler(tarn_engine::post_commit_hooks())
        .with_writer_properties(session.writer_properties())
        .with_commit_properties(tarn_engine::commit_properties());
    if let Some(size) = session.target_file_size(target.table.snapshot()?.metadata().configuration()) {
        builder = builder.with_target_size(size);
    }
    if !zorder_columns.is_empty() {
        builder = builder.with_type(OptimizeType::ZOrder(zorder_columns));
    }
    let (table, metrics) = builder.await?;
    StatementOutput::from_columns(vec![
        ("path", Arc::new(StringArray::from(vec![table.table_url().to_string()])) as ArrayRef),
        ("num_files_added", Arc::new(arrow::array::Int64Array::from(vec![metrics.num_files_added as i64])) as ArrayRef),
        ("num_files_removed", Arc::new(arrow::array::Int64Array::from(vec![metrics.num_files_removed as i64])) as ArrayRef),
        ("partitions_optimized", Arc::new(arrow::array::Int64Array::from(vec![metrics.partitions_optimized as i64])) as ArrayRef),
        ("total_considered_files", Arc::new(arrow::array::Int64Array::from(vec![metrics.total_considered_files as i64])) as ArrayRef),
        ("total_files_skipped", Arc::new(arrow::array::Int64Array::from(vec![metrics.total_files_skipped as i64])) as ArrayRef),
    ])
}

/// The Databricks switch that allows VACUUM below the table's retention period.
const RETENTION_CHECK: &str = "spark.databricks.delta.retentionDurationCheck.enabled";

pub(crate) async fn vacuum(session: &mut Session, table: &ObjectName, retain_hours: Option<f64>, dry_run: bool) -> Result<StatementOutput> {
    let target = session.open_target(table, None).await?;
    let enforce = session.settings.get(&RETENTION_CHECK.to_ascii_lowercase()).is_none_or(|v| v != "false");
    let mut builder = target
        .table
        .clone()
        .vacuum()
        .with_dry_run(dry_run)
        .with_mode(VacuumMode::Full)
        .with_enforce_retention_duration(enforce)
        .with_custom_execute_handler(tarn_engine::post_commit_hooks())
        .with_commit_properties(tarn_engine::commit_properties());
    if let Some(hours) = retain_hours {
        if hours < 0.0 {
            return Err(SqlError::user("VACUUM RETAIN needs a non-negative number of hours"));
        }
        builder = builder.with_retention_period(chrono::Duration::milliseconds((hours * 3_600_000.0) as i64));
    }
    let (table, metrics) = builder.await.map_err(|e| {
        let text = e.to_string();
        if text.contains("Invalid retention period") {
            SqlError::user(format!(
                "{text}. A shorter retention can delete files that running readers and time travel still need; \
                 if you are sure, run SET {RETENTION_CHECK} = false first"
            ))
        } else {
            e.into()
        }
    })?;
    // delta-rs's full mode can plan a file twice (as an expired tombstone and as an orphan) and
    // reports the second delete's NotFound with the store's full path: each file counts once,
    // named relative to the table.
    let url = table.table_url();
    let root = url.to_file_path().ok().map(|p| p.display().to_string()).unwrap_or_else(|| url.path().to_string());
    let root = root.trim_end_matches('/').trim_start_matches('/').to_string();
    let mut deleted: Vec<String> = metrics
        .files_deleted
        .into_iter()
        .map(|path| {
            let bare = path.trim_start_matches('/');
            bare.strip_prefix(&root).map(|rest| rest.trim_start_matches('/').to_string()).unwrap_or_else(|| path.clone())
        })
        .collect();
    deleted.sort();
    deleted.dedup();
    if dry_run {
        return StatementOutput::from_columns(vec![("path", Arc::new(StringArray::from(deleted)) as ArrayRef)]);
    }
    StatementOutput::from_columns(vec![
        ("path", Arc::new(StringArray::from(vec![table.table_url().to_string()])) as ArrayRef),
        ("num_deleted_files", Arc::new(arrow::array::Int64Array::from(vec![deleted.len() as i64])) as ArrayRef),
    ])
}
