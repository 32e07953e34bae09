//! `try_<f>`: a function's answer, or NULL for the rows where `f` raises on the row's data
//! (Spark's `try_to_timestamp`, ...); a mistake in the query itself (a pattern Spark refuses)
//! is still an error. The batch runs as one call; only when it fails does each row run
//! alone, its error turned into NULL — no cost for the batches that parse.

use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature};

#[derive(Debug, PartialEq, Eq, Hash)]
struct TryRows {
    name: String,
    inner: Arc<ScalarUDF>,
}

impl ScalarUDFImpl for TryRows {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(args)
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.inner.return_type(args)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let field = self.inner.return_field_from_args(args)?;
        Ok(Arc::new(field.as_ref().clone().with_nullable(true)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let return_type = args.return_field.data_type().clone();
        let rows = args.number_rows;
        let whole = ScalarFunctionArgs {
            args: args.args.clone(),
            arg_fields: args.arg_fields.clone(),
            number_rows: rows,
            return_field: args.return_field.clone(),
            config_options: args.config_options.clone(),
        };
        match self.inner.invoke_with_args(whole) {
            Ok(answer) => return Ok(answer),
            // A mistake in the query (a pattern Spark refuses) is an error still.
            Err(e) if is_query_error(&e) => return Err(e),
            Err(_) => {}
        }
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = args.args.iter().map(|a| a.to_array(rows.max(1))).collect::<Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(rows);
        for row in 0..(if scalar { 1 } else { rows }) {
            let values = arrays.iter().map(|a| ScalarValue::try_from_array(a.as_ref(), row)).collect::<Result<Vec<_>>>()?;
            let one = ScalarFunctionArgs {
                args: values.into_iter().map(ColumnarValue::Scalar).collect(),
                arg_fields: args.arg_fields.clone(),
                number_rows: 1,
                return_field: args.return_field.clone(),
                config_options: args.config_options.clone(),
            };
            let value = match self.inner.invoke_with_args(one) {
                Err(e) if is_query_error(&e) => return Err(e),
                Ok(ColumnarValue::Scalar(v)) => v,
                Ok(ColumnarValue::Array(a)) if a.len() == 1 => ScalarValue::try_from_array(a.as_ref(), 0)?,
                _ => ScalarValue::try_from(&return_type)?,
            };
            out.push(value);
        }
        if scalar {
            return Ok(ColumnarValue::Scalar(out.pop().map_or_else(|| ScalarValue::try_from(&return_type), Ok)?));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

/// Whether an error is the query's (a planning error: a bad pattern), not a row's.
fn is_query_error(error: &datafusion::common::DataFusionError) -> bool {
    matches!(error.find_root(), datafusion::common::DataFusionError::Plan(_))
}

/// `f` under the name `name`, with NULL where it raises.
pub(crate) fn try_rows(name: &str, inner: Arc<ScalarUDF>) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(TryRows { name: name.to_string(), inner }))
}
