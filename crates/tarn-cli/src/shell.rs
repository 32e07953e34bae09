//! The interactive shell: history, multi-line statements, completion, timing.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use tarn_sql::Session;

use crate::{OutputFormat, Result, RunOptions, run_script};

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "LIMIT",
    "JOIN",
    "LEFT JOIN",
    "ON",
    "AS",
    "WITH",
    "INSERT INTO",
    "INSERT OVERWRITE",
    "VALUES",
    "UPDATE",
    "SET",
    "DELETE FROM",
    "MERGE INTO",
    "USING",
    "WHEN MATCHED THEN",
    "WHEN NOT MATCHED THEN",
    "CREATE TABLE",
    "CREATE SCHEMA",
    "CREATE CATALOG",
    "DROP TABLE",
    "DROP SCHEMA",
    "SHOW TABLES",
    "SHOW SCHEMAS",
    "SHOW CATALOGS",
    "DESCRIBE",
    "DESCRIBE HISTORY",
    "DESCRIBE DETAIL",
    "OPTIMIZE",
    "ZORDER BY",
    "VACUUM",
    "RESTORE TABLE",
    "VERSION AS OF",
    "TIMESTAMP AS OF",
    "SHALLOW CLONE",
    "DEEP CLONE",
    "ALTER TABLE",
    "ADD COLUMNS",
    "ADD CONSTRAINT",
    "TBLPROPERTIES",
    "PARTITIONED BY",
    "COPY INTO",
    "FILEFORMAT",
    "TRUNCATE TABLE",
    "EXPLAIN",
    "USE",
];

const HELP: &str = "\
Enter SQL statements ending with ';' (they may span lines).
  .help            this text
  .tables, \\dt    list the tables and views of the current schema
  .schema [t]      the CREATE statement of t (of every table without t)
  \\d t             the columns of t (DESCRIBE t)
  .format FORMAT   table | line | csv | json
  .mode line, \\x   one 'column = value' line per column (again: back to table)
  .quit, \\q        leave (or Ctrl-D)
Ctrl-C cancels the running statement; history is in ~/.tarn_history.
Examples:
  CREATE TABLE t (id INT, name STRING);
  INSERT INTO t VALUES (1, 'a');
  SELECT * FROM t VERSION AS OF 1;
  DESCRIBE HISTORY t;";

struct TarnHelper {
    tables: Arc<Mutex<Vec<String>>>,
}

impl Completer for TarnHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = line[..pos].rfind(|c: char| c.is_whitespace() || c == '(' || c == ',').map(|i| i + 1).unwrap_or(0);
        let word = &line[start..pos];
        if word.is_empty() {
            return Ok((start, vec![]));
        }
        let upper = word.to_ascii_uppercase();
        let mut out: Vec<Pair> = KEYWORDS
            .iter()
            .filter(|k| k.starts_with(&upper))
            .map(|k| Pair { display: k.to_string(), replacement: k.to_string() })
            .collect();
        if let Ok(tables) = self.tables.lock() {
            out.extend(
                tables
                    .iter()
                    .filter(|t| t.starts_with(&word.to_ascii_lowercase()))
                    .map(|t| Pair { display: t.clone(), replacement: t.clone() }),
            );
        }
        Ok((start, out))
    }
}

impl Hinter for TarnHelper {
    type Hint = String;
}
impl Highlighter for TarnHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(&'s self, prompt: &'p str, _default: bool) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}
impl Validator for TarnHelper {}
impl Helper for TarnHelper {}

/// Run the interactive shell until `.quit` or end of input.
pub async fn run_shell(session: &mut Session) -> Result<()> {
    let tables = Arc::new(Mutex::new(session.table_names().await));
    let mut editor: Editor<TarnHelper, DefaultHistory> =
        Editor::new().map_err(|e| crate::CliError::Usage(format!("cannot start the shell: {e}")))?;
    editor.set_helper(Some(TarnHelper { tables: tables.clone() }));
    let history = std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".tarn_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!("Tarn {} — a lakehouse in one binary. Type .help for help.", env!("CARGO_PKG_VERSION"));
    let mut format = OutputFormat::Table;
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            format!("{}.{}> ", session.current_catalog(), session.current_schema())
        } else {
            "   ...> ".to_string()
        };
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(crate::CliError::Usage(format!("reading input: {e}"))),
        };
        let trimmed = line.trim();
        if buffer.is_empty() && (trimmed.starts_with('.') || trimmed.starts_with('\\')) {
            let _ = editor.add_history_entry(trimmed);
            let mut words = trimmed.trim_end_matches(';').split_whitespace();
            // Meta-commands that are statements run as statements (and are authorized as them).
            let statement = match (words.next(), words.next()) {
                (Some(".quit" | ".exit" | "\\q"), _) => break,
                (Some(".help" | "\\?"), _) => {
                    println!("{HELP}");
                    None
                }
                (Some(".tables" | "\\dt"), None) => Some("SHOW TABLES".to_string()),
                (Some(".schema"), Some(table)) => Some(format!("SHOW CREATE TABLE {table}")),
                (Some(".schema"), None) => {
                    let options = RunOptions { format: OutputFormat::Line, ..Default::default() };
                    for table in session.table_names().await {
                        let show = tarn_sql::ast::Statement::ShowCreateTable { table: tarn_sql::ast::quoted_name(&[&table]) };
                        if let Err(e) = crate::runner::run_statement(session, show, &options).await {
                            eprintln!("Error: {e}");
                        }
                    }
                    None
                }
                (Some("\\d"), Some(table)) => Some(format!("DESCRIBE {table}")),
                (Some("\\d"), None) => Some("SHOW TABLES".to_string()),
                (Some("\\x"), _) if format != OutputFormat::Line => {
                    format = OutputFormat::Line;
                    eprintln!("Expanded display is on.");
                    None
                }
                (Some("\\x"), _) => {
                    format = OutputFormat::Table;
                    eprintln!("Expanded display is off.");
                    None
                }
                (Some(".format" | ".mode"), Some(name)) => {
                    match name.parse::<OutputFormat>() {
                        Ok(f) if f != OutputFormat::Parquet => format = f,
                        _ => eprintln!("usage: .format table|line|csv|json"),
                    }
                    None
                }
                _ => {
                    eprintln!("unknown command {trimmed}; .help lists the commands");
                    None
                }
            };
            if let Some(statement) = statement {
                let options = RunOptions { format, ..Default::default() };
                if let Err(e) = run_script(session, &statement, &options).await {
                    eprintln!("Error: {e}");
                }
            }
            continue;
        }
        if trimmed.is_empty() && buffer.is_empty() {
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if !trimmed.ends_with(';') {
            continue;
        }
        let sql = std::mem::take(&mut buffer);
        let _ = editor.add_history_entry(sql.trim());
        // Saved now, not at exit: a shell that is killed keeps what was typed.
        if let Some(h) = &history {
            let _ = editor.save_history(h);
        }
        let started = Instant::now();
        let options = RunOptions { format, ..Default::default() };
        // Ctrl-C cancels the running statement and returns to the prompt. Dropping the
        // statement's future drops its streams, which stops DataFusion's tasks; a write either
        // committed before that (one atomic log entry) or did not commit at all.
        let outcome = tokio::select! {
            outcome = run_script(session, &sql, &options) => Some(outcome),
            _ = tokio::signal::ctrl_c() => None,
        };
        match outcome {
            Some(Ok(())) => eprintln!("Time: {:.3}s", started.elapsed().as_secs_f64()),
            Some(Err(e)) => eprintln!("Error: {e}"),
            None => eprintln!("Cancelled after {:.3}s", started.elapsed().as_secs_f64()),
        }
        let names = session.table_names().await;
        if let Ok(mut t) = tables.lock() {
            *t = names;
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}
