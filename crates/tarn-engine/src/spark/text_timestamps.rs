//! Text to TIMESTAMP as Spark reads it (`DateTimeUtils.stringToTimestamp`):
//! `[+-]yyyy[y..][-[m]m[-[d]d]]` then, after a space or a `T`, `[h]h[:[m]m[:[s]s[.fraction]]]`
//! and a zone straight after (`Z`, `+08:00`, `UTC+080000`, `Europe/Paris`, `PST`), whitespace
//! around it trimmed; more than six fraction digits are cut to microseconds. Arrow's cast took
//! neither a zone id nor a tab after the date (`TIMESTAMP '2019-01-01\t'`, `TIMESTAMP
//! '1582-06-01 11:33:33.123UTC+080000'` failed).
//!
//! `CAST(text AS TIMESTAMP)` (every implicit one too, and `TIMESTAMP '..'` literals) use it: a
//! time with a zone is that instant; without one it is in the target's zone (UTC, Tarn's
//! session time zone, for a type without one — as arrow's cast read it). Text that is no
//! timestamp is Spark's CAST_INVALID_INPUT error (ANSI), NULL under TRY_CAST.

use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::cast::as_string_array;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use super::datetime_parse::{Parsed, zone_named};

/// `text` read as Spark reads a timestamp; `None` when it is none.
pub(crate) fn parse(text: &str) -> Option<Parsed> {
    let chars: Vec<char> = text.trim_matches(|c: char| c.is_whitespace() || c.is_control()).chars().collect();
    let negative = chars.first() == Some(&'-');
    let mut j = usize::from(matches!(chars.first(), Some('-' | '+')));
    // Segments: year, month, day, hour, minute, second; segment 6 is the fraction's digits.
    let mut segments = [1970i64, 1, 1, 0, 0, 0];
    let mut segment = 0;
    let mut value: i64 = 0;
    let mut digits = 0usize;
    let mut fraction_micros = 0i64;
    let mut fraction_digits = 0usize;
    let mut zone_text: Option<String> = None;
    let valid = |segment: usize, digits: usize| if segment == 0 { (4..=7).contains(&digits) } else { (1..=2).contains(&digits) };
    while j < chars.len() {
        let c = chars[j];
        if let Some(d) = c.to_digit(10) {
            if segment == 6 {
                if fraction_digits < 6 {
                    fraction_micros = fraction_micros * 10 + i64::from(d);
                }
                fraction_digits += 1;
            } else {
                value = value.checked_mul(10)?.checked_add(i64::from(d))?;
                digits += 1;
            }
            j += 1;
            continue;
        }
        if segment == 6 {
            zone_text = Some(chars[j..].iter().collect());
            break;
        }
        if !matches!((segment, c), (0 | 1, '-') | (2, ' ' | 'T') | (3 | 4, ':') | (5, '.')) {
            // A zone straight after the time (never after a bare date).
            if segment >= 3 && valid(segment, digits) {
                segments[segment] = value;
                zone_text = Some(chars[j..].iter().collect());
                segment = 6;
                break;
            }
            return None;
        }
        if !valid(segment, digits) {
            return None;
        }
        segments[segment] = value;
        (value, digits) = (0, 0);
        segment += 1;
        j += 1;
    }
    // The text ended inside a segment: it must hold its digits (`2019-` does not).
    if segment < 6 {
        if !valid(segment, digits) {
            return None;
        }
        segments[segment] = value;
    }
    let year = if negative { -segments[0] } else { segments[0] };
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, u32::try_from(segments[1]).ok()?, u32::try_from(segments[2]).ok()?)?;
    if fraction_digits > 0 && fraction_digits < 6 {
        fraction_micros *= 10_i64.pow((6 - fraction_digits) as u32);
    }
    let time = NaiveTime::from_hms_micro_opt(
        u32::try_from(segments[3]).ok()?,
        u32::try_from(segments[4]).ok()?,
        u32::try_from(segments[5]).ok()?,
        u32::try_from(fraction_micros).ok()?,
    )?;
    let zone = match zone_text {
        None => None,
        Some(text) => Some(zone_named(text.trim())?),
    };
    Some(Parsed { local: NaiveDateTime::new(date, time), zone })
}

/// Text as microseconds of `target` (a timestamp type): `None` where one is no timestamp, or
/// the ANSI error when `strict`.
fn timestamps(array: &ArrayRef, target: &DataType, strict: bool) -> Result<ArrayRef> {
    let DataType::Timestamp(unit, type_zone) = target else { return exec_err!("text reads as a timestamp, not {target}") };
    let session: Option<Tz> = type_zone.as_deref().and_then(|z| z.parse().ok());
    let text = cast(array, &DataType::Utf8)?;
    let text = as_string_array(&text)?;
    let mut out = Vec::with_capacity(text.len());
    for value in text.iter() {
        let Some(s) = value else {
            out.push(None);
            continue;
        };
        let micros = parse(s).and_then(|parsed| parsed.utc(session.as_ref())).map(|t| t.and_utc().timestamp_micros());
        match micros {
            // Nanoseconds reach only the years 1677 to 2262.
            Some(m) if *unit == TimeUnit::Nanosecond && m.checked_mul(1000).is_none() => {
                return exec_err!(
                    "[DATETIME_OVERFLOW] '{s}' is out of the range of this TIMESTAMP (1677-09-21 to 2262-04-11); \
                     cast to TIMESTAMP_LTZ, which keeps microseconds, for times outside it"
                );
            }
            Some(m) => out.push(Some(m)),
            None if strict => {
                return exec_err!(
                    "[CAST_INVALID_INPUT] The value '{s}' of the type \"STRING\" cannot be cast to \"TIMESTAMP\" because it is \
                     malformed. Correct the value as per the syntax (yyyy-[m]m-[d]d [h]h:[m]m:[s]s[.fraction][zone]), or change its \
                     target type. Use `try_cast` to tolerate malformed input and return NULL instead."
                );
            }
            None => out.push(None),
        }
    }
    let micros = TimestampMicrosecondArray::from(out).with_timezone_opt(type_zone.clone());
    if *unit == TimeUnit::Microsecond {
        return Ok(Arc::new(micros));
    }
    // (Checked above: a time outside the nanosecond range is an error, never NULL.)
    let options = datafusion::arrow::compute::CastOptions { safe: false, ..Default::default() };
    Ok(datafusion::arrow::compute::cast_with_options(&micros, target, &options)?)
}

/// `CAST(text AS TIMESTAMP[_NTZ])` (`try_cast`: TRY_CAST) as Spark reads the text.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct TextToTimestamp {
    target: DataType,
    try_cast: bool,
    signature: Signature,
}

impl ScalarUDFImpl for TextToTimestamp {
    fn name(&self) -> &str {
        if self.try_cast { "spark_try_text_to_timestamp" } else { "spark_text_to_timestamp" }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.target.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let array = args.args[0].to_array(args.number_rows)?;
        super::answer(&args.args, timestamps(&array, &self.target, !self.try_cast)?)
    }
}

pub(crate) fn udf(target: DataType, try_cast: bool) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(TextToTimestamp { target, try_cast, signature: Signature::any(1, Volatility::Immutable) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Option<String> {
        parse(text).map(|p| format!("{}{}", p.local.format("%Y-%m-%d %H:%M:%S%.f"), if p.zone.is_some() { " @" } else { "" }))
    }

    #[test]
    fn reads_timestamps_as_spark() {
        assert_eq!(read("2019-01-01\t").as_deref(), Some("2019-01-01 00:00:00"));
        assert_eq!(read("2019-01-01T10:11:12.5").as_deref(), Some("2019-01-01 10:11:12.500"));
        assert_eq!(read("2019-1-2 3:4:5").as_deref(), Some("2019-01-02 03:04:05"));
        assert_eq!(read("2015-03").as_deref(), Some("2015-03-01 00:00:00"));
        assert_eq!(read("2019-01-01 10:11").as_deref(), Some("2019-01-01 10:11:00"));
        assert_eq!(read("1582-06-01 11:33:33.123UTC+080000").as_deref(), Some("1582-06-01 11:33:33.123 @"));
        assert_eq!(read("1970-01-01 00:00:00.000Europe/Paris").as_deref(), Some("1970-01-01 00:00:00 @"));
        assert_eq!(read("2018-11-17 13:33:33.123Z").as_deref(), Some("2018-11-17 13:33:33.123 @"));
        assert_eq!(read("2019-01-01 10:11:12.1234567").as_deref(), Some("2019-01-01 10:11:12.123456"));
        assert_eq!(read("2019-01-01 10:11:12 +02:00").as_deref(), Some("2019-01-01 10:11:12 @"));
        assert_eq!(read("2019-02-30"), None);
        assert_eq!(read("2019-01-01 25:00:00"), None);
        assert_eq!(read("now"), None);
        assert_eq!(read("2019-01-01 10:11:12 nowhere"), None);
        assert_eq!(read("2019-"), None);
    }

    #[test]
    fn zones_give_the_instant() {
        let p = parse("1582-06-01 11:33:33.123UTC+080000").unwrap();
        assert_eq!(p.utc(None).unwrap().to_string(), "1582-06-01 03:33:33.123");
        assert!(matches!(p.zone, Some(super::super::datetime_parse::Zone::Offset(28800))));
    }
}
