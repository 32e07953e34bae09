//! Spark's `range(end)`, `range(start, end[, step[, partitions]])`: BIGINTs in a column named
//! `id` (DataFusion's `range` names it `value` and takes no partition count).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, col};

#[derive(Debug, Default)]
pub struct SparkRange;

impl TableFunctionImpl for SparkRange {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        // The fourth argument only says how many partitions Spark would use.
        let exprs = match exprs.len() {
            1..=3 => exprs,
            4 => &exprs[..3],
            n => return plan_err!("range takes 1 to 4 arguments (end | start, end[, step[, partitions]]), got {n}"),
        };
        // DataFusion's `range` takes BIGINT literals only; an INT one (`range(0, 0 + 10)`, an
        // operator's literals are INTs as in Spark) is the same number.
        let exprs: Vec<Expr> = exprs
            .iter()
            .map(|e| match e {
                Expr::Literal(value, metadata) if value.data_type().is_integer() && !value.is_null() => {
                    value.cast_to(&DataType::Int64).map(|v| Expr::Literal(v, metadata.clone()))
                }
                other => Ok(other.clone()),
            })
            .collect::<Result<_>>()?;
        let inner = datafusion::functions_table::range().function().call_with_args(TableFunctionArgs::new(&exprs, args.session()))?;
        let plan = LogicalPlanBuilder::scan("range", provider_as_source(inner), None)?.project(vec![col("value").alias("id")])?.build()?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}
