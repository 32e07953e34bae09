//! Spark's two-variable statistics — `corr`, `covar_pop`, `covar_samp` and the linear
//! regression functions `regr_r2`, `regr_slope`, `regr_intercept`, `regr_sxx`, `regr_syy`,
//! `regr_sxy` — with Spark's arithmetic (`Covariance`, `PearsonCorrelation`, `RegrSlope`, ...):
//! the same running means and co-moments, updated and merged with the same formulas, so the
//! answers agree to the last digit (DataFusion's `regr_sxx` was `288.66666666666663` where
//! Spark's is `288.6666666666667`). A row counts only when both values are non-NULL.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Statistic {
    Corr,
    CovarPop,
    CovarSamp,
    RegrR2,
    RegrSlope,
    RegrIntercept,
    RegrSxx,
    RegrSyy,
    RegrSxy,
}

impl Statistic {
    const ALL: [Statistic; 9] = [
        Statistic::Corr,
        Statistic::CovarPop,
        Statistic::CovarSamp,
        Statistic::RegrR2,
        Statistic::RegrSlope,
        Statistic::RegrIntercept,
        Statistic::RegrSxx,
        Statistic::RegrSyy,
        Statistic::RegrSxy,
    ];

    fn name(self) -> &'static str {
        match self {
            Statistic::Corr => "corr",
            Statistic::CovarPop => "covar_pop",
            Statistic::CovarSamp => "covar_samp",
            Statistic::RegrR2 => "regr_r2",
            Statistic::RegrSlope => "regr_slope",
            Statistic::RegrIntercept => "regr_intercept",
            Statistic::RegrSxx => "regr_sxx",
            Statistic::RegrSyy => "regr_syy",
            Statistic::RegrSxy => "regr_sxy",
        }
    }

    /// `regr_*(y, x)` take the dependent variable first; `corr(x, y)` / `covar_*(x, y)` not.
    fn y_first(self) -> bool {
        !matches!(self, Statistic::Corr | Statistic::CovarPop | Statistic::CovarSamp)
    }
}

pub(crate) fn udafs() -> Vec<Arc<AggregateUDF>> {
    Statistic::ALL
        .into_iter()
        .map(|statistic| {
            Arc::new(AggregateUDF::new_from_impl(CoMoment { statistic, signature: Signature::user_defined(Volatility::Immutable) }))
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CoMoment {
    statistic: Statistic,
    signature: Signature,
}

impl AggregateUDFImpl for CoMoment {
    fn name(&self) -> &str {
        self.statistic.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let number = |t: &DataType| t.is_numeric() || t.is_null() || matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        match args {
            [a, b] if number(a) && number(b) => Ok(vec![DataType::Float64, DataType::Float64]),
            [a, b] => plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] {} takes two numbers, not {a} and {b}", self.name()),
            _ => plan_err!("[WRONG_NUM_ARGS] {} takes two arguments, not {}", self.name(), args.len()),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(["n", "x_avg", "y_avg", "ck", "x_mk", "y_mk", "x_m2", "y_m2"]
            .into_iter()
            .map(|part| Arc::new(Field::new(format_state_name(args.name, part), DataType::Float64, true)))
            .collect())
    }
    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(CoMoments { statistic: self.statistic, state: State::default() }))
    }
}

/// Spark's buffers: count, means, the co-moment `ck`, Pearson's `xMk` / `yMk`, and the
/// central moments M2 of x and y as `VariancePop` / `RegrSXX` keep them (updated differently
/// from `xMk`, so rounded differently).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct State {
    n: f64,
    x_avg: f64,
    y_avg: f64,
    ck: f64,
    x_mk: f64,
    y_mk: f64,
    x_m2: f64,
    y_m2: f64,
}

impl State {
    fn add(&mut self, x: f64, y: f64) {
        let n = self.n + 1.0;
        let dx = x - self.x_avg;
        let dx_n = dx / n;
        let dy = y - self.y_avg;
        let dy_n = dy / n;
        let x_avg = self.x_avg + dx_n;
        let y_avg = self.y_avg + dy_n;
        self.ck += dx * (y - y_avg);
        self.x_mk += dx * (x - x_avg);
        self.y_mk += dy * (y - y_avg);
        self.x_m2 += dx * (dx - dx_n);
        self.y_m2 += dy * (dy - dy_n);
        (self.n, self.x_avg, self.y_avg) = (n, x_avg, y_avg);
    }

    fn merge(&mut self, other: State) {
        let (n1, n2) = (self.n, other.n);
        let n = n1 + n2;
        if n == 0.0 {
            return;
        }
        let dx = other.x_avg - self.x_avg;
        let dx_n = dx / n;
        let dy = other.y_avg - self.y_avg;
        let dy_n = dy / n;
        self.ck += other.ck + dx * dy_n * n1 * n2;
        self.x_mk += other.x_mk + dx * dx_n * n1 * n2;
        self.y_mk += other.y_mk + dy * dy_n * n1 * n2;
        self.x_m2 += other.x_m2 + dx * dx_n * n1 * n2;
        self.y_m2 += other.y_m2 + dy * dy_n * n1 * n2;
        self.x_avg += dx_n * n2;
        self.y_avg += dy_n * n2;
        self.n = n;
    }

    fn finish(&self, statistic: Statistic) -> Option<f64> {
        let n = self.n;
        if n == 0.0 {
            return None;
        }
        let var_pop_x = self.x_m2 / n;
        Some(match statistic {
            Statistic::Corr if n == 1.0 => return None,
            Statistic::Corr => self.ck / (self.x_mk * self.y_mk).sqrt(),
            Statistic::CovarPop => self.ck / n,
            Statistic::CovarSamp if n == 1.0 => return None,
            Statistic::CovarSamp => self.ck / (n - 1.0),
            Statistic::RegrR2 if self.x_mk == 0.0 => return None,
            Statistic::RegrR2 if self.y_mk == 0.0 => 1.0,
            Statistic::RegrR2 => self.ck * self.ck / self.y_mk / self.x_mk,
            Statistic::RegrSlope | Statistic::RegrIntercept if var_pop_x == 0.0 => return None,
            Statistic::RegrSlope => (self.ck / n) / var_pop_x,
            Statistic::RegrIntercept => self.y_avg - (self.ck / n) / var_pop_x * self.x_avg,
            Statistic::RegrSxx => self.x_m2,
            Statistic::RegrSyy => self.y_m2,
            Statistic::RegrSxy => self.ck,
        })
    }
}

#[derive(Debug)]
struct CoMoments {
    statistic: Statistic,
    state: State,
}

fn doubles(array: &ArrayRef) -> Result<ArrayRef> {
    Ok(cast(array, &DataType::Float64)?)
}

impl Accumulator for CoMoments {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (first, second) = (doubles(&values[0])?, doubles(&values[1])?);
        let (first, second) = (first.as_primitive::<Float64Type>(), second.as_primitive::<Float64Type>());
        let (xs, ys) = if self.statistic.y_first() { (second, first) } else { (first, second) };
        for row in 0..xs.len() {
            if xs.is_valid(row) && ys.is_valid(row) {
                self.state.add(xs.value(row), ys.value(row));
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let parts: Vec<ArrayRef> = states.iter().map(doubles).collect::<Result<_>>()?;
        let parts: Vec<_> = parts.iter().map(|p| p.as_primitive::<Float64Type>()).collect();
        for row in 0..parts[0].len() {
            if parts[0].is_null(row) {
                continue;
            }
            let v = |i: usize| parts[i].value(row);
            self.state.merge(State { n: v(0), x_avg: v(1), y_avg: v(2), ck: v(3), x_mk: v(4), y_mk: v(5), x_m2: v(6), y_m2: v(7) });
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let s = self.state;
        Ok([s.n, s.x_avg, s.y_avg, s.ck, s.x_mk, s.y_mk, s.x_m2, s.y_m2].into_iter().map(|v| ScalarValue::Float64(Some(v))).collect())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.state.finish(self.statistic)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pairs: &[(f64, f64)]) -> State {
        let mut s = State::default();
        pairs.iter().for_each(|&(x, y)| s.add(x, y));
        s
    }

    #[test]
    fn a_perfect_line() {
        let s = state(&[(1.0, 3.0), (2.0, 5.0), (3.0, 7.0)]);
        assert_eq!(s.finish(Statistic::RegrSlope), Some(2.0));
        assert_eq!(s.finish(Statistic::RegrIntercept), Some(1.0));
        assert_eq!(s.finish(Statistic::RegrR2), Some(1.0));
        assert_eq!(s.finish(Statistic::RegrSxx), Some(2.0));
    }

    #[test]
    fn one_row_or_none() {
        assert_eq!(state(&[]).finish(Statistic::CovarPop), None);
        let one = state(&[(1.0, 2.0)]);
        assert_eq!(one.finish(Statistic::Corr), None);
        assert_eq!(one.finish(Statistic::CovarSamp), None);
        assert_eq!(one.finish(Statistic::CovarPop), Some(0.0));
        assert_eq!(one.finish(Statistic::RegrSlope), None);
    }
}
