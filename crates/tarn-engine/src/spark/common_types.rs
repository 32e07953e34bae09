//! Spark's common type of values that meet in one column — CASE / IF branches, the columns
//! of a UNION, an IN list and its value, the arguments of `coalesce`, `greatest`, `least`,
//! `nvl`, `ifnull`, `pmod` — where it differs from DataFusion's: a FLOAT or DOUBLE with a DECIMAL is a
//! DOUBLE (DataFusion: a decimal), and text with another type is read as that type (a BIGINT
//! next to an integer, a DOUBLE next to a fraction, else the other type: BOOLEAN, DATE,
//! TIMESTAMP, BINARY), where DataFusion makes everything text. An analyzer rule, before
//! DataFusion's type coercion, casts the values to Spark's type; all else is DataFusion's.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Column, DFSchema, Result};
use datafusion::logical_expr::expr::Case;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::type_coercion::binary::comparison_coercion;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, Union, cast};
use datafusion::optimizer::AnalyzerRule;

use super::text_numbers::{is_text, text_next_to_number};

/// Spark's type for `a` and `b` together, when it is not what DataFusion would choose.
pub(super) fn spark_pair(a: &DataType, b: &DataType) -> Option<DataType> {
    let fraction = |t: &DataType| t.is_floating();
    match (a, b) {
        (x, y) if fraction(x) && y.is_decimal() || x.is_decimal() && fraction(y) => Some(DataType::Float64),
        (text, other) | (other, text) if is_text(text) && !is_text(other) => match other {
            DataType::Boolean | DataType::Date32 | DataType::Timestamp(..) | DataType::Binary => Some(other.clone()),
            t if t.is_null() => None,
            t => text_next_to_number(t),
        },
        _ => None,
    }
}

/// The common type of `types` by Spark's rules, when any of them applies; `None` leaves the
/// choice to DataFusion.
fn common_type(types: &[DataType]) -> Option<DataType> {
    let mut known = types.iter().filter(|t| !t.is_null());
    let mut common = known.next()?.clone();
    let mut spark = false;
    for t in known {
        if let Some(wider) = spark_pair(&common, t) {
            common = wider;
            spark = true;
        } else if &common != t {
            common = comparison_coercion(&common, t)?;
        }
    }
    spark.then_some(common)
}

/// Casts CASE branches and UNION columns to Spark's common type.
#[derive(Debug, Default)]
pub(crate) struct SparkCommonTypes;

impl AnalyzerRule for SparkCommonTypes {
    fn name(&self) -> &str {
        "spark_common_types"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            let node = match node {
                LogicalPlan::Union(union) => union_columns(union)?,
                other => Transformed::no(other),
            };
            node.transform_data(|node| {
                let schema = merge_schema(&node.inputs());
                let names = NamePreserver::new(&node);
                node.map_expressions(|expr| {
                    let saved = names.save(&expr);
                    let rewritten = expr.transform_up(|e| match e {
                        Expr::Case(_) => case_branches(e, &schema),
                        Expr::InList(_) => in_list(e, &schema),
                        Expr::ScalarFunction(_) => function_arguments(e, &schema),
                        Expr::Like(_) | Expr::SimilarTo(_) => like_text(e, &schema),
                        e => Ok(Transformed::no(e)),
                    })?;
                    Ok(rewritten.update_data(|e| saved.restore(e)))
                })
            })
        })
        .data()
    }
}

fn case_branches(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::Case(case) = expr else { return Ok(Transformed::no(expr)) };
    let mut types = Vec::with_capacity(case.when_then_expr.len() + 1);
    for (_, then) in &case.when_then_expr {
        types.push(then.get_type(schema)?);
    }
    if let Some(otherwise) = &case.else_expr {
        types.push(otherwise.get_type(schema)?);
    }
    let Some(target) = common_type(&types) else { return Ok(Transformed::no(Expr::Case(case))) };
    let to = |e: Box<Expr>| Box::new(cast(*e, target.clone()));
    let Case { expr, when_then_expr, else_expr } = case;
    let when_then_expr = when_then_expr.into_iter().map(|(when, then)| (when, to(then))).collect();
    Ok(Transformed::yes(Expr::Case(Case { expr, when_then_expr, else_expr: else_expr.map(to) })))
}

/// `x IN (a, b)`: the value and the list meet on one type.
fn in_list(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::InList(in_list) = expr else { return Ok(Transformed::no(expr)) };
    let mut types = vec![in_list.expr.get_type(schema)?];
    for item in &in_list.list {
        types.push(item.get_type(schema)?);
    }
    let Some(target) = common_type(&types) else { return Ok(Transformed::no(Expr::InList(in_list))) };
    let list = in_list.list.into_iter().map(|e| cast(e, target.clone())).collect();
    Ok(Transformed::yes(Expr::InList(datafusion::logical_expr::expr::InList {
        expr: Box::new(cast(*in_list.expr, target)),
        list,
        negated: in_list.negated,
    })))
}

/// `1 LIKE '%'`, `d LIKE '19%'`: Spark reads a value that is not text as its text.
fn like_text(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let (Expr::Like(mut like) | Expr::SimilarTo(mut like)) = expr.clone() else { return Ok(Transformed::no(expr)) };
    let as_text = |e: Box<Expr>| -> Result<(Box<Expr>, bool)> {
        let t = e.get_type(schema)?;
        if is_text(&t) || t.is_null() || matches!(t, DataType::Dictionary(..)) {
            Ok((e, false))
        } else {
            Ok((Box::new(cast(*e, DataType::Utf8)), true))
        }
    };
    let (value, a) = as_text(like.expr)?;
    let (pattern, b) = as_text(like.pattern)?;
    if !a && !b {
        return Ok(Transformed::no(expr));
    }
    like.expr = value;
    like.pattern = pattern;
    Ok(Transformed::yes(match expr {
        Expr::SimilarTo(_) => Expr::SimilarTo(like),
        _ => Expr::Like(like),
    }))
}

/// Functions whose arguments (all of them) meet on one type.
const COMMON_TYPED: &[&str] = &["coalesce", "greatest", "least", "nvl", "ifnull", "pmod"];

fn function_arguments(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::ScalarFunction(function) = expr else { return Ok(Transformed::no(expr)) };
    if !COMMON_TYPED.contains(&function.name()) || function.args.len() < 2 {
        return Ok(Transformed::no(Expr::ScalarFunction(function)));
    }
    let types = function.args.iter().map(|a| a.get_type(schema)).collect::<Result<Vec<_>>>()?;
    let Some(target) = common_type(&types) else { return Ok(Transformed::no(Expr::ScalarFunction(function))) };
    let args = function.args.into_iter().map(|a| cast(a, target.clone())).collect();
    Ok(Transformed::yes(Expr::ScalarFunction(datafusion::logical_expr::expr::ScalarFunction { func: function.func, args })))
}

fn union_columns(union: Union) -> Result<Transformed<LogicalPlan>> {
    let width = union.schema.fields().len();
    let targets: Vec<Option<DataType>> = (0..width)
        .map(|i| {
            let types: Vec<DataType> = union.inputs.iter().map(|input| input.schema().field(i).data_type().clone()).collect();
            common_type(&types)
        })
        .collect();
    if targets.iter().all(Option::is_none) {
        return Ok(Transformed::no(LogicalPlan::Union(union)));
    }
    let mut inputs = Vec::with_capacity(union.inputs.len());
    for input in union.inputs {
        let schema = input.schema().clone();
        let columns = (0..width).map(|i| {
            let (qualifier, field) = schema.qualified_field(i);
            let column = Expr::Column(Column::from((qualifier, field)));
            match &targets[i] {
                Some(target) if field.data_type() != target => cast(column, target.clone()).alias(field.name()),
                _ => column,
            }
        });
        inputs.push(Arc::new(LogicalPlanBuilder::from(input.as_ref().clone()).project(columns)?.build()?));
    }
    Ok(Transformed::yes(LogicalPlan::Union(Union::try_new_with_loose_types(inputs)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_widens_fractions_with_decimals_to_doubles_and_reads_text_as_the_other_type() {
        let decimal = DataType::Decimal128(10, 0);
        assert_eq!(common_type(&[DataType::Float32, decimal.clone()]), Some(DataType::Float64));
        assert_eq!(common_type(&[DataType::Utf8, decimal]), Some(DataType::Float64));
        assert_eq!(common_type(&[DataType::Int8, DataType::Utf8]), Some(DataType::Int64));
        assert_eq!(common_type(&[DataType::Utf8, DataType::Boolean]), Some(DataType::Boolean));
        assert_eq!(common_type(&[DataType::Int32, DataType::Int64]), None);
        assert_eq!(common_type(&[DataType::Null, DataType::Utf8]), None);
    }
}
