//! Spark SQL functions DataFusion lacks under Spark's names.

use std::sync::Arc;

use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// `date(expr)`: the date of a timestamp, a date, or a string holding either (Spark's cast
/// to DATE).
#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkDate {
    signature: Signature,
}

impl ScalarUDFImpl for SparkDate {
    fn name(&self) -> &str {
        "date"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Date32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("date(expr) takes one argument");
        };
        let array = value.to_array(args.number_rows)?;
        // ANSI, as Databricks SQL: text that is no date is an error, not NULL.
        let strict = CastOptions { safe: false, ..Default::default() };
        let cast = |a: &datafusion::arrow::array::ArrayRef, t: &DataType| cast_with_options(a, t, &strict);
        let dates = match array.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                // "2024-01-02 10:00:00" is a timestamp to arrow, not a date: go through one.
                let timestamps = cast(&array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
                cast(&timestamps, &DataType::Date32)?
            }
            _ => cast(&array, &DataType::Date32)?,
        };
        Ok(match value {
            ColumnarValue::Scalar(_) => ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&dates, 0)?),
            ColumnarValue::Array(_) => ColumnarValue::Array(dates),
        })
    }
}

/// The functions to register in every session.
pub fn udfs() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ScalarUDF::new_from_impl(SparkDate { signature: Signature::any(1, Volatility::Immutable) })), element_at()]
}

/// The aggregate functions to register in every session.
pub fn udafs() -> Vec<Arc<datafusion::logical_expr::AggregateUDF>> {
    Vec::new()
}

/// Spark's `/` on integers and floating point numbers (planned by `operators`).
pub fn divide() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(super::collections::Divide::new()))
}

/// Spark's `arr[i]` (planned by `operators`).
pub fn array_item() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(super::collections::ArrayItem::new(super::collections::Indexing::ZeroBased)))
}

/// Spark's `element_at(array, i)` / `element_at(map, key)`.
pub fn element_at() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(super::collections::ArrayItem::new(super::collections::Indexing::ElementAt)))
}
