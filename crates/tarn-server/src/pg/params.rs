//! Binding `$n` parameters: each placeholder token is replaced by the SQL literal of its
//! value (rendered by DataFusion's unparser, so quoting and typing are DataFusion's), then
//! the statement is parsed as usual. Substitution works on tokens, never on raw text, so a
//! value can never become SQL.

use datafusion::logical_expr::Expr;
use datafusion::scalar::ScalarValue;
use datafusion::sql::unparser::Unparser;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// How string values are quoted: Postgres doubles quotes and keeps backslashes; Spark SQL
/// (the dialect Tarn falls back to) treats backslash as an escape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quoting {
    Postgres,
    Spark,
}

/// `sql` with every `$n` replaced by the literal of `values[n - 1]`; the rest of the text is
/// kept byte for byte.
pub(crate) fn bind(sql: &str, values: &[ScalarValue], quoting: Quoting) -> Result<String, String> {
    let unparser = Unparser::default();
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    for (token, range) in super::tokens::tokens(sql)? {
        let Token::Placeholder(p) = &token else { continue };
        let Some(index) = p.strip_prefix('$') else { continue };
        let index: usize = index.parse().map_err(|_| format!("bad parameter placeholder {p}"))?;
        let value = index
            .checked_sub(1)
            .and_then(|i| values.get(i))
            .ok_or_else(|| format!("no value bound for parameter {p} ({} given)", values.len()))?;
        out.push_str(&sql[copied..range.start]);
        out.push('(');
        out.push_str(&literal_sql(&unparser, value, quoting)?);
        out.push(')');
        copied = range.end;
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

fn quote(s: &str, quoting: Quoting) -> String {
    match quoting {
        Quoting::Postgres => format!("'{}'", s.replace('\'', "''")),
        Quoting::Spark => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
    }
}

fn literal_sql(unparser: &Unparser, value: &ScalarValue, quoting: Quoting) -> Result<String, String> {
    // Strings and NULLs stay untyped so they take the type their context needs, as a
    // Postgres `unknown` literal does.
    match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            Ok(quote(s, quoting))
        }
        v if v.is_null() => Ok("NULL".into()),
        v => unparser
            .expr_to_sql(&Expr::Literal(v.clone(), None))
            .map(|e| e.to_string())
            .map_err(|e| format!("cannot use parameter value {v}: {e}")),
    }
}

/// The number of distinct `$n` placeholders (the highest n).
pub(crate) fn count(sql: &str) -> usize {
    Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize()
        .unwrap_or_default()
        .iter()
        .filter_map(|t| match t {
            Token::Placeholder(p) => p.strip_prefix('$')?.parse::<usize>().ok(),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_literals_not_sql() {
        let evil = ScalarValue::Utf8(Some("x'; DROP TABLE t; --\\".into()));
        let sql = bind("SELECT * FROM t WHERE name = $1 AND id = $2", &[evil.clone(), ScalarValue::Int64(Some(7))], Quoting::Postgres)
            .unwrap();
        assert_eq!(sql, "SELECT * FROM t WHERE name = ('x''; DROP TABLE t; --\\') AND id = (7)");
        let sql = bind("SELECT $1", &[evil], Quoting::Spark).unwrap();
        assert_eq!(sql, "SELECT ('x\\'; DROP TABLE t; --\\\\')");
    }

    #[test]
    fn the_rest_of_the_text_is_kept() {
        let sql = bind("SELECT 'it''s $1', $1", &[ScalarValue::Int32(Some(1))], Quoting::Postgres).unwrap();
        assert_eq!(sql, "SELECT 'it''s $1', (1)");
    }

    #[test]
    fn nulls_dates_and_reuse() {
        let sql = bind("VALUES ($1, $2, $1)", &[ScalarValue::Int32(None), ScalarValue::Date32(Some(19723))], Quoting::Postgres)
            .unwrap();
        assert!(sql.starts_with("VALUES ((NULL), ("), "{sql}");
        assert!(sql.contains("2024-01-01"), "{sql}");
        assert!(sql.ends_with(", (NULL))"), "{sql}");
    }

    #[test]
    fn missing_values_are_an_error() {
        assert!(bind("SELECT $2", &[ScalarValue::Int32(Some(1))], Quoting::Postgres).is_err());
        assert_eq!(count("SELECT $1, $3, '$9'"), 3);
    }
}
