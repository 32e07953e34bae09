//! Whether a materialized view's query can be refreshed from its source's new rows alone.
//!
//! Two shapes can, when the one source only gained rows since the last refresh:
//! - **rows**: filters and projections of one table (no aggregate, window, DISTINCT, LIMIT):
//!   the new rows' result is appended;
//! - **aggregate**: `SELECT keys..., sum|count|min|max(...)... FROM t [WHERE ...] GROUP BY keys`:
//!   the new rows are aggregated and combined with the stored groups (sums and counts add up,
//!   minima and maxima compare).
//!
//! Anything else is recomputed in full; the reason is what the event log records.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, FunctionArguments, GroupByExpr, Query, SelectItem, SetExpr, TableFactor, Value, Visit, Visitor};

/// How a stored column combines with the same column of new rows' partial result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    Key,
    Sum,
    Min,
    Max,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    Rows,
    /// One entry per output column, in order.
    Aggregate(Vec<Combine>),
}

struct FindsAggregates<'a> {
    aggregates: &'a HashSet<String>,
    found: Option<String>,
}

impl Visitor for FindsAggregates<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = expr {
            let name = f.name.to_string().to_ascii_lowercase();
            if f.over.is_some() || self.aggregates.contains(&name) {
                self.found = Some(expr.to_string());
                return ControlFlow::Break(());
            }
        }
        if matches!(expr, Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }) {
            self.found = Some(expr.to_string());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

fn aggregate_in(expr: &impl Visit, aggregates: &HashSet<String>) -> Option<String> {
    let mut finder = FindsAggregates { aggregates, found: None };
    let _ = expr.visit(&mut finder);
    finder.found
}

/// The combinable aggregate an expression is, if it is exactly one.
fn combinable(expr: &Expr, aggregates: &HashSet<String>) -> Option<Combine> {
    let Expr::Function(f) = expr else { return None };
    if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else { return None };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return None;
    }
    // Its arguments must be plain row expressions.
    for arg in &list.args {
        if aggregate_in(arg, aggregates).is_some() {
            return None;
        }
    }
    match f.name.to_string().to_ascii_lowercase().as_str() {
        "sum" | "count" => Some(Combine::Sum),
        "min" => Some(Combine::Min),
        "max" => Some(Combine::Max),
        _ => None,
    }
}

/// The query's shape, or why it has to be recomputed in full. `aggregates` holds the names
/// of every aggregate function the session knows.
pub fn analyze(query: &Query, aggregates: &HashSet<String>) -> Result<Shape, String> {
    if query.with.is_some() {
        return Err("the query has a WITH clause".into());
    }
    if query.order_by.is_some() || query.limit_clause.is_some() || query.fetch.is_some() {
        return Err("the query has ORDER BY, LIMIT or FETCH".into());
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Err("the query is not a single SELECT".into());
    };
    if select.distinct.is_some() || select.having.is_some() || select.qualify.is_some() || !select.named_window.is_empty() {
        return Err("the query uses DISTINCT, HAVING, QUALIFY or WINDOW".into());
    }
    if !select.lateral_views.is_empty() || !select.cluster_by.is_empty() || !select.distribute_by.is_empty() || !select.sort_by.is_empty() {
        return Err("the query uses LATERAL VIEW or CLUSTER/DISTRIBUTE/SORT BY".into());
    }
    if select.from.len() != 1 || !select.from[0].joins.is_empty() {
        return Err("the query reads more than one relation (a join)".into());
    }
    if !matches!(select.from[0].relation, TableFactor::Table { args: None, .. }) {
        return Err("the query reads a subquery or table function".into());
    }
    if let Some(selection) = &select.selection
        && let Some(found) = aggregate_in(selection, aggregates)
    {
        return Err(format!("the WHERE clause holds {found}"));
    }
    let keys: Vec<Expr> = match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs.clone(),
        _ => return Err("the query uses GROUP BY ALL, ROLLUP, CUBE or GROUPING SETS".into()),
    };
    let has_aggregate = select.projection.iter().any(|item| aggregate_in(item, aggregates).is_some());
    if keys.is_empty() && !has_aggregate {
        return Ok(Shape::Rows);
    }
    let mut combines = Vec::with_capacity(select.projection.len());
    let mut matched_keys = vec![false; keys.len()];
    for (i, item) in select.projection.iter().enumerate() {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.to_ascii_lowercase())),
            _ => return Err("an aggregate query selects * (list its columns)".into()),
        };
        if let Some(c) = combinable(expr, aggregates) {
            combines.push(c);
            continue;
        }
        let text = expr.to_string().to_ascii_lowercase();
        let key = keys.iter().position(|k| {
            let k_text = k.to_string().to_ascii_lowercase();
            k_text == text
                || alias.as_deref() == Some(k_text.as_str())
                || matches!(k, Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n.parse::<usize>().ok() == Some(i + 1)))
        });
        match key {
            Some(k) => {
                matched_keys[k] = true;
                combines.push(Combine::Key);
            }
            None => {
                return Err(format!("column {} ({expr}) is neither a GROUP BY key nor a sum, count, min or max", i + 1));
            }
        }
    }
    if let Some(k) = matched_keys.iter().position(|m| !m) {
        return Err(format!("GROUP BY key {} is not one of the selected columns", keys[k]));
    }
    Ok(Shape::Aggregate(combines))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(sql: &str) -> Result<Shape, String> {
        let dialect = tarn_sql::parser::dialect();
        let query = sqlparser::parser::Parser::new(&dialect).try_with_sql(sql).and_then(|mut p| p.parse_query()).expect("parses");
        let aggregates: HashSet<String> = ["sum", "count", "min", "max", "avg"].iter().map(|s| s.to_string()).collect();
        analyze(&query, &aggregates)
    }

    #[test]
    fn filters_projections_and_decomposable_aggregates_are_incremental() {
        assert_eq!(shape("SELECT a, b * 2 AS c FROM t WHERE a > 1"), Ok(Shape::Rows));
        assert_eq!(shape("SELECT * FROM t"), Ok(Shape::Rows));
        assert_eq!(
            shape("SELECT date(ts) d, sum(amount) revenue, count(*) n, min(x), max(x) FROM t WHERE x > 0 GROUP BY 1"),
            Ok(Shape::Aggregate(vec![Combine::Key, Combine::Sum, Combine::Sum, Combine::Min, Combine::Max]))
        );
        assert_eq!(shape("SELECT count(*) FROM t"), Ok(Shape::Aggregate(vec![Combine::Sum])));
        assert_eq!(shape("SELECT k, sum(v) FROM t GROUP BY k"), Ok(Shape::Aggregate(vec![Combine::Key, Combine::Sum])));
    }

    #[test]
    fn everything_else_is_recomputed_with_a_reason() {
        for (sql, reason) in [
            ("SELECT k, avg(v) FROM t GROUP BY k", "neither a GROUP BY key"),
            ("SELECT k, count(DISTINCT v) FROM t GROUP BY k", "neither"),
            ("SELECT a.k FROM t a JOIN u b ON a.k = b.k", "join"),
            ("SELECT DISTINCT k FROM t", "DISTINCT"),
            ("SELECT k FROM t ORDER BY k LIMIT 3", "LIMIT"),
            ("SELECT sum(v) FROM t GROUP BY k", "not one of the selected"),
            ("SELECT k, sum(v) / count(v) FROM t GROUP BY k", "neither"),
        ] {
            let got = shape(sql).expect_err(sql);
            assert!(got.contains(reason), "{sql}: {got}");
        }
    }
}
