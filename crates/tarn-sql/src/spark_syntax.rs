//! Spark SQL syntax that sqlparser reads but DataFusion would plan differently, rewritten to
//! the form DataFusion plans as Spark means it (see `tarn_engine::spark` for the semantics
//! decided in the session itself):
//!
//! - `GROUP BY a, b WITH ROLLUP` / `WITH CUBE` / `GROUP BY a, b GROUPING SETS ((a), (b))`
//!   (Hive's forms, which DataFusion would run as a plain `GROUP BY a, b`) become
//!   `GROUP BY ROLLUP (a, b)` / `CUBE (a, b)` / `GROUPING SETS (...)`.
//! - Spark's cast functions `int(x)`, `bigint(x)`, `double(x)`, `string(x)`, ... (one argument,
//!   Spark's own aliases of `CAST(x AS type)`) become that cast.
//! - `EXISTS (SELECT count(*) FROM .. WHERE ..)` — a query of aggregates without `GROUP BY`,
//!   which always returns one row — is `TRUE` (`NOT EXISTS` is `FALSE`). DataFusion 55
//!   decorrelates it into a semi join that keeps only the rows with matches (the "count bug").
//! - `EXCEPT ALL` / `INTERSECT ALL` are refused: DataFusion 55 plans them as anti / semi joins,
//!   which keep every duplicate of a row instead of subtracting or intersecting multiplicities
//!   (`{1,1,1} EXCEPT ALL {1}` would give nothing where Spark gives `{1,1}`).

use std::ops::ControlFlow;

use sqlparser::ast::{
    CastKind, DataType, ExactNumberInfo, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, GroupByWithModifier,
    ObjectNamePart, Query, SetExpr, SetOperator, SetQuantifier, Statement, TimezoneInfo, VisitMut, VisitorMut,
};

use crate::error::{Result, SqlError};

/// Rewrites `statement` in place; refuses what Spark would not run either.
pub(crate) fn rewrite(statement: &mut Statement) -> Result<()> {
    let mut rewriter = Rewriter;
    match VisitMut::visit(statement, &mut rewriter) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(e),
    }
}

struct Rewriter;

impl VisitorMut for Rewriter {
    type Break = SqlError;

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SqlError> {
        if let Some(cast) = cast_function(expr) {
            *expr = cast;
        }
        if let Expr::Exists { subquery, negated } = expr
            && returns_one_row(subquery)
        {
            *expr = Expr::Value(sqlparser::ast::Value::Boolean(!*negated).into());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<SqlError> {
        match rewrite_set_expr(&mut query.body) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }
}

fn rewrite_set_expr(body: &mut SetExpr) -> Result<()> {
    match body {
        SetExpr::Select(select) => group_by_modifiers(&mut select.group_by),
        SetExpr::SetOperation { left, right, op, set_quantifier } => {
            if matches!(op, SetOperator::Except | SetOperator::Intersect | SetOperator::Minus) && *set_quantifier == SetQuantifier::All {
                return Err(SqlError::Unsupported(format!(
                    "{op} ALL: Tarn cannot yet keep Spark's multiplicities for it; use {op} (DISTINCT), or count rows per group and compare"
                )));
            }
            rewrite_set_expr(left)?;
            rewrite_set_expr(right)
        }
        _ => Ok(()),
    }
}

fn group_by_modifiers(group_by: &mut GroupByExpr) -> Result<()> {
    match group_by {
        GroupByExpr::All(modifiers) if !modifiers.is_empty() => {
            Err(SqlError::Unsupported("GROUP BY ALL with WITH ROLLUP / WITH CUBE / GROUPING SETS".into()))
        }
        GroupByExpr::Expressions(exprs, modifiers) if !modifiers.is_empty() => {
            let [modifier] = modifiers.as_slice() else {
                return Err(SqlError::user("GROUP BY takes one of WITH ROLLUP, WITH CUBE or GROUPING SETS, not several"));
            };
            let sets = || exprs.iter().map(|e| vec![e.clone()]).collect::<Vec<_>>();
            let grouping = match modifier {
                GroupByWithModifier::Rollup => Expr::Rollup(sets()),
                GroupByWithModifier::Cube => Expr::Cube(sets()),
                GroupByWithModifier::GroupingSets(sets) => sets.clone(),
                GroupByWithModifier::Totals => {
                    return Err(SqlError::user("WITH TOTALS is not Spark SQL; use WITH ROLLUP or GROUPING SETS"));
                }
            };
            *group_by = GroupByExpr::Expressions(vec![grouping], Vec::new());
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `int(x)` and its kin as `CAST(x AS INT)`.
fn cast_function(expr: &Expr) -> Option<Expr> {
    let Expr::Function(function) = expr else { return None };
    let [ObjectNamePart::Identifier(name)] = function.name.0.as_slice() else { return None };
    if name.quote_style.is_some() || function.over.is_some() || function.filter.is_some() || !function.within_group.is_empty() {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else { return None };
    let ([FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))], None, true) =
        (list.args.as_slice(), &list.duplicate_treatment, list.clauses.is_empty())
    else {
        return None;
    };
    let data_type = match name.value.to_ascii_lowercase().as_str() {
        "boolean" => DataType::Boolean,
        "tinyint" => DataType::TinyInt(None),
        "smallint" => DataType::SmallInt(None),
        "int" => DataType::Int(None),
        "bigint" => DataType::BigInt(None),
        "float" => DataType::Float(ExactNumberInfo::None),
        "double" => DataType::Double(ExactNumberInfo::None),
        "decimal" => DataType::Decimal(ExactNumberInfo::PrecisionAndScale(10, 0)),
        "string" => DataType::String(None),
        "binary" => DataType::Binary(None),
        "timestamp" => DataType::Timestamp(None, TimezoneInfo::None),
        _ => return None,
    };
    Some(Expr::Cast { kind: CastKind::Cast, expr: Box::new(arg.clone()), data_type, array: false, format: None })
}

/// Aggregates every query of them returns exactly one row of (without GROUP BY).
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "mean",
    "min",
    "max",
    "count_if",
    "collect_list",
    "collect_set",
    "array_agg",
    "first",
    "last",
    "first_value",
    "last_value",
    "any_value",
    "bool_and",
    "bool_or",
    "every",
    "some",
    "any",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "variance",
    "var_samp",
    "var_pop",
    "approx_count_distinct",
    "median",
    "percentile",
    "percentile_approx",
];

/// Whether `query` is `SELECT <aggregates> FROM .. [WHERE ..]` with no GROUP BY, HAVING,
/// DISTINCT, LIMIT or OFFSET: SQL gives exactly one row for it, whatever the tables hold.
fn returns_one_row(query: &Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else { return false };
    let no_groups = matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty());
    let plain = query.with.is_none()
        && query.limit_clause.is_none()
        && query.fetch.is_none()
        && select.having.is_none()
        && select.qualify.is_none()
        && select.distinct.is_none()
        && no_groups
        && !select.projection.is_empty();
    plain
        && select.projection.iter().all(|item| {
            let (sqlparser::ast::SelectItem::UnnamedExpr(e) | sqlparser::ast::SelectItem::ExprWithAlias { expr: e, .. }) = item else {
                return false;
            };
            let Expr::Function(f) = e else { return false };
            let [ObjectNamePart::Identifier(name)] = f.name.0.as_slice() else { return false };
            f.over.is_none() && AGGREGATES.contains(&name.value.to_ascii_lowercase().as_str())
        })
}
