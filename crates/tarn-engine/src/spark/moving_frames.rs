//! Aggregates over a moving window frame (`ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING`,
//! `ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING`) computed as Spark computes them: afresh over the
//! frame's rows, in their order.
//!
//! DataFusion keeps one accumulator per partition and *retracts* the rows that leave the frame.
//! For floating-point sums and moments that is not the same arithmetic: `var_pop` over
//! `470, 170, 430, 300` came out as `13868.749999999996` (Spark `13868.750000000002`), and
//! DataFusion may also run `CURRENT ROW .. UNBOUNDED FOLLOWING` as a growing frame over the
//! reversed order, which adds the rows in the other order. So for these aggregates over floats,
//! [`recompute_moving_frames`] answers each frame with a new accumulator fed the frame's rows,
//! and refuses the reversal.
//!
//! Spark pays frame-size work per row for this; so does Tarn, up to [`RECOMPUTE_LIMIT`] rows in a
//! frame. A larger frame is answered from the retracting accumulator (the last digits of a float
//! may then differ from Spark's), so one query cannot take time quadratic in a partition's size.

use std::collections::VecDeque;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::AggregateFunctionParams;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, ReversedUDAF, Signature};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr_common::sort_expr::PhysicalSortExpr;

/// The largest frame answered by recomputation.
pub(crate) const RECOMPUTE_LIMIT: usize = 1024;

/// `udaf`, whose moving-frame accumulators recompute each frame when an input is a float.
pub(crate) fn recompute_moving_frames(udaf: Arc<AggregateUDF>) -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(RecomputedFrames { inner: udaf }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RecomputedFrames {
    inner: Arc<AggregateUDF>,
}

fn reads_floats(fields: &[FieldRef]) -> bool {
    fields.iter().any(|f| f.data_type().is_floating())
}

impl AggregateUDFImpl for RecomputedFrames {
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
        let running = self.inner.create_sliding_accumulator(args.clone())?;
        if !reads_floats(args.expr_fields) {
            return Ok(running);
        }
        Ok(Box::new(RecomputedFrame {
            running,
            fresh: FreshAccumulators::new(self.inner.clone(), &args),
            rows: VecDeque::new(),
            skip: 0,
            len: 0,
        }))
    }
    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.inner.order_sensitivity()
    }
    /// Never reversed: a reversed frame adds its rows in the other order.
    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::NotSupported
    }
    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.inner.default_value(data_type)
    }
    fn supports_null_handling_clause(&self) -> bool {
        self.inner.supports_null_handling_clause()
    }
    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        self.inner.documentation()
    }
}

/// What it takes to make a new accumulator of one call (an owned [`AccumulatorArgs`]).
#[derive(Debug)]
struct FreshAccumulators {
    udaf: Arc<AggregateUDF>,
    return_field: FieldRef,
    schema: Schema,
    ignore_nulls: bool,
    order_bys: Vec<PhysicalSortExpr>,
    is_reversed: bool,
    name: String,
    is_distinct: bool,
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    expr_fields: Vec<FieldRef>,
}

impl FreshAccumulators {
    fn new(udaf: Arc<AggregateUDF>, args: &AccumulatorArgs) -> Self {
        Self {
            udaf,
            return_field: args.return_field.clone(),
            schema: args.schema.clone(),
            ignore_nulls: args.ignore_nulls,
            order_bys: args.order_bys.to_vec(),
            is_reversed: args.is_reversed,
            name: args.name.to_string(),
            is_distinct: args.is_distinct,
            exprs: args.exprs.to_vec(),
            expr_fields: args.expr_fields.to_vec(),
        }
    }

    fn make(&self) -> Result<Box<dyn Accumulator>> {
        self.udaf.accumulator(AccumulatorArgs {
            return_field: self.return_field.clone(),
            schema: &self.schema,
            ignore_nulls: self.ignore_nulls,
            order_bys: &self.order_bys,
            is_reversed: self.is_reversed,
            name: &self.name,
            is_distinct: self.is_distinct,
            exprs: &self.exprs,
            expr_fields: &self.expr_fields,
        })
    }
}

/// The rows of the current frame (slices of the partition's arrays) beside a retracting
/// accumulator for frames over [`RECOMPUTE_LIMIT`] rows.
#[derive(Debug)]
struct RecomputedFrame {
    running: Box<dyn Accumulator>,
    fresh: FreshAccumulators,
    rows: VecDeque<Vec<ArrayRef>>,
    /// Rows at the start of `rows`' first batch that have left the frame.
    skip: usize,
    len: usize,
}

fn row_count(values: &[ArrayRef]) -> usize {
    values.first().map_or(0, |a| a.len())
}

impl Accumulator for RecomputedFrame {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.running.update_batch(values)?;
        let n = row_count(values);
        if n > 0 {
            self.rows.push_back(values.to_vec());
            self.len += n;
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.running.retract_batch(values)?;
        let mut n = row_count(values).min(self.len);
        self.len -= n;
        while n > 0 {
            let Some(front) = self.rows.front() else { break };
            let left = row_count(front) - self.skip;
            if left <= n {
                self.rows.pop_front();
                self.skip = 0;
                n -= left;
            } else {
                self.skip += n;
                n = 0;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.len > RECOMPUTE_LIMIT {
            return self.running.evaluate();
        }
        let mut accumulator = self.fresh.make()?;
        for (i, batch) in self.rows.iter().enumerate() {
            let skip = if i == 0 { self.skip } else { 0 };
            let sliced: Vec<ArrayRef> = batch.iter().map(|a| a.slice(skip, a.len() - skip)).collect();
            accumulator.update_batch(&sliced)?;
        }
        accumulator.evaluate()
    }

    fn size(&self) -> usize {
        self.running.size() + self.rows.len() * std::mem::size_of::<Vec<ArrayRef>>() + std::mem::size_of::<Self>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.running.state()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.running.merge_batch(states)
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }
}
