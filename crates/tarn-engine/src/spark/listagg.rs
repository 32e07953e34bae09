//! Spark's `listagg(expr[, delimiter])` / `string_agg`: values joined by a delimiter (none by
//! default; NULL is none), any type read as text, in `WITHIN GROUP (ORDER BY ..)` order when
//! given (`spark_syntax` moves that clause into the call's own ORDER BY). Planned as
//! DataFusion's `string_agg`, which does the work.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::functions_aggregate::string_agg::string_agg_udaf;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{AccumulatorArgs, AggregateFunctionSimplification};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, Volatility, cast, lit};

/// Spark's `listagg`, also under the name `string_agg` (which Postgres clients call with a
/// delimiter, as before).
pub(crate) fn udaf() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(ListAgg {
        signature: Signature::user_defined(Volatility::Immutable),
        aliases: vec!["string_agg".to_string()],
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ListAgg {
    signature: Signature,
    aliases: Vec<String>,
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

impl AggregateUDFImpl for ListAgg {
    fn name(&self) -> &str {
        "listagg"
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [value] | [value, _]
                if matches!(value, DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_) | DataType::Map(..)) =>
            {
                plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] listagg joins text, not {value}")
            }
            [_] => Ok(vec![DataType::Utf8]),
            [_, delimiter] if is_text(delimiter) || delimiter.is_null() => Ok(vec![DataType::Utf8, DataType::Utf8]),
            [_, delimiter] => plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] listagg's delimiter must be text, got {delimiter}"),
            _ => plan_err!("[WRONG_NUM_ARGS] listagg takes one or two arguments, got {}", args.len()),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::LargeUtf8)
    }
    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        plan_err!("listagg runs as string_agg once the plan is simplified")
    }
    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        Some(Box::new(|aggregate: AggregateFunction, _info| {
            let mut params = aggregate.params;
            let delimiter = match params.args.get(1) {
                // A NULL delimiter is none, as no delimiter is.
                Some(Expr::Literal(value, _)) if value.is_null() => lit(""),
                Some(Expr::Literal(..)) => params.args[1].clone(),
                Some(other) => {
                    return plan_err!("[NON_FOLDABLE_INPUT] listagg's delimiter must be a constant, got {other}");
                }
                None => lit(ScalarValue::Utf8(Some(String::new()))),
            };
            let value = cast(params.args[0].clone(), DataType::Utf8);
            params.args = vec![value, delimiter];
            Ok(Expr::AggregateFunction(AggregateFunction { func: string_agg_udaf(), params }))
        }))
    }
}
