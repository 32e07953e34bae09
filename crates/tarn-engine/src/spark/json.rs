//! Spark's JSON functions: `get_json_object`, `json_array_length`, `json_object_keys`,
//! `to_json`, `from_json` and `schema_of_json` (`json_tuple` is a generator, see
//! [`super::generators`]).
//!
//! JSON text is parsed with `serde_json` (keys keep their order). What Spark decides:
//! - Text that is not JSON is NULL for the readers; `from_json` is PERMISSIVE: a struct of NULLs
//!   for a record it cannot read, and a field whose value does not fit its type is NULL while the
//!   other fields keep theirs (Spark's partial results, on by default since 3.4).
//! - A STRING field takes any JSON value: a string's text, anything else as its JSON text.
//! - `to_json` leaves out NULL fields of a struct, prints a double as Java does (`1.0E10`), a
//!   date as `yyyy-MM-dd`, a timestamp as `yyyy-MM-dd'T'HH:mm:ss.SSS` (with `Z` when it has a
//!   zone), binary as base64.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array,
    ListArray, MapArray, NullArray, StringArray, StructArray, TimestampMicrosecondArray, new_null_array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use serde_json::Value;

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    let signature = || Signature::user_defined(Volatility::Immutable);
    vec![
        Arc::new(ScalarUDF::new_from_impl(GetJsonObject { signature: signature() })),
        Arc::new(ScalarUDF::new_from_impl(JsonShape { keys: false, signature: signature() })),
        Arc::new(ScalarUDF::new_from_impl(JsonShape { keys: true, signature: signature() })),
        Arc::new(ScalarUDF::new_from_impl(ToJson { signature: signature() })),
        Arc::new(ScalarUDF::new_from_impl(FromJson { signature: signature() })),
        Arc::new(ScalarUDF::new_from_impl(SchemaOfJson { signature: signature() })),
    ]
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null)
}

fn texts(value: &ColumnarValue, rows: usize) -> Result<ArrayRef> {
    Ok(cast(&value.to_array(rows)?, &DataType::Utf8)?)
}

// ---------------------------------------------------------------------------------------------
// get_json_object

/// One step of a JSON path: a field, an array index, or every element (`[*]`, `.*`).
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    Every,
}

/// Spark's JSON path: `$` then `.name`, `['name']`, `[n]`, `[*]` or `.*`; `None` when the path is
/// not one (Spark's answer is then NULL).
fn parse_path(path: &str) -> Option<Vec<Step>> {
    let rest = path.strip_prefix('$')?;
    let chars: Vec<char> = rest.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && chars[end] != '.' && chars[end] != '[' {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                if name.is_empty() {
                    return None;
                }
                steps.push(if name == "*" { Step::Every } else { Step::Field(name) });
                i = end;
            }
            '[' => {
                let close = (i..chars.len()).find(|&j| chars[j] == ']')?;
                let inside: String = chars[i + 1..close].iter().collect();
                let inside = inside.trim();
                if inside == "*" {
                    steps.push(Step::Every);
                } else if let Some(quoted) = inside.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                    steps.push(Step::Field(quoted.to_string()));
                } else {
                    steps.push(Step::Index(inside.parse().ok()?));
                }
                i = close + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// The values `steps` reach from `value`; `wild` when a wildcard was taken.
fn follow<'v>(value: &'v Value, steps: &[Step], out: &mut Vec<&'v Value>, wild: &mut bool) {
    let Some((step, rest)) = steps.split_first() else {
        out.push(value);
        return;
    };
    match (step, value) {
        (Step::Field(name), Value::Object(map)) => {
            if let Some(v) = map.get(name) {
                follow(v, rest, out, wild);
            }
        }
        (Step::Index(i), Value::Array(items)) => {
            if let Some(v) = items.get(*i) {
                follow(v, rest, out, wild);
            }
        }
        (Step::Every, Value::Array(items)) => {
            *wild = true;
            for v in items {
                follow(v, rest, out, wild);
            }
        }
        (Step::Every, Value::Object(map)) => {
            *wild = true;
            for v in map.values() {
                follow(v, rest, out, wild);
            }
        }
        _ => {}
    }
}

/// A JSON value as Spark's text functions return it: a string's own text, NULL for `null`,
/// anything else as compact JSON.
fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct GetJsonObject {
    signature: Signature,
}

impl ScalarUDFImpl for GetJsonObject {
    fn name(&self) -> &str {
        "get_json_object"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [a, b] if is_text(a) && is_text(b) => Ok(vec![DataType::Utf8, DataType::Utf8]),
            [_, _] => plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] get_json_object takes a JSON text and a path text"),
            _ => plan_err!("[WRONG_NUM_ARGS] get_json_object takes two arguments, got {}", args.len()),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let (json, paths) = (texts(&args.args[0], rows)?, texts(&args.args[1], rows)?);
        let (json, paths) = (json.as_string::<i32>(), paths.as_string::<i32>());
        let mut parsed_path: Option<(String, Option<Vec<Step>>)> = None;
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            if json.is_null(i) || paths.is_null(i) {
                out.push(None);
                continue;
            }
            let path = paths.value(i);
            if parsed_path.as_ref().is_none_or(|(p, _)| p != path) {
                parsed_path = Some((path.to_string(), parse_path(path)));
            }
            let Some((_, Some(steps))) = &parsed_path else {
                out.push(None);
                continue;
            };
            let Ok(value) = serde_json::from_str::<Value>(json.value(i)) else {
                out.push(None);
                continue;
            };
            let mut found = Vec::new();
            let mut wild = false;
            follow(&value, steps, &mut found, &mut wild);
            out.push(match found.as_slice() {
                [] => None,
                [one] if !wild || !matches!(one, Value::Array(_)) => value_text(one),
                many => Some(Value::Array(many.iter().map(|v| (*v).clone()).collect()).to_string()),
            });
        }
        super::answer(&args.args, Arc::new(StringArray::from(out)))
    }
}

// ---------------------------------------------------------------------------------------------
// json_array_length / json_object_keys

/// `json_array_length(json)` (`keys` false): the top-level array's length; `json_object_keys`
/// (`keys` true): the top-level object's keys. NULL for anything else.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonShape {
    keys: bool,
    signature: Signature,
}

impl ScalarUDFImpl for JsonShape {
    fn name(&self) -> &str {
        if self.keys { "json_object_keys" } else { "json_array_length" }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [a] if is_text(a) => Ok(vec![DataType::Utf8]),
            _ => plan_err!("[WRONG_NUM_ARGS] {} takes one JSON text", self.name()),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(if self.keys { DataType::new_list(DataType::Utf8, true) } else { DataType::Int32 })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let json = texts(&args.args[0], rows)?;
        let json = json.as_string::<i32>();
        let parsed = (0..rows).map(|i| if json.is_null(i) { None } else { serde_json::from_str::<Value>(json.value(i)).ok() });
        let result: ArrayRef = if self.keys {
            let mut out = datafusion::arrow::array::ListBuilder::new(datafusion::arrow::array::StringBuilder::new());
            for value in parsed {
                match value {
                    Some(Value::Object(map)) => {
                        for key in map.keys() {
                            out.values().append_value(key);
                        }
                        out.append(true);
                    }
                    _ => out.append_null(),
                }
            }
            Arc::new(out.finish())
        } else {
            Arc::new(Int32Array::from_iter(parsed.map(|v| match v {
                Some(Value::Array(items)) => Some(items.len() as i32),
                _ => None,
            })))
        };
        super::answer(&args.args, result)
    }
}

// ---------------------------------------------------------------------------------------------
// to_json

/// A double as Java's `Double.toString` prints it (Jackson writes doubles so).
pub(crate) fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    java_style(x.abs(), format!("{x}"), format!("{x:e}"))
}

/// A float as Java's `Float.toString` prints it: the float's own shortest digits.
fn java_float(x: f32) -> String {
    if !x.is_finite() || x == 0.0 {
        return java_double(f64::from(x));
    }
    java_style(f64::from(x.abs()), format!("{x}"), format!("{x:e}"))
}

/// Java's layout of a finite, non-zero number given its shortest digits: plain from 10^-3 to
/// 10^7 (always with a fraction, `1.0`), else scientific (`1.0E10`, `1.2345E-5`).
fn java_style(magnitude: f64, plain: String, scientific: String) -> String {
    if (1e-3..1e7).contains(&magnitude) {
        return if plain.contains('.') { plain } else { format!("{plain}.0") };
    }
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
    format!("{mantissa}E{exponent}")
}

/// Row `row` of `array` as JSON text, appended to `out`; `false` when the value is NULL.
fn write_json(array: &ArrayRef, row: usize, out: &mut String) -> Result<bool> {
    use std::fmt::Write;
    if array.is_null(row) {
        return Ok(false);
    }
    match array.data_type() {
        DataType::Null => return Ok(false),
        DataType::Boolean => out.push_str(if array.as_boolean().value(row) { "true" } else { "false" }),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => {
            let value = ScalarValue::try_from_array(array, row)?;
            let _ = write!(out, "{value}");
        }
        DataType::Float32 => out.push_str(&java_float(array.as_primitive::<datafusion::arrow::datatypes::Float32Type>().value(row))),
        DataType::Float64 => out.push_str(&java_double(array.as_primitive::<datafusion::arrow::datatypes::Float64Type>().value(row))),
        DataType::Decimal128(..) | DataType::Decimal256(..) => {
            let text = cast(&array.slice(row, 1), &DataType::Utf8)?;
            out.push_str(text.as_string::<i32>().value(0));
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = cast(&array.slice(row, 1), &DataType::Utf8)?;
            out.push_str(&serde_json::to_string(text.as_string::<i32>().value(0)).unwrap_or_default());
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            use base64::Engine;
            let bytes = cast(&array.slice(row, 1), &DataType::Binary)?;
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes.as_binary::<i32>().value(0));
            let _ = write!(out, "\"{encoded}\"");
        }
        DataType::Date32 | DataType::Date64 => {
            let text = cast(&array.slice(row, 1), &DataType::Utf8)?;
            let _ = write!(out, "\"{}\"", text.as_string::<i32>().value(0));
        }
        DataType::Timestamp(_, zone) => {
            let micros = cast(&array.slice(row, 1), &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let micros = micros.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>().value(0);
            let Some(time) = chrono::DateTime::from_timestamp_micros(micros) else { return Ok(false) };
            let suffix = if zone.is_some() { "Z" } else { "" };
            let _ = write!(out, "\"{}{suffix}\"", time.naive_utc().format("%Y-%m-%dT%H:%M:%S%.3f"));
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            let list =
                cast(&array.slice(row, 1), &DataType::List(Arc::new(Field::new_list_field(list_item_type(array.data_type()), true))))?;
            let items = list.as_list::<i32>().value(0);
            out.push('[');
            for i in 0..items.len() {
                if i > 0 {
                    out.push(',');
                }
                if !write_json(&items, i, out)? {
                    out.push_str("null");
                }
            }
            out.push(']');
        }
        DataType::Struct(fields) => {
            let record = array.as_struct();
            out.push('{');
            let mut first = true;
            for (field, column) in fields.iter().zip(record.columns()) {
                let mut value = String::new();
                if !write_json(column, row, &mut value)? {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&serde_json::to_string(field.name()).unwrap_or_default());
                out.push(':');
                out.push_str(&value);
            }
            out.push('}');
        }
        DataType::Map(..) => {
            let map = array.as_map();
            let entries = map.value(row);
            let (keys, values) = (entries.column(0), entries.column(1));
            out.push('{');
            for i in 0..entries.len() {
                if i > 0 {
                    out.push(',');
                }
                let mut key = String::new();
                write_json(keys, i, &mut key)?;
                let key = if key.starts_with('"') { key } else { serde_json::to_string(&key).unwrap_or_default() };
                out.push_str(&key);
                out.push(':');
                if !write_json(values, i, out)? {
                    out.push_str("null");
                }
            }
            out.push('}');
        }
        DataType::Dictionary(_, value) => {
            let plain = cast(&array.slice(row, 1), value)?;
            return write_json(&plain, 0, out);
        }
        other => return exec_err!("to_json cannot write {other}"),
    }
    Ok(true)
}

fn list_item_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => f.data_type().clone(),
        other => other.clone(),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ToJson {
    signature: Signature,
}

impl ScalarUDFImpl for ToJson {
    fn name(&self) -> &str {
        "to_json"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args.first() {
            Some(DataType::Struct(_) | DataType::Map(..) | DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..))
                if args.len() <= 2 =>
            {
                Ok(args.to_vec())
            }
            Some(other) if args.len() <= 2 => plan_err!(
                "[DATATYPE_MISMATCH.INVALID_JSON_SCHEMA] to_json takes a STRUCT, MAP or ARRAY, got {}",
                super::types::spark_type_name(other)
            ),
            _ => plan_err!("[WRONG_NUM_ARGS] to_json takes a value and optionally a map of options"),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let values = args.args[0].to_array(rows)?;
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            let mut text = String::new();
            out.push(if write_json(&values, row, &mut text)? { Some(text) } else { None });
        }
        super::answer(&args.args, Arc::new(StringArray::from(out)))
    }
}

// ---------------------------------------------------------------------------------------------
// from_json

/// A schema written as Spark writes one: `a INT, b STRING`, `STRUCT<a: INT>`, `ARRAY<INT>`,
/// `MAP<STRING, INT>`.
pub(crate) fn parse_schema(text: &str) -> Result<DataType> {
    use datafusion::sql::sqlparser::dialect::SparkSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    let dialect = SparkSqlDialect {};
    let as_type = Parser::new(&dialect).try_with_sql(text).and_then(|mut p| {
        let t = p.parse_data_type()?;
        p.expect_token(&datafusion::sql::sqlparser::tokenizer::Token::EOF)?;
        Ok(t)
    });
    let sql_type = match as_type {
        Ok(t) => t,
        Err(_) => {
            // A field list: `a INT, b STRING` is the struct of those fields.
            let wrapped = format!("STRUCT<{}>", field_list_with_colons(text));
            match Parser::new(&dialect).try_with_sql(&wrapped).and_then(|mut p| p.parse_data_type()) {
                Ok(t) => t,
                Err(e) => return plan_err!("[PARSE_SYNTAX_ERROR] the schema '{text}' is not a type or a field list: {e}"),
            }
        }
    };
    super::types::arrow_type(&sql_type).map_err(datafusion::common::DataFusionError::Plan)
}

/// `a INT, b ARRAY<STRING>` as `a: INT, b: ARRAY<STRING>` (the struct field syntax).
fn field_list_with_colons(text: &str) -> String {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            out.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    out.push(current);
    out.iter()
        .map(|field| {
            let field = field.trim();
            if field.contains(':') {
                return field.to_string();
            }
            // The name, then the type: the name may be `quoted`.
            let split =
                if let Some(rest) = field.strip_prefix('`') { rest.find('`').map(|end| end + 2) } else { field.find(char::is_whitespace) };
            match split {
                Some(at) => format!("{}: {}", &field[..at], field[at..].trim()),
                None => field.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The literal schema of a call (`from_json`'s second argument).
fn literal_schema(args: &ReturnFieldArgs, name: &str) -> Result<DataType> {
    match args.scalar_arguments.get(1) {
        Some(Some(value)) => match value.try_as_str().flatten() {
            Some(text) => parse_schema(text),
            None => plan_err!("[INVALID_SCHEMA.NON_STRING_LITERAL] {name}'s schema must be a text literal"),
        },
        _ => plan_err!("[INVALID_SCHEMA.NON_STRING_LITERAL] {name}'s schema must be a text literal such as 'a INT, b STRING'"),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct FromJson {
    signature: Signature,
}

impl ScalarUDFImpl for FromJson {
    fn name(&self) -> &str {
        "from_json"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [json, schema, rest @ ..] if rest.len() <= 1 && is_text(json) && is_text(schema) => {
                let mut types = vec![DataType::Utf8, DataType::Utf8];
                types.extend(rest.iter().cloned());
                Ok(types)
            }
            _ => plan_err!("[WRONG_NUM_ARGS] from_json takes a JSON text, a schema text and optionally a map of options"),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        plan_err!("from_json's type comes from its schema argument")
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let data_type = literal_schema(&args, self.name())?;
        if !matches!(data_type, DataType::Struct(_) | DataType::List(_) | DataType::Map(..)) {
            return plan_err!(
                "[DATATYPE_MISMATCH.INVALID_JSON_SCHEMA] from_json reads a STRUCT, ARRAY or MAP, not {}",
                super::types::spark_type_name(&data_type)
            );
        }
        Ok(Arc::new(Field::new(self.name(), data_type, true)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let json = texts(&args.args[0], rows)?;
        let json = json.as_string::<i32>();
        let target = args.return_field.data_type().clone();
        let parsed: Vec<Option<Value>> =
            (0..rows).map(|i| if json.is_null(i) { None } else { Some(parse_record(json.value(i))) }).collect();
        // An input that is NULL is NULL; one that is not JSON reads as a record of NULLs.
        let values: Vec<Option<&Value>> = parsed.iter().map(|v| v.as_ref()).collect();
        let mut result = build(&values, &target, true)?;
        if let DataType::Struct(_) = target {
            let nulls = NullBuffer::from_iter(json.iter().map(|v| v.is_some()));
            let record = result.as_struct().clone();
            let (fields, columns, _) = record.into_parts();
            result = Arc::new(StructArray::try_new(fields, columns, Some(nulls))?);
        }
        super::answer(&args.args, result)
    }
}

/// A record's JSON, `Null` when the text is not JSON (a struct of NULLs, as PERMISSIVE reads it).
fn parse_record(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// The column of `data_type` the JSON `values` read as; a value that does not fit is NULL.
/// `top`: a struct at the top is built even for a value that is not an object (fields NULL).
fn build(values: &[Option<&Value>], data_type: &DataType, top: bool) -> Result<ArrayRef> {
    let n = values.len();
    Ok(match data_type {
        DataType::Null => Arc::new(NullArray::new(n)),
        DataType::Boolean => Arc::new(BooleanArray::from_iter(values.iter().map(|v| v.and_then(Value::as_bool)))),
        DataType::Int8 => Arc::new(Int8Array::from_iter(values.iter().map(|v| integer(*v).and_then(|i| i8::try_from(i).ok())))),
        DataType::Int16 => Arc::new(Int16Array::from_iter(values.iter().map(|v| integer(*v).and_then(|i| i16::try_from(i).ok())))),
        DataType::Int32 => Arc::new(Int32Array::from_iter(values.iter().map(|v| integer(*v).and_then(|i| i32::try_from(i).ok())))),
        DataType::Int64 => Arc::new(Int64Array::from_iter(values.iter().map(|v| integer(*v)))),
        DataType::Float32 => Arc::new(Float32Array::from_iter(values.iter().map(|v| float(*v).map(|f| f as f32)))),
        DataType::Float64 => Arc::new(Float64Array::from_iter(values.iter().map(|v| float(*v)))),
        DataType::Decimal128(precision, scale) => {
            let texts: Vec<Option<String>> = values
                .iter()
                .map(|v| match v {
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                })
                .collect();
            let texts = StringArray::from(texts);
            // A number that does not fit the precision is NULL (a safe cast).
            let options = datafusion::arrow::compute::CastOptions { safe: true, ..Default::default() };
            datafusion::arrow::compute::cast_with_options(&texts, &DataType::Decimal128(*precision, *scale), &options)?
        }
        DataType::Utf8 => Arc::new(StringArray::from_iter(values.iter().map(|v| v.and_then(value_text)))),
        DataType::Binary => Arc::new(BinaryArray::from_iter(values.iter().map(|v| match v {
            Some(Value::String(s)) => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.decode(s).ok()
            }
            _ => None,
        }))),
        DataType::Date32 => {
            let texts = StringArray::from_iter(values.iter().map(|v| v.and_then(Value::as_str)));
            let options = datafusion::arrow::compute::CastOptions { safe: true, ..Default::default() };
            datafusion::arrow::compute::cast_with_options(&texts, &DataType::Date32, &options)?
        }
        DataType::Timestamp(_, zone) => {
            let micros = values.iter().map(|v| match v {
                Some(Value::String(s)) => timestamp_micros(s),
                Some(Value::Number(n)) => n.as_i64().and_then(|s| s.checked_mul(1_000_000)),
                _ => None,
            });
            Arc::new(TimestampMicrosecondArray::from_iter(micros).with_timezone_opt(zone.clone()))
        }
        DataType::List(field) => {
            let mut offsets = vec![0i32];
            let mut items = Vec::new();
            let mut valid = Vec::with_capacity(n);
            for v in values {
                if let Some(Value::Array(elements)) = v {
                    items.extend(elements.iter().map(Some));
                    valid.push(true);
                } else {
                    valid.push(false);
                }
                offsets.push(items.len() as i32);
            }
            let child = build(&items, field.data_type(), false)?;
            Arc::new(ListArray::try_new(field.clone(), OffsetBuffer::new(offsets.into()), child, Some(NullBuffer::from(valid)))?)
        }
        DataType::Struct(fields) => {
            let mut columns = Vec::with_capacity(fields.len());
            for field in fields.iter() {
                let children: Vec<Option<&Value>> = values
                    .iter()
                    .map(|v| match v {
                        Some(Value::Object(map)) => map.get(field.name()),
                        _ => None,
                    })
                    .collect();
                columns.push(build(&children, field.data_type(), false)?);
            }
            let nulls = if top { None } else { Some(NullBuffer::from_iter(values.iter().map(|v| matches!(v, Some(Value::Object(_)))))) };
            if fields.is_empty() {
                Arc::new(StructArray::new_empty_fields(n, nulls))
            } else {
                Arc::new(StructArray::try_new(fields.clone(), columns, nulls)?)
            }
        }
        DataType::Map(entries, sorted) => {
            let DataType::Struct(kv) = entries.data_type() else { return exec_err!("from_json: a map's entries are not a struct") };
            if kv[0].data_type() != &DataType::Utf8 {
                return exec_err!("from_json reads maps with STRING keys, not {}", kv[0].data_type());
            }
            let mut offsets = vec![0i32];
            let mut keys = Vec::new();
            let mut items = Vec::new();
            let mut valid = Vec::with_capacity(n);
            for v in values {
                if let Some(Value::Object(map)) = v {
                    for (k, item) in map {
                        keys.push(k.clone());
                        items.push(Some(item));
                    }
                    valid.push(true);
                } else {
                    valid.push(false);
                }
                offsets.push(keys.len() as i32);
            }
            let key_array: ArrayRef = Arc::new(StringArray::from(keys));
            let value_array = build(&items, kv[1].data_type(), false)?;
            let entry_struct = StructArray::try_new(kv.clone(), vec![key_array, value_array], None)?;
            Arc::new(MapArray::try_new(
                entries.clone(),
                OffsetBuffer::new(offsets.into()),
                entry_struct,
                Some(NullBuffer::from(valid)),
                *sorted,
            )?)
        }
        other => new_null_array(other, n),
    })
}

fn integer(value: Option<&Value>) -> Option<i64> {
    match value {
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    }
}

fn float(value: Option<&Value>) -> Option<f64> {
    match value {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" | "+Infinity" | "+INF" | "INF" => Some(f64::INFINITY),
            "-Infinity" | "-INF" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// `yyyy-MM-dd'T'HH:mm:ss[.fraction][zone]` or with a space, as UTC microseconds.
fn timestamp_micros(text: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc().timestamp_micros())
}

// ---------------------------------------------------------------------------------------------
// schema_of_json

/// Spark's inferred type of a JSON value: integers BIGINT, other numbers DOUBLE, text STRING,
/// objects STRUCT with the fields sorted by name, arrays of the widest element type.
fn infer(value: &Value) -> String {
    match value {
        Value::Null | Value::String(_) => "STRING".into(),
        Value::Bool(_) => "BOOLEAN".into(),
        Value::Number(n) if n.is_i64() || n.is_u64() => "BIGINT".into(),
        Value::Number(_) => "DOUBLE".into(),
        Value::Array(items) => {
            let mut element: Option<String> = None;
            for item in items {
                if item.is_null() {
                    continue;
                }
                let t = infer(item);
                element = Some(match element {
                    None => t,
                    Some(e) if e == t => e,
                    Some(e) if (e == "BIGINT" && t == "DOUBLE") || (e == "DOUBLE" && t == "BIGINT") => "DOUBLE".into(),
                    Some(_) => "STRING".into(),
                });
            }
            format!("ARRAY<{}>", element.unwrap_or_else(|| "STRING".into()))
        }
        Value::Object(map) => {
            let mut fields: Vec<(&String, String)> = map.iter().map(|(k, v)| (k, infer(v))).collect();
            fields.sort_by(|a, b| a.0.cmp(b.0));
            let fields: Vec<String> = fields.into_iter().map(|(k, t)| format!("{}: {t}", quote_field(k))).collect();
            format!("STRUCT<{}>", fields.join(", "))
        }
    }
}

fn quote_field(name: &str) -> String {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !name.starts_with(|c: char| c.is_ascii_digit()) {
        name.to_string()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SchemaOfJson {
    signature: Signature,
}

impl ScalarUDFImpl for SchemaOfJson {
    fn name(&self) -> &str {
        "schema_of_json"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [json, rest @ ..] if rest.len() <= 1 && is_text(json) => {
                let mut types = vec![DataType::Utf8];
                types.extend(rest.iter().cloned());
                Ok(types)
            }
            _ => plan_err!("[WRONG_NUM_ARGS] schema_of_json takes a JSON text literal"),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ColumnarValue::Scalar(value) = &args.args[0] else {
            return exec_err!("[DATATYPE_MISMATCH.NON_FOLDABLE_INPUT] schema_of_json takes a JSON text literal");
        };
        let Some(text) = value.try_as_str().flatten() else { return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None))) };
        match serde_json::from_str::<Value>(text) {
            Ok(value) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(infer(&value))))),
            Err(e) => exec_err!("[MALFORMED_RECORD_IN_PARSING] schema_of_json cannot read '{text}' as JSON: {e}"),
        }
    }
}
