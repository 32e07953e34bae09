//! Spark's text form of timestamps: `CAST(ts AS STRING)` (and every implicit cast to text, as in
//! `concat('at ', ts)`) is `2020-01-02 02:30:00` or `2020-01-02 02:30:00.12` — a space, and
//! the fraction only as long as it needs — where arrow's cast writes `2020-01-02T02:30:00`.
//!
//! And a floating point NaN or infinity cast to a DECIMAL is NULL, as Spark's cast answers
//! (even in ANSI mode: `Cast.castToDecimal` catches the `NumberFormatException`), where
//! arrow's cast fails the whole statement; a finite value too large stays an error.
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
use datafusion::logical_expr::expr::Cast;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::logical_expr::{lit, when};
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
                    Expr::Cast(Cast { expr: inner, field }) if field.data_type().is_decimal() => match inner.get_type(&schema) {
                        Ok(DataType::Float16 | DataType::Float32 | DataType::Float64) => {
                            let double = Expr::Cast(Cast::new(inner.clone(), DataType::Float64));
                            let finite = (!datafusion::functions::math::expr_fn::isnan(double.clone()))
                                .and(datafusion::functions::math::expr_fn::abs(double).not_eq(lit(f64::INFINITY)));
                            let guarded = when(finite, inner.as_ref().clone()).end()?;
                            Ok(Transformed::yes(Expr::Cast(Cast { expr: Box::new(guarded), field: field.clone() })))
                        }
                        _ => Ok(Transformed::no(e)),
                    },
                    _ => Ok(Transformed::no(e)),
                })?;
                Ok(rewritten.update_data(|e| saved.restore(e)))
            })
        })
        .data()
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
    fn fractions_lose_their_trailing_zeros_only() {
        assert_eq!(trim_fraction("2020-01-02 02:30:00.120"), "2020-01-02 02:30:00.12");
        assert_eq!(trim_fraction("2020-01-02 02:30:00.000000"), "2020-01-02 02:30:00");
        assert_eq!(trim_fraction("2020-01-02 02:30:10"), "2020-01-02 02:30:10");
    }
}
