//! Spark's `timestampadd(unit, n, ts)` and `timestampdiff(unit, start, end)` (also read as
//! `dateadd` / `date_add` and `datediff` / `date_diff` / `timediff` with three arguments; the
//! parser turns the unit keyword into text).
//!
//! Units from MICROSECOND to HOUR are exact durations. DAY and WEEK, MONTH, QUARTER and YEAR
//! count on the calendar as Java's `ChronoUnit.between` does for Spark: a difference counts only
//! whole units (`2022-01-31` to `2022-02-28` is 0 months), and adding months keeps the day of
//! the month or clamps it to the month's last day.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Months, NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    fn parse(name: &str) -> Result<Unit> {
        Ok(match name.to_ascii_uppercase().as_str() {
            "MICROSECOND" => Unit::Microsecond,
            "MILLISECOND" => Unit::Millisecond,
            "SECOND" => Unit::Second,
            "MINUTE" => Unit::Minute,
            "HOUR" => Unit::Hour,
            "DAY" | "DAYOFYEAR" => Unit::Day,
            "WEEK" => Unit::Week,
            "MONTH" => Unit::Month,
            "QUARTER" => Unit::Quarter,
            "YEAR" => Unit::Year,
            other => {
                return plan_err!(
                    "[INVALID_PARAMETER_VALUE.DATETIME_UNIT] the unit '{other}' is not one of YEAR, QUARTER, MONTH, WEEK, DAY, DAYOFYEAR, HOUR, MINUTE, SECOND, MILLISECOND, MICROSECOND"
                );
            }
        })
    }

    /// The length of an exact unit in microseconds.
    fn micros(self) -> Option<i64> {
        Some(match self {
            Unit::Microsecond => 1,
            Unit::Millisecond => 1_000,
            Unit::Second => 1_000_000,
            Unit::Minute => 60_000_000,
            Unit::Hour => 3_600_000_000,
            Unit::Day => 86_400_000_000,
            Unit::Week => 7 * 86_400_000_000,
            _ => return None,
        })
    }

    /// The number of months in a calendar unit.
    fn months(self) -> Option<i64> {
        match self {
            Unit::Month => Some(1),
            Unit::Quarter => Some(3),
            Unit::Year => Some(12),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Add,
    Diff,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TimestampUnits {
    kind: Kind,
    signature: Signature,
}

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    [Kind::Add, Kind::Diff]
        .into_iter()
        .map(|kind| Arc::new(ScalarUDF::new_from_impl(TimestampUnits { kind, signature: Signature::user_defined(Volatility::Immutable) })))
        .collect()
}

fn is_datetime(t: &DataType) -> bool {
    matches!(t, DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) | DataType::Null)
        || matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

/// A timestamp type's result type: dates become Spark's TIMESTAMP.
fn timestamp_type(t: &DataType) -> DataType {
    match t {
        DataType::Timestamp(unit, tz) => DataType::Timestamp(*unit, tz.clone()),
        _ => DataType::Timestamp(TimeUnit::Nanosecond, None),
    }
}

impl ScalarUDFImpl for TimestampUnits {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Add => "timestampadd",
            Kind::Diff => "timestampdiff",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let [_, second, third] = args else {
            return plan_err!("[WRONG_NUM_ARGS] {} takes 3 arguments (unit, ..), not {}", self.name(), args.len());
        };
        let unit = DataType::Utf8;
        match self.kind {
            Kind::Add if second.is_integer() || second.is_null() => {
                if !is_datetime(third) {
                    return plan_err!("[DATATYPE_MISMATCH] timestampadd takes a DATE or TIMESTAMP, not {third}");
                }
                Ok(vec![unit, DataType::Int64, timestamp_type(third)])
            }
            Kind::Add => plan_err!("[DATATYPE_MISMATCH] timestampadd takes an integer quantity, not {second}"),
            Kind::Diff => {
                if !is_datetime(second) || !is_datetime(third) {
                    return plan_err!("[DATATYPE_MISMATCH] timestampdiff takes DATEs or TIMESTAMPs, not {second} and {third}");
                }
                let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
                Ok(vec![unit, micros.clone(), micros])
            }
        }
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Add => timestamp_type(args.get(2).unwrap_or(&DataType::Null)),
            Kind::Diff => DataType::Int64,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let unit = match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(unit))) => Unit::parse(unit)?,
            _ => return exec_err!("the unit of {} must be a keyword such as DAY or MONTH", self.name()),
        };
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args.args[1..].iter().map(|a| a.to_array(rows)).collect::<Result<_>>()?;
        let result: ArrayRef = match self.kind {
            Kind::Add => {
                let output = args.return_field.data_type().clone();
                let quantities = arrays[0].as_primitive::<Int64Type>();
                let micros = cast(&arrays[1], &DataType::Timestamp(TimeUnit::Microsecond, None))?;
                let micros = micros.as_primitive::<TimestampMicrosecondType>();
                let mut out = Vec::with_capacity(rows);
                for i in 0..rows {
                    out.push(if quantities.is_null(i) || micros.is_null(i) {
                        None
                    } else {
                        Some(add(unit, quantities.value(i), micros.value(i))?)
                    });
                }
                cast(&TimestampMicrosecondArray::from(out), &output)?
            }
            Kind::Diff => {
                let starts = arrays[0].as_primitive::<TimestampMicrosecondType>();
                let ends = arrays[1].as_primitive::<TimestampMicrosecondType>();
                let mut out = Vec::with_capacity(rows);
                for i in 0..rows {
                    out.push(if starts.is_null(i) || ends.is_null(i) { None } else { Some(diff(unit, starts.value(i), ends.value(i))?) });
                }
                Arc::new(Int64Array::from(out))
            }
        };
        super::answer(&args.args, result)
    }
}

fn datetime(micros: i64) -> Result<NaiveDateTime> {
    match DateTime::from_timestamp_micros(micros) {
        Some(t) => Ok(t.naive_utc()),
        None => exec_err!("[DATETIME_OVERFLOW] the timestamp {micros} (microseconds) is out of range"),
    }
}

fn overflow<T>() -> Result<T> {
    exec_err!("[DATETIME_OVERFLOW] timestampadd overflowed the range of TIMESTAMP")
}

fn add(unit: Unit, quantity: i64, micros: i64) -> Result<i64> {
    if let Some(months) = unit.months() {
        let Some(months) = quantity.checked_mul(months) else { return overflow() };
        let at = datetime(micros)?;
        let moved = match u32::try_from(months.unsigned_abs()) {
            Ok(n) if months >= 0 => at.checked_add_months(Months::new(n)),
            Ok(n) => at.checked_sub_months(Months::new(n)),
            Err(_) => None,
        };
        return match moved {
            Some(t) => Ok(t.and_utc().timestamp_micros()),
            None => overflow(),
        };
    }
    let step = unit.micros().unwrap_or(1);
    match quantity.checked_mul(step).and_then(|d| micros.checked_add(d)) {
        Some(t) => Ok(t),
        None => overflow(),
    }
}

fn diff(unit: Unit, start: i64, end: i64) -> Result<i64> {
    if let Some(per) = unit.months() {
        let (a, b) = (datetime(start)?, datetime(end)?);
        let mut months = (i64::from(b.year()) * 12 + i64::from(b.month0())) - (i64::from(a.year()) * 12 + i64::from(a.month0()));
        // Only whole months: the rest of the end (day, time) must reach the start's.
        let rest = |t: &NaiveDateTime| (t.day(), t.num_seconds_from_midnight(), t.nanosecond());
        if months > 0 && rest(&b) < rest(&a) {
            months -= 1;
        } else if months < 0 && rest(&b) > rest(&a) {
            months += 1;
        }
        return Ok(months / per);
    }
    // In i128 the difference of two BIGINT microsecond values cannot overflow; an answer past
    // BIGINT is an error, as in ANSI Spark.
    let step = i128::from(unit.micros().unwrap_or(1));
    match i64::try_from((i128::from(end) - i128::from(start)) / step) {
        Ok(units) => Ok(units),
        Err(_) => exec_err!("[ARITHMETIC_OVERFLOW] timestampdiff's answer is out of the range of BIGINT"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap().and_utc().timestamp_micros()
    }

    #[test]
    fn calendar_units_count_whole_units() {
        assert_eq!(diff(Unit::Month, at("2022-02-14 01:02:03"), at("2022-01-14 01:02:03")).unwrap(), -1);
        assert_eq!(diff(Unit::Month, at("2022-01-31 00:00:00"), at("2022-02-28 00:00:00")).unwrap(), 0);
        assert_eq!(diff(Unit::Quarter, at("2023-08-10 01:02:03"), at("2022-01-14 01:02:03")).unwrap(), -6);
        assert_eq!(diff(Unit::Year, at("2022-02-15 00:00:00"), at("2023-02-15 10:11:12")).unwrap(), 1);
        assert_eq!(diff(Unit::Day, at("2022-02-15 00:00:00"), at("2023-02-15 00:00:00")).unwrap(), 365);
        assert_eq!(diff(Unit::Second, at("2022-02-15 00:00:00"), at("2022-02-14 23:59:59")).unwrap(), -1);
        assert!(diff(Unit::Microsecond, i64::MIN, i64::MAX).is_err());
        assert_eq!(diff(Unit::Day, i64::MIN, i64::MAX).unwrap(), 213_503_982);
    }

    #[test]
    fn adding_months_clamps_to_the_last_day() {
        assert_eq!(add(Unit::Month, 1, at("2022-01-31 10:00:00")).unwrap(), at("2022-02-28 10:00:00"));
        assert_eq!(add(Unit::Year, 1, at("2022-02-15 00:00:00")).unwrap(), at("2023-02-15 00:00:00"));
        assert_eq!(add(Unit::Minute, 58, at("2022-02-14 01:02:03")).unwrap(), at("2022-02-14 02:00:03"));
        assert!(add(Unit::Day, i64::MAX, 0).is_err());
    }
}
