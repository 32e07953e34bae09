//! The write-side NOT NULL check: `not_null_write(value, 'column')` passes `value` through and
//! fails the statement, naming the column, at the first NULL — as Delta on Spark reports
//! `DELTA_NOT_NULL_CONSTRAINT_VIOLATED`. Its result is typed NOT NULL, so a plan whose input
//! columns are nullable (every file read, every outer join) still writes a table's NOT NULL
//! column: NOT NULL is a check on the rows, not a mismatch of schemas.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};

/// The function's name, for writes that take their values as SQL text.
pub const NOT_NULL_CHECK_FUNCTION: &str = "not_null_write";

/// The check, to register with a session. Volatile, so a NULL literal is refused when a row
/// carries it, not when the statement is planned (`INSERT .. SELECT NULL WHERE false` writes
/// nothing and succeeds, as in Spark).
pub(crate) fn not_null_check_udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(NotNullCheck { signature: Signature::any(2, Volatility::Volatile) }))
}

/// `expr` as it is written to the NOT NULL column `column`.
pub fn not_null_check(expr: Expr, column: &str) -> Expr {
    not_null_check_udf().call(vec![expr, lit(column)])
}

/// [`not_null_check`] as SQL text, for writes that take their values as SQL text (MERGE).
/// `None` for a column name that would need quoting inside the literal.
pub fn not_null_check_sql(value_sql: &str, column: &str) -> Option<String> {
    column
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b' ')
        .then(|| format!("{NOT_NULL_CHECK_FUNCTION}({value_sql}, '{column}')"))
}

/// The error class every NOT NULL violation's message starts with (delta-rs passes the
/// error on as text, so the class is how it is recognized again).
pub const NOT_NULL_VIOLATION: &str = "[DELTA_NOT_NULL_CONSTRAINT_VIOLATED]";

/// The error for a NULL written to `column`, the same from every write path.
pub fn not_null_violation(column: &str) -> String {
    format!("{NOT_NULL_VIOLATION} NOT NULL constraint violated for column: {column}; nothing was written")
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct NotNullCheck {
    signature: Signature,
}

impl ScalarUDFImpl for NotNullCheck {
    fn name(&self) -> &str {
        NOT_NULL_CHECK_FUNCTION
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().cloned().unwrap_or(DataType::Null))
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let Some(value) = args.arg_fields.first() else { return exec_err!("{NOT_NULL_CHECK_FUNCTION} takes a value and a column name") };
        Ok(Arc::new(value.as_ref().clone().with_nullable(false)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let column = match args.args.get(1) {
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name)) | ScalarValue::Utf8View(Some(name)))) => name.clone(),
            _ => return exec_err!("{NOT_NULL_CHECK_FUNCTION} takes a value and a constant column name"),
        };
        let value = &args.args[0];
        let has_null = match value {
            ColumnarValue::Scalar(scalar) => scalar.is_null(),
            ColumnarValue::Array(array) => array.logical_null_count() > 0,
        };
        if has_null {
            return exec_err!("{}", not_null_violation(&column));
        }
        Ok(value.clone())
    }
}

/// `expr` with its value, and every field nested in it, typed nullable — the schema Spark gives
/// `CREATE TABLE .. AS SELECT` (a literal's or `range`'s NOT NULL is not the new table's).
pub fn nullable(expr: Expr) -> Expr {
    Arc::new(ScalarUDF::new_from_impl(Nullable { signature: Signature::any(1, Volatility::Immutable) })).call(vec![expr])
}

/// `data_type` with every nested field nullable.
fn all_nullable(data_type: &DataType) -> DataType {
    let field = |f: &FieldRef| Arc::new(f.as_ref().clone().with_data_type(all_nullable(f.data_type())).with_nullable(true));
    match data_type {
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(field).collect()),
        DataType::List(item) => DataType::List(field(item)),
        DataType::LargeList(item) => DataType::LargeList(field(item)),
        DataType::FixedSizeList(item, n) => DataType::FixedSizeList(field(item), *n),
        // A map's keys stay NOT NULL (Arrow requires it); its values may be NULL.
        DataType::Map(entries, sorted) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                let kv = vec![kv[0].clone(), field(&kv[1])];
                DataType::Map(Arc::new(entries.as_ref().clone().with_data_type(DataType::Struct(kv.into()))), *sorted)
            }
            _ => data_type.clone(),
        },
        other => other.clone(),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Nullable {
    signature: Signature,
}

impl ScalarUDFImpl for Nullable {
    fn name(&self) -> &str {
        "nullable"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().map(all_nullable).unwrap_or(DataType::Null))
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let Some(value) = args.arg_fields.first() else { return exec_err!("nullable takes one value") };
        // The value's own field, metadata (a CHAR(n)'s length, a comment) included.
        Ok(Arc::new(value.as_ref().clone().with_data_type(all_nullable(value.data_type())).with_nullable(true)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value) = args.args.first() else { return exec_err!("nullable takes one value") };
        let wanted = all_nullable(&value.data_type());
        if wanted == value.data_type() { Ok(value.clone()) } else { value.cast_to(&wanted, None) }
    }
}
