//! Spark's `round(x [, scale])` (HALF_UP: `round(2.5) = 3`) and `bround(x [, scale])`
//! (HALF_EVEN: `bround(2.5) = 2`, `bround(3.5) = 4`) to `scale` decimal places (negative: to
//! tens, hundreds, ...). An integer keeps its type (an answer out of its range is an error, as
//! in ANSI Spark), a DECIMAL takes Spark's rounded DECIMAL type (`round(DECIMAL(20,18))` is a
//! DECIMAL(3,0)), and a float is rounded as the decimal it prints as (Spark's
//! `BigDecimal(d).setScale(scale, mode)`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::math::{rounded_type, scale_of};

#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct BRound {
    signature: Signature,
    /// `round`'s HALF_UP rather than `bround`'s HALF_EVEN.
    half_up: bool,
}

impl BRound {
    /// `bround`.
    pub(super) fn new() -> Self {
        BRound { signature: Signature::user_defined(Volatility::Immutable), half_up: false }
    }

    /// `round`.
    pub(super) fn half_up() -> Self {
        BRound { signature: Signature::user_defined(Volatility::Immutable), half_up: true }
    }
}

/// `value` at `from_scale` rounded half to even to `to_scale` places, as an unscaled value at
/// `max(to_scale, 0)`; `None` when it overflows.
#[cfg(test)]
fn half_even(value: i128, from_scale: i32, to_scale: i32) -> Option<i128> {
    round_half(value, from_scale, to_scale, false)
}

/// `value` at `from_scale` rounded to `to_scale` places, halves up (away from zero) or to the
/// even neighbour, as an unscaled value at `max(to_scale, 0)`; `None` when it overflows.
fn round_half(value: i128, from_scale: i32, to_scale: i32, half_up: bool) -> Option<i128> {
    let shift = from_scale - to_scale;
    let quotient = if shift <= 0 {
        return if to_scale >= 0 { value.checked_mul(10_i128.checked_pow((-shift) as u32)?) } else { Some(value) };
    } else {
        match 10_i128.checked_pow(shift as u32) {
            Some(divisor) => {
                let (q, r) = (value / divisor, value % divisor);
                let twice = r.unsigned_abs() * 2;
                let away = twice > divisor.unsigned_abs() || (twice == divisor.unsigned_abs() && (half_up || q % 2 != 0));
                if away { q + value.signum() } else { q }
            }
            None => 0,
        }
    };
    if to_scale >= 0 { Some(quotient) } else { quotient.checked_mul(10_i128.checked_pow((-to_scale) as u32)?) }
}

/// A double rounded as the decimal it prints as.
fn round_double(value: f64, scale: i32, half_up: bool) -> f64 {
    if !value.is_finite() {
        return value;
    }
    let text = format!("{value:e}");
    let Some((mantissa, exponent)) = text.split_once('e') else { return value };
    let Ok(exponent) = exponent.parse::<i32>() else { return value };
    let (sign, digits) = mantissa.strip_prefix('-').map_or((1, mantissa), |m| (-1, m));
    let fraction_digits = digits.split_once('.').map_or(0, |(_, f)| f.len() as i32);
    let Ok(unscaled) = digits.replace('.', "").parse::<i128>() else { return value };
    // value = sign * unscaled * 10^(exponent - fraction_digits)
    let from_scale = fraction_digits - exponent;
    match round_half(sign * unscaled, from_scale, scale, half_up) {
        Some(rounded) if scale >= 0 => format!("{rounded}e-{scale}").parse().unwrap_or(value),
        Some(rounded) => rounded as f64,
        None => value,
    }
}

impl ScalarUDFImpl for BRound {
    fn name(&self) -> &str {
        if self.half_up { "round" } else { "bround" }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let x = match args.first() {
            Some(x) if x.is_numeric() => x.clone(),
            Some(x) if x.is_null() => DataType::Float64,
            Some(x) => return plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] bround needs a number, got {x}"),
            None => return plan_err!("[WRONG_NUM_ARGS] bround takes one or two arguments, got 0"),
        };
        match args {
            [_] => Ok(vec![x]),
            [_, scale] if scale.is_integer() => Ok(vec![x, scale.clone()]),
            [_, scale] => plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] bround's scale must be an INT, got {scale}"),
            _ => plan_err!("[WRONG_NUM_ARGS] bround takes one or two arguments, got {}", args.len()),
        }
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        plan_err!("bround's type depends on its scale")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let scale = match args.scalar_arguments.get(1) {
            Some(scale) => scale_of(scale.as_ref().copied(), self.name())?,
            None => 0,
        };
        let x = args.arg_fields[0].data_type();
        let data_type = match x {
            DataType::Decimal128(p, s) => {
                let (p, s) = rounded_type((*p, *s), scale);
                DataType::Decimal128(p, s)
            }
            DataType::Float32 | DataType::Float64 => x.clone(),
            t if t.is_integer() => t.clone(),
            t => match super::decimal::as_decimal(t) {
                Some(decimal) => {
                    let (p, s) = rounded_type(decimal, scale);
                    DataType::Decimal128(p, s)
                }
                None => return plan_err!("bround needs a number, got {t}"),
            },
        };
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        Ok(Arc::new(Field::new(self.name(), data_type, nullable)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scale = match args.args.get(1) {
            Some(ColumnarValue::Scalar(scale)) => scale_of(Some(scale), self.name())?,
            Some(_) => return exec_err!("bround's scale must be a literal"),
            None => 0,
        };
        let output = args.return_field.data_type().clone();
        let x = args.args[0].to_array(args.number_rows)?;
        let result: ArrayRef = match x.data_type() {
            DataType::Float32 | DataType::Float64 => {
                let doubles = cast(&x, &DataType::Float64)?;
                let rounded: Float64Array = doubles.as_primitive::<Float64Type>().unary(|v| round_double(v, scale, self.half_up));
                cast(&rounded, &output)?
            }
            t if t.is_integer() => {
                let longs = cast(&x, &DataType::Int64)?;
                let mut out = Vec::with_capacity(longs.len());
                for v in longs.as_primitive::<Int64Type>() {
                    out.push(
                        match v.map(|v| round_half(i128::from(v), 0, scale.min(0), self.half_up).and_then(|r| i64::try_from(r).ok())) {
                            Some(None) => {
                                return exec_err!("[ARITHMETIC_OVERFLOW] bround({}, {scale}) overflowed {output}", v.unwrap_or_default());
                            }
                            other => other.flatten(),
                        },
                    );
                }
                // A value out of the input type's range fails the checked cast back.
                let options = datafusion::arrow::compute::CastOptions { safe: false, ..Default::default() };
                datafusion::arrow::compute::cast_with_options(&Int64Array::from(out), &output, &options)
                    .or_else(|_| exec_err!("[ARITHMETIC_OVERFLOW] bround(x, {scale}) overflowed {output}"))?
            }
            _ => {
                let DataType::Decimal128(p, s) = output else { return exec_err!("bround answers a DECIMAL here") };
                let decimals = match x.data_type() {
                    DataType::Decimal128(_, _) => x.clone(),
                    other => match super::decimal::as_decimal(other) {
                        Some((xp, xs)) => cast(&x, &DataType::Decimal128(xp, xs))?,
                        None => return exec_err!("bround needs a number, got {other}"),
                    },
                };
                let DataType::Decimal128(_, from_scale) = decimals.data_type().clone() else { return exec_err!("bround needs a DECIMAL") };
                let mut out = Vec::with_capacity(decimals.len());
                for v in decimals.as_primitive::<Decimal128Type>() {
                    out.push(match v.map(|v| round_half(v, i32::from(from_scale), scale.min(i32::from(from_scale)), self.half_up)) {
                        Some(None) => return exec_err!("[NUMERIC_VALUE_OUT_OF_RANGE] bround(x, {scale}) does not fit DECIMAL({p},{s})"),
                        other => other.flatten(),
                    });
                }
                let out = Decimal128Array::from(out).with_precision_and_scale(p, s)?;
                out.validate_decimal_precision(p)?;
                Arc::new(out)
            }
        };
        super::answer(&args.args[..1], result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_go_to_the_even_neighbour() {
        assert_eq!(half_even(25, 0, -1), Some(20));
        assert_eq!(half_even(35, 0, -1), Some(40));
        assert_eq!(half_even(525, 0, -1), Some(520));
        assert_eq!(half_even(525, 0, -3), Some(1000));
        assert_eq!(half_even(-25, 1, 0), Some(-2));
        assert_eq!(half_even(-35, 1, 0), Some(-4));
        assert_eq!(half_even(2, 0, 2), Some(200));
        assert_eq!(round_double(2.5, 0, false), 2.0);
        assert_eq!(round_double(3.5, 0, false), 4.0);
        assert_eq!(round_double(-0.125, 2, false), -0.12);
        assert_eq!(round_double(1234.5, -1, false), 1230.0);
        assert_eq!(round_double(2.5, 0, true), 3.0);
        assert_eq!(round_double(-0.125, 2, true), -0.13);
        assert_eq!(round_half(-55, 1, 0, true), Some(-6));
    }
}
