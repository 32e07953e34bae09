//! What data skipping did for a query: files (and their bytes) of each Delta table that a scan
//! reads versus the table's whole, for EXPLAIN [ANALYZE].
//!
//! delta-rs prunes files with the min/max/null-count statistics and partition values in the log
//! before DataFusion sees them, so DataFusion's own metrics (row groups and pages pruned inside
//! the files, `bytes_scanned`) never mention the files that were skipped. [`reporting_provider`]
//! hooks a table's provider ([`HookedProvider`]) and, at planning time, records the files the scan plan will open.
//! The plan itself is untouched (no extra node that could stop filter or projection pushdown).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::catalog::TableProvider;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::physical_plan::ExecutionPlan;
use deltalake::DeltaTable;

use crate::scan_hook::{HookedProvider, ScanHook};

/// One scan of one table: how much of it the plan reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSummary {
    pub table: String,
    pub files_total: usize,
    pub bytes_total: u64,
    pub files_read: usize,
    pub bytes_read: u64,
}

impl ScanSummary {
    /// `main.default.t: 3 of 40 files read (37 skipped by file statistics and partitions), 12.1 MiB of 160.0 MiB`
    pub fn describe(&self) -> String {
        format!(
            "{}: {} of {} files read ({} skipped by file statistics and partitions), {} of {}",
            self.table,
            self.files_read,
            self.files_total,
            self.files_total.saturating_sub(self.files_read),
            mib(self.bytes_read),
            mib(self.bytes_total)
        )
    }
}

fn mib(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b if b < 1024 * 1024 * 1024 => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
        b => format!("{:.2} GiB", b as f64 / (1024.0 * 1024.0 * 1024.0)),
    }
}

/// Scans recorded while planning a statement (shared by the providers it resolved).
pub type ScanLog = Arc<Mutex<Vec<ScanSummary>>>;

/// `provider` (the table's DataFusion provider) reporting its scans to `log` under `name`.
pub fn reporting_provider(provider: Arc<dyn TableProvider>, name: &str, table: &DeltaTable, log: ScanLog) -> Arc<dyn TableProvider> {
    let (files_total, bytes_total) = match table.snapshot() {
        Ok(state) => state.log_data().iter().fold((0usize, 0u64), |(n, b), f| (n + 1, b + f.size().max(0) as u64)),
        Err(_) => (0, 0),
    };
    HookedProvider::wrap(provider, ScanRecorder { name: name.to_string(), files_total, bytes_total, log })
}

#[derive(Debug)]
struct ScanRecorder {
    name: String,
    files_total: usize,
    bytes_total: u64,
    log: ScanLog,
}

/// Distinct files (and their sizes) the file scans under `plan` open.
fn files_read(plan: &Arc<dyn ExecutionPlan>, files: &mut HashMap<String, u64>) {
    if let Some(source) = plan.downcast_ref::<DataSourceExec>()
        && let Some(config) = source.data_source().downcast_ref::<FileScanConfig>()
    {
        for group in &config.file_groups {
            for file in group.files() {
                files.insert(file.object_meta.location.to_string(), file.object_meta.size);
            }
        }
    }
    for child in plan.children() {
        files_read(child, files);
    }
}

impl ScanHook for ScanRecorder {
    fn on_scan(&self, plan: Arc<dyn ExecutionPlan>) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut files = HashMap::new();
        files_read(&plan, &mut files);
        let summary = ScanSummary {
            table: self.name.clone(),
            files_total: self.files_total,
            bytes_total: self.bytes_total,
            files_read: files.len(),
            bytes_read: files.values().sum(),
        };
        self.log.lock().unwrap_or_else(|p| p.into_inner()).push(summary);
        Ok(plan)
    }
}
