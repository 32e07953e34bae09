//! A string's key under a collation, and the two functions plans use: `collate(s, name)` (the
//! value, with the collation on its field) and `collation_key(s, name)` (what compares).
//!
//! Two strings are equal under a collation exactly when their keys are, and order as their
//! keys order: the string itself (`UTF8_BINARY`), its code points lower-cased one at a time
//! (`UTF8_LCASE`, as Spark's `CollationAwareUTF8String.lowerCaseCodePoints`), or its ICU sort
//! key (ICU collations, compared as bytes). `_RTRIM` drops trailing spaces first.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BinaryBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::as_string_array;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};
use icu_collator::options::{CaseLevel, CollatorOptions, Strength};
use icu_collator::{Collator, CollatorBorrowed};

use super::{Collation, Kind};

/// The name of the function that marks a value with a collation (Spark's `collate`).
pub const COLLATE: &str = "collate";
/// The name of the function that computes a value's key under a collation.
pub const COLLATION_KEY: &str = "collation_key";

/// The ICU collator of an ICU collation, set as Spark sets it: case-insensitive is secondary
/// strength; accent-insensitive is primary strength (with the case level on when case matters).
pub(crate) fn icu_collator(locale: &str, case_insensitive: bool, accent_insensitive: bool) -> Result<CollatorBorrowed<'static>> {
    let tag = if locale.is_empty() { "und".to_string() } else { locale.replace('_', "-") };
    let parsed: icu_locale_core::Locale = match tag.parse() {
        Ok(l) => l,
        Err(e) => return exec_err!("collation locale {locale}: {e}"),
    };
    let mut options = CollatorOptions::default();
    options.strength = Some(match (case_insensitive, accent_insensitive) {
        (false, false) => Strength::Tertiary,
        (true, false) => Strength::Secondary,
        (_, true) => Strength::Primary,
    });
    if accent_insensitive && !case_insensitive {
        options.case_level = Some(CaseLevel::On);
    }
    match Collator::try_new((&parsed).into(), options) {
        Ok(c) => Ok(c),
        Err(e) => exec_err!("collation locale {locale}: {e}"),
    }
}

/// Spark's `UTF8_LCASE` lower case: each code point on its own (`İ` becomes `i̇`).
pub(crate) fn lower_code_points(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        out.extend(c.to_lowercase());
    }
    out
}

fn trimmed(s: &str, rtrim: bool) -> &str {
    if rtrim { s.trim_end_matches(' ') } else { s }
}

/// The type of keys under `collation`: text for binary and `UTF8_LCASE`, bytes for ICU.
pub(crate) fn key_type(collation: &Collation) -> DataType {
    match collation.kind {
        Kind::Icu { .. } => DataType::Binary,
        _ => DataType::Utf8,
    }
}

/// The keys of `values` (strings) under `collation`.
pub(crate) fn keys(values: &ArrayRef, collation: &Collation) -> Result<ArrayRef> {
    let strings = datafusion::arrow::compute::cast(values, &DataType::Utf8)?;
    let strings = as_string_array(&strings)?;
    match &collation.kind {
        Kind::Icu { locale, case_insensitive, accent_insensitive } => {
            let collator = icu_collator(locale, *case_insensitive, *accent_insensitive)?;
            let mut out = BinaryBuilder::with_capacity(strings.len(), strings.value_data().len() * 2);
            let mut key = Vec::new();
            for s in strings.iter() {
                match s {
                    Some(s) => {
                        key.clear();
                        let Ok(()) = collator.write_sort_key_to(trimmed(s, collation.rtrim), &mut key);
                        out.append_value(&key);
                    }
                    None => out.append_null(),
                }
            }
            Ok(Arc::new(out.finish()))
        }
        Kind::Lcase | Kind::Binary => {
            let mut out = StringBuilder::with_capacity(strings.len(), strings.value_data().len());
            for s in strings.iter() {
                match s {
                    Some(s) if collation.kind == Kind::Lcase => out.append_value(lower_code_points(trimmed(s, collation.rtrim))),
                    Some(s) => out.append_value(trimmed(s, collation.rtrim)),
                    None => out.append_null(),
                }
            }
            Ok(Arc::new(out.finish()))
        }
    }
}

/// The text of a constant collation name (any of Arrow's string types).
pub(crate) fn constant_name(value: Option<&ScalarValue>) -> Option<&str> {
    match value? {
        ScalarValue::Utf8(Some(name)) | ScalarValue::Utf8View(Some(name)) | ScalarValue::LargeUtf8(Some(name)) => Some(name),
        _ => None,
    }
}

/// The collation named by a function's constant second argument.
fn named(args: &ReturnFieldArgs, function: &str) -> Result<Collation> {
    match constant_name(args.scalar_arguments.get(1).copied().flatten()) {
        Some(name) => Collation::parse(name).or_else(|e| plan_err!("{e}")),
        None => plan_err!("{function}: the collation must be a constant name, e.g. {function}(s, 'UTF8_LCASE')"),
    }
}

fn collation_argument(args: &ScalarFunctionArgs) -> Result<Collation> {
    let value = match args.args.get(1) {
        Some(ColumnarValue::Scalar(value)) => Some(value),
        _ => None,
    };
    match constant_name(value) {
        Some(name) => Collation::parse(name).or_else(|e| exec_err!("{e}")),
        None => exec_err!("collation_key: the collation must be a constant name"),
    }
}

/// `collate(s, 'UTF8_LCASE')`: `s`, with the collation on its field. A third argument
/// (`collate(s, name, 'default')`, what a view's `DEFAULT COLLATION` puts on its literals)
/// gives `s` the collation as a literal's default, which a column's collation overrides.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Collate {
    signature: Signature,
}

impl ScalarUDFImpl for Collate {
    fn name(&self) -> &str {
        COLLATE
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let input = &args.arg_fields[0];
        if !super::is_string(input.data_type()) && !input.data_type().is_null() {
            return plan_err!(
                "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] COLLATE takes a string; got {}: cast it to STRING first",
                crate::spark::types::spark_type_name(input.data_type())
            );
        }
        let collation = named(&args, COLLATE)?;
        let data_type = if input.data_type().is_null() { DataType::Utf8 } else { input.data_type().clone() };
        Ok(Arc::new(collation.on_field(Field::new(self.name(), data_type, input.is_nullable()))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let value = args.args[0].clone();
        let target = args.return_field.data_type();
        match value {
            ColumnarValue::Scalar(s) if s.data_type() != *target => Ok(ColumnarValue::Scalar(s.cast_to(target)?)),
            ColumnarValue::Array(a) if a.data_type() != target => Ok(ColumnarValue::Array(datafusion::arrow::compute::cast(&a, target)?)),
            other => Ok(other),
        }
    }
}

/// `collation_key(s, 'UTF8_LCASE')`: what `s` compares as under the collation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct CollationKey {
    signature: Signature,
}

impl ScalarUDFImpl for CollationKey {
    fn name(&self) -> &str {
        COLLATION_KEY
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        plan_err!("collation_key: the return type follows from the collation")
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let collation = named(&args, COLLATION_KEY)?;
        Ok(Arc::new(Field::new(self.name(), key_type(&collation), args.arg_fields[0].is_nullable())))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let collation = collation_argument(&args)?;
        let values = args.args[0].to_array(args.number_rows)?;
        super::super::answer(&args.args[..1], keys(&values, &collation)?)
    }
}

/// `collation(s)`: the name of `s`'s collation, `SYSTEM.BUILTIN.UTF8_LCASE`. The planning rule
/// answers it from the expression's resolved collation; this answers from the field.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct CollationName {
    signature: Signature,
}

impl ScalarUDFImpl for CollationName {
    fn name(&self) -> &str {
        "collation"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let field = &args.arg_fields[0];
        if !super::is_string(field.data_type()) {
            return exec_err!("collation() takes a string; got {}", crate::spark::types::spark_type_name(field.data_type()));
        }
        let collation = Collation::of_field(field).unwrap_or(Collation::BINARY);
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(format!("SYSTEM.BUILTIN.{}", collation.name())))))
    }
}

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(Collate {
            signature: Signature::one_of(
                vec![datafusion::logical_expr::TypeSignature::Any(2), datafusion::logical_expr::TypeSignature::Any(3)],
                Volatility::Immutable,
            ),
        })),
        Arc::new(ScalarUDF::new_from_impl(CollationKey { signature: Signature::any(2, Volatility::Immutable) })),
        Arc::new(ScalarUDF::new_from_impl(CollationName { signature: Signature::any(1, Volatility::Immutable) })),
    ]
}

/// `collation_key(expr, 'NAME')`, the expression plans compare on.
pub(crate) fn key_expr(expr: Expr, collation: &Collation) -> Expr {
    let udf = Arc::new(ScalarUDF::new_from_impl(CollationKey { signature: Signature::any(2, Volatility::Immutable) }));
    Expr::ScalarFunction(datafusion::logical_expr::expr::ScalarFunction::new_udf(udf, vec![expr, lit(collation.name())]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BinaryArray, StringArray};

    fn key_of(s: &str, name: &str) -> Vec<u8> {
        let array: ArrayRef = Arc::new(StringArray::from(vec![s]));
        let out = keys(&array, &Collation::parse(name).unwrap()).unwrap();
        match out.as_any().downcast_ref::<BinaryArray>() {
            Some(b) => b.value(0).to_vec(),
            None => as_string_array(&out).unwrap().value(0).as_bytes().to_vec(),
        }
    }

    #[test]
    fn keys_compare_as_spark_collations_do() {
        assert_eq!(key_of("AbC", "UTF8_LCASE"), key_of("abc", "utf8_lcase"));
        assert_ne!(key_of("AbC", "UTF8_BINARY"), key_of("abc", "utf8_binary"));
        assert_eq!(key_of("ab  ", "UTF8_BINARY_RTRIM"), key_of("ab", "UTF8_BINARY_RTRIM"));
        assert_eq!(key_of("İ", "UTF8_LCASE"), "i\u{307}".as_bytes());
        // The ICU cases of Spark's own tests (collations.sql): each is true there.
        assert!(key_of("a", "unicode") < key_of("A", "unicode"));
        assert_eq!(key_of("a", "unicode_ci"), key_of("A", "unicode_ci"));
        assert_eq!(key_of("a", "unicode_ai"), key_of("å", "unicode_ai"));
        assert_eq!(key_of("a", "unicode_ci_ai"), key_of("Å", "unicode_ci_ai"));
        assert_ne!(key_of("a", "unicode_ai"), key_of("A", "unicode_ai"));
        assert!(key_of("Kypper", "sv") < key_of("Köpfe", "sv"));
        assert!(key_of("Kypper", "de") > key_of("Köpfe", "de"));
        assert_eq!(key_of("I", "tr_ci"), key_of("ı", "tr_ci"));
    }
}
