//! Spark's decimal division: the result type follows Spark's rules (`DecimalPrecision`, with
//! `spark.sql.decimalOperations.allowPrecisionLoss` on, its default) and the quotient is rounded
//! half up to that scale; a quotient the type cannot hold is an error (ANSI mode).
//!
//! DataFusion keeps only four more decimal places than the dividend (`1 / 3` of DECIMAL(10,0)
//! is `0.3333`); Spark keeps `max(6, s1 + p2 + 1)` (`0.33333333333`).
//!
//! Also here: `+ - *` whose DECIMAL(38) result passes 38 digits is an error
//! ([`checked_operation`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Decimal128Array};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, FieldRef, i256};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, Operator, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

const MAX_PRECISION: u8 = 38;
const MIN_ADJUSTED_SCALE: i8 = 6;

/// The DECIMAL an operand is divided as: integers as Spark widens them, decimals as they are.
pub fn as_decimal(t: &DataType) -> Option<(u8, i8)> {
    match t {
        DataType::Int8 | DataType::UInt8 => Some((3, 0)),
        DataType::Int16 | DataType::UInt16 => Some((5, 0)),
        DataType::Int32 | DataType::UInt32 => Some((10, 0)),
        DataType::Int64 | DataType::UInt64 => Some((20, 0)),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => Some((*p, *s)),
        _ => None,
    }
}

/// Spark's result type of `DECIMAL(p1,s1) / DECIMAL(p2,s2)`.
pub fn quotient_type((p1, s1): (u8, i8), (p2, s2): (u8, i8)) -> (u8, i8) {
    let (p1, s1, p2, s2) = (p1 as i32, s1 as i32, p2 as i32, s2 as i32);
    let integral = p1 - s1 + s2;
    let scale = (MIN_ADJUSTED_SCALE as i32).max(s1 + p2 + 1);
    let precision = integral + scale;
    if precision <= MAX_PRECISION as i32 {
        return (precision as u8, scale as i8);
    }
    // Too wide: keep the integral digits, give up scale down to min(scale, 6).
    let integral = precision - scale;
    let scale = (MAX_PRECISION as i32 - integral).max(scale.min(MIN_ADJUSTED_SCALE as i32));
    (MAX_PRECISION, scale as i8)
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DecimalDivide {
    signature: Signature,
}

impl DecimalDivide {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

fn decimal_args(args: &[DataType]) -> Result<((u8, i8), (u8, i8))> {
    match args {
        [a, b] => match (as_decimal(a), as_decimal(b)) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => plan_err!("decimal division needs decimals or integers, got {a} and {b}"),
        },
        _ => plan_err!("division takes two operands"),
    }
}

impl ScalarUDFImpl for DecimalDivide {
    fn name(&self) -> &str {
        "spark_decimal_divide"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match args {
            [a, b] => Ok(format!("{} / {}", a.schema_name(), b.schema_name())),
            _ => plan_err!("division takes two operands"),
        }
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let ((p1, s1), (p2, s2)) = decimal_args(args)?;
        Ok(vec![DataType::Decimal128(p1, s1), DataType::Decimal128(p2, s2)])
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let (a, b) = decimal_args(args)?;
        let (p, s) = quotient_type(a, b);
        Ok(DataType::Decimal128(p, s))
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        Ok(Arc::new(Field::new(self.name(), self.return_type(&types)?, nullable)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [a, b] = args.args.as_slice() else {
            return exec_err!("division takes two operands");
        };
        let DataType::Decimal128(precision, scale) = *args.return_field.data_type() else {
            return exec_err!("decimal division returns a DECIMAL");
        };
        let (a, b) = (a.to_array(args.number_rows)?, b.to_array(args.number_rows)?);
        let (DataType::Decimal128(_, s1), DataType::Decimal128(_, s2)) = (a.data_type().clone(), b.data_type().clone()) else {
            return exec_err!("decimal division takes DECIMALs");
        };
        let (a, b) = (a.as_primitive::<Decimal128Type>(), b.as_primitive::<Decimal128Type>());
        // value = A / 10^s1 / (B / 10^s2); the result's unscaled value is A * 10^e / B.
        let e = scale as i32 + s2 as i32 - s1 as i32;
        let ten = i256::from_i128(10);
        let power = |n: i32| ten.checked_pow(n.unsigned_abs());
        let limit = ten.checked_pow(precision as u32);
        let mut out = Vec::with_capacity(a.len());
        for i in 0..a.len() {
            if a.is_null(i) || b.is_null(i) {
                out.push(None);
                continue;
            }
            let (x, y) = (i256::from_i128(a.value(i)), i256::from_i128(b.value(i)));
            if y == i256::ZERO {
                return exec_err!(
                    "[DIVIDE_BY_ZERO] Division by zero. Use `try_divide` to tolerate a zero divisor and return NULL instead."
                );
            }
            let scaled = if e >= 0 {
                power(e).and_then(|p| x.checked_mul(p)).map(|n| (n, y))
            } else {
                power(e).and_then(|p| y.checked_mul(p)).map(|d| (x, d))
            };
            let quotient = scaled.and_then(|(n, d)| {
                let (q, r) = (n.checked_div(d)?, n.checked_rem(d)?);
                // Half up, away from zero.
                let twice = r.checked_mul(i256::from_i128(2))?;
                if twice.checked_abs()? >= d.checked_abs()? {
                    let away = if (n < i256::ZERO) == (d < i256::ZERO) { i256::ONE } else { i256::MINUS_ONE };
                    q.checked_add(away)
                } else {
                    Some(q)
                }
            });
            match (quotient, limit) {
                (Some(q), Some(limit)) if q.checked_abs().is_some_and(|m| m < limit) => out.push(q.to_i128()),
                _ => {
                    return exec_err!(
                        "[NUMERIC_VALUE_OUT_OF_RANGE] a quotient cannot be represented as DECIMAL({precision}, {scale}). Use `try_divide` to return NULL instead."
                    );
                }
            }
        }
        let array = Decimal128Array::from(out).with_precision_and_scale(precision, scale)?;
        super::answer(&args.args, Arc::new(array))
    }
}

/// Decimal `+ - *` whose result type is capped at DECIMAL(38, s): DataFusion raises when the
/// exact value leaves i128, but a value between 10^38 and i128's limit passes as an invalid
/// DECIMAL(38) and prints as another number. The chain's outermost operator is checked
/// against the precision (inner ones compute exactly in i128, so checking the end suffices).
const IN_RANGE: &str = "spark_decimal_in_range";

#[derive(Debug, PartialEq, Eq, Hash)]
struct DecimalInRange {
    signature: Signature,
}

/// `left op right` for decimals (planned by `operators`), checked against the result's
/// precision when it is capped at [`MAX_PRECISION`].
pub(crate) fn checked_operation(op: Operator, left: Expr, right: Expr, result: &DataType) -> Expr {
    let unchecked = |e: Expr| match e {
        Expr::ScalarFunction(mut call) if call.func.name() == IN_RANGE && call.args.len() == 1 => call.args.remove(0),
        other => other,
    };
    let operation = Expr::BinaryExpr(BinaryExpr::new(Box::new(unchecked(left)), op, Box::new(unchecked(right))));
    if matches!(result, DataType::Decimal128(MAX_PRECISION, _)) {
        let udf = Arc::new(ScalarUDF::new_from_impl(DecimalInRange { signature: Signature::any(1, Volatility::Immutable) }));
        Expr::ScalarFunction(ScalarFunction::new_udf(udf, vec![operation]))
    } else {
        operation
    }
}

impl ScalarUDFImpl for DecimalInRange {
    fn name(&self) -> &str {
        IN_RANGE
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.first() {
            Some(t) => Ok(t.clone()),
            None => plan_err!("{IN_RANGE} takes one argument"),
        }
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let Some(field) = args.arg_fields.first() else { return plan_err!("{IN_RANGE} takes one argument") };
        Ok(Arc::new(Field::new(IN_RANGE, field.data_type().clone(), field.is_nullable())))
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        // The operation's own name: the check is invisible in column names.
        Ok(args.first().map(|a| a.schema_name().to_string()).unwrap_or_default())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value) = args.args.first() else { return exec_err!("{IN_RANGE} takes one argument") };
        if let DataType::Decimal128(precision, scale) = value.data_type() {
            let array = value.to_array(1)?;
            if array.as_primitive::<Decimal128Type>().validate_decimal_precision(precision).is_err() {
                return exec_err!(
                    "[NUMERIC_VALUE_OUT_OF_RANGE] the result does not fit DECIMAL({precision}, {scale}). Use `try_add` / `try_multiply` or cast to DOUBLE."
                );
            }
        }
        Ok(value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotient_types_follow_spark() {
        // Spark: CAST(1 AS DECIMAL(10,0)) / CAST(3 AS DECIMAL(10,0)) is DECIMAL(21,11).
        assert_eq!(quotient_type((10, 0), (10, 0)), (21, 11));
        // tinyint / DECIMAL(3,0): DECIMAL(9,6).
        assert_eq!(quotient_type((3, 0), (3, 0)), (9, 6));
        assert_eq!(quotient_type((38, 10), (38, 10)), (38, 6));
    }
}
