//! Spark's `try_add`, `try_subtract`, `try_multiply` and `try_divide`: the operator's answer, or
//! NULL for the rows where it would be an error (overflow, division by zero) — the way to keep
//! ANSI's errors off a query that expects some rows to fail.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, new_null_array};
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::compute::{cast, concat};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer;
use datafusion::logical_expr::{
    ColumnarValue, Operator, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Add,
    Subtract,
    Multiply,
    Divide,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Try {
    op: Op,
    signature: Signature,
}

/// The four functions, to register under Spark's names.
pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    [Op::Add, Op::Subtract, Op::Multiply, Op::Divide]
        .into_iter()
        .map(|op| Arc::new(ScalarUDF::new_from_impl(Try { op, signature: Signature::user_defined(Volatility::Immutable) })))
        .collect()
}

fn is_number(t: &DataType) -> bool {
    t.is_integer() || t.is_floating() || t.is_decimal() || t.is_null()
}

impl Try {
    fn operator(&self) -> Operator {
        match self.op {
            Op::Add => Operator::Plus,
            Op::Subtract => Operator::Minus,
            Op::Multiply => Operator::Multiply,
            Op::Divide => Operator::Divide,
        }
    }

    /// The operand types, as Spark's operator would see them (text next to a number is read as
    /// one, as in `operators`).
    fn operands(&self, left: &DataType, right: &DataType) -> Result<(DataType, DataType)> {
        let (left, right) = super::text_numbers::operand_types(left, right);
        if self.op == Op::Divide {
            if (left.is_decimal() || right.is_decimal()) && !(left.is_floating() || right.is_floating()) {
                let decimal = super::decimal::DecimalDivide::new();
                let types = decimal.coerce_types(&[left, right])?;
                return Ok((types[0].clone(), types[1].clone()));
            }
            if is_number(&left) && is_number(&right) {
                return Ok((DataType::Float64, DataType::Float64));
            }
            return plan_err!("try_divide needs numbers, got {left} and {right}");
        }
        if left.is_floating() && right.is_decimal() || left.is_decimal() && right.is_floating() {
            return Ok((DataType::Float64, DataType::Float64));
        }
        if let Some(date_left) = self.days_added(&left, &right) {
            // A date and a number of days (Spark's `date_add`): both as days since the epoch.
            return Ok(if date_left { (DataType::Date32, DataType::Int32) } else { (DataType::Int32, DataType::Date32) });
        }
        BinaryTypeCoercer::new(&left, &self.operator(), &right).get_input_types()
    }

    /// `Some(true)` for `try_add(date, n)` / `try_subtract(date, n)`, `Some(false)` for
    /// `try_add(n, date)`: whole days added to a date.
    fn days_added(&self, left: &DataType, right: &DataType) -> Option<bool> {
        let is_date = |t: &DataType| matches!(t, DataType::Date32 | DataType::Date64);
        match self.op {
            Op::Add | Op::Subtract if is_date(left) && right.is_integer() => Some(true),
            Op::Add if left.is_integer() && is_date(right) => Some(false),
            _ => None,
        }
    }

    /// `try_add(date, interval)` (either order) and `try_subtract(date, interval)` are
    /// timestamps, as in Spark, unless the interval is a constant of whole days or months
    /// (Spark's year-month intervals keep the DATE); without the fraction of a day a time
    /// would silently be lost.
    fn date_becomes_timestamp(&self, types: &[DataType], constants: &[Option<&ScalarValue>]) -> bool {
        let is_date = |t: &DataType| matches!(t, DataType::Date32 | DataType::Date64);
        let has_time = |at: usize| match constants.get(at).copied().flatten() {
            Some(value) if value.is_null() => false,
            Some(value) => super::operators::constant_interval_has_time(value).unwrap_or(true),
            None => true,
        };
        match (self.op, types) {
            (Op::Add | Op::Subtract, [left, DataType::Interval(_)]) if is_date(left) => has_time(1),
            (Op::Add, [DataType::Interval(_), right]) if is_date(right) => has_time(0),
            _ => false,
        }
    }

    /// The operator on whole arrays; an error when any row fails.
    fn apply(&self, left: &ArrayRef, right: &ArrayRef, config: &ScalarFunctionArgs) -> Result<ArrayRef> {
        if self.days_added(left.data_type(), right.data_type()).is_some() {
            // Days as INTs, added with overflow checks, read back as a date.
            let days = |a: &ArrayRef| cast(a, &DataType::Int32);
            let sum = self.apply(&days(left)?, &days(right)?, config)?;
            return Ok(cast(&sum, &DataType::Date32)?);
        }
        Ok(match self.op {
            Op::Add => numeric::add(left, right)?,
            Op::Subtract => numeric::sub(left, right)?,
            Op::Multiply => numeric::mul(left, right)?,
            Op::Divide if left.data_type().is_decimal() => {
                let decimal = super::decimal::DecimalDivide::new();
                let args = ScalarFunctionArgs {
                    args: vec![ColumnarValue::Array(left.clone()), ColumnarValue::Array(right.clone())],
                    arg_fields: config.arg_fields.clone(),
                    number_rows: left.len(),
                    return_field: config.return_field.clone(),
                    config_options: config.config_options.clone(),
                };
                decimal.invoke_with_args(args)?.to_array(left.len())?
            }
            Op::Divide => {
                let zero = datafusion::arrow::compute::kernels::cmp::eq(right, &datafusion::arrow::array::Float64Array::new_scalar(0.0))?;
                if zero.true_count() > 0 {
                    return exec_err!("[DIVIDE_BY_ZERO] division by zero");
                }
                numeric::div(left, right)?
            }
        })
    }
}

impl ScalarUDFImpl for Try {
    fn name(&self) -> &str {
        match self.op {
            Op::Add => "try_add",
            Op::Subtract => "try_subtract",
            Op::Multiply => "try_multiply",
            Op::Divide => "try_divide",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let [left, right] = args else { return plan_err!("{} takes two arguments", self.name()) };
        let (left, right) = self.operands(left, right)?;
        Ok(vec![left, right])
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let [left, right] = args else { return plan_err!("{} takes two arguments", self.name()) };
        if self.op == Op::Divide {
            return if left.is_decimal() { super::decimal::DecimalDivide::new().return_type(args) } else { Ok(DataType::Float64) };
        }
        if self.days_added(left, right).is_some() {
            return Ok(DataType::Date32);
        }
        BinaryTypeCoercer::new(left, &self.operator(), right).get_result_type()
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let mut data_type = self.return_type(&types)?;
        if self.date_becomes_timestamp(&types, args.scalar_arguments) {
            data_type = DataType::Timestamp(TimeUnit::Microsecond, None);
        }
        Ok(Arc::new(Field::new(self.name(), data_type, true)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [left, right] = args.args.as_slice() else { return exec_err!("{} takes two arguments", self.name()) };
        let (mut left, mut right) = (left.to_array(args.number_rows)?, right.to_array(args.number_rows)?);
        // A date with an interval that has a time of day is added as a timestamp.
        if let DataType::Timestamp(unit, zone) = args.return_field.data_type() {
            let timestamp = DataType::Timestamp(*unit, zone.clone());
            for side in [&mut left, &mut right] {
                if matches!(side.data_type(), DataType::Date32 | DataType::Date64) {
                    *side = cast(side, &timestamp)?;
                }
            }
        }
        let out = match self.apply(&left, &right, &args) {
            Ok(out) => out,
            // Some row failed: answer row by row, NULL where the operator errs.
            Err(_) => {
                let target = args.return_field.data_type().clone();
                let mut rows: Vec<ArrayRef> = Vec::with_capacity(left.len());
                for i in 0..left.len() {
                    let row = self.apply(&left.slice(i, 1), &right.slice(i, 1), &args).ok();
                    rows.push(match row {
                        Some(row) if row.data_type() == &target => row,
                        Some(row) => cast(&row, &target)?,
                        None => new_null_array(&target, 1),
                    });
                }
                let parts: Vec<&dyn Array> = rows.iter().map(|r| r.as_ref()).collect();
                if parts.is_empty() { new_null_array(&target, 0) } else { concat(&parts)? }
            }
        };
        super::answer(&args.args, out)
    }
}
