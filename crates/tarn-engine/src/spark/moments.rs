//! Spark's `skewness(x)` and `kurtosis(x)` (`CentralMomentAgg`): the sample's third and fourth
//! central moments, kept as Spark keeps them (count, mean, M2, M3, M4, updated and merged with
//! the same formulas, so the answers agree to the last digit). NULL for no rows or no spread.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
enum Moment {
    #[default]
    Skewness,
    Kurtosis,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CentralMoment {
    moment: Moment,
    signature: Signature,
}

pub(crate) fn udafs() -> Vec<Arc<AggregateUDF>> {
    [Moment::Skewness, Moment::Kurtosis]
        .into_iter()
        .map(|moment| {
            Arc::new(AggregateUDF::new_from_impl(CentralMoment { moment, signature: Signature::user_defined(Volatility::Immutable) }))
        })
        .collect()
}

impl AggregateUDFImpl for CentralMoment {
    fn name(&self) -> &str {
        match self.moment {
            Moment::Skewness => "skewness",
            Moment::Kurtosis => "kurtosis",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [t] if t.is_numeric() || t.is_null() || matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
                Ok(vec![DataType::Float64])
            }
            [t] => plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] {} takes a number, not {t}", self.name()),
            _ => plan_err!("[WRONG_NUM_ARGS] {} takes one argument", self.name()),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(["n", "avg", "m2", "m3", "m4"]
            .into_iter()
            .map(|part| Arc::new(Field::new(format_state_name(args.name, part), DataType::Float64, true)))
            .collect())
    }
    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Moments { moment: self.moment, ..Moments::default() }))
    }
}

#[derive(Debug, Default)]
struct Moments {
    moment: Moment,
    n: f64,
    avg: f64,
    m2: f64,
    m3: f64,
    m4: f64,
}

impl Moments {
    fn add(&mut self, x: f64) {
        let new_n = self.n + 1.0;
        let delta = x - self.avg;
        let delta_n = delta / new_n;
        let new_m2 = self.m2 + delta * (delta - delta_n);
        let (delta2, delta_n2) = (delta * delta, delta_n * delta_n);
        let new_m3 = self.m3 - 3.0 * delta_n * new_m2 + delta * (delta2 - delta_n2);
        let new_m4 = self.m4 - 4.0 * delta_n * new_m3 - 6.0 * delta_n2 * new_m2 + delta * (delta * delta2 - delta_n * delta_n2);
        (self.n, self.avg, self.m2, self.m3, self.m4) = (new_n, self.avg + delta_n, new_m2, new_m3, new_m4);
    }

    fn merge(&mut self, other: [f64; 5]) {
        let [n2, avg2, m2b, m3b, m4b] = other;
        let n1 = self.n;
        let new_n = n1 + n2;
        let delta = avg2 - self.avg;
        let delta_n = if new_n == 0.0 { 0.0 } else { delta / new_n };
        let new_m2 = self.m2 + m2b + delta * delta_n * n1 * n2;
        let new_m3 = self.m3 + m3b + delta_n * delta_n * delta * n1 * n2 * (n1 - n2) + 3.0 * delta_n * (n1 * m2b - n2 * self.m2);
        let new_m4 = self.m4
            + m4b
            + delta_n * delta_n * delta_n * delta * n1 * n2 * (n1 * n1 - n1 * n2 + n2 * n2)
            + 6.0 * delta_n * delta_n * (n1 * n1 * m2b + n2 * n2 * self.m2)
            + 4.0 * delta_n * (n1 * m3b - n2 * self.m3);
        (self.n, self.avg, self.m2, self.m3, self.m4) = (new_n, self.avg + delta_n * n2, new_m2, new_m3, new_m4);
    }
}

impl Accumulator for Moments {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = cast(&values[0], &DataType::Float64)?;
        for x in values.as_primitive::<Float64Type>().iter().flatten() {
            self.add(x);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let parts: Vec<_> = states.iter().map(|s| s.as_primitive::<Float64Type>()).collect();
        for row in 0..parts[0].len() {
            if parts[0].is_null(row) {
                continue;
            }
            self.merge([parts[0].value(row), parts[1].value(row), parts[2].value(row), parts[3].value(row), parts[4].value(row)]);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok([self.n, self.avg, self.m2, self.m3, self.m4].into_iter().map(|v| ScalarValue::Float64(Some(v))).collect())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.n == 0.0 || self.m2 == 0.0 {
            return Ok(ScalarValue::Float64(None));
        }
        let value = match self.moment {
            Moment::Skewness => self.n.sqrt() * self.m3 / (self.m2 * self.m2 * self.m2).sqrt(),
            Moment::Kurtosis => self.n * self.m4 / (self.m2 * self.m2) - 3.0,
        };
        Ok(ScalarValue::Float64(Some(value)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}
