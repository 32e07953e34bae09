//! Spark types an integer literal that fits in 32 bits as INT (`typeof(1)` is `int`,
//! `CREATE TABLE t AS SELECT 1 AS a` makes an INT column, `array(1, 2)` is `array<int>`);
//! DataFusion types every integer literal as BIGINT. The planned query's literals are
//! narrowed before DataFusion's type coercion runs, so a literal next to a BIGINT still meets
//! it as a BIGINT, and INT arithmetic is Spark's checked INT arithmetic (`2147483647 + 1`
//! overflows, as in Spark's ANSI mode).
//!
//! Left alone: VALUES rows (their column types are fixed when they are planned), LIMIT /
//! OFFSET counts, and queries with correlated or LATERAL subqueries, lambdas or WITH RECURSIVE.

use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan};

/// `plan` with its integer literals that fit in an INT typed INT.
pub fn narrow(plan: LogicalPlan) -> Result<LogicalPlan> {
    if !worth_narrowing(&plan) {
        return Ok(plan);
    }
    plan.transform_up_with_subqueries(|node| {
        if matches!(node, LogicalPlan::Values(_) | LogicalPlan::Limit(_)) {
            return Ok(Transformed::no(node));
        }
        // Parents refer to an output by its name (`count(Int64(1))`): names stay as planned.
        let names = NamePreserver::new(&node);
        let node = node.map_expressions(|expr| {
            let name = names.save(&expr);
            Ok(expr.transform_up(narrow_literal)?.update_data(|narrowed| name.restore(narrowed)))
        })?;
        // A parent's schema follows its inputs' even where its own expressions did not change.
        Ok(Transformed::yes(node.data.recompute_schema()?))
    })
    .data()
}

/// Whether `plan` has a literal to narrow (most plans on tables have none: they are left
/// untouched, not rebuilt) and nothing that forbids it. An outer reference, a lambda's variable
/// and a recursive CTE's work table carry their types as planned; narrowing what they stand
/// for would leave the two apart. Such plans (correlated and LATERAL subqueries, higher-order
/// functions, WITH RECURSIVE) keep DataFusion's BIGINT literals.
fn worth_narrowing(plan: &LogicalPlan) -> bool {
    let (mut literal, mut typed_reference) = (false, false);
    let _ = plan.apply_with_subqueries(|node| {
        if matches!(node, LogicalPlan::RecursiveQuery(_)) {
            typed_reference = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        let skipped = matches!(node, LogicalPlan::Values(_) | LogicalPlan::Limit(_));
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                match e {
                    Expr::OuterReferenceColumn(..) | Expr::Lambda(_) | Expr::LambdaVariable(_) => typed_reference = true,
                    Expr::Literal(ScalarValue::Int64(Some(v)), _) if !skipped && i32::try_from(*v).is_ok() => literal = true,
                    _ => {}
                }
                Ok(if typed_reference { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
            })
        })
    });
    literal && !typed_reference
}

fn narrow_literal(expr: Expr) -> Result<Transformed<Expr>> {
    Ok(match expr {
        Expr::Literal(ScalarValue::Int64(Some(v)), metadata) => match i32::try_from(v) {
            Ok(int) => Transformed::yes(Expr::Literal(ScalarValue::Int32(Some(int)), metadata)),
            Err(_) => Transformed::no(Expr::Literal(ScalarValue::Int64(Some(v)), metadata)),
        },
        other => Transformed::no(other),
    })
}
