//! Spark's meaning of `/`, `div` and `arr[i]`, planned before DataFusion's own planners see them.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr, RawFieldAccessExpr};
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, GetFieldAccess};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use super::collections::Arithmetic;
use super::functions;

#[derive(Debug, Default)]
pub struct SparkOperators;

/// Integers, floating point numbers and untyped NULLs: what Spark's `/` turns into doubles.
fn divides_as_double(t: &DataType) -> bool {
    t.is_integer() || t.is_floating() || t.is_null()
}

impl ExprPlanner for SparkOperators {
    fn plan_binary_op(&self, expr: RawBinaryExpr, schema: &DFSchema) -> Result<PlannerResult<RawBinaryExpr>> {
        match expr.op {
            // Spark: `5 / 2` is 2.5 (both sides become DOUBLE unless one is a DECIMAL), and a
            // zero divisor is DIVIDE_BY_ZERO under ANSI mode.
            BinaryOperator::Divide => {
                let (left, right) = (expr.left.get_type(schema)?, expr.right.get_type(schema)?);
                if divides_as_double(&left) && divides_as_double(&right) {
                    let call = ScalarFunction::new_udf(functions::divide(), vec![expr.left, expr.right]);
                    return Ok(PlannerResult::Planned(Expr::ScalarFunction(call)));
                }
                // A decimal over a decimal or an integer: Spark's precision and scale.
                if (left.is_decimal() || right.is_decimal())
                    && super::decimal::as_decimal(&left).is_some()
                    && super::decimal::as_decimal(&right).is_some()
                {
                    let call = ScalarFunction::new_udf(functions::decimal_divide(), vec![expr.left, expr.right]);
                    return Ok(PlannerResult::Planned(Expr::ScalarFunction(call)));
                }
                Ok(PlannerResult::Original(expr))
            }
            // `a DIV b`: the quotient truncated to a BIGINT; a zero divisor is an error.
            BinaryOperator::MyIntegerDivide => {
                let (left, right) = (expr.left.get_type(schema)?, expr.right.get_type(schema)?);
                let bigint = |e: Expr| Expr::Cast(Cast::new(Box::new(e), DataType::Int64));
                let quotient = if left.is_integer() && right.is_integer() || left.is_null() || right.is_null() {
                    bigint(expr.left) / bigint(expr.right)
                } else {
                    bigint(Expr::ScalarFunction(ScalarFunction::new_udf(
                        datafusion::functions::math::trunc(),
                        vec![expr.left / expr.right],
                    )))
                };
                Ok(PlannerResult::Planned(quotient))
            }
            // Integer overflow is ARITHMETIC_OVERFLOW under ANSI mode, not a wrapped value.
            BinaryOperator::Plus | BinaryOperator::Minus | BinaryOperator::Multiply => {
                let (left, right) = (expr.left.get_type(schema)?, expr.right.get_type(schema)?);
                if !(left.is_integer() && right.is_integer()) {
                    return Ok(PlannerResult::Original(expr));
                }
                let op = match expr.op {
                    BinaryOperator::Plus => Arithmetic::Add,
                    BinaryOperator::Minus => Arithmetic::Subtract,
                    _ => Arithmetic::Multiply,
                };
                let call = ScalarFunction::new_udf(functions::checked(op), vec![expr.left, expr.right]);
                Ok(PlannerResult::Planned(Expr::ScalarFunction(call)))
            }
            _ => Ok(PlannerResult::Original(expr)),
        }
    }

    fn plan_field_access(&self, expr: RawFieldAccessExpr, schema: &DFSchema) -> Result<PlannerResult<RawFieldAccessExpr>> {
        // Spark's `arr[i]` counts from 0 (`element_at` from 1); out of range is an error.
        if let GetFieldAccess::ListIndex { key } = &expr.field_access
            && matches!(expr.expr.get_type(schema)?, DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _))
        {
            let call = ScalarFunction::new_udf(functions::array_item(), vec![expr.expr, key.as_ref().clone()]);
            return Ok(PlannerResult::Planned(Expr::ScalarFunction(call)));
        }
        Ok(PlannerResult::Original(expr))
    }
}
