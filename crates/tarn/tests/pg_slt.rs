//! SQL logic tests over the Postgres wire protocol: every `tests/pg_slt/*.slt` file runs
//! against a real `tarn serve` process through `tokio-postgres` (simple query protocol, the
//! one `psql` uses), with a fresh warehouse per file. Values are compared in Postgres' text
//! format, as clients see them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// A `tarn serve` process on a free port, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tarn"))
            .args(["--warehouse", &dir.path().join("wh").to_string_lossy()])
            .args(["serve", "--insecure-no-auth", "--http-addr", "off", "--flight-addr", "off", "--pg-addr", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tarn serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let port = loop {
            let line = lines.next().expect("tarn serve exited before listening").expect("read stderr");
            if let Some(addr) = line.strip_prefix("tarn: Postgres wire protocol listening on ") {
                break addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, port, _dir: dir }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct PgDb {
    client: Client,
}

/// The server's message (tokio-postgres' own Display says only "db error").
#[derive(Debug)]
struct DbError(String);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DbError {}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => DbError(format!("{} ({})", db.message(), db.code().code())),
            None => DbError(e.to_string()),
        }
    }
}

#[async_trait::async_trait]
impl AsyncDB for PgDb {
    type Error = DbError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        let mut rows = Vec::new();
        let mut columns = 0;
        let mut last_count = 0;
        for message in self.client.simple_query(sql).await? {
            match message {
                SimpleQueryMessage::RowDescription(description) => columns = description.len(),
                SimpleQueryMessage::Row(row) => {
                    columns = row.len();
                    rows.push(
                        (0..row.len())
                            .map(|i| match row.get(i) {
                                None => "NULL".to_string(),
                                Some("") => "(empty)".to_string(),
                                Some(v) => v.to_string(),
                            })
                            .collect(),
                    );
                }
                SimpleQueryMessage::CommandComplete(n) => last_count = n,
                _ => {}
            }
        }
        if columns == 0 {
            return Ok(DBOutput::StatementComplete(last_count));
        }
        Ok(DBOutput::Rows { types: vec![DefaultColumnType::Any; columns], rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "postgres"
    }
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pg_slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/pg_slt exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_logic_tests_over_postgres_wire() {
    let filter = std::env::var("SLT_FILTER").unwrap_or_default();
    let mut failures = Vec::new();
    let mut ran = 0;
    for file in slt_files() {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if !name.contains(&filter) {
            continue;
        }
        let server = Server::start();
        let config = format!("host=127.0.0.1 port={} user=tester dbname=main", server.port);
        let mut runner = Runner::new(move || {
            let config = config.clone();
            async move {
                let (client, connection) = tokio_postgres::connect(&config, NoTls).await.map_err(DbError::from)?;
                tokio::spawn(connection);
                Ok(PgDb { client })
            }
        });
        ran += 1;
        if let Err(e) = runner.run_file_async(&file).await {
            failures.push(format!("{name}:\n{e}"));
        }
        drop(server);
    }
    assert!(ran > 0, "no .slt file matched SLT_FILTER='{filter}'");
    assert!(failures.is_empty(), "{} of {ran} .slt files failed:\n\n{}", failures.len(), failures.join("\n\n"));
}
