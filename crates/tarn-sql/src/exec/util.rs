//! Helpers shared by the statement modules.

use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array};
use datafusion::common::DFSchema;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::Expr;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use sqlparser::ast::ExprWithAlias as SqlExprWithAlias;
use sqlparser::ast::{Expr as SqlExpr, VisitMut, VisitorMut};
use url::Url;

use crate::error::{Result, SqlError};
use crate::output::StatementOutput;

/// A one-row result of named counters, as Databricks reports DML metrics.
pub(crate) fn metrics_output(metrics: &[(&str, i64)]) -> Result<StatementOutput> {
    StatementOutput::from_columns(
        metrics.iter().map(|(name, value)| (*name, Arc::new(Int64Array::from(vec![*value])) as ArrayRef)).collect(),
    )
}

/// Spark's SHOW ... LIKE patterns: `*` any run, `|` alternatives; SQL's `%` and `_` work too.
pub(crate) fn like_matches(pattern: Option<&str>, name: &str) -> bool {
    let Some(pattern) = pattern else { return true };
    pattern.split('|').any(|alt| glob_match(alt.trim().to_ascii_lowercase().as_bytes(), name.to_ascii_lowercase().as_bytes()))
}

fn glob_match(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*' | b'%', rest)) => (0..=s.len()).any(|i| glob_match(rest, &s[i..])),
        Some((b'_', rest)) => !s.is_empty() && glob_match(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && glob_match(rest, &s[1..]),
    }
}

/// Delete every object below a table directory (DROP TABLE of a managed table).
pub(crate) async fn delete_table_files(location: &Url) -> Result<()> {
    tarn_engine::snapshots::forget(location);
    let (store, prefix) = tarn_storage::store_for_url(location).map_err(|e| SqlError::Internal(e.to_string()))?;
    let paths: Vec<_> = store
        .list(Some(&prefix))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .map_err(|e| SqlError::Internal(format!("listing {location}: {e}")))?;
    for path in paths {
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(SqlError::Internal(format!("deleting {path}: {e}"))),
        }
    }
    if location.scheme() == "file"
        && let Ok(dir) = location.to_file_path()
    {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// Turn `deltalake`'s generic "rows failed validation check" into a message that names the
/// constraints the rows had to meet (NOT NULL columns and CHECK constraints).
pub(crate) fn explain_violation(err: deltalake::DeltaTableError, table: &deltalake::DeltaTable, context: &str) -> SqlError {
    let text = err.to_string();
    let Some(pos) = text.find("rows failed validation check") else {
        return SqlError::Delta(err);
    };
    let count = text[..pos].rsplit(' ').nth(1).unwrap_or("some");
    let preview = text.split_once("Preview of invalid data:").map(|(_, p)| p.trim()).unwrap_or("");
    let mut rules = Vec::new();
    if let Ok(state) = table.snapshot() {
        let snapshot = state.snapshot();
        for field in snapshot.arrow_schema().fields() {
            if !field.is_nullable() {
                rules.push(format!("{} NOT NULL", field.name()));
            }
        }
        let mut checks: Vec<_> = snapshot
            .metadata()
            .configuration()
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("delta.constraints.").map(|name| format!("CHECK {name} ({v})")))
            .collect();
        checks.sort();
        rules.extend(checks);
    }
    SqlError::ConstraintViolation(format!(
        "{context}: {count} row(s) violate the table's constraints [{}]; nothing was written. Offending rows:\n{preview}",
        rules.join("; ")
    ))
}

fn has_subquery(expr: &SqlExpr) -> bool {
    struct Finder(bool);
    impl sqlparser::ast::Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &SqlExpr) -> ControlFlow<()> {
            if matches!(expr, SqlExpr::Subquery(_) | SqlExpr::InSubquery { .. } | SqlExpr::Exists { .. }) {
                self.0 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder(false);
    let _ = sqlparser::ast::Visit::visit(expr, &mut finder);
    finder.0
}

/// Lower-case unquoted identifiers, so expressions handed to `deltalake` as SQL text (which it
/// parses case-sensitively) name columns the way DataFusion resolved them.
pub(crate) fn normalize_idents(expr: &SqlExpr) -> SqlExpr {
    struct Lower;
    impl VisitorMut for Lower {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &mut SqlExpr) -> ControlFlow<()> {
            match expr {
                SqlExpr::Identifier(id) if id.quote_style.is_none() => id.value = id.value.to_ascii_lowercase(),
                SqlExpr::CompoundIdentifier(ids) => {
                    for id in ids.iter_mut().filter(|i| i.quote_style.is_none()) {
                        id.value = id.value.to_ascii_lowercase();
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut out = expr.clone();
    let _ = out.visit(&mut Lower);
    out
}

/// `expr` as the session's analyzer leaves it in a query — Spark's semantics that analyzer rules
/// decide (collations, CHAR padding, common types) apply to a DELETE / UPDATE condition or an
/// UPDATE value as they do to a SELECT's: the expression is analyzed as a projection over a
/// relation with the table's columns.
fn analyzed(state: &SessionState, expr: Expr, schema: &DFSchema) -> Result<Expr> {
    use datafusion::logical_expr::{EmptyRelation, LogicalPlan, Projection};
    let relation = LogicalPlan::EmptyRelation(EmptyRelation { produce_one_row: false, schema: Arc::new(schema.clone()) });
    let plan = LogicalPlan::Projection(Projection::try_new(vec![expr.alias("__tarn_expr")], Arc::new(relation))?);
    let analyzed = state.analyzer().execute_and_check(plan, state.config_options(), |_, _| {})?;
    match analyzed {
        LogicalPlan::Projection(mut p) if p.expr.len() == 1 => Ok(p.expr.remove(0).unalias()),
        other => Err(SqlError::Unsupported(format!("cannot plan this expression on its own: {}", other.display()))),
    }
}

/// Plan a SQL expression against a table's columns (qualified by `qualifier` or not), and
/// strip the qualifiers so `deltalake` resolves the columns against its own schema.
pub(crate) fn table_expr(state: &SessionState, expr: &SqlExpr, schema: &DFSchema) -> Result<Expr> {
    table_expr_with(state, expr, schema, &super::subqueries::Answers::default())
}

/// [`table_expr`] of an expression whose subqueries [`super::subqueries::run_subqueries`] ran.
pub(crate) fn table_expr_with(
    state: &SessionState,
    expr: &SqlExpr,
    schema: &DFSchema,
    answers: &super::subqueries::Answers,
) -> Result<Expr> {
    if has_subquery(expr) {
        return Err(SqlError::Unsupported(format!(
            "subqueries are not supported in this condition ('{expr}'); \
             use MERGE INTO ... USING (subquery) ON ... WHEN MATCHED THEN UPDATE/DELETE instead"
        )));
    }
    let planned = state.create_logical_expr_from_sql_expr(SqlExprWithAlias { expr: expr.clone(), alias: None }, schema)?;
    let planned = super::subqueries::substitute(planned, answers)?;
    let planned = analyzed(state, planned, schema)?;
    let unqualified = planned
        .transform(|e| {
            Ok(match e {
                Expr::Column(c) if c.relation.is_some() => {
                    Transformed::yes(Expr::Column(datafusion::common::Column::new_unqualified(c.name)))
                }
                other => Transformed::no(other),
            })
        })
        .map_err(SqlError::from)?;
    Ok(unqualified.data)
}

/// The name a table or view renamed to `new_name` gets: a bare new name stays in the object's
/// own schema (Postgres, Unity Catalog), not the session's current one.
pub(crate) fn beside(from: &tarn_catalog::TableIdent, new_name: &sqlparser::ast::ObjectName) -> sqlparser::ast::ObjectName {
    use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};
    match new_name.0.as_slice() {
        [part] => ObjectName(vec![
            ObjectNamePart::Identifier(Ident::with_quote('`', from.catalog.clone())),
            ObjectNamePart::Identifier(Ident::with_quote('`', from.schema.clone())),
            part.clone(),
        ]),
        _ => new_name.clone(),
    }
}
