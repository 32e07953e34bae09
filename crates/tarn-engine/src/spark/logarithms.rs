//! Spark's logarithms: `ln(x)`, `log(x)` (natural, as Spark — DataFusion's one-argument `log`
//! is base 10), `log(base, x)`, `log10(x)`, `log2(x)` and `log1p(x)`, as DOUBLEs, NULL where
//! the logarithm is undefined (`x <= 0`, `x <= -1` for `log1p`, a base `<= 0`) where DataFusion
//! answered -inf or NaN.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Base {
    E,
    Ten,
    Two,
    /// `ln(1 + x)`.
    OnePlus,
    /// `log(x)` natural, `log(base, x)` of the given base.
    Given,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Logarithm {
    name: &'static str,
    base: Base,
    signature: Signature,
}

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    [("ln", Base::E), ("log", Base::Given), ("log10", Base::Ten), ("log2", Base::Two), ("log1p", Base::OnePlus)]
        .into_iter()
        .map(|(name, base)| {
            Arc::new(ScalarUDF::new_from_impl(Logarithm { name, base, signature: Signature::user_defined(Volatility::Immutable) }))
        })
        .collect()
}

fn one(base: Base, x: f64) -> Option<f64> {
    match base {
        Base::OnePlus => (x > -1.0).then(|| x.ln_1p()),
        _ if x <= 0.0 => None,
        Base::Ten => Some(x.log10()),
        Base::Two => Some(x.log2()),
        Base::E | Base::Given => Some(x.ln()),
    }
}

impl ScalarUDFImpl for Logarithm {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let arity_ok = if self.base == Base::Given { (1..=2).contains(&args.len()) } else { args.len() == 1 };
        if !arity_ok {
            return plan_err!(
                "[WRONG_NUM_ARGS] {} takes {} argument(s), not {}",
                self.name,
                if self.base == Base::Given { "1 or 2" } else { "1" },
                args.len()
            );
        }
        let numeric =
            |t: &DataType| t.is_numeric() || t.is_null() || matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        if let Some(t) = args.iter().find(|t| !numeric(t)) {
            return plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] {} takes numbers, not {t}", self.name);
        }
        Ok(vec![DataType::Float64; args.len()])
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows.max(1)).and_then(|a| Ok(cast(&a, &DataType::Float64)?)))
            .collect::<Result<Vec<_>>>()?;
        let result: Float64Array = match arrays.as_slice() {
            [x] => x.as_primitive::<Float64Type>().iter().map(|x| x.and_then(|x| one(self.base, x))).collect(),
            [base, x] => base
                .as_primitive::<Float64Type>()
                .iter()
                .zip(x.as_primitive::<Float64Type>().iter())
                .map(|(b, x)| match (b, x) {
                    (Some(b), Some(x)) if b > 0.0 && x > 0.0 => Some(x.ln() / b.ln()),
                    _ => None,
                })
                .collect(),
            _ => return plan_err!("{} takes one or two arguments", self.name),
        };
        debug_assert!(result.len() == arrays[0].len());
        super::answer(&args.args, Arc::new(result))
    }
}
