//! `to_char(expr, fmt)` / `to_varchar(expr, fmt)` as Spark has them: a date or timestamp with a
//! datetime pattern (as `date_format`), BINARY as `'base64'`, `'hex'` or `'utf-8'` text, and a
//! number with a number format:
//!
//! - `0` / `9`: a digit; a run of them matches the number's digits, padded on the left with
//!   zeros when the run starts with `0`, else with spaces; more digits than the run holds print
//!   every digit position as `#`.
//! - `.` / `D`: the decimal point (the fraction rounded half up to the positions after it);
//!   `,` / `G`: a grouping separator (a space within the padding); `$`: a dollar sign.
//! - `S` (first or last): `+` or `-`; `MI` (first or last): `-` or a space; `PR` (last): a
//!   negative number in angle brackets. Without any, a negative number starts with `-`.
//!
//! Zero prints no digit before the point (Spark 4.0's rule: `to_char(0, '999')` is blanks).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// `to_char` / `to_varchar` and `unix_timestamp` / `to_unix_timestamp`, built on the session's
/// Spark-pattern `date_format` and `to_timestamp` (from `dated`, [`super::datetime::functions`]).
pub(crate) fn functions(dated: &[Arc<ScalarUDF>]) -> Vec<Arc<ScalarUDF>> {
    let named = |name: &str| dated.iter().find(|f| f.name() == name).cloned();
    let mut udfs = Vec::with_capacity(2);
    if let Some(date_format) = named("date_format") {
        udfs.push(Arc::new(ScalarUDF::new_from_impl(ToChar {
            date_format,
            signature: Signature::user_defined(Volatility::Immutable),
            aliases: vec!["to_varchar".into()],
        })));
    }
    if let Some(to_timestamp) = named("to_timestamp") {
        udfs.push(Arc::new(ScalarUDF::new_from_impl(UnixTimestamp {
            to_timestamp,
            signature: Signature::user_defined(Volatility::Stable),
            aliases: vec!["to_unix_timestamp".into()],
        })));
    }
    udfs
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ToChar {
    /// Spark's `date_format`, which formats dates and timestamps.
    date_format: Arc<ScalarUDF>,
    signature: Signature,
    aliases: Vec<String>,
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        "to_char"
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [value, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null] => {
                let value = match value {
                    DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => value.clone(),
                    DataType::Binary | DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
                    v if v.is_numeric() || v.is_null() => value.clone(),
                    other => {
                        return plan_err!(
                            "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] to_char formats numbers, dates, timestamps and binary, not {}",
                            super::types::spark_type_name(other)
                        );
                    }
                };
                Ok(vec![value, DataType::Utf8])
            }
            _ => plan_err!("[WRONG_NUM_ARGS] to_char takes a value and a format"),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let data_type = args.args[0].data_type();
        if matches!(data_type, DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)) {
            return self.date_format.invoke_with_args(args);
        }
        let rows = args.number_rows;
        let formats = cast(&args.args[1].to_array(rows)?, &DataType::Utf8)?;
        let formats = formats.as_string::<i32>();
        let values = args.args[0].to_array(rows)?;
        let mut out = Vec::with_capacity(rows);
        if data_type == DataType::Binary {
            let bytes = values.as_binary::<i32>();
            for i in 0..rows {
                if bytes.is_null(i) || formats.is_null(i) {
                    out.push(None);
                    continue;
                }
                out.push(Some(binary_text(bytes.value(i), formats.value(i))?));
            }
        } else {
            let texts = match data_type {
                DataType::Float32 | DataType::Float64 => {
                    let doubles = cast(&values, &DataType::Float64)?;
                    let doubles = doubles.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
                    StringArray::from_iter((0..rows).map(|i| doubles.is_valid(i).then(|| format!("{}", doubles.value(i)))))
                }
                _ => cast(&values, &DataType::Utf8)?.as_string::<i32>().clone(),
            };
            let mut parsed: Option<(String, Format)> = None;
            for i in 0..rows {
                if texts.is_null(i) || formats.is_null(i) {
                    out.push(None);
                    continue;
                }
                let text = formats.value(i);
                if parsed.as_ref().is_none_or(|(f, _)| f != text) {
                    parsed = Some((text.to_string(), Format::parse(text)?));
                }
                let (_, format) = parsed.as_ref().expect("parsed above");
                out.push(Some(format.render(texts.value(i))?));
            }
        }
        super::answer(&args.args, Arc::new(StringArray::from(out)))
    }
}

fn binary_text(bytes: &[u8], format: &str) -> Result<String> {
    use base64::Engine;
    match format.to_ascii_lowercase().as_str() {
        "base64" => Ok(base64::engine::general_purpose::STANDARD.encode(bytes)),
        "hex" => Ok(hex::encode_upper(bytes)),
        "utf-8" | "utf8" => match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_string()),
            Err(_) => exec_err!("[MALFORMED_CHARACTER_CODING] the value cannot be decoded as 'UTF-8'"),
        },
        other => {
            exec_err!("[INVALID_PARAMETER_VALUE.BINARY_FORMAT] to_char's format for BINARY is 'base64', 'hex' or 'utf-8', not '{other}'")
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Digit(char),
    Group,
    Point,
    Dollar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    None,
    Plus,
    Minus,
    Brackets,
}

/// A parsed number format.
struct Format {
    tokens: Vec<Token>,
    sign: Sign,
    sign_first: bool,
}

impl Format {
    fn parse(text: &str) -> Result<Format> {
        let invalid = |why: &str| exec_err!("[INVALID_FORMAT] the number format '{text}' is invalid: {why}");
        let upper = text.to_ascii_uppercase();
        let mut body = upper.as_str();
        let mut sign = Sign::None;
        let mut sign_first = false;
        if let Some(rest) = body.strip_prefix('S') {
            (sign, sign_first, body) = (Sign::Plus, true, rest);
        } else if let Some(rest) = body.strip_prefix("MI") {
            (sign, sign_first, body) = (Sign::Minus, true, rest);
        }
        if sign == Sign::None {
            if let Some(rest) = body.strip_suffix("PR") {
                (sign, body) = (Sign::Brackets, rest);
            } else if let Some(rest) = body.strip_suffix("MI") {
                (sign, body) = (Sign::Minus, rest);
            } else if let Some(rest) = body.strip_suffix('S') {
                (sign, body) = (Sign::Plus, rest);
            }
        }
        let mut tokens = Vec::with_capacity(body.len());
        for c in body.chars() {
            tokens.push(match c {
                '0' | '9' => Token::Digit(c),
                ',' | 'G' => Token::Group,
                '.' | 'D' => Token::Point,
                '$' => Token::Dollar,
                other => return invalid(&format!("'{other}' is not one of 0 9 . D , G $ S MI PR")),
            });
        }
        if tokens.iter().filter(|t| **t == Token::Point).count() > 1 {
            return invalid("the decimal point appears more than once");
        }
        if tokens.iter().filter(|t| **t == Token::Dollar).count() > 1 {
            return invalid("'$' appears more than once");
        }
        if !tokens.iter().any(|t| matches!(t, Token::Digit(_))) {
            return invalid("there is no digit (0 or 9)");
        }
        Ok(Format { tokens, sign, sign_first })
    }

    /// `value` (a plain decimal text such as `-12.5`) formatted.
    fn render(&self, value: &str) -> Result<String> {
        let (negative, digits) = match value.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, value),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        let point = self.tokens.iter().position(|t| *t == Token::Point).unwrap_or(self.tokens.len());
        let int_tokens = &self.tokens[..point];
        let frac_tokens = if point < self.tokens.len() { &self.tokens[point + 1..] } else { &[][..] };
        let int_positions = int_tokens.iter().filter(|t| matches!(t, Token::Digit(_))).count();
        let frac_positions = frac_tokens.iter().filter(|t| matches!(t, Token::Digit(_))).count();
        let (int_digits, frac_digits) = round_half_up(int_part, frac_part, frac_positions);
        let int_digits = int_digits.trim_start_matches('0').to_string();
        let overflow = int_digits.len() > int_positions;
        let zero_padded = matches!(int_tokens.iter().find(|t| matches!(t, Token::Digit(_))), Some(Token::Digit('0')));

        // The integer part right to left.
        let mut int_out: Vec<char> = Vec::with_capacity(int_tokens.len());
        let mut remaining = int_digits.chars().rev();
        let mut left = int_digits.len();
        for token in int_tokens.iter().rev() {
            match token {
                Token::Digit(_) if overflow => int_out.push('#'),
                Token::Digit(_) => match remaining.next() {
                    Some(d) => {
                        left -= 1;
                        int_out.push(d);
                    }
                    None => int_out.push(if zero_padded { '0' } else { ' ' }),
                },
                Token::Group => int_out.push(if overflow || left > 0 || zero_padded { ',' } else { ' ' }),
                Token::Dollar => int_out.push('$'),
                Token::Point => {}
            }
        }
        int_out.reverse();
        let mut text: String = int_out.into_iter().collect();
        if point < self.tokens.len() {
            text.push('.');
            let mut frac = frac_digits.chars();
            for token in frac_tokens {
                match token {
                    Token::Digit(_) if overflow => text.push('#'),
                    Token::Digit(_) => text.push(frac.next().unwrap_or('0')),
                    Token::Group => text.push(','),
                    Token::Dollar => text.push('$'),
                    Token::Point => {}
                }
            }
        }
        let negative = negative && (int_digits.chars().chain(frac_digits.chars()).any(|d| d != '0'));
        Ok(match self.sign {
            Sign::Brackets if negative => format!("<{text}>"),
            Sign::Brackets => text,
            Sign::None if negative => insert_sign(&text, '-'),
            Sign::None => text,
            Sign::Plus | Sign::Minus => {
                let mark = match (self.sign, negative) {
                    (_, true) => '-',
                    (Sign::Plus, false) => '+',
                    _ => ' ',
                };
                if self.sign_first { insert_sign(&text, mark) } else { format!("{text}{mark}") }
            }
        })
    }
}

/// `mark` right before the first character that is not padding.
fn insert_sign(text: &str, mark: char) -> String {
    let at = text.find(|c: char| c != ' ').unwrap_or(text.len());
    format!("{}{mark}{}", &text[..at], &text[at..])
}

/// `int.frac` rounded half up to `places` fraction digits: (integer digits, fraction digits).
fn round_half_up(int: &str, frac: &str, places: usize) -> (String, String) {
    if frac.len() <= places {
        return (int.to_string(), format!("{frac:0<places$}"));
    }
    let round_up = frac.as_bytes()[places] >= b'5';
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes().take(places)).collect();
    if round_up {
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, b'1');
                break;
            }
            i -= 1;
            if digits[i] == b'9' {
                digits[i] = b'0';
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let split = digits.len() - places;
    let text = String::from_utf8(digits).unwrap_or_default();
    (text[..split].to_string(), text[split..].to_string())
}

/// `unix_timestamp([expr[, fmt]])` / `to_unix_timestamp(expr[, fmt])`: seconds since the epoch
/// of a timestamp, a date (its midnight) or a text read with the pattern `fmt` (default
/// `yyyy-MM-dd HH:mm:ss`, as Spark's; text that does not match is an error in ANSI mode).
/// Without an argument, the statement's current time.
#[derive(Debug, PartialEq, Eq, Hash)]
struct UnixTimestamp {
    to_timestamp: Arc<ScalarUDF>,
    signature: Signature,
    aliases: Vec<String>,
}

impl ScalarUDFImpl for UnixTimestamp {
    fn name(&self) -> &str {
        "unix_timestamp"
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let value = |t: &DataType| -> Result<DataType> {
            Ok(match t {
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => t.clone(),
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => DataType::Utf8,
                other => {
                    return plan_err!(
                        "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] unix_timestamp reads a timestamp, a date or text, not {}",
                        super::types::spark_type_name(other)
                    );
                }
            })
        };
        match args {
            [] => Ok(vec![]),
            [x] => Ok(vec![value(x)?]),
            [x, _] => Ok(vec![value(x)?, DataType::Utf8]),
            _ => plan_err!("[WRONG_NUM_ARGS] unix_timestamp takes at most two arguments"),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn simplify(
        &self,
        args: Vec<datafusion::logical_expr::Expr>,
        info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        use datafusion::logical_expr::simplify::ExprSimplifyResult;
        // Without an argument: the statement's start, as now() is.
        if args.is_empty() {
            let now = info.query_execution_start_time().map(|t| t.timestamp());
            return Ok(ExprSimplifyResult::Simplified(datafusion::logical_expr::lit(datafusion::common::ScalarValue::Int64(now))));
        }
        Ok(ExprSimplifyResult::Original(args))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::datatypes::TimeUnit;
        let rows = args.number_rows;
        let Some(value) = args.args.first() else { return exec_err!("unix_timestamp() is answered when planning") };
        let timestamps = match value.data_type() {
            DataType::Utf8 => {
                let pattern = args
                    .args
                    .get(1)
                    .cloned()
                    .unwrap_or(ColumnarValue::Scalar(datafusion::common::ScalarValue::Utf8(Some("yyyy-MM-dd HH:mm:ss".into()))));
                let fields = vec![
                    Arc::new(datafusion::arrow::datatypes::Field::new("value", DataType::Utf8, true)),
                    Arc::new(datafusion::arrow::datatypes::Field::new("format", DataType::Utf8, true)),
                ];
                let return_type = self.to_timestamp.return_type(&[DataType::Utf8, DataType::Utf8])?;
                let parsed = self.to_timestamp.invoke_with_args(ScalarFunctionArgs {
                    args: vec![value.clone(), pattern],
                    arg_fields: fields,
                    number_rows: rows,
                    return_field: Arc::new(datafusion::arrow::datatypes::Field::new("ts", return_type, true)),
                    config_options: Arc::clone(&args.config_options),
                })?;
                parsed.to_array(rows)?
            }
            _ => value.to_array(rows)?,
        };
        let micros = cast(&cast(&timestamps, &DataType::Timestamp(TimeUnit::Microsecond, None))?, &DataType::Int64)?;
        let micros = micros.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let seconds: datafusion::arrow::array::Int64Array = micros.iter().map(|m| m.map(|m| m.div_euclid(1_000_000))).collect();
        super::answer(&args.args, Arc::new(seconds))
    }
}
