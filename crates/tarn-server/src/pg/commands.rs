//! Statements only Postgres clients send: transaction control, `SET`/`SHOW` of session
//! settings, `DISCARD`, ... Tarn commits every statement on its own, so `BEGIN`/`COMMIT` are
//! accepted for compatibility (clients and drivers send them unasked) and change nothing.

use std::collections::BTreeMap;

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// A statement answered by the Postgres front end itself.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PgCommand {
    Begin,
    Commit,
    Rollback,
    /// `SET [SESSION|LOCAL] name {TO|=} value`
    Set {
        name: String,
        value: String,
    },
    /// `SHOW name` (a Postgres setting, not one of Tarn's SHOW statements).
    Show {
        name: String,
    },
    ShowAll,
    /// Accepted and ignored, answering with this command tag.
    Ignored(&'static str),
    /// `DECLARE name CURSOR FOR query`: run the query, keep its stream open.
    Declare {
        name: String,
        query: String,
    },
    /// `FETCH [FORWARD] [n | ALL] [FROM | IN] name`; `None` is ALL.
    Fetch {
        name: String,
        count: Option<usize>,
    },
    /// `CLOSE name` / `CLOSE ALL` (`None`).
    Close {
        name: Option<String>,
    },
    /// `COPY {table | (query)} TO STDOUT [WITH (...)]`.
    CopyOut(CopyOut),
    /// A Postgres COPY Tarn does not do, with the message saying what to use instead.
    CopyRefused(String),
}

/// What `COPY ... TO STDOUT` sends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CopyOut {
    /// The query whose rows are copied.
    pub query: String,
    pub format: CopyFormat,
    pub header: bool,
    pub delimiter: Option<char>,
    pub null: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CopyFormat {
    Text,
    Csv,
    Binary,
}

/// The statement texts of a `;`-separated script, split with Postgres' tokenizer (so a `;`
/// inside a string or quoted name does not split), each exactly as the client wrote it.
pub(crate) fn split(sql: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut significant = false;
    for (token, range) in crate::tokens::tokens(sql, tarn_sql::SqlDialect::Postgres)? {
        match token {
            Token::SemiColon => {
                if significant {
                    out.push(sql[start..range.start].trim().to_string());
                }
                start = range.end;
                significant = false;
            }
            Token::Whitespace(_) => {}
            _ => significant = true,
        }
    }
    if significant {
        out.push(sql[start..].trim().to_string());
    }
    Ok(out)
}

/// The significant tokens of `sql` as upper-case words / literal text.
fn words(sql: &str) -> Vec<Token> {
    Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| {
            !matches!(
                t,
                Token::Whitespace(Whitespace::Space | Whitespace::Newline | Whitespace::Tab)
                    | Token::Whitespace(Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_))
                    | Token::SemiColon
            )
        })
        .collect()
}

fn word(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

/// Tarn's own SHOW statements; anything else after SHOW is a Postgres setting.
const TARN_SHOW: &[&str] =
    &["TABLES", "SCHEMAS", "DATABASES", "CATALOGS", "CREATE", "TBLPROPERTIES", "COLUMNS", "GRANTS", "USERS", "SHARES", "RECIPIENTS"];

/// Recognise a Postgres-only statement.
pub(crate) fn classify(sql: &str) -> Option<PgCommand> {
    let tokens = words(sql);
    let w: Vec<Option<String>> = tokens.iter().map(word).collect();
    let first = w.first()?.as_deref()?;
    let second = w.get(1).cloned().flatten();
    match first {
        "BEGIN" | "START" => Some(PgCommand::Begin),
        "COMMIT" | "END" => Some(PgCommand::Commit),
        "ROLLBACK" | "ABORT" => match second.as_deref() {
            // ROLLBACK TO SAVEPOINT keeps the transaction open.
            Some("TO") => Some(PgCommand::Ignored("ROLLBACK")),
            _ => Some(PgCommand::Rollback),
        },
        "SAVEPOINT" => Some(PgCommand::Ignored("SAVEPOINT")),
        "RELEASE" => Some(PgCommand::Ignored("RELEASE")),
        "DISCARD" => Some(PgCommand::Ignored("DISCARD ALL")),
        "DEALLOCATE" => Some(PgCommand::Ignored("DEALLOCATE")),
        "RESET" => Some(PgCommand::Ignored("RESET")),
        "LISTEN" => Some(PgCommand::Ignored("LISTEN")),
        "UNLISTEN" => Some(PgCommand::Ignored("UNLISTEN")),
        "CLOSE" => match tokens.get(1) {
            Some(t) if word(t).as_deref() == Some("ALL") => Some(PgCommand::Close { name: None }),
            Some(t) => Some(PgCommand::Close { name: Some(ident(t)) }),
            None => None,
        },
        "DECLARE" => classify_declare(sql),
        "COPY" if second.as_deref() != Some("INTO") => Some(classify_copy(sql)),
        "FETCH" => classify_fetch(&tokens[1..]),
        "SET" => classify_set(&tokens[1..]),
        "SHOW" => {
            let rest: Vec<String> = tokens[1..].iter().map(|t| t.to_string()).collect();
            match rest.as_slice() {
                [] => None,
                [one] if one.eq_ignore_ascii_case("ALL") => Some(PgCommand::ShowAll),
                [one] if !TARN_SHOW.iter().any(|k| one.eq_ignore_ascii_case(k)) => {
                    Some(PgCommand::Show { name: one.trim_matches('"').to_ascii_lowercase() })
                }
                _ if rest.join(" ").eq_ignore_ascii_case("TRANSACTION ISOLATION LEVEL") => {
                    Some(PgCommand::Show { name: "transaction_isolation".into() })
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// A cursor name as Postgres folds it: quoted names keep their case.
fn ident(t: &Token) -> String {
    match t {
        Token::Word(w) if w.quote_style.is_some() => w.value.clone(),
        Token::Word(w) => w.value.to_ascii_lowercase(),
        other => other.to_string(),
    }
}

fn classify_declare(sql: &str) -> Option<PgCommand> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let significant: Vec<(usize, &Token)> = tokens.iter().enumerate().filter(|(_, t)| !matches!(t, Token::Whitespace(_))).collect();
    let name = ident(significant.get(1)?.1);
    // DECLARE name [BINARY] [ASENSITIVE | INSENSITIVE] [[NO] SCROLL] CURSOR [{WITH | WITHOUT} HOLD] FOR query
    let cursor_at = significant.iter().position(|(_, t)| word(t).as_deref() == Some("CURSOR"))?;
    let for_at = significant[cursor_at..].iter().position(|(_, t)| word(t).as_deref() == Some("FOR"))? + cursor_at;
    let start = significant.get(for_at + 1)?.0;
    let query: String = tokens[start..].iter().map(|t| t.to_string()).collect();
    Some(PgCommand::Declare { name, query: query.trim().trim_end_matches(';').to_string() })
}

fn classify_copy(sql: &str) -> PgCommand {
    use sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement};
    if let Err(e) = tarn_sql::check_nesting(sql, tarn_sql::SqlDialect::Postgres) {
        return PgCommand::CopyRefused(e.to_string());
    }
    let parsed = sqlparser::parser::Parser::parse_sql(&PostgreSqlDialect {}, sql);
    let Ok(Some(Statement::Copy { source, to, target, options, legacy_options, .. })) = parsed.map(|mut s| s.pop()) else {
        return PgCommand::CopyRefused("cannot parse this COPY statement; Tarn supports COPY {table | (query)} TO STDOUT [WITH (FORMAT csv|text|binary, HEADER, DELIMITER 'c', NULL 's')]".into());
    };
    if !to || target != CopyTarget::Stdout {
        return PgCommand::CopyRefused(
            "only COPY ... TO STDOUT is supported over the Postgres protocol; load data with INSERT or \
             COPY INTO table FROM 'path' FILEFORMAT = CSV|JSON|PARQUET"
                .into(),
        );
    }
    let query = match source {
        CopySource::Table { table_name, columns } if columns.is_empty() => format!("SELECT * FROM {table_name}"),
        CopySource::Table { table_name, columns } => {
            let columns: Vec<String> = columns.iter().map(ToString::to_string).collect();
            format!("SELECT {} FROM {table_name}", columns.join(", "))
        }
        CopySource::Query(query) => query.to_string(),
    };
    let mut copy = CopyOut { query, format: CopyFormat::Text, header: false, delimiter: None, null: None };
    for option in options {
        match option {
            CopyOption::Format(name) => {
                copy.format = match name.value.to_ascii_lowercase().as_str() {
                    "csv" => CopyFormat::Csv,
                    "text" => CopyFormat::Text,
                    "binary" => CopyFormat::Binary,
                    other => {
                        return PgCommand::CopyRefused(format!("COPY format \"{other}\" not recognized; use csv, text or binary"));
                    }
                }
            }
            CopyOption::Header(h) => copy.header = h,
            CopyOption::Delimiter(c) => copy.delimiter = Some(c),
            CopyOption::Null(n) => copy.null = Some(n),
            other => {
                return PgCommand::CopyRefused(format!("COPY option {other} is not supported"));
            }
        }
    }
    for option in legacy_options {
        match option {
            CopyLegacyOption::Binary => copy.format = CopyFormat::Binary,
            CopyLegacyOption::Csv(csv) => {
                copy.format = CopyFormat::Csv;
                copy.header |= csv.contains(&CopyLegacyCsvOption::Header);
            }
            CopyLegacyOption::Header => copy.header = true,
            CopyLegacyOption::Delimiter(c) => copy.delimiter = Some(c),
            CopyLegacyOption::Null(n) => copy.null = Some(n),
            other => {
                return PgCommand::CopyRefused(format!("COPY option {other} is not supported"));
            }
        }
    }
    if copy.header && copy.format != CopyFormat::Csv {
        return PgCommand::CopyRefused("COPY HEADER is available only in CSV mode".into());
    }
    PgCommand::CopyOut(copy)
}

fn classify_fetch(tokens: &[Token]) -> Option<PgCommand> {
    let mut rest = tokens;
    let mut count = Some(1);
    match rest.first().and_then(word).as_deref() {
        Some("FORWARD" | "NEXT") => {
            rest = &rest[1..];
        }
        Some("ALL") => {
            count = None;
            rest = &rest[1..];
        }
        _ => {}
    }
    match rest.first() {
        Some(Token::Number(n, _)) => {
            count = Some(n.parse().ok()?);
            rest = &rest[1..];
        }
        Some(t) if word(t).as_deref() == Some("ALL") => {
            count = None;
            rest = &rest[1..];
        }
        _ => {}
    }
    if rest.first().and_then(word).is_some_and(|w| w == "FROM" || w == "IN") {
        rest = &rest[1..];
    }
    match rest {
        [name] => Some(PgCommand::Fetch { name: ident(name), count }),
        _ => None,
    }
}

fn classify_set(tokens: &[Token]) -> Option<PgCommand> {
    let mut rest = tokens;
    if let Some(w) = rest.first().and_then(word)
        && (w == "SESSION" || w == "LOCAL")
    {
        // SET SESSION CHARACTERISTICS / SET SESSION AUTHORIZATION are not settings.
        if rest.get(1).and_then(word).is_some_and(|n| n == "CHARACTERISTICS" || n == "AUTHORIZATION") {
            return Some(PgCommand::Ignored("SET"));
        }
        rest = &rest[1..];
    }
    if rest.first().and_then(word).is_some_and(|w| w == "TRANSACTION") {
        return Some(PgCommand::Ignored("SET"));
    }
    // name [.name...] {TO | =} value[, value...]
    let split_at = rest.iter().position(|t| *t == Token::Eq || word(t).is_some_and(|w| w == "TO"))?;
    let name: String = rest[..split_at].iter().map(|t| t.to_string()).collect();
    // Spark/Delta/DataFusion keys (`SET spark.x = y`) are Tarn settings, not Postgres ones.
    if name.contains('.') {
        return None;
    }
    let value = rest[split_at + 1..]
        .iter()
        .map(|t| match t {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join("");
    Some(PgCommand::Set { name: name.trim_matches('"').to_ascii_lowercase(), value: value.trim().to_string() })
}

/// Session settings as Postgres reports them; clients read these with `SHOW`.
pub(crate) fn default_settings(user: &str, application: &str) -> BTreeMap<String, String> {
    let mut s = BTreeMap::new();
    for (k, v) in [
        ("server_version", super::SERVER_VERSION),
        ("server_version_num", "160006"),
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("datestyle", "ISO, MDY"),
        ("intervalstyle", "postgres"),
        ("timezone", "UTC"),
        ("standard_conforming_strings", "on"),
        ("integer_datetimes", "on"),
        ("transaction_isolation", "read committed"),
        ("default_transaction_isolation", "read committed"),
        ("transaction_read_only", "off"),
        ("default_transaction_read_only", "off"),
        ("max_identifier_length", "63"),
        ("extra_float_digits", "1"),
        ("lc_collate", "C"),
        ("lc_ctype", "C"),
        ("statement_timeout", "0"),
        ("bytea_output", "hex"),
    ] {
        s.insert(k.to_string(), v.to_string());
    }
    s.insert("session_authorization".into(), user.to_string());
    s.insert("application_name".into(), application.to_string());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_postgres_only_statements() {
        assert_eq!(classify("begin"), Some(PgCommand::Begin));
        assert_eq!(classify("START TRANSACTION ISOLATION LEVEL READ COMMITTED"), Some(PgCommand::Begin));
        assert_eq!(classify("commit;"), Some(PgCommand::Commit));
        assert_eq!(classify("SET extra_float_digits = 3"), Some(PgCommand::Set { name: "extra_float_digits".into(), value: "3".into() }));
        assert_eq!(
            classify("SET search_path TO analytics, public"),
            Some(PgCommand::Set { name: "search_path".into(), value: "analytics,public".into() })
        );
        assert_eq!(
            classify("SET application_name = 'psql'"),
            Some(PgCommand::Set { name: "application_name".into(), value: "psql".into() })
        );
        assert_eq!(classify("SHOW server_version"), Some(PgCommand::Show { name: "server_version".into() }));
        assert_eq!(classify("show transaction isolation level"), Some(PgCommand::Show { name: "transaction_isolation".into() }));
        assert_eq!(classify("SHOW ALL"), Some(PgCommand::ShowAll));
        assert_eq!(
            classify("DECLARE \"big\" NO SCROLL CURSOR WITH HOLD FOR SELECT 'for' FROM t"),
            Some(PgCommand::Declare { name: "big".into(), query: "SELECT 'for' FROM t".into() })
        );
        assert_eq!(classify("FETCH FORWARD 100 FROM \"big\""), Some(PgCommand::Fetch { name: "big".into(), count: Some(100) }));
        assert_eq!(classify("fetch all in c"), Some(PgCommand::Fetch { name: "c".into(), count: None }));
        assert_eq!(classify("CLOSE \"big\""), Some(PgCommand::Close { name: Some("big".into()) }));
        assert_eq!(
            classify("COPY (SELECT 1 AS x) TO STDOUT WITH (FORMAT csv, HEADER)"),
            Some(PgCommand::CopyOut(CopyOut {
                query: "SELECT 1 AS x".into(),
                format: CopyFormat::Csv,
                header: true,
                delimiter: None,
                null: None
            }))
        );
        assert!(matches!(classify("COPY t FROM STDIN"), Some(PgCommand::CopyRefused(_))));
        assert_eq!(classify("COPY INTO t FROM '/x' FILEFORMAT = CSV"), None);
    }

    #[test]
    fn leaves_tarn_statements_alone() {
        assert_eq!(classify("SHOW TABLES"), None);
        assert_eq!(classify("SHOW CREATE TABLE t"), None);
        assert_eq!(classify("SHOW SHARES"), None);
        assert_eq!(classify("SHOW recipients"), None);
        assert_eq!(classify("SHOW ALL IN SHARE s"), None);
        assert!(matches!(classify("SHOW ALL"), Some(PgCommand::ShowAll)));
        assert_eq!(classify("SET spark.databricks.delta.retentionDurationCheck.enabled = false"), None);
        assert_eq!(classify("SELECT 1"), None);
        assert_eq!(classify("INSERT INTO t VALUES (1)"), None);
    }

    #[test]
    fn splits_scripts_outside_strings() {
        assert_eq!(split("select ';'; select 2;;").unwrap(), vec!["select ';'", "select 2"]);
        assert_eq!(split("select 'it''s' -- c\n").unwrap(), vec!["select 'it''s' -- c"]);
        assert!(split("  ;  -- only a comment\n;").unwrap().is_empty());
    }
}
