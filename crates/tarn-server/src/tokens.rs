//! SQL tokens with their byte ranges in the original text. Rebuilding SQL from token
//! `Display` would lose escapes (`'it''s'` displays as `'it's'`), so statements are split
//! and parameters substituted by slicing the text the client sent.

use std::ops::Range;

use sqlparser::dialect::{DatabricksDialect, Dialect, PostgreSqlDialect};
use sqlparser::tokenizer::{Location, Token, Tokenizer};
use tarn_sql::SqlDialect;

fn grammar(dialect: SqlDialect) -> Box<dyn Dialect> {
    match dialect {
        SqlDialect::Postgres => Box::new(PostgreSqlDialect {}),
        SqlDialect::Databricks => Box::new(DatabricksDialect {}),
    }
}

/// Every token of `sql` with the byte range it covers.
pub(crate) fn tokens(sql: &str, dialect: SqlDialect) -> Result<Vec<(Token, Range<usize>)>, String> {
    let dialect = grammar(dialect);
    let spanned = Tokenizer::new(dialect.as_ref(), sql).tokenize_with_location().map_err(|e| e.to_string())?;
    // Byte offset of every (line, column) position; both are 1-based, columns count chars.
    let mut line_starts = vec![0usize];
    for (i, c) in sql.char_indices() {
        if c == '\n' {
            line_starts.push(i + 1);
        }
    }
    let offset = |loc: Location| -> usize {
        let line = (loc.line as usize).saturating_sub(1);
        let Some(&start) = line_starts.get(line) else { return sql.len() };
        let column = (loc.column as usize).saturating_sub(1);
        sql[start..].char_indices().nth(column).map_or(sql.len(), |(i, _)| start + i)
    };
    Ok(spanned
        .into_iter()
        .map(|t| {
            let range = offset(t.span.start)..offset(t.span.end);
            (t.token, range)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_slice_the_original_text() {
        let sql = "SELECT 'it''s'\n  , $1 -- ünïcode\n;";
        let toks = tokens(sql, SqlDialect::Postgres).unwrap();
        let texts: Vec<&str> = toks.iter().map(|(_, r)| &sql[r.clone()]).collect();
        assert!(texts.contains(&"'it''s'"), "{texts:?}");
        assert!(texts.contains(&"$1"), "{texts:?}");
        assert_eq!(texts.concat(), sql);
    }
}
