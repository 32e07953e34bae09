//! `EXCEPT ALL` and `INTERSECT ALL` with Spark's multiplicities: a row that appears `l` times
//! on the left and `r` times on the right appears `max(l - r, 0)` times in `EXCEPT ALL` and
//! `min(l, r)` times in `INTERSECT ALL`. DataFusion 55 plans both as anti / semi joins, which
//! keep all `l` copies or none.
//!
//! The SQL front end (`tarn-sql`'s `spark_syntax`) writes `A EXCEPT ALL B` as
//! `SELECT * EXCEPT (occ) FROM (SELECT *, occurrence() AS occ FROM (A) EXCEPT SELECT *,
//! occurrence() AS occ FROM (B))`, and this analyzer rule replaces each [`MARKER`] call by
//! `row_number() OVER (PARTITION BY <every column of its input>)`: the k-th copy of a row is
//! numbered k on both sides, so the DISTINCT set operation over (row, k) keeps copies
//! `r + 1 ..= l` (EXCEPT) or `1 ..= min(l, r)` (INTERSECT) — exactly the multiplicities above.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result, exec_err};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, Projection, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

/// The marker function's name, as the SQL front end writes it.
pub const MARKER: &str = "__tarn_occurrence";

/// The window column that numbers the copies of a row.
const NUMBERED: &str = "__tarn_occurrence_number";

#[derive(Debug, PartialEq, Eq, Hash)]
struct Occurrence {
    signature: Signature,
}

/// The marker, to register in every session.
pub(crate) fn marker() -> Arc<ScalarUDF> {
    // Volatile: never folded to a constant before this rule has replaced it.
    Arc::new(ScalarUDF::new_from_impl(Occurrence { signature: Signature::exact(vec![], Volatility::Volatile) }))
}

impl ScalarUDFImpl for Occurrence {
    fn name(&self) -> &str {
        MARKER
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt64)
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        exec_err!("{MARKER}() numbers the copies of a row for EXCEPT ALL / INTERSECT ALL and is not a function to call")
    }
}

fn is_marker(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarFunction(call) if call.func.name() == MARKER)
}

#[derive(Debug, Default)]
pub(crate) struct SetMultiplicity;

impl AnalyzerRule for SetMultiplicity {
    fn name(&self) -> &str {
        "spark_set_multiplicity"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            let LogicalPlan::Projection(projection) = &node else { return Ok(Transformed::no(node)) };
            let mut marked = false;
            for expr in &projection.expr {
                expr.apply(|e| {
                    marked |= is_marker(e);
                    Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
                })?;
            }
            if !marked {
                return Ok(Transformed::no(node));
            }
            let LogicalPlan::Projection(projection) = node else { unreachable!("matched above") };
            let input = projection.input.as_ref().clone();
            let every_column: Vec<Expr> = input.schema().columns().into_iter().map(Expr::Column).collect();
            let numbered = row_number().partition_by(every_column).build()?.alias(NUMBERED);
            let window = LogicalPlanBuilder::from(input).window(vec![numbered])?.build()?;
            let exprs = projection
                .expr
                .into_iter()
                .map(|expr| {
                    expr.transform_up(|e| {
                        Ok(if is_marker(&e) { Transformed::yes(Expr::Column(Column::from_name(NUMBERED))) } else { Transformed::no(e) })
                    })
                    .map(|t| t.data)
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Transformed::yes(LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(window))?)))
        })
        .map(|t| t.data)
    }
}
