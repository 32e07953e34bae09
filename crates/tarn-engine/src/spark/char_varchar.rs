//! Spark's `CHAR(n)` and `VARCHAR(n)` columns. Stored as strings with the type in the field's
//! metadata under `__CHAR_VARCHAR_TYPE_STRING` (`char(5)`), as Spark and Delta store them, so
//! any Delta reader sees a string and Spark sees the declared type.
//!
//! - **Writes** ([`write_check`]): a `VARCHAR(n)` value longer than `n` characters loses trailing
//!   spaces down to `n`, and is an `EXCEED_LIMIT_LENGTH` error if still too long; a `CHAR(n)`
//!   value is checked the same way and padded with spaces to `n` (Spark's
//!   `CharVarcharCodegenUtils`).
//! - **Comparisons** ([`CharComparisons`]): a `CHAR(n)` column compared with a string constant
//!   or another `CHAR` column compares as if the shorter side were padded with spaces (Spark's
//!   `ApplyCharTypePadding`): `c = 'ab'` finds the stored `'ab   '`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::{BinaryExpr, InList};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};
use datafusion::optimizer::AnalyzerRule;

/// The field metadata key Spark (and Delta) keep a CHAR / VARCHAR column's type under.
pub const TYPE_METADATA_KEY: &str = "__CHAR_VARCHAR_TYPE_STRING";

/// A string column's declared length limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CharType {
    /// `CHAR(n)`: padded with spaces to `n`.
    Char(usize),
    /// `VARCHAR(n)`: at most `n` characters.
    Varchar(usize),
}

impl CharType {
    /// The declared type of a field, when its metadata has one.
    pub fn of_field(field: &Field) -> Option<CharType> {
        Self::parse(field.metadata().get(TYPE_METADATA_KEY)?)
    }

    /// `char(5)` / `varchar(6)`, any case.
    pub fn parse(text: &str) -> Option<CharType> {
        let text = text.trim().to_ascii_lowercase();
        let (kind, rest) = text.split_once('(')?;
        let n: usize = rest.strip_suffix(')')?.trim().parse().ok()?;
        match kind.trim() {
            "char" => Some(CharType::Char(n)),
            "varchar" => Some(CharType::Varchar(n)),
            _ => None,
        }
    }

    /// The type as Spark prints it (`char(5)`), also the metadata's value.
    pub fn name(&self) -> String {
        match self {
            CharType::Char(n) => format!("char({n})"),
            CharType::Varchar(n) => format!("varchar({n})"),
        }
    }

    fn limit(&self) -> usize {
        match self {
            CharType::Char(n) | CharType::Varchar(n) => *n,
        }
    }
}

/// The function name of the write-side check, `char_varchar_write(value, 'char(5)')`, for
/// writes that take their values as SQL text (MERGE).
pub const WRITE_CHECK_FUNCTION: &str = "char_varchar_write";

/// The write-side check, to register with a session.
pub(crate) fn write_check_udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(WriteCheck {
        signature: Signature::exact(vec![DataType::Utf8, DataType::Utf8], Volatility::Immutable),
    }))
}

/// `expr` as it is written to a column of type `kind` (checked, and padded for CHAR).
pub fn write_check(expr: Expr, kind: CharType) -> Expr {
    write_check_udf().call(vec![expr, lit(kind.name())])
}

/// [`write_check`] as SQL text.
pub fn write_check_sql(value_sql: &str, kind: CharType) -> String {
    format!("{WRITE_CHECK_FUNCTION}({value_sql}, '{}')", kind.name())
}

/// One value as Spark writes it to `kind`; `None` when it does not fit.
fn written(value: &str, kind: CharType) -> Option<String> {
    let limit = kind.limit();
    let chars = value.chars().count();
    let fitted = if chars > limit {
        // Only trailing spaces may go, and only as many as needed.
        let spaces = value.chars().rev().take_while(|c| *c == ' ').count();
        if chars - spaces.min(chars - limit) > limit {
            return None;
        }
        value.chars().take(limit).collect()
    } else {
        value.to_string()
    };
    Some(match kind {
        CharType::Char(n) => pad(&fitted, n),
        CharType::Varchar(_) => fitted,
    })
}

fn pad(value: &str, n: usize) -> String {
    let chars = value.chars().count();
    if chars >= n { value.to_string() } else { format!("{value}{}", " ".repeat(n - chars)) }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct WriteCheck {
    signature: Signature,
}

impl ScalarUDFImpl for WriteCheck {
    fn name(&self) -> &str {
        WRITE_CHECK_FUNCTION
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let kind = match args.args.get(1) {
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(text)) | ScalarValue::Utf8View(Some(text)))) => CharType::parse(text),
            _ => None,
        };
        let Some(kind) = kind else { return exec_err!("{WRITE_CHECK_FUNCTION} takes a value and a constant type, e.g. 'char(5)'") };
        let array = args.args[0].to_array(args.number_rows)?;
        let array = datafusion::arrow::compute::cast(&array, &DataType::Utf8)?;
        let strings = datafusion::common::cast::as_string_array(&array)?;
        let mut out = StringBuilder::with_capacity(strings.len(), strings.value_data().len());
        for value in strings.iter() {
            match value {
                None => out.append_null(),
                Some(value) => match written(value, kind) {
                    Some(fitted) => out.append_value(fitted),
                    None => {
                        return exec_err!(
                            "[EXCEED_LIMIT_LENGTH] Exceeds char/varchar type length limitation: {}. The value has {} characters; \
                             nothing was written",
                            kind.limit(),
                            value.chars().count()
                        );
                    }
                },
            }
        }
        let out: ArrayRef = Arc::new(out.finish());
        super::answer(&args.args, out)
    }
}

/// Pads the shorter side of comparisons with a `CHAR(n)` column.
#[derive(Debug, Default)]
pub(crate) struct CharComparisons;

/// The CHAR length of `expr`: a column (or a column under an alias) of a CHAR type.
fn char_length(expr: &Expr, schema: &DFSchema) -> Option<usize> {
    match expr {
        Expr::Column(_) => match expr.to_field(schema).ok()?.1.as_ref() {
            field if matches!(field.data_type(), DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8) => {
                match CharType::of_field(field)? {
                    CharType::Char(n) => Some(n),
                    CharType::Varchar(_) => None,
                }
            }
            _ => None,
        },
        _ => None,
    }
}

fn text_constant(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)), _) => Some(s),
        Expr::Cast(cast) => text_constant(&cast.expr),
        _ => None,
    }
}

fn rpad(expr: Expr, n: usize) -> Expr {
    datafusion::functions::unicode::expr_fn::rpad(vec![expr, lit(n as i64)])
}

fn padded_literal(text: &str, n: usize) -> Expr {
    lit(pad(text, n))
}

/// The two sides of a comparison with their CHAR padding applied, or `None` when neither is a CHAR column.
fn padded_pair(left: &Expr, right: &Expr, schema: &DFSchema) -> Option<(Expr, Expr)> {
    let (l, r) = (char_length(left, schema), char_length(right, schema));
    match (l, r) {
        (Some(a), Some(b)) if a < b => Some((rpad(left.clone(), b), right.clone())),
        (Some(a), Some(b)) if a > b => Some((left.clone(), rpad(right.clone(), a))),
        (Some(_), Some(_)) => None,
        (Some(n), None) => {
            let text = text_constant(right)?;
            let len = text.chars().count();
            if len < n {
                Some((left.clone(), padded_literal(text, n)))
            } else if len > n {
                Some((rpad(left.clone(), len), right.clone()))
            } else {
                None
            }
        }
        (None, Some(_)) => padded_pair(right, left, schema).map(|(r, l)| (l, r)),
        (None, None) => None,
    }
}

/// The operators that compare two values (and so depend on how strings compare).
pub(crate) fn is_comparison(op: &Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}

impl AnalyzerRule for CharComparisons {
    fn name(&self) -> &str {
        "spark_char_comparisons"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            let schema = merge_schema(&node.inputs());
            if schema.fields().iter().all(|f| CharType::of_field(f).is_none()) {
                return Ok(Transformed::no(node));
            }
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let saved = names.save(&expr);
                let rewritten = expr.transform_up(|e| match &e {
                    Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_comparison(op) => match padded_pair(left, right, &schema) {
                        Some((l, r)) => {
                            // Type coercion has run: each side keeps the type it had.
                            let l = l.cast_to(&left.get_type(&schema)?, &schema)?;
                            let r = r.cast_to(&right.get_type(&schema)?, &schema)?;
                            Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(Box::new(l), *op, Box::new(r)))))
                        }
                        None => Ok(Transformed::no(e)),
                    },
                    Expr::InList(InList { expr: inner, list, negated }) => match char_length(inner, &schema) {
                        Some(n) if list.iter().all(|item| text_constant(item).is_some()) => {
                            let longest = list.iter().filter_map(text_constant).map(|t| t.chars().count()).max().unwrap_or(0).max(n);
                            let column_type = inner.get_type(&schema)?;
                            let column = if longest > n { rpad(inner.as_ref().clone(), longest) } else { inner.as_ref().clone() };
                            let column = column.cast_to(&column_type, &schema)?;
                            let list = list
                                .iter()
                                .filter_map(text_constant)
                                .map(|t| padded_literal(t, longest).cast_to(&column_type, &schema))
                                .collect::<Result<Vec<_>>>()?;
                            Ok(Transformed::yes(Expr::InList(InList::new(Box::new(column), list, *negated))))
                        }
                        _ => Ok(Transformed::no(e)),
                    },
                    _ => Ok(Transformed::no(e)),
                })?;
                Ok(rewritten.update_data(|e| saved.restore(e)))
            })
        })
        .data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_pad_chars_and_trim_only_trailing_spaces() {
        assert_eq!(written("ab", CharType::Char(5)).as_deref(), Some("ab   "));
        assert_eq!(written("ab", CharType::Varchar(5)).as_deref(), Some("ab"));
        assert_eq!(written("Spark ", CharType::Varchar(5)).as_deref(), Some("Spark"));
        assert_eq!(written("NetEa  ", CharType::Char(6)).as_deref(), Some("NetEa "));
        assert_eq!(written("abcdef", CharType::Varchar(5)), None);
        assert_eq!(written("abc d ", CharType::Char(4)), None);
        assert_eq!(CharType::parse("CHAR(5)"), Some(CharType::Char(5)));
        assert_eq!(CharType::parse("varchar(6)").map(|t| t.name()).as_deref(), Some("varchar(6)"));
    }
}
