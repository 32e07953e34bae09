//! The functions Spark's own test harness registers for its golden files (`udf/` and `udaf/`
//! run the same queries through them); they are not Spark SQL built-ins, so Tarn itself does
//! not have them, and the runner adds them to its sessions as Spark's suite does.
//!
//! - `udf(x)`: `IntegratedUDFTestUtils.TestScalaUDF`, the value back unchanged (Spark casts it
//!   to STRING and back to its type around the call).
//! - `udaf(x)`: `TestUDAF`, the number of non-NULL values, as INT.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use tarn_sql::Session;

#[derive(Debug, PartialEq, Eq, Hash)]
struct Udf {
    signature: Signature,
}

impl ScalarUDFImpl for Udf {
    fn name(&self) -> &str {
        "udf"
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

/// Add the harness's functions to `session`.
pub fn register(session: &mut Session) {
    let mut state = SessionStateBuilder::new_from_existing(session.state().clone()).build();
    let udf = ScalarUDF::new_from_impl(Udf { signature: Signature::any(1, Volatility::Immutable) });
    let _ = state.register_udf(Arc::new(udf));
    let count = datafusion::functions_aggregate::count::count_udaf();
    let _ = state.register_udaf(Arc::new(count.as_ref().clone().with_aliases(["udaf"])));
    session.set_state(state);
}
