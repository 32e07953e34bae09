//! Binding parameters (`$n`, or `?` in order): each placeholder token is replaced by the SQL
//! literal of its value (rendered by DataFusion's unparser; strings quoted for the dialect),
//! then the statement is parsed as usual. Placeholders are found by the tokenizer, so one
//! inside a string or comment is left alone, and a value can never become SQL.

use datafusion::logical_expr::Expr;
use datafusion::scalar::ScalarValue;
use datafusion::sql::unparser::Unparser;
use sqlparser::tokenizer::Token;

use tarn_sql::SqlDialect;

use crate::tokens::tokens;

/// `sql` with every `$n` replaced by the literal of `values[n - 1]` and every `?` by the next
/// value in order; the rest of the text is kept byte for byte.
pub(crate) fn bind(sql: &str, values: &[ScalarValue], dialect: SqlDialect) -> Result<String, String> {
    let unparser = Unparser::default();
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut next_positional = 0;
    for (token, range) in tokens(sql, dialect)? {
        let Token::Placeholder(p) = &token else { continue };
        let index: usize = if p == "?" {
            next_positional += 1;
            next_positional
        } else {
            let Some(n) = p.strip_prefix('$') else { continue };
            n.parse().map_err(|_| format!("bad parameter placeholder {p}"))?
        };
        let value = index
            .checked_sub(1)
            .and_then(|i| values.get(i))
            .ok_or_else(|| format!("no value bound for parameter {p} ({} given)", values.len()))?;
        out.push_str(&sql[copied..range.start]);
        out.push('(');
        out.push_str(&literal_sql(&unparser, value, dialect)?);
        out.push(')');
        copied = range.end;
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

/// A SQL string literal of `dialect`: Postgres (standard_conforming_strings) doubles quotes
/// and keeps backslashes; Spark's dialect reads backslash escapes, so both are escaped there.
fn quote(s: &str, dialect: SqlDialect) -> String {
    match dialect {
        SqlDialect::Postgres => format!("'{}'", s.replace('\'', "''")),
        SqlDialect::Databricks => tarn_sql::string_literal(s),
    }
}

fn literal_sql(unparser: &Unparser, value: &ScalarValue, dialect: SqlDialect) -> Result<String, String> {
    // Strings and NULLs stay untyped so they take the type their context needs, as a
    // Postgres `unknown` literal does.
    match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => Ok(quote(s, dialect)),
        v if v.is_null() => Ok("NULL".into()),
        v => unparser
            .expr_to_sql(&Expr::Literal(v.clone(), None))
            .map(|e| e.to_string())
            .map_err(|e| format!("cannot use parameter value {v}: {e}")),
    }
}

/// The number of parameters: the highest `$n`, or the number of `?`s.
pub(crate) fn count(sql: &str, dialect: SqlDialect) -> usize {
    let tokens = tokens(sql, dialect).unwrap_or_default();
    let mut highest = 0;
    let mut positional = 0;
    for (token, _) in tokens {
        if let Token::Placeholder(p) = token {
            if p == "?" {
                positional += 1;
            } else if let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                highest = highest.max(n);
            }
        }
    }
    highest.max(positional)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_literals_not_sql() {
        let evil = ScalarValue::Utf8(Some("x'; DROP TABLE t; --\\".into()));
        let sql = bind("SELECT * FROM t WHERE name = $1 AND id = $2", &[evil.clone(), ScalarValue::Int64(Some(7))], SqlDialect::Postgres)
            .unwrap();
        assert_eq!(sql, "SELECT * FROM t WHERE name = ('x''; DROP TABLE t; --\\') AND id = (7)");
        let sql = bind("SELECT $1", &[evil], SqlDialect::Databricks).unwrap();
        // Spark's dialect reads backslash escapes: a trailing backslash must not end the quote.
        assert_eq!(sql, "SELECT ('x\\'; DROP TABLE t; --\\\\')");
        // The bound text parses back to exactly the value, in Tarn's own dialect too.
        let parsed = tarn_sql::parse_sql(&sql).unwrap();
        assert!(format!("{parsed:?}").contains("x'; DROP TABLE t; --\\\\"), "{parsed:?}");
    }

    #[test]
    fn the_rest_of_the_text_is_kept() {
        let sql = bind("SELECT 'it''s $1', $1", &[ScalarValue::Int32(Some(1))], SqlDialect::Postgres).unwrap();
        assert_eq!(sql, "SELECT 'it''s $1', (1)");
    }

    #[test]
    fn nulls_dates_and_reuse() {
        let sql = bind("VALUES ($1, $2, $1)", &[ScalarValue::Int32(None), ScalarValue::Date32(Some(19723))], SqlDialect::Postgres).unwrap();
        assert!(sql.starts_with("VALUES ((NULL), ("), "{sql}");
        assert!(sql.contains("2024-01-01"), "{sql}");
        assert!(sql.ends_with(", (NULL))"), "{sql}");
    }

    #[test]
    fn missing_values_are_an_error() {
        assert!(bind("SELECT $2", &[ScalarValue::Int32(Some(1))], SqlDialect::Postgres).is_err());
        assert_eq!(count("SELECT $1, $3, '$9'", SqlDialect::Postgres), 3);
    }

    #[test]
    fn question_marks_bind_in_order() {
        let values = [ScalarValue::Int64(Some(1)), ScalarValue::Utf8(Some("it's".into()))];
        let sql = bind("SELECT * FROM `t` WHERE id = ? AND name = ? AND note = '?'", &values, SqlDialect::Databricks).unwrap();
        assert_eq!(sql, "SELECT * FROM `t` WHERE id = (1) AND name = ('it\\'s') AND note = '?'");
        assert_eq!(count("SELECT ?, ?", SqlDialect::Databricks), 2);
    }
}
