//! Spark's `avg` / `mean` and `try_avg`.
//!
//! - A DECIMAL(p, s) averages exactly to DECIMAL(p+4, s+4) (at most 38), rounded half up, as
//!   Spark does — `datafusion-spark`'s `avg` read decimals as doubles (losing digits past
//!   the 15th) and DataFusion's truncates the last digit (`2/3` as `0.6666`, Spark `0.6667`).
//!   The sum is bounded by DECIMAL(p+10); past it `avg` is an `ARITHMETIC_OVERFLOW` error and
//!   `try_avg` is NULL.
//! - Other numbers (and text read as a number) average as doubles: DataFusion's own `avg`,
//!   which also has `DISTINCT` and the sliding windows frames need.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Int64Array};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, FieldRef, Int64Type, i256};
use datafusion::common::{Result, ScalarValue, exec_err, not_impl_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, ReversedUDAF, Signature, Volatility,
};

const MAX_PRECISION: u8 = 38;

/// `avg` (alias `mean`): overflow is an error.
pub(crate) fn avg() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(SparkAvg::new("avg", vec!["mean".into()], false)))
}

/// `try_avg`: overflow is NULL.
pub(crate) fn try_avg() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(SparkAvg::new("try_avg", vec![], true)))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkAvg {
    name: &'static str,
    aliases: Vec<String>,
    null_on_overflow: bool,
    signature: Signature,
    /// DataFusion's `avg`, for doubles.
    doubles: Arc<AggregateUDF>,
}

impl SparkAvg {
    fn new(name: &'static str, aliases: Vec<String>, null_on_overflow: bool) -> Self {
        SparkAvg {
            name,
            aliases,
            null_on_overflow,
            signature: Signature::user_defined(Volatility::Immutable),
            doubles: datafusion::functions_aggregate::average::avg_udaf(),
        }
    }
}

/// The decimal shapes of an average: the input's, the sum's and the result's.
#[derive(Debug, Clone, Copy)]
struct Shape {
    scale: i8,
    sum_precision: u8,
    result_precision: u8,
    result_scale: i8,
}

impl Shape {
    fn of(input: &DataType) -> Option<Shape> {
        let DataType::Decimal128(p, s) = input else { return None };
        Some(Shape {
            scale: *s,
            sum_precision: (*p + 10).min(MAX_PRECISION),
            result_precision: (*p + 4).min(MAX_PRECISION),
            result_scale: (*s + 4).min(MAX_PRECISION as i8),
        })
    }

    fn bound(precision: u8) -> i128 {
        10_i128.pow(u32::from(precision))
    }

    /// `sum + value`, `None` past the sum's precision.
    fn add(&self, sum: i128, value: i128) -> Option<i128> {
        sum.checked_add(value).filter(|s| s.unsigned_abs() < Self::bound(self.sum_precision) as u128)
    }

    /// `sum / count` at the result's scale, rounded half up; `None` past its precision.
    fn average(&self, sum: i128, count: i64) -> Option<i128> {
        let factor = i256::from_i128(10_i128.pow((self.result_scale - self.scale) as u32));
        let numerator = i256::from_i128(sum).checked_mul(factor)?;
        let count = i256::from_i128(i128::from(count));
        let (mut quotient, remainder) = (numerator.checked_div(count)?, numerator.checked_rem(count)?);
        if remainder.wrapping_abs().checked_mul(i256::from_i128(2))? >= count {
            quotient = if numerator < i256::ZERO { quotient.checked_sub(i256::ONE)? } else { quotient.checked_add(i256::ONE)? };
        }
        quotient.to_i128().filter(|q| q.unsigned_abs() < Self::bound(self.result_precision) as u128)
    }

    fn result_type(&self) -> DataType {
        DataType::Decimal128(self.result_precision, self.result_scale)
    }
}

fn decimal_input(args: &AccumulatorArgs) -> Result<Option<Shape>> {
    Ok(Shape::of(&args.exprs[0].data_type(args.schema)?))
}

impl AggregateUDFImpl for SparkAvg {
    fn name(&self) -> &str {
        self.name
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [input] = arg_types else { return plan_err!("{} takes one argument", self.name) };
        Ok(vec![match input {
            DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => DataType::Decimal128(*p, *s),
            DataType::Decimal128(..) => input.clone(),
            DataType::Decimal256(p, s) if *p <= MAX_PRECISION => DataType::Decimal128(*p, *s),
            t if t.is_integer() || t.is_floating() || t.is_null() => DataType::Float64,
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => DataType::Float64,
            other => return plan_err!("{} takes numbers, not {}", self.name, super::types::spark_type_name(other)),
        }])
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first().and_then(Shape::of) {
            Some(shape) => Ok(shape.result_type()),
            None => Ok(DataType::Float64),
        }
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let Some(shape) = Shape::of(args.input_fields[0].data_type()) else { return self.doubles.state_fields(args) };
        if args.is_distinct {
            return not_impl_err!("{}(DISTINCT ..) of a DECIMAL together with other DISTINCT aggregates", self.name);
        }
        Ok(vec![
            Arc::new(Field::new(format_state_name(args.name, "sum"), DataType::Decimal128(shape.sum_precision, shape.scale), true)),
            Arc::new(Field::new(format_state_name(args.name, "count"), DataType::Int64, true)),
        ])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        match decimal_input(&args)? {
            Some(_) if args.is_distinct => {
                not_impl_err!("{}(DISTINCT ..) of a DECIMAL together with other DISTINCT aggregates", self.name)
            }
            Some(shape) => Ok(Box::new(DecimalAvg { shape, sum: Some(0), count: 0, null_on_overflow: self.null_on_overflow })),
            None => self.doubles.accumulator(args),
        }
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        match decimal_input(&args) {
            Ok(Some(_)) => !args.is_distinct,
            Ok(None) => self.doubles.groups_accumulator_supported(args),
            Err(_) => false,
        }
    }
    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        match decimal_input(&args)? {
            Some(shape) => {
                Ok(Box::new(DecimalAvgGroups { shape, sums: Vec::new(), counts: Vec::new(), null_on_overflow: self.null_on_overflow }))
            }
            None => self.doubles.create_groups_accumulator(args),
        }
    }
    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        match decimal_input(&args)? {
            Some(_) => self.accumulator(args),
            None => self.doubles.create_sliding_accumulator(args),
        }
    }
    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        ScalarValue::try_from(data_type)
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.doubles.documentation()
    }
}

/// The average of one group of decimals; `sum` is `None` once it overflowed.
#[derive(Debug)]
struct DecimalAvg {
    shape: Shape,
    sum: Option<i128>,
    count: i64,
    null_on_overflow: bool,
}

/// The average of a group; past the DECIMAL's range an error (only `avg` can overflow into
/// one: `try_avg` answers NULL).
fn evaluate(shape: &Shape, sum: Option<i128>, count: i64, null_on_overflow: bool) -> Result<Option<i128>> {
    if count == 0 {
        return Ok(None);
    }
    match sum.and_then(|s| shape.average(s, count)) {
        Some(average) => Ok(Some(average)),
        None if null_on_overflow => Ok(None),
        None => exec_err!("[ARITHMETIC_OVERFLOW] the values averaged by avg overflow their DECIMAL type; use try_avg to get NULL"),
    }
}

impl Accumulator for DecimalAvg {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = values[0].as_primitive::<Decimal128Type>();
        for value in values.iter().flatten() {
            self.count += 1;
            self.sum = self.sum.and_then(|s| self.shape.add(s, value));
        }
        Ok(())
    }
    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = values[0].as_primitive::<Decimal128Type>();
        for value in values.iter().flatten() {
            self.count -= 1;
            self.sum = self.sum.and_then(|s| value.checked_neg().and_then(|v| self.shape.add(s, v)));
        }
        Ok(())
    }
    fn supports_retract_batch(&self) -> bool {
        true
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (sums, counts) = (states[0].as_primitive::<Decimal128Type>(), states[1].as_primitive::<Int64Type>());
        for i in 0..sums.len() {
            let count = if counts.is_valid(i) { counts.value(i) } else { 0 };
            self.count += count;
            self.sum = match (self.sum, sums.is_valid(i)) {
                (Some(s), true) => self.shape.add(s, sums.value(i)),
                _ => None,
            };
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Decimal128(self.sum, self.shape.sum_precision, self.shape.scale), ScalarValue::Int64(Some(self.count))])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        let average = evaluate(&self.shape, self.sum, self.count, self.null_on_overflow)?;
        Ok(ScalarValue::Decimal128(average, self.shape.result_precision, self.shape.result_scale))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// [`DecimalAvg`] for every group of a GROUP BY.
#[derive(Debug)]
struct DecimalAvgGroups {
    shape: Shape,
    sums: Vec<Option<i128>>,
    counts: Vec<i64>,
    null_on_overflow: bool,
}

impl DecimalAvgGroups {
    fn grow(&mut self, groups: usize) {
        if self.sums.len() < groups {
            self.sums.resize(groups, Some(0));
            self.counts.resize(groups, 0);
        }
    }
}

fn kept(filter: Option<&BooleanArray>, row: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}

impl GroupsAccumulator for DecimalAvgGroups {
    fn update_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], filter: Option<&BooleanArray>, total: usize) -> Result<()> {
        self.grow(total);
        let values = values[0].as_primitive::<Decimal128Type>();
        for (row, &group) in group_indices.iter().enumerate() {
            if values.is_valid(row) && kept(filter, row) {
                self.counts[group] += 1;
                self.sums[group] = self.sums[group].and_then(|s| self.shape.add(s, values.value(row)));
            }
        }
        Ok(())
    }
    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total: usize) -> Result<()> {
        self.grow(total);
        let (sums, counts) = (values[0].as_primitive::<Decimal128Type>(), values[1].as_primitive::<Int64Type>());
        for (row, &group) in group_indices.iter().enumerate() {
            self.counts[group] += if counts.is_valid(row) { counts.value(row) } else { 0 };
            self.sums[group] = match (self.sums[group], sums.is_valid(row)) {
                (Some(s), true) => self.shape.add(s, sums.value(row)),
                _ => None,
            };
        }
        Ok(())
    }
    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (sums, counts) = (emit_to.take_needed(&mut self.sums), emit_to.take_needed(&mut self.counts));
        let averages = sums
            .into_iter()
            .zip(counts)
            .map(|(sum, count)| evaluate(&self.shape, sum, count, self.null_on_overflow))
            .collect::<Result<Vec<Option<i128>>>>()?;
        let array = Decimal128Array::from(averages).with_precision_and_scale(self.shape.result_precision, self.shape.result_scale)?;
        Ok(Arc::new(array))
    }
    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (sums, counts) = (emit_to.take_needed(&mut self.sums), emit_to.take_needed(&mut self.counts));
        let sums = Decimal128Array::from(sums).with_precision_and_scale(self.shape.sum_precision, self.shape.scale)?;
        Ok(vec![Arc::new(sums), Arc::new(Int64Array::from(counts))])
    }
    fn convert_to_state(&self, values: &[ArrayRef], filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let values = values[0].as_primitive::<Decimal128Type>();
        let counted = |row: usize| values.is_valid(row) && kept(filter, row);
        let sums: Vec<Option<i128>> = (0..values.len()).map(|row| Some(if counted(row) { values.value(row) } else { 0 })).collect();
        let counts: Vec<i64> = (0..values.len()).map(|row| i64::from(counted(row))).collect();
        let sums = Decimal128Array::from(sums).with_precision_and_scale(self.shape.sum_precision, self.shape.scale)?;
        Ok(vec![Arc::new(sums), Arc::new(Int64Array::from(counts))])
    }
    fn size(&self) -> usize {
        self.sums.capacity() * std::mem::size_of::<Option<i128>>() + self.counts.capacity() * std::mem::size_of::<i64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_round_half_up_at_four_more_places() {
        let shape = Shape::of(&DataType::Decimal128(1, 0)).unwrap();
        assert_eq!(shape.average(2, 3), Some(6667));
        assert_eq!(shape.average(-2, 3), Some(-6667));
        assert_eq!(shape.average(1, 3), Some(3333));
        assert_eq!(shape.result_type(), DataType::Decimal128(5, 4));
        let wide = Shape::of(&DataType::Decimal128(38, 0)).unwrap();
        assert_eq!(wide.add(10_i128.pow(37) * 9, 10_i128.pow(37) * 2), None);
        assert_eq!(wide.result_type(), DataType::Decimal128(38, 4));
        assert_eq!(wide.average(10_i128.pow(36), 1), None);
    }
}
