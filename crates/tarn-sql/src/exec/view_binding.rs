//! How a view's columns follow its query's columns when the tables under it change: Spark 4's
//! `WITH SCHEMA { BINDING | COMPENSATION | [TYPE] EVOLUTION }`.
//!
//! A view keeps the columns its query returned when it was made, with their types
//! ([`ViewField`]). Each read plans the query again and finds those columns in it **by name**
//! (a table re-created with its columns in another order, or with more columns, still gives
//! the view what it had), then:
//! - `BINDING`: a column whose type changed must widen to the stored type without loss (an
//!   up-cast, `int` to `bigint`); anything else is an error.
//! - `COMPENSATION` (the default): any type that casts to the stored one; a row that does not
//!   cast fails the read, as a CAST does.
//! - `TYPE EVOLUTION`: the columns keep their names and take the types they have now.
//! - `EVOLUTION`: without a column list, the query's columns as they are now (added, dropped
//!   and renamed ones too); with one, as `TYPE EVOLUTION`.
//!
//! A stored column missing from the query (dropped or renamed) is an error in every mode but
//! `EVOLUTION` without a column list: never a silent shift to another column.

use datafusion::common::{Column, DFSchema};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Cast, Expr, LogicalPlan, LogicalPlanBuilder};
use sqlparser::ast::Ident;
use tarn_catalog::{ViewField, ViewSchemaMode};

use crate::error::{Result, SqlError};
use crate::types::spark_type_name;

/// The columns `plan` (a view's query, just planned) returns, as a view stores them: their
/// names and the types the analyzed plan gives them.
pub(crate) fn query_columns(state: &SessionState, plan: &LogicalPlan) -> Result<Vec<ViewField>> {
    let analyzed = state.analyzer().execute_and_check(plan.clone(), state.config_options(), |_, _| {})?;
    Ok(analyzed.schema().fields().iter().map(|f| ViewField { name: f.name().clone(), data_type: spark_type_name(f.data_type()) }).collect())
}

/// `plan`, the view `view`'s query planned now, as the view's columns: `stored` found by name
/// and typed as `mode` says, named `names` (the view's column list) when it has one.
pub(crate) fn bind(
    state: &SessionState,
    plan: LogicalPlan,
    view: &str,
    mode: ViewSchemaMode,
    stored: &[ViewField],
    names: &[Ident],
) -> Result<LogicalPlan> {
    // Views stored before Tarn kept their columns are read as then: by position.
    if stored.is_empty() || (mode == ViewSchemaMode::Evolution && names.is_empty()) {
        if names.is_empty() {
            no_duplicates(plan.schema(), view)?;
            return Ok(plan);
        }
        return by_position(plan, names);
    }
    if !names.is_empty() && names.len() != stored.len() {
        return Err(arity(names.len(), stored.len()));
    }
    let current = query_columns(state, &plan)?;
    let schema = plan.schema().clone();
    let mut columns = Vec::with_capacity(stored.len());
    // Whether the view's columns are the query's, as they are: then the plan is left alone.
    let mut unchanged = names.is_empty() && schema.fields().len() == stored.len();
    for (i, want) in stored.iter().enumerate() {
        let same_name = |name: &str| name.eq_ignore_ascii_case(&want.name);
        // `SELECT a, a`: the n-th column of a name is the n-th of that name now.
        let expected = stored.iter().filter(|f| same_name(&f.name)).count();
        let ordinal = stored[..i].iter().filter(|f| same_name(&f.name)).count();
        let candidates: Vec<usize> = schema.fields().iter().enumerate().filter(|(_, f)| same_name(f.name())).map(|(j, _)| j).collect();
        if candidates.len() != expected {
            let now: Vec<&str> = current.iter().map(|f| f.name.as_str()).collect();
            return Err(SqlError::user(format!(
                "[INCOMPATIBLE_VIEW_SCHEMA_CHANGE] the view {view} reads the column `{}` of its query, which now returns {} \
                 column(s) of that name (its columns: {}); re-create the view (CREATE OR REPLACE VIEW) for the new columns",
                want.name,
                candidates.len(),
                now.join(", ")
            )));
        }
        let index = candidates[ordinal];
        let (qualifier, field) = schema.qualified_field(index);
        let column = Expr::Column(Column::from((qualifier, field)));
        let now_type = &current[index].data_type;
        let expr = if *now_type == want.data_type || matches!(mode, ViewSchemaMode::TypeEvolution | ViewSchemaMode::Evolution) {
            column
        } else {
            let target = crate::types::arrow_type(&crate::parser::parse_data_type(&want.data_type)?)?;
            let from = field.data_type();
            let castable = match mode {
                ViewSchemaMode::Binding => tarn_engine::spark::types::can_up_cast(from, &target),
                _ => datafusion::arrow::compute::can_cast_types(from, &target),
            };
            if !castable {
                return Err(SqlError::user(format!(
                    "[CANNOT_UP_CAST_DATATYPE] the view {view} (WITH SCHEMA {}) has the column `{}` as {}, and its query now \
                     returns it as {now_type}, which does not {} to {}; re-create the view (CREATE OR REPLACE VIEW), or \
                     ALTER VIEW {view} WITH SCHEMA {} to take the new type",
                    mode.sql(),
                    want.name,
                    want.data_type,
                    if mode == ViewSchemaMode::Binding { "widen without loss" } else { "cast" },
                    want.data_type,
                    if mode == ViewSchemaMode::Binding { "COMPENSATION" } else { "TYPE EVOLUTION" },
                )));
            }
            Expr::Cast(Cast::new(Box::new(column), target))
        };
        let name = names.get(i).map_or_else(|| want.name.clone(), |n| n.value.clone());
        unchanged &= index == i && matches!(expr, Expr::Column(_)) && *field.name() == name;
        columns.push(if matches!(expr, Expr::Column(_)) && *field.name() == name { expr } else { expr.alias(name) });
    }
    if unchanged {
        return Ok(plan);
    }
    Ok(LogicalPlanBuilder::from(plan).project(columns)?.build()?)
}

/// The query's columns renamed, in order, to the view's column list.
pub(crate) fn by_position(plan: LogicalPlan, names: &[Ident]) -> Result<LogicalPlan> {
    let fields = plan.schema().columns();
    if fields.len() != names.len() {
        return Err(arity(names.len(), fields.len()));
    }
    let renamed: Vec<Expr> = fields.into_iter().zip(names).map(|(c, name)| Expr::Column(c).alias(name.value.clone())).collect();
    Ok(LogicalPlanBuilder::from(plan).project(renamed)?.build()?)
}

fn arity(named: usize, returned: usize) -> SqlError {
    SqlError::user(format!("[CREATE_VIEW_COLUMN_ARITY_MISMATCH] the view names {named} columns but its query returns {returned}"))
}

/// A view's columns are found by name, so two of one name are an error where the query's
/// columns are the view's (`EVOLUTION`: a table under `SELECT *` gained a column of a name
/// another already has).
pub(crate) fn no_duplicates(schema: &DFSchema, view: &str) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for field in schema.fields() {
        if !seen.insert(field.name().to_ascii_lowercase()) {
            return Err(SqlError::user(format!(
                "[COLUMN_ALREADY_EXISTS] the view {view} returns two columns named `{}`; re-create it with a column list or \
                 aliases that tell them apart",
                field.name()
            )));
        }
    }
    Ok(())
}
