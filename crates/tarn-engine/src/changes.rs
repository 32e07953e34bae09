//! A table's change data feed: the rows each commit inserted, deleted or updated, in Delta's
//! own CDF format (`_change_data` files written by delta-rs for UPDATE/DELETE/MERGE, and the
//! added/removed files of other commits), read through delta-rs's CDF scan.
//!
//! Every row carries `_change_type` (`insert`, `delete`, `update_preimage`,
//! `update_postimage`), `_commit_version` and `_commit_timestamp`. Commits that change no data
//! (OPTIMIZE, VACUUM, property changes) contribute nothing.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::catalog::{Session, TableProvider};
use deltalake::delta_datafusion::DeltaCdfTableProvider;
use deltalake::{DeltaTable, DeltaTableError};

use crate::history::{commit_timestamps, resolve_timestamp};
use crate::{EngineError, Result};

/// The table property that turns the change data feed on.
pub const CHANGE_DATA_FEED: &str = "delta.enableChangeDataFeed";

/// One end of a range of commits.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeBound {
    Version(i64),
    Timestamp(DateTime<Utc>),
}

/// An inclusive range of versions whose changes to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    pub start: i64,
    pub end: i64,
}

/// The versions `start ..= end` name in `table` (loaded at its latest version): a starting
/// timestamp means the first commit at or after it, an ending one the last commit at or
/// before it; no end means the latest version.
pub async fn resolve_change_range(table: &DeltaTable, start: &ChangeBound, end: Option<&ChangeBound>) -> Result<VersionRange> {
    let latest = table.version().map_or(-1, |v| v as i64);
    let start = match start {
        ChangeBound::Version(v) => *v,
        ChangeBound::Timestamp(ts) => first_version_at_or_after(table, *ts, latest).await?,
    };
    let end = match end {
        None => latest,
        Some(ChangeBound::Version(v)) => *v,
        Some(ChangeBound::Timestamp(ts)) => resolve_timestamp(table, *ts).await?,
    };
    if start < 0 {
        return Err(EngineError::User(format!("a starting version must be 0 or more, got {start}")));
    }
    if start > latest {
        return Err(EngineError::User(format!("the starting version {start} is after the latest version {latest} of the table")));
    }
    if end < start {
        return Err(EngineError::User(format!("the ending version {end} is before the starting version {start}")));
    }
    Ok(VersionRange { start, end: end.min(latest) })
}

async fn first_version_at_or_after(table: &DeltaTable, ts: DateTime<Utc>, latest: i64) -> Result<i64> {
    let target = ts.timestamp_millis();
    for (version, timestamp) in commit_timestamps(table).await? {
        if timestamp >= target {
            return Ok(version);
        }
    }
    Err(EngineError::User(format!(
        "timestamp {} is after the latest commit (version {latest}); there are no changes since",
        ts.to_rfc3339()
    )))
}

/// The changes of `table` (loaded at its latest version) in `range`, as a table provider.
pub async fn changes_provider(table: &DeltaTable, range: VersionRange, session: &dyn Session) -> Result<Arc<dyn TableProvider>> {
    table.update_datafusion_session(session)?;
    let builder = table.clone().scan_cdf().with_starting_version(range.start as u64).with_ending_version(range.end as u64);
    let provider = DeltaCdfTableProvider::try_new(builder).map_err(|e| cdf_error(e, range))?;
    Ok(Arc::new(ChangesProvider { inner: provider, range }))
}

/// delta-rs's CDF scan, made safe to plan on: a range whose changes are all of one kind can
/// come back as a scan of zero partitions, which DataFusion refuses under a sort or
/// aggregate; an empty scan answers instead. Errors name the range.
#[derive(Debug)]
struct ChangesProvider {
    inner: DeltaCdfTableProvider,
    range: VersionRange,
}

#[async_trait::async_trait]
impl TableProvider for ChangesProvider {
    fn schema(&self) -> arrow::datatypes::SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> datafusion::datasource::TableType {
        self.inner.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&datafusion::logical_expr::Expr],
    ) -> datafusion::error::Result<Vec<datafusion::logical_expr::TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[datafusion::logical_expr::Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        let plan = self.inner.scan(state, projection, filters, limit).await.map_err(|e| match e {
            datafusion::error::DataFusionError::External(ext) => match ext.downcast::<DeltaTableError>() {
                Ok(delta) => datafusion::error::DataFusionError::External(Box::new(cdf_error(*delta, self.range))),
                Err(other) => datafusion::error::DataFusionError::External(other),
            },
            other => other,
        })?;
        // The scan is a union of the cdc, added and removed files of the range; each part
        // with no files is a leaf of zero partitions, which breaks sorts pushed into it.
        use datafusion::common::tree_node::{Transformed, TreeNode};
        use datafusion::physical_plan::ExecutionPlanProperties;
        let plan = plan
            .transform_up(|node| {
                if node.children().is_empty() && node.output_partitioning().partition_count() == 0 {
                    let empty: Arc<dyn datafusion::physical_plan::ExecutionPlan> =
                        Arc::new(datafusion::physical_plan::empty::EmptyExec::new(node.schema()));
                    Ok(Transformed::yes(empty))
                } else {
                    Ok(Transformed::no(node))
                }
            })?
            .data;
        Ok(plan)
    }
}

/// delta-rs's CDF errors, in words that say what to do.
pub fn cdf_error(e: DeltaTableError, range: VersionRange) -> EngineError {
    match e {
        DeltaTableError::ChangeDataNotEnabled { version } | DeltaTableError::ChangeDataNotRecorded { version, .. } => {
            EngineError::User(format!(
                "the table does not record changes at version {version} (changes were asked for versions {} to {}); \
                 turn the change data feed on with ALTER TABLE .. SET TBLPROPERTIES ('{CHANGE_DATA_FEED}' = 'true'): \
                 changes are recorded from the next commit on",
                range.start, range.end
            ))
        }
        other => other.into(),
    }
}

/// Whether `table` records its changes now.
pub fn records_changes(table: &DeltaTable) -> bool {
    table
        .snapshot()
        .ok()
        .and_then(|s| s.metadata().configuration().get(CHANGE_DATA_FEED).cloned())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}
