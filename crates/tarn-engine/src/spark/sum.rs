//! `sum` as ANSI Spark computes it: a BIGINT or DECIMAL sum that leaves its type's range is an
//! error (`ARITHMETIC_OVERFLOW`, `NUMERIC_VALUE_OUT_OF_RANGE`), never a wrapped number.
//! DataFusion's `sum` adds with wrapping arithmetic; this one is DataFusion's in every other
//! respect (signature, result types, state, the other types' accumulators) and swaps in checked
//! addition for BIGINT and DECIMAL(p, s) results, in groups, whole tables and sliding window
//! frames alike. (`try_sum` is the NULL-on-overflow variant.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::datatypes::{ArrowNativeTypeOp, ArrowPrimitiveType, DataType, Decimal128Type, FieldRef, Int64Type, i256};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::functions_aggregate::sum::Sum;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature};
use datafusion_functions_aggregate_common::aggregate::groups_accumulator::prim_op::PrimitiveGroupsAccumulator;

#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkSum {
    inner: Sum,
}

/// Spark's `sum`, to register over DataFusion's.
pub(crate) fn udaf() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(SparkSum { inner: Sum::new() }))
}

fn overflow(data_type: &DataType) -> DataFusionError {
    match data_type {
        DataType::Decimal128(precision, scale) => DataFusionError::Execution(format!(
            "[NUMERIC_VALUE_OUT_OF_RANGE] the sum does not fit DECIMAL({precision}, {scale}). Use `try_sum` to tolerate overflow and return NULL instead."
        )),
        _ => DataFusionError::Execution(
            "[ARITHMETIC_OVERFLOW] long overflow in sum. Use `try_sum` to tolerate overflow and return NULL instead.".into(),
        ),
    }
}

/// Whether `sum` over this result type is checked here.
fn checked(args: &AccumulatorArgs) -> bool {
    !args.is_distinct && matches!(args.return_field.data_type(), DataType::Int64 | DataType::Decimal128(..))
}

/// A decimal sum must also fit its precision (i128 reaches past 38 digits).
fn check_precision(array: &ArrayRef, data_type: &DataType) -> Result<()> {
    if let DataType::Decimal128(precision, _) = data_type {
        array.as_primitive::<Decimal128Type>().validate_decimal_precision(*precision).map_err(|_| overflow(data_type))?;
    }
    Ok(())
}

impl AggregateUDFImpl for SparkSum {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner.state_fields(args)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if !checked(&args) {
            return self.inner.accumulator(args);
        }
        let data_type = args.return_field.data_type().clone();
        Ok(match data_type {
            DataType::Int64 => Box::new(CheckedSum::<Int64Type> { sum: None, data_type }),
            _ => Box::new(CheckedSum::<Decimal128Type> { sum: None, data_type }),
        })
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner.groups_accumulator_supported(args)
    }
    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        if !checked(&args) {
            return self.inner.create_groups_accumulator(args);
        }
        let data_type = args.return_field.data_type().clone();
        Ok(match data_type {
            DataType::Int64 => CheckedGroups::boxed::<Int64Type>(data_type),
            _ => CheckedGroups::boxed::<Decimal128Type>(data_type),
        })
    }
    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if !checked(&args) {
            return self.inner.create_sliding_accumulator(args);
        }
        let data_type = args.return_field.data_type().clone();
        Ok(Box::new(CheckedSlidingSum { sum: i256::ZERO, count: 0, data_type }))
    }
    fn reverse_expr(&self) -> datafusion::logical_expr::ReversedUDAF {
        self.inner.reverse_expr()
    }
    fn order_sensitivity(&self) -> datafusion::logical_expr::utils::AggregateOrderSensitivity {
        self.inner.order_sensitivity()
    }
    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        self.inner.documentation()
    }
    fn set_monotonicity(&self, data_type: &DataType) -> datafusion::logical_expr::SetMonotonicity {
        self.inner.set_monotonicity(data_type)
    }
    fn value_from_stats(&self, args: &datafusion::logical_expr::StatisticsArgs) -> Option<ScalarValue> {
        self.inner.value_from_stats(args)
    }
}

/// One group's sum, added with overflow checks.
struct CheckedSum<T: ArrowPrimitiveType> {
    sum: Option<T::Native>,
    data_type: DataType,
}

impl<T: ArrowPrimitiveType> std::fmt::Debug for CheckedSum<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckedSum({})", self.data_type)
    }
}

impl<T: ArrowPrimitiveType> CheckedSum<T> {
    fn add(&mut self, values: &ArrayRef) -> Result<()> {
        let values = values.as_primitive::<T>();
        let Some(x) = datafusion::arrow::compute::sum_checked(values).map_err(|_| overflow(&self.data_type))? else {
            return Ok(());
        };
        self.sum = Some(match self.sum {
            None => x,
            Some(sum) => sum.add_checked(x).map_err(|_| overflow(&self.data_type))?,
        });
        Ok(())
    }
}

impl<T: ArrowPrimitiveType> Accumulator for CheckedSum<T> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        values.first().map_or(Ok(()), |v| self.add(v))
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        states.first().map_or(Ok(()), |v| self.add(v))
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        let value = ScalarValue::new_primitive::<T>(self.sum, &self.data_type)?;
        check_precision(&value.to_array()?, &self.data_type)?;
        Ok(value)
    }
    fn size(&self) -> usize {
        size_of_val(self)
    }
}

/// A window frame's sum. Rows enter a frame before the ones that leave it are taken out, so a
/// running BIGINT or DECIMAL sum could overflow only for a moment: it is kept exact in 256 bits,
/// and only the frame's sum must fit the result type.
#[derive(Debug)]
struct CheckedSlidingSum {
    sum: i256,
    count: u64,
    data_type: DataType,
}

impl CheckedSlidingSum {
    fn step(&mut self, values: &ArrayRef, enter: bool) -> Result<()> {
        let batch: i256 = match values.data_type() {
            DataType::Int64 => values
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .map(|v| i256::from_i128(v.into()))
                .fold(i256::ZERO, |a, b| a.wrapping_add(b)),
            _ => values.as_primitive::<Decimal128Type>().iter().flatten().map(i256::from_i128).fold(i256::ZERO, |a, b| a.wrapping_add(b)),
        };
        let present = (values.len() - values.null_count()) as u64;
        if enter {
            self.sum = self.sum.wrapping_add(batch);
            self.count += present;
        } else {
            self.sum = self.sum.wrapping_sub(batch);
            self.count = self.count.saturating_sub(present);
        }
        Ok(())
    }
}

impl Accumulator for CheckedSlidingSum {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        values.first().map_or(Ok(()), |v| self.step(v, true))
    }
    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        values.first().map_or(Ok(()), |v| self.step(v, false))
    }
    fn supports_retract_batch(&self) -> bool {
        true
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        states.first().map_or(Ok(()), |v| self.step(v, true))
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        let exact = (self.count > 0).then(|| self.sum.to_i128().ok_or_else(|| overflow(&self.data_type))).transpose()?;
        let value = match self.data_type {
            DataType::Decimal128(precision, scale) => ScalarValue::Decimal128(exact, precision, scale),
            _ => ScalarValue::Int64(exact.map(|v| i64::try_from(v).map_err(|_| overflow(&self.data_type))).transpose()?),
        };
        check_precision(&value.to_array()?, &self.data_type)?;
        Ok(value)
    }
    fn size(&self) -> usize {
        size_of_val(self)
    }
}

/// DataFusion's grouped sum with checked addition: the addition flags an overflow, and the
/// batch that caused it fails.
struct CheckedGroups {
    inner: Box<dyn GroupsAccumulator>,
    overflowed: Arc<AtomicBool>,
    data_type: DataType,
}

impl CheckedGroups {
    /// DataFusion's primitive grouped accumulator, adding with `add_checked`; an overflow sets
    /// the flag (the accumulator's step cannot fail).
    fn boxed<T: ArrowPrimitiveType + Send>(data_type: DataType) -> Box<dyn GroupsAccumulator> {
        let overflowed = Arc::new(AtomicBool::new(false));
        let flag = overflowed.clone();
        let inner = PrimitiveGroupsAccumulator::<T, _>::new(&data_type, move |x: &mut T::Native, y| match x.add_checked(y) {
            Ok(sum) => *x = sum,
            Err(_) => flag.store(true, Ordering::Relaxed),
        });
        Box::new(CheckedGroups { inner: Box::new(inner), overflowed, data_type })
    }

    fn check(&self) -> Result<()> {
        if self.overflowed.load(Ordering::Relaxed) { Err(overflow(&self.data_type)) } else { Ok(()) }
    }
}

impl GroupsAccumulator for CheckedGroups {
    fn update_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], filter: Option<&BooleanArray>, total: usize) -> Result<()> {
        self.inner.update_batch(values, group_indices, filter, total)?;
        self.check()
    }
    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total: usize) -> Result<()> {
        self.inner.merge_batch(values, group_indices, total)?;
        self.check()
    }
    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        self.check()?;
        let sums = self.inner.evaluate(emit_to)?;
        check_precision(&sums, &self.data_type)?;
        Ok(sums)
    }
    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.check()?;
        self.inner.state(emit_to)
    }
    fn convert_to_state(&self, values: &[ArrayRef], filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        self.inner.convert_to_state(values, filter)
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
}
