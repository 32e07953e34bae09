//! Spark's own SQL golden files (`../shared/spark-sql-tests`, Spark 4.0, ANSI mode) run through
//! Tarn and compared with what Spark printed.
//!
//! Every `results/**/*.sql.out` file runs in a fresh warehouse, its statements in order. A block
//! Spark answered with rows passes when Tarn prints the same rows the way Spark's test suite
//! prints them (`HiveResult`: `NULL`, `1.0E10`, `[1,2]`, `{"a":1}`, ...; rows compared as a
//! sorted list unless the query orders them). A block Spark answered with an error passes when
//! Tarn errors too. `tests/spark_golden/passing.txt` lists the blocks that pass: the test fails
//! when one of them no longer gives Spark's rows (in any order: rows that tie under an ORDER BY
//! may come out either way; ordering itself is checked by the SQL logic tests). `TARN_SPARK_GOLDEN_UPDATE=1` rewrites that list and the per-file
//! figures in `tests/spark_golden/pass_rates.md`; `TARN_SPARK_GOLDEN_FILTER=name` runs only the
//! files whose path contains `name` and prints each failing block.

#[path = "support/shared.rs"]
mod shared;

#[path = "spark_golden/blocks.rs"]
mod blocks;
#[path = "spark_golden/format.rs"]
mod format;
#[path = "spark_golden/harness.rs"]
mod harness;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use blocks::{Block, Expected, parse_blocks};
use tarn_sql::{Session, SessionConfig, parse_sql};

/// Longest a single statement may run before it counts as failed.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(20);

fn golden_dir() -> PathBuf {
    shared::shared_dir("spark-sql-tests/results")
}

fn list_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spark_golden")
}

fn result_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            result_files(&path, out);
        } else if path.to_string_lossy().ends_with(".sql.out") {
            out.push(path);
        }
    }
}

/// What happened to one block.
#[derive(Debug)]
struct Outcome {
    file: String,
    index: usize,
    rows: bool,
    passed: bool,
    /// The same rows, perhaps in another order: rows that tie under the ORDER BY may come out
    /// in either order, so a listed block only regresses when this is lost.
    same_rows: bool,
    /// The query keeps some rows without ordering them first (`LIMIT` / `OFFSET` without
    /// `ORDER BY`): which ones is the engine's pick, so the block is never a regression.
    arbitrary: bool,
    /// For a block that passes with rows: whether its columns have Spark's names.
    named: Option<bool>,
    detail: String,
}

async fn run_file(name: String, text: String) -> Vec<Outcome> {
    let dir = tempfile::tempdir().expect("tempdir");
    let warehouse = dir.path().join("wh").to_string_lossy().to_string();
    // A fixed parallelism: rows that tie under an ORDER BY come out the same on every machine.
    let config = SessionConfig { target_partitions: Some(2), ..SessionConfig::new(warehouse) };
    let mut session = match Session::open(config).await {
        Ok(s) => s,
        Err(e) => panic!("cannot open a session for {name}: {e}"),
    };
    harness::register(&mut session);
    let mut outcomes = Vec::new();
    for (index, block) in parse_blocks(&text).into_iter().enumerate() {
        let run = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run_block(&mut session, &block)));
        let got = match tokio::time::timeout(STATEMENT_TIMEOUT, run).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("PANICKED".to_string()),
            Err(_) => Err(format!("timed out after {STATEMENT_TIMEOUT:?}")),
        };
        let mut same_rows = None;
        let mut named = None;
        let (rows, passed, detail) = match (&block.expected, got) {
            (Expected::Rows(expected), Ok(Some((actual, names)))) => {
                let ordered = orders_rows(&block.query);
                let describes = describes(&block.query);
                let normalize = |rows: &[String], sort: bool| {
                    let mut lines: Vec<String> =
                        rows.join("\n").split('\n').map(|l| if describes { describe_line(l) } else { l.trim_end().to_string() }).collect();
                    if sort {
                        lines.sort();
                    }
                    lines
                };
                let passed = normalize(expected, !ordered) == normalize(&actual, !ordered);
                same_rows = Some(normalize(expected, true) == normalize(&actual, true));
                let spark_names = has_names(&block.schema, &names);
                if passed {
                    named = Some(spark_names);
                }
                let header =
                    if spark_names { String::new() } else { format!("\nSpark's columns: {}\nTarn's: {}", block.schema, names.join(", ")) };
                (true, passed, format!("expected:\n{}\ngot:\n{}{header}", expected.join("\n"), actual.join("\n")))
            }
            (Expected::Rows(expected), Ok(None)) => (true, false, format!("expected:\n{}\ngot no result set", expected.join("\n"))),
            (Expected::Rows(expected), Err(e)) => (true, false, format!("expected:\n{}\ngot error: {e}", expected.join("\n"))),
            (Expected::Error(class), Ok(Some((actual, _)))) => {
                (false, false, format!("expected error {class}\ngot rows:\n{}", actual.join("\n")))
            }
            (Expected::Error(_), Ok(None)) => (false, false, "expected an error, got success".to_string()),
            (Expected::Error(_), Err(_)) => (false, true, String::new()),
            (Expected::Done, Ok(_)) => (false, true, String::new()),
            (Expected::Done, Err(e)) => (false, false, format!("expected success, got error: {e}")),
        };
        let same_rows = same_rows.unwrap_or(passed);
        let arbitrary = picks_rows(&block.query);
        outcomes.push(Outcome {
            file: name.clone(),
            index,
            rows,
            passed,
            same_rows,
            arbitrary,
            named,
            detail: format!("{}\n{detail}", block.query),
        });
    }
    outcomes
}

/// Whether `names` are the column names of Spark's `struct<name:type,...>`. A name may hold
/// `,` and `:` itself, so each is matched as a prefix, then its type skipped to the next `,`
/// outside brackets.
fn has_names(schema: &str, names: &[String]) -> bool {
    let Some(mut rest) = schema.trim().strip_prefix("struct<").and_then(|s| s.strip_suffix('>')) else { return false };
    for (i, name) in names.iter().enumerate() {
        let Some(after) = rest.strip_prefix(name.as_str()).and_then(|r| r.strip_prefix(':')) else { return false };
        let mut depth = 0i32;
        let end = after
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '<' | '(' => depth += 1,
                    '>' | ')' => depth -= 1,
                    _ => {}
                }
                c == ',' && depth == 0
            })
            .map(|(at, _)| at);
        rest = match end {
            Some(at) => &after[at + 1..],
            None if i + 1 == names.len() => "",
            None => return false,
        };
    }
    rest.is_empty()
}

/// Whether the statement is a DESCRIBE, whose rows Spark's suite prints as its DESCRIBE
/// command does: every cell padded to 20 characters, a NULL comment as an empty cell.
fn describes(query: &str) -> bool {
    let first = query.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
    first == "desc" || first == "describe"
}

/// One DESCRIBE row with the padding taken off, NULL cells empty and trailing empty cells dropped.
fn describe_line(line: &str) -> String {
    let mut cells: Vec<&str> = line.split('\t').map(|c| if c.trim() == "NULL" { "" } else { c.trim() }).collect();
    while cells.last().is_some_and(|c| c.is_empty()) {
        cells.pop();
    }
    cells.join("\t")
}

/// Whether the query orders its rows: an `ORDER BY` outside any parentheses (one inside a
/// window or a subquery leaves the order open, and Spark's suite then compares sorted rows).
fn orders_rows(query: &str) -> bool {
    outside_words(query).windows(2).any(|w| w == ["order", "by"])
}

/// Whether the query keeps a number of rows it has not ordered (LIMIT / OFFSET, no ORDER BY).
fn picks_rows(query: &str) -> bool {
    let words = outside_words(query);
    words.iter().any(|w| w == "limit" || w == "offset") && !orders_rows(query)
}

/// The words of `query` outside any parentheses, lowercase.
fn outside_words(query: &str) -> Vec<String> {
    let mut depth = 0i32;
    let mut outside = String::new();
    for c in query.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => outside.push(c.to_ascii_lowercase()),
            _ => {}
        }
    }
    outside.split_whitespace().map(str::to_string).collect()
}

/// Whether Spark's suite prints only the names of the statement's rows: `SHOW TABLES` and
/// `SHOW VIEWS` (not EXTENDED) print their second column, as Hive does (`HiveResult`).
fn lists_names(query: &str) -> bool {
    let words: Vec<String> = query.split_whitespace().take(3).map(str::to_ascii_uppercase).collect();
    matches!(words.get(..2), Some([show, what]) if show == "SHOW" && (what == "TABLES" || what == "VIEWS"))
        && !query.to_ascii_uppercase().contains("EXTENDED")
}

/// The second column (the name) of `SHOW TABLES` / `SHOW VIEWS` rows.
fn names_only(batches: Vec<arrow::array::RecordBatch>) -> Result<Vec<arrow::array::RecordBatch>, String> {
    batches.into_iter().map(|b| if b.num_columns() < 2 { Ok(b) } else { b.project(&[1]).map_err(|e| e.to_string()) }).collect()
}

/// Runs a block's statements; the rows of the last one that returns any, as Spark prints them,
/// and its column names.
async fn run_block(session: &mut Session, block: &Block) -> Result<Option<(Vec<String>, Vec<String>)>, String> {
    let statements = parse_sql(&block.query).map_err(|e| e.to_string())?;
    let mut last = None;
    for statement in statements {
        let output = session.execute(statement).await.map_err(|e| e.to_string())?;
        if output.is_empty_schema() {
            last = None;
            continue;
        }
        let names: Vec<String> = output.schema.fields().iter().map(|f| f.name().clone()).collect();
        let batches = output.collect().await.map_err(|e| e.to_string())?;
        let batches = if lists_names(&block.query) { names_only(batches)? } else { batches };
        last = Some((format::rows(&batches)?, names));
    }
    Ok(last)
}

#[test]
fn spark_golden_files() {
    // Deeply nested queries need the stack `tarn` itself runs with.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()).max(2))
        .thread_stack_size(64 * 1024 * 1024)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run_all());
}

async fn run_all() {
    let root = golden_dir();
    if !root.exists() {
        panic!("Spark's golden files are missing: expected them at {}", root.display());
    }
    let filter = std::env::var("TARN_SPARK_GOLDEN_FILTER").unwrap_or_default();
    let update = std::env::var("TARN_SPARK_GOLDEN_UPDATE").is_ok_and(|v| v == "1");
    let mut files = Vec::new();
    result_files(&root, &mut files);
    files.sort();
    let parallel = Arc::new(tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));
    let mut tasks = Vec::new();
    for path in files {
        let name = path.strip_prefix(&root).unwrap_or(&path).to_string_lossy().to_string();
        if !name.contains(&filter) {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&path).expect("readable golden file")).to_string();
        let parallel = parallel.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = parallel.acquire_owned().await.expect("semaphore");
            run_file(name, text).await
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        match task.await {
            Ok(file) => outcomes.extend(file),
            Err(e) => panic!("a golden file's run panicked: {e}"),
        }
    }
    report(&outcomes, &filter, update);
}

fn report(outcomes: &[Outcome], filter: &str, update: bool) {
    let key = |o: &Outcome| format!("{}\t{}", o.file, o.index);
    let passing: BTreeSet<String> = outcomes.iter().filter(|o| o.passed && o.rows).map(key).collect();
    let listable: BTreeSet<String> = outcomes.iter().filter(|o| o.passed && o.rows && !o.arbitrary).map(key).collect();
    let row_blocks = outcomes.iter().filter(|o| o.rows).count();
    let errors_total = outcomes.iter().filter(|o| !o.rows).count();
    let errors_passed = outcomes.iter().filter(|o| !o.rows && o.passed).count();
    println!(
        "Spark golden files: {} of {row_blocks} blocks with rows pass ({:.1}%); {errors_passed} of {errors_total} error/command blocks behave as in Spark",
        passing.len(),
        100.0 * passing.len() as f64 / row_blocks.max(1) as f64
    );
    let named = outcomes.iter().filter(|o| o.named == Some(true)).count();
    let answered = outcomes.iter().filter(|o| o.named.is_some()).count();
    println!("Column names as Spark's: {named} of the {answered} blocks that pass with rows");
    if !filter.is_empty() {
        for o in outcomes.iter().filter(|o| !o.passed || o.named == Some(false)) {
            println!("---- {} #{}\n{}\n", o.file, o.index, o.detail);
        }
    }
    let list_path = list_dir().join("passing.txt");
    if update {
        std::fs::create_dir_all(list_dir()).expect("list dir");
        let mut text = String::from("# Spark golden blocks (file<TAB>block index) that Tarn answers as Spark does.\n");
        text.extend(listable.iter().map(|k| format!("{k}\n")));
        std::fs::write(&list_path, text).expect("write passing.txt");
        std::fs::write(list_dir().join("pass_rates.md"), pass_rates(outcomes)).expect("write pass_rates.md");
        return;
    }
    let listed = std::fs::read_to_string(&list_path).unwrap_or_default();
    let regressed: Vec<&Outcome> = listed
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| outcomes.iter().find(|o| key(o) == l))
        .filter(|o| !o.same_rows && !o.arbitrary)
        .collect();
    assert!(
        regressed.is_empty(),
        "{} Spark golden block(s) that passed no longer do:\n\n{}",
        regressed.len(),
        regressed.iter().map(|o| format!("---- {} #{}\n{}", o.file, o.index, o.detail)).collect::<Vec<_>>().join("\n\n")
    );
}

/// A Markdown table: for each file, how many of its blocks with rows pass.
fn pass_rates(outcomes: &[Outcome]) -> String {
    let mut files: Vec<&str> = outcomes.iter().map(|o| o.file.as_str()).collect();
    files.dedup();
    let mut text = String::from(
        "# Spark golden files: pass rates\n\nGenerated by `TARN_SPARK_GOLDEN_UPDATE=1 cargo test -p tarn-sql --test spark_golden`.\n\
         A block with rows passes when Tarn prints exactly Spark's rows.\n\n| file | blocks with rows | pass | rate |\n|---|---:|---:|---:|\n",
    );
    let (mut all, mut all_passed) = (0, 0);
    for file in files {
        let rows = outcomes.iter().filter(|o| o.file == file && o.rows).count();
        let passed = outcomes.iter().filter(|o| o.file == file && o.rows && o.passed).count();
        all += rows;
        all_passed += passed;
        if rows > 0 {
            text.push_str(&format!("| {file} | {rows} | {passed} | {:.0}% |\n", 100.0 * passed as f64 / rows as f64));
        }
    }
    text.push_str(&format!("| **all** | {all} | {all_passed} | {:.1}% |\n", 100.0 * all_passed as f64 / all.max(1) as f64));
    text
}
