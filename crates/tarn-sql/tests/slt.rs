//! SQL behaviour as data: every `tests/slt/*.slt` file runs against a fresh warehouse through
//! the `sqllogictest` runner — once on local disk and once on the S3-compatible test server, the
//! same files on both backends. `$WAREHOUSE` and `$SHARED` expand (with `control substitution
//! on`) to the warehouse location and to `../shared`.

#[path = "support/shared.rs"]
mod shared;

#[path = "support/s3.rs"]
mod s3;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};
use tarn_sql::{Session, SessionConfig, SqlError, parse_sql};

struct TarnDb {
    session: Session,
}

#[async_trait::async_trait]
impl AsyncDB for TarnDb {
    type Error = SqlError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlError> {
        let mut last = DBOutput::StatementComplete(0);
        for statement in parse_sql(sql)? {
            let output = self.session.execute(statement).await?;
            let empty = output.is_empty_schema();
            let columns = output.schema.fields().len();
            let batches = output.collect().await?;
            if empty {
                last = DBOutput::StatementComplete(0);
                continue;
            }
            let options = FormatOptions::default().with_null("NULL");
            let mut rows = Vec::new();
            for batch in &batches {
                let formatters: Vec<_> = batch
                    .columns()
                    .iter()
                    .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).map_err(|e| SqlError::Internal(e.to_string())))
                    .collect::<Result<_, _>>()?;
                for i in 0..batch.num_rows() {
                    rows.push(
                        formatters
                            .iter()
                            .map(|f| {
                                let v = f.value(i).to_string();
                                if v.is_empty() { "(empty)".to_string() } else { v }
                            })
                            .collect(),
                    );
                }
            }
            last = DBOutput::Rows { types: vec![DefaultColumnType::Any; columns], rows };
        }
        Ok(last)
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "tarn"
    }
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_logic_tests() {
    run_all(|dir| dir.path().join("wh").to_string_lossy().to_string()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_logic_tests_on_s3() {
    let cache = tempfile::tempdir().expect("cache dir");
    let server = s3::S3Server::start(Some(cache.path().to_path_buf()));
    run_all(|_| server.warehouse("slt")).await;
    let stats = tarn_storage::disk_cache().expect("cache configured").stats();
    assert!(stats.hits > 0 && stats.misses > 0, "data files went through the disk cache: {stats:?}");
}

async fn run_all(warehouse_for: impl Fn(&tempfile::TempDir) -> String) {
    let filter = std::env::var("SLT_FILTER").unwrap_or_default();
    let shared = shared::shared_dir(".");
    let mut failures = Vec::new();
    let mut ran = 0;
    for file in slt_files() {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if !name.contains(&filter) {
            continue;
        }
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        let warehouse = warehouse_for(&dir);
        let wh = warehouse.clone();
        let mut runner = Runner::new(move || {
            let wh = wh.clone();
            async move { Ok(TarnDb { session: Session::open(SessionConfig::new(wh)).await? }) }
        });
        runner.set_var("WAREHOUSE".into(), warehouse.clone());
        runner.set_var("SCRATCH".into(), dir.path().join("scratch").to_string_lossy().to_string());
        runner.set_var("SHARED".into(), shared.canonicalize().unwrap_or(shared.clone()).to_string_lossy().to_string());
        ran += 1;
        if let Err(e) = runner.run_file_async(&file).await {
            failures.push(format!("{name} ({warehouse}):\n{e}"));
        }
        drop(dir);
    }
    assert!(ran > 0, "no .slt file matched SLT_FILTER='{filter}'");
    assert!(failures.is_empty(), "{} of {ran} .slt files failed:\n\n{}", failures.len(), failures.join("\n\n"));
}
