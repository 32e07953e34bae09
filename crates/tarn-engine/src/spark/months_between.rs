//! `months_between(ts1, ts2[, roundOff])` as Spark computes it: whole months when both days of
//! month are the same or both are the last of their month (the time of day ignored); otherwise
//! the month difference plus the difference of day and time of day over a 31-day month, rounded
//! to 8 decimal places unless `roundOff` is false. Dates count from midnight; text is read as a
//! timestamp.

use std::sync::Arc;

use chrono::{Datelike, NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, AsArray, BooleanArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

pub(crate) fn function() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(MonthsBetween { signature: Signature::user_defined(Volatility::Immutable) }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MonthsBetween {
    signature: Signature,
}

const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

impl ScalarUDFImpl for MonthsBetween {
    fn name(&self) -> &str {
        "months_between"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let point = |t: &DataType| -> Result<DataType> {
            match t {
                DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 | DataType::Null => Ok(TIMESTAMP),
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => Ok(TIMESTAMP),
                other => plan_err!(
                    "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] months_between takes timestamps or dates, not {}",
                    super::types::spark_type_name(other)
                ),
            }
        };
        match args {
            [a, b] => Ok(vec![point(a)?, point(b)?]),
            [a, b, DataType::Boolean | DataType::Null] => Ok(vec![point(a)?, point(b)?, DataType::Boolean]),
            _ => plan_err!("[WRONG_NUM_ARGS] months_between takes two timestamps and optionally a BOOLEAN roundOff"),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let first = cast(&args.args[0].to_array(rows)?, &TIMESTAMP)?;
        let second = cast(&args.args[1].to_array(rows)?, &TIMESTAMP)?;
        let (first, second) = (first.as_primitive::<TimestampMicrosecondType>(), second.as_primitive::<TimestampMicrosecondType>());
        let round = match args.args.get(2) {
            Some(value) => Some(value.to_array(rows)?),
            None => None,
        };
        let round: Option<&BooleanArray> = round.as_ref().map(|r| r.as_boolean());
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            if first.is_null(i) || second.is_null(i) || round.is_some_and(|r| r.is_null(i)) {
                out.push(None);
                continue;
            }
            let (Some(a), Some(b)) = (datetime(first.value(i)), datetime(second.value(i))) else {
                out.push(None);
                continue;
            };
            out.push(Some(months_between(a, b, round.is_none_or(|r| r.value(i)))));
        }
        super::answer(&args.args, Arc::new(Float64Array::from(out)))
    }
}

fn datetime(micros: i64) -> Option<NaiveDateTime> {
    chrono::DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc())
}

fn is_last_day(date: chrono::NaiveDate) -> bool {
    date.succ_opt().is_none_or(|next| next.month() != date.month())
}

fn months_between(a: NaiveDateTime, b: NaiveDateTime, round: bool) -> f64 {
    let months = |t: &NaiveDateTime| i64::from(t.year()) * 12 + i64::from(t.month());
    let month_diff = (months(&a) - months(&b)) as f64;
    let (da, db) = (a.date(), b.date());
    if da.day() == db.day() || (is_last_day(da) && is_last_day(db)) {
        return month_diff;
    }
    let seconds_of_day = |t: &NaiveDateTime| i64::from(t.time().num_seconds_from_midnight());
    let seconds = (i64::from(da.day()) - i64::from(db.day())) * 86_400 + seconds_of_day(&a) - seconds_of_day(&b);
    let diff = month_diff + seconds as f64 / (31.0 * 86_400.0);
    if round { (diff * 1e8 + 0.5).floor() / 1e8 } else { diff }
}
