//! Correlated subqueries DataFusion's own rules leave behind, unnested with a domain join.
//!
//! DataFusion decorrelates a subquery by pulling its correlated predicates up into a join, which
//! works for equalities above an aggregate and a few other shapes. Spark answers many more:
//! `(SELECT max(b) FROM t WHERE t.a < o.a)`, `EXISTS` / `IN` in a join's `ON` or in the select
//! list, `LATERAL` subqueries with inequalities, `LIMIT` or `UNION` inside the subquery. Those
//! reached the physical planner as subquery expressions and failed ("Physical plan does not
//! support logical expression ..."). This rule runs right after DataFusion's decorrelation rules
//! and rewrites what they left, as Neumann and Kemper's "Unnesting Arbitrary Queries" (and
//! DuckDB, and Spark's `DecorrelateInnerQuery`) do:
//!
//! 1. The **domain** `D` is the distinct values of the outer columns the subquery reads (for
//!    `x IN (..)`, of `x` too).
//! 2. The subquery is rewritten bottom-up to compute its answer for every row of `D` at once: a
//!    part without correlation is cross-joined with `D`; `D`'s columns then ride up through every
//!    operator (added to projections, to `GROUP BY`, to window partitions, to both sides of a set
//!    operation); outer references become `D`'s columns. A scalar aggregate keeps its answer for
//!    an empty input (`count` is 0, not NULL): it is left-joined back to `D`.
//! 3. The outer query left-joins that result on `D`'s columns (NULL-safe) and reads the value:
//!    the scalar, `EXISTS` as "a row matched", `x IN` with SQL's three-valued logic.
//!
//! Anything this rule does not know (grouping sets, deep correlation, a scalar subquery not
//! proven to give one row per outer row) is left as it was, so the statement fails with the
//! error it had — never with a different answer.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchemaRef, NullEquality, Result, ScalarValue, TableReference};
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::expr::{Exists, InSubquery};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::logical_plan::{
    Aggregate, Distinct, FetchType, Filter, Join, JoinConstraint, JoinType, Limit, Projection, SkipType, Sort, Subquery, SubqueryAlias,
    Union, Window,
};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{BinaryExpr, Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, Operator, col, lit, when};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// Which subqueries an instance of the rule takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Before DataFusion's rules: subqueries with a scalar aggregate (the "count bug"), which
    /// DataFusion 55 answers wrongly in some shapes — `x IN (SELECT count(*) + 1 ..)` found no
    /// row for an outer value with no match, `(SELECT count(*) ..) IS NULL` was NULL.
    ScalarAggregates,
    /// After DataFusion's rules: every subquery they left.
    Remaining,
}

#[derive(Debug)]
pub struct DecorrelateGeneral {
    scope: Scope,
}

impl DecorrelateGeneral {
    pub fn new(scope: Scope) -> Self {
        DecorrelateGeneral { scope }
    }
}

impl OptimizerRule for DecorrelateGeneral {
    fn name(&self) -> &str {
        match self.scope {
            Scope::ScalarAggregates => "tarn_decorrelate_scalar_aggregates",
            Scope::Remaining => "tarn_decorrelate_remaining",
        }
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        if !has_subquery(&plan) {
            return Ok(Transformed::no(plan));
        }
        // Inner subqueries first: one that reads its own parent's columns is unnested before
        // the parent is.
        plan.transform_up_with_subqueries(|node| rewrite_node(node, self.scope, config))
    }
}

/// Whether a subquery expression or a lateral subquery is anywhere in `plan`.
fn has_subquery(plan: &LogicalPlan) -> bool {
    plan.exists(|node| {
        Ok(matches!(node, LogicalPlan::Subquery(_))
            || node.expressions().iter().any(|e| e.exists(|e| Ok(is_subquery_expr(e))).unwrap_or(false)))
    })
    .unwrap_or(false)
}

pub(super) fn is_subquery_expr(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_) | Expr::SetComparison(_))
}

/// The subquery expressions of `expr` this rule unnests, outermost first. A scalar subquery
/// without correlation is left to DataFusion, which runs it once.
fn unnestable(expr: &Expr, scope: Scope) -> Vec<Expr> {
    let mut found = Vec::new();
    if scope == Scope::ScalarAggregates {
        three_valued_in_subqueries(expr, Position::Conjunct, &mut found);
    }
    let _ = expr.apply(|e| {
        let take = match (e, scope) {
            (Expr::ScalarSubquery(s), Scope::Remaining) => !outer_columns(&s.subquery).is_empty(),
            (Expr::Exists(_) | Expr::InSubquery(_), Scope::Remaining) => true,
            // A scalar subquery is answered wrongly only where the empty aggregate is not NULL.
            (Expr::ScalarSubquery(s), Scope::ScalarAggregates) => {
                !outer_columns(&s.subquery).is_empty()
                    && (has_scalar_aggregate(&s.subquery, true) || has_correlated_join_input(&s.subquery))
            }
            (Expr::Exists(Exists { subquery, .. }) | Expr::InSubquery(InSubquery { subquery, .. }), Scope::ScalarAggregates) => {
                !outer_columns(&subquery.subquery).is_empty()
                    && (has_scalar_aggregate(&subquery.subquery, false) || has_correlated_join_input(&subquery.subquery))
            }
            _ => false,
        };
        if take {
            if !found.contains(e) {
                found.push(e.clone());
            }
            return Ok(TreeNodeRecursion::Jump);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// Where an `IN (subquery)` sits in a predicate, from the root down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Under ANDs only: a row is kept only when it is TRUE.
    Conjunct,
    /// Under ANDs and ORs: FALSE and NULL still drop the row alike.
    Positive,
    /// Anywhere else (under NOT, IS NULL, CASE, a function, ...).
    Other,
}

/// The `IN (subquery)` expressions of `expr` whose NULL answer matters where they sit, which
/// DataFusion's mark join (TRUE or FALSE, never NULL) would answer wrongly — `dept_id NOT IN
/// (..)` under an OR kept rows whose `dept_id` is NULL. EXISTS is never NULL, and a NOT IN
/// that is a whole conjunct is DataFusion's null-aware anti join, unless it is correlated.
fn three_valued_in_subqueries(expr: &Expr, position: Position, found: &mut Vec<Expr>) {
    match expr {
        Expr::BinaryExpr(b) if matches!(b.op, Operator::And | Operator::Or) => {
            let inner = match (b.op, position) {
                (_, Position::Other) => Position::Other,
                (Operator::And, p) => p,
                _ => Position::Positive,
            };
            three_valued_in_subqueries(&b.left, inner, found);
            three_valued_in_subqueries(&b.right, inner, found);
        }
        Expr::InSubquery(i) => {
            let safe = match position {
                // DataFusion's null-aware anti join takes one key: a correlated NOT IN (the
                // correlation is a second key) failed ("only supports single column join key").
                Position::Conjunct => !i.negated || outer_columns(&i.subquery.subquery).is_empty(),
                Position::Positive => !i.negated,
                Position::Other => false,
            };
            if !safe && !found.contains(expr) {
                found.push(expr.clone());
            }
        }
        other => {
            let _ = other.apply_children(|child| {
                three_valued_in_subqueries(child, Position::Other, found);
                Ok(TreeNodeRecursion::Continue)
            });
        }
    }
}

/// Whether `plan` aggregates without GROUP BY somewhere (with `non_null_when_empty`: an
/// aggregate whose answer over no rows is not NULL, as `count`'s 0).
fn has_scalar_aggregate(plan: &LogicalPlan, non_null_when_empty: bool) -> bool {
    plan.exists(|node| {
        let LogicalPlan::Aggregate(aggregate) = node else { return Ok(false) };
        if !aggregate.group_expr.is_empty() {
            return Ok(false);
        }
        if !non_null_when_empty {
            return Ok(true);
        }
        Ok(aggregate.aggr_expr.iter().zip(aggregate.schema.fields()).any(|(expr, field)| match expr.clone().unalias() {
            Expr::AggregateFunction(f) => f.func.default_value(field.data_type()).is_ok_and(|v| !v.is_null()),
            _ => false,
        }))
    })
    .unwrap_or(false)
}

/// Whether a join or a set operation in `plan` (INTERSECT / EXCEPT are semi / anti joins) has
/// an input that reads outer columns. DataFusion's rules pull such a correlated predicate up
/// past the projection above it, where its column is gone (`SELECT t1c AS c FROM t1 WHERE t1a =
/// o.a INTERSECT ..` failed with "No field named left.t1a"); this rule takes them first.
fn has_correlated_join_input(plan: &LogicalPlan) -> bool {
    let correlated = |input: &LogicalPlan| !input.all_out_ref_exprs().is_empty();
    plan.exists(|node| {
        Ok(match node {
            LogicalPlan::Join(join) => correlated(&join.left) || correlated(&join.right),
            LogicalPlan::Union(union) => union.inputs.iter().any(|input| correlated(input)),
            _ => false,
        })
    })
    .unwrap_or(false)
}

/// The outer columns a subquery's plan reads, in order of first use.
fn outer_columns(plan: &LogicalPlan) -> Vec<Column> {
    let mut columns = Vec::new();
    for expr in plan.all_out_ref_exprs() {
        if let Expr::OuterReferenceColumn(_, column) = expr
            && !columns.contains(&column)
        {
            columns.push(column);
        }
    }
    columns
}

fn rewrite_node(node: LogicalPlan, scope: Scope, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
    let rewritten = match &node {
        LogicalPlan::Join(join) => match lateral_subquery(&join.right) {
            // A lateral subquery that reads no table runs on its left rows directly.
            // DataFusion's lateral rule loses the empty aggregate's value: `LATERAL (SELECT
            // sum(cnt) FROM (SELECT count(*) cnt .. WHERE t2.c1 = t1.c1))` gave NULL, not 0.
            Some((subquery, _)) if scope == Scope::ScalarAggregates => match super::lateral::inline(join, config)? {
                Some(inlined) => Some(inlined),
                None if has_scalar_aggregate(&subquery.subquery, true) => rewrite_lateral(join, config)?,
                None => None,
            },
            Some(_) => rewrite_lateral(join, config)?,
            None => rewrite_join_condition(join, scope, config)?,
        },
        LogicalPlan::Projection(_) | LogicalPlan::Filter(_) | LogicalPlan::Aggregate(_) | LogicalPlan::Sort(_) | LogicalPlan::Window(_) => {
            rewrite_single_input(&node, scope, config)?
        }
        _ => None,
    };
    Ok(rewritten.map_or(Transformed::no(node), Transformed::yes))
}

/// `node` (one input) with each of its subquery expressions read from a join of its input
/// with the unnested subquery; the same output schema.
fn rewrite_single_input(node: &LogicalPlan, scope: Scope, config: &dyn OptimizerConfig) -> Result<Option<LogicalPlan>> {
    let expressions = node.expressions();
    let mut subqueries = Vec::new();
    for expr in &expressions {
        for subquery in unnestable(expr, scope) {
            if !subqueries.contains(&subquery) {
                subqueries.push(subquery);
            }
        }
    }
    if subqueries.is_empty() {
        return Ok(None);
    }
    let [input] = node.inputs()[..] else { return Ok(None) };
    let mut input = input.clone();
    let mut values = Vec::new();
    for subquery in &subqueries {
        let Some((joined, value)) = attach(input, subquery, config)? else { return Ok(None) };
        input = joined;
        values.push(value);
    }
    let names = NamePreserver::new(node);
    let expressions = expressions
        .into_iter()
        .map(|expr| {
            let saved = names.save(&expr);
            let replaced = replace_exprs(expr, &subqueries, &values)?;
            Ok(saved.restore(replaced))
        })
        .collect::<Result<Vec<_>>>()?;
    let rebuilt = node.with_new_exprs(expressions, vec![input])?;
    Ok(Some(restore_schema(rebuilt, node.schema())?))
}

/// `expr` with every occurrence of `from[i]` replaced by `to[i]`.
fn replace_exprs(expr: Expr, from: &[Expr], to: &[Expr]) -> Result<Expr> {
    expr.transform_down(|e| match from.iter().position(|f| f == &e) {
        Some(i) => Ok(Transformed::new(to[i].clone(), true, TreeNodeRecursion::Jump)),
        None => Ok(Transformed::no(e)),
    })
    .map(|t| t.data)
}

/// `plan` narrowed to the columns of `schema` (the node's original output) when it has more.
fn restore_schema(plan: LogicalPlan, schema: &DFSchemaRef) -> Result<LogicalPlan> {
    if plan.schema().fields().len() == schema.fields().len() {
        return Ok(plan);
    }
    let columns = schema.iter().map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name()))).collect();
    Ok(LogicalPlan::Projection(Projection::try_new(columns, Arc::new(plan))?))
}

/// A join's `ON` with subquery expressions: each is computed on the side whose columns it
/// reads; an inner join's condition that reads both sides moves into a filter above it.
fn rewrite_join_condition(join: &Join, scope: Scope, config: &dyn OptimizerConfig) -> Result<Option<LogicalPlan>> {
    let Some(filter) = &join.filter else { return Ok(None) };
    if unnestable(filter, scope).is_empty() {
        return Ok(None);
    }
    let mut left = join.left.as_ref().clone();
    let mut right = join.right.as_ref().clone();
    let mut kept = Vec::new();
    let mut above = Vec::new();
    for conjunct in split_conjunction(filter) {
        let subqueries = unnestable(conjunct, scope);
        if subqueries.is_empty() {
            kept.push(conjunct.clone());
            continue;
        }
        let mut values = Vec::new();
        let mut moved = false;
        for subquery in &subqueries {
            let outer = subquery_outer_columns(subquery);
            if outer.iter().all(|c| left.schema().has_column(c)) {
                let Some((joined, value)) = attach(left, subquery, config)? else { return Ok(None) };
                left = joined;
                values.push(value);
            } else if outer.iter().all(|c| right.schema().has_column(c)) {
                let Some((joined, value)) = attach(right, subquery, config)? else { return Ok(None) };
                right = joined;
                values.push(value);
            } else if join.join_type == JoinType::Inner {
                moved = true;
                break;
            } else {
                return Ok(None);
            }
        }
        if moved {
            above.push(conjunct.clone());
        } else {
            kept.push(replace_exprs(conjunct.clone(), &subqueries, &values)?);
        }
    }
    let rebuilt = LogicalPlan::Join(Join::try_new(
        Arc::new(left),
        Arc::new(right),
        join.on.clone(),
        conjunction(kept),
        join.join_type,
        join.join_constraint,
        join.null_equality,
        join.null_aware,
    )?);
    let mut plan = restore_schema(rebuilt, &join.schema)?;
    if let Some(predicate) = conjunction(above) {
        let filter = LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(plan))?);
        plan = match rewrite_single_input(&filter, scope, config)? {
            Some(plan) => plan,
            None => return Ok(None),
        };
    }
    Ok(Some(plan))
}

/// The outer columns a subquery expression reads (for `x IN (..)`, also `x`'s columns).
fn subquery_outer_columns(expr: &Expr) -> Vec<Column> {
    match expr {
        Expr::ScalarSubquery(s) => outer_columns(&s.subquery),
        Expr::Exists(e) => outer_columns(&e.subquery.subquery),
        Expr::InSubquery(i) => {
            let mut columns = outer_columns(&i.subquery.subquery);
            for c in i.expr.column_refs() {
                if !columns.contains(c) {
                    columns.push(c.clone());
                }
            }
            columns
        }
        _ => Vec::new(),
    }
}

/// The subquery of a lateral join's right side, and the alias it is read under.
pub(super) fn lateral_subquery(right: &LogicalPlan) -> Option<(&Subquery, Option<&TableReference>)> {
    match right {
        LogicalPlan::Subquery(s) if !outer_columns(&s.subquery).is_empty() => Some((s, None)),
        LogicalPlan::SubqueryAlias(alias) => match alias.input.as_ref() {
            LogicalPlan::Subquery(s) if !outer_columns(&s.subquery).is_empty() => Some((s, Some(&alias.alias))),
            _ => None,
        },
        _ => None,
    }
}

/// `left [LEFT] JOIN LATERAL (subquery)`: the subquery unnested over the domain of `left`'s
/// columns it reads, joined to `left` on them.
fn rewrite_lateral(join: &Join, config: &dyn OptimizerConfig) -> Result<Option<LogicalPlan>> {
    if !matches!(join.join_type, JoinType::Inner | JoinType::Left) || !join.on.is_empty() {
        return Ok(None);
    }
    let Some((subquery, alias)) = lateral_subquery(&join.right) else { return Ok(None) };
    let outer = outer_columns(&subquery.subquery);
    if !outer.iter().all(|c| join.left.schema().has_column(c)) {
        return Ok(None);
    }
    let domain = Domain::new(&join.left, outer.iter().map(|c| Expr::Column(c.clone())).collect(), config)?;
    let Some((mut right, mut columns)) = domain.unnest(&subquery.subquery)? else { return Ok(None) };
    if let Some(alias) = alias {
        right = LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(Arc::new(right), alias.clone())?);
        columns = requalify(&columns, alias);
    }
    let (on, keys_filter) = domain.keys(&columns, right.schema())?;
    let filter = match (join.filter.clone(), keys_filter) {
        (Some(a), Some(b)) => Some(a.and(b)),
        (a, b) => a.or(b),
    };
    let rebuilt = LogicalPlan::Join(Join::try_new(
        Arc::clone(&join.left),
        Arc::new(right),
        on,
        filter,
        join.join_type,
        JoinConstraint::On,
        NullEquality::NullEqualsNothing,
        false,
    )?);
    Ok(Some(restore_schema(rebuilt, &join.schema)?))
}

/// `input` joined with the unnested `subquery`, and the expression that reads its value.
fn attach(input: LogicalPlan, subquery: &Expr, config: &dyn OptimizerConfig) -> Result<Option<(LogicalPlan, Expr)>> {
    let outer: Vec<Expr> = match subquery {
        Expr::ScalarSubquery(s) => outer_columns(&s.subquery).into_iter().map(Expr::Column).collect(),
        Expr::Exists(e) => outer_columns(&e.subquery.subquery).into_iter().map(Expr::Column).collect(),
        Expr::InSubquery(i) => {
            let mut outer: Vec<Expr> = outer_columns(&i.subquery.subquery).into_iter().map(Expr::Column).collect();
            outer.push(i.expr.as_ref().clone());
            outer
        }
        _ => return Ok(None),
    };
    if !outer.iter().all(|e| e.column_refs().iter().all(|c| input.schema().has_column(c))) {
        return Ok(None);
    }
    let domain = Domain::new(&input, outer, config)?;
    let alias = TableReference::bare(config.alias_generator().next("__tarn_subquery"));
    let (value_plan, value) = match subquery {
        Expr::ScalarSubquery(s) => {
            if !one_row_per_outer_row(&s.subquery) {
                return Ok(None);
            }
            let Some((plan, columns)) = domain.unnest(&s.subquery)? else { return Ok(None) };
            let first = plan.schema().qualified_field(0);
            let mut exprs = vec![Expr::Column(Column::from(first)).alias("__tarn_value")];
            exprs.extend(columns.iter().cloned().map(Expr::Column));
            let plan = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(plan))?);
            (plan, col(Column::new(Some(alias.clone()), "__tarn_value")))
        }
        Expr::Exists(Exists { subquery, negated }) => {
            let Some((plan, columns)) = domain.unnest(&subquery.subquery)? else { return Ok(None) };
            let mut exprs = vec![lit(true).alias("__tarn_value")];
            exprs.extend(columns.iter().cloned().map(Expr::Column));
            let plan = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(plan))?);
            let plan = LogicalPlan::Distinct(Distinct::All(Arc::new(plan)));
            let matched = col(Column::new(Some(alias.clone()), "__tarn_value")).is_not_null();
            (plan, if *negated { !matched } else { matched })
        }
        Expr::InSubquery(InSubquery { subquery, negated, .. }) => {
            let Some((plan, columns)) = domain.unnest(&subquery.subquery)? else { return Ok(None) };
            let (probe, columns) = columns.split_last().expect("the domain holds x of x IN (..)");
            let first = plan.schema().qualified_field(0);
            let equal = Expr::Column(Column::from(first)).eq(Expr::Column(probe.clone()));
            // 2: a row equals x; 1: a row compares as unknown (a NULL on either side); 0: none.
            let mark = when(equal.clone(), lit(2i32)).when(equal.is_null(), lit(1i32)).otherwise(lit(0i32))?;
            let mut exprs = vec![mark.alias("__tarn_mark")];
            exprs.extend(columns.iter().cloned().map(Expr::Column));
            exprs.push(Expr::Column(probe.clone()));
            let plan = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(plan))?);
            let mut group: Vec<Expr> = columns.iter().cloned().map(Expr::Column).collect();
            group.push(Expr::Column(probe.clone()));
            let plan =
                LogicalPlanBuilder::from(plan).aggregate(group.clone(), vec![max(col("__tarn_mark")).alias("__tarn_mark")])?.build()?;
            let mut exprs = vec![col("__tarn_mark")];
            exprs.extend(group);
            let plan = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(plan))?);
            let mark = col(Column::new(Some(alias.clone()), "__tarn_mark"));
            let value = when(mark.clone().eq(lit(2i32)), lit(true))
                .when(mark.eq(lit(1i32)), lit(ScalarValue::Boolean(None)))
                .otherwise(lit(false))?;
            (plan, if *negated { !value } else { value })
        }
        _ => return Ok(None),
    };
    let value_plan = LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(Arc::new(value_plan), alias.clone())?);
    let columns: Vec<Column> = value_plan.schema().columns().into_iter().skip(1).collect();
    let (on, filter) = domain.keys(&columns, value_plan.schema())?;
    let joined = LogicalPlan::Join(Join::try_new(
        Arc::new(input),
        Arc::new(value_plan),
        on,
        filter,
        JoinType::Left,
        JoinConstraint::On,
        NullEquality::NullEqualsNothing,
        false,
    )?);
    Ok(Some((joined, value)))
}

/// Whether a scalar subquery's plan gives at most one row for each outer row: a scalar
/// aggregate or `LIMIT 1` at its top (under projections, aliases, HAVING or ORDER BY).
fn one_row_per_outer_row(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Aggregate(a) => a.group_expr.is_empty(),
        LogicalPlan::Limit(limit) => {
            matches!(limit.get_fetch_type(), Ok(FetchType::Literal(Some(0 | 1)))) || one_row_per_outer_row(&limit.input)
        }
        LogicalPlan::Sort(Sort { fetch: Some(0 | 1), .. }) => true,
        LogicalPlan::Projection(Projection { input, .. })
        | LogicalPlan::SubqueryAlias(SubqueryAlias { input, .. })
        | LogicalPlan::Filter(Filter { input, .. })
        | LogicalPlan::Sort(Sort { input, .. }) => one_row_per_outer_row(input),
        _ => false,
    }
}

/// A join's equality keys and the rest of its condition.
type JoinKeys = (Vec<(Expr, Expr)>, Option<Expr>);

/// Join keys matching each expression to a domain column of a side with `schema`, NULL
/// matching NULL: a nullable pair becomes two plain equalities, (value or a default) and
/// (is NULL), so no other condition of the join is ever taken as NULL-safe (DataFusion's
/// `NullEqualsNull` applies to all of a join's keys). A type without a default value is
/// matched with `IS NOT DISTINCT FROM` in the join's filter.
fn null_safe_keys(pairs: impl IntoIterator<Item = (Expr, Column)>, schema: &DFSchemaRef) -> Result<JoinKeys> {
    let mut on = Vec::new();
    let mut filter = Vec::new();
    for (outer, column) in pairs {
        let (_, field) = schema.qualified_field_from_column(&column)?;
        let inner = Expr::Column(column);
        if !field.is_nullable() {
            on.push((outer, inner));
            continue;
        }
        // Arrow's default of a nested type can panic (a map's); those match in the filter.
        let default = if field.data_type().is_nested() { None } else { ScalarValue::new_default(field.data_type()).ok() };
        match default {
            Some(default) if !default.is_null() => {
                on.push((coalesce(vec![outer.clone(), lit(default.clone())]), coalesce(vec![inner.clone(), lit(default)])));
                on.push((outer.is_null(), inner.is_null()));
            }
            _ => filter.push(Expr::BinaryExpr(BinaryExpr::new(Box::new(outer), Operator::IsNotDistinctFrom, Box::new(inner)))),
        }
    }
    Ok((on, conjunction(filter)))
}

fn requalify(columns: &[Column], alias: &TableReference) -> Vec<Column> {
    columns.iter().map(|c| Column::new(Some(alias.clone()), c.name.clone())).collect()
}

/// The distinct values of the outer expressions a subquery reads.
struct Domain<'a> {
    /// `SELECT DISTINCT e0 AS __tarn_d0, .. FROM outer`.
    plan: LogicalPlan,
    /// The outer expressions, as the outer query computes them.
    outer: Vec<Expr>,
    /// The outer columns, for replacing outer references.
    outer_columns: Vec<Option<Column>>,
    config: &'a dyn OptimizerConfig,
}

impl<'a> Domain<'a> {
    fn new(outer_plan: &LogicalPlan, outer: Vec<Expr>, config: &'a dyn OptimizerConfig) -> Result<Self> {
        let exprs = outer.iter().enumerate().map(|(i, e)| e.clone().alias(format!("__tarn_d{i}"))).collect();
        let plan = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(outer_plan.clone()))?);
        let plan = LogicalPlan::Distinct(Distinct::All(Arc::new(plan)));
        let outer_columns = outer.iter().map(|e| if let Expr::Column(c) = e { Some(c.clone()) } else { None }).collect();
        Ok(Domain { plan, outer, outer_columns, config })
    }

    /// A fresh copy of the domain, under its own alias, and its columns.
    fn instance(&self) -> Result<(LogicalPlan, Vec<Column>)> {
        let alias = TableReference::bare(self.config.alias_generator().next("__tarn_domain"));
        let plan = LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(Arc::new(self.plan.clone()), alias.clone())?);
        let columns = (0..self.outer.len()).map(|i| Column::new(Some(alias.clone()), format!("__tarn_d{i}"))).collect();
        Ok((plan, columns))
    }

    /// Join keys matching the outer expressions to `columns` of a right side with `schema`.
    fn keys(&self, columns: &[Column], schema: &DFSchemaRef) -> Result<JoinKeys> {
        null_safe_keys(self.outer.iter().cloned().zip(columns.iter().cloned()), schema)
    }

    /// `plan` computed for every row of the domain: its own columns, then the domain's.
    /// `None` where this rule does not know how.
    fn unnest(&self, plan: &LogicalPlan) -> Result<Option<(LogicalPlan, Vec<Column>)>> {
        // A volatile expression (`rand()`) would run once per distinct outer value rather than
        // once per outer row, so such a subquery is not unnested (Spark refuses it too).
        if has_nested_correlated_subquery(plan) || is_volatile(plan) {
            return Ok(None);
        }
        self.rewrite(plan)
    }

    fn correlated(&self, plan: &LogicalPlan) -> bool {
        !plan.all_out_ref_exprs().is_empty()
    }

    /// Outer references in `expr` replaced by the domain's `columns`; `None` when one is not
    /// a column of the domain (a reference further out).
    fn bind(&self, expr: Expr, columns: &[Column]) -> Result<Option<Expr>> {
        let mut unknown = false;
        let bound = expr
            .transform_up(|e| {
                let Expr::OuterReferenceColumn(_, column) = &e else { return Ok(Transformed::no(e)) };
                match self.outer_columns.iter().position(|c| c.as_ref() == Some(column)) {
                    Some(i) => Ok(Transformed::yes(Expr::Column(columns[i].clone()))),
                    None => {
                        unknown = true;
                        Ok(Transformed::no(e))
                    }
                }
            })?
            .data;
        Ok((!unknown).then_some(bound))
    }

    fn bind_all(&self, exprs: Vec<Expr>, columns: &[Column]) -> Result<Option<Vec<Expr>>> {
        let mut bound = Vec::with_capacity(exprs.len());
        for expr in exprs {
            let Some(expr) = self.bind(expr, columns)? else { return Ok(None) };
            bound.push(expr);
        }
        Ok(Some(bound))
    }

    fn rewrite(&self, plan: &LogicalPlan) -> Result<Option<(LogicalPlan, Vec<Column>)>> {
        if self.outer.is_empty() {
            return Ok(Some((plan.clone(), Vec::new())));
        }
        if !self.correlated(plan) {
            let (domain, columns) = self.instance()?;
            let joined = LogicalPlanBuilder::from(plan.clone()).cross_join(domain)?.build()?;
            return Ok(Some((joined, columns)));
        }
        Ok(match plan {
            LogicalPlan::Filter(filter) => {
                let Some((input, columns)) = self.rewrite(&filter.input)? else { return Ok(None) };
                let Some(predicate) = self.bind(filter.predicate.clone(), &columns)? else { return Ok(None) };
                Some((LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(input))?), columns))
            }
            LogicalPlan::Projection(projection) => {
                let Some((input, columns)) = self.rewrite(&projection.input)? else { return Ok(None) };
                let names = NamePreserver::new(plan);
                let mut exprs = Vec::with_capacity(projection.expr.len() + columns.len());
                for expr in &projection.expr {
                    let saved = names.save(expr);
                    let Some(bound) = self.bind(expr.clone(), &columns)? else { return Ok(None) };
                    exprs.push(saved.restore(bound));
                }
                exprs.extend(columns.iter().cloned().map(Expr::Column));
                Some((LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(input))?), columns))
            }
            LogicalPlan::SubqueryAlias(alias) => {
                let Some((input, columns)) = self.rewrite(&alias.input)? else { return Ok(None) };
                let plan = LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(Arc::new(input), alias.alias.clone())?);
                Some((plan, requalify(&columns, &alias.alias)))
            }
            LogicalPlan::Aggregate(aggregate) => self.rewrite_aggregate(plan, aggregate)?,
            LogicalPlan::Sort(sort) => {
                let Some((input, columns)) = self.rewrite(&sort.input)? else { return Ok(None) };
                let mut exprs = Vec::with_capacity(sort.expr.len());
                for s in &sort.expr {
                    let Some(expr) = self.bind(s.expr.clone(), &columns)? else { return Ok(None) };
                    exprs.push(s.with_expr(expr));
                }
                match sort.fetch {
                    None => Some((LogicalPlan::Sort(Sort { expr: exprs, input: Arc::new(input), fetch: None }), columns)),
                    Some(fetch) => self.first_rows(input, columns, exprs, 0, Some(fetch))?,
                }
            }
            LogicalPlan::Limit(limit) => self.rewrite_limit(limit)?,
            LogicalPlan::Distinct(Distinct::All(input)) => {
                let Some((input, columns)) = self.rewrite(input)? else { return Ok(None) };
                Some((LogicalPlan::Distinct(Distinct::All(Arc::new(input))), columns))
            }
            LogicalPlan::Window(window) => {
                let Some((input, columns)) = self.rewrite(&window.input)? else { return Ok(None) };
                let names = NamePreserver::new(plan);
                let mut exprs = Vec::with_capacity(window.window_expr.len());
                for expr in &window.window_expr {
                    let saved = names.save(expr);
                    let Some(bound) = self.bind(expr.clone(), &columns)? else { return Ok(None) };
                    let partitioned = bound
                        .transform_up(|e| match e {
                            Expr::WindowFunction(mut w) => {
                                w.params.partition_by.extend(columns.iter().cloned().map(Expr::Column));
                                Ok(Transformed::yes(Expr::WindowFunction(w)))
                            }
                            other => Ok(Transformed::no(other)),
                        })?
                        .data;
                    exprs.push(saved.restore(partitioned));
                }
                Some((LogicalPlan::Window(Window::try_new(exprs, Arc::new(input))?), columns))
            }
            LogicalPlan::Union(union) => {
                let mut inputs = Vec::with_capacity(union.inputs.len());
                for input in &union.inputs {
                    let Some((rewritten, columns)) = self.rewrite(input)? else { return Ok(None) };
                    // Each side as its own columns, then the domain's, so they line up by position.
                    let mut exprs: Vec<Expr> = input.schema().columns().into_iter().map(Expr::Column).collect();
                    exprs.extend(columns.into_iter().map(Expr::Column));
                    inputs.push(Arc::new(LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(rewritten))?)));
                }
                let plan = LogicalPlan::Union(Union::try_new_with_loose_types(inputs)?);
                let columns = plan.schema().columns().into_iter().skip(union.schema.fields().len()).collect();
                Some((plan, columns))
            }
            LogicalPlan::Join(join) => self.rewrite_join(join)?,
            _ => None,
        })
    }

    /// GROUP BY adds the domain's columns. A scalar aggregate (no GROUP BY) answers even for a
    /// domain row no input row matches (`count` 0, others NULL): it is left-joined to the domain.
    fn rewrite_aggregate(&self, plan: &LogicalPlan, aggregate: &Aggregate) -> Result<Option<(LogicalPlan, Vec<Column>)>> {
        // An aggregate over an outer column is the outer query's aggregate in Spark, an
        // error where it mixes levels; neither is this rewrite's to answer.
        if aggregate.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) || aggregate.aggr_expr.iter().any(Expr::contains_outer) {
            return Ok(None);
        }
        let Some((input, columns)) = self.rewrite(&aggregate.input)? else { return Ok(None) };
        let Some(mut group) = self.bind_all(aggregate.group_expr.clone(), &columns)? else { return Ok(None) };
        let names = NamePreserver::new(plan);
        let mut aggr = Vec::with_capacity(aggregate.aggr_expr.len());
        for expr in &aggregate.aggr_expr {
            let saved = names.save(expr);
            let Some(bound) = self.bind(expr.clone(), &columns)? else { return Ok(None) };
            aggr.push(saved.restore(bound));
        }
        group.extend(columns.iter().cloned().map(Expr::Column));
        let grouped = LogicalPlan::Aggregate(Aggregate::try_new(Arc::new(input), group, aggr)?);
        if !aggregate.group_expr.is_empty() {
            return Ok(Some((grouped, columns)));
        }
        // The scalar aggregate's rows, marked present, under an alias of their own.
        let alias = TableReference::bare(self.config.alias_generator().next("__tarn_aggregate"));
        let mut exprs: Vec<Expr> = grouped.schema().columns().into_iter().map(Expr::Column).collect();
        exprs.push(lit(true).alias("__tarn_present"));
        let marked = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(grouped))?);
        let marked = LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(Arc::new(marked), alias.clone())?);
        let (domain, domain_columns) = self.instance()?;
        let inner_columns = requalify(&columns, &alias);
        let pairs = domain_columns.iter().cloned().map(Expr::Column).zip(inner_columns);
        let (on, filter) = null_safe_keys(pairs, marked.schema())?;
        let joined = LogicalPlan::Join(Join::try_new(
            Arc::new(domain),
            Arc::new(marked),
            on,
            filter,
            JoinType::Left,
            JoinConstraint::On,
            NullEquality::NullEqualsNothing,
            false,
        )?);
        let present = col(Column::new(Some(alias.clone()), "__tarn_present"));
        let mut exprs = Vec::with_capacity(aggregate.schema.fields().len() + columns.len());
        for ((qualifier, field), expr) in aggregate.schema.iter().zip(&aggregate.aggr_expr) {
            let value = col(Column::new(Some(alias.clone()), field.name()));
            let empty = match expr.clone().unalias() {
                Expr::AggregateFunction(f) => f.func.default_value(field.data_type())?,
                _ => ScalarValue::try_from(field.data_type())?,
            };
            let value = if empty.is_null() { value } else { when(present.clone().is_null(), lit(empty)).otherwise(value)? };
            exprs.push(value.alias_qualified(qualifier.cloned(), field.name()));
        }
        exprs.extend(domain_columns.iter().cloned().map(Expr::Column));
        let plan = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(joined))?);
        Ok(Some((plan, domain_columns)))
    }

    fn rewrite_limit(&self, limit: &Limit) -> Result<Option<(LogicalPlan, Vec<Column>)>> {
        let (SkipType::Literal(skip), FetchType::Literal(fetch)) = (limit.get_skip_type()?, limit.get_fetch_type()?) else {
            return Ok(None);
        };
        let (child, order) = match limit.input.as_ref() {
            LogicalPlan::Sort(Sort { expr, input, fetch: None }) => (input.as_ref(), Some(expr.clone())),
            other => (other, None),
        };
        let Some((input, columns)) = self.rewrite(child)? else { return Ok(None) };
        let order = match order {
            Some(order) => {
                let mut bound = Vec::with_capacity(order.len());
                for s in order {
                    let Some(expr) = self.bind(s.expr.clone(), &columns)? else { return Ok(None) };
                    bound.push(s.with_expr(expr));
                }
                bound
            }
            None => Vec::new(),
        };
        self.first_rows(input, columns, order, skip, fetch)
    }

    /// Rows `skip+1 ..= skip+fetch` of each domain row's group, in `order`: LIMIT per outer row.
    fn first_rows(
        &self,
        input: LogicalPlan,
        columns: Vec<Column>,
        order: Vec<datafusion::logical_expr::SortExpr>,
        skip: usize,
        fetch: Option<usize>,
    ) -> Result<Option<(LogicalPlan, Vec<Column>)>> {
        let name = self.config.alias_generator().next("__tarn_row");
        let number = row_number().partition_by(columns.iter().cloned().map(Expr::Column).collect()).order_by(order).build()?.alias(&name);
        let output: Vec<Expr> = input.schema().columns().into_iter().map(Expr::Column).collect();
        let numbered = LogicalPlan::Window(Window::try_new(vec![number], Arc::new(input))?);
        let position = col(Column::new_unqualified(&name));
        let mut keep = position.clone().gt(lit(skip as u64));
        if let Some(fetch) = fetch {
            keep = keep.and(position.lt_eq(lit((skip + fetch) as u64)));
        }
        let filtered = LogicalPlan::Filter(Filter::try_new(keep, Arc::new(numbered))?);
        Ok(Some((LogicalPlan::Projection(Projection::try_new(output, Arc::new(filtered))?), columns)))
    }

    /// A join inside the subquery: the domain goes to the side that reads it when that side's
    /// rows all reach the output; else to both sides, which then also match on it.
    fn rewrite_join(&self, join: &Join) -> Result<Option<(LogicalPlan, Vec<Column>)>> {
        let condition_correlated = join.filter.as_ref().is_some_and(|f| f.contains_outer())
            || join.on.iter().any(|(l, r)| l.contains_outer() || r.contains_outer());
        let (left_correlated, right_correlated) = (self.correlated(&join.left), self.correlated(&join.right));
        use JoinType::*;
        let left_only =
            !condition_correlated && !right_correlated && matches!(join.join_type, Inner | Left | LeftSemi | LeftAnti | LeftMark);
        let right_only =
            !condition_correlated && !left_correlated && matches!(join.join_type, Inner | Right | RightSemi | RightAnti | RightMark);
        if left_only || right_only {
            let (side, other) = if left_only { (&join.left, &join.right) } else { (&join.right, &join.left) };
            let Some((rewritten, columns)) = self.rewrite(side)? else { return Ok(None) };
            let (left, right) = if left_only { (Arc::new(rewritten), Arc::clone(other)) } else { (Arc::clone(other), Arc::new(rewritten)) };
            let plan = LogicalPlan::Join(Join::try_new(
                left,
                right,
                join.on.clone(),
                join.filter.clone(),
                join.join_type,
                join.join_constraint,
                join.null_equality,
                join.null_aware,
            )?);
            return Ok(Some((plan, columns)));
        }
        if matches!(join.join_type, LeftMark | RightMark) || join.null_aware {
            return Ok(None);
        }
        let Some((left, left_columns)) = self.rewrite(&join.left)? else { return Ok(None) };
        let Some((right, right_columns)) = self.rewrite(&join.right)? else { return Ok(None) };
        // The condition reads the domain from the left (equal to the right's where both match).
        let mut on = Vec::with_capacity(join.on.len());
        for (l, r) in &join.on {
            let (Some(l), Some(r)) = (self.bind(l.clone(), &left_columns)?, self.bind(r.clone(), &left_columns)?) else {
                return Ok(None);
            };
            on.push((l, r));
        }
        let mut filter = match &join.filter {
            Some(f) => match self.bind(f.clone(), &left_columns)? {
                Some(f) => vec![f],
                None => return Ok(None),
            },
            None => Vec::new(),
        };
        let pairs = left_columns.iter().cloned().map(Expr::Column).zip(right_columns.iter().cloned());
        let (domain_on, domain_filter) = null_safe_keys(pairs, right.schema())?;
        on.extend(domain_on);
        filter.extend(domain_filter);
        let joined = LogicalPlan::Join(Join::try_new(
            Arc::new(left),
            Arc::new(right),
            on,
            conjunction(filter),
            join.join_type,
            join.join_constraint,
            join.null_equality,
            false,
        )?);
        Ok(Some(match join.join_type {
            Inner | Left | LeftSemi | LeftAnti => (joined, left_columns),
            Right | RightSemi | RightAnti => (joined, right_columns),
            Full => {
                // Either side's domain columns, whichever the row has.
                let alias = TableReference::bare(self.config.alias_generator().next("__tarn_domain"));
                let mut exprs: Vec<Expr> = join.schema.columns().into_iter().map(Expr::Column).collect();
                let mut columns = Vec::with_capacity(left_columns.len());
                for (i, (l, r)) in left_columns.iter().zip(&right_columns).enumerate() {
                    let name = format!("__tarn_d{i}");
                    exprs
                        .push(coalesce(vec![Expr::Column(l.clone()), Expr::Column(r.clone())]).alias_qualified(Some(alias.clone()), &name));
                    columns.push(Column::new(Some(alias.clone()), name));
                }
                (LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(joined))?), columns)
            }
            _ => return Ok(None),
        }))
    }
}

fn is_volatile(plan: &LogicalPlan) -> bool {
    plan.exists(|node| Ok(node.expressions().iter().any(Expr::is_volatile))).unwrap_or(true)
}

/// Whether a node of `plan` holds a subquery expression that reads outer columns: a
/// correlation more than one level deep, which this rule leaves alone.
fn has_nested_correlated_subquery(plan: &LogicalPlan) -> bool {
    plan.exists(|node| {
        Ok(matches!(node, LogicalPlan::Subquery(_))
            || node.expressions().iter().any(|e| {
                e.exists(|e| {
                    Ok(match e {
                        Expr::ScalarSubquery(s) => !outer_columns(&s.subquery).is_empty(),
                        Expr::Exists(_) | Expr::InSubquery(_) | Expr::SetComparison(_) => true,
                        _ => false,
                    })
                })
                .unwrap_or(true)
            }))
    })
    .unwrap_or(true)
}
