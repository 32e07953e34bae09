//! Spark's `EXTRACT(field FROM source)` (and `date_part('field', source)` through it): Spark's
//! field names and abbreviations (`y`, `yrs`, `qtr`, `mon`, `dow`, `secs`, ...), sources that
//! are timestamps, dates, text holding one, or intervals, and `SECOND` with its fraction
//! (DECIMAL(8,6): `9.123456`, where an integer second would silently drop it).

use std::sync::Arc;

use chrono::{Datelike, NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, ArrayRef, Decimal128Builder, Int32Builder, IntervalMonthDayNanoArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, cast, lit};

/// A field Spark can extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Field {
    Year,
    YearOfWeek,
    Quarter,
    Month,
    Week,
    Day,
    DayOfWeek,
    DayOfWeekIso,
    DayOfYear,
    Hour,
    Minute,
    Second,
    /// Seconds since 1970-01-01 00:00:00 UTC, with the fraction. Not Spark's, but what
    /// Postgres clients (Grafana's time buckets) send over the wire.
    Epoch,
}

impl Field {
    /// Spark's names for each field (`DatePart.parseExtractField`).
    fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_uppercase().as_str() {
            "YEAR" | "Y" | "YEARS" | "YR" | "YRS" => Field::Year,
            "YEAROFWEEK" => Field::YearOfWeek,
            "QUARTER" | "QTR" => Field::Quarter,
            "MONTH" | "MON" | "MONS" | "MONTHS" => Field::Month,
            "WEEK" | "W" | "WEEKS" => Field::Week,
            "DAY" | "D" | "DAYS" => Field::Day,
            "DAYOFWEEK" | "DOW" => Field::DayOfWeek,
            "DAYOFWEEK_ISO" | "DOW_ISO" => Field::DayOfWeekIso,
            "DOY" => Field::DayOfYear,
            "HOUR" | "H" | "HOURS" | "HR" | "HRS" => Field::Hour,
            "MINUTE" | "M" | "MIN" | "MINS" | "MINUTES" => Field::Minute,
            "SECOND" | "S" | "SEC" | "SECONDS" | "SECS" => Field::Second,
            "EPOCH" => Field::Epoch,
            _ => return None,
        })
    }

    fn of_datetime(self, t: &NaiveDateTime) -> i64 {
        i64::from(match self {
            Field::Year => t.year(),
            Field::YearOfWeek => t.iso_week().year(),
            Field::Quarter => (t.month0() / 3 + 1) as i32,
            Field::Month => t.month() as i32,
            Field::Week => t.iso_week().week() as i32,
            Field::Day => t.day() as i32,
            Field::DayOfWeek => t.weekday().num_days_from_sunday() as i32 + 1,
            Field::DayOfWeekIso => t.weekday().number_from_monday() as i32,
            Field::DayOfYear => t.ordinal() as i32,
            Field::Hour => t.hour() as i32,
            Field::Minute => t.minute() as i32,
            // Microseconds within the minute (the DECIMAL(8,6)'s unscaled value).
            Field::Second => return i64::from(t.second()) * 1_000_000 + i64::from(t.nanosecond() / 1_000),
            Field::Epoch => return t.and_utc().timestamp_micros(),
        })
    }

    /// The result type: seconds keep their microseconds.
    fn data_type(self) -> DataType {
        match self {
            Field::Second => DataType::Decimal128(8, 6),
            Field::Epoch => DataType::Decimal128(18, 6),
            _ => DataType::Int32,
        }
    }
}

/// Plans `EXTRACT` with Spark's fields; ahead of `datafusion-spark`'s planner.
#[derive(Debug, Default)]
pub(crate) struct SparkExtract;

impl ExprPlanner for SparkExtract {
    fn plan_extract(&self, args: Vec<Expr>) -> Result<PlannerResult<Vec<Expr>>> {
        let name = match args.first() {
            Some(Expr::Literal(ScalarValue::Utf8(Some(name)), _)) => name.clone(),
            _ => return Ok(PlannerResult::Original(args)),
        };
        let Some(field) = Field::parse(&name) else {
            return plan_err!(
                "[INVALID_EXTRACT_FIELD] cannot extract {name}; use YEAR, QUARTER, MONTH, WEEK, DAY, DAYOFWEEK, DOY, HOUR, MINUTE or SECOND"
            );
        };
        let source = args.into_iter().nth(1);
        let Some(source) = source else { return plan_err!("EXTRACT needs a source: EXTRACT(field FROM expr)") };
        let udf = ScalarUDF::new_from_impl(Extract {
            name: format!("extract_{}", name.to_ascii_lowercase()),
            field,
            signature: Signature::any(1, Volatility::Immutable),
        });
        Ok(PlannerResult::Planned(Arc::new(udf).call(vec![source])))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Extract {
    name: String,
    field: Field,
    signature: Signature,
}

impl ScalarUDFImpl for Extract {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.field.data_type())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let array = args.args[0].to_array(args.number_rows)?;
        let values: Vec<Option<i64>> = match array.data_type() {
            DataType::Interval(IntervalUnit::MonthDayNano) => {
                let intervals = array.as_any().downcast_ref::<IntervalMonthDayNanoArray>();
                let Some(intervals) = intervals else { return exec_err!("EXTRACT: not an interval array") };
                intervals
                    .iter()
                    .map(|v| v.map(|v| of_interval(self.field, v.months, v.days, v.nanoseconds)).transpose())
                    .collect::<Result<_>>()?
            }
            DataType::Interval(_) => {
                let cast = cast_with_options(&array, &DataType::Interval(IntervalUnit::MonthDayNano), &CastOptions::default())?;
                let intervals = cast.as_any().downcast_ref::<IntervalMonthDayNanoArray>();
                let Some(intervals) = intervals else { return exec_err!("EXTRACT: not an interval array") };
                intervals
                    .iter()
                    .map(|v| v.map(|v| of_interval(self.field, v.months, v.days, v.nanoseconds)).transpose())
                    .collect::<Result<_>>()?
            }
            other => {
                let tz = match other {
                    DataType::Timestamp(_, Some(tz)) => Some(tz.parse::<datafusion::arrow::array::timezone::Tz>()?),
                    _ => None,
                };
                let target = DataType::Timestamp(TimeUnit::Microsecond, None);
                // ANSI: text that is no timestamp is an error, not NULL.
                let strict = CastOptions { safe: false, ..Default::default() };
                let micros = match other {
                    DataType::Timestamp(unit, Some(_)) => {
                        let unzoned = cast_with_options(&array, &DataType::Timestamp(*unit, None), &strict)?;
                        cast_with_options(&unzoned, &target, &strict)?
                    }
                    _ => cast_with_options(&array, &target, &strict)?,
                };
                let Some(micros) = micros.as_any().downcast_ref::<TimestampMicrosecondArray>() else {
                    return exec_err!("EXTRACT: not a timestamp array");
                };
                micros
                    .iter()
                    .map(|v| {
                        v.and_then(chrono::DateTime::from_timestamp_micros).map(|utc| {
                            let local = match &tz {
                                // The instant's own seconds since the epoch, not its wall clock's.
                                Some(_) if self.field == Field::Epoch => utc.naive_utc(),
                                Some(tz) => utc.with_timezone(tz).naive_local(),
                                None => utc.naive_utc(),
                            };
                            self.field.of_datetime(&local)
                        })
                    })
                    .collect()
            }
        };
        let out: ArrayRef = if let DataType::Decimal128(precision, scale) = self.field.data_type() {
            let mut b = Decimal128Builder::with_capacity(values.len());
            values.iter().for_each(|v| b.append_option(v.map(i128::from)));
            Arc::new(b.finish().with_precision_and_scale(precision, scale)?)
        } else {
            let mut b = Int32Builder::with_capacity(values.len());
            for v in values {
                b.append_option(v.map(|v| i32::try_from(v).unwrap_or(i32::MAX)));
            }
            Arc::new(b.finish())
        };
        super::answer(&args.args, out)
    }
}

/// A field of an interval, as Spark's year-month (`months`) and day-time (the rest, as one
/// span: 40 hours are 1 day and 16 hours) intervals have them; truncating toward zero.
fn of_interval(field: Field, months: i32, days: i32, nanos: i64) -> Result<i64> {
    let micros = i64::from(days) * 86_400_000_000 + nanos / 1_000;
    Ok(match field {
        Field::Year => i64::from(months / 12),
        Field::Month => i64::from(months % 12),
        Field::Day => micros / 86_400_000_000,
        Field::Hour => micros / 3_600_000_000 % 24,
        Field::Minute => micros / 60_000_000 % 60,
        Field::Second => micros % 60_000_000,
        other => return exec_err!("[INVALID_EXTRACT_FIELD] cannot extract {other:?} from an interval"),
    })
}

/// `date_part('field', source)` / `datepart`: `EXTRACT` with the field as text (a constant).
#[derive(Debug, PartialEq, Eq, Hash)]
struct DatePart {
    signature: Signature,
    aliases: Vec<String>,
}

/// Spark's `date_part`, `datepart` and `extract('field', source)`, answered as `EXTRACT`.
pub(crate) fn date_part() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(DatePart {
        signature: Signature::any(2, Volatility::Immutable),
        aliases: vec!["datepart".into(), "extract".into()],
    }))
}

fn constant_field(value: Option<&ScalarValue>) -> Result<Field> {
    match value {
        Some(ScalarValue::Utf8(Some(name)) | ScalarValue::Utf8View(Some(name)) | ScalarValue::LargeUtf8(Some(name))) => {
            match Field::parse(name) {
                Some(field) => Ok(field),
                None => plan_err!(
                    "[INVALID_EXTRACT_FIELD] cannot extract {name}; use YEAR, QUARTER, MONTH, WEEK, DAY, DAYOFWEEK, DOY, HOUR, MINUTE or SECOND"
                ),
            }
        }
        _ => plan_err!("date_part needs its field as a constant string, e.g. date_part('year', d)"),
    }
}

impl ScalarUDFImpl for DatePart {
    fn name(&self) -> &str {
        "date_part"
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        datafusion::common::internal_err!("date_part's type comes from return_field_from_args")
    }
    fn return_field_from_args(&self, args: datafusion::logical_expr::ReturnFieldArgs) -> Result<datafusion::arrow::datatypes::FieldRef> {
        let constant = args.scalar_arguments.first().copied().flatten();
        // A NULL field: the answer is NULL (Spark types it as its source's DOUBLE).
        let data_type = if constant.is_some_and(ScalarValue::is_null) { DataType::Float64 } else { constant_field(constant)?.data_type() };
        Ok(Arc::new(datafusion::arrow::datatypes::Field::new(self.name(), data_type, true)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let field = match args.args.first() {
            Some(ColumnarValue::Scalar(value)) if value.is_null() => {
                return Ok(ColumnarValue::Scalar(ScalarValue::try_from(args.return_field.data_type())?));
            }
            Some(ColumnarValue::Scalar(value)) => constant_field(Some(value))?,
            _ => return exec_err!("date_part needs its field as a constant string"),
        };
        let inner = Extract { name: "date_part".into(), field, signature: self.signature.clone() };
        let ScalarFunctionArgs { mut args, arg_fields, number_rows, return_field, config_options } = args;
        let source = args.split_off(1);
        let arg_fields = arg_fields.into_iter().skip(1).collect();
        inner.invoke_with_args(ScalarFunctionArgs { args: source, arg_fields, number_rows, return_field, config_options })
    }
}

/// Spark's one-field functions — `year(d)`, `month`, `day` / `dayofmonth`, `dayofweek` (1 is
/// Sunday), `dayofyear`, `weekofyear` (ISO week), `quarter` — each `date_part(field, d)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FieldFunction {
    name: &'static str,
    field: &'static str,
    aliases: Vec<String>,
    signature: Signature,
}

pub(crate) fn field_functions() -> Vec<Arc<ScalarUDF>> {
    [
        ("year", "year", vec![]),
        ("month", "month", vec![]),
        ("day", "day", vec!["dayofmonth".to_string()]),
        ("dayofweek", "dow", vec![]),
        ("dayofyear", "doy", vec![]),
        ("weekofyear", "week", vec![]),
        ("quarter", "quarter", vec![]),
    ]
    .into_iter()
    .map(|(name, field, aliases)| {
        Arc::new(ScalarUDF::new_from_impl(FieldFunction { name, field, aliases, signature: Signature::any(1, Volatility::Immutable) }))
    })
    .collect()
}

impl ScalarUDFImpl for FieldFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let call = date_part().call(std::iter::once(lit(self.field)).chain(args).collect());
        Ok(ExprSimplifyResult::Simplified(cast(call, DataType::Int32)))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        exec_err!("{} runs as date_part once the plan is simplified", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_field_names_and_interval_parts() {
        assert_eq!(Field::parse("yrs"), Some(Field::Year));
        assert_eq!(Field::parse("Secs"), Some(Field::Second));
        assert_eq!(Field::parse("fortnight"), None);
        // INTERVAL 30 DAY 40 HOUR 50 MINUTE 6.789 SECOND is 31 days 16:50:06.789 in Spark.
        let nanos = (40 * 3600 + 50 * 60) * 1_000_000_000 + 6_789_000_000;
        assert_eq!(of_interval(Field::Day, 0, 30, nanos).unwrap(), 31);
        assert_eq!(of_interval(Field::Hour, 0, 30, nanos).unwrap(), 16);
        assert_eq!(of_interval(Field::Second, 0, 30, nanos).unwrap(), 6_789_000);
        assert_eq!(of_interval(Field::Month, 140, 0, 0).unwrap(), 8);
    }
}
