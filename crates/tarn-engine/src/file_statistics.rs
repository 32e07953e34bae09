//! Column statistics from the Delta log for the planner.
//!
//! delta-rs hands DataFusion per-file column statistics only for the columns a query filters on
//! (the rest get row counts alone), so the planner cannot estimate the size of a join's inputs
//! and picks build sides blind: TPC-H Q18 built its semi join on a 6-million-row join output
//! instead of the 600 qualifying orders, Q7 broadcast a lineitem join. The log already holds
//! min/max/null counts for every indexed column of every file; [`with_log_statistics`] hooks a
//! table's provider and, after delta-rs has planned a scan, fills them into the file scan's
//! per-file statistics. Only the statistics change: the plan's nodes, files and pushdown stay
//! delta-rs's own.
//!
//! The values are marked inexact: Delta truncates string and timestamp statistics, and deletion
//! vectors remove rows the counts still include. Exact statistics would let DataFusion answer
//! `min`/`max` from them alone.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, UInt64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::TableProvider;
use datafusion::common::stats::Precision;
use datafusion::common::{Column, ColumnStatistics, ScalarValue, Statistics};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::physical_optimizer::pruning::PruningStatistics;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use deltalake::DeltaTable;
use deltalake::kernel::EagerSnapshot;
use object_store::path::Path;
use url::Url;

use crate::scan_hook::{HookedProvider, ScanHook};

/// The Delta field metadata key naming a column's name in the Parquet files.
const PHYSICAL_NAME_KEY: &str = "delta.columnMapping.physicalName";

/// `provider` (delta-rs's provider for `table`) with log statistics on its scans. Returns
/// `provider` unchanged when the table has no loaded snapshot.
pub fn with_log_statistics(provider: Arc<dyn TableProvider>, table: &DeltaTable) -> Arc<dyn TableProvider> {
    let Ok(state) = table.snapshot() else {
        return provider;
    };
    let snapshot = state.snapshot().clone();
    let mut root = table.log_store().config().location().clone();
    if !root.path().ends_with('/') {
        root.set_path(&format!("{}/", root.path()));
    }
    HookedProvider::wrap(provider, LogStatistics { snapshot, root })
}

/// Puts the log's statistics on the scans of one snapshot.
#[derive(Debug)]
struct LogStatistics {
    snapshot: EagerSnapshot,
    /// The table's root URL: relative paths in the log are relative to it.
    root: Url,
}

impl ScanHook for LogStatistics {
    fn on_scan(&self, plan: Arc<dyn ExecutionPlan>) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut log = LogColumns::new(&self.snapshot, &self.root);
        annotate_plan(plan, &mut log)
    }
}

/// Replace every Parquet file scan under `plan` by the same scan with log statistics.
fn annotate_plan(plan: Arc<dyn ExecutionPlan>, log: &mut LogColumns<'_>) -> DfResult<Arc<dyn ExecutionPlan>> {
    if let Some(source) = plan.downcast_ref::<DataSourceExec>()
        && let Some(config) = source.data_source().downcast_ref::<FileScanConfig>()
    {
        return Ok(match with_file_statistics(config, log)? {
            Some(config) => DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>,
            None => plan,
        });
    }
    let children: Vec<Arc<dyn ExecutionPlan>> = plan.children().into_iter().cloned().collect();
    if children.is_empty() {
        return Ok(plan);
    }
    let mut changed = false;
    let mut annotated = Vec::with_capacity(children.len());
    for child in children {
        let new = annotate_plan(Arc::clone(&child), log)?;
        changed |= !Arc::ptr_eq(&new, &child);
        annotated.push(new);
    }
    if !changed {
        return Ok(plan);
    }
    plan.replace_children(annotated, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
}

/// `config` with each file's column statistics taken from the log, or `None` when none of its
/// files is in the log (not a scan of this table's data).
fn with_file_statistics(config: &FileScanConfig, log: &mut LogColumns<'_>) -> DfResult<Option<FileScanConfig>> {
    let table_schema = config.file_source.table_schema();
    let file_fields = table_schema.file_schema().fields().clone();
    let schema = table_schema.table_schema().as_ref();
    let mut any = false;
    let mut groups = Vec::with_capacity(config.file_groups.len());
    for group in &config.file_groups {
        let mut files = Vec::with_capacity(group.len());
        for file in group.iter() {
            let index = log.file_index(&file.object_meta.location);
            any |= index.is_some();
            let previous = file.statistics.as_deref();
            let num_rows = previous
                .map(|s| s.num_rows)
                .filter(|n| n.get_value().is_some())
                .or_else(|| index.and_then(|i| log.row_count(i)).map(Precision::Inexact))
                .unwrap_or(Precision::Absent);
            let total_byte_size = previous.map_or(Precision::Absent, |s| s.total_byte_size);
            let column_statistics = file_fields
                .iter()
                .map(|field| match index {
                    Some(index) => log.column_statistics(field.name(), field.data_type(), index),
                    None => ColumnStatistics::new_unknown(),
                })
                .collect();
            let stats = Statistics { num_rows, total_byte_size, column_statistics };
            // `with_statistics` appends the exact statistics of the partition values (the
            // file-id column delta-rs adds) after the file's own columns.
            let mut annotated = PartitionedFile { statistics: None, ..file.clone() };
            annotated = annotated.with_statistics(Arc::new(stats));
            files.push(annotated);
        }
        let group_stats = Statistics::try_merge_iter(files.iter().filter_map(|f| f.statistics.as_deref()), schema)?;
        groups.push(FileGroup::new(files).with_statistics(Arc::new(group_stats)));
    }
    if !any {
        return Ok(None);
    }
    let statistics = Statistics::try_merge_iter(groups.iter().filter_map(|g| g.file_statistics(None)), schema)?;
    let config = FileScanConfigBuilder::from(config.clone()).with_file_groups(groups).with_statistics(statistics).build();
    Ok(Some(config))
}

/// Per-file statistics of the snapshot's columns, read from the log on first use.
struct LogColumns<'a> {
    snapshot: &'a EagerSnapshot,
    root: &'a Url,
    files: Option<HashMap<Path, usize>>,
    /// Logical name of each column by its name in the Parquet files (column mapping).
    logical_names: HashMap<String, String>,
    columns: HashMap<String, Option<ColumnArrays>>,
    row_counts: Option<Option<ArrayRef>>,
}

struct ColumnArrays {
    min: Option<ArrayRef>,
    max: Option<ArrayRef>,
    null_counts: Option<ArrayRef>,
}

impl<'a> LogColumns<'a> {
    fn new(snapshot: &'a EagerSnapshot, root: &'a Url) -> Self {
        let logical_names = snapshot
            .schema()
            .fields()
            .filter_map(|field| {
                let physical = field.metadata().get(PHYSICAL_NAME_KEY)?.to_string();
                Some((physical.trim_matches('"').to_string(), field.name().to_string()))
            })
            .collect();
        Self { snapshot, root, files: None, logical_names, columns: HashMap::new(), row_counts: None }
    }

    /// The position of the file at `location` among the snapshot's files (the order of the
    /// statistics arrays), keyed the way delta-rs builds its scan's paths.
    fn file_index(&mut self, location: &Path) -> Option<usize> {
        let root = self.root;
        let snapshot = self.snapshot;
        let files = self.files.get_or_insert_with(|| {
            snapshot
                .log_data()
                .iter()
                .enumerate()
                .filter_map(|(index, file)| {
                    let url = root.join(&file.path()).ok()?;
                    Some((Path::from_url_path(url.path()).ok()?, index))
                })
                .collect()
        });
        files.get(location).copied()
    }

    fn row_count(&mut self, index: usize) -> Option<usize> {
        let snapshot = self.snapshot;
        let counts = self.row_counts.get_or_insert_with(|| snapshot.row_counts()).as_ref()?;
        let counts = counts.as_any().downcast_ref::<UInt64Array>()?;
        (counts.is_valid(index)).then(|| counts.value(index) as usize)
    }

    fn column_statistics(&mut self, file_column: &str, data_type: &DataType, index: usize) -> ColumnStatistics {
        let logical = self.logical_names.get(file_column).map_or(file_column, String::as_str).to_string();
        let snapshot = self.snapshot;
        let arrays = self.columns.entry(logical.clone()).or_insert_with(|| {
            let column = Column::new_unqualified(logical);
            Some(ColumnArrays {
                min: snapshot.min_values(&column),
                max: snapshot.max_values(&column),
                null_counts: snapshot.null_counts(&column),
            })
        });
        let Some(arrays) = arrays else {
            return ColumnStatistics::new_unknown();
        };
        ColumnStatistics {
            null_count: arrays
                .null_counts
                .as_ref()
                .and_then(|a| a.as_any().downcast_ref::<UInt64Array>())
                .filter(|a| index < a.len() && a.is_valid(index))
                .map_or(Precision::Absent, |a| Precision::Inexact(a.value(index) as usize)),
            min_value: value_at(arrays.min.as_ref(), index, data_type),
            max_value: value_at(arrays.max.as_ref(), index, data_type),
            ..ColumnStatistics::new_unknown()
        }
    }
}

/// The statistic at `index`, as the scan's column type; absent when unknown or not castable.
fn value_at(array: Option<&ArrayRef>, index: usize, data_type: &DataType) -> Precision<ScalarValue> {
    let Some(array) = array else {
        return Precision::Absent;
    };
    if index >= array.len() || array.is_null(index) {
        return Precision::Absent;
    }
    match ScalarValue::try_from_array(array, index).and_then(|v| v.cast_to(data_type)) {
        Ok(value) if !value.is_null() => Precision::Inexact(value),
        _ => Precision::Absent,
    }
}
