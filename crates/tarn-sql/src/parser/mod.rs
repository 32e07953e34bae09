//! Parsing Tarn SQL.
//!
//! Statements DataFusion understands (queries, EXPLAIN) are parsed by `sqlparser` as they are;
//! the Spark/Databricks/Delta statements are recognised by their leading words here and parsed
//! with `sqlparser`'s own building blocks (names, types, expressions, queries), so every
//! expression inside them has exactly DataFusion's grammar.

mod dialect;
mod functions;
mod identifier_clause;
mod limits;
pub(crate) mod literals;
mod queries;
mod statements;
mod words;

use dialect::TarnDialect;
use sqlparser::dialect::{Dialect, PostgreSqlDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

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

/// `node` as SQL text that Tarn's parser reads back to the same node. The dialect reads
/// backslash escapes in string literals as Spark does (`'\\d'` is `\d`), and sqlparser prints a
/// literal's value as it is, so the backslashes are escaped again here. Every place that keeps
/// SQL as text to parse later (a view's query, a SQL function's body, a constraint, a
/// pipeline's query) or builds SQL around a parsed part prints it with this.
pub fn sql_text<T: sqlparser::ast::VisitMut + Clone + std::fmt::Display>(node: &T) -> String {
    struct Escape;
    impl sqlparser::ast::VisitorMut for Escape {
        type Break = ();
        fn pre_visit_value(&mut self, value: &mut sqlparser::ast::ValueWithSpan) -> std::ops::ControlFlow<()> {
            use sqlparser::ast::Value;
            if let Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) = &mut value.value
                && s.contains('\\')
            {
                *s = s.replace('\\', "\\\\");
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut node = node.clone();
    let _ = node.visit(&mut Escape);
    node.to_string()
}

/// `text` as a string literal of Tarn's (Spark's) dialect: backslashes and quotes escaped,
/// so the literal reads back as exactly `text` and nothing in it can end the string early.
pub fn string_literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Where a token is, for a message: `line 1, column 8` (sqlparser's own `Location` display
/// starts with " at ", which doubled the word in Tarn's messages).
pub(crate) fn place(location: sqlparser::tokenizer::Location) -> String {
    format!("line {}, column {}", location.line, location.column)
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
    let databricks = dialect.is::<sqlparser::dialect::DatabricksDialect>();
    // Spark's string escapes are Tarn's to read (`literals::spark_strings`).
    let mut tokens = sqlparser::tokenizer::Tokenizer::new(dialect, sql)
        .with_unescape(!databricks)
        .tokenize_with_location()
        .map_err(|e| SqlError::from_parser(e.into()))?;
    limits::check_depth(&tokens.iter().map(|t| t.token.clone()).collect::<Vec<_>>())?;
    if databricks {
        tokens = literals::spark_strings(tokens);
        tokens = literals::rewrite(tokens);
        tokens = literals::collated_string_types(tokens);
        tokens = literals::trim_without_characters(tokens);
        tokens = identifier_clause::resolve(tokens)?;
        tokens = queries::time_travel_suffixes(tokens);
        tokens = queries::file_relations(tokens);
    }
    tokens = queries::ctes_before_insert(tokens);
    tokens = queries::bare_values(tokens);
    tokens = queries::aliased_values(tokens);
    tokens = queries::table_queries(tokens);
    tokens = queries::pipe_set_operators(tokens);
    let parser = Parser::new(dialect).with_tokens_with_locations(tokens);
    let spark = !dialect.is::<PostgreSqlDialect>();
    let mut tp = TarnParser { p: parser, spark };
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
                next.token,
                place(next.span.start)
            )));
        }
    }
    Ok(out)
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

/// An expression written as text (a SQL function's body or a parameter's default).
pub(crate) fn parse_expr(text: &str) -> Result<sqlparser::ast::Expr> {
    let dialect = dialect();
    let mut parser = Parser::new(&dialect).try_with_sql(text).map_err(SqlError::from_parser)?;
    let expr = parser.parse_expr().map_err(SqlError::from_parser)?;
    if parser.peek_token().token != Token::EOF {
        return Err(SqlError::user(format!("'{text}' is not one expression")));
    }
    Ok(expr)
}

/// A SQL type written as text (`INT`, `ARRAY<STRING>`).
pub(crate) fn parse_data_type(text: &str) -> Result<sqlparser::ast::DataType> {
    let dialect = dialect();
    let mut parser = Parser::new(&dialect).try_with_sql(text).map_err(SqlError::from_parser)?;
    let data_type = parser.parse_data_type().map_err(SqlError::from_parser)?;
    if parser.peek_token().token != Token::EOF {
        return Err(SqlError::user(format!("'{text}' is not a type")));
    }
    Ok(data_type)
}

/// A column list as text (`a INT, b STRING NOT NULL`), as `read_files(schema => ..)` takes it.
pub(crate) fn parse_column_list(text: &str) -> Result<Vec<crate::ast::ColumnSpec>> {
    let dialect = dialect();
    let parser = Parser::new(&dialect).try_with_sql(text).map_err(SqlError::from_parser)?;
    let mut tp = TarnParser { p: parser, spark: true };
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

/// The line (1-based) each statement of `sql` starts on, in the order [`split_statements`]
/// returns them — for errors that name the statement of a script that failed.
pub fn statement_lines(sql: &str) -> Vec<u64> {
    let dialect = dialect();
    let Ok(tokens) = sqlparser::tokenizer::Tokenizer::new(&dialect, sql).tokenize_with_location() else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    let mut start: Option<u64> = None;
    for token in tokens {
        match token.token {
            Token::SemiColon => {
                if let Some(line) = start.take() {
                    lines.push(line);
                }
            }
            Token::Whitespace(_) => {}
            _ => {
                start.get_or_insert(token.span.start.line);
            }
        }
    }
    lines.extend(start);
    lines
}

pub(crate) struct TarnParser<'a> {
    pub(crate) p: Parser<'a>,
    /// Reading Spark's dialect (not the Postgres front end's).
    pub(crate) spark: bool,
}

#[cfg(test)]
mod tests;
