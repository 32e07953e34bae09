//! Text to DATE as Spark reads it (`DateTimeUtils.stringToDate`): `yyyy`, `yyyy-[m]m`,
//! `yyyy-[m]m-[d]d`, then anything after a space or a `T` (a time, ignored); surrounding
//! whitespace trimmed; a year of 4 to 7 digits with an optional sign. Arrow's cast takes only
//! `yyyy-mm-dd` (and `date('1996-9-10')` went through a timestamp parse that refused it).
//!
//! `CAST(text AS DATE)` (every implicit one too, after type coercion) and `date(text)` use it:
//! text that is no date is Spark's CAST_INVALID_INPUT error (ANSI), NULL under TRY_CAST.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, ArrayRef, Date32Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_string_array;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// Days since 1970-01-01 of `text` read as Spark reads a date; `None` when it is no date.
pub(crate) fn parse(text: &str) -> Option<i32> {
    let bytes = text.trim().as_bytes();
    let valid_digits = |segment: usize, digits: usize| if segment == 0 { (4..=7).contains(&digits) } else { (1..=2).contains(&digits) };
    let mut segments = [1i64, 1, 1];
    let mut j = 0;
    let mut sign = 1;
    if let Some(b'-' | b'+') = bytes.first() {
        sign = if bytes[0] == b'-' { -1 } else { 1 };
        j = 1;
    }
    let (mut i, mut value, mut digits) = (0usize, 0i64, 0usize);
    while j < bytes.len() && i < 3 && !matches!(bytes[j], b' ' | b'T') {
        let b = bytes[j];
        if i < 2 && b == b'-' {
            if !valid_digits(i, digits) {
                return None;
            }
            segments[i] = value;
            (value, digits) = (0, 0);
            i += 1;
        } else if b.is_ascii_digit() {
            value = value * 10 + i64::from(b - b'0');
            digits += 1;
        } else {
            return None;
        }
        j += 1;
    }
    if !valid_digits(i, digits) || (i < 2 && j < bytes.len()) {
        return None;
    }
    segments[i] = value;
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(sign * segments[0]).ok()?,
        u32::try_from(segments[1]).ok()?,
        u32::try_from(segments[2]).ok()?,
    )?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from(date.signed_duration_since(epoch).num_days()).ok()
}

/// Text as dates: `None` where one is no date, or the ANSI error when `strict`.
pub(crate) fn dates(array: &ArrayRef, strict: bool) -> Result<ArrayRef> {
    let text = cast(array, &DataType::Utf8)?;
    let text = as_string_array(&text)?;
    let mut out = Vec::with_capacity(text.len());
    for value in text.iter() {
        out.push(match value {
            None => None,
            Some(s) => match parse(s) {
                Some(days) => Some(days),
                None if strict => {
                    return exec_err!(
                        "[CAST_INVALID_INPUT] The value '{s}' of the type \"STRING\" cannot be cast to \"DATE\" because it is \
                         malformed. Correct the value as per the syntax (yyyy-[m]m-[d]d), or change its target type. Use \
                         `try_cast` to tolerate malformed input and return NULL instead."
                    );
                }
                None => None,
            },
        });
    }
    Ok(Arc::new(Date32Array::from(out)))
}

/// `CAST(text AS DATE)` (`try`: TRY_CAST) as Spark reads the text.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct TextToDate {
    try_cast: bool,
    signature: Signature,
}

impl ScalarUDFImpl for TextToDate {
    fn name(&self) -> &str {
        if self.try_cast { "spark_try_text_to_date" } else { "spark_text_to_date" }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Date32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let array = args.args[0].to_array(args.number_rows)?;
        super::answer(&args.args, dates(&array, !self.try_cast)?)
    }
}

pub(crate) fn udf(try_cast: bool) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(TextToDate { try_cast, signature: Signature::any(1, Volatility::Immutable) }))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_dates_as_spark() {
        let day = |s: &str| parse(s).map(|d| chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(d.into()));
        let ymd = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(day("1996-9-10"), ymd(1996, 9, 10));
        assert_eq!(day(" 2015 "), ymd(2015, 1, 1));
        assert_eq!(day("2015-03"), ymd(2015, 3, 1));
        assert_eq!(day("2015-03-18T12:03:17"), ymd(2015, 3, 18));
        assert_eq!(day("2015-03-18 anything"), ymd(2015, 3, 18));
        assert_eq!(day("2015-02-30"), None);
        assert_eq!(day("2015-03 10"), None);
        assert_eq!(day("15-03-18"), None);
        assert_eq!(day("abc"), None);
        assert_eq!(day(""), None);
    }
}
