//! Values printed the way Spark's golden files print them (`HiveResult.toHiveString`): `NULL`
//! at the top level and `null` inside collections, strings quoted only inside collections,
//! doubles as Java prints them (`1.0`, `1.0E10`), binary as its UTF-8 text, timestamps without
//! trailing fractional zeros, ANSI intervals as `1-2` / `1 02:03:04.000000000`.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float16Type, Float32Type, Float64Type, IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit, IntervalYearMonthType,
    TimeUnit,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};

pub fn rows(batches: &[RecordBatch]) -> Result<Vec<String>, String> {
    let mut rows = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let values: Vec<String> = batch.columns().iter().map(|c| value(c, row, false)).collect::<Result<_, _>>()?;
            rows.push(values.join("\t"));
        }
    }
    Ok(rows)
}

fn value(array: &ArrayRef, row: usize, nested: bool) -> Result<String, String> {
    if array.logical_nulls().is_some_and(|n| n.is_null(row)) {
        return Ok(if nested { "null" } else { "NULL" }.to_string());
    }
    Ok(match array.data_type() {
        DataType::Float16 => java_double(array.as_primitive::<Float16Type>().value(row).to_f64(), false),
        DataType::Float32 => java_double(array.as_primitive::<Float32Type>().value(row) as f64, true),
        DataType::Float64 => java_double(array.as_primitive::<Float64Type>().value(row), false),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = plain(array, row)?;
            if nested { format!("\"{text}\"") } else { text }
        }
        DataType::Binary => String::from_utf8_lossy(array.as_binary::<i32>().value(row)).to_string(),
        DataType::LargeBinary => String::from_utf8_lossy(array.as_binary::<i64>().value(row)).to_string(),
        DataType::BinaryView => String::from_utf8_lossy(array.as_binary_view().value(row)).to_string(),
        DataType::FixedSizeBinary(_) => String::from_utf8_lossy(array.as_fixed_size_binary().value(row)).to_string(),
        DataType::Timestamp(_, _) => {
            let text = plain(array, row)?;
            trim_fraction(&text)
        }
        DataType::Interval(IntervalUnit::YearMonth) => year_month(array.as_primitive::<IntervalYearMonthType>().value(row)),
        DataType::Interval(IntervalUnit::DayTime) => {
            let v = array.as_primitive::<IntervalDayTimeType>().value(row);
            day_time(v.days as i128 * 86_400_000_000_000 + v.milliseconds as i128 * 1_000_000)
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
            if v.days == 0 && v.nanoseconds == 0 {
                year_month(v.months)
            } else if v.months == 0 {
                day_time(v.days as i128 * 86_400_000_000_000 + v.nanoseconds as i128)
            } else {
                plain(array, row)?
            }
        }
        DataType::Duration(unit) => {
            let nanos_per = match unit {
                TimeUnit::Second => 1_000_000_000,
                TimeUnit::Millisecond => 1_000_000,
                TimeUnit::Microsecond => 1_000,
                TimeUnit::Nanosecond => 1,
            };
            let v = plain_i64(array, row)?;
            day_time(v as i128 * nanos_per)
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) | DataType::ListView(_) => {
            let items = match array.data_type() {
                DataType::List(_) => array.as_list::<i32>().value(row),
                DataType::LargeList(_) => array.as_list::<i64>().value(row),
                DataType::FixedSizeList(_, _) => array.as_fixed_size_list().value(row),
                _ => return plain(array, row),
            };
            let parts: Vec<String> = (0..items.len()).map(|i| value(&items, i, true)).collect::<Result<_, _>>()?;
            format!("[{}]", parts.join(","))
        }
        DataType::Map(_, _) => {
            let entries = array.as_map().value(row);
            let (keys, values) = (entries.column(0), entries.column(1));
            let parts: Vec<String> = (0..entries.len())
                .map(|i| Ok(format!("{}:{}", value(keys, i, true)?, value(values, i, true)?)))
                .collect::<Result<_, String>>()?;
            format!("{{{}}}", parts.join(","))
        }
        DataType::Struct(fields) => {
            let columns = array.as_struct().columns();
            let parts: Vec<String> = fields
                .iter()
                .zip(columns)
                .map(|(f, c)| Ok(format!("\"{}\":{}", f.name(), value(c, row, true)?)))
                .collect::<Result<_, String>>()?;
            format!("{{{}}}", parts.join(","))
        }
        _ => plain(array, row)?,
    })
}

fn plain(array: &ArrayRef, row: usize) -> Result<String, String> {
    let options =
        FormatOptions::default().with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f")).with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f"));
    let formatter = ArrayFormatter::try_new(array.as_ref(), &options).map_err(|e| e.to_string())?;
    Ok(formatter.value(row).to_string())
}

fn plain_i64(array: &ArrayRef, row: usize) -> Result<i64, String> {
    let cast = arrow::compute::cast(&array.slice(row, 1), &DataType::Int64).map_err(|e| e.to_string())?;
    Ok(cast.as_primitive::<arrow::datatypes::Int64Type>().value(0))
}

/// `2020-01-01 00:00:00.120000` → `2020-01-01 00:00:00.12`, as Spark prints timestamps.
fn trim_fraction(text: &str) -> String {
    match text.split_once('.') {
        Some((head, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() { head.to_string() } else { format!("{head}.{fraction}") }
        }
        None => text.to_string(),
    }
}

fn year_month(months: i32) -> String {
    let sign = if months < 0 { "-" } else { "" };
    let m = (months as i64).abs();
    format!("{sign}{}-{}", m / 12, m % 12)
}

fn day_time(nanos: i128) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.abs();
    let (days, rest) = (n / 86_400_000_000_000, n % 86_400_000_000_000);
    let (hours, rest) = (rest / 3_600_000_000_000, rest % 3_600_000_000_000);
    let (minutes, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let (seconds, fraction) = (rest / 1_000_000_000, rest % 1_000_000_000);
    format!("{sign}{days} {hours:02}:{minutes:02}:{seconds:02}.{fraction:09}")
}

/// Java's `Double.toString` / `Float.toString`: shortest round-trip digits, decimal between
/// 1e-3 and 1e7, computerized scientific notation (`1.0E7`) outside.
fn java_double(v: f64, single: bool) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let abs = v.abs();
    if v == 0.0 || (1e-3..1e7).contains(&abs) {
        let s = if single { format!("{}", v as f32) } else { format!("{v}") };
        return if s.contains('.') { s } else { format!("{s}.0") };
    }
    let s = if single { format!("{:e}", v as f32) } else { format!("{v:e}") };
    let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
    let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
    format!("{mantissa}E{exponent}")
}
