//! Integer `+`, `-` and `*` as ANSI Spark computes them: an overflow is the error
//! `ARITHMETIC_OVERFLOW`, never a wrapped number (`2147483647 + 1` over two INTs is an error;
//! DataFusion's operators silently give `-2147483648`).
//!
//! DataFusion's `BinaryExpr` can check overflow, but only when built by hand, and its planner
//! never does. A function per operator would do, but DataFusion's planning of functions nested
//! in functions grows with the cube of the depth, and `a + b + c + ...` is as deep as it is
//! long. So a call can hold a tree of integer arithmetic: its operands are the leaves, and its
//! first argument is the tree as a postfix program (`"xx+x*"` is `(a + b) * c`, one `x` per
//! operand in order, an operator after its two operands). `operators` builds a call per
//! operator as the SQL planner folds each one in, until calls nest [`MAX_NESTING`] deep; then
//! the next operator merges them into one, so no chain nests deeper. A call evaluates operator by
//! operator in Spark's order, each step in the wider of its two operand types (INT + INT is
//! an INT, INT + BIGINT a BIGINT), as Spark's type coercion would have cast them.
//!
//! Its column name is the operators' own (`a + b * c`), so results and `ORDER BY` / `GROUP BY`
//! by name read as before.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Datum};
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::arrow::error::ArrowError;
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// The function's name, as EXPLAIN shows it.
const NAME: &str = "spark_checked_arithmetic";

/// Operand slots in a program are marked with this letter.
const OPERAND: char = 'x';

/// The signed integer types Spark has (TINYINT .. BIGINT), whose arithmetic is checked here.
pub(crate) fn is_checked_integer(t: &DataType) -> bool {
    matches!(t, DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64)
}

/// The wider of two integer types: the type Spark computes `a op b` in.
fn wider(a: &DataType, b: &DataType) -> DataType {
    let width = |t: &DataType| t.primitive_width().unwrap_or(8);
    if width(a) >= width(b) { a.clone() } else { b.clone() }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct CheckedArithmetic {
    signature: Signature,
}

/// The call's UDF.
pub(crate) fn udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(CheckedArithmetic { signature: Signature::user_defined(Volatility::Immutable) }))
}

/// How deep calls may nest before the next operator merges them into one. Nested calls keep
/// each operator's subexpression whole, as `GROUP BY a + 1` needs to find it in
/// `SELECT a + 1 + 1`; merging keeps a long chain's plan cheap.
const MAX_NESTING: usize = 16;

/// How deep checked calls nest in `expr` (0 when it is not one).
fn nesting(expr: &Expr) -> usize {
    match expr {
        Expr::ScalarFunction(call) if call.func.name() == NAME => 1 + call.args.iter().skip(1).map(nesting).max().unwrap_or(0),
        _ => 0,
    }
}

/// `left op right` as one checked call; `op` is `+`, `-` or `*`. A side that is a call nested
/// [`MAX_NESTING`] deep is merged into this one (its program inlined).
pub(crate) fn combine(op: char, left: Expr, right: Expr) -> Expr {
    let mut program = String::new();
    let mut args = vec![Expr::Literal(ScalarValue::Utf8(None), None)];
    for side in [left, right] {
        let merge = nesting(&side) >= MAX_NESTING;
        match side {
            Expr::ScalarFunction(call) if merge => {
                let mut inner = call.args.into_iter();
                if let Some(Expr::Literal(ScalarValue::Utf8(Some(p)), _)) = inner.next() {
                    program.push_str(&p);
                }
                args.extend(inner);
            }
            other => {
                program.push(OPERAND);
                args.push(other);
            }
        }
    }
    program.push(op);
    args[0] = Expr::Literal(ScalarValue::Utf8(Some(program)), None);
    Expr::ScalarFunction(ScalarFunction::new_udf(udf(), args))
}

/// Whether `expr` is such a call (it cannot be text).
pub(crate) fn is_call(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarFunction(call) if call.func.name() == NAME)
}

/// One step of a program.
enum Step {
    Operand,
    Operator(char),
}

/// A call's program from its first argument, checked against its operand count.
fn program(first: Option<&ScalarValue>, operands: usize) -> Result<Vec<Step>> {
    let Some(ScalarValue::Utf8(Some(text))) = first else {
        return plan_err!("{NAME} needs its program as a text literal");
    };
    let mut depth = 0usize;
    let mut seen = 0usize;
    let mut steps = Vec::with_capacity(text.len());
    for c in text.chars() {
        match c {
            OPERAND => {
                depth += 1;
                seen += 1;
                steps.push(Step::Operand);
            }
            '+' | '-' | '*' if depth >= 2 => {
                depth -= 1;
                steps.push(Step::Operator(c));
            }
            _ => return plan_err!("{NAME}: malformed program '{text}'"),
        }
    }
    if depth != 1 || seen != operands {
        return plan_err!("{NAME}: program '{text}' does not fit {operands} operands");
    }
    Ok(steps)
}

/// Run `steps` over `operands`, with `apply` doing one operator.
fn run<T>(steps: &[Step], operands: impl IntoIterator<Item = T>, mut apply: impl FnMut(char, T, T) -> Result<T>) -> Result<T> {
    let mut operands = operands.into_iter();
    let mut stack: Vec<T> = Vec::new();
    for step in steps {
        match step {
            Step::Operand => match operands.next() {
                Some(operand) => stack.push(operand),
                None => return exec_err!("{NAME}: too few operands"),
            },
            Step::Operator(op) => {
                let (Some(right), Some(left)) = (stack.pop(), stack.pop()) else {
                    return exec_err!("{NAME}: malformed program");
                };
                stack.push(apply(*op, left, right)?);
            }
        }
    }
    match (stack.pop(), stack.is_empty()) {
        (Some(result), true) => Ok(result),
        _ => exec_err!("{NAME}: malformed program"),
    }
}

/// Spark's overflow error for `op`.
fn overflow(op: char, t: &DataType, detail: &str) -> DataFusionError {
    let (type_name, function) = (
        match t {
            DataType::Int8 => "tinyint",
            DataType::Int16 => "smallint",
            DataType::Int32 => "integer",
            _ => "long",
        },
        match op {
            '+' => "try_add",
            '-' => "try_subtract",
            _ => "try_multiply",
        },
    );
    DataFusionError::Execution(format!(
        "[ARITHMETIC_OVERFLOW] {type_name} overflow ({detail}). Use `{function}` to tolerate overflow and return NULL instead."
    ))
}

/// `left op right` in type `t`, checked.
fn apply(op: char, left: ColumnarValue, right: ColumnarValue, t: &DataType) -> Result<ColumnarValue> {
    let scalar = matches!((&left, &right), (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)));
    let (left, right) = (left.cast_to(t, None)?, right.cast_to(t, None)?);
    fn datum(v: &ColumnarValue) -> Result<Box<dyn Datum>> {
        Ok(match v {
            ColumnarValue::Array(a) => Box::new(a.clone()),
            ColumnarValue::Scalar(s) => Box::new(s.to_scalar()?),
        })
    }
    let (l, r) = (datum(&left)?, datum(&right)?);
    let result: std::result::Result<ArrayRef, ArrowError> = match op {
        '+' => numeric::add(l.as_ref(), r.as_ref()),
        '-' => numeric::sub(l.as_ref(), r.as_ref()),
        _ => numeric::mul(l.as_ref(), r.as_ref()),
    };
    let array = match result {
        Ok(array) => array,
        Err(ArrowError::ArithmeticOverflow(detail)) => return Err(overflow(op, t, &detail)),
        Err(e) => return Err(e.into()),
    };
    Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?) } else { ColumnarValue::Array(array) })
}

impl ScalarUDFImpl for CheckedArithmetic {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        Ok(args.to_vec())
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        plan_err!("{NAME} types its result from its program (return_field_from_args)")
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let Some((_, operands)) = args.arg_fields.split_first() else {
            return plan_err!("{NAME} needs a program");
        };
        let steps = program(args.scalar_arguments.first().copied().flatten(), operands.len())?;
        for field in operands {
            if !is_checked_integer(field.data_type()) && !field.data_type().is_null() {
                return plan_err!("{NAME} takes integers, not {}", field.data_type());
            }
        }
        let t = run(&steps, operands.iter().map(|f| f.data_type().clone()), |_, l, r| Ok(wider(&l, &r)))?;
        let nullable = operands.iter().any(|f| f.is_nullable());
        Ok(Arc::new(Field::new(NAME, t, nullable)))
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        // The name DataFusion gives the operators it replaces: `a + b * c`, unparenthesized.
        let Some((Expr::Literal(first, _), operands)) = args.split_first() else {
            return plan_err!("{NAME} needs a program");
        };
        let steps = program(Some(first), operands.len())?;
        let names = operands.iter().map(|e| e.schema_name().to_string()).collect::<Vec<_>>();
        run(&steps, names, |op, l, r| Ok(format!("{l} {op} {r}")))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some((ColumnarValue::Scalar(first), operands)) = args.args.split_first() else {
            return exec_err!("{NAME} needs a program");
        };
        let steps = program(Some(first), operands.len())?;
        let typed = operands.iter().cloned().zip(args.arg_fields.iter().skip(1).map(|f| f.data_type().clone()));
        let (value, _) = run(&steps, typed, |op, (l, lt), (r, rt)| {
            let t = wider(&lt, &rt);
            Ok((apply(op, l, r, &t)?, t))
        })?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    #[test]
    fn calls_nest_then_merge_into_one_postfix_program() {
        let program = |e: &Expr| match e {
            Expr::ScalarFunction(call) => call.args[0].clone(),
            _ => panic!("not a call"),
        };
        let ab = combine('+', col("a"), col("b"));
        let nested = combine('-', ab, col("c"));
        assert_eq!(program(&nested), lit("xx-"));
        assert_eq!(nesting(&nested), 2);
        let mut chain = col("a");
        for _ in 0..MAX_NESTING {
            chain = combine('+', chain, lit(1));
        }
        assert_eq!(nesting(&chain), MAX_NESTING);
        let merged = combine('*', chain, col("d"));
        assert_eq!(program(&merged), lit("xx+x*"));
        assert_eq!(nesting(&merged), MAX_NESTING);
    }

    #[test]
    fn malformed_programs_are_refused() {
        let text = |s: &str| ScalarValue::Utf8(Some(s.into()));
        assert!(program(Some(&text("xx+")), 2).is_ok());
        assert!(program(Some(&text("x+")), 1).is_err());
        assert!(program(Some(&text("xxx+")), 3).is_err());
        assert!(program(Some(&text("xx/")), 2).is_err());
        assert!(program(Some(&text("xx+")), 3).is_err());
    }
}
