//! Lakehouse behaviour that needs files on disk around the SQL: COPY INTO, VACUUM, clones,
//! external tables and locations, path tables, and history that survives copying a table.

use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use tarn_sql::{Session, SessionConfig};

async fn session(dir: &Path) -> Session {
    Session::open(SessionConfig::new(dir.join("wh").to_string_lossy())).await.expect("session")
}

async fn run(session: &mut Session, sql: &str) -> Vec<RecordBatch> {
    session.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")).pop().unwrap_or_default()
}

async fn fails(session: &mut Session, sql: &str) -> String {
    match session.sql(sql).await {
        Ok(_) => panic!("expected an error from: {sql}"),
        Err(e) => e.to_string(),
    }
}

async fn count(session: &mut Session, table: &str) -> i64 {
    let b = run(session, &format!("SELECT count(*) AS n FROM {table}")).await;
    b[0].column(0).as_primitive::<Int64Type>().value(0)
}

async fn version(session: &mut Session, table: &str) -> i64 {
    let b = run(session, &format!("DESCRIBE HISTORY {table} LIMIT 1")).await;
    b[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test]
async fn copy_into_is_idempotent_and_a_bad_row_commits_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let landing = dir.path().join("landing");
    std::fs::create_dir_all(&landing).expect("mkdir");
    std::fs::write(landing.join("a.csv"), "id,name,amount\n1,ada,1.5\n2,\"grace, h\",2.5\n").expect("write");
    std::fs::write(landing.join("b.csv"), "id,name,amount\n3,alan,3.5\n").expect("write");
    let mut s = session(dir.path()).await;
    run(&mut s, "CREATE TABLE t (id INT, name STRING, amount DOUBLE)").await;
    let copy = format!("COPY INTO t FROM '{}' FILEFORMAT = CSV FORMAT_OPTIONS ('header' = 'true')", landing.display());
    let first = run(&mut s, &copy).await;
    assert_eq!(first[0].column(0).as_primitive::<Int64Type>().value(0), 3);
    assert_eq!(count(&mut s, "t").await, 3);

    // Re-running loads nothing; a new file is picked up alone.
    let again = run(&mut s, &copy).await;
    assert_eq!(again[0].column(0).as_primitive::<Int64Type>().value(0), 0);
    std::fs::write(landing.join("c.csv"), "id,name,amount\n4,edsger,4.5\n").expect("write");
    run(&mut s, &copy).await;
    assert_eq!(count(&mut s, "t").await, 4);
    let names = run(&mut s, "SELECT name FROM t WHERE id = 2").await;
    assert_eq!(names[0].column(0).as_string_view().value(0), "grace, h");

    // A malformed row: the error names the file and the line, and nothing is committed.
    let before = version(&mut s, "t").await;
    std::fs::write(landing.join("d.csv"), "id,name,amount\n5,ok,1.0\nsix,bad,2.0\n").expect("write");
    let err = fails(&mut s, &copy).await;
    assert!(err.contains("d.csv"), "{err}");
    assert!(err.contains("line") || err.contains("row"), "{err}");
    assert_eq!(version(&mut s, "t").await, before);
    assert_eq!(count(&mut s, "t").await, 4);

    // JSON and Parquet sources, matched by column name.
    std::fs::remove_file(landing.join("d.csv")).expect("rm");
    std::fs::write(dir.path().join("rows.json"), "{\"name\": \"json\", \"id\": 10}\n").expect("write");
    run(&mut s, &format!("COPY INTO t FROM '{}' FILEFORMAT = JSON", dir.path().join("rows.json").display())).await;
    let got = run(&mut s, "SELECT name, amount IS NULL FROM t WHERE id = 10").await;
    assert_eq!(got[0].column(0).as_string_view().value(0), "json");

    // New columns in the files: ignored by default, added with mergeSchema.
    std::fs::write(dir.path().join("wide.json"), "{\"id\": 11, \"name\": \"wide\", \"color\": \"red\"}\n").expect("write");
    let wide = format!("COPY INTO t FROM '{}' FILEFORMAT = JSON", dir.path().join("wide.json").display());
    run(&mut s, &format!("{wide} COPY_OPTIONS ('mergeSchema' = 'true')")).await;
    let got = run(&mut s, "SELECT color FROM t WHERE id = 11").await;
    assert_eq!(got[0].column(0).as_string_view().value(0), "red");
    assert_eq!(count(&mut s, "t WHERE color IS NULL").await, 5, "older rows have no color");
}

#[tokio::test]
async fn copy_into_and_read_files_load_a_table_with_not_null_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let landing = dir.path().join("landing");
    std::fs::create_dir_all(&landing).expect("mkdir");
    std::fs::write(landing.join("a.csv"), "id,name\n1,ada\n2,\n").expect("write");
    std::fs::write(dir.path().join("rows.json"), "{\"id\": 3, \"name\": \"alan\"}\n").expect("write");
    let mut s = session(dir.path()).await;
    run(&mut s, "CREATE TABLE t (id BIGINT NOT NULL, name STRING)").await;
    // A file's columns are always nullable: NOT NULL is checked on the rows, not the schemas.
    run(&mut s, &format!("COPY INTO t FROM '{}' FILEFORMAT = CSV FORMAT_OPTIONS ('header' = 'true')", landing.display())).await;
    run(&mut s, &format!("COPY INTO t FROM '{}' FILEFORMAT = JSON", dir.path().join("rows.json").display())).await;
    let json = format!(
        "SELECT id + 10, name FROM read_files('{}', format => 'json', rescuedDataColumn => '')",
        dir.path().join("rows.json").display()
    );
    run(&mut s, &format!("INSERT INTO t {json}")).await;
    assert_eq!(count(&mut s, "t").await, 4);
    // A NULL for the NOT NULL column names the file and the column, and commits nothing.
    let before = version(&mut s, "t").await;
    std::fs::write(landing.join("b.csv"), "id,name\n,grace\n").expect("write");
    let err = fails(&mut s, &format!("COPY INTO t FROM '{}' FILEFORMAT = CSV FORMAT_OPTIONS ('header' = 'true')", landing.display())).await;
    assert!(err.contains("b.csv") && err.contains("NOT NULL constraint violated for column: id"), "{err}");
    assert!(!err.contains("Generic") && !err.contains("Execution error"), "{err}");
    assert_eq!(version(&mut s, "t").await, before);
}

#[tokio::test]
async fn vacuum_keeps_the_seven_day_safety_net_unless_overridden() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = session(dir.path()).await;
    run(&mut s, "CREATE TABLE t (id INT)").await;
    run(&mut s, "INSERT INTO t VALUES (1)").await;
    run(&mut s, "INSERT OVERWRITE t VALUES (2)").await;
    let err = fails(&mut s, "VACUUM t RETAIN 0 HOURS").await;
    assert!(err.contains("retentionDurationCheck"), "{err}");
    assert_eq!(count(&mut s, "t").await, 1);

    // Default retention removes nothing recent.
    let dry = run(&mut s, "VACUUM t DRY RUN").await;
    assert_eq!(dry.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);

    run(&mut s, "SET spark.databricks.delta.retentionDurationCheck.enabled = false").await;
    let dry = run(&mut s, "VACUUM t RETAIN 0 HOURS DRY RUN").await;
    assert_eq!(dry.iter().map(RecordBatch::num_rows).sum::<usize>(), 1, "the overwritten file");
    run(&mut s, "VACUUM t RETAIN 0 HOURS").await;
    assert_eq!(count(&mut s, "t").await, 1);
    let err = fails(&mut s, "SELECT * FROM t VERSION AS OF 1").await;
    assert!(!err.is_empty());
}

#[tokio::test]
async fn vacuum_lists_and_counts_each_file_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = session(dir.path()).await;
    run(&mut s, "SET spark.databricks.delta.retentionDurationCheck.enabled = false").await;
    run(&mut s, "CREATE TABLE v (id INT, p STRING) PARTITIONED BY (p) TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')").await;
    for statement in [
        "INSERT INTO v VALUES (1, 'a'), (2, 'b')",
        "INSERT INTO v VALUES (3, 'a')",
        "DELETE FROM v WHERE id = 1",
        "OPTIMIZE v",
        "INSERT OVERWRITE v VALUES (5, 'c')",
        "RESTORE TABLE v TO VERSION AS OF 2",
        "INSERT OVERWRITE v VALUES (6, 'a')",
    ] {
        run(&mut s, statement).await;
    }
    let listed = strings(&mut s, "VACUUM v RETAIN 0 HOURS DRY RUN").await;
    let distinct: std::collections::BTreeSet<_> = listed.iter().collect();
    assert_eq!(distinct.len(), listed.len(), "{listed:?}");
    assert!(listed.len() >= 4, "{listed:?}");
    let deleted = run(&mut s, "VACUUM v RETAIN 0 HOURS").await;
    assert_eq!(deleted[0].column(1).as_primitive::<Int64Type>().value(0), listed.len() as i64);
    assert_eq!(strings(&mut s, "SELECT id FROM v").await, vec![Some("6".to_string())]);
}

#[tokio::test]
async fn shallow_and_deep_clones_are_independent_of_their_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = session(dir.path()).await;
    run(&mut s, "CREATE TABLE src (id INT, v STRING)").await;
    run(&mut s, "INSERT INTO src VALUES (1, 'a'), (2, 'b')").await;
    run(&mut s, "INSERT INTO src VALUES (3, 'c')").await;

    run(&mut s, "CREATE TABLE shallow SHALLOW CLONE src").await;
    run(&mut s, "CREATE TABLE deep DEEP CLONE src VERSION AS OF 1").await;
    assert_eq!(count(&mut s, "shallow").await, 3);
    assert_eq!(count(&mut s, "deep").await, 2);

    // The shallow clone shares the source's bytes (hard links); the deep clone owns copies.
    use std::os::unix::fs::MetadataExt;
    let shallow_files = files_of(&mut s, "shallow").await;
    assert_eq!(shallow_files.len(), 2);
    assert!(shallow_files.iter().all(|p| std::fs::metadata(p).expect("meta").nlink() >= 2), "hard links");
    let deep_files = files_of(&mut s, "deep").await;
    assert_eq!(deep_files.len(), 1);
    assert!(deep_files.iter().all(|p| std::fs::metadata(p).expect("meta").nlink() == 1), "copies");

    run(&mut s, "DELETE FROM shallow WHERE id = 1").await;
    run(&mut s, "UPDATE src SET v = 'changed' WHERE id = 2").await;
    run(&mut s, "INSERT INTO deep VALUES (9, 'z')").await;
    assert_eq!(count(&mut s, "src").await, 3);
    assert_eq!(count(&mut s, "shallow").await, 2);
    assert_eq!(count(&mut s, "deep").await, 3);
    let v = run(&mut s, "SELECT v FROM shallow WHERE id = 2").await;
    assert_eq!(v[0].column(0).as_string_view().value(0), "b");

    // Dropping the managed clones leaves the source intact.
    run(&mut s, "DROP TABLE shallow").await;
    run(&mut s, "DROP TABLE deep").await;
    assert_eq!(count(&mut s, "src").await, 3);
}

#[tokio::test]
async fn external_tables_register_existing_logs_and_survive_drop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ext = dir.path().join("external/events");
    let mut s = session(dir.path()).await;
    run(&mut s, &format!("CREATE TABLE events (id INT, kind STRING) LOCATION '{}'", ext.display())).await;
    run(&mut s, "INSERT INTO events VALUES (1, 'click')").await;
    run(&mut s, "DROP TABLE events").await;
    assert!(ext.join("_delta_log").is_dir(), "DROP TABLE never deletes an external table's files");

    // Re-register it by location alone: the schema comes from the log.
    run(&mut s, &format!("CREATE TABLE again LOCATION '{}'", ext.display())).await;
    assert_eq!(count(&mut s, "again").await, 1);

    // Overlapping locations are refused.
    let err = fails(&mut s, &format!("CREATE TABLE inner_t (a INT) LOCATION '{}'", ext.join("sub").display())).await;
    assert!(err.contains("overlaps"), "{err}");
    let err = fails(&mut s, &format!("CREATE TABLE outer_t (a INT) LOCATION '{}'", ext.parent().expect("parent").display())).await;
    assert!(err.contains("overlaps"), "{err}");

    // Path tables work without registration, for reads and writes.
    let path = format!("delta.`{}`", ext.display());
    run(&mut s, &format!("UPDATE {path} SET kind = 'view' WHERE id = 1")).await;
    let kind = run(&mut s, &format!("SELECT kind FROM {path}")).await;
    assert_eq!(kind[0].column(0).as_string_view().value(0), "view");

    // SHOW CREATE TABLE round-trips the definition.
    let ddl = run(&mut s, "SHOW CREATE TABLE again").await;
    let ddl = ddl[0].column(0).as_string::<i32>().value(0).to_string();
    assert!(ddl.starts_with("CREATE TABLE main.default.again ("), "{ddl}");
    assert!(ddl.contains("LOCATION"), "{ddl}");
    run(&mut s, "DROP TABLE again").await;
    run(&mut s, &ddl.replace("main.default.again", "recreated")).await;
    assert_eq!(count(&mut s, "recreated").await, 1);
}

#[tokio::test]
async fn history_timestamps_come_from_the_log_not_file_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = session(dir.path()).await;
    run(&mut s, "CREATE TABLE t (id INT)").await;
    run(&mut s, "INSERT INTO t VALUES (1)").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    run(&mut s, "INSERT INTO t VALUES (2)").await;

    // Copy the table somewhere else: every file gets a new modification time.
    let detail = run(&mut s, "DESCRIBE DETAIL t").await;
    let location = detail[0].column_by_name("location").expect("location").as_string::<i32>().value(0).to_string();
    let from = url::Url::parse(&location).expect("url").to_file_path().expect("path");
    let to = dir.path().join("copied");
    copy_dir(&from, &to);
    let ts = between.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    let got = count(&mut s, &format!("delta.`{}` TIMESTAMP AS OF '{ts}'", to.display())).await;
    assert_eq!(got, 1, "the version current at {ts} had one row");

    // RESTORE by timestamp uses the same resolution.
    run(&mut s, &format!("RESTORE TABLE t TO TIMESTAMP AS OF '{ts}'")).await;
    assert_eq!(count(&mut s, "t").await, 1);
    assert_eq!(version(&mut s, "t").await, 3, "the restore is a new commit");
}

async fn files_of(s: &mut Session, table: &str) -> Vec<std::path::PathBuf> {
    let detail = run(s, &format!("DESCRIBE DETAIL {table}")).await;
    let location = detail[0].column_by_name("location").expect("location").as_string::<i32>().value(0).to_string();
    let dir = url::Url::parse(&location).expect("url").to_file_path().expect("path");
    std::fs::read_dir(dir).expect("dir").flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "parquet")).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[tokio::test]
async fn optimize_where_compacts_only_the_named_partition_and_describe_extended_shows_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = session(dir.path()).await;
    run(&mut s, "CREATE TABLE sales (region STRING, day INT) PARTITIONED BY (region)").await;
    for day in 1..=3 {
        run(&mut s, &format!("INSERT INTO sales VALUES ('eu', {day}), ('us', {day})")).await;
    }
    let out = run(&mut s, "OPTIMIZE sales WHERE region = 'eu'").await;
    let col = |name: &str| out[0].column_by_name(name).expect(name).as_primitive::<Int64Type>().value(0);
    assert_eq!((col("num_files_added"), col("num_files_removed"), col("partitions_optimized")), (1, 3, 1));
    let detail = run(&mut s, "DESCRIBE DETAIL sales").await;
    assert_eq!(detail[0].column_by_name("numFiles").expect("numFiles").as_primitive::<Int64Type>().value(0), 4);
    assert_eq!(count(&mut s, "sales").await, 6);

    let extended = run(&mut s, "DESCRIBE EXTENDED sales").await;
    let names: Vec<String> = extended
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(|i| b.column(0).as_string::<i32>().value(i).to_string()).collect::<Vec<_>>())
        .collect();
    for expected in ["region", "# Partition Information", "# Detailed Table Information", "Location", "Provider", "Type"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
}

/// The values of one string column of a query, in order (NULL as None).
async fn strings(session: &mut Session, sql: &str) -> Vec<Option<String>> {
    let batches = session.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")).pop().unwrap_or_default();
    let mut out = Vec::new();
    for b in &batches {
        let column = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).expect("cast");
        let column = column.as_string::<i32>();
        for i in 0..column.len() {
            out.push((!column.is_null(i)).then(|| column.value(i).to_string()));
        }
    }
    out
}

#[tokio::test]
async fn read_files_infers_schemas_and_rescues_what_does_not_fit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("landing/json");
    let csv = dir.path().join("landing/csv");
    std::fs::create_dir_all(&json).expect("mkdir");
    std::fs::create_dir_all(&csv).expect("mkdir");
    std::fs::write(
        json.join("a.json"),
        "{\"order_id\": 1, \"amount\": 10.5}\n{\"order_id\": 2, \"amount\": 3, \"note\": \"x\"}\nnot json\n",
    )
    .expect("write");
    std::fs::write(json.join("b.json"), "{\"order_id\": \"three\", \"amount\": 1.5}\n").expect("write");
    std::fs::write(csv.join("x.csv"), "id,name,score\n1,ada,9.5\n2,bob,1e1\n3,cy,2.5,extra\n").expect("write");
    let mut s = session(dir.path()).await;
    let j = json.display();

    // Columns in the order the records name them; the union over files; what does not fit
    // (a line that is not JSON) is kept in _rescued_data with the file it came from.
    let sql = format!("SELECT * FROM read_files('{j}', format => 'json') ORDER BY amount");
    let batches = run(&mut s, &sql).await;
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["order_id", "amount", "note", "_rescued_data"]);
    let rescued =
        strings(&mut s, &format!("SELECT _rescued_data FROM read_files('{j}', format => 'json') WHERE _rescued_data IS NOT NULL")).await;
    assert_eq!(rescued.len(), 1);
    let note: serde_json::Value = serde_json::from_str(rescued[0].as_deref().expect("rescued")).expect("json");
    assert_eq!(note["_corrupt_record"], "not json");
    assert!(note["_file"].as_str().is_some_and(|f| f.ends_with("a.json")), "{note}");

    // With an explicit schema, a value of the wrong type is rescued and the row kept.
    let typed = format!("read_files('{j}', format => 'json', schema => 'order_id BIGINT, amount DOUBLE')");
    assert_eq!(count(&mut s, &typed).await, 4);
    let rescued = strings(&mut s, &format!("SELECT _rescued_data FROM {typed} WHERE order_id IS NULL AND amount = 1.5")).await;
    assert!(rescued[0].as_deref().is_some_and(|r| r.contains("\"order_id\":\"three\"")), "{rescued:?}");
    let rescued = strings(&mut s, &format!("SELECT _rescued_data FROM {typed} WHERE order_id = 2")).await;
    assert!(rescued[0].as_deref().is_some_and(|r| r.contains("\"note\":\"x\"")), "unknown fields are rescued: {rescued:?}");

    // DROPMALFORMED drops what does not fit; FAILFAST names the file and line.
    assert_eq!(
        count(&mut s, &format!("read_files('{j}', format => 'json', schema => 'order_id BIGINT, amount DOUBLE', mode => 'DROPMALFORMED')"))
            .await,
        1
    );
    let err = fails(&mut s, &format!("SELECT * FROM read_files('{j}', format => 'json', mode => 'FAILFAST')")).await;
    assert!(err.contains("a.json line 3") && err.contains("malformed"), "{err}");

    // CSV: header names the columns, types are inferred, extra fields are rescued.
    let c = csv.display();
    let sql = format!("SELECT id, name, score, _rescued_data FROM read_files('{c}/*.csv', format => 'csv', header => true) ORDER BY id");
    let batches = run(&mut s, &sql).await;
    assert_eq!(batches[0].schema().field(2).data_type(), &arrow::datatypes::DataType::Float64);
    let rescued = strings(&mut s, &sql.replace("SELECT id, name, score, _rescued_data", "SELECT _rescued_data")).await;
    assert_eq!(rescued[..2], [None, None]);
    assert!(rescued[2].as_deref().is_some_and(|r| r.contains("\"_c3\":\"extra\"")), "{rescued:?}");
    let err = fails(&mut s, &format!("SELECT * FROM read_files('{c}', format => 'csv', header => true, schema => 'id INT, name STRING, score INT', mode => 'FAILFAST')")).await;
    assert!(err.contains("x.csv line 2") && err.contains("'9.5' is not a valid int"), "{err}");

    // Bad calls say what is wrong.
    let err = fails(&mut s, "SELECT * FROM read_files('/no/such/place', format => 'json')").await;
    assert!(err.contains("does not exist"), "{err}");
    let err = fails(&mut s, &format!("SELECT * FROM read_files('{j}', format => 'xml')")).await;
    assert!(err.contains("unknown format 'xml'"), "{err}");
    let err = fails(&mut s, &format!("SELECT * FROM read_files('{j}', format => 'json', colour => 'red')")).await;
    assert!(err.contains("unknown option 'colour'"), "{err}");

    // A loaded table from files, in one statement.
    run(&mut s, &format!("CREATE TABLE orders AS SELECT order_id, amount FROM {typed} WHERE _rescued_data IS NULL")).await;
    assert_eq!(count(&mut s, "orders").await, 1);
}

fn plan_text(batches: &[RecordBatch]) -> String {
    let mut text = String::new();
    for batch in batches {
        let plans = batch.column(1).as_string::<i32>();
        for i in 0..plans.len() {
            text.push_str(plans.value(i));
            text.push('\n');
        }
    }
    text
}

#[tokio::test]
async fn a_cached_table_is_read_from_memory_until_the_next_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = session(dir.path()).await;
    run(&mut s, "CREATE TABLE m (id INT); INSERT INTO m VALUES (1), (2)").await;
    let before = plan_text(&run(&mut s, "EXPLAIN SELECT * FROM m").await);
    assert!(before.contains("DeltaScan") || before.contains("parquet"), "{before}");
    run(&mut s, "CACHE TABLE m").await;
    let cached = plan_text(&run(&mut s, "EXPLAIN SELECT * FROM m").await);
    assert!(cached.contains("partition_sizes"), "a memory scan after CACHE TABLE:\n{cached}");
    // Another session (as another process would) commits; the cache then serves the new version.
    let mut other = session(dir.path()).await;
    run(&mut other, "INSERT INTO m VALUES (3)").await;
    assert_eq!(count(&mut s, "m").await, 3);
    let after = plan_text(&run(&mut s, "EXPLAIN SELECT * FROM m").await);
    assert!(after.contains("partition_sizes"), "still cached, at the new version:\n{after}");
    run(&mut s, "UNCACHE TABLE m").await;
    let uncached = plan_text(&run(&mut s, "EXPLAIN SELECT * FROM m").await);
    assert!(!uncached.contains("partition_sizes"), "{uncached}");
}

#[tokio::test]
async fn explain_reports_the_files_data_skipping_left_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = session(dir.path()).await;
    run(&mut s, "CREATE TABLE k (id BIGINT, v STRING)").await;
    for (lo, hi) in [(0, 1000), (1000, 2000), (2000, 3000)] {
        run(&mut s, &format!("INSERT INTO k SELECT id, 'x' FROM range({lo}, {hi}) AS r(id)")).await;
    }
    let selective = plan_text(&run(&mut s, "EXPLAIN SELECT count(*) FROM k WHERE id >= 2500").await);
    assert!(selective.contains("main.default.k: 1 of 3 files read (2 skipped by file statistics"), "{selective}");
    let full = plan_text(&run(&mut s, "EXPLAIN ANALYZE SELECT count(*) FROM k WHERE v = 'x'").await);
    assert!(full.contains("main.default.k: 3 of 3 files read (0 skipped"), "{full}");
    // Time travel reports the version it reads: one file at version 1.
    let old = plan_text(&run(&mut s, "EXPLAIN SELECT * FROM k VERSION AS OF 1").await);
    assert!(old.contains("1 of 1 files read"), "{old}");
}

/// The number of files of `table` a query filtering with `predicate` reads, from EXPLAIN.
async fn files_read(s: &mut Session, table: &str, predicate: &str) -> String {
    let plan = plan_text(&run(s, &format!("EXPLAIN SELECT count(*) FROM {table} WHERE {predicate}")).await);
    let line = plan.lines().find(|l| l.contains(" files read (")).unwrap_or_else(|| panic!("no delta_files row:\n{plan}"));
    line.split(": ").nth(1).and_then(|r| r.split(" files read").next()).expect("N of M").to_string()
}

#[tokio::test]
async fn file_statistics_cover_the_columns_the_table_properties_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = session(dir.path()).await;
    for (table, property) in [
        ("first_only", "'delta.dataSkippingNumIndexedCols' = '1'"),
        ("b_only", "'delta.dataSkippingStatsColumns' = 'b'"),
        ("all_columns", "'delta.appendOnly' = 'false'"),
    ] {
        run(&mut s, &format!("CREATE TABLE {table} (a BIGINT, b BIGINT) TBLPROPERTIES ({property})")).await;
        for lo in [0, 1000, 2000] {
            run(&mut s, &format!("INSERT INTO {table} SELECT id AS a, id AS b FROM range({lo}, {lo} + 1000) AS r(id)")).await;
        }
    }
    // Statistics exist only for the columns the properties name, so only those skip files.
    assert_eq!(files_read(&mut s, "first_only", "a >= 2500").await, "1 of 3");
    assert_eq!(files_read(&mut s, "first_only", "b >= 2500").await, "3 of 3");
    assert_eq!(files_read(&mut s, "b_only", "a >= 2500").await, "3 of 3");
    assert_eq!(files_read(&mut s, "b_only", "b >= 2500").await, "1 of 3");
    assert_eq!(files_read(&mut s, "all_columns", "b >= 2500").await, "1 of 3");
    // OPTIMIZE ZORDER BY rewrites the files with the same rule.
    run(&mut s, "OPTIMIZE b_only ZORDER BY (b)").await;
    assert_eq!(files_read(&mut s, "b_only", "a >= 2500").await, "1 of 1");
}

#[tokio::test]
async fn writes_aim_for_the_target_file_size_and_optimize_leaves_compacted_files_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = SessionConfig {
        target_file_size: std::num::NonZeroU64::new(1 << 20).expect("size"),
        ..SessionConfig::new(dir.path().join("wh").to_string_lossy())
    };
    let mut s = Session::open(config).await.expect("session");
    // ~12 MiB of incompressible doubles.
    let load = "SELECT id, random() AS x FROM range(0, 800000) AS r(id)";
    run(&mut s, &format!("CREATE TABLE sized AS {load}")).await;
    let sizes: Vec<u64> = files_of(&mut s, "sized").await.iter().map(|f| std::fs::metadata(f).expect("stat").len()).collect();
    assert!(sizes.len() >= 6, "1 MiB target, ~12 MiB of data: {sizes:?}");
    assert!(sizes.iter().all(|&n| n < 3 << 20), "no file far above the 1 MiB target: {sizes:?}");
    // The table's own delta.targetFileSize wins over the session's.
    run(&mut s, &format!("CREATE TABLE big_files TBLPROPERTIES ('delta.targetFileSize' = '{}') AS {load}", 64 << 20)).await;
    assert_eq!(files_of(&mut s, "big_files").await.len(), 1);

    // A size that is not a positive number of bytes is refused and changes nothing.
    for bad in ["'abc'", "'0'", "'-5'"] {
        let err = fails(&mut s, &format!("CREATE TABLE bad TBLPROPERTIES ('delta.targetFileSize' = {bad}) AS {load}")).await;
        assert!(err.contains("delta.targetFileSize must be a whole number of bytes"), "{err}");
        let err = fails(&mut s, &format!("ALTER TABLE big_files SET TBLPROPERTIES ('delta.targetFileSize' = {bad})")).await;
        assert!(err.contains("delta.targetFileSize must be a whole number of bytes"), "{err}");
    }
    assert!(fails(&mut s, "SELECT * FROM bad").await.contains("bad"), "the failed CREATE made no table");
    let properties = run(&mut s, "SHOW TBLPROPERTIES big_files").await;
    let shown = arrow::util::pretty::pretty_format_batches(&properties).expect("format").to_string();
    assert!(shown.contains(&(64u64 << 20).to_string()), "ALTER left the property as it was:\n{shown}");

    // Small files are compacted once; files already at the target are not rewritten again.
    run(&mut s, "CREATE TABLE small (id BIGINT)").await;
    for i in 0..4 {
        run(&mut s, &format!("INSERT INTO small VALUES ({i})")).await;
    }
    let optimize = |out: &[RecordBatch]| {
        let col = |name: &str| out[0].column_by_name(name).expect(name).as_primitive::<Int64Type>().value(0);
        (col("num_files_added"), col("num_files_removed"))
    };
    assert_eq!(optimize(&run(&mut s, "OPTIMIZE small").await), (1, 4));
    let compacted = version(&mut s, "small").await;
    assert_eq!(optimize(&run(&mut s, "OPTIMIZE small").await), (0, 0));
    // The write's files are just under the target; only its small last file gets merged with
    // one of them, and after that nothing is left to do.
    let (_, removed) = optimize(&run(&mut s, "OPTIMIZE sized").await);
    assert!(removed <= 2, "only the small tail file and one partner are rewritten: {removed} of {sizes:?}");
    assert_eq!(optimize(&run(&mut s, "OPTIMIZE sized").await), (0, 0));
    assert_eq!(version(&mut s, "small").await, compacted, "a second OPTIMIZE commits nothing");
    assert_eq!(count(&mut s, "small").await, 4);
}

#[tokio::test]
async fn scans_carry_the_log_column_statistics_for_planning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = session(dir.path()).await;
    run(&mut s, "CREATE TABLE big AS SELECT id AS big_key, id % 7 AS big_value FROM range(0, 200000) AS r(id)").await;
    run(&mut s, "INSERT INTO big SELECT id, -1 FROM range(200000, 200100) AS r(id)").await;
    // No filter, so delta-rs alone would give row counts only; the planner sees the log's
    // min/max/null counts (inexact) across both files.
    let plan = plan_text(&run(&mut s, "SET datafusion.explain.show_statistics = true; EXPLAIN SELECT big_key, big_value FROM big").await);
    let scan = plan.lines().find(|l| l.contains("DataSourceExec")).unwrap_or_else(|| panic!("no scan:\n{plan}"));
    for expected in [
        "Rows=Exact(200100)",
        "Col[0]: Min=Inexact(Int64(0)) Max=Inexact(Int64(200099)) Null=Inexact(0)",
        "Col[1]: Min=Inexact(Int64(-1)) Max=Inexact(Int64(6)) Null=Inexact(0)",
    ] {
        assert!(scan.contains(expected), "{expected} missing from:\n{scan}");
    }
}

/// The scan line of `table` in an EXPLAIN ANALYZE plan, and the number after `metric=` in it
/// (DataFusion prints counts like `99.99 K`; only zero vs non-zero matters here).
fn scan_metric(plan: &str, table: &str, metric: &str) -> (String, bool) {
    let scan = plan
        .lines()
        .find(|l| l.contains("DataSourceExec") && l.contains(&format!("/{table}-")))
        .unwrap_or_else(|| panic!("no scan of {table}:\n{plan}"));
    let value = scan
        .split(&format!("{metric}="))
        .nth(1)
        .and_then(|rest| rest.split([',', ']']).next())
        .unwrap_or_else(|| panic!("no {metric} in:\n{scan}"));
    (scan.to_string(), value.trim() != "0")
}

#[tokio::test]
async fn static_filters_run_after_decoding_and_join_filters_while_decoding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = session(dir.path()).await;
    run(&mut s, "CREATE TABLE fact AS SELECT id AS fact_key, id % 1000 AS fact_value FROM range(0, 100000) AS r(id)").await;
    run(&mut s, "CREATE TABLE dim AS SELECT id * 1000 AS dim_key FROM range(0, 10) AS r(id)").await;

    // A static filter prunes by statistics but is evaluated by the FilterExec above the scan,
    // not row by row inside the Parquet reader (delta-rs would push it into the reader).
    let filtered = "EXPLAIN ANALYZE SELECT sum(fact_key) FROM fact WHERE fact_value < 10";
    let plan = plan_text(&run(&mut s, filtered).await);
    let (scan, row_filtered) = scan_metric(&plan, "fact", "pushdown_rows_pruned");
    assert!(!row_filtered, "static filter decoded as a row filter:\n{scan}");
    assert!(plan.contains("FilterExec: fact_value@"), "no FilterExec kept:\n{plan}");

    // The join's dynamic filter (dim's 10 keys) is the probe scan's only filter: the reader
    // applies it while decoding, so almost all of fact's rows are dropped there.
    let joined = "EXPLAIN ANALYZE SELECT sum(fact_value) FROM fact JOIN dim ON fact_key = dim_key";
    let plan = plan_text(&run(&mut s, joined).await);
    let (scan, row_filtered) = scan_metric(&plan, "fact", "pushdown_rows_pruned");
    assert!(row_filtered, "the join's dynamic filter was not decoded as a row filter:\n{scan}");
    let answer = run(&mut s, "SELECT sum(fact_value) AS s FROM fact JOIN dim ON fact_key = dim_key").await;
    assert_eq!(answer[0].column(0).as_primitive::<Int64Type>().value(0), 0, "keys 0, 1000, ... have value 0");

    // The session setting still means "push every filter", as in DataFusion.
    run(&mut s, "SET datafusion.execution.parquet.pushdown_filters = true").await;
    let plan = plan_text(&run(&mut s, filtered).await);
    let (scan, row_filtered) = scan_metric(&plan, "fact", "pushdown_rows_pruned");
    assert!(row_filtered, "pushdown_filters = true did not push the static filter:\n{scan}");
}

/// (rows per row group, codec of the first column) of every row group in `table`'s data files.
async fn row_groups_of(s: &mut Session, table: &str) -> Vec<(i64, parquet::basic::Compression)> {
    let mut groups = Vec::new();
    for file in files_of(s, table).await {
        let reader = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&file).expect("open")).expect("a Parquet file");
        use parquet::file::reader::FileReader;
        for rg in reader.metadata().row_groups() {
            groups.push((rg.num_rows(), rg.column(0).compression()));
        }
    }
    groups
}

#[tokio::test]
async fn data_files_have_bounded_row_groups_and_the_sessions_codec() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = session(dir.path()).await;
    // One file, several row groups: a scan of it can be shared by every core.
    run(&mut s, "CREATE TABLE big AS SELECT id, id % 7 AS k FROM range(0, 300000) AS r(id)").await;
    let groups = row_groups_of(&mut s, "big").await;
    assert_eq!(groups.iter().map(|g| g.0).sum::<i64>(), 300_000);
    assert!(groups.len() >= 3, "300,000 rows in row groups of at most 131,072: {groups:?}");
    assert!(groups.iter().all(|g| g.0 <= tarn_engine::ROW_GROUP_ROWS as i64), "{groups:?}");
    assert!(groups.iter().all(|g| g.1 == parquet::basic::Compression::SNAPPY), "snappy by default: {groups:?}");

    // Spark's setting picks the codec of later writes; a codec Tarn cannot write is refused
    // when set, and leaves the setting as it was.
    run(&mut s, "SET spark.sql.parquet.compression.codec = zstd").await;
    let err = fails(&mut s, "SET spark.sql.parquet.compression.codec = lzo").await;
    assert!(err.contains("'lzo' is not a Parquet compression codec"), "{err}");
    run(&mut s, "CREATE TABLE small AS SELECT id FROM range(0, 1000) AS r(id)").await;
    let groups = row_groups_of(&mut s, "small").await;
    assert!(groups.iter().all(|g| matches!(g.1, parquet::basic::Compression::ZSTD(_))), "{groups:?}");
    assert_eq!(count(&mut s, "small").await, 1000);
}

/// One named column of a one-row statement's answer, as text.
async fn cell(session: &mut Session, sql: &str, column: &str) -> Option<String> {
    let batches = session.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")).pop().unwrap_or_default();
    let batch = batches.first().expect("a row");
    let index = batch.schema().index_of(column).expect("column");
    let value = arrow::compute::cast(batch.column(index), &arrow::datatypes::DataType::Utf8).expect("cast");
    let value = value.as_string::<i32>();
    (!value.is_null(0)).then(|| value.value(0).to_string())
}

#[tokio::test]
async fn comments_are_delta_descriptions_and_like_copies_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = session(dir.path()).await;
    run(&mut s, "CREATE TABLE t (id INT) COMMENT 'first'").await;
    run(&mut s, "COMMENT ON TABLE t IS 'second'").await;
    assert_eq!(cell(&mut s, "DESCRIBE DETAIL t", "description").await.as_deref(), Some("second"));
    assert_eq!(cell(&mut s, "DESCRIBE HISTORY t LIMIT 1", "operation").await.as_deref(), Some("UPDATE TABLE METADATA"));
    run(&mut s, "CREATE TABLE copy LIKE t").await;
    assert_eq!(cell(&mut s, "DESCRIBE DETAIL copy", "description").await.as_deref(), Some("second"));
    run(&mut s, "COMMENT ON TABLE t IS NULL").await;
    assert_eq!(cell(&mut s, "DESCRIBE DETAIL t", "description").await, None);
    run(&mut s, "ALTER TABLE t ALTER COLUMN id COMMENT 'key'").await;
    assert_eq!(cell(&mut s, "DESCRIBE HISTORY t LIMIT 1", "operation").await.as_deref(), Some("CHANGE COLUMN"));
    // No data file was written by any of these.
    assert_eq!(count(&mut s, "t").await, 0);
    assert_eq!(version(&mut s, "t").await, 3);
}

#[tokio::test]
async fn parquet_path_reads_the_files_in_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = session(dir.path()).await;
    run(&mut s, "CREATE TABLE src (id INT, name STRING)").await;
    run(&mut s, "INSERT INTO src VALUES (1, 'ada'), (2, 'grace')").await;
    let landing = dir.path().join("landing");
    std::fs::create_dir_all(&landing).expect("mkdir");
    for (i, file) in files_of(&mut s, "src").await.iter().enumerate() {
        std::fs::copy(file, landing.join(format!("part-{i}.parquet"))).expect("copy");
    }
    let sql = format!("SELECT name FROM parquet.`{}` WHERE id = 2", landing.display());
    assert_eq!(strings(&mut s, &sql).await, vec![Some("grace".to_string())]);
    let sql = format!("SELECT count(*) FROM src JOIN parquet.`{}` AS p ON src.id = p.id", landing.display());
    assert_eq!(strings(&mut s, &sql).await, vec![Some("2".to_string())]);
    // The same name outside FROM is a column reference, not a read.
    let err = fails(&mut s, "SELECT parquet.`id` FROM src").await;
    assert!(err.contains("parquet"), "{err}");
}

#[tokio::test]
async fn show_table_extended_describes_what_the_pattern_matches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = session(dir.path()).await;
    run(&mut s, "CREATE TABLE sales (id INT NOT NULL, region STRING) PARTITIONED BY (region) COMMENT 'all sales'").await;
    run(&mut s, "CREATE VIEW sales_eu AS SELECT id FROM sales WHERE region = 'eu'").await;
    run(&mut s, "CREATE TABLE other (x INT)").await;
    let names = strings(&mut s, "SHOW TABLE EXTENDED LIKE 'sales*'").await;
    assert_eq!(names, vec![Some("default".to_string()), Some("default".to_string())]);
    let info = cell(&mut s, "SHOW TABLE EXTENDED LIKE 'sales'", "information").await.expect("information");
    for line in [
        "Catalog: main",
        "Database: default",
        "Table: sales",
        "Type: MANAGED",
        "Provider: delta",
        "Comment: all sales",
        "Schema: root",
        " |-- id: int (nullable = false)",
        " |-- region: string (nullable = true)",
    ] {
        assert!(info.lines().any(|l| l == line), "{line} in\n{info}");
    }
    let view = cell(&mut s, "SHOW TABLE EXTENDED LIKE 'sales_eu'", "information").await.expect("information");
    assert!(view.contains("Type: VIEW") && view.contains(" |-- id: int"), "{view}");
    let err = fails(&mut s, "SHOW TABLE EXTENDED").await;
    assert!(err.contains("LIKE"), "{err}");
}

#[tokio::test]
async fn csv_path_reads_strings_named_as_spark_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let landing = dir.path().join("csv");
    std::fs::create_dir_all(&landing).expect("mkdir");
    std::fs::write(landing.join("a.csv"), "1,007,x\n2,8,y\n").expect("write");
    let mut s = session(dir.path()).await;
    // Spark's csv.`path`: no header, columns _c0.., every one a STRING ('007' stays '007').
    let sql = format!("SELECT _c1, typeof(_c0) FROM csv.`{}` ORDER BY _c0", landing.display());
    assert_eq!(strings(&mut s, &sql).await, vec![Some("007".to_string()), Some("8".to_string())]);
    let sql = format!("SELECT typeof(_c0) FROM csv.`{}` LIMIT 1", landing.display());
    assert_eq!(strings(&mut s, &sql).await, vec![Some("string".to_string())]);
    // read_files infers types unless told not to, and names headerless columns the same way.
    let sql = format!("SELECT typeof(_c1) FROM read_files('{}', format => 'csv') LIMIT 1", landing.display());
    assert_eq!(strings(&mut s, &sql).await, vec![Some("bigint".to_string())]);
    let sql = format!("SELECT _c1 FROM read_files('{}', format => 'csv', inferColumnTypes => 'false') ORDER BY _c0", landing.display());
    assert_eq!(strings(&mut s, &sql).await, vec![Some("007".to_string()), Some("8".to_string())]);
}

#[tokio::test]
async fn json_path_reads_columns_sorted_by_name_as_spark_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let landing = dir.path().join("json");
    std::fs::create_dir_all(&landing).expect("mkdir");
    std::fs::write(landing.join("a.json"), "{\"zip\": \"10115\", \"id\": 1, \"addr\": {\"street\": \"Main\", \"city\": \"Berlin\"}}\n")
        .expect("write");
    std::fs::write(landing.join("b.json"), "{\"id\": 2, \"extra\": true}\n").expect("write");
    let mut s = session(dir.path()).await;
    // Spark's json.`path`: columns and struct fields in name order, across files; no rescued column.
    let sql = format!("DESCRIBE QUERY SELECT * FROM json.`{}`", landing.display());
    let columns = ["addr", "extra", "id", "zip"].map(|c| Some(c.to_string()));
    assert_eq!(strings(&mut s, &sql).await, columns);
    let sql = format!("SELECT typeof(addr) FROM json.`{}` WHERE id = 1", landing.display());
    assert_eq!(strings(&mut s, &sql).await, vec![Some("struct<city:string,street:string>".to_string())]);
    let sql = format!("SELECT addr.city FROM json.`{}` ORDER BY id", landing.display());
    assert_eq!(strings(&mut s, &sql).await, vec![Some("Berlin".to_string()), None]);
    // read_files keeps the order the records name them in, unless told otherwise.
    let sql = format!("DESCRIBE QUERY SELECT * FROM read_files('{}', format => 'json', rescuedDataColumn => '')", landing.display());
    let columns = ["zip", "id", "addr", "extra"].map(|c| Some(c.to_string()));
    assert_eq!(strings(&mut s, &sql).await, columns);
    let sql = format!("SELECT * FROM read_files('{}', format => 'json', columnOrder => 'random')", landing.display());
    let err = fails(&mut s, &sql).await;
    assert!(err.contains("columnOrder must be 'name' or 'file'"), "{err}");
}

fn column_names(batches: &[RecordBatch]) -> Vec<String> {
    batches.first().map(|b| b.schema().fields().iter().map(|f| f.name().clone()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn unnamed_columns_get_sparks_names_and_aliases_keep_their_case() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session(dir.path()).await;
    run(&mut s, "CREATE TABLE t (a INT, b STRING, s STRUCT<f: INT>)").await;
    run(&mut s, "INSERT INTO t VALUES (1, 'x', named_struct('f', 2))").await;
    let names = column_names(
        &run(
            &mut s,
            "SELECT 1, 'name', 1 + 2, upper(b), count(*), a IS NULL, CAST(a AS BIGINT), 10L, 1e10, s.f, a AS Total FROM t GROUP BY a, b, s",
        )
        .await,
    );
    assert_eq!(names, ["1", "name", "(1 + 2)", "upper(b)", "count(1)", "(a IS NULL)", "CAST(a AS BIGINT)", "10", "1.0E10", "f", "Total"]);
    // The same names through a wildcard, a set operation and a pipe.
    assert_eq!(column_names(&run(&mut s, "SELECT *, a + 1 FROM t").await), ["a", "b", "s", "(a + 1)"]);
    assert_eq!(column_names(&run(&mut s, "SELECT 1 UNION ALL SELECT 2").await), ["1"]);
    assert_eq!(column_names(&run(&mut s, "FROM t |> SELECT s.f").await), ["f"]);
    // A generator names its own columns; a window is spelled out as Spark does.
    assert_eq!(column_names(&run(&mut s, "SELECT explode(array(1, 2))").await), ["col"]);
    assert_eq!(
        column_names(&run(&mut s, "SELECT sum(a) OVER (ORDER BY a ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t").await),
        ["sum(a) OVER (ORDER BY a ASC NULLS FIRST ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"]
    );
    // Repeated names are allowed in an answer, as in Spark.
    assert_eq!(column_names(&run(&mut s, "SELECT 1, 1").await), ["1", "1"]);
    // CTAS and views take the names; an alias resolves case-insensitively as before.
    run(&mut s, "CREATE TABLE c AS SELECT 1, a AS Total FROM t").await;
    assert_eq!(column_names(&run(&mut s, "SELECT * FROM c").await), ["1", "total"]);
    assert_eq!(column_names(&run(&mut s, "SELECT TOTAL FROM c").await), ["total"]);
    run(&mut s, "CREATE VIEW v AS SELECT upper(b) FROM t").await;
    assert_eq!(column_names(&run(&mut s, "SELECT * FROM v").await), ["upper(b)"]);
}

#[tokio::test]
async fn current_user_names_who_runs_the_statement() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session(dir.path()).await;
    let me = s.user_name();
    run(&mut s, "CREATE TABLE people (name STRING)").await;
    run(&mut s, &format!("INSERT INTO people VALUES ('{me}'), ('someone else')")).await;
    assert_eq!(strings(&mut s, "SELECT current_user()").await, [Some(me.clone())]);
    assert_eq!(strings(&mut s, "SELECT session_user()").await, [Some(me.clone())]);
    // Through a view, too: each reader gets their own rows.
    run(&mut s, "CREATE VIEW mine AS SELECT name FROM people WHERE name = current_user()").await;
    assert_eq!(strings(&mut s, "SELECT * FROM mine").await, [Some(me)]);
    // A column called `user` is still a column.
    run(&mut s, "CREATE TABLE u (user STRING)").await;
    run(&mut s, "INSERT INTO u VALUES ('x')").await;
    assert_eq!(strings(&mut s, "SELECT user FROM u").await, [Some("x".to_string())]);
}

#[tokio::test]
async fn integer_literals_are_ints_as_in_spark() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session(dir.path()).await;
    assert_eq!(
        strings(&mut s, "SELECT concat_ws(',', typeof(1), typeof(3000000000), typeof(array(1, 2)), typeof(1 + 1L))").await,
        [Some("int,bigint,array<int>,bigint".to_string())]
    );
    run(&mut s, "CREATE TABLE c AS SELECT 1 AS a, named_struct('k', 1) AS s").await;
    assert_eq!(cell(&mut s, "DESCRIBE c", "data_type").await.as_deref(), Some("int"));
    // A literal meets a BIGINT as a BIGINT; INT arithmetic overflows as Spark's does.
    run(&mut s, "CREATE TABLE b (id BIGINT)").await;
    run(&mut s, "INSERT INTO b VALUES (3000000000)").await;
    assert_eq!(strings(&mut s, "SELECT CAST(id + 1 AS STRING) FROM b UNION ALL SELECT CAST(1 AS STRING)").await.len(), 2);
    assert!(fails(&mut s, "SELECT 2147483647 + 1").await.contains("overflow"));
    // Plans whose types were fixed when planned keep BIGINT literals and still run.
    assert_eq!(
        strings(&mut s, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT CAST(sum(n) AS STRING) FROM r")
            .await,
        [Some("6".to_string())]
    );
    assert_eq!(
        strings(&mut s, "SELECT CAST(exists(transform(array(1, 2), x -> x * 10), x -> x = 20) AS STRING)").await,
        [Some("true".to_string())]
    );
}
