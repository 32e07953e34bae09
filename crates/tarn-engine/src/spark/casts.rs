//! Spark's text form of timestamps: `CAST(ts AS STRING)` (and every implicit cast to text, as in
//! `concat('at ', ts)`) is `2020-01-02 02:30:00` or `2020-01-02 02:30:00.12` — a space, and
//! the fraction only as long as it needs — where arrow's cast writes `2020-01-02T02:30:00`.
//!
//! And a float cast to a DECIMAL is the decimal it prints as, rounded half up (Spark's
//! `Decimal(d)` reads `d.toString`): arrow's cast multiplies by 10^scale in floating point, so
//! `CAST(1.0751133388005187e17 AS DECIMAL(38,10))` came out as `...051852.1637830656`, and
//! `1.005` as `1.00` (Spark `1.01`). NaN or infinity is NULL, as Spark's cast answers (even in
//! ANSI mode: `Cast.castToDecimal` catches the `NumberFormatException`); a finite value too
//! large is a NUMERIC_VALUE_OUT_OF_RANGE error.
//!
//! An analyzer rule, after type coercion has made every implicit cast explicit, replaces each
//! cast of a timestamp to text with [`TimestampText`] and guards each cast of a float to a
//! decimal.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::expr::{Cast, TryCast};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

/// Replaces casts of timestamps to text with Spark's formatting.
#[derive(Debug, Default)]
pub(crate) struct SparkCasts;

impl AnalyzerRule for SparkCasts {
    fn name(&self) -> &str {
        "spark_casts"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let text = Arc::new(ScalarUDF::new_from_impl(TimestampText::new()));
        plan.transform_up_with_subqueries(|node| {
            let schema = merge_schema(&node.inputs());
            // Output columns keep their names (`CAST(t AS STRING)`), as other rules require.
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let saved = names.save(&expr);
                let rewritten = expr.transform_up(|e| match &e {
                    Expr::Cast(Cast { expr: inner, field }) if is_text(field.data_type()) => match inner.get_type(&schema) {
                        Ok(DataType::Timestamp(..)) => {
                            let call = text.call(vec![inner.as_ref().clone()]);
                            let data_type = field.data_type();
                            let call = if *data_type == DataType::Utf8 { call } else { call.cast_to(data_type, &schema)? };
                            Ok(Transformed::yes(call))
                        }
                        _ => Ok(Transformed::no(e)),
                    },
                    // A number to BINARY: ANSI Spark has no such cast (arrow's gives the value's
                    // little-endian bytes, which no Spark mode gives).
                    Expr::Cast(Cast { expr: inner, field }) | Expr::TryCast(TryCast { expr: inner, field })
                        if matches!(field.data_type(), DataType::Binary | DataType::LargeBinary | DataType::BinaryView)
                            && inner.get_type(&schema).is_ok_and(|t| t.is_numeric()) =>
                    {
                        let from = inner.get_type(&schema)?;
                        Err(DataFusionError::Plan(format!(
                            "[DATATYPE_MISMATCH.CAST_WITH_CONF_SUGGESTION] cannot cast {} to BINARY with ANSI mode on; \
                             cast it to STRING first, or use hex(x)",
                            super::types::spark_type_name(&from)
                        )))
                    }
                    // Text to DATE: Spark's reading of the text (`text_dates`).
                    Expr::Cast(Cast { expr: inner, field }) | Expr::TryCast(TryCast { expr: inner, field })
                        if *field.data_type() == DataType::Date32 && inner.get_type(&schema).is_ok_and(|t| is_text(&t)) =>
                    {
                        let udf = super::text_dates::udf(matches!(e, Expr::TryCast(_)));
                        Ok(Transformed::yes(udf.call(vec![inner.as_ref().clone()])))
                    }
                    // Text to TIMESTAMP: Spark's reading of the text (`text_timestamps`).
                    Expr::Cast(Cast { expr: inner, field }) | Expr::TryCast(TryCast { expr: inner, field })
                        if matches!(field.data_type(), DataType::Timestamp(..)) && inner.get_type(&schema).is_ok_and(|t| is_text(&t)) =>
                    {
                        let udf = super::text_timestamps::udf(field.data_type().clone(), matches!(e, Expr::TryCast(_)));
                        Ok(Transformed::yes(udf.call(vec![inner.as_ref().clone()])))
                    }
                    Expr::Cast(Cast { expr: inner, field }) | Expr::TryCast(TryCast { expr: inner, field })
                        if field.data_type().is_decimal() =>
                    {
                        match (inner.get_type(&schema), field.data_type()) {
                            (Ok(DataType::Float16 | DataType::Float32 | DataType::Float64), DataType::Decimal128(precision, scale))
                                if *scale >= 0 =>
                            {
                                let double = Expr::Cast(Cast::new(inner.clone(), DataType::Float64));
                                let udf = DoubleToDecimal {
                                    precision: *precision,
                                    scale: *scale,
                                    null_on_overflow: matches!(e, Expr::TryCast(_)),
                                    signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable),
                                };
                                Ok(Transformed::yes(Arc::new(ScalarUDF::new_from_impl(udf)).call(vec![double])))
                            }
                            _ => Ok(Transformed::no(e)),
                        }
                    }
                    _ => Ok(Transformed::no(e)),
                })?;
                Ok(rewritten.update_data(|e| saved.restore(e)))
            })
        })
        .data()
    }
}

/// A double cast to DECIMAL(precision, scale) as Spark casts it (see the module's comment).
#[derive(Debug, PartialEq, Eq, Hash)]
struct DoubleToDecimal {
    precision: u8,
    scale: i8,
    /// TRY_CAST: NULL where CAST fails.
    null_on_overflow: bool,
    signature: Signature,
}

/// `value` (finite) as an unscaled DECIMAL at `scale`: its shortest decimal text, rounded half
/// up; `None` when it does not fit `precision` digits.
fn double_to_decimal(value: f64, precision: u8, scale: i8) -> Option<i128> {
    let text = format!("{value:e}");
    let (mantissa, exponent) = text.split_once('e')?;
    let exponent: i32 = exponent.parse().ok()?;
    let (negative, digits) = mantissa.strip_prefix('-').map_or((false, mantissa), |m| (true, m));
    let fraction_digits = digits.split_once('.').map_or(0, |(_, f)| f.len() as i32);
    let unscaled: i128 = digits.replace('.', "").parse().ok()?;
    // value = ±unscaled * 10^(exponent - fraction_digits); the target counts units of 10^-scale.
    let shift = i32::from(scale) + exponent - fraction_digits;
    let magnitude = if shift >= 0 {
        unscaled.checked_mul(10_i128.checked_pow(shift as u32)?)?
    } else if -shift > 38 {
        0
    } else {
        let divisor = 10_i128.pow((-shift) as u32);
        let (q, r) = (unscaled / divisor, unscaled % divisor);
        if r * 2 >= divisor { q + 1 } else { q }
    };
    (magnitude < 10_i128.pow(u32::from(precision))).then_some(if negative { -magnitude } else { magnitude })
}

impl ScalarUDFImpl for DoubleToDecimal {
    fn name(&self) -> &str {
        "spark_double_to_decimal"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Decimal128(self.precision, self.scale))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let array = args.args[0].to_array(args.number_rows)?;
        let doubles = datafusion::common::cast::as_float64_array(&array)?;
        let mut out = Vec::with_capacity(doubles.len());
        for value in doubles.iter() {
            out.push(match value {
                Some(v) if v.is_finite() => match double_to_decimal(v, self.precision, self.scale) {
                    Some(decimal) => Some(decimal),
                    None if self.null_on_overflow => None,
                    None => {
                        return Err(DataFusionError::Execution(format!(
                            "[NUMERIC_VALUE_OUT_OF_RANGE] {v} cannot be represented as DECIMAL({}, {}); use try_cast to get NULL",
                            self.precision, self.scale
                        )));
                    }
                },
                _ => None,
            });
        }
        let out = datafusion::arrow::array::Decimal128Array::from(out).with_precision_and_scale(self.precision, self.scale)?;
        super::answer(&args.args, Arc::new(out))
    }
}

fn is_text(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// A timestamp as Spark writes it: `yyyy-MM-dd HH:mm:ss[.fraction]`, trailing zeros of the
/// fraction dropped; a timestamp with a time zone in that zone.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimestampText {
    signature: Signature,
}

impl TimestampText {
    pub(crate) fn new() -> Self {
        Self { signature: Signature::any(1, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for TimestampText {
    fn name(&self) -> &str {
        "spark_timestamp_text"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let array = args.args[0].to_array(args.number_rows)?;
        super::answer(&args.args, timestamp_text(&array)?)
    }
}

fn timestamp_text(array: &ArrayRef) -> Result<ArrayRef> {
    const PATTERN: &str = "%Y-%m-%d %H:%M:%S%.f";
    let options = FormatOptions::new().with_timestamp_format(Some(PATTERN)).with_timestamp_tz_format(Some(PATTERN));
    let formatter = ArrayFormatter::try_new(array.as_ref(), &options).map_err(|e| DataFusionError::ArrowError(Box::new(e), None))?;
    let mut out = StringBuilder::with_capacity(array.len(), array.len() * 26);
    for i in 0..array.len() {
        if array.is_null(i) {
            out.append_null();
            continue;
        }
        let text = formatter.value(i).to_string();
        out.append_value(trim_fraction(&text));
    }
    Ok(Arc::new(out.finish()))
}

/// `12:00:00.120` → `12:00:00.12`, `12:00:00.000` → `12:00:00`.
fn trim_fraction(text: &str) -> &str {
    match text.rfind('.') {
        Some(dot) if text[dot + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            let trimmed = text.trim_end_matches('0');
            trimmed.strip_suffix('.').unwrap_or(trimmed)
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_become_the_decimal_they_print_as() {
        assert_eq!(double_to_decimal(1.005, 3, 2), Some(101));
        assert_eq!(double_to_decimal(-1.005, 3, 2), Some(-101));
        assert_eq!(double_to_decimal(1.0751133388005187e17, 38, 10), Some(1_075_113_338_800_518_700_000_000_000));
        assert_eq!(double_to_decimal(0.1, 38, 18), Some(100_000_000_000_000_000));
        assert_eq!(double_to_decimal(1e30, 10, 2), None);
        assert_eq!(double_to_decimal(1e-300, 10, 2), Some(0));
    }

    #[test]
    fn fractions_lose_their_trailing_zeros_only() {
        assert_eq!(trim_fraction("2020-01-02 02:30:00.120"), "2020-01-02 02:30:00.12");
        assert_eq!(trim_fraction("2020-01-02 02:30:00.000000"), "2020-01-02 02:30:00");
        assert_eq!(trim_fraction("2020-01-02 02:30:10"), "2020-01-02 02:30:10");
    }
}
