//! Spark's timestamp constructors: `make_timestamp(year, month, day, hour, min, sec [, tz])`
//! (also `make_timestamp_ntz` / `make_timestamp_ltz`) and `timestamp_seconds`,
//! `timestamp_millis`, `timestamp_micros`.
//!
//! The result is a TIMESTAMP of microseconds, Spark's precision and range (years 1 to 9999 and
//! beyond, where DataFusion's nanosecond literals stop at 2262). `sec` is a DECIMAL(16,6):
//! `60` (with no fraction) is the next minute, as in Spark; any other field out of range is
//! an error under ANSI mode, as are overflowing epoch values.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int32Type, Int64Type, TimeUnit};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

const MICROS: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

#[derive(Debug, PartialEq, Eq, Hash)]
struct MakeTimestamp {
    name: &'static str,
    signature: Signature,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Epoch {
    Seconds,
    Millis,
    Micros,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct FromEpoch {
    unit: Epoch,
    signature: Signature,
}

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    let mut udfs: Vec<Arc<ScalarUDF>> = ["make_timestamp", "make_timestamp_ntz", "make_timestamp_ltz"]
        .into_iter()
        .map(|name| Arc::new(ScalarUDF::new_from_impl(MakeTimestamp { name, signature: Signature::user_defined(Volatility::Immutable) })))
        .collect();
    udfs.extend(
        [Epoch::Seconds, Epoch::Millis, Epoch::Micros]
            .into_iter()
            .map(|unit| Arc::new(ScalarUDF::new_from_impl(FromEpoch { unit, signature: Signature::user_defined(Volatility::Immutable) }))),
    );
    udfs
}

fn numeric_or_null(t: &DataType) -> bool {
    t.is_numeric() || t.is_null()
}

impl ScalarUDFImpl for MakeTimestamp {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let with_zone = self.name != "make_timestamp_ntz";
        if !(args.len() == 6 || (with_zone && args.len() == 7)) {
            return plan_err!(
                "[WRONG_NUM_ARGS] {} takes 6 arguments (year, month, day, hour, min, sec){}, not {}",
                self.name,
                if with_zone { " and an optional time zone" } else { "" },
                args.len()
            );
        }
        if let Some(bad) = args[..6].iter().find(|t| !numeric_or_null(t)) {
            return plan_err!("[DATATYPE_MISMATCH] {} takes numbers for its fields, not {bad}", self.name);
        }
        let mut types = vec![DataType::Int32; 5];
        types.push(DataType::Decimal128(16, 6));
        if args.len() == 7 {
            types.push(DataType::Utf8);
        }
        Ok(types)
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(MICROS)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args.args.iter().map(|a| a.to_array(rows)).collect::<Result<_>>()?;
        let fields: Vec<_> = arrays[..5].iter().map(|a| a.as_primitive::<Int32Type>()).collect();
        let seconds = arrays[5].as_primitive::<Decimal128Type>();
        let zones = arrays.get(6).map(|a| a.as_string::<i32>());
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            if fields.iter().any(|f| f.is_null(i)) || seconds.is_null(i) || zones.is_some_and(|z| z.is_null(i)) {
                out.push(None);
                continue;
            }
            let [year, month, day, hour, minute] = [0, 1, 2, 3, 4].map(|f| fields[f].value(i));
            let local = local_datetime(year, month, day, hour, minute, seconds.value(i))?;
            let utc = match zones.map(|z| z.value(i)) {
                Some(zone) => from_zone(local, zone)?,
                None => local,
            };
            out.push(Some(utc.and_utc().timestamp_micros()));
        }
        super::answer(&args.args, Arc::new(TimestampMicrosecondArray::from(out)))
    }
}

/// The wall-clock time the fields name; `sec` in microseconds (a DECIMAL(16,6) unscaled).
fn local_datetime(year: i32, month: i32, day: i32, hour: i32, minute: i32, sec_micros: i128) -> Result<NaiveDateTime> {
    let out_of_bounds = |field: &str, value: String| {
        exec_err!("[DATETIME_FIELD_OUT_OF_BOUNDS] invalid value for {field}: {value}; use try_make_timestamp to get NULL instead")
    };
    let Some(date) = u32::try_from(month).ok().zip(u32::try_from(day).ok()).and_then(|(m, d)| NaiveDate::from_ymd_opt(year, m, d)) else {
        return out_of_bounds("the date", format!("{year}-{month}-{day}"));
    };
    if !(0..=23).contains(&hour) {
        return out_of_bounds("HourOfDay (0 - 23)", hour.to_string());
    }
    if !(0..=59).contains(&minute) {
        return out_of_bounds("MinuteOfHour (0 - 59)", minute.to_string());
    }
    // 60 seconds exactly is the next minute; otherwise seconds are 0 to 59.999999.
    let (whole, fraction) = (sec_micros.div_euclid(1_000_000), sec_micros.rem_euclid(1_000_000));
    if sec_micros < 0 || whole > 60 || (whole == 60 && fraction != 0) {
        return out_of_bounds("SecondOfMinute (0 - 59)", format!("{}.{:06}", whole, fraction));
    }
    let time = NaiveTime::from_hms_opt(hour as u32, minute as u32, 0).unwrap_or(NaiveTime::MIN);
    Ok(date.and_time(time) + TimeDelta::microseconds(sec_micros as i64))
}

/// The UTC time of wall-clock `local` in time zone `zone`.
fn from_zone(local: NaiveDateTime, zone: &str) -> Result<NaiveDateTime> {
    let tz = match Tz::from_str(zone) {
        Ok(tz) => tz,
        Err(_) => {
            return exec_err!(
                "[INVALID_TIMEZONE] the time zone '{zone}' is not known; use a region name such as 'Europe/Paris' or an offset such as '+02:00'"
            );
        }
    };
    match tz.from_local_datetime(&local).earliest() {
        Some(t) => Ok(t.naive_utc()),
        None => exec_err!("[DATETIME_FIELD_OUT_OF_BOUNDS] {local} does not exist in the time zone {zone}"),
    }
}

impl ScalarUDFImpl for FromEpoch {
    fn name(&self) -> &str {
        match self.unit {
            Epoch::Seconds => "timestamp_seconds",
            Epoch::Millis => "timestamp_millis",
            Epoch::Micros => "timestamp_micros",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let [arg] = args else { return plan_err!("[WRONG_NUM_ARGS] {} takes 1 argument, not {}", self.name(), args.len()) };
        Ok(vec![match (self.unit, arg) {
            (_, t) if t.is_integer() || t.is_null() => DataType::Int64,
            (Epoch::Seconds, DataType::Float32 | DataType::Float64) => DataType::Float64,
            // More than microseconds in the fraction is an error below, not rounded.
            (Epoch::Seconds, DataType::Decimal128(_, s) | DataType::Decimal256(_, s)) => DataType::Decimal128(38, (*s).clamp(6, 38)),
            (_, t) => {
                return plan_err!(
                    "[DATATYPE_MISMATCH] {} takes {}, not {t}",
                    self.name(),
                    if self.unit == Epoch::Seconds { "a number" } else { "an integer" }
                );
            }
        }])
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(MICROS)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let array = args.args[0].to_array(args.number_rows)?;
        let overflow = || exec_err!("[ARITHMETIC_OVERFLOW] {} overflowed the range of TIMESTAMP", self.name());
        let micros: Vec<Option<i64>> = match array.data_type() {
            DataType::Int64 => {
                let per = match self.unit {
                    Epoch::Seconds => 1_000_000,
                    Epoch::Millis => 1_000,
                    Epoch::Micros => 1,
                };
                let mut out = Vec::with_capacity(array.len());
                for v in array.as_primitive::<Int64Type>().iter() {
                    out.push(match v.map(|v| v.checked_mul(per)) {
                        Some(None) => return overflow(),
                        other => other.flatten(),
                    });
                }
                out
            }
            DataType::Float64 => {
                let mut out = Vec::with_capacity(array.len());
                for v in array.as_primitive::<Float64Type>().iter() {
                    out.push(match v {
                        // Spark truncates the microseconds of a double number of seconds.
                        Some(s) if (s * 1e6).is_finite() && (s * 1e6).abs() < 9.2e18 => Some((s * 1e6) as i64),
                        Some(_) => return overflow(),
                        None => None,
                    });
                }
                out
            }
            DataType::Decimal128(_, scale) => {
                let extra = 10i128.pow(u32::try_from(*scale - 6).unwrap_or(0));
                let mut out = Vec::with_capacity(array.len());
                for v in array.as_primitive::<Decimal128Type>().iter() {
                    out.push(match v {
                        Some(v) if v % extra != 0 => {
                            return exec_err!("[ROUNDING_NECESSARY] timestamp_seconds takes at most 6 fractional digits (microseconds)");
                        }
                        Some(v) => match i64::try_from(v / extra) {
                            Ok(m) => Some(m),
                            Err(_) => return overflow(),
                        },
                        None => None,
                    });
                }
                out
            }
            other => return exec_err!("{} cannot read {other}", self.name()),
        };
        let result = cast(&TimestampMicrosecondArray::from(micros), &MICROS)?;
        super::answer(&args.args, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixty_seconds_is_the_next_minute_and_61_an_error() {
        let t = local_datetime(1, 1, 1, 1, 1, 60_000_000).unwrap();
        assert_eq!(t.to_string(), "0001-01-01 01:02:00");
        assert!(local_datetime(1, 1, 1, 1, 1, 60_000_001).is_err());
        assert!(local_datetime(2021, 2, 29, 0, 0, 0).is_err());
        assert_eq!(local_datetime(2021, 7, 11, 6, 30, 45_678_000).unwrap().to_string(), "2021-07-11 06:30:45.678");
    }

    #[test]
    fn a_zone_moves_the_wall_clock_to_utc() {
        let local = local_datetime(2021, 7, 11, 6, 30, 0).unwrap();
        assert_eq!(from_zone(local, "CET").unwrap().to_string(), "2021-07-11 04:30:00");
        assert!(from_zone(local, "Mars/Olympus").is_err());
    }
}
