//! `*` among a function's arguments: `coalesce(*)`, `array(*)`, `concat_ws(',', *)`,
//! `greatest(t.*)` take every column of the input (of one table, qualified), in order, as
//! Spark expands them. DataFusion expands a `*` only in a SELECT list and left the rest to
//! fail in physical planning ("does not support logical expression Wildcard").
//!
//! An analyzer rule, first of all, replaces such a `*` by the columns of the node's inputs.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, Result, plan_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub(crate) struct FunctionWildcards;

#[allow(deprecated)]
fn is_wildcard(expr: &Expr) -> bool {
    matches!(expr, Expr::Wildcard { .. })
}

fn has_argument_wildcard(expr: &Expr) -> bool {
    expr.exists(|e| Ok(matches!(e, Expr::ScalarFunction(f) if f.args.iter().any(is_wildcard)))).unwrap_or(false)
}

/// The columns a `*` (or `t.*`) stands for in `schema`.
#[allow(deprecated)]
fn expand(wildcard: &Expr, schema: &DFSchema) -> Result<Vec<Expr>> {
    let Expr::Wildcard { qualifier, options } = wildcard else { return Ok(vec![wildcard.clone()]) };
    if options.ilike.is_some()
        || options.exclude.is_some()
        || options.except.is_some()
        || options.replace.is_some()
        || options.rename.is_some()
    {
        return plan_err!("a * with EXCEPT / EXCLUDE / REPLACE / RENAME inside a function's arguments is not supported; name the columns");
    }
    let columns: Vec<Expr> = schema
        .iter()
        .filter(|(q, _)| qualifier.as_ref().is_none_or(|wanted| q.is_some_and(|q| q.resolved_eq(wanted))))
        .map(|(q, field)| Expr::Column(Column::from((q, field))))
        .collect();
    if columns.is_empty() {
        return match qualifier {
            Some(q) => plan_err!("{q}.* names no columns here"),
            None => plan_err!("* in a function's arguments needs a FROM clause with columns"),
        };
    }
    Ok(columns)
}

impl AnalyzerRule for FunctionWildcards {
    fn name(&self) -> &str {
        "spark_function_wildcards"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            if !node.expressions().iter().any(has_argument_wildcard) {
                return Ok(Transformed::no(node));
            }
            let schema = merge_schema(&node.inputs());
            let names = NamePreserver::new(&node);
            let node = node.map_expressions(|expr| {
                let saved = names.save(&expr);
                let expanded = expr.transform_up(|e| match e {
                    Expr::ScalarFunction(f) if f.args.iter().any(is_wildcard) => {
                        let mut args = Vec::with_capacity(f.args.len());
                        for arg in &f.args {
                            args.extend(expand(arg, &schema)?);
                        }
                        Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction { func: f.func, args })))
                    }
                    e => Ok(Transformed::no(e)),
                })?;
                Ok(expanded.update_data(|e| saved.restore(e)))
            })?;
            Ok(Transformed::yes(node.data.recompute_schema()?))
        })
        .map(|t| t.data)
    }
}
