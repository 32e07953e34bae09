//! Spark's string functions that neither DataFusion nor `datafusion-spark` has.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// The functions of this module, to register under Spark's names.
pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(Mask { signature: Signature::user_defined(Volatility::Immutable) })),
        Arc::new(ScalarUDF::new_from_impl(ToBinary { lenient: false, signature: Signature::user_defined(Volatility::Immutable) })),
        Arc::new(ScalarUDF::new_from_impl(ToBinary { lenient: true, signature: Signature::user_defined(Volatility::Immutable) })),
        Arc::new(ScalarUDF::new_from_impl(Locate { signature: Signature::user_defined(Volatility::Immutable) })),
        Arc::new(ScalarUDF::new_from_impl(Charset { encode: true, signature: Signature::user_defined(Volatility::Immutable) })),
        Arc::new(ScalarUDF::new_from_impl(Charset { encode: false, signature: Signature::user_defined(Volatility::Immutable) })),
        Arc::new(ScalarUDF::new_from_impl(Initcap { signature: Signature::string(1, Volatility::Immutable) })),
        Arc::new(ScalarUDF::new_from_impl(ValidateUtf8 { lenient: false, signature: Signature::string(1, Volatility::Immutable) })),
        Arc::new(ScalarUDF::new_from_impl(ValidateUtf8 { lenient: true, signature: Signature::string(1, Volatility::Immutable) })),
    ]
}

/// `initcap(str)`: each word's first letter in title case and the rest in lower case, words
/// separated by spaces only (Spark's: `hello-world` is
/// `Hello-world`, where DataFusion's `initcap` gives `Hello-World`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Initcap {
    signature: Signature,
}

pub(crate) fn spark_initcap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut after_space = true;
    for c in s.chars() {
        // A word's first letter is title-cased as it is (`İ` stays `İ`), the rest lower-cased.
        if after_space {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        after_space = c == ' ';
    }
    out
}

impl ScalarUDFImpl for Initcap {
    fn name(&self) -> &str {
        "initcap"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let values = args.args[0].to_array(args.number_rows)?;
        let text = datafusion::arrow::compute::cast(&values, &DataType::Utf8)?;
        let out: StringArray = text.as_string::<i32>().iter().map(|s| s.map(spark_initcap)).collect();
        let out: ArrayRef = Arc::new(out);
        super::answer(&args.args, datafusion::arrow::compute::cast(&out, values.data_type())?)
    }
}

/// `validate_utf8(str)` / `try_validate_utf8(str)`: the string when it is valid UTF-8. Arrow's
/// strings always are (invalid bytes never become a STRING in Tarn), so both are the string.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ValidateUtf8 {
    lenient: bool,
    signature: Signature,
}

impl ScalarUDFImpl for ValidateUtf8 {
    fn name(&self) -> &str {
        if self.lenient { "try_validate_utf8" } else { "validate_utf8" }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(args.args[0].clone())
    }
}

/// `encode(str, charset)` → BINARY and `decode(bin, charset)` → STRING in one of Spark's
/// charsets: UTF-8, US-ASCII, ISO-8859-1, UTF-16BE, UTF-16LE, UTF-16 (big-endian with a byte
/// order mark). A character the charset cannot hold, or bytes that are not of it, are an error
/// (`MALFORMED_CHARACTER_CODING`), as in Spark 4. (`decode(expr, search, result, ..)`, Spark's
/// other `decode`, is a CASE written by the SQL front end.)
#[derive(Debug, PartialEq, Eq, Hash)]
struct Charset {
    encode: bool,
    signature: Signature,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CharsetKind {
    Utf8,
    Ascii,
    Latin1,
    Utf16Be,
    Utf16Le,
    Utf16,
}

impl CharsetKind {
    fn parse(name: &str) -> Result<Self> {
        Ok(match name.to_ascii_uppercase().as_str() {
            "UTF-8" | "UTF8" => CharsetKind::Utf8,
            "US-ASCII" | "ASCII" => CharsetKind::Ascii,
            "ISO-8859-1" | "LATIN1" => CharsetKind::Latin1,
            "UTF-16BE" => CharsetKind::Utf16Be,
            "UTF-16LE" => CharsetKind::Utf16Le,
            "UTF-16" => CharsetKind::Utf16,
            _ => {
                return exec_err!(
                    "[INVALID_PARAMETER_VALUE.CHARSET] the charset '{name}' is not one of 'US-ASCII', 'ISO-8859-1', 'UTF-8', 'UTF-16BE', 'UTF-16LE', 'UTF-16'"
                );
            }
        })
    }

    fn encode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            CharsetKind::Utf8 => Some(text.as_bytes().to_vec()),
            CharsetKind::Ascii => text.chars().map(|c| u8::try_from(c).ok().filter(|b| b.is_ascii())).collect(),
            CharsetKind::Latin1 => text.chars().map(|c| u8::try_from(c).ok()).collect(),
            CharsetKind::Utf16Be => Some(text.encode_utf16().flat_map(u16::to_be_bytes).collect()),
            CharsetKind::Utf16Le => Some(text.encode_utf16().flat_map(u16::to_le_bytes).collect()),
            CharsetKind::Utf16 => Some([0xFE, 0xFF].into_iter().chain(text.encode_utf16().flat_map(u16::to_be_bytes)).collect()),
        }
    }

    fn decode(self, bytes: &[u8]) -> Option<String> {
        let utf16 = |bytes: &[u8], big: bool| -> Option<String> {
            if !bytes.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> =
                bytes.chunks(2).map(|p| if big { u16::from_be_bytes([p[0], p[1]]) } else { u16::from_le_bytes([p[0], p[1]]) }).collect();
            String::from_utf16(&units).ok()
        };
        match self {
            CharsetKind::Utf8 => String::from_utf8(bytes.to_vec()).ok(),
            CharsetKind::Ascii => bytes.iter().map(|b| b.is_ascii().then_some(*b as char)).collect(),
            CharsetKind::Latin1 => Some(bytes.iter().map(|b| *b as char).collect()),
            CharsetKind::Utf16Be => utf16(bytes, true),
            CharsetKind::Utf16Le => utf16(bytes, false),
            CharsetKind::Utf16 => match bytes {
                [0xFF, 0xFE, rest @ ..] => utf16(rest, false),
                [0xFE, 0xFF, rest @ ..] => utf16(rest, true),
                _ => utf16(bytes, true),
            },
        }
    }
}

impl ScalarUDFImpl for Charset {
    fn name(&self) -> &str {
        if self.encode { "encode" } else { "decode" }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let value = if self.encode { DataType::Utf8 } else { DataType::Binary };
        match args {
            [_, charset] if is_text(charset) || charset.is_null() => Ok(vec![value, DataType::Utf8]),
            [_, other] => plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] {}'s charset is text, not {other}", self.name()),
            _ => plan_err!("[WRONG_NUM_ARGS] {} takes a value and a charset", self.name()),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(if self.encode { DataType::Binary } else { DataType::Utf8 })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::array::BinaryArray;
        let rows = args.number_rows;
        let values = args.args[0].to_array(rows)?;
        let charsets = cast(&args.args[1].to_array(rows)?, &DataType::Utf8)?;
        let charsets = charsets.as_string::<i32>();
        let mut last: Option<(String, CharsetKind)> = None;
        let mut kind = |name: &str| -> Result<CharsetKind> {
            if let Some((n, k)) = &last
                && n == name
            {
                return Ok(*k);
            }
            let k = CharsetKind::parse(name)?;
            last = Some((name.to_string(), k));
            Ok(k)
        };
        let malformed = |name: &str| -> Result<()> {
            exec_err!("[MALFORMED_CHARACTER_CODING] the value cannot be {} as '{name}'", if self.encode { "encoded" } else { "decoded" })
        };
        let result: Arc<dyn Array> = if self.encode {
            let texts = values.as_string::<i32>();
            let mut out = Vec::with_capacity(rows);
            for i in 0..rows {
                if texts.is_null(i) || charsets.is_null(i) {
                    out.push(None);
                    continue;
                }
                match kind(charsets.value(i))?.encode(texts.value(i)) {
                    Some(bytes) => out.push(Some(bytes)),
                    None => malformed(charsets.value(i))?,
                }
            }
            Arc::new(BinaryArray::from_iter(out))
        } else {
            let bytes = values.as_binary::<i32>();
            let mut out = Vec::with_capacity(rows);
            for i in 0..rows {
                if bytes.is_null(i) || charsets.is_null(i) {
                    out.push(None);
                    continue;
                }
                match kind(charsets.value(i))?.decode(bytes.value(i)) {
                    Some(text) => out.push(Some(text)),
                    None => malformed(charsets.value(i))?,
                }
            }
            Arc::new(StringArray::from(out))
        };
        super::answer(&args.args, result)
    }
}

/// `locate(substr, str[, pos])`: the 1-based character position of the first `substr` in `str`
/// at or after position `pos` (default 1); 0 when there is none or `pos` < 1. A NULL `pos` is 0
/// (Hive's rule, which Spark keeps); a NULL `substr` or `str` is NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Locate {
    signature: Signature,
}

impl ScalarUDFImpl for Locate {
    fn name(&self) -> &str {
        "locate"
    }
    /// Spark's `position(substr, str[, pos])` is `locate` (DataFusion's `position` is `strpos`,
    /// whose arguments go the other way: `position('cd', 'abcdef')` was 0 where Spark says 3).
    fn aliases(&self) -> &[String] {
        static ALIASES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| vec!["position".to_string()]);
        &ALIASES
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [_, _] => Ok(vec![DataType::Utf8, DataType::Utf8]),
            [_, _, pos] if pos.is_integer() || pos.is_null() => Ok(vec![DataType::Utf8, DataType::Utf8, DataType::Int32]),
            [_, _, pos] => plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] locate's position is an INT, not {pos}"),
            _ => plan_err!("[WRONG_NUM_ARGS] locate takes two or three arguments, got {}", args.len()),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::array::Int32Array;
        use datafusion::arrow::datatypes::Int32Type;
        let rows = args.number_rows;
        let arrays = args.args.iter().map(|a| a.to_array(rows)).collect::<Result<Vec<_>>>()?;
        let (needles, haystacks) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>());
        let positions = arrays.get(2).map(|p| p.as_primitive::<Int32Type>());
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            let pos = match positions {
                None => Some(1),
                Some(p) if p.is_null(i) => None,
                Some(p) => Some(p.value(i)),
            };
            out.push(match pos {
                None => Some(0),
                Some(_) if needles.is_null(i) || haystacks.is_null(i) => None,
                Some(pos) if pos < 1 => Some(0),
                Some(pos) => {
                    let haystack = haystacks.value(i);
                    let skip = (pos - 1) as usize;
                    match haystack.char_indices().nth(skip).map(|(b, _)| b).or((skip == haystack.chars().count()).then_some(haystack.len()))
                    {
                        None => Some(0),
                        Some(start) => Some(match haystack[start..].find(needles.value(i)) {
                            Some(found) => (haystack[..start + found].chars().count() + 1) as i32,
                            None => 0,
                        }),
                    }
                }
            });
        }
        super::answer(&args.args, Arc::new(Int32Array::from(out)))
    }
}

/// `to_binary(str[, fmt])` / `try_to_binary(str[, fmt])`: text as bytes, read as `hex` (the
/// default), `utf-8` / `utf8` or `base64`. Text that is not of its format is an error
/// (`to_binary`) or NULL (`try_to_binary`); an unknown format is an error for both.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToBinary {
    /// `try_to_binary`: NULL for text that is not of its format.
    lenient: bool,
    signature: Signature,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinaryFormat {
    Hex,
    Utf8,
    Base64,
}

impl BinaryFormat {
    fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "hex" => Ok(BinaryFormat::Hex),
            "utf-8" | "utf8" => Ok(BinaryFormat::Utf8),
            "base64" => Ok(BinaryFormat::Base64),
            other => exec_err!(
                "[INVALID_PARAMETER_VALUE.BINARY_FORMAT] to_binary's format must be 'hex', 'utf-8', 'utf8' or 'base64', got '{other}'"
            ),
        }
    }

    /// The bytes `text` stands for, or `None` when it is not of this format.
    fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            BinaryFormat::Utf8 => Some(text.as_bytes().to_vec()),
            // An odd number of digits reads as if a 0 led (Spark's unhex).
            BinaryFormat::Hex if !text.len().is_multiple_of(2) => hex::decode(format!("0{text}")).ok(),
            BinaryFormat::Hex => hex::decode(text).ok(),
            BinaryFormat::Base64 => {
                use base64::Engine;
                // Spaces between the data characters are ignored; none may follow the padding.
                let (data, padding) = text.split_at(text.find('=').unwrap_or(text.len()));
                let data: String = data.chars().filter(|c| *c != ' ').collect();
                let valid_padding = padding.len() <= 2 && padding.chars().all(|c| c == '=');
                if !valid_padding || !(data.len() + padding.len()).is_multiple_of(4) {
                    return None;
                }
                base64::engine::general_purpose::STANDARD.decode(format!("{data}{padding}")).ok()
            }
        }
    }
}

impl ScalarUDFImpl for ToBinary {
    fn name(&self) -> &str {
        if self.lenient { "try_to_binary" } else { "to_binary" }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if args.is_empty() || args.len() > 2 {
            return plan_err!("[WRONG_NUM_ARGS] {} takes one or two arguments, got {}", self.name(), args.len());
        }
        Ok(args.iter().map(|t| if is_text(t) || t.is_null() { t.clone() } else { DataType::Utf8 }).collect())
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::array::BinaryArray;
        let format = match args.args.get(1) {
            None => Some(BinaryFormat::Hex),
            Some(ColumnarValue::Scalar(value)) if value.is_null() => None,
            Some(ColumnarValue::Scalar(value)) => match value.try_as_str().flatten() {
                Some(name) => Some(BinaryFormat::parse(name)?),
                None => return exec_err!("{}'s format must be text", self.name()),
            },
            Some(ColumnarValue::Array(_)) => return exec_err!("[NON_FOLDABLE_ARGUMENT] {}'s format must be a constant", self.name()),
        };
        let text = cast(&args.args[0].to_array(args.number_rows)?, &DataType::Utf8)?;
        let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(text.len());
        for value in text.as_string::<i32>() {
            out.push(match (value, format) {
                (Some(value), Some(format)) => match format.decode(value) {
                    Some(bytes) => Some(bytes),
                    None if self.lenient => None,
                    None => {
                        return exec_err!(
                            "[CONVERSION_INVALID_INPUT] '{value}' is not {format:?} text; use try_to_binary to get NULL instead"
                        );
                    }
                },
                _ => None,
            });
        }
        let out: Arc<dyn Array> = Arc::new(BinaryArray::from_iter(out));
        super::answer(&args.args, out)
    }
}

/// `mask(str[, upperChar[, lowerChar[, digitChar[, otherChar]]]])`: upper-case letters become
/// `X`, lower-case ones `x`, digits `n` (each replacement a one-character literal; NULL keeps
/// that class as it is; other characters are kept unless `otherChar` is given).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Mask {
    signature: Signature,
}

/// The replacement arguments' names and defaults, in order (Spark's error messages name them).
const MASK_ARGS: [(&str, Option<char>); 4] =
    [("upperChar", Some('X')), ("lowerChar", Some('x')), ("digitChar", Some('n')), ("otherChar", None)];

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

/// A replacement argument's character: its one character, or `None` for NULL.
fn replacement(position: usize, value: &ScalarValue) -> Result<Option<char>> {
    let name = MASK_ARGS[position - 1].0;
    let text = match value {
        ScalarValue::Null => return Ok(None),
        ScalarValue::Utf8(t) | ScalarValue::Utf8View(t) | ScalarValue::LargeUtf8(t) => t.as_deref(),
        other => return plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] mask's `{name}` must be a STRING, got {}", other.data_type()),
    };
    let Some(text) = text else { return Ok(None) };
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(Some(c)),
        _ => plan_err!("[DATATYPE_MISMATCH.INPUT_SIZE_NOT_ONE] mask's `{name}` must be one character, got '{text}'"),
    }
}

impl Mask {
    /// The four replacements, from literal arguments; an error for a column or a bad literal.
    fn replacements(&self, literals: &[Option<&ScalarValue>], types: &[DataType]) -> Result<[Option<char>; 4]> {
        let mut chars = MASK_ARGS.map(|(_, default)| default);
        for (position, slot) in chars.iter_mut().enumerate().map(|(i, c)| (i + 1, c)) {
            if position >= types.len() {
                break;
            }
            if !is_text(&types[position]) && !types[position].is_null() {
                return plan_err!(
                    "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] mask's `{}` must be a STRING, got {}",
                    MASK_ARGS[position - 1].0,
                    types[position]
                );
            }
            match literals.get(position).copied().flatten() {
                Some(value) => *slot = replacement(position, value)?,
                None => {
                    return plan_err!(
                        "[DATATYPE_MISMATCH.NON_FOLDABLE_INPUT] mask's `{}` must be a constant STRING, not a column",
                        MASK_ARGS[position - 1].0
                    );
                }
            }
        }
        Ok(chars)
    }
}

fn masked(text: &str, [upper, lower, digit, other]: [Option<char>; 4]) -> String {
    text.chars()
        .map(|c| {
            let replacement = if c.is_uppercase() {
                upper
            } else if c.is_lowercase() {
                lower
            } else if c.is_ascii_digit() {
                digit
            } else {
                other
            };
            replacement.unwrap_or(c)
        })
        .collect()
}

impl ScalarUDFImpl for Mask {
    fn name(&self) -> &str {
        "mask"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if args.is_empty() || args.len() > 5 {
            return plan_err!("mask takes one to five arguments, got {}", args.len());
        }
        // The text may be anything Spark casts to a string; the replacements stay as they are
        // and are checked in `return_field_from_args`.
        let text = if is_text(&args[0]) || args[0].is_null() { args[0].clone() } else { DataType::Utf8 };
        Ok(std::iter::once(text).chain(args[1..].iter().cloned()).collect())
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        self.replacements(args.scalar_arguments, &types)?;
        Ok(Arc::new(Field::new(self.name(), DataType::Utf8, args.arg_fields[0].is_nullable())))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(text) = args.args.first() else { return exec_err!("mask takes at least one argument") };
        let mut literals = vec![None];
        for arg in &args.args[1..] {
            match arg {
                ColumnarValue::Scalar(value) => literals.push(Some(value)),
                ColumnarValue::Array(_) => literals.push(None),
            }
        }
        let types: Vec<DataType> = args.args.iter().map(|a| a.data_type()).collect();
        let chars = self.replacements(&literals, &types)?;
        let text = cast(&text.to_array(args.number_rows)?, &DataType::Utf8)?;
        let out: StringArray = text.as_string::<i32>().iter().map(|t| t.map(|t| masked(t, chars))).collect();
        let out: Arc<dyn Array> = Arc::new(out);
        super::answer(&args.args[..1], out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_replaces_each_class_and_keeps_what_is_null() {
        let defaults = [Some('X'), Some('x'), Some('n'), None];
        assert_eq!(masked("AbCD123-@$#", defaults), "XxXXnnn-@$#");
        assert_eq!(masked("AbCD123-@$#", [None, Some('q'), Some('d'), Some('o')]), "AqCDdddoooo");
        assert_eq!(masked("Ünï 7", defaults), "Xxx n");
    }

    #[test]
    fn binary_formats_read_as_spark_reads_them() {
        assert_eq!(BinaryFormat::Hex.decode("123"), Some(vec![0x01, 0x23]));
        assert_eq!(BinaryFormat::Hex.decode("GG"), None);
        assert_eq!(BinaryFormat::Base64.decode(" ab c="), Some(vec![0x69, 0xb7]));
        assert_eq!(BinaryFormat::Base64.decode(" ab cdef= = "), None);
        assert_eq!(BinaryFormat::Base64.decode("ab==f"), None);
        assert_eq!(BinaryFormat::Base64.decode("abcde"), None);
        assert_eq!(BinaryFormat::Base64.decode(""), Some(vec![]));
    }
}
