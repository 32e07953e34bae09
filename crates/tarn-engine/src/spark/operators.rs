//! Spark's meaning of integer `+ - *` (checked), `/`, `div` and `arr[i]`, planned before DataFusion's own planners see them.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{DFSchema, Result, ScalarValue, plan_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr, RawFieldAccessExpr};
use datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer;
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, GetFieldAccess, Operator, TryCast};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use super::functions;

#[derive(Debug, Default)]
pub struct SparkOperators;

/// Integers, floating point numbers and untyped NULLs: what Spark's `/` turns into doubles.
fn divides_as_double(t: &DataType) -> bool {
    t.is_integer() || t.is_floating() || t.is_null()
}

/// Decimal divisions are functions, and DataFusion's planning of a function nested in a
/// function nested in ... grows with the cube of the depth: a chain `1.0 / 1.0 / ...` of the
/// 1,000 levels Tarn parses would take minutes. 64 plan in milliseconds.
const MAX_DECIMAL_QUOTIENTS: usize = 64;

/// How many decimal divisions are nested along `expr`'s deepest chain of them.
fn decimal_quotients(expr: &Expr) -> usize {
    match expr {
        Expr::ScalarFunction(call) if call.func.name() == "spark_decimal_divide" => {
            1 + call.args.iter().map(decimal_quotients).max().unwrap_or(0)
        }
        Expr::Cast(c) => decimal_quotients(&c.expr),
        Expr::Alias(a) => decimal_quotients(&a.expr),
        _ => 0,
    }
}

/// Whether `expr` could be text: arithmetic and non-text literals cannot, so long `a + b + ...`
/// chains are not typed again at every level.
fn is_text(expr: &Expr, schema: &DFSchema) -> Result<bool> {
    let arithmetic =
        |op: &Operator| matches!(op, Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide | Operator::Modulo);
    match expr {
        Expr::BinaryExpr(b) if arithmetic(&b.op) => Ok(false),
        call if super::checked::is_call(call) => Ok(false),
        Expr::Literal(value, _) => Ok(matches!(value.data_type(), DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)),
        other => Ok(matches!(other.get_type(schema)?, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)),
    }
}

/// Spark (ANSI) arithmetic on text and a number: the text is read as a BIGINT when the number is
/// an integer, else both are DOUBLEs (`'1' + 1` is `2`, `'1' + 1.5` is `2.5`; `'1' + '1'` stays
/// an error). Unchanged when neither or both sides are text.
fn promote_text(left: Expr, right: Expr, schema: &DFSchema) -> Result<(Expr, Expr)> {
    let (left_text, right_text) = (is_text(&left, schema)?, is_text(&right, schema)?);
    if left_text == right_text {
        return Ok((left, right));
    }
    let number = if left_text { right.get_type(schema)? } else { left.get_type(schema)? };
    let target = match super::text_numbers::text_next_to_number(&number) {
        Some(target) if !number.is_null() => target,
        _ => return Ok((left, right)),
    };
    let cast = |e: Expr| Expr::Cast(Cast::new(Box::new(e), target.clone()));
    Ok(if target == DataType::Float64 {
        (cast(left), cast(right))
    } else if left_text {
        (cast(left), right)
    } else {
        (left, cast(right))
    })
}

/// Whether an interval expression has a time of day part: `Some` for a literal (or a negated
/// one), `None` when it is not known before running.
fn interval_has_time(expr: &Expr) -> Option<bool> {
    match expr {
        Expr::Literal(value, _) => constant_interval_has_time(value),
        Expr::Negative(inner) | Expr::Alias(datafusion::logical_expr::expr::Alias { expr: inner, .. }) => interval_has_time(inner),
        _ => None,
    }
}

/// Whether a constant interval has a time of day part; `None` for NULL or a non-interval.
pub(super) fn constant_interval_has_time(value: &ScalarValue) -> Option<bool> {
    match value {
        ScalarValue::IntervalMonthDayNano(Some(v)) => Some(v.nanoseconds != 0),
        ScalarValue::IntervalDayTime(Some(v)) => Some(v.milliseconds != 0),
        ScalarValue::IntervalYearMonth(_) => Some(false),
        _ => None,
    }
}

fn is_date(t: &DataType) -> bool {
    matches!(t, DataType::Date32 | DataType::Date64)
}

/// `date ± interval` with hours, minutes or seconds is a TIMESTAMP in Spark
/// (`date '2012-01-01' - interval 3 hours` is `2011-12-31 21:00:00`); DataFusion would keep a
/// DATE and drop the time. The date becomes a timestamp first; an interval of whole days or
/// months keeps the DATE, as in Spark.
fn date_with_time_interval(expr: &RawBinaryExpr, left: &DataType, right: &DataType) -> Option<RawBinaryExpr> {
    let is_interval = |t: &DataType| matches!(t, DataType::Interval(_));
    let timestamp = |e: Expr| Expr::Cast(Cast::new(Box::new(e), DataType::Timestamp(TimeUnit::Microsecond, None)));
    if is_date(left) && is_interval(right) && interval_has_time(&expr.right) != Some(false) {
        return Some(RawBinaryExpr { op: expr.op.clone(), left: timestamp(expr.left.clone()), right: expr.right.clone() });
    }
    if is_interval(left) && is_date(right) && expr.op == BinaryOperator::Plus && interval_has_time(&expr.left) != Some(false) {
        return Some(RawBinaryExpr { op: expr.op.clone(), left: expr.left.clone(), right: timestamp(expr.right.clone()) });
    }
    None
}

/// Spark's implicit casts for `+` / `-` between a datetime and text or an untyped NULL:
///
/// - `date - '2001-09-28'` and `'2001-10-01' - date`: the text is a DATE;
/// - `ts - '2011-11-11 11:11:10'` and the reverse: the text is a TIMESTAMP;
/// - `'2017-12-11' ± interval 2 day` and `interval + text`: the text is a TIMESTAMP (the answer
///   is one);
/// - `date ± NULL` and `NULL + date`: the NULL is a number of days (the answer is NULL).
///
/// `None` when no operand needs it.
fn datetime_operands(expr: &RawBinaryExpr, left: &DataType, right: &DataType) -> Option<RawBinaryExpr> {
    use super::text_numbers::is_text;
    let is_timestamp = |t: &DataType| matches!(t, DataType::Timestamp(..));
    let is_interval = |t: &DataType| matches!(t, DataType::Interval(_) | DataType::Duration(_));
    let to = |e: &Expr, t: DataType| Expr::Cast(Cast::new(Box::new(e.clone()), t));
    let timestamp = DataType::Timestamp(TimeUnit::Nanosecond, None);
    let minus = expr.op == BinaryOperator::Minus;
    let (new_left, new_right) = if minus && (is_date(left) || is_timestamp(left)) && is_text(right) {
        (expr.left.clone(), to(&expr.right, left.clone()))
    } else if minus && is_text(left) && (is_date(right) || is_timestamp(right)) {
        (to(&expr.left, right.clone()), expr.right.clone())
    } else if is_text(left) && is_interval(right) {
        (to(&expr.left, timestamp), expr.right.clone())
    } else if !minus && is_interval(left) && is_text(right) {
        (expr.left.clone(), to(&expr.right, timestamp))
    } else if is_date(left) && right.is_null() {
        (expr.left.clone(), to(&expr.right, DataType::Int32))
    } else if !minus && left.is_null() && is_date(right) {
        (to(&expr.left, DataType::Int32), expr.right.clone())
    } else {
        return None;
    };
    Some(RawBinaryExpr { op: expr.op.clone(), left: new_left, right: new_right })
}

/// `date - date` is an INTERVAL DAY in Spark (`3 00:00:00`); DataFusion answers a number of days.
fn date_difference(expr: &RawBinaryExpr, left: &DataType, right: &DataType) -> Option<Expr> {
    if expr.op != BinaryOperator::Minus || !is_date(left) || !is_date(right) {
        return None;
    }
    let days = Expr::BinaryExpr(datafusion::logical_expr::BinaryExpr::new(
        Box::new(expr.left.clone()),
        Operator::Minus,
        Box::new(expr.right.clone()),
    ));
    let days = Expr::Cast(Cast::new(Box::new(days), DataType::Int32));
    Some(Expr::ScalarFunction(ScalarFunction::new_udf(datafusion_spark::function::datetime::make_dt_interval(), vec![days])))
}

/// `expr` as Spark types it when it is an integer literal that fits in an INT.
fn int_literal(expr: Expr) -> Expr {
    match expr {
        Expr::Literal(ScalarValue::Int64(Some(v)), metadata) => match i32::try_from(v) {
            Ok(int) => Expr::Literal(ScalarValue::Int32(Some(int)), metadata),
            Err(_) => Expr::Literal(ScalarValue::Int64(Some(v)), metadata),
        },
        other => other,
    }
}

impl ExprPlanner for SparkOperators {
    fn plan_binary_op(&self, expr: RawBinaryExpr, schema: &DFSchema) -> Result<PlannerResult<RawBinaryExpr>> {
        // An operator's integer literal operand that fits is an INT, as in Spark: `2147483647 + 1`
        // overflows, `1 << 31` is negative, `1 + 0.5` is a DECIMAL(12,1). (DataFusion types every
        // integer literal as BIGINT; elsewhere, as a function's argument, one still is.)
        let expr = RawBinaryExpr { op: expr.op, left: int_literal(expr.left), right: int_literal(expr.right) };
        // Text with a number: Spark's ANSI promotion first, then the operator as for numbers.
        let expr = match expr.op {
            BinaryOperator::Plus | BinaryOperator::Minus | BinaryOperator::Multiply | BinaryOperator::Modulo | BinaryOperator::Divide => {
                let (left, right) = promote_text(expr.left, expr.right, schema)?;
                // A FLOAT or DOUBLE with a DECIMAL: both DOUBLE, as Spark's DecimalPrecision.
                let (left_type, right_type) = (left.get_type(schema)?, right.get_type(schema)?);
                let fraction_and_decimal =
                    (left_type.is_floating() && right_type.is_decimal()) || (left_type.is_decimal() && right_type.is_floating());
                let (left, right) = if fraction_and_decimal {
                    let double = |e: Expr| Expr::Cast(Cast::new(Box::new(e), DataType::Float64));
                    (double(left), double(right))
                } else {
                    (left, right)
                };
                RawBinaryExpr { op: expr.op, left, right }
            }
            // Comparisons meet on Spark's common type: `1.5 = '1.51'` compares DOUBLEs (the
            // text was read as a DECIMAL(2,1) and rounded to 1.5: true), a FLOAT with a
            // DECIMAL as DOUBLEs, `'1' = true` as BOOLEANs.
            BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq
            | BinaryOperator::Spaceship => {
                let (left, right) = (expr.left.get_type(schema)?, expr.right.get_type(schema)?);
                match super::common_types::spark_pair(&left, &right) {
                    Some(common) => {
                        let to = |e: Expr, t: &DataType| if *t == common { e } else { Expr::Cast(Cast::new(Box::new(e), common.clone())) };
                        RawBinaryExpr { op: expr.op, left: to(expr.left, &left), right: to(expr.right, &right) }
                    }
                    None => expr,
                }
            }
            // `3 || 4.0` is '34.0': values that are not text (nor arrays or binary, which
            // `||` joins as such) are read as their text.
            BinaryOperator::StringConcat => {
                let (left, right) = (expr.left.get_type(schema)?, expr.right.get_type(schema)?);
                let joined_as_is = |t: &DataType| {
                    super::text_numbers::is_text(t)
                        || t.is_null()
                        || matches!(
                            t,
                            DataType::List(_)
                                | DataType::LargeList(_)
                                | DataType::FixedSizeList(..)
                                | DataType::Binary
                                | DataType::LargeBinary
                                | DataType::BinaryView
                        )
                };
                let lists = |t: &DataType| matches!(t, DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..));
                if lists(&left) || lists(&right) || (joined_as_is(&left) && joined_as_is(&right)) {
                    expr
                } else {
                    let text = |e: Expr, t: &DataType| if joined_as_is(t) { e } else { Expr::Cast(Cast::new(Box::new(e), DataType::Utf8)) };
                    RawBinaryExpr { op: expr.op, left: text(expr.left, &left), right: text(expr.right, &right) }
                }
            }
            _ => expr,
        };
        match expr.op {
            // Integers: overflow is an error, as in ANSI Spark (`checked`).
            BinaryOperator::Plus | BinaryOperator::Minus | BinaryOperator::Multiply => {
                let (left, right) = (expr.left.get_type(schema)?, expr.right.get_type(schema)?);
                if expr.op != BinaryOperator::Multiply {
                    if let Some(promoted) = datetime_operands(&expr, &left, &right) {
                        // Planned again with the operands' new types (a date with a time interval, ..).
                        return self.plan_binary_op(promoted, schema);
                    }
                    if let Some(interval) = date_difference(&expr, &left, &right) {
                        return Ok(PlannerResult::Planned(interval));
                    }
                    if let Some(expr) = date_with_time_interval(&expr, &left, &right) {
                        return Ok(PlannerResult::Original(expr));
                    }
                }
                if super::checked::is_checked_integer(&left) && super::checked::is_checked_integer(&right) {
                    let op = match expr.op {
                        BinaryOperator::Plus => '+',
                        BinaryOperator::Minus => '-',
                        _ => '*',
                    };
                    return Ok(PlannerResult::Planned(super::checked::combine(op, expr.left, expr.right)));
                }
                // Decimals (with decimals or integers): the result checked against its precision.
                let numeric = |t: &DataType| t.is_decimal() || t.is_integer();
                if (left.is_decimal() || right.is_decimal()) && numeric(&left) && numeric(&right) {
                    let op = match expr.op {
                        BinaryOperator::Plus => Operator::Plus,
                        BinaryOperator::Minus => Operator::Minus,
                        _ => Operator::Multiply,
                    };
                    if let Ok(result) = BinaryTypeCoercer::new(&left, &op, &right).get_result_type() {
                        return Ok(PlannerResult::Planned(super::decimal::checked_operation(op, expr.left, expr.right, &result)));
                    }
                }
                Ok(PlannerResult::Original(expr))
            }
            // Spark: `5 / 2` is 2.5 (both sides become DOUBLE unless one is a DECIMAL), and a
            // zero divisor is DIVIDE_BY_ZERO under ANSI mode.
            BinaryOperator::Divide => {
                let (left, right) = (expr.left.get_type(schema)?, expr.right.get_type(schema)?);
                if divides_as_double(&left) && divides_as_double(&right) {
                    let dividend = Expr::Cast(Cast::new(Box::new(expr.left), DataType::Float64));
                    let divisor = Expr::ScalarFunction(ScalarFunction::new_udf(functions::divisor(), vec![expr.right]));
                    return Ok(PlannerResult::Planned(dividend / divisor));
                }
                // A decimal over a decimal or an integer: Spark's precision and scale.
                if (left.is_decimal() || right.is_decimal())
                    && super::decimal::as_decimal(&left).is_some()
                    && super::decimal::as_decimal(&right).is_some()
                {
                    if decimal_quotients(&expr.left) >= MAX_DECIMAL_QUOTIENTS || decimal_quotients(&expr.right) >= MAX_DECIMAL_QUOTIENTS {
                        return plan_err!(
                            "more than {MAX_DECIMAL_QUOTIENTS} decimal divisions nested in one expression; divide as DOUBLE (CAST(x AS DOUBLE)) or split the expression"
                        );
                    }
                    let call = ScalarFunction::new_udf(functions::decimal_divide(), vec![expr.left, expr.right]);
                    return Ok(PlannerResult::Planned(Expr::ScalarFunction(call)));
                }
                Ok(PlannerResult::Original(expr))
            }
            // `a DIV b`: the quotient truncated to a BIGINT; a zero divisor is an error.
            BinaryOperator::MyIntegerDivide => {
                let (left, right) = (expr.left.get_type(schema)?, expr.right.get_type(schema)?);
                let bigint = |e: Expr| Expr::Cast(Cast::new(Box::new(e), DataType::Int64));
                let quotient = if left.is_integer() && right.is_integer() || left.is_null() || right.is_null() {
                    bigint(expr.left) / bigint(expr.right)
                } else {
                    bigint(Expr::ScalarFunction(ScalarFunction::new_udf(
                        datafusion::functions::math::trunc(),
                        vec![expr.left / expr.right],
                    )))
                };
                Ok(PlannerResult::Planned(quotient))
            }
            _ => Ok(PlannerResult::Original(expr)),
        }
    }

    fn plan_field_access(&self, expr: RawFieldAccessExpr, schema: &DFSchema) -> Result<PlannerResult<RawFieldAccessExpr>> {
        // Spark's `arr[i]` counts from 0 (`element_at` from 1); out of range is an error.
        if let GetFieldAccess::ListIndex { key } = &expr.field_access
            && matches!(expr.expr.get_type(schema)?, DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _))
        {
            let call = ScalarFunction::new_udf(functions::array_item(), vec![expr.expr, key.as_ref().clone()]);
            return Ok(PlannerResult::Planned(Expr::ScalarFunction(call)));
        }
        // A map's key is looked up as the map's key type (DataFusion compares the literal's own
        // type, so `m[1]` on a MAP<INT, _> failed with "Int64 == Int32"). A key that does not fit
        // the key type matches no entry: NULL, as Spark's widened comparison finds nothing.
        if let GetFieldAccess::ListIndex { key } = &expr.field_access
            && let DataType::Map(entries, _) = expr.expr.get_type(schema)?
            && let DataType::Struct(fields) = entries.data_type()
            && let Some(key_field) = fields.first()
            && key.get_type(schema)? != *key_field.data_type()
        {
            let key = Expr::TryCast(TryCast::new(key.clone(), key_field.data_type().clone()));
            return Ok(PlannerResult::Original(RawFieldAccessExpr {
                field_access: GetFieldAccess::ListIndex { key: Box::new(key) },
                expr: expr.expr,
            }));
        }
        Ok(PlannerResult::Original(expr))
    }
}
