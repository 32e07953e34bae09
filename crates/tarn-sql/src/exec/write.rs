//! INSERT, UPDATE, DELETE and TRUNCATE.

use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::common::{Column, DFSchema};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, lit};
use datafusion::prelude::SessionContext;
use deltalake::operations::write::WriteBuilder;
use deltalake::protocol::SaveMode;
use sqlparser::ast::ObjectName;
use tarn_engine::{read_commits, table_provider};

use crate::ast::{Delete, Insert, Update};
use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::resolve::Target;
use crate::session::Session;
use crate::types::spark_type_name;

use super::create_table::normalize_column;
use super::util::{explain_violation, metrics_output, table_expr};

/// Project `plan` onto the table schema `target`: by position, or by the named `columns`
/// (missing ones become NULL), casting where the SQL store-assignment rules allow and refusing
/// with a message naming the column where they do not. A generated column given no value is
/// left out, for delta-rs to compute from its expression (positionally, data with exactly the
/// other columns fills those).
pub(crate) fn align_to_schema(plan: LogicalPlan, target: &SchemaRef, columns: &[String], context: &str) -> Result<LogicalPlan> {
    let source = plan.schema().clone();
    let n_source = source.fields().len();
    let target_names: Vec<&str> = target.fields().iter().map(|f| f.name().as_str()).collect();
    let generated = |f: &arrow::datatypes::Field| f.metadata().contains_key(super::create_table::GENERATION_EXPRESSION);
    let n_base = target.fields().iter().filter(|f| !generated(f)).count();
    let mut source_index: Vec<Option<usize>> = vec![None; target.fields().len()];
    if columns.is_empty() && n_source == n_base && n_base < target.fields().len() {
        let base_slots = source_index.iter_mut().zip(target.fields().iter()).filter(|(_, f)| !generated(f));
        for (i, (slot, _)) in base_slots.enumerate() {
            *slot = Some(i);
        }
    } else if columns.is_empty() {
        if n_source != target.fields().len() {
            return Err(SqlError::user(format!(
                "{context}: the table has {} columns ({}) but the data has {}",
                target.fields().len(),
                target_names.join(", "),
                n_source
            )));
        }
        for (i, slot) in source_index.iter_mut().enumerate() {
            *slot = Some(i);
        }
    } else {
        if columns.len() != n_source {
            return Err(SqlError::user(format!("{context}: {} columns are listed but the data has {}", columns.len(), n_source)));
        }
        for (i, name) in columns.iter().enumerate() {
            let Some(pos) = target_names.iter().position(|t| t.eq_ignore_ascii_case(name)) else {
                return Err(unknown_column(name, &target_names));
            };
            if source_index[pos].is_some() {
                return Err(SqlError::user(format!("{context}: column '{name}' is listed twice")));
            }
            source_index[pos] = Some(i);
        }
    }
    let mut exprs = Vec::with_capacity(target.fields().len());
    for (field, src) in target.fields().iter().zip(&source_index) {
        let expr = match src {
            None if generated(field) => continue,
            None => {
                if !field.is_nullable() {
                    return Err(SqlError::user(format!("{context}: column '{}' is NOT NULL and no value is given for it", field.name())));
                }
                cast(lit(datafusion::common::ScalarValue::Null), field.data_type().clone())
            }
            Some(i) => {
                let (qualifier, src_field) = source.qualified_field(*i);
                let column = Expr::Column(Column::from((qualifier, src_field)));
                if src_field.data_type() == field.data_type() {
                    column
                } else {
                    check_assignable(src_field.data_type(), field.data_type(), field.name(), context)?;
                    assigned(column, src_field.data_type(), field.data_type())
                }
            }
        };
        exprs.push(written_value(expr, field).alias(field.name()));
    }
    Ok(LogicalPlanBuilder::from(plan).project(exprs)?.build()?)
}

/// A value as it is written to `field`: checked against a CHAR / VARCHAR length (and padded
/// for CHAR), and against NOT NULL, when the column declares them.
pub(crate) fn written_value(expr: Expr, field: &arrow::datatypes::Field) -> Expr {
    let expr = char_write_check(expr, field);
    if field.is_nullable() { expr } else { tarn_engine::spark::not_null::not_null_check(expr, field.name()) }
}

/// A value as it is written to `field`: checked against a CHAR / VARCHAR length (and padded
/// for CHAR) when the column declares one.
pub(crate) fn char_write_check(expr: Expr, field: &arrow::datatypes::Field) -> Expr {
    match tarn_engine::spark::char_varchar::CharType::of_field(field) {
        Some(kind) => {
            let checked = tarn_engine::spark::char_varchar::write_check(expr, kind);
            if field.data_type() == &DataType::Utf8 { checked } else { cast(checked, field.data_type().clone()) }
        }
        None => expr,
    }
}

/// `value` of type `from` as a value of `to`. A struct goes field by field by position, as
/// Spark assigns one (`INSERT INTO t VALUES ((2, 3))` into `STRUCT<i1: INT, i2: INT>`; arrow's
/// cast matches fields by name and refused it); anything else is a cast.
fn assigned(value: Expr, from: &DataType, to: &DataType) -> Expr {
    match (from, to) {
        (DataType::Struct(from_fields), DataType::Struct(to_fields))
            if from_fields.len() == to_fields.len() && from_fields.iter().zip(to_fields.iter()).any(|(f, t)| f.name() != t.name()) =>
        {
            let mut args = Vec::with_capacity(to_fields.len() * 2);
            for (f, t) in from_fields.iter().zip(to_fields.iter()) {
                let field = datafusion::functions::core::expr_fn::get_field(value.clone(), f.name().as_str());
                args.push(lit(t.name().as_str()));
                args.push(assigned(field, f.data_type(), t.data_type()));
            }
            cast(datafusion::functions::core::expr_fn::named_struct(args), to.clone())
        }
        _ => cast(value, to.clone()),
    }
}

/// Spark's ANSI store assignment: numbers to numbers, strings to strings, strings to dates
/// and timestamps, dates and timestamps to each other; nothing that silently reinterprets text
/// as a number or a number as text.
fn check_assignable(from: &DataType, to: &DataType, column: &str, context: &str) -> Result<()> {
    use DataType as D;
    let numeric = |t: &DataType| t.is_numeric();
    let string = |t: &DataType| matches!(t, D::Utf8 | D::LargeUtf8 | D::Utf8View);
    let binary = |t: &DataType| matches!(t, D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_));
    let temporal = |t: &DataType| matches!(t, D::Date32 | D::Date64 | D::Timestamp(_, _));
    let nested =
        |t: &DataType| matches!(t, D::List(_) | D::LargeList(_) | D::ListView(_) | D::FixedSizeList(_, _) | D::Struct(_) | D::Map(_, _));
    let from_inner = match from {
        D::Dictionary(_, v) => v.as_ref(),
        other => other,
    };
    let ok = matches!(from_inner, D::Null)
        || (numeric(from_inner) && numeric(to))
        || (string(from_inner) && (string(to) || temporal(to)))
        || (binary(from_inner) && binary(to))
        || (temporal(from_inner) && temporal(to))
        || (from_inner == &D::Boolean && to == &D::Boolean)
        || (nested(from_inner) && nested(to) && arrow::compute::can_cast_types(from_inner, to));
    if ok {
        Ok(())
    } else {
        Err(SqlError::user(format!(
            "{context}: cannot write a value of type {} to column '{column}' of type {}; CAST it explicitly",
            spark_type_name(from),
            spark_type_name(to)
        )))
    }
}

/// The table schema plus the data's columns it lacks: by name for a column list, else the
/// data's trailing columns beyond the table's width.
pub(crate) fn evolved_schema(table: &SchemaRef, data: &arrow::datatypes::Schema, columns: &[String]) -> SchemaRef {
    let mut fields: Vec<arrow::datatypes::FieldRef> = table.fields().iter().cloned().collect();
    let has = |fields: &[arrow::datatypes::FieldRef], name: &str| fields.iter().any(|f| f.name().eq_ignore_ascii_case(name));
    if columns.is_empty() {
        for field in data.fields().iter().skip(table.fields().len()) {
            if !has(&fields, field.name()) {
                fields.push(Arc::new(arrow::datatypes::Field::new(field.name(), storable(field.data_type()), true)));
            }
        }
    } else {
        for (name, field) in columns.iter().zip(data.fields()) {
            if !has(&fields, name) {
                fields.push(Arc::new(arrow::datatypes::Field::new(name, storable(field.data_type()), true)));
            }
        }
    }
    Arc::new(Schema::new(fields))
}

/// View types are an in-memory detail; Delta stores plain strings and binaries.
pub(crate) fn storable(dt: &DataType) -> DataType {
    match dt {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Null => DataType::Utf8,
        other => other.clone(),
    }
}

pub(crate) fn unknown_column(name: &str, columns: &[&str]) -> SqlError {
    let hint = columns
        .iter()
        .map(|c| (strsim::levenshtein(&name.to_ascii_lowercase(), &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!("; did you mean '{c}'?"))
        .unwrap_or_default();
    SqlError::user(format!("column '{name}' does not exist{hint} (columns: {})", columns.join(", ")))
}

/// The table's schema as DataFusion sees it, qualified by `qualifier` for expression planning.
pub(crate) fn table_df_schema(target: &Target, qualifier: &str) -> Result<(SchemaRef, DFSchema)> {
    let schema: SchemaRef = target.table.snapshot()?.snapshot().arrow_schema();
    let df = DFSchema::try_from_qualified_schema(qualifier, &schema)?;
    Ok((schema, df))
}

fn qualifier(target: &Target, alias: Option<&sqlparser::ast::Ident>, name: &ObjectName) -> String {
    alias
        .map(|a| a.value.clone())
        .or_else(|| name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase()))
        .unwrap_or_else(|| target.display.clone())
}

/// Rows the table's latest commit added (from its operation metrics).
pub(crate) async fn rows_added(table: &deltalake::DeltaTable) -> Result<i64> {
    let last = read_commits(table, Some(1)).await?;
    Ok(last
        .first()
        .and_then(|c| c.operation_metrics.get("num_added_rows"))
        .and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        .unwrap_or(0))
}

pub(crate) async fn insert(session: &mut Session, insert: Insert) -> Result<StatementOutput> {
    let target = session.open_target(&insert.table, None).await?;
    // Schema evolution, when asked for: extra data columns become new (nullable) columns —
    // named by the data, so then its names must be its own (no positional renaming).
    let evolve = session.auto_merge_schema();
    let (state, plan) =
        if evolve { session.plan_query(&insert.query).await? } else { super::query::plan_positional(session, &insert.query).await? };
    let mut schema: SchemaRef = target.table.snapshot()?.snapshot().arrow_schema();
    let columns: Vec<String> = insert.columns.iter().map(normalize_column).collect();
    let context = format!("INSERT INTO {}", target.display);
    if evolve {
        schema = evolved_schema(&schema, plan.schema().as_arrow(), &columns);
    }
    let plan = align_to_schema(plan, &schema, &columns, &context)?;
    let snapshot = target.table.snapshot()?.snapshot().clone();
    let file_size = session.target_file_size(snapshot.metadata().configuration());
    let mut builder = WriteBuilder::new(target.table.log_store(), Some(snapshot))
        .with_input_plan(plan)
        .with_target_file_size(file_size)
        .with_session_state(Arc::new(state.clone()))
        .with_custom_execute_handler(tarn_engine::post_commit_hooks())
        .with_writer_properties(session.writer_properties())
        .with_commit_properties(tarn_engine::commit_properties())
        .with_save_mode(if insert.overwrite || insert.replace_where.is_some() { SaveMode::Overwrite } else { SaveMode::Append });
    if evolve {
        builder = builder.with_schema_mode(deltalake::operations::write::SchemaMode::Merge);
    }
    if let Some(predicate) = &insert.replace_where {
        let (_, df_schema) = table_df_schema(&target, "t")?;
        builder = builder.with_replace_where(table_expr(&state, predicate, &df_schema)?);
    }
    let table = builder.await.map_err(|e| explain_violation(e, &target.table, &context))?;
    let n = rows_added(&table).await?;
    metrics_output(&[("num_affected_rows", n), ("num_inserted_rows", n)])
}

pub(crate) async fn update(session: &mut Session, update: Update) -> Result<StatementOutput> {
    let target = session.open_target(&update.table, None).await?;
    let q = qualifier(&target, update.alias.as_ref(), &update.table);
    let (schema, df_schema) = table_df_schema(&target, &q)?;
    let state = session.base.clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut builder = target
        .table
        .clone()
        .update()
        .with_session_state(Arc::new(state.clone()))
        .with_custom_execute_handler(tarn_engine::post_commit_hooks())
        .with_writer_properties(session.writer_properties())
        .with_commit_properties(tarn_engine::commit_properties());
    let mut assigned: Vec<(String, Expr)> = Vec::new();
    for (column, value) in &update.assignments {
        let name = normalize_column(column);
        let Some(actual) = names.iter().find(|n| n.eq_ignore_ascii_case(&name)) else {
            return Err(unknown_column(&name, &names));
        };
        let value = condition(session, &state, value, &df_schema).await?;
        let value = match schema.field_with_name(actual) {
            Ok(field) => written_value(value, field),
            Err(_) => value,
        };
        assigned.push((actual.to_string(), value.clone()));
        builder = builder.with_update(actual.to_string(), value);
    }
    for (column, value) in regenerated(&state, &schema, &df_schema, &assigned)? {
        builder = builder.with_update(column, value);
    }
    if let Some(predicate) = &update.predicate {
        builder = builder.with_predicate(condition(session, &state, predicate, &df_schema).await?);
    }
    let context = format!("UPDATE {}", target.display);
    let (_, metrics) = builder.await.map_err(|e| explain_violation(e, &target.table, &context))?;
    metrics_output(&[("num_affected_rows", metrics.num_updated_rows as i64)])
}

/// The generated columns an UPDATE changes: each one not assigned whose expression reads an
/// assigned column, computed from the new values (as Delta writers must; delta-rs would only
/// refuse the stale value).
fn regenerated(
    state: &datafusion::execution::context::SessionState,
    schema: &SchemaRef,
    df_schema: &DFSchema,
    assigned: &[(String, Expr)],
) -> Result<Vec<(String, Expr)>> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    let mut out = Vec::new();
    for field in schema.fields() {
        let Some(text) = field.metadata().get(super::create_table::GENERATION_EXPRESSION) else { continue };
        if assigned.iter().any(|(name, _)| name == field.name()) {
            continue;
        }
        let expr = table_expr(state, &crate::parser::parse_expr(text)?, df_schema)?;
        let mut reads_assigned = false;
        let new_values = expr
            .transform(|e| {
                Ok(match &e {
                    Expr::Column(c) => match assigned.iter().find(|(name, _)| *name == c.name) {
                        Some((_, value)) => {
                            reads_assigned = true;
                            Transformed::yes(value.clone())
                        }
                        None => Transformed::no(e),
                    },
                    _ => Transformed::no(e),
                })
            })?
            .data;
        if reads_assigned {
            out.push((field.name().clone(), cast(new_values, field.data_type().clone())));
        }
    }
    Ok(out)
}

pub(crate) async fn delete(session: &mut Session, delete: Delete) -> Result<StatementOutput> {
    let target = session.open_target(&delete.table, None).await?;
    let q = qualifier(&target, delete.alias.as_ref(), &delete.table);
    let (_, df_schema) = table_df_schema(&target, &q)?;
    let state = session.base.clone();
    let predicate = match &delete.predicate {
        Some(p) => Some(condition(session, &state, p, &df_schema).await?),
        None => None,
    };
    let mut builder = target
        .table
        .clone()
        .delete()
        .with_session_state(Arc::new(state.clone()))
        .with_custom_execute_handler(tarn_engine::post_commit_hooks())
        .with_writer_properties(session.writer_properties())
        .with_commit_properties(tarn_engine::commit_properties());
    if let Some(p) = predicate.clone() {
        builder = builder.with_predicate(p);
    }
    let (_, metrics) = builder.await?;
    // When delta-rs dropped whole files by their statistics it cannot say how many rows went;
    // count them in the snapshot the DELETE read (its files are still there, only unlisted).
    let n = match metrics.num_deleted_rows {
        Some(n) => n as i64,
        None => count_matching(&state, &target, predicate).await?,
    };
    metrics_output(&[("num_affected_rows", n)])
}

/// A DELETE / UPDATE condition or an UPDATE value over the target's columns, its subqueries
/// run first (`subqueries`).
async fn condition(
    session: &Session,
    state: &datafusion::execution::context::SessionState,
    expr: &sqlparser::ast::Expr,
    df_schema: &DFSchema,
) -> Result<Expr> {
    let (expr, answers) = super::subqueries::run_subqueries(session, expr).await?;
    super::util::table_expr_with(state, &expr, df_schema, &answers)
}

pub(crate) async fn count_matching(
    state: &datafusion::execution::context::SessionState,
    target: &Target,
    predicate: Option<Expr>,
) -> Result<i64> {
    let ctx = SessionContext::new_with_state(state.clone());
    let provider = table_provider(&target.table, state).await?;
    let mut df = ctx.read_table(provider)?;
    if let Some(p) = predicate {
        df = df.filter(p)?;
    }
    Ok(df.count().await? as i64)
}

pub(crate) async fn truncate(session: &mut Session, table: &ObjectName) -> Result<StatementOutput> {
    let target = session.open_target(table, None).await?;
    let state = session.base.clone();
    target
        .table
        .clone()
        .delete()
        .with_session_state(Arc::new(state))
        .with_custom_execute_handler(tarn_engine::post_commit_hooks())
        .with_writer_properties(session.writer_properties())
        .with_commit_properties(tarn_engine::commit_properties())
        .await?;
    Ok(StatementOutput::empty())
}
