//! Spark's `mode(expr [, deterministic])`: the most frequent non-NULL value (NULL when there
//! is none). Where values tie, Spark returns any of them unless `deterministic` is true, then
//! the smallest; Tarn always returns the smallest, so the answer never depends on the plan.
//! `mode() WITHIN GROUP (ORDER BY expr [DESC])` (Spark 4) breaks ties by that order: the
//! smallest, or with DESC the largest.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, Volatility};
use datafusion::physical_expr::expressions::Literal;

pub(crate) fn udaf() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(Mode { signature: Signature::user_defined(Volatility::Immutable) }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Mode {
    signature: Signature,
}

impl AggregateUDFImpl for Mode {
    fn name(&self) -> &str {
        "mode"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [value] => Ok(vec![value.clone()]),
            [value, DataType::Boolean | DataType::Null] => Ok(vec![value.clone(), DataType::Boolean]),
            [_, flag] => {
                plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] mode's second argument (deterministic) is a BOOLEAN, not {flag}")
            }
            _ => plan_err!("[WRONG_NUM_ARGS] mode takes one or two arguments, not {}", args.len()),
        }
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let value = args.input_fields[0].data_type().clone();
        Ok(vec![
            Arc::new(Field::new(format_state_name(args.name, "values"), DataType::new_list(value, true), true)),
            Arc::new(Field::new(format_state_name(args.name, "counts"), DataType::new_list(DataType::Int64, true), true)),
        ])
    }

    /// `mode(DISTINCT x)` is refused as Spark does (every distinct value is then as frequent);
    /// checked before DataFusion rewrites a DISTINCT aggregate into a GROUP BY.
    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        Some(Box::new(|aggregate: AggregateFunction, _info| {
            if aggregate.params.distinct {
                return plan_err!("[INVALID_SQL_SYNTAX] mode takes no DISTINCT");
            }
            Ok(Expr::AggregateFunction(aggregate))
        }))
    }

    /// `mode() WITHIN GROUP (ORDER BY x)`: DataFusion passes `x` as the argument and the order.
    fn supports_within_group_clause(&self) -> bool {
        true
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if let Some(flag) = args.exprs.get(1) {
            let literal = flag.downcast_ref::<Literal>();
            if !matches!(literal.map(Literal::value), Some(ScalarValue::Boolean(Some(_)))) {
                return plan_err!(
                    "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] mode's second argument (deterministic) must be TRUE or FALSE, not {flag}"
                );
            }
        }
        let largest = args.order_bys.first().is_some_and(|o| o.options.descending);
        Ok(Box::new(Counts { data_type: args.expr_fields[0].data_type().clone(), counts: HashMap::new(), largest }))
    }
}

#[derive(Debug)]
struct Counts {
    data_type: DataType,
    counts: HashMap<ScalarValue, i64>,
    /// Ties go to the largest value (`WITHIN GROUP (ORDER BY x DESC)`), else the smallest.
    largest: bool,
}

impl Accumulator for Counts {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = &values[0];
        for i in 0..values.len() {
            if values.is_valid(i) {
                *self.counts.entry(ScalarValue::try_from_array(values, i)?).or_insert(0) += 1;
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (values, counts) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for row in 0..values.len() {
            if values.is_null(row) {
                continue;
            }
            let (vs, cs) = (values.value(row), counts.value(row));
            let cs = cs.as_primitive::<Int64Type>();
            for i in 0..vs.len() {
                *self.counts.entry(ScalarValue::try_from_array(&vs, i)?).or_insert(0) += cs.value(i);
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values: Vec<ScalarValue> = self.counts.keys().cloned().collect();
        let counts: Vec<i64> = values.iter().map(|v| self.counts[v]).collect();
        let values = ScalarValue::new_list_nullable(&values, &self.data_type);
        let counts = Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>([Some(counts.into_iter().map(Some))]));
        Ok(vec![ScalarValue::List(values), ScalarValue::List(counts)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let preferred = if self.largest { std::cmp::Ordering::Greater } else { std::cmp::Ordering::Less };
        let mut best: Option<(&ScalarValue, i64)> = None;
        for (value, &count) in &self.counts {
            let better = match best {
                None => true,
                Some((b, c)) => count > c || (count == c && value.partial_cmp(b) == Some(preferred)),
            };
            if better {
                best = Some((value, count));
            }
        }
        match best {
            Some((value, _)) => Ok(value.clone()),
            None => ScalarValue::try_from(&self.data_type),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.counts.keys().map(ScalarValue::size).sum::<usize>() + self.counts.len() * 8
    }
}
