//! What data skipping did for a query: files (and their bytes) of each Delta table that a scan
//! reads versus the table's whole, for EXPLAIN [ANALYZE].
//!
//! delta-rs prunes files with the min/max/null-count statistics and partition values in the log
//! before DataFusion sees them, so DataFusion's own metrics (row groups and pages pruned inside
//! the files, `bytes_scanned`) never mention the files that were skipped. [`ReportingProvider`]
//! wraps a table's provider and, at planning time, records the files the scan plan will open.
//! The plan itself is untouched (no extra node that could stop filter or projection pushdown).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::{Constraints, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use deltalake::DeltaTable;

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
        Ok(state) => state
            .log_data()
            .iter()
            .fold((0usize, 0u64), |(n, b), f| (n + 1, b + f.size().max(0) as u64)),
        Err(_) => (0, 0),
    };
    Arc::new(ReportingProvider { inner: provider, name: name.to_string(), files_total, bytes_total, log })
}

#[derive(Debug)]
struct ReportingProvider {
    inner: Arc<dyn TableProvider>,
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

#[async_trait]
impl TableProvider for ReportingProvider {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        self.inner.get_logical_plan()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.scan(state, projection, filters, limit).await?;
        self.record(&plan);
        Ok(plan)
    }

    async fn scan_with_args<'a>(&self, state: &dyn Session, args: ScanArgs<'a>) -> DfResult<ScanResult> {
        let result = self.inner.scan_with_args(state, args).await?;
        self.record(result.plan());
        Ok(result)
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }
}

impl ReportingProvider {
    fn record(&self, plan: &Arc<dyn ExecutionPlan>) {
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
    }
}
