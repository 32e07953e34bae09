//! Spark's implicit casts into functions `datafusion-spark` types exactly: `date_add(d, n)`,
//! `date_sub(d, n)` and `add_months(d, n)` take a DATE and an INT, `next_day(d, day)` a DATE and
//! a STRING, `last_day(d)`, `weekday(d)` and `monthname(d)` a DATE, and Spark
//! casts what a query passes (`date_add('2011-11-11', 1)`, `date_add(ts, '1')`). DataFusion
//! reads the integer literal `1` as a BIGINT, so `date_add(d, 1)` itself was refused.
//!
//! Each function is wrapped with the types its arguments are cast to; an argument that does
//! not cast is an error, as in Spark (a BIGINT outside INT's range fails its cast).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature};

/// What Spark casts one argument to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Wants {
    /// A DATE, from a date, a timestamp or a string.
    Date,
    /// An INT (a TINYINT or SMALLINT stays), from an integer or a string.
    Int,
    /// A STRING.
    Text,
}

impl Wants {
    fn cast(self, from: &DataType) -> Option<DataType> {
        use DataType as D;
        let text = matches!(from, D::Utf8 | D::LargeUtf8 | D::Utf8View);
        match self {
            Wants::Date => (matches!(from, D::Date32 | D::Date64 | D::Timestamp(..) | D::Null) || text).then_some(D::Date32),
            Wants::Int => match from {
                D::Int8 | D::Int16 | D::Int32 => Some(from.clone()),
                D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64 | D::Null => Some(D::Int32),
                _ if text => Some(D::Int32),
                _ => None,
            },
            Wants::Text => (text || matches!(from, D::Null)).then_some(D::Utf8),
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ImplicitArgs {
    inner: Arc<ScalarUDF>,
    wants: Vec<Wants>,
    signature: Signature,
}

impl ScalarUDFImpl for ImplicitArgs {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if args.len() != self.wants.len() {
            return plan_err!("{} takes {} arguments, got {}", self.name(), self.wants.len(), args.len());
        }
        args.iter()
            .zip(&self.wants)
            .map(|(from, wants)| match wants.cast(from) {
                Some(to) => Ok(to),
                None => plan_err!(
                    "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] {} takes ({}); got {}",
                    self.name(),
                    self.wants.iter().map(|w| format!("{w:?}").to_uppercase()).collect::<Vec<_>>().join(", "),
                    crate::spark::types::spark_type_name(from)
                ),
            })
            .collect()
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.inner.return_type(args)
    }
    fn return_field_from_args(&self, args: datafusion::logical_expr::ReturnFieldArgs) -> Result<datafusion::arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }
    // `add_months` is a date plus an interval once simplified.
    fn simplify(
        &self,
        args: Vec<datafusion::logical_expr::Expr>,
        info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if self.inner.name() == "next_day"
            && let [date, day] = args.args.as_slice()
        {
            check_days_of_week(date, day, args.number_rows)?;
        }
        self.inner.invoke_with_args(args)
    }
}

/// Spark's `next_day` raises on a day it does not know (datafusion-spark's gives NULL), for a
/// row whose date is not NULL.
fn check_days_of_week(dates: &ColumnarValue, days: &ColumnarValue, rows: usize) -> Result<()> {
    use datafusion::arrow::array::Array;
    use datafusion::arrow::array::AsArray;
    const DAYS: [&str; 21] = [
        "SU",
        "SUN",
        "SUNDAY",
        "MO",
        "MON",
        "MONDAY",
        "TU",
        "TUE",
        "TUESDAY",
        "WE",
        "WED",
        "WEDNESDAY",
        "TH",
        "THU",
        "THURSDAY",
        "FR",
        "FRI",
        "FRIDAY",
        "SA",
        "SAT",
        "SATURDAY",
    ];
    let dates = dates.to_array(rows.max(1))?;
    let days = datafusion::arrow::compute::cast(&days.to_array(rows.max(1))?, &DataType::Utf8)?;
    for (i, day) in days.as_string::<i32>().iter().enumerate() {
        let Some(day) = day.filter(|_| dates.is_valid(i)) else { continue };
        if !DAYS.contains(&day.trim().to_ascii_uppercase().as_str()) {
            return datafusion::common::exec_err!(
                "[ILLEGAL_DAY_OF_WEEK] Illegal input for day of week: {day}; use MO, TUE, WEDNESDAY, ..."
            );
        }
    }
    Ok(())
}

/// `datafusion-spark`'s date functions with Spark's implicit casts of their arguments.
pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    use datafusion_spark::function::datetime;
    [
        (datetime::date_add(), vec![Wants::Date, Wants::Int]),
        (datetime::date_sub(), vec![Wants::Date, Wants::Int]),
        (datetime::add_months(), vec![Wants::Date, Wants::Int]),
        (datetime::next_day(), vec![Wants::Date, Wants::Text]),
        (datetime::last_day(), vec![Wants::Date]),
        (datetime::weekday(), vec![Wants::Date]),
        (datetime::monthname(), vec![Wants::Date]),
    ]
    .into_iter()
    .map(|(inner, wants)| {
        let signature = Signature::user_defined(inner.signature().volatility);
        Arc::new(ScalarUDF::new_from_impl(ImplicitArgs { inner, wants, signature }))
    })
    .collect()
}
