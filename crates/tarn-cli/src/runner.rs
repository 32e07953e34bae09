//! Running a script: statements in order, each result printed as it streams, stopping at the
//! first error.

use std::time::Instant;

use tarn_sql::{Session, parse_sql, split_statements, statement_lines};

use crate::{CliError, OutputFormat, Result, ResultPrinter};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub format: OutputFormat,
    /// Write results here instead of stdout.
    pub output: Option<String>,
    /// Print each statement before its result (the demo does).
    pub echo: bool,
    /// Print row counts and timings to stderr.
    pub timing: bool,
}

/// Run every statement of `sql`. The whole script is parsed first, so a syntax error anywhere
/// runs nothing.
pub async fn run_script(session: &mut Session, sql: &str, options: &RunOptions) -> Result<()> {
    let statements = parse_sql(sql)?;
    let texts = split_statements(sql);
    let lines = statement_lines(sql);
    let several = statements.len() > 1;
    let mut printer = ResultPrinter::new(options.format, options.output.as_deref())?;
    for (i, statement) in statements.into_iter().enumerate() {
        if options.echo {
            println!("\ntarn> {};", texts.get(i).map(String::as_str).unwrap_or("?"));
        }
        let started = Instant::now();
        let ran = async {
            let output = session.execute(statement).await?;
            for notice in session.take_notices() {
                eprintln!("NOTICE: {notice}");
            }
            printer.print(output).await
        };
        let rows = match ran.await {
            Ok(rows) => rows,
            // In a script, say which statement failed (a closed output pipe is no statement's fault).
            Err(e) if several && !matches!(e, CliError::Output(_)) => {
                let line = lines.get(i).copied().unwrap_or(0);
                return Err(CliError::Statement { number: i + 1, line, source: Box::new(e) });
            }
            Err(e) => return Err(e),
        };
        if options.timing {
            eprintln!("({rows} rows, {:.3}s)", started.elapsed().as_secs_f64());
        }
    }
    printer.finish()
}

/// Run one statement built by a front end (a shell meta-command), printing its result.
pub async fn run_statement(session: &mut Session, statement: tarn_sql::ast::Statement, options: &RunOptions) -> Result<()> {
    let mut printer = ResultPrinter::new(options.format, options.output.as_deref())?;
    let output = session.execute(statement).await?;
    printer.print(output).await?;
    printer.finish()
}
