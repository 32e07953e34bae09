//! Running a script: statements in order, each result printed as it streams, stopping at the
//! first error.

use std::future::Future;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

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
        let label = texts.get(i).map(String::as_str).unwrap_or("statement");
        let ran = async {
            let output = execute(session, statement, label).await?;
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
    let output = execute(session, statement, "statement").await?;
    printer.print(output).await?;
    printer.finish()
}

/// Run `statement`, with [`with_spinner`] while it executes and until its first rows.
async fn execute(session: &mut Session, statement: tarn_sql::ast::Statement, label: &str) -> Result<tarn_sql::StatementOutput> {
    let output = with_spinner(label, session.execute(statement)).await?;
    Ok(spinner_until_first_batch(label, output))
}

/// How long a statement runs before the terminal shows that it is working.
const SPINNER_AFTER: Duration = Duration::from_secs(1);

/// `work`, with a spinner, the statement's start and the time taken on stderr once it has run
/// for a second: OPTIMIZE, VACUUM, a deep CLONE or a big CTAS otherwise sit silent for
/// minutes. indicatif draws only on a terminal, so scripts and pipes see nothing; the spinner
/// is cleared before the statement's result prints.
async fn with_spinner<F: Future>(label: &str, work: F) -> F::Output {
    let mut work = std::pin::pin!(work);
    tokio::select! {
        done = &mut work => return done,
        () = tokio::time::sleep(SPINNER_AFTER) => {}
    }
    let first_line = label.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("statement");
    let shown: String = first_line.chars().take(60).collect();
    let spinner = ProgressBar::new_spinner().with_elapsed(SPINNER_AFTER).with_message(if shown.len() < first_line.len() {
        format!("{shown}…")
    } else {
        shown
    });
    // Cleared also when the statement is cancelled (Ctrl-C in the shell drops this future).
    let spinner = spinner.with_finish(indicatif::ProgressFinish::AndClear);
    spinner.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let done = work.await;
    spinner.finish_and_clear();
    done
}

/// `output` with [`with_spinner`] around the wait for its first rows (a query's work happens
/// as its result streams).
fn spinner_until_first_batch(label: &str, output: tarn_sql::StatementOutput) -> tarn_sql::StatementOutput {
    use futures::StreamExt;
    let label = label.to_string();
    let schema = output.schema.clone();
    let mut stream = output.stream;
    let first = async move {
        let first = with_spinner(&label, stream.next()).await;
        futures::stream::iter(first).chain(stream)
    };
    let batches = futures::stream::once(first).flatten();
    tarn_sql::StatementOutput::from_stream(Box::pin(datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, batches)))
}
