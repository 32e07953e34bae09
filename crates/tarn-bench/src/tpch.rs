//! TPC-H data generated in process with `tpchgen` / `tpchgen-arrow` (no dbgen, no download).
//!
//! [`write_parquet`] writes the eight tables as plain Parquet files (what DuckDB and Polars read
//! in the benchmark), [`load_into_warehouse`] turns those files into Delta tables through Tarn's
//! own SQL (`CREATE OR REPLACE TABLE ... AS SELECT * FROM read_files(...)`), so the tables are
//! written exactly as a user's would be.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::record_batch::RecordBatchReader;
use indicatif::{ProgressBar, ProgressStyle};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tarn_sql::Session;
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator, PartSuppGenerator, RegionGenerator,
    SupplierGenerator,
};
use tpchgen_arrow::{CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow, SupplierArrow};

use crate::{BenchError, Result};

/// The eight TPC-H tables, smallest first.
pub const TABLES: [&str; 8] = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"];

/// Marker written last: its presence means the directory holds complete data for its scale.
const COMPLETE: &str = "_tpch_complete";

/// Rows per part file of the big tables; parts are generated in parallel.
const ROWS_PER_PART: f64 = 2_000_000.0;

/// Rows per table at scale factor 1 (TPC-H spec), to size the parts.
fn rows_at_sf1(table: &str) -> f64 {
    match table {
        "region" => 5.0,
        "nation" => 25.0,
        "supplier" => 10_000.0,
        "customer" => 150_000.0,
        "part" => 200_000.0,
        "partsupp" => 800_000.0,
        "orders" => 1_500_000.0,
        _ => 6_001_215.0,
    }
}

/// Whether `dir` already holds complete data generated at `scale`.
pub fn is_complete(dir: &Path, scale: f64) -> bool {
    std::fs::read_to_string(dir.join(COMPLETE)).is_ok_and(|s| s.trim().parse::<f64>().ok() == Some(scale))
}

fn batches(table: &str, scale: f64, part: i32, parts: i32) -> Box<dyn RecordBatchReader + Send> {
    match table {
        "region" => Box::new(RegionArrow::new(RegionGenerator::new(scale, part, parts))),
        "nation" => Box::new(NationArrow::new(NationGenerator::new(scale, part, parts))),
        "supplier" => Box::new(SupplierArrow::new(SupplierGenerator::new(scale, part, parts))),
        "customer" => Box::new(CustomerArrow::new(CustomerGenerator::new(scale, part, parts))),
        "part" => Box::new(PartArrow::new(PartGenerator::new(scale, part, parts))),
        "partsupp" => Box::new(PartSuppArrow::new(PartSuppGenerator::new(scale, part, parts))),
        "orders" => Box::new(OrderArrow::new(OrderGenerator::new(scale, part, parts))),
        _ => Box::new(LineItemArrow::new(LineItemGenerator::new(scale, part, parts))),
    }
}

fn write_part(table: &str, scale: f64, part: i32, parts: i32, path: &Path) -> Result<u64> {
    let source = batches(table, scale, part, parts);
    let schema = source.schema();
    let file = File::create(path).map_err(|e| BenchError::io(path, e))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(props))?;
    let mut rows = 0u64;
    for batch in source {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        writer.write(&batch)?;
    }
    writer.close()?;
    Ok(rows)
}

/// Write the TPC-H tables at `scale` as Parquet under `dir/<table>/part-N.parquet`, using
/// `threads` threads, with a progress bar on standard error. Existing complete data for the
/// same scale is kept (returns `false`).
pub fn write_parquet(dir: &Path, scale: f64, threads: usize) -> Result<bool> {
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(BenchError::User(format!("the scale factor must be a positive number, not {scale}")));
    }
    if is_complete(dir, scale) {
        return Ok(false);
    }
    let mut jobs: Vec<(&str, i32, i32, PathBuf)> = Vec::new();
    for table in TABLES {
        let table_dir = dir.join(table);
        if table_dir.exists() {
            std::fs::remove_dir_all(&table_dir).map_err(|e| BenchError::io(&table_dir, e))?;
        }
        std::fs::create_dir_all(&table_dir).map_err(|e| BenchError::io(&table_dir, e))?;
        let parts = ((rows_at_sf1(table) * scale) / ROWS_PER_PART).ceil().max(1.0) as i32;
        for part in 1..=parts {
            jobs.push((table, part, parts, table_dir.join(format!("part-{part:05}.parquet"))));
        }
    }
    // Biggest first so the last thread to finish is not stuck with a large part.
    jobs.sort_by_key(|(table, ..)| std::cmp::Reverse(TABLES.iter().position(|t| t == table)));
    let progress = ProgressBar::new(jobs.len() as u64).with_message(format!("generating TPC-H SF {scale}"));
    progress.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} files, {elapsed}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<BenchError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((table, part, parts, path)) = jobs.get(i) else { break };
                    if let Err(e) = write_part(table, scale, *part, *parts, path) {
                        failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                        break;
                    }
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let marker = dir.join(COMPLETE);
    std::fs::write(&marker, format!("{scale}\n")).map_err(|e| BenchError::io(&marker, e))?;
    Ok(true)
}

/// Create (or replace) the eight tables in `schema` (default: the session's current schema)
/// from the Parquet files under `dir`, through Tarn's SQL.
pub async fn load_into_warehouse(session: &mut Session, dir: &Path, schema: Option<&str>) -> Result<()> {
    let dir = std::fs::canonicalize(dir).map_err(|e| BenchError::io(dir, e))?;
    if let Some(schema) = schema {
        session.sql(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await?;
    }
    let progress = ProgressBar::new(TABLES.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("loading {msg} [{bar:30}] {pos}/{len} tables, {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for table in TABLES {
        progress.set_message(table);
        let name = match schema {
            Some(schema) => format!("{schema}.{table}"),
            None => table.to_string(),
        };
        let source = dir.join(table);
        let source = tarn_sql::string_literal(&format!("{}/", source.to_string_lossy()));
        session.sql(&format!("CREATE OR REPLACE TABLE {name} AS SELECT * FROM read_files({source}, format => 'parquet')")).await?;
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(())
}
