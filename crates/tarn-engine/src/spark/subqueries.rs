//! `(SELECT expr)` — a scalar subquery without `FROM` — is the value `expr` itself.
//!
//! Spark reads `SELECT (SELECT t.a + 1) FROM t` and SQL functions whose body is
//! `RETURN SELECT x` so. DataFusion plans such a subquery as a correlated one it cannot
//! decorrelate ("Physical plan does not support logical expression ScalarSubquery"), so this
//! rule, right after the first simplification, replaces it by its value: an outer reference to
//! a column of the node the subquery sits in becomes that column again. Nested ones unwrap from
//! the inside out (a reference two levels out stays an outer reference until its level).

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::expr::{Exists, InSubquery};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan, Subquery};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

#[derive(Debug, Default)]
pub struct InlineOneRowSubqueries;

/// `subquery` with the outer references its plan holds that its list lacks (an inner
/// subquery inlined into it brought them); `None` when the list is complete.
fn refreshed(subquery: &Subquery) -> Option<Subquery> {
    let missing: Vec<Expr> =
        subquery.subquery.all_out_ref_exprs().into_iter().filter(|e| !subquery.outer_ref_columns.contains(e)).collect();
    if missing.is_empty() {
        return None;
    }
    let mut outer_ref_columns = subquery.outer_ref_columns.clone();
    outer_ref_columns.extend(missing);
    Some(Subquery { outer_ref_columns, ..subquery.clone() })
}

/// The value a subquery of one row without `FROM` selects.
fn one_row_value(plan: &LogicalPlan) -> Option<Expr> {
    let LogicalPlan::Projection(projection) = plan else { return None };
    let LogicalPlan::EmptyRelation(empty) = projection.input.as_ref() else { return None };
    let [value] = projection.expr.as_slice() else { return None };
    empty.produce_one_row.then(|| value.clone().unalias())
}

impl OptimizerRule for InlineOneRowSubqueries {
    fn name(&self) -> &str {
        "inline_one_row_subqueries"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        plan.transform_up_with_subqueries(|node| {
            let inputs: Vec<_> = node.inputs().into_iter().map(|i| i.schema().clone()).collect();
            let resolves = |column: &datafusion::common::Column| inputs.iter().any(|schema| schema.has_column(column));
            let names = NamePreserver::new(&node);
            let rewritten = node.map_expressions(|expr| {
                let saved = names.save(&expr);
                let inlined = expr.transform_up(|e| match &e {
                    Expr::ScalarSubquery(subquery) => match one_row_value(&subquery.subquery) {
                        Some(value) => {
                            let value = value
                                .transform_up(|v| match v {
                                    Expr::OuterReferenceColumn(_, column) if resolves(&column) => {
                                        Ok(Transformed::yes(Expr::Column(column)))
                                    }
                                    other => Ok(Transformed::no(other)),
                                })?
                                .data;
                            Ok(Transformed::yes(value))
                        }
                        // Kept: its plan may now hold outer references an inner one had.
                        None => Ok(refreshed(subquery).map_or(Transformed::no(e.clone()), |s| Transformed::yes(Expr::ScalarSubquery(s)))),
                    },
                    Expr::Exists(exists) => Ok(refreshed(&exists.subquery)
                        .map_or(Transformed::no(e.clone()), |s| Transformed::yes(Expr::Exists(Exists { subquery: s, ..exists.clone() })))),
                    Expr::InSubquery(in_subquery) => Ok(refreshed(&in_subquery.subquery).map_or(Transformed::no(e.clone()), |s| {
                        Transformed::yes(Expr::InSubquery(InSubquery { subquery: s, ..in_subquery.clone() }))
                    })),
                    _ => Ok(Transformed::no(e)),
                })?;
                Ok(if inlined.transformed { Transformed::yes(saved.restore(inlined.data)) } else { inlined })
            })?;
            if rewritten.transformed { Ok(Transformed::yes(rewritten.data.recompute_schema()?)) } else { Ok(rewritten) }
        })
    }
}
