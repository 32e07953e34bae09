//! Parsing Tarn SQL.
//!
//! Statements DataFusion understands (queries, EXPLAIN) are parsed by `sqlparser` as they are;
//! the Spark/Databricks/Delta statements are recognised by their leading words here and parsed
//! with `sqlparser`'s own building blocks (names, types, expressions, queries), so every
//! expression inside them has exactly DataFusion's grammar.

mod dialect;
mod limits;
mod literals;
mod statements;
mod words;

use dialect::TarnDialect;
use sqlparser::dialect::{Dialect, PostgreSqlDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::ast::Statement;
use crate::error::{Result, SqlError};

/// The dialect Tarn parses: Databricks (backtick identifiers, `VERSION AS OF`, ...).
pub fn dialect() -> TarnDialect {
    TarnDialect
}

/// Which SQL dialect the surface syntax follows. Tarn's own statements are the same in
/// both; the dialect decides quoting, casts, operators and parameter placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqlDialect {
    /// Spark/Databricks: backtick identifiers, `VERSION AS OF`. The default everywhere.
    #[default]
    Databricks,
    /// PostgreSQL: `"quoted"` identifiers, `::` casts, `$1` parameters (the pgwire front end).
    Postgres,
}

/// Parse a `;`-separated script into statements. Nothing runs until all of it parses.
pub fn parse_sql(sql: &str) -> Result<Vec<Statement>> {
    parse_sql_with(sql, SqlDialect::Databricks)
}

/// [`parse_sql`] in a chosen dialect.
pub fn parse_sql_with(sql: &str, dialect: SqlDialect) -> Result<Vec<Statement>> {
    match dialect {
        SqlDialect::Databricks => parse_in(sql, &TarnDialect),
        SqlDialect::Postgres => parse_in(sql, &PostgreSqlDialect {}),
    }
}

/// Refuse SQL that would nest deeper than Tarn plans safely (see `limits`). Every parser of
/// statement text calls this first — Tarn's, and any front end's own (pgwire's compatibility
/// parser).
pub fn check_nesting(sql: &str, dialect: SqlDialect) -> Result<()> {
    match dialect {
        SqlDialect::Databricks => check_nesting_in(sql, &TarnDialect),
        SqlDialect::Postgres => check_nesting_in(sql, &PostgreSqlDialect {}),
    }
}

fn check_nesting_in(sql: &str, dialect: &dyn Dialect) -> Result<()> {
    let tokens = sqlparser::tokenizer::Tokenizer::new(dialect, sql).tokenize().map_err(|e| SqlError::from_parser(e.into()))?;
    limits::check_depth(&tokens)
}

fn parse_in(sql: &str, dialect: &dyn Dialect) -> Result<Vec<Statement>> {
    let mut tokens =
        sqlparser::tokenizer::Tokenizer::new(dialect, sql).tokenize_with_location().map_err(|e| SqlError::from_parser(e.into()))?;
    limits::check_depth(&tokens.iter().map(|t| t.token.clone()).collect::<Vec<_>>())?;
    if dialect.is::<sqlparser::dialect::DatabricksDialect>() {
        tokens = literals::rewrite(tokens);
    }
    tokens = table_queries(tokens);
    tokens = pipe_set_operators(tokens);
    let parser = Parser::new(dialect).with_tokens_with_locations(tokens);
    let mut tp = TarnParser { p: parser };
    let mut out = Vec::new();
    loop {
        while tp.p.consume_token(&Token::SemiColon) {}
        if tp.p.peek_token().token == Token::EOF {
            break;
        }
        out.push(tp.parse_statement()?);
        let next = tp.p.peek_token();
        if !matches!(next.token, Token::SemiColon | Token::EOF) {
            return Err(SqlError::Parse(format!(
                "expected ';' or end of input after the statement, found '{}' at {}",
                next.token, next.span.start
            )));
        }
    }
    Ok(out)
}

/// `TABLE t` where a query starts (a statement's start, after a `(` that opens a query,
/// `UNION`, `EXCEPT`, `INTERSECT` and their `ALL` / `DISTINCT`) is `SELECT * FROM t`, in Spark and Postgres alike
/// (pipe syntax starts from it: `TABLE t |> WHERE ..`). sqlparser reads it only inside a query,
/// as a name without quotes or catalog, which DataFusion does not plan; as `SELECT * FROM` the
/// name is an ordinary table reference, resolved and authorized as every other.
fn table_queries(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    use sqlparser::keywords::Keyword;
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    for token in tokens {
        let is_table = matches!(&token.token, Token::Word(w) if w.keyword == Keyword::TABLE && w.quote_style.is_none());
        if is_table {
            let mut before = out.iter().rev().filter(|t| !matches!(t.token, Token::Whitespace(_))).map(|t| &t.token);
            let set_operator = |t: Option<&Token>| matches!(t, Some(Token::Word(w)) if matches!(w.keyword, Keyword::UNION | Keyword::EXCEPT | Keyword::INTERSECT | Keyword::MINUS));
            // After these a `(` opens a query, not a column list or a function's arguments.
            let opens_query = |t: Option<&Token>| {
                set_operator(t)
                    || matches!(t, None | Some(Token::LParen | Token::Comma))
                    || matches!(t, Some(Token::Word(w)) if matches!(w.keyword, Keyword::FROM | Keyword::JOIN | Keyword::IN | Keyword::EXISTS | Keyword::AS | Keyword::ALL | Keyword::DISTINCT))
            };
            let starts_query = match before.next() {
                None | Some(Token::SemiColon) => true,
                Some(Token::LParen) => opens_query(before.next()),
                Some(Token::Word(w)) if matches!(w.keyword, Keyword::ALL | Keyword::DISTINCT) => set_operator(before.next()),
                // Not after a bare `AS`: `SELECT 1 AS table` names a column.
                previous => set_operator(previous),
            };
            if starts_query {
                let span = token.span;
                let with_span = |token: Token| TokenWithSpan { token, span };
                out.push(with_span(Token::make_keyword("SELECT")));
                out.push(with_span(Token::Whitespace(sqlparser::tokenizer::Whitespace::Space)));
                out.push(with_span(Token::Mul));
                out.push(with_span(Token::Whitespace(sqlparser::tokenizer::Whitespace::Space)));
                out.push(with_span(Token::make_keyword("FROM")));
                continue;
            }
        }
        out.push(token);
    }
    out
}

/// Spark's pipe set operators as sqlparser reads them: `|> UNION ALL TABLE t` (a query term
/// without parentheses) gets them, up to the next `|>` at its depth, and `|> EXCEPT` /
/// `INTERSECT` / `MINUS` without a quantifier are `DISTINCT`, Spark's default (`MINUS` is
/// `EXCEPT`).
fn pipe_set_operators(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    use sqlparser::keywords::Keyword;
    let keyword = |t: &TokenWithSpan| match &t.token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    };
    let significant: Vec<usize> = (0..tokens.len()).filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_))).collect();
    // Where to insert `(` (before significant index) and `)`; which operators to rename.
    let mut open_at = Vec::new();
    let mut close_at = Vec::new();
    let mut distinct_after = Vec::new();
    let mut minus = Vec::new();
    for (k, &i) in significant.iter().enumerate() {
        if tokens[i].token != Token::VerticalBarRightAngleBracket {
            continue;
        }
        let Some(&op) = significant.get(k + 1) else { continue };
        let Some(op_keyword @ (Keyword::UNION | Keyword::EXCEPT | Keyword::INTERSECT | Keyword::MINUS)) = keyword(&tokens[op]) else {
            continue;
        };
        if op_keyword == Keyword::MINUS {
            minus.push(op);
        }
        let mut term = k + 2;
        match significant.get(term).and_then(|&t| keyword(&tokens[t])) {
            Some(Keyword::ALL | Keyword::DISTINCT) => term += 1,
            _ => distinct_after.push(op),
        }
        let Some(&first) = significant.get(term) else { continue };
        if tokens[first].token == Token::LParen {
            continue;
        }
        // The term runs to the next `|>`, `;` or unmatched `)` at its own depth.
        let mut depth = 0i32;
        let mut end = significant.len();
        for (j, &t) in significant.iter().enumerate().skip(term) {
            match tokens[t].token {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => {
                    end = j;
                    break;
                }
                Token::RParen => depth -= 1,
                Token::VerticalBarRightAngleBracket | Token::SemiColon | Token::EOF if depth == 0 => {
                    end = j;
                    break;
                }
                _ => {}
            }
        }
        open_at.push(first);
        close_at.push(significant.get(end).copied().unwrap_or(tokens.len()));
    }
    if open_at.is_empty() && distinct_after.is_empty() && minus.is_empty() {
        return tokens;
    }
    let span_of =
        |i: usize, tokens: &[TokenWithSpan]| tokens.get(i).or(tokens.last()).map(|t| t.span).unwrap_or(sqlparser::tokenizer::Span::empty());
    let mut out = Vec::with_capacity(tokens.len() + 2 * open_at.len());
    let spans: Vec<_> = (0..=tokens.len()).map(|i| span_of(i, &tokens)).collect();
    for (i, token) in tokens.into_iter().enumerate() {
        for _ in close_at.iter().filter(|&&c| c == i) {
            out.push(TokenWithSpan { token: Token::RParen, span: spans[i] });
        }
        for _ in open_at.iter().filter(|&&o| o == i) {
            out.push(TokenWithSpan { token: Token::LParen, span: spans[i] });
        }
        let span = token.span;
        if minus.contains(&i) {
            out.push(TokenWithSpan { token: Token::make_keyword("EXCEPT"), span });
        } else {
            out.push(token);
        }
        if distinct_after.contains(&i) {
            out.push(TokenWithSpan { token: Token::Whitespace(sqlparser::tokenizer::Whitespace::Space), span });
            out.push(TokenWithSpan { token: Token::make_keyword("DISTINCT"), span });
        }
    }
    let end = spans[spans.len() - 1];
    for _ in close_at.iter().filter(|&&c| c == spans.len() - 1) {
        out.push(TokenWithSpan { token: Token::RParen, span: end });
    }
    out
}

/// A table name written as text (`t`, `s.t`, `` c.`s`.t ``, `` delta.`/path` ``), as table
/// functions take it.
pub(crate) fn parse_object_name(text: &str) -> Result<sqlparser::ast::ObjectName> {
    let dialect = dialect();
    let mut parser = Parser::new(&dialect).try_with_sql(text).map_err(SqlError::from_parser)?;
    let name = parser.parse_object_name(false).map_err(SqlError::from_parser)?;
    if parser.peek_token().token != Token::EOF {
        return Err(SqlError::user(format!("'{text}' is not a table name")));
    }
    Ok(name)
}

/// A column list as text (`a INT, b STRING NOT NULL`), as `read_files(schema => ..)` takes it.
pub(crate) fn parse_column_list(text: &str) -> Result<Vec<crate::ast::ColumnSpec>> {
    let dialect = dialect();
    let parser = Parser::new(&dialect).try_with_sql(text).map_err(SqlError::from_parser)?;
    let mut tp = TarnParser { p: parser };
    let mut columns = vec![tp.column_spec()?];
    while tp.p.consume_token(&Token::Comma) {
        columns.push(tp.column_spec()?);
    }
    if tp.p.peek_token().token != Token::EOF {
        return Err(SqlError::user(format!("'{text}' is not a column list like 'a INT, b STRING'")));
    }
    Ok(columns)
}

/// Split a script into the source text of its statements (for echoing and history).
pub fn split_statements(sql: &str) -> Vec<String> {
    let dialect = dialect();
    let Ok(tokens) = sqlparser::tokenizer::Tokenizer::new(&dialect, sql).tokenize() else {
        return vec![sql.trim().to_string()];
    };
    let mut out = Vec::new();
    let mut current = String::new();
    for token in tokens {
        if token == Token::SemiColon {
            if !current.trim().is_empty() {
                out.push(current.trim().to_string());
            }
            current.clear();
        } else {
            current.push_str(&token.to_string());
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

pub(crate) struct TarnParser<'a> {
    pub(crate) p: Parser<'a>,
}

#[cfg(test)]
mod tests;
