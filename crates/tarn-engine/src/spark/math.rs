//! `ceil(x, scale)` / `floor(x, scale)`: Spark's rounding to a number of decimal places
//! (negative: to tens, hundreds, ...), over `datafusion-spark`'s one-argument `ceil` / `floor`;
//! and `bround(x [, scale])`, rounding half to even (`datafusion-spark`'s `round` rounds half
//! up), keeping an integer's or a float's type and giving a DECIMAL Spark's rounded type.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Decimal128Array};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// Spark's `ceil` and `floor`, with and without a scale, `round` and `bround`.
pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    use datafusion_spark::function::math;
    [(Rounding::Ceiling, math::ceil()), (Rounding::Floor, math::floor())]
        .into_iter()
        .map(|(rounding, inner)| Arc::new(ScalarUDF::new_from_impl(RoundTo::new(rounding, inner))))
        .chain(std::iter::once(Arc::new(ScalarUDF::new_from_impl(super::bround::BRound::new()))))
        .chain(std::iter::once(Arc::new(ScalarUDF::new_from_impl(super::bround::BRound::half_up()))))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rounding {
    Ceiling,
    Floor,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RoundTo {
    rounding: Rounding,
    /// The one-argument function, which answers `ceil(x)` / `floor(x)`.
    inner: Arc<ScalarUDF>,
    signature: Signature,
}

impl RoundTo {
    fn new(rounding: Rounding, inner: Arc<ScalarUDF>) -> Self {
        Self { rounding, inner, signature: Signature::user_defined(Volatility::Immutable) }
    }
}

/// The DECIMAL a value is rounded as (Spark's implicit cast of a number to a decimal).
fn decimal_operand(t: &DataType) -> Option<(u8, i8)> {
    match t {
        DataType::Float32 => Some((14, 7)),
        DataType::Float64 => Some((30, 15)),
        DataType::Null => Some((1, 0)),
        other => super::decimal::as_decimal(other),
    }
}

/// Spark's result type of rounding `DECIMAL(p, s)` to `scale` places (`RoundBase.dataType`):
/// one more integral digit for the carry (`ceil(9.9, 0)` is `10`).
pub(super) fn rounded_type((p, s): (u8, i8), scale: i32) -> (u8, i8) {
    let integral = i32::from(p) - i32::from(s) + 1;
    if scale < 0 {
        (integral.max(1 - scale).min(38) as u8, 0)
    } else {
        let scale = i32::from(s).min(scale);
        ((integral + scale).min(38) as u8, scale as i8)
    }
}

fn round_value(value: i128, from_scale: i8, to_scale: i32, rounding: Rounding) -> Option<i128> {
    let shift = i32::from(from_scale) - to_scale;
    if shift <= 0 {
        return Some(value);
    }
    let quotient = match 10_i128.checked_pow(shift as u32) {
        Some(divisor) => {
            let (q, r) = (value / divisor, value % divisor);
            match rounding {
                Rounding::Ceiling if r > 0 => q + 1,
                Rounding::Floor if r < 0 => q - 1,
                _ => q,
            }
        }
        // Every DECIMAL is smaller than 10^38: the answer is -1, 0 or 1 unit of the target.
        None => match rounding {
            Rounding::Ceiling => i128::from(value > 0),
            Rounding::Floor => -i128::from(value < 0),
        },
    };
    if to_scale >= 0 { Some(quotient) } else { quotient.checked_mul(10_i128.checked_pow((-to_scale) as u32)?) }
}

/// The literal scale argument.
pub(super) fn scale_of(value: Option<&ScalarValue>, name: &str) -> Result<i32> {
    match value {
        Some(v) if v.data_type().is_integer() && !v.is_null() => match v.cast_to(&DataType::Int32)? {
            ScalarValue::Int32(Some(scale)) => Ok(scale),
            _ => plan_err!("[NON_FOLDABLE_ARGUMENT] {name}'s `scale` must be an INT literal"),
        },
        _ => plan_err!("[NON_FOLDABLE_ARGUMENT] {name}'s `scale` must be an INT literal, not NULL, text or a column"),
    }
}

impl ScalarUDFImpl for RoundTo {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [x] if x.is_numeric() => Ok(vec![x.clone()]),
            [x] if x.is_null() || matches!(x, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8) => Ok(vec![DataType::Float64]),
            [x, scale] => {
                let Some((p, s)) = decimal_operand(x) else {
                    return plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] {}(x, scale) needs a number, got {x}", self.name());
                };
                Ok(vec![DataType::Decimal128(p, s), scale.clone()])
            }
            [x] => plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] {} needs a number, got {x}", self.name()),
            _ => plan_err!("[WRONG_NUM_ARGS] {} takes one or two arguments, got {}", self.name(), args.len()),
        }
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [_] => self.inner.return_type(args),
            _ => plan_err!("{}(x, scale) needs its scale to know its type", self.name()),
        }
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if args.arg_fields.len() == 1 {
            return self.inner.return_field_from_args(args);
        }
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        let data_type = match args.arg_fields {
            [x, _] => {
                let scale = scale_of(args.scalar_arguments.get(1).copied().flatten(), self.name())?;
                let Some(decimal) = decimal_operand(x.data_type()) else {
                    return plan_err!("{}(x, scale) needs a number, got {}", self.name(), x.data_type());
                };
                let (p, s) = rounded_type(decimal, scale);
                DataType::Decimal128(p, s)
            }
            _ => return plan_err!("[WRONG_NUM_ARGS] {} takes one or two arguments", self.name()),
        };
        Ok(Arc::new(Field::new(self.name(), data_type, nullable)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [x, scale] = args.args.as_slice() else { return self.inner.invoke_with_args(args) };
        let ColumnarValue::Scalar(scale) = scale else { return exec_err!("{}'s scale must be a literal", self.name()) };
        let scale = scale_of(Some(scale), self.name())?;
        let DataType::Decimal128(p, s) = args.return_field.data_type().clone() else {
            return exec_err!("{}(x, scale) answers a DECIMAL", self.name());
        };
        let x = x.to_array(args.number_rows)?;
        let DataType::Decimal128(_, from_scale) = x.data_type().clone() else {
            return exec_err!("{}(x, scale) rounds a DECIMAL, got {}", self.name(), x.data_type());
        };
        let mut out = Vec::with_capacity(x.len());
        for value in x.as_primitive::<Decimal128Type>() {
            out.push(match value {
                None => None,
                Some(v) => match round_value(v, from_scale, scale, self.rounding) {
                    Some(v) => Some(v),
                    None => return exec_err!("[NUMERIC_VALUE_OUT_OF_RANGE] {}(x, {scale}) does not fit DECIMAL({p},{s})", self.name()),
                },
            });
        }
        let out = Decimal128Array::from(out).with_precision_and_scale(p, s)?;
        // A carry past 38 digits (`ceil(99999...9.9, 0)`) is an error, as in ANSI Spark.
        out.validate_decimal_precision(p)?;
        let out: Arc<dyn Array> = Arc::new(out);
        super::answer(&args.args[..1], out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_to_places_and_to_tens() {
        // ceil(-0.35, 1) = -0.3; floor(-0.35, 1) = -0.4; ceil(3.14115, -3) = 1000
        assert_eq!(round_value(-35, 2, 1, Rounding::Ceiling), Some(-3));
        assert_eq!(round_value(-35, 2, 1, Rounding::Floor), Some(-4));
        assert_eq!(round_value(314115, 5, -3, Rounding::Ceiling), Some(1000));
        assert_eq!(round_value(-35, 0, -1, Rounding::Floor), Some(-40));
        assert_eq!(rounded_type((2, 1), 0), (2, 0));
        assert_eq!(rounded_type((6, 5), -3), (4, 0));
        assert_eq!(rounded_type((10, 0), -1), (11, 0));
    }
}
