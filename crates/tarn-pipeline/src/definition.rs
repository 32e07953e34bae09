//! Reading a pipeline's `.sql` files into datasets (Spark Declarative Pipelines / DLT SQL):
//!
//! ```sql
//! CREATE OR REFRESH STREAMING TABLE name [(CONSTRAINT c EXPECT (cond) [ON VIOLATION ...], col TYPE, ...)]
//!   [PARTITIONED BY (col, ...)] [COMMENT '...'] [TBLPROPERTIES ('k' = 'v', ...)]
//!   AS SELECT ... FROM STREAM(source) | STREAM read_files('path', ...) | table ...;
//! CREATE OR REFRESH MATERIALIZED VIEW name ... AS SELECT ...;
//! ```
//!
//! `STREAM` marks the inputs a streaming table reads incrementally. The words are found in the
//! token stream (so positions stay the file's own, for error messages), removed, and the query is
//! then an ordinary query: every input relation is renamed to a placeholder (`__tarn_in_N`) that
//! an update binds to exactly the data it reads.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::Path;

use sha2::{Digest, Sha256};
use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Ident, ObjectName, Query, TableAlias, TableFactor, Value, Visit, VisitMut, Visitor, VisitorMut,
};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::error::{PipelineError, Result};

/// What a dataset is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// Appends what is new in its streaming inputs at each update.
    StreamingTable,
    /// Holds its query's result, refreshed incrementally where the query allows it.
    MaterializedView,
}

impl DatasetKind {
    pub fn label(self) -> &'static str {
        match self {
            DatasetKind::StreamingTable => "streaming table",
            DatasetKind::MaterializedView => "materialized view",
        }
    }
}

/// What to do with a row that violates an expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Keep it and count it (the default).
    Warn,
    /// Drop it and count it (`ON VIOLATION DROP ROW`).
    Drop,
    /// Fail the dataset's update; nothing is committed to it (`ON VIOLATION FAIL UPDATE`).
    Fail,
    /// Move it, with the rule's name, to `<dataset>_quarantine` (`ON VIOLATION QUARANTINE`).
    Quarantine,
}

impl Action {
    pub fn label(self) -> &'static str {
        match self {
            Action::Warn => "warn",
            Action::Drop => "drop",
            Action::Fail => "fail",
            Action::Quarantine => "quarantine",
        }
    }
}

/// `CONSTRAINT name EXPECT (condition) [ON VIOLATION action]`.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub name: String,
    /// The condition as SQL; a row passes when it is true (false and NULL violate).
    pub condition: String,
    pub action: Action,
}

/// Where an input's rows come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A table: a dataset of this pipeline or a table of the warehouse (lower-cased name as
    /// written). `stream`: read incrementally (`STREAM(t)`).
    Table { name: String, stream: bool },
    /// `STREAM read_files(...)`: new files, each once. `call` is the call as SQL (also the
    /// key its progress is recorded under).
    Files { args: Vec<FunctionArg>, call: String },
}

/// One relation a dataset's query reads, renamed to `placeholder` in [`Dataset::query`].
#[derive(Debug, Clone)]
pub struct Input {
    pub placeholder: String,
    pub source: Source,
}

/// A declared column: `name TYPE` (the query's column of that name is cast to it).
#[derive(Debug, Clone)]
pub struct DeclaredColumn {
    pub name: String,
    pub data_type: String,
}

/// One `CREATE OR REFRESH ...` statement.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub kind: DatasetKind,
    pub expectations: Vec<Expectation>,
    pub columns: Vec<DeclaredColumn>,
    pub partitioned_by: Vec<String>,
    pub comment: Option<String>,
    pub properties: Vec<(String, String)>,
    /// The query, inputs renamed to their placeholders.
    pub query: Query,
    pub inputs: Vec<Input>,
    /// `file line N`, for messages.
    pub at: String,
    /// Changes whenever the definition does (a materialized view with a new definition is
    /// recomputed in full).
    pub fingerprint: i64,
    /// The query calls `read_files` or `table_changes` directly (inputs that are no table).
    pub calls_table_functions: bool,
}

impl Dataset {
    /// The streaming inputs (those an update reads only the new part of).
    pub fn streams(&self) -> impl Iterator<Item = &Input> {
        self.inputs.iter().filter(|i| matches!(i.source, Source::Files { .. } | Source::Table { stream: true, .. }))
    }
}

pub(crate) const STREAM_READ_FILES: &str = "__tarn_stream_read_files";
const READ_FILES: &str = "read_files";

fn word_is(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

fn syntax(file: &str, line: u64, column: u64, message: impl Into<String>) -> PipelineError {
    PipelineError::Syntax { at: format!("{file} line {line}, column {column}"), message: message.into() }
}

/// A parser error, placed at its own "Line: N, Column: M" if it has one, else at `fallback`.
fn parse_error(file: &str, error: ParserError, fallback: (u64, u64), end: (u64, u64)) -> PipelineError {
    let text = error.to_string();
    let text = text.strip_prefix("sql parser error: ").unwrap_or(&text).to_string();
    if text.contains("found: EOF") && !text.contains(" at Line: ") {
        return syntax(file, end.0, end.1, format!("{text} (the statement ends too early)"));
    }
    if let Some(pos) = text.rfind(" at Line: ") {
        let place = &text[pos + " at Line: ".len()..];
        let mut parts = place.split(", Column: ");
        let line = parts.next().and_then(|l| l.trim().parse().ok());
        let column = parts.next().and_then(|c| c.trim().parse().ok());
        if let (Some(line), Some(column)) = (line, column) {
            return syntax(file, line, column, text[..pos].to_string());
        }
    }
    syntax(file, fallback.0, fallback.1, text)
}

/// The tokens without `STREAM` markers (and DLT's `LIVE.` prefixes); the names read as
/// streams are returned lower-cased.
fn strip_stream_markers(tokens: Vec<TokenWithSpan>) -> (Vec<TokenWithSpan>, HashSet<String>) {
    let significant = |t: &TokenWithSpan| !matches!(t.token, Token::Whitespace(_));
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut streams = HashSet::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        let previous = out.iter().rev().find(|t| significant(t)).map(|t| t.token.clone());
        let in_from =
            matches!(&previous, Some(Token::Comma)) || previous.as_ref().is_some_and(|p| word_is(p, "from") || word_is(p, "join"));
        let next_index = (i + 1..tokens.len()).find(|&j| significant(&tokens[j]));
        if word_is(&token.token, "live")
            && let Some(j) = next_index
            && tokens[j].token == Token::Period
            && in_from
        {
            i = j + 1;
            continue;
        }
        if word_is(&token.token, "stream")
            && in_from
            && let Some(j) = next_index
        {
            let next = &tokens[j].token;
            if word_is(next, READ_FILES) {
                let mut renamed = tokens[j].clone();
                if let Token::Word(w) = &mut renamed.token {
                    w.value = STREAM_READ_FILES.to_string();
                    w.keyword = Keyword::NoKeyword;
                }
                out.push(renamed);
                i = j + 1;
                continue;
            }
            // STREAM(name) or STREAM name: the name's words and dots.
            let parenthesized = *next == Token::LParen;
            let mut k = if parenthesized { j + 1 } else { j };
            let mut name = String::new();
            let mut name_tokens = Vec::new();
            while k < tokens.len() {
                match &tokens[k].token {
                    Token::Word(w) => name.push_str(&w.value.to_ascii_lowercase()),
                    Token::Period => name.push('.'),
                    Token::Whitespace(_) if parenthesized => {}
                    _ => break,
                }
                name_tokens.push(tokens[k].clone());
                k += 1;
            }
            let closed = !parenthesized || tokens.get(k).is_some_and(|t| t.token == Token::RParen);
            if !name.is_empty() && closed {
                let name = name.strip_prefix("live.").unwrap_or(&name).to_string();
                streams.insert(name);
                let skip_live = name_tokens.len() >= 2 && word_is(&name_tokens[0].token, "live");
                out.extend(name_tokens.into_iter().skip(if skip_live { 2 } else { 0 }));
                i = if parenthesized { k + 1 } else { k };
                continue;
            }
        }
        out.push(token.clone());
        i += 1;
    }
    (out, streams)
}

/// Split tokens at top-level semicolons.
fn split(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for token in tokens {
        match token.token {
            Token::SemiColon => out.push(std::mem::take(&mut current)),
            Token::EOF => {}
            _ => current.push(token),
        }
    }
    out.push(current);
    out.into_iter().filter(|s| s.iter().any(|t| !matches!(t.token, Token::Whitespace(_)))).collect()
}

fn eat_word(p: &mut Parser, word: &str) -> bool {
    if word_is(&p.peek_token().token, word) {
        p.next_token();
        true
    } else {
        false
    }
}

/// "Expected: `what`, found: <next token>" at the next token's place.
fn expected(p: &Parser, what: &str) -> ParserError {
    let found = p.peek_token();
    ParserError::ParserError(format!(
        "Expected: {what}, found: {} at Line: {}, Column: {}",
        found.token, found.span.start.line, found.span.start.column
    ))
}

fn expect_word(p: &mut Parser, word: &str) -> Result<(), ParserError> {
    if eat_word(p, word) {
        return Ok(());
    }
    Err(expected(p, &word.to_ascii_uppercase()))
}

fn string_literal(p: &mut Parser) -> Result<String, ParserError> {
    p.parse_literal_string()
}

struct Header {
    name: String,
    kind: DatasetKind,
    expectations: Vec<Expectation>,
    columns: Vec<DeclaredColumn>,
    partitioned_by: Vec<String>,
    comment: Option<String>,
    properties: Vec<(String, String)>,
    query: Query,
}

fn parse_statement(p: &mut Parser) -> Result<Header, ParserError> {
    p.expect_keyword(Keyword::CREATE)?;
    if p.parse_keyword(Keyword::OR) {
        expect_word(p, "refresh")?;
    }
    let kind = if eat_word(p, "streaming") {
        eat_word(p, "live");
        p.expect_keyword(Keyword::TABLE)?;
        DatasetKind::StreamingTable
    } else if p.parse_keywords(&[Keyword::MATERIALIZED, Keyword::VIEW]) {
        DatasetKind::MaterializedView
    } else if eat_word(p, "live") {
        p.expect_keyword(Keyword::TABLE)?;
        DatasetKind::MaterializedView
    } else {
        return Err(expected(p, "STREAMING TABLE or MATERIALIZED VIEW (a pipeline file holds only its datasets' definitions)"));
    };
    let name = p.parse_object_name(false)?;
    let name = match name.0.as_slice() {
        [part] => part.as_ident().map(|i| i.value.to_ascii_lowercase()),
        _ => None,
    }
    .ok_or_else(|| {
        ParserError::ParserError(format!("a dataset's name is one word; its catalog and schema come from pipeline.toml (got {name})"))
    })?;
    let mut expectations = Vec::new();
    let mut columns = Vec::new();
    if p.consume_token(&Token::LParen) {
        loop {
            if p.parse_keyword(Keyword::CONSTRAINT) {
                let rule = p.parse_identifier()?.value;
                expect_word(p, "expect")?;
                p.expect_token(&Token::LParen)?;
                let condition = p.parse_expr()?;
                p.expect_token(&Token::RParen)?;
                let action = if p.parse_keyword(Keyword::ON) {
                    expect_word(p, "violation")?;
                    if p.parse_keyword(Keyword::DROP) {
                        p.expect_keyword(Keyword::ROW)?;
                        Action::Drop
                    } else if p.parse_keyword(Keyword::FAIL) || eat_word(p, "fail") {
                        p.expect_keyword(Keyword::UPDATE)?;
                        Action::Fail
                    } else if eat_word(p, "quarantine") {
                        Action::Quarantine
                    } else {
                        return Err(expected(p, "DROP ROW, FAIL UPDATE or QUARANTINE"));
                    }
                } else {
                    Action::Warn
                };
                expectations.push(Expectation { name: rule, condition: tarn_sql::sql_text(&condition), action });
            } else {
                let column = p.parse_column_def()?;
                columns.push(DeclaredColumn { name: column.name.value.to_ascii_lowercase(), data_type: column.data_type.to_string() });
            }
            if p.consume_token(&Token::Comma) {
                continue;
            }
            p.expect_token(&Token::RParen)?;
            break;
        }
    }
    let mut partitioned_by = Vec::new();
    let mut comment = None;
    let mut properties = Vec::new();
    loop {
        if p.parse_keywords(&[Keyword::PARTITIONED, Keyword::BY]) {
            p.expect_token(&Token::LParen)?;
            loop {
                partitioned_by.push(p.parse_identifier()?.value.to_ascii_lowercase());
                if !p.consume_token(&Token::Comma) {
                    break;
                }
            }
            p.expect_token(&Token::RParen)?;
        } else if p.parse_keyword(Keyword::COMMENT) {
            comment = Some(string_literal(p)?);
        } else if p.parse_keyword(Keyword::TBLPROPERTIES) {
            p.expect_token(&Token::LParen)?;
            loop {
                let key = string_literal(p)?;
                p.expect_token(&Token::Eq)?;
                let value = string_literal(p)?;
                properties.push((key, value));
                if !p.consume_token(&Token::Comma) {
                    break;
                }
            }
            p.expect_token(&Token::RParen)?;
        } else {
            break;
        }
    }
    p.expect_keyword(Keyword::AS)?;
    let query = *p.parse_query()?;
    if p.peek_token().token != Token::EOF {
        return Err(expected(p, "end of statement (;)"));
    }
    Ok(Header { name, kind, expectations, columns, partitioned_by, comment, properties, query })
}

/// Names the query defines itself (CTEs), which are not inputs.
#[derive(Default)]
struct Ctes(HashSet<String>);

impl Visitor for Ctes {
    type Break = ();
    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.0.insert(cte.alias.name.value.to_ascii_lowercase());
            }
        }
        ControlFlow::Continue(())
    }
}

/// Renames input relations to placeholders; makes relative `read_files` paths absolute.
struct Inputs<'a> {
    ctes: HashSet<String>,
    streams: HashSet<String>,
    dir: &'a Path,
    found: Vec<Input>,
    calls_table_functions: bool,
}

fn lower_name(name: &ObjectName) -> String {
    name.0.iter().map(|p| p.as_ident().map(|i| i.value.to_ascii_lowercase()).unwrap_or_default()).collect::<Vec<_>>().join(".")
}

impl Inputs<'_> {
    fn absolute_path(&self, args: &mut [FunctionArg]) {
        if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))) = args.first_mut()
            && let Value::SingleQuotedString(path) = &mut v.value
            && !path.contains("://")
            && !Path::new(path.as_str()).is_absolute()
        {
            let joined = self.dir.join(path.as_str());
            let keep_slash = path.ends_with('/');
            *path = joined.to_string_lossy().into_owned();
            if keep_slash && !path.ends_with('/') {
                path.push('/');
            }
        }
    }

    fn placeholder(&mut self, source: Source) -> ObjectName {
        let existing = self.found.iter().find(|i| i.source == source).map(|i| i.placeholder.clone());
        let placeholder = existing.unwrap_or_else(|| {
            let p = format!("__tarn_in_{}", self.found.len());
            self.found.push(Input { placeholder: p.clone(), source });
            p
        });
        ObjectName::from(vec![Ident::new(placeholder)])
    }
}

impl VisitorMut for Inputs<'_> {
    type Break = ();
    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table { name, alias, args, version, .. } = factor else {
            return ControlFlow::Continue(());
        };
        if version.is_some() {
            return ControlFlow::Continue(()); // a pinned version is not an input that changes
        }
        let lower = lower_name(name);
        let default_alias = |alias: &mut Option<TableAlias>, last: &str| {
            if alias.is_none() {
                *alias = Some(TableAlias { explicit: true, name: Ident::new(last), columns: vec![], at: None });
            }
        };
        match args {
            Some(call) if lower == STREAM_READ_FILES => {
                self.absolute_path(&mut call.args);
                let text = format!("read_files({})", call.args.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "));
                let source = Source::Files { args: call.args.clone(), call: text };
                *name = self.placeholder(source);
                *args = None;
                default_alias(alias, READ_FILES);
            }
            Some(call) if lower == READ_FILES => {
                self.absolute_path(&mut call.args);
                self.calls_table_functions = true;
            }
            Some(_) => self.calls_table_functions = true,
            None => {
                if !lower.contains('.') && self.ctes.contains(&lower) {
                    return ControlFlow::Continue(());
                }
                let last = name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_default();
                let stream = self.streams.contains(&lower);
                *name = self.placeholder(Source::Table { name: lower, stream });
                default_alias(alias, &last);
            }
        }
        ControlFlow::Continue(())
    }
}

fn fingerprint(header: &Header) -> i64 {
    let mut hash = Sha256::new();
    hash.update(header.kind.label());
    hash.update(header.query.to_string());
    for e in &header.expectations {
        hash.update(format!("{}|{}|{}", e.name, e.condition, e.action.label()));
    }
    for c in &header.columns {
        hash.update(format!("{} {}", c.name, c.data_type));
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes) & i64::MAX
}

/// The datasets defined in one file. `file` names it in messages; relative `read_files`
/// paths are taken relative to `dir` (the pipeline's folder).
pub fn parse_file(file: &str, text: &str, dir: &Path) -> Result<Vec<Dataset>> {
    let dialect = tarn_sql::parser::dialect();
    let tokens = Tokenizer::new(&dialect, text)
        .tokenize_with_location()
        .map_err(|e| parse_error(file, ParserError::TokenizerError(e.to_string()), (1, 1), (1, 1)))?;
    let tokens: Vec<TokenWithSpan> = tokens
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_))))
        .collect();
    let (tokens, streams) = strip_stream_markers(tokens);
    let mut out = Vec::new();
    for statement in split(tokens) {
        let start = statement
            .iter()
            .find(|t| !matches!(t.token, Token::Whitespace(_)))
            .map(|t| (t.span.start.line, t.span.start.column))
            .unwrap_or((1, 1));
        let end = statement
            .iter()
            .rev()
            .find(|t| !matches!(t.token, Token::Whitespace(_)))
            .map(|t| (t.span.end.line, t.span.end.column))
            .unwrap_or(start);
        let mut parser = Parser::new(&dialect).with_tokens_with_locations(statement);
        let mut header = parse_statement(&mut parser).map_err(|e| parse_error(file, e, start, end))?;
        let mut ctes = Ctes::default();
        let _ = header.query.visit(&mut ctes);
        let mut inputs = Inputs { ctes: ctes.0, streams: streams.clone(), dir, found: Vec::new(), calls_table_functions: false };
        let _ = VisitMut::visit(&mut header.query, &mut inputs);
        let fingerprint = fingerprint(&header);
        out.push(Dataset {
            name: header.name,
            kind: header.kind,
            expectations: header.expectations,
            columns: header.columns,
            partitioned_by: header.partitioned_by,
            comment: header.comment,
            properties: header.properties,
            query: header.query,
            inputs: inputs.found,
            at: format!("{file} line {}", start.0),
            fingerprint,
            calls_table_functions: inputs.calls_table_functions,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Dataset {
        let mut all = parse_file("t.sql", sql, Path::new("/p")).expect("parses");
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    #[test]
    fn stream_markers_become_streaming_inputs() {
        let d = one(
            "CREATE OR REFRESH STREAMING TABLE silver (\n  CONSTRAINT valid EXPECT (id IS NOT NULL) ON VIOLATION DROP ROW,\n  CONSTRAINT pos EXPECT (amount > 0) ON VIOLATION FAIL UPDATE,\n  CONSTRAINT q EXPECT (x < 3) ON VIOLATION QUARANTINE,\n  CONSTRAINT recent EXPECT (ts > '2020-01-01')\n) COMMENT 'c' AS SELECT s.*, c.name FROM STREAM(bronze) s JOIN customers c ON s.cid = c.id",
        );
        assert_eq!(d.kind, DatasetKind::StreamingTable);
        let actions: Vec<Action> = d.expectations.iter().map(|e| e.action).collect();
        assert_eq!(actions, [Action::Drop, Action::Fail, Action::Quarantine, Action::Warn]);
        assert_eq!(d.comment.as_deref(), Some("c"));
        let sources: Vec<&Source> = d.inputs.iter().map(|i| &i.source).collect();
        assert_eq!(
            sources,
            [&Source::Table { name: "bronze".into(), stream: true }, &Source::Table { name: "customers".into(), stream: false }]
        );
        let sql = d.query.to_string();
        assert!(sql.contains("FROM __tarn_in_0 s JOIN __tarn_in_1 c"), "{sql}");
    }

    #[test]
    fn stream_read_files_paths_are_relative_to_the_pipeline() {
        let d = one("CREATE STREAMING TABLE b AS SELECT * FROM STREAM read_files('landing/', format => 'json')");
        let Source::Files { call, .. } = &d.inputs[0].source else { panic!("{:?}", d.inputs) };
        assert_eq!(call, "read_files('/p/landing/', format => 'json')");
        assert!(d.query.to_string().contains("FROM __tarn_in_0 AS read_files"));
    }

    #[test]
    fn ctes_and_a_column_named_stream_are_not_inputs() {
        let d = one("CREATE MATERIALIZED VIEW g AS WITH x AS (SELECT stream FROM LIVE.t) SELECT count(*) FROM x");
        assert_eq!(d.inputs.len(), 1);
        assert_eq!(d.inputs[0].source, Source::Table { name: "t".into(), stream: false });
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let err = parse_file(
            "orders.sql",
            "CREATE MATERIALIZED VIEW a AS SELECT 1;\n\nCREATE OR REFRESH STREAMING TABLE b AS\n  SELECT FROM WHERE",
            Path::new("/"),
        )
        .expect_err("does not parse");
        let text = err.to_string();
        assert!(text.starts_with("orders.sql line 4"), "{text}");
        let err = parse_file("x.sql", "CREATE TABLE t AS SELECT 1", Path::new("/")).expect_err("not a dataset");
        assert!(err.to_string().contains("x.sql line 1, column 8") && err.to_string().contains("STREAMING TABLE"), "{err}");
    }
}
