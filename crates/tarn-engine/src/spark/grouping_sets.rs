//! GROUPING SETS / ROLLUP / CUBE over no rows: Spark answers no rows, where DataFusion (as
//! Postgres) answers one row per empty grouping set — `SELECT a, count(*) FROM empty GROUP BY
//! ROLLUP (a)` gave `NULL, 0`. An aggregate with an empty grouping set also counts its input
//! rows and keeps only the groups that have some: every group of a non-empty set has at
//! least one row, and the empty sets' groups have rows exactly when the input has.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult};
use datafusion::common::{Column, Result};
use datafusion::functions_aggregate::count::count;
use datafusion::logical_expr::{Aggregate, Expr, Filter, GroupingSet, LogicalPlan, Projection, col, lit};
use datafusion::optimizer::AnalyzerRule;

const INPUT_ROWS: &str = "__tarn_input_rows";

#[derive(Debug, Default)]
pub(crate) struct EmptyInputGroupingSets;

fn has_empty_set(group_expr: &[Expr]) -> bool {
    group_expr.iter().any(|e| match e {
        Expr::GroupingSet(GroupingSet::Rollup(_) | GroupingSet::Cube(_)) => true,
        Expr::GroupingSet(GroupingSet::GroupingSets(sets)) => sets.iter().any(|s| s.is_empty()),
        _ => false,
    })
}

impl AnalyzerRule for EmptyInputGroupingSets {
    fn name(&self) -> &str {
        "spark_empty_input_grouping_sets"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::Aggregate(aggregate) if has_empty_set(&aggregate.group_expr) => {
                let original = aggregate.schema.clone();
                let mut aggr_expr = aggregate.aggr_expr.clone();
                aggr_expr.push(count(lit(1)).alias(INPUT_ROWS));
                let counted = Aggregate::try_new(aggregate.input.clone(), aggregate.group_expr.clone(), aggr_expr)?;
                let kept = Filter::try_new(col(INPUT_ROWS).gt(lit(0_i64)), Arc::new(LogicalPlan::Aggregate(counted)))?;
                let columns = original.iter().map(|(qualifier, field)| Expr::Column(Column::from((qualifier, field)))).collect();
                Ok(Transformed::yes(LogicalPlan::Projection(Projection::try_new(columns, Arc::new(LogicalPlan::Filter(kept)))?)))
            }
            other => Ok(Transformed::no(other)),
        })
        .data()
    }
}
