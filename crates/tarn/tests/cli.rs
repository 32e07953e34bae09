//! The `tarn` binary as a user runs it: output formats, scripts, exit codes, stdin, and two
//! processes sharing one warehouse.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn tarn(warehouse: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tarn"))
        .arg("--warehouse")
        .arg(warehouse)
        .args(args)
        .env_remove("TARN_WAREHOUSE")
        .output()
        .expect("run tarn")
}

fn sql(warehouse: &Path, format: &str, sql: &str) -> Output {
    tarn(warehouse, &["sql", "--format", format, "-e", sql])
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn csv_output_is_rfc4180_with_one_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = sql(
        dir.path(),
        "csv",
        "CREATE TABLE t (id INT, name STRING); INSERT INTO t VALUES (1, 'plain'), (2, 'has, comma'), (3, 'has \"quote\"'); \
         SELECT * FROM t ORDER BY id",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.ends_with("id,name\n1,plain\n2,\"has, comma\"\n3,\"has \"\"quote\"\"\"\n"), "{text}");
}

#[test]
fn json_output_is_one_object_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = sql(dir.path(), "json", "SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, NULL ORDER BY a");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "{\"a\":1,\"b\":\"x\"}\n{\"a\":2}\n");
}

#[test]
fn parquet_output_needs_a_file_and_writes_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let refused = sql(dir.path(), "parquet", "SELECT 1");
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("-o FILE"), "{}", stderr(&refused));

    let file = dir.path().join("out.parquet");
    let out = tarn(
        dir.path(),
        &["sql", "--format", "parquet", "-o", file.to_str().expect("utf8"), "-e", "SELECT * FROM (VALUES (1), (2), (3)) AS v(x)"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let reader = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&file).expect("open")).expect("a parquet file");
    use parquet::file::reader::FileReader;
    assert_eq!(reader.metadata().file_metadata().num_rows(), 3);
}

#[test]
fn a_script_stops_at_the_first_error_with_a_nonzero_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("script.sql");
    std::fs::write(
        &script,
        "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES ('oops');\nINSERT INTO t VALUES (3);\n",
    )
    .expect("write");
    let out = tarn(dir.path(), &["sql", "-f", script.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot write a value of type string to column 'id'"), "{}", stderr(&out));
    let check = sql(dir.path(), "csv", "SELECT count(*) AS n FROM t");
    assert_eq!(stdout(&check), "n\n1\n", "the statement after the error did not run");
}

#[test]
fn syntax_errors_run_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = sql(dir.path(), "table", "CREATE TABLE t (id INT); SELEKT 1");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("syntax error"), "{}", stderr(&out));
    let check = sql(dir.path(), "csv", "SHOW TABLES");
    assert_eq!(stdout(&check), "database,tableName,isTemporary\n");
}

#[test]
fn statements_can_come_from_stdin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tarn"))
        .args(["--warehouse", dir.path().to_str().expect("utf8"), "sql", "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(b"SELECT 40 + 2 AS answer;").expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(stdout(&out), "answer\n42\n");
}

#[test]
fn unknown_columns_suggest_a_fix_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(sql(dir.path(), "csv", "CREATE TABLE t (amount INT); INSERT INTO t VALUES (1)").status.success());
    let out = sql(dir.path(), "csv", "UPDATE t SET amount = amout + 1");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("amout") && err.to_lowercase().contains("amount"), "{err}");
    assert_eq!(stdout(&sql(dir.path(), "csv", "SELECT * FROM t")), "amount\n1\n");
}

#[test]
fn two_processes_share_one_warehouse_safely() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Create the warehouse once so both start from the same catalog.
    assert!(sql(dir.path(), "csv", "SELECT 1").status.success());
    let spawn = |sql: &str| {
        Command::new(env!("CARGO_BIN_EXE_tarn"))
            .args(["--warehouse", dir.path().to_str().expect("utf8"), "sql", "-e", sql])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    // Different names: both succeed.
    let a = spawn("CREATE TABLE a (x INT)");
    let b = spawn("CREATE TABLE b (x INT)");
    assert!(a.wait_with_output().expect("a").status.success());
    assert!(b.wait_with_output().expect("b").status.success());
    // The same name, several times at once: exactly one success, the others a clear error.
    let racers: Vec<_> = (0..4).map(|_| spawn("CREATE TABLE same (x INT)")).collect();
    let outputs: Vec<Output> = racers.into_iter().map(|c| c.wait_with_output().expect("racer")).collect();
    let wins = outputs.iter().filter(|o| o.status.success()).count();
    assert_eq!(wins, 1, "{:?}", outputs.iter().map(stderr).collect::<Vec<_>>());
    for o in outputs.iter().filter(|o| !o.status.success()) {
        assert!(stderr(o).contains("already exists"), "{}", stderr(o));
    }
    let tables = stdout(&sql(dir.path(), "csv", "SHOW TABLES"));
    assert_eq!(tables, "database,tableName,isTemporary\ndefault,a,false\ndefault,b,false\ndefault,same,false\n");
    // No orphaned managed directories were left registered: the table works.
    assert!(sql(dir.path(), "csv", "INSERT INTO same VALUES (1)").status.success());
}

#[test]
fn help_shows_examples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = tarn(dir.path(), &["sql", "--help"]);
    assert!(stdout(&out).contains("Examples:"), "{}", stdout(&out));
}

#[test]
fn demo_runs_on_a_fresh_warehouse_and_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    for _ in 0..2 {
        let out = tarn(dir.path(), &["demo"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("| prod_rows | dev_rows |"), "{text}");
        assert!(text.contains("| 2         | 3        |"), "{text}");
    }
}

#[test]
fn the_shell_takes_multi_line_statements_and_dot_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tarn"))
        .args(["--warehouse", dir.path().to_str().expect("utf8"), "shell"])
        .env("HOME", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"CREATE TABLE shelled (x INT);\nINSERT INTO shelled\n  VALUES (7);\nSELECT x * 6\n  AS answer FROM shelled;\n.tables\nSELEC oops;\n.quit\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("| answer |") && text.contains("| 42     |"), "{text}");
    assert!(text.contains("shelled"), "{text}");
    assert!(stderr(&out).contains("Time: "), "{}", stderr(&out));
    assert!(stderr(&out).contains("syntax error"), "errors are reported and the shell goes on");
}

#[test]
fn results_stream_before_the_query_finishes() {
    // A billion rows would never fit in memory; the first rows must arrive long before the end.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tarn"))
        .args([
            "--warehouse",
            dir.path().to_str().expect("utf8"),
            "sql",
            "--format",
            "csv",
            "-e",
            "SELECT value FROM generate_series(1, 1000000000)",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    use std::io::{BufRead, BufReader};
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let header = lines.next().expect("a line").expect("utf8");
    let first = lines.next().expect("a line").expect("utf8");
    child.kill().expect("kill");
    let _ = child.wait();
    assert_eq!((header.as_str(), first.as_str()), ("value", "1"));
}

#[test]
fn table_format_spreads_multi_line_cells_over_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = sql(dir.path(), "table", "SELECT 'a' || chr(10) || 'bb' AS v, 1 AS n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "+----+---+\n| v  | n |\n+----+---+\n| a  | 1 |\n| bb |   |\n+----+---+\n");
}

#[test]
fn activation_links_from_the_cli_point_at_the_configured_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_tarn"))
        .arg("--warehouse")
        .arg(dir.path())
        .args(["sql", "--format", "csv", "-e", "CREATE RECIPIENT acme"])
        .env_remove("TARN_WAREHOUSE")
        .env_remove("TARN_SHARING_ENDPOINT")
        .env("TARN_HTTP_ADDR", "127.0.0.1:9999")
        .output()
        .expect("run tarn");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(",http://127.0.0.1:9999/delta-sharing/activation/"), "{}", stdout(&out));
}

#[test]
fn a_long_statement_shows_a_spinner_on_a_terminal_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let query = "SELECT count(*) FROM range(1000000000)";
    // Piped: the result alone.
    let piped = sql(dir.path(), "csv", query);
    assert_eq!(stdout(&piped), "count(1)\n1000000000\n");
    assert!(!stderr(&piped).contains(query), "{}", stderr(&piped));
    // On a terminal (through `script`, where it exists): the statement and its time while it runs.
    let command = format!("{} --warehouse {} sql -e '{query}'", env!("CARGO_BIN_EXE_tarn"), dir.path().display());
    let Ok(on_terminal) = Command::new("script").args(["-qec", &command, "/dev/null"]).stdin(Stdio::null()).output() else { return };
    let shown = stdout(&on_terminal);
    assert!(shown.contains(&format!("{query} (")), "{shown}");
    assert!(shown.contains("1000000000 |"), "{shown}");
}
