//! `[NOT] EXISTS (SELECT .. WHERE <correlated> .. OFFSET n)`: DataFusion's decorrelation of an
//! `EXISTS` in a filter drops a `LIMIT` inside the subquery (right for `LIMIT n`, as any
//! row is enough) — and its `OFFSET` with it, so `EXISTS (.. OFFSET 2)` was true for an outer
//! row with a single match (a wrong answer).
//!
//! This rule, just before DataFusion's, takes such an `EXISTS` out of the filter: the filter's
//! input gains a column computing it, the filter reads that column, and a projection drops it.
//! An `EXISTS` in a projection is Tarn's general decorrelation's (`decorrelate`), which keeps
//! the offset: the rows of the subquery are numbered per outer row.

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{Expr, Filter, LogicalPlan, LogicalPlanBuilder, SkipType, col};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

#[derive(Debug, Default)]
pub struct ExistsWithOffset;

/// Whether a subquery's plan skips rows (an OFFSET) at its own level.
fn skips_rows(plan: &LogicalPlan) -> bool {
    let mut skips = false;
    let _ = plan.apply(|node| {
        if let LogicalPlan::Limit(limit) = node
            && !matches!(limit.get_skip_type(), Ok(SkipType::Literal(0)))
        {
            skips = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    skips
}

/// Whether `expr` is `[NOT] EXISTS` of a correlated subquery that skips rows.
fn is_exists_with_offset(expr: &Expr) -> bool {
    let exists = match expr {
        Expr::Not(inner) => match inner.as_ref() {
            Expr::Exists(exists) => exists,
            _ => return false,
        },
        Expr::Exists(exists) => exists,
        _ => return false,
    };
    !exists.subquery.outer_ref_columns.is_empty() && skips_rows(&exists.subquery.subquery)
}

impl OptimizerRule for ExistsWithOffset {
    fn name(&self) -> &str {
        "exists_with_offset"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = plan else { return Ok(Transformed::no(plan)) };
        if !split_conjunction_owned(filter.predicate.clone()).iter().any(is_exists_with_offset) {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        }
        let Filter { predicate, input, .. } = filter;
        let original: Vec<Expr> = input.schema().columns().into_iter().map(Expr::Column).collect();
        let mut computed = original.clone();
        let mut kept = Vec::new();
        for (i, conjunct) in split_conjunction_owned(predicate).into_iter().enumerate() {
            if is_exists_with_offset(&conjunct) {
                let name = format!("__tarn_exists_{i}");
                computed.push(conjunct.alias(&name));
                kept.push(col(name));
            } else {
                kept.push(conjunct);
            }
        }
        let Some(predicate) = conjunction(kept) else { return datafusion::common::internal_err!("a filter without a predicate") };
        let plan = LogicalPlanBuilder::from(input.as_ref().clone()).project(computed)?.filter(predicate)?.project(original)?.build()?;
        Ok(Transformed::yes(plan))
    }
}
