//! Spark's `var_pop`, `var_samp` (`variance`), `stddev_pop` and `stddev_samp` (`stddev`, `std`):
//! DataFusion's functions with Spark's arithmetic (`CentralMomentAgg`). Both keep a count, a
//! mean and M2, but round differently: `var_pop` over `470, 170, 430, 300` was
//! `13868.749999999996` where Spark's is `13868.750000000002`. Spark updates M2 by
//! `delta * (delta - delta / n)` and merges partial states by Chan's formula; so does this.
//! NULL for no rows, and for one row in the sample forms (Spark 4's default).
//!
//! `DISTINCT` stays with DataFusion's accumulator.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, UInt64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Float64Type, UInt64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::AggregateFunctionParams;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF, Signature};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Statistic {
    /// Divide M2 by n - 1 (else by n).
    sample: bool,
    /// The standard deviation (else the variance).
    root: bool,
}

impl Statistic {
    fn of(name: &str) -> Option<Self> {
        match name {
            "var" | "var_samp" => Some(Self { sample: true, root: false }),
            "var_pop" => Some(Self { sample: false, root: false }),
            "stddev" | "stddev_samp" => Some(Self { sample: true, root: true }),
            "stddev_pop" => Some(Self { sample: false, root: true }),
            _ => None,
        }
    }

    fn finish(self, n: f64, m2: f64) -> Option<f64> {
        let divisor = if self.sample { n - 1.0 } else { n };
        if n == 0.0 || divisor == 0.0 {
            return None;
        }
        let variance = m2 / divisor;
        Some(if self.root { variance.sqrt() } else { variance })
    }
}

/// DataFusion's `udaf` (one of the four) computing as Spark does; other functions unchanged.
pub(crate) fn spark_arithmetic(udaf: Arc<AggregateUDF>) -> Arc<AggregateUDF> {
    match Statistic::of(udaf.name()) {
        Some(statistic) => Arc::new(AggregateUDF::new_from_impl(SparkVariance { inner: udaf, statistic })),
        None => udaf,
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkVariance {
    inner: Arc<AggregateUDF>,
    statistic: Statistic,
}

impl AggregateUDFImpl for SparkVariance {
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
        self.inner.signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        // (count UInt64, mean, m2), or DISTINCT's list: the same as DataFusion's.
        self.inner.state_fields(args)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if args.is_distinct {
            return self.inner.accumulator(args);
        }
        Ok(Box::new(Moments2 { statistic: self.statistic, ..Moments2::default() }))
    }
    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.accumulator(args)
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }
    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(GroupMoments2 { statistic: self.statistic, n: Vec::new(), avg: Vec::new(), m2: Vec::new() }))
    }
    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.inner.default_value(data_type)
    }
    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        self.inner.documentation()
    }
}

/// Count, mean and M2, updated as Spark's `CentralMomentAgg` updates them.
#[derive(Debug, Clone, Copy, Default)]
struct Moment2 {
    n: f64,
    avg: f64,
    m2: f64,
}

impl Moment2 {
    fn add(&mut self, x: f64) {
        let n = self.n + 1.0;
        let delta = x - self.avg;
        let delta_n = delta / n;
        self.m2 += delta * (delta - delta_n);
        self.avg += delta_n;
        self.n = n;
    }

    /// The inverse of `add` (for rows leaving a moving window frame).
    fn remove(&mut self, x: f64) {
        let n = self.n - 1.0;
        if n <= 0.0 {
            *self = Self::default();
            return;
        }
        let avg = (self.avg * self.n - x) / n;
        self.m2 -= (x - avg) * (x - self.avg);
        self.avg = avg;
        self.n = n;
    }

    fn merge(&mut self, other: Moment2) {
        if other.n == 0.0 {
            return;
        }
        let n = self.n + other.n;
        let delta = other.avg - self.avg;
        let delta_n = delta / n;
        self.m2 += other.m2 + delta * delta_n * self.n * other.n;
        self.avg += delta_n * other.n;
        self.n = n;
    }
}

fn doubles(values: &ArrayRef) -> Result<Float64Array> {
    Ok(cast(values, &DataType::Float64)?.as_primitive::<Float64Type>().clone())
}

fn state_parts(states: &[ArrayRef]) -> Result<(UInt64Array, Float64Array, Float64Array)> {
    Ok((cast(&states[0], &DataType::UInt64)?.as_primitive::<UInt64Type>().clone(), doubles(&states[1])?, doubles(&states[2])?))
}

#[derive(Debug)]
struct Moments2 {
    statistic: Statistic,
    moment: Moment2,
}

impl Default for Moments2 {
    fn default() -> Self {
        Self { statistic: Statistic { sample: true, root: false }, moment: Moment2::default() }
    }
}

impl Accumulator for Moments2 {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        doubles(&values[0])?.iter().flatten().for_each(|x| self.moment.add(x));
        Ok(())
    }
    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        doubles(&values[0])?.iter().flatten().for_each(|x| self.moment.remove(x));
        Ok(())
    }
    fn supports_retract_batch(&self) -> bool {
        true
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (n, avg, m2) = state_parts(states)?;
        for row in 0..n.len() {
            if !n.is_null(row) {
                self.moment.merge(Moment2 { n: n.value(row) as f64, avg: avg.value(row), m2: m2.value(row) });
            }
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let Moment2 { n, avg, m2 } = self.moment;
        Ok(vec![ScalarValue::UInt64(Some(n as u64)), ScalarValue::Float64(Some(avg)), ScalarValue::Float64(Some(m2))])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.statistic.finish(self.moment.n, self.moment.m2)))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// [`Moment2`] per group, as columns.
#[derive(Debug)]
struct GroupMoments2 {
    statistic: Statistic,
    n: Vec<f64>,
    avg: Vec<f64>,
    m2: Vec<f64>,
}

impl GroupMoments2 {
    fn resize(&mut self, groups: usize) {
        self.n.resize(groups, 0.0);
        self.avg.resize(groups, 0.0);
        self.m2.resize(groups, 0.0);
    }

    fn with_moment(&mut self, group: usize, change: impl FnOnce(&mut Moment2)) {
        let mut moment = Moment2 { n: self.n[group], avg: self.avg[group], m2: self.m2[group] };
        change(&mut moment);
        (self.n[group], self.avg[group], self.m2[group]) = (moment.n, moment.avg, moment.m2);
    }

    fn take(&mut self, emit_to: EmitTo) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        (emit_to.take_needed(&mut self.n), emit_to.take_needed(&mut self.avg), emit_to.take_needed(&mut self.m2))
    }
}

fn selected(filter: Option<&BooleanArray>, row: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}

impl GroupsAccumulator for GroupMoments2 {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let values = doubles(&values[0])?;
        for (row, &group) in group_indices.iter().enumerate() {
            if values.is_valid(row) && selected(opt_filter, row) {
                let x = values.value(row);
                self.with_moment(group, |m| m.add(x));
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.resize(total_num_groups);
        let (n, avg, m2) = state_parts(values)?;
        for (row, &group) in group_indices.iter().enumerate() {
            if n.is_valid(row) {
                let other = Moment2 { n: n.value(row) as f64, avg: avg.value(row), m2: m2.value(row) };
                self.with_moment(group, |m| m.merge(other));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (n, _, m2) = self.take(emit_to);
        let statistic = self.statistic;
        Ok(Arc::new(n.iter().zip(&m2).map(|(&n, &m2)| statistic.finish(n, m2)).collect::<Float64Array>()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (n, avg, m2) = self.take(emit_to);
        Ok(vec![
            Arc::new(n.iter().map(|&n| n as u64).collect::<UInt64Array>()),
            Arc::new(Float64Array::from(avg)),
            Arc::new(Float64Array::from(m2)),
        ])
    }

    /// Each row as a state of its own: (1, x, 0), or (0, 0, 0) where it is NULL or filtered out.
    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let values = doubles(&values[0])?;
        let counted: Vec<bool> = (0..values.len()).map(|row| values.is_valid(row) && selected(opt_filter, row)).collect();
        let n: UInt64Array = counted.iter().map(|&c| u64::from(c)).collect();
        let avg: Float64Array = counted.iter().enumerate().map(|(row, &c)| if c { values.value(row) } else { 0.0 }).collect();
        Ok(vec![Arc::new(n), Arc::new(avg), Arc::new(Float64Array::from(vec![0.0; values.len()]))])
    }

    fn size(&self) -> usize {
        (self.n.capacity() + self.avg.capacity() + self.m2.capacity()) * std::mem::size_of::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moment(values: &[f64]) -> Moment2 {
        let mut m = Moment2::default();
        values.iter().for_each(|&x| m.add(x));
        m
    }

    #[test]
    fn rounds_as_spark_does() {
        // Spark 4: var_pop over 470, 170, 430, 300 in that order (DataFusion's gave ...749999999996).
        let m = moment(&[470.0, 170.0, 430.0, 300.0]);
        assert_eq!(Statistic::of("var_pop").and_then(|s| s.finish(m.n, m.m2)), Some(13868.750000000002));
    }

    #[test]
    fn merged_halves_agree_with_the_whole() {
        let mut left = moment(&[1.0, 2.0]);
        left.merge(moment(&[3.0, 4.0, 5.0]));
        let whole = moment(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(left.n, whole.n);
        assert!((left.avg - whole.avg).abs() < 1e-12 && (left.m2 - whole.m2).abs() < 1e-12);
    }

    #[test]
    fn removing_a_row_undoes_adding_it() {
        let mut m = moment(&[600.0, 470.0, 170.0]);
        m.remove(600.0);
        let rest = moment(&[470.0, 170.0]);
        assert!((m.m2 - rest.m2).abs() < 1e-9 && m.n == rest.n);
    }

    #[test]
    fn sample_forms_of_one_row_are_null() {
        let m = moment(&[4.0]);
        assert_eq!(Statistic::of("stddev").and_then(|s| s.finish(m.n, m.m2)), None);
        assert_eq!(Statistic::of("stddev_pop").and_then(|s| s.finish(m.n, m.m2)), Some(0.0));
    }
}
