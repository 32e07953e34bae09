//! `sequence(start, stop[, step])`: the array from `start` to `stop` inclusive, as Spark builds
//! it — integers, dates or timestamps; without a step, 1 (a day for dates and timestamps)
//! counting up or -1 counting down. A step of 0 or one that walks away from `stop` is an error,
//! and so is an array past Spark's size limit (rather than an allocation that takes the server
//! down). The values come from DataFusion's `generate_series`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, IntervalMonthDayNanoArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Int64Type, IntervalMonthDayNano, TimeUnit};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// Spark's largest array (`ByteArrayMethods.MAX_ROUNDED_ARRAY_LENGTH`).
const MAX_ELEMENTS: i128 = i32::MAX as i128 - 15;

pub(crate) fn function() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Sequence { signature: Signature::user_defined(Volatility::Immutable) }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Sequence {
    signature: Signature,
}

fn is_datetime(t: &DataType) -> bool {
    matches!(t, DataType::Date32 | DataType::Date64 | DataType::Timestamp(..))
}

impl ScalarUDFImpl for Sequence {
    fn name(&self) -> &str {
        "sequence"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let (start, stop) = match args {
            [start, stop] | [start, stop, _] => (start, stop),
            _ => return plan_err!("[WRONG_NUM_ARGS] sequence takes two or three arguments, got {}", args.len()),
        };
        let bound = if (start.is_integer() || start.is_null()) && (stop.is_integer() || stop.is_null()) {
            DataType::Int64
        } else if is_datetime(start) || is_datetime(stop) {
            match (start, stop) {
                (DataType::Timestamp(_, tz), _) | (_, DataType::Timestamp(_, tz)) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
                _ => DataType::Date32,
            }
        } else {
            return plan_err!(
                "[DATATYPE_MISMATCH.SEQUENCE_WRONG_INPUT_TYPES] sequence takes integers, dates or timestamps, got {start} and {stop}"
            );
        };
        let mut types = vec![bound.clone(), bound.clone()];
        if let Some(step) = args.get(2) {
            types.push(match (&bound, step) {
                (DataType::Int64, s) if s.is_integer() || s.is_null() => DataType::Int64,
                (DataType::Int64, s) => {
                    return plan_err!("[DATATYPE_MISMATCH.SEQUENCE_WRONG_INPUT_TYPES] an integer sequence steps by an integer, not {s}");
                }
                (_, DataType::Interval(_) | DataType::Null) => DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano),
                (_, s) => {
                    return plan_err!(
                        "[DATATYPE_MISMATCH.SEQUENCE_WRONG_INPUT_TYPES] a date or timestamp sequence steps by an interval, not {s}"
                    );
                }
            });
        }
        Ok(types)
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let element = match args.first() {
            Some(DataType::Null) | None => DataType::Int64,
            Some(t) => t.clone(),
        };
        Ok(DataType::List(Arc::new(Field::new_list_field(element, true))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let start = args.args[0].to_array(rows)?;
        let stop = args.args[1].to_array(rows)?;
        let step = match args.args.get(2) {
            Some(step) => step.to_array(rows)?,
            None => default_steps(&start, &stop)?,
        };
        if start.data_type() == &DataType::Int64 {
            check_integer_bounds(start.as_primitive::<Int64Type>(), stop.as_primitive::<Int64Type>(), step.as_primitive::<Int64Type>())?;
        } else if start.data_type() == &DataType::Date32 {
            check_day_bounds(&start, &stop, &step)?;
        }
        let series = datafusion::functions_nested::range::gen_series_udf();
        let arg_fields = [&start, &stop, &step].iter().map(|a| Arc::new(Field::new("", a.data_type().clone(), true))).collect();
        let inner_type = series.return_type(&[start.data_type().clone(), stop.data_type().clone(), step.data_type().clone()])?;
        let generated = series.invoke_with_args(ScalarFunctionArgs {
            args: vec![ColumnarValue::Array(start), ColumnarValue::Array(stop), ColumnarValue::Array(step)],
            arg_fields,
            number_rows: rows,
            return_field: Arc::new(Field::new("sequence", inner_type, true)),
            config_options: args.config_options,
        })?;
        let generated = generated.to_array(rows)?;
        let result = cast(&generated, args.return_field.data_type())?;
        super::answer(&args.args, result)
    }
}

/// 1 or -1 (a day or minus a day for dates and timestamps), toward `stop`.
fn default_steps(start: &ArrayRef, stop: &ArrayRef) -> Result<ArrayRef> {
    let rows = start.len();
    let ascending: Vec<Option<bool>> = match start.data_type() {
        DataType::Int64 => {
            let (a, b) = (start.as_primitive::<Int64Type>(), stop.as_primitive::<Int64Type>());
            (0..rows).map(|i| (a.is_valid(i) && b.is_valid(i)).then(|| a.value(i) <= b.value(i))).collect()
        }
        DataType::Date32 => {
            let (a, b) = (start.as_primitive::<Date32Type>(), stop.as_primitive::<Date32Type>());
            (0..rows).map(|i| (a.is_valid(i) && b.is_valid(i)).then(|| a.value(i) <= b.value(i))).collect()
        }
        DataType::Timestamp(..) => {
            let (a, b) = (cast(start, &DataType::Int64)?, cast(stop, &DataType::Int64)?);
            let (a, b) = (a.as_primitive::<Int64Type>(), b.as_primitive::<Int64Type>());
            (0..rows).map(|i| (a.is_valid(i) && b.is_valid(i)).then(|| a.value(i) <= b.value(i))).collect()
        }
        other => return exec_err!("sequence over {other}"),
    };
    Ok(match start.data_type() {
        DataType::Int64 => Arc::new(ascending.iter().map(|up| up.map(|up| if up { 1 } else { -1 })).collect::<Int64Array>()),
        _ => Arc::new(
            ascending
                .iter()
                .map(|up| up.map(|up| IntervalMonthDayNano::new(0, if up { 1 } else { -1 }, 0)))
                .collect::<IntervalMonthDayNanoArray>(),
        ),
    })
}

fn boundaries_error(start: impl std::fmt::Display, stop: impl std::fmt::Display, step: impl std::fmt::Display) -> Result<()> {
    exec_err!("[INVALID_PARAMETER_VALUE.SEQUENCE] Illegal sequence boundaries: {start} to {stop} by {step}")
}

fn too_long(count: i128) -> Result<()> {
    exec_err!("[COLLECTION_SIZE_LIMIT_EXCEEDED] sequence would have {count} elements, more than the limit of {MAX_ELEMENTS}")
}

fn check_integer_bounds(start: &Int64Array, stop: &Int64Array, step: &Int64Array) -> Result<()> {
    for i in 0..start.len() {
        if start.is_null(i) || stop.is_null(i) || step.is_null(i) {
            continue;
        }
        let (a, b, s) = (start.value(i) as i128, stop.value(i) as i128, step.value(i) as i128);
        if a != b && (s == 0 || (b - a).signum() != s.signum()) {
            return boundaries_error(a, b, s);
        }
        let count = if s == 0 { 1 } else { (b - a) / s + 1 };
        if count > MAX_ELEMENTS {
            return too_long(count);
        }
    }
    Ok(())
}

/// Dates stepped by whole days (a step with months is left to `generate_series`).
fn check_day_bounds(start: &ArrayRef, stop: &ArrayRef, step: &ArrayRef) -> Result<()> {
    let (a, b) = (start.as_primitive::<Date32Type>(), stop.as_primitive::<Date32Type>());
    let Some(steps) = step.as_any().downcast_ref::<IntervalMonthDayNanoArray>() else { return Ok(()) };
    for i in 0..a.len() {
        if a.is_null(i) || b.is_null(i) || steps.is_null(i) {
            continue;
        }
        let s = steps.value(i);
        if s.months != 0 || s.nanoseconds != 0 {
            continue;
        }
        let (x, y, d) = (a.value(i) as i128, b.value(i) as i128, s.days as i128);
        if x != y && (d == 0 || (y - x).signum() != d.signum()) {
            return boundaries_error(x, y, d);
        }
        let count = if d == 0 { 1 } else { (y - x) / d + 1 };
        if count > MAX_ELEMENTS {
            return too_long(count);
        }
    }
    Ok(())
}
