//! Spark's datetime patterns (`yyyy-MM-dd HH:mm:ss`, Java's `DateTimeFormatter` letters) for
//! `date_format`, `to_date` and `to_timestamp`, translated to the chrono patterns DataFusion's
//! `to_char` / `to_date` / `to_timestamp` take. A letter Tarn does not translate is an error,
//! never text copied into the answer.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature};

/// The chrono pattern for a Spark datetime pattern.
pub fn chrono_pattern(spark: &str) -> Result<String> {
    let chars: Vec<char> = spark.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted text; '' is a quote.
            let mut j = i + 1;
            if chars.get(j) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            while j < chars.len() {
                if chars[j] == '\'' {
                    if chars.get(j + 1) == Some(&'\'') {
                        out.push('\'');
                        j += 2;
                        continue;
                    }
                    break;
                }
                push_literal(&mut out, chars[j]);
                j += 1;
            }
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            push_literal(&mut out, c);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let piece = match (c, run) {
            // Spark refuses these (SparkUpgradeException: five or more letters of text fields,
            // seven or more of a year).
            ('E' | 'M' | 'L', 5..) | ('y' | 'u', 7..) => {
                return plan_err!(
                    "[INCONSISTENT_BEHAVIOR_CROSS_VERSION.DATETIME_PATTERN_RECOGNITION] the datetime pattern '{spark}' uses '{}', which Spark 3+ does not recognize",
                    c.to_string().repeat(run)
                );
            }
            ('y' | 'u', 2) => "%y",
            ('y' | 'u', _) => "%Y",
            ('M' | 'L', 1) => "%-m",
            ('M' | 'L', 2) => "%m",
            ('M' | 'L', 3) => "%b",
            ('M' | 'L', _) => "%B",
            ('d', 1) => "%-d",
            ('d', 2) => "%d",
            ('D', 1) => "%-j",
            ('D', _) => "%j",
            ('H', 1) => "%-H",
            ('H', 2) => "%H",
            ('h', 1) => "%-I",
            ('h', 2) => "%I",
            ('m', 1) => "%-M",
            ('m', 2) => "%M",
            ('s', 1) => "%-S",
            ('s', 2) => "%S",
            ('S', 1..=3) => "%3f",
            ('S', 4..=6) => "%6f",
            ('S', 7..=9) => "%9f",
            ('a', 1) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('Z', 1..=3) | ('x', 2) => "%z",
            ('X', _) | ('x', _) => "%:z",
            ('z', _) | ('V', 2) => "%Z",
            _ => return plan_err!("the datetime pattern '{spark}' uses '{}', which Tarn does not support", c.to_string().repeat(run)),
        };
        // `S` counts digits; chrono's %3f/%6f/%9f print exactly that many only for 3/6/9.
        if c == 'S' && ![3, 6, 9].contains(&run) {
            return plan_err!("the datetime pattern '{spark}' uses {run} 'S' letters; Tarn supports S (3), SSSSSS (6) or SSSSSSSSS (9)");
        }
        out.push_str(piece);
        i += run;
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

/// Converts the pattern argument (at `index`) and calls DataFusion's function `inner`.
#[derive(Debug)]
struct WithSparkPattern {
    name: &'static str,
    inner: Arc<ScalarUDF>,
    index: usize,
}

impl PartialEq for WithSparkPattern {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for WithSparkPattern {}
impl std::hash::Hash for WithSparkPattern {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

fn convert(value: &ColumnarValue) -> Result<ColumnarValue> {
    match value {
        ColumnarValue::Scalar(s) => match s {
            ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(v.as_deref().map(chrono_pattern).transpose()?)))
            }
            ScalarValue::Null => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None))),
            other => exec_err!("a datetime pattern must be a string, got {}", other.data_type()),
        },
        ColumnarValue::Array(a) => {
            let text: ArrayRef = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
            let converted: StringArray =
                text.as_string::<i32>().iter().map(|p| p.map(chrono_pattern).transpose()).collect::<Result<_>>()?;
            Ok(ColumnarValue::Array(Arc::new(converted)))
        }
    }
}

impl ScalarUDFImpl for WithSparkPattern {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(args)
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.inner.return_type(args)
    }
    fn return_field_from_args(&self, args: datafusion::logical_expr::ReturnFieldArgs) -> Result<datafusion::arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        for i in self.index..args.args.len() {
            args.args[i] = convert(&args.args[i])?;
            if let Some(field) = args.arg_fields.get_mut(i) {
                *field = Arc::new(field.as_ref().clone().with_data_type(DataType::Utf8));
            }
        }
        self.inner.invoke_with_args(args)
    }
}

/// `to_timestamp(text, pattern)` / `to_date(text, pattern)`: the text read with Spark's pattern
/// rules ([`super::datetime_parse`]); other arguments (no pattern, a timestamp given) go to
/// DataFusion's function with the pattern translated.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ReadWithSparkPattern {
    translated: WithSparkPattern,
}

impl ScalarUDFImpl for ReadWithSparkPattern {
    fn name(&self) -> &str {
        self.translated.name
    }
    fn signature(&self) -> &Signature {
        self.translated.signature()
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        self.translated.coerce_types(args)
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(in_micros(self.translated.return_type(args)?))
    }
    fn return_field_from_args(&self, args: datafusion::logical_expr::ReturnFieldArgs) -> Result<datafusion::arrow::datatypes::FieldRef> {
        let field = self.translated.return_field_from_args(args)?;
        let data_type = in_micros(field.data_type().clone());
        Ok(Arc::new(field.as_ref().clone().with_data_type(data_type)))
    }
    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text_input =
            args.args.first().is_some_and(|a| matches!(a.data_type(), DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8));
        if args.args.len() < 2 || !text_input {
            // DataFusion's function answers in nanoseconds; Spark's timestamps are microseconds.
            let target = args.return_field.data_type().clone();
            let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
            let inner_type = self.translated.inner.return_type(&types)?;
            args.return_field = Arc::new(args.return_field.as_ref().clone().with_data_type(inner_type));
            return match self.translated.invoke_with_args(args)? {
                ColumnarValue::Array(a) => Ok(ColumnarValue::Array(datafusion::arrow::compute::cast(&a, &target)?)),
                ColumnarValue::Scalar(v) => Ok(ColumnarValue::Scalar(v.cast_to(&target)?)),
            };
        }
        let rows = args.number_rows;
        let as_text = |value: &ColumnarValue| -> Result<StringArray> {
            let array = datafusion::arrow::compute::cast(&value.to_array(rows)?, &DataType::Utf8)?;
            Ok(array.as_string::<i32>().clone())
        };
        let texts = as_text(&args.args[0])?;
        let patterns = args.args[1..].iter().map(as_text).collect::<Result<Vec<_>>>()?;
        let target = args.return_field.data_type().clone();
        let mut compiled: Vec<Option<(String, Vec<super::datetime_parse::Piece>)>> = vec![None; patterns.len()];
        let mut values: Vec<Option<i64>> = Vec::with_capacity(rows);
        for row in 0..texts.len() {
            if texts.is_null(row) || patterns.iter().any(|p| p.is_null(row)) {
                values.push(None);
                continue;
            }
            let text = texts.value(row);
            let mut failure = None;
            let mut value = None;
            for (p, cache) in patterns.iter().zip(compiled.iter_mut()) {
                let pattern = p.value(row);
                if cache.as_ref().is_none_or(|(text, _)| text != pattern) {
                    let pieces = super::datetime_parse::compile(pattern).or_else(|e| plan_err!("{e}"))?;
                    *cache = Some((pattern.to_string(), pieces));
                }
                let Some((_, pieces)) = cache.as_ref() else { continue };
                match super::datetime_parse::parse(pieces, text) {
                    Ok(parsed) => {
                        value = Some(parsed_value(&parsed, &target, text)?);
                        break;
                    }
                    Err(f) => failure = failure.or(Some(f)),
                }
            }
            match (value, failure) {
                (Some(v), _) => values.push(Some(v)),
                (None, Some(super::datetime_parse::Failure::At(index))) => {
                    return exec_err!(
                        "[CANNOT_PARSE_TIMESTAMP] Text '{text}' could not be parsed at index {index}; use try_to_timestamp to get NULL instead"
                    );
                }
                (None, Some(super::datetime_parse::Failure::Invalid(why))) => {
                    return exec_err!(
                        "[CANNOT_PARSE_TIMESTAMP] Text '{text}' could not be parsed: {why}; use try_to_timestamp to get NULL instead"
                    );
                }
                (None, None) => values.push(None),
            }
        }
        let array: ArrayRef = match &target {
            DataType::Date32 => {
                Arc::new(values.into_iter().map(|v| v.map(|d| d as i32)).collect::<datafusion::arrow::array::Date32Array>())
            }
            DataType::Timestamp(unit, zone) => {
                let array = datafusion::arrow::array::TimestampMicrosecondArray::from(values).with_timezone_opt(zone.clone());
                datafusion::arrow::compute::cast(&array, &DataType::Timestamp(*unit, zone.clone()))?
            }
            other => return exec_err!("{} cannot answer {other}", self.name()),
        };
        super::answer(&args.args, array)
    }
}

/// Spark's timestamps keep microseconds (DataFusion's `to_timestamp` answers nanoseconds, which
/// reach only the years 1677 to 2262).
fn in_micros(data_type: DataType) -> DataType {
    match data_type {
        DataType::Timestamp(_, zone) => DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, zone),
        other => other,
    }
}

/// The value of `parsed` as the function answers it: days for a DATE, else microseconds of the
/// instant (the text's zone, else the type's).
fn parsed_value(parsed: &super::datetime_parse::Parsed, target: &DataType, text: &str) -> Result<i64> {
    let out_of_range = || exec_err!("[CANNOT_PARSE_TIMESTAMP] Text '{text}' is a time out of the range Tarn keeps");
    match target {
        DataType::Date32 => {
            let Some(utc) = parsed.utc(None) else { return out_of_range() };
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            Ok((utc.date() - epoch).num_days())
        }
        DataType::Timestamp(_, Some(zone)) => {
            let session: Option<datafusion::arrow::array::timezone::Tz> = zone.parse().ok();
            match parsed.utc(session.as_ref()) {
                Some(utc) => Ok(utc.and_utc().timestamp_micros()),
                None => out_of_range(),
            }
        }
        // Without a zone in the type, Tarn's session time is UTC: a zone in the text moves the
        // time to UTC, as DataFusion's `to_timestamp` and Spark's in a UTC session do.
        _ => match parsed.utc(None) {
            Some(utc) => Ok(utc.and_utc().timestamp_micros()),
            None => out_of_range(),
        },
    }
}

/// `date_format(ts, pattern)`, `to_date(text[, pattern])`, `to_timestamp(text[, pattern])` with
/// Spark's patterns.
pub fn functions(config: &datafusion::common::config::ConfigOptions) -> Vec<Arc<ScalarUDF>> {
    use datafusion::functions::datetime;
    [
        ("date_format", datetime::to_char()),
        ("to_date", datetime::to_date()),
        ("to_timestamp", datetime::to_timestamp(config)),
        ("to_timestamp_ntz", datetime::to_timestamp(config)),
    ]
    .into_iter()
    .map(|(name, inner)| {
        let translated = WithSparkPattern { name, inner, index: 1 };
        if name == "date_format" {
            Arc::new(ScalarUDF::new_from_impl(translated))
        } else {
            Arc::new(ScalarUDF::new_from_impl(ReadWithSparkPattern { translated }))
        }
    })
    .flat_map(|udf| {
        // `try_to_timestamp`: NULL where the text does not parse.
        let tried = (udf.name() == "to_timestamp").then(|| super::try_rows::try_rows(&format!("try_{}", udf.name()), udf.clone()));
        std::iter::once(udf).chain(tried)
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_patterns_become_chrono_patterns() {
        assert_eq!(chrono_pattern("yyyy-MM-dd HH:mm:ss").unwrap(), "%Y-%m-%d %H:%M:%S");
        assert_eq!(chrono_pattern("yyyy-MM").unwrap(), "%Y-%m");
        assert_eq!(chrono_pattern("dd/MM/yy").unwrap(), "%d/%m/%y");
        assert_eq!(chrono_pattern("yyyy-MM-dd'T'HH:mm:ss.SSS").unwrap(), "%Y-%m-%dT%H:%M:%S.%3f");
        assert_eq!(chrono_pattern("MMM d, yyyy").unwrap(), "%b %-d, %Y");
        assert_eq!(chrono_pattern("EEEE 'o''clock' 100%").unwrap(), "%A o'clock 100%%");
        assert!(chrono_pattern("yyyy-GG").is_err());
    }
}
