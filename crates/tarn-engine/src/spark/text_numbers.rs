//! Text where Spark expects a number: Spark (ANSI) reads it as one — as a BIGINT next to an
//! integer, else as a DOUBLE (`pmod('7', 2)` is `1`, `abs('-1')` is `1.0`, `avg('1')` is
//! `1.0`); text next to text stays an error. [`operand_types`] is that rule for a pair of
//! operands (the `try_*` arithmetic uses it too); [`scalar`] and [`aggregate`] wrap a function
//! over numbers so its arguments are read this way before its own coercion runs.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::AggregateFunctionParams;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, Documentation, Expr, GroupsAccumulator, ReturnFieldArgs, ReversedUDAF,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, StatisticsArgs,
};

pub(crate) fn is_text(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// What Spark reads text as next to `number`: a BIGINT next to an integer, a DOUBLE next to a
/// fraction, a decimal or an untyped NULL; `None` when `number` is not a number.
pub(crate) fn text_next_to_number(number: &DataType) -> Option<DataType> {
    if number.is_integer() {
        Some(DataType::Int64)
    } else if number.is_floating() || number.is_decimal() || number.is_null() {
        Some(DataType::Float64)
    } else {
        None
    }
}

/// The types Spark reads a pair of operands as when one of them is text and the other a number:
/// the text as [`text_next_to_number`], the number as a DOUBLE too unless it is an integer.
/// Any other pair is returned as it is.
pub(crate) fn operand_types(left: &DataType, right: &DataType) -> (DataType, DataType) {
    let read = |number: &DataType| {
        let text = text_next_to_number(number)?;
        let number = if number.is_integer() { number.clone() } else { text.clone() };
        Some((text, number))
    };
    match (is_text(left), is_text(right)) {
        (true, false) => read(right).unwrap_or_else(|| (left.clone(), right.clone())),
        (false, true) => read(left).map(|(text, number)| (number, text)).unwrap_or_else(|| (left.clone(), right.clone())),
        _ => (left.clone(), right.clone()),
    }
}

/// The types Spark reads a function's arguments as: one text argument as a DOUBLE, a pair by
/// [`operand_types`].
fn argument_types(types: &[DataType]) -> Vec<DataType> {
    match types {
        [one] if is_text(one) => vec![DataType::Float64],
        [left, right] => {
            let (left, right) = operand_types(left, right);
            vec![left, right]
        }
        other => other.to_vec(),
    }
}

fn as_fields(types: &[DataType]) -> Vec<FieldRef> {
    types.iter().map(|t| Arc::new(Field::new("a", t.clone(), true))).collect()
}

/// `udf` reading text arguments as numbers, then coerced by its own signature.
pub(crate) fn scalar(udf: Arc<ScalarUDF>) -> Arc<ScalarUDF> {
    let signature = Signature::user_defined(udf.signature().volatility);
    Arc::new(ScalarUDF::new_from_impl(TextAsNumberScalar { inner: udf, signature }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TextAsNumberScalar {
    inner: Arc<ScalarUDF>,
    signature: Signature,
}

impl ScalarUDFImpl for TextAsNumberScalar {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let fields = fields_with_udf(&as_fields(&argument_types(arg_types)), self.inner.as_ref())?;
        Ok(fields.iter().map(|f| f.data_type().clone()).collect())
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.inner.invoke_with_args(args)
    }
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// `udaf` reading a text argument as a DOUBLE, then coerced by its own signature.
pub(crate) fn aggregate(udaf: Arc<AggregateUDF>) -> Arc<AggregateUDF> {
    let signature = Signature::user_defined(udaf.signature().volatility);
    Arc::new(AggregateUDF::new_from_impl(TextAsNumberAggregate { inner: udaf, signature }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TextAsNumberAggregate {
    inner: Arc<AggregateUDF>,
    signature: Signature,
}

impl AggregateUDFImpl for TextAsNumberAggregate {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn schema_name(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.inner.inner().schema_name(params)
    }
    fn display_name(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.inner.inner().display_name(params)
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let read: Vec<DataType> = arg_types.iter().map(|t| if is_text(t) { DataType::Float64 } else { t.clone() }).collect();
        let fields = fields_with_udf(&as_fields(&read), self.inner.as_ref())?;
        Ok(fields.iter().map(|f| f.data_type().clone()).collect())
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }
    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        self.inner.return_field(arg_fields)
    }
    fn is_nullable(&self) -> bool {
        self.inner.is_nullable()
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner.accumulator(args)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner.state_fields(args)
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner.groups_accumulator_supported(args)
    }
    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        self.inner.create_groups_accumulator(args)
    }
    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner.create_sliding_accumulator(args)
    }
    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.inner.order_sensitivity()
    }
    fn reverse_expr(&self) -> ReversedUDAF {
        self.inner.reverse_udf()
    }
    fn is_descending(&self) -> Option<bool> {
        self.inner.is_descending()
    }
    fn value_from_stats(&self, args: &StatisticsArgs) -> Option<ScalarValue> {
        self.inner.value_from_stats(args)
    }
    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.inner.default_value(data_type)
    }
    fn supports_null_handling_clause(&self) -> bool {
        self.inner.supports_null_handling_clause()
    }
    fn supports_within_group_clause(&self) -> bool {
        self.inner.supports_within_group_clause()
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_a_bigint_next_to_an_integer_and_a_double_next_to_anything_else() {
        assert_eq!(operand_types(&DataType::Utf8, &DataType::Int8), (DataType::Int64, DataType::Int8));
        assert_eq!(operand_types(&DataType::Decimal128(10, 0), &DataType::Utf8View), (DataType::Float64, DataType::Float64));
        assert_eq!(operand_types(&DataType::Utf8, &DataType::Utf8), (DataType::Utf8, DataType::Utf8));
        assert_eq!(operand_types(&DataType::Utf8, &DataType::Boolean), (DataType::Utf8, DataType::Boolean));
        assert_eq!(argument_types(&[DataType::Utf8]), vec![DataType::Float64]);
    }
}
