//! Opening Delta tables, now or at a point in their history.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::catalog::{Session, TableProvider};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use object_store::ObjectStoreExt;
use url::Url;

use crate::history::resolve_timestamp;
use crate::{EngineError, Result};

/// Which version of a table to read.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeTravel {
    Version(i64),
    Timestamp(DateTime<Utc>),
}

/// Open the Delta table at `url`, at its latest version or at `at`.
///
/// The latest snapshot of recently used tables is kept in memory ([`crate::snapshots`]) and
/// brought up to date by reading only the commits made since, so a long-running process does
/// not replay the log for every statement.
pub async fn open_table(url: &Url, at: Option<&TimeTravel>) -> Result<DeltaTable> {
    crate::register_storage();
    let mut table = match crate::snapshots::latest(url).await? {
        Some(table) => table,
        None => {
            let mut table = DeltaTableBuilder::from_url(url.clone())?.build().map_err(|e| not_a_table(url, e))?;
            if let Err(e) = table.load().await {
                return Err(load_error(url, e).await);
            }
            crate::snapshots::remember(url, &table);
            table
        }
    };
    match at {
        None => Ok(table),
        Some(TimeTravel::Version(v)) => {
            let latest = table.version().map_or(-1, |v| v as i64);
            if *v < 0 || *v > latest {
                return Err(EngineError::User(format!("cannot time travel to version {v}: the table's versions are 0 to {latest}")));
            }
            let gone = || {
                EngineError::User(format!(
                    "version {v} is no longer available (its log was cleaned up); \
                     DESCRIBE HISTORY lists the available versions"
                ))
            };
            let store = table.log_store().object_store(None);
            if let Err(e) = table.load_version(*v as u64).await {
                // A version whose commit file is gone (log retention) reads as "no files in
                // log segment" to delta-rs; say what it means.
                let commit = deltalake::logstore::commit_uri_from_version(Some(*v as u64));
                return Err(match e {
                    DeltaTableError::InvalidVersion(_) => gone(),
                    _ if store.head(&commit).await.is_err() => gone(),
                    other => other.into(),
                });
            }
            Ok(table)
        }
        Some(TimeTravel::Timestamp(ts)) => {
            let version = resolve_timestamp(&table, *ts).await?;
            table.load_version(version as u64).await?;
            Ok(table)
        }
    }
}

/// Whether a Delta log exists at `url`.
pub async fn table_exists(url: &Url) -> Result<bool> {
    crate::register_storage();
    let table = DeltaTableBuilder::from_url(url.clone())?.build()?;
    Ok(table.log_store().is_delta_table_location().await?)
}

/// A DataFusion table provider reading `table` at the version it is loaded at, with the log's
/// column statistics on its scans for join planning ([`crate::file_statistics`]).
pub async fn table_provider(table: &DeltaTable, session: &dyn Session) -> Result<Arc<dyn TableProvider>> {
    table.update_datafusion_session(session)?;
    let provider = table.table_provider().build().await?;
    Ok(crate::file_statistics::with_log_statistics(Arc::new(provider), table))
}

/// A load failure: no table, a damaged log (naming the file), or delta-rs's own error.
async fn load_error(url: &Url, e: DeltaTableError) -> EngineError {
    if matches!(e, DeltaTableError::NotATable(_) | DeltaTableError::InvalidTableLocation(_)) {
        return not_a_table(url, e);
    }
    match crate::damage::diagnose(url).await {
        Some(damage) => EngineError::User(format!(
            "the table at {url} cannot be read: {damage}. Nothing was read rather than guessing at its \
             rows; restore that file from a copy of the table"
        )),
        None => e.into(),
    }
}

fn not_a_table(url: &Url, e: DeltaTableError) -> EngineError {
    match e {
        DeltaTableError::NotATable(_) | DeltaTableError::InvalidTableLocation(_) => {
            EngineError::User(format!("no Delta table at {url}: the directory has no _delta_log"))
        }
        other => other.into(),
    }
}
