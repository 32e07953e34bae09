//! A lateral subquery that reads no table — a generator (`LATERAL explode(t.arr)`), `LATERAL
//! (SELECT t.a + 1 AS b)` — stacked right on the rows it is joined to, without a join.
//!
//! Such a subquery is a chain of projections, filters and unnests over one empty row, its
//! outer columns read from the join's left side. Run once per left row, it is the same chain
//! with the left input in place of the empty row and the left columns carried through every
//! step: `t ⋈ LATERAL explode(t.arr)` becomes `Unnest(Projection(t.*, t.arr))`. This is both
//! what Spark computes (a volatile expression such as `rand()` is drawn once per left row) and
//! far cheaper than the domain join [`super::decorrelate`] would build.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result};
use datafusion::logical_expr::logical_plan::{Filter, Join, JoinType, Projection, Unnest};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::OptimizerConfig;

use super::decorrelate::lateral_subquery;

/// `join` with its lateral right side stacked on its left side, when the right side reads no
/// table; `None` when it does (or has a shape this does not know).
pub(super) fn inline(join: &Join, config: &dyn OptimizerConfig) -> Result<Option<LogicalPlan>> {
    if join.join_type != JoinType::Inner || !join.on.is_empty() {
        return Ok(None);
    }
    let Some((subquery, _)) = lateral_subquery(&join.right) else { return Ok(None) };
    let left = join.left.as_ref();
    let Some((stacked, outputs)) = stack(&subquery.subquery, left, config)? else { return Ok(None) };
    // The left columns as they were, then the subquery's under the names the join shows.
    let mut exprs: Vec<Expr> = left.schema().columns().into_iter().map(Expr::Column).collect();
    let right_fields = join.right.schema();
    if right_fields.fields().len() != outputs.len() {
        return Ok(None);
    }
    for ((qualifier, field), output) in right_fields.iter().zip(outputs) {
        exprs.push(output.alias_qualified(qualifier.cloned(), field.name()));
    }
    let mut plan = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(stacked))?);
    if let Some(filter) = &join.filter {
        plan = LogicalPlan::Filter(Filter::try_new(filter.clone(), Arc::new(plan))?);
    }
    Ok(Some(plan))
}

/// `plan` rebuilt over `left` instead of its empty row, every node keeping `left`'s columns;
/// with, for each output column of `plan`, the expression that reads it in the rebuilt plan.
fn stack(plan: &LogicalPlan, left: &LogicalPlan, config: &dyn OptimizerConfig) -> Result<Option<(LogicalPlan, Vec<Expr>)>> {
    let bind = |expr: &Expr, input: &LogicalPlan, columns: &[Expr]| -> Result<Option<Expr>> {
        let mut unbound = false;
        let bound = expr
            .clone()
            .transform_up(|e| match e {
                Expr::OuterReferenceColumn(_, column) => {
                    unbound |= !left.schema().has_column(&column);
                    Ok(Transformed::yes(Expr::Column(column)))
                }
                Expr::Column(column) => match input.schema().index_of_column(&column) {
                    Ok(i) => Ok(Transformed::yes(columns[i].clone())),
                    Err(_) => {
                        unbound = true;
                        Ok(Transformed::no(Expr::Column(column)))
                    }
                },
                other => Ok(Transformed::no(other)),
            })?
            .data;
        Ok((!unbound).then_some(bound))
    };
    let left_columns = || left.schema().columns().into_iter().map(Expr::Column);
    match plan {
        LogicalPlan::EmptyRelation(empty) if empty.produce_one_row => Ok(Some((left.clone(), Vec::new()))),
        LogicalPlan::SubqueryAlias(alias) => stack(&alias.input, left, config),
        LogicalPlan::Filter(filter) => {
            if filter.predicate.exists(|e| Ok(super::decorrelate::is_subquery_expr(e)))? {
                return Ok(None);
            }
            let Some((input, columns)) = stack(&filter.input, left, config)? else { return Ok(None) };
            let Some(predicate) = bind(&filter.predicate, &filter.input, &columns)? else { return Ok(None) };
            Ok(Some((LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(input))?), columns)))
        }
        LogicalPlan::Projection(projection) => {
            let Some((input, columns)) = stack(&projection.input, left, config)? else { return Ok(None) };
            let mut exprs: Vec<Expr> = left_columns().collect();
            let mut outputs = Vec::with_capacity(projection.expr.len());
            for expr in &projection.expr {
                if expr.exists(|e| Ok(super::decorrelate::is_subquery_expr(e)))? {
                    return Ok(None);
                }
                let Some(bound) = bind(&expr.clone().unalias(), &projection.input, &columns)? else { return Ok(None) };
                let name = config.alias_generator().next("__tarn_lateral");
                exprs.push(bound.alias(&name));
                outputs.push(Expr::Column(Column::from_name(name)));
            }
            Ok(Some((LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(input))?), outputs)))
        }
        LogicalPlan::Unnest(unnest) if unnest.options.recursions.is_empty() && unnest.struct_type_columns.is_empty() => {
            let Some((input, columns)) = stack(&unnest.input, left, config)? else { return Ok(None) };
            let mut exec_columns = Vec::with_capacity(unnest.exec_columns.len());
            for column in &unnest.exec_columns {
                let Ok(i) = unnest.input.schema().index_of_column(column) else { return Ok(None) };
                let Expr::Column(bound) = &columns[i] else { return Ok(None) };
                exec_columns.push(bound.clone());
            }
            let rebuilt = LogicalPlan::Unnest(Unnest::try_new(Arc::new(input), exec_columns, unnest.options.clone())?);
            // A list unnests in place: the k-th column after the left ones is the k-th of the
            // original's output.
            let offset = left.schema().fields().len();
            let outputs = (0..unnest.schema.fields().len())
                .map(|k| Expr::Column(Column::from(rebuilt.schema().qualified_field(offset + k))))
                .collect();
            Ok(Some((rebuilt, outputs)))
        }
        _ => Ok(None),
    }
}
