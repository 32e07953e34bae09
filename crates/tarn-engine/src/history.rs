//! A table's commit history, read from the commit files themselves.
//!
//! Timestamps come from each commit's `commitInfo` (`inCommitTimestamp` when the table has
//! in-commit timestamps, else `timestamp`), not from file modification times, so a copied or
//! cloned table keeps its history. Only a commit without any commitInfo falls back to the
//! file's modification time.

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, path::Path};
use serde_json::{Map, Value};

use crate::{EngineError, Result};

/// One commit of a table, as DESCRIBE HISTORY shows it.
#[derive(Debug, Clone)]
pub struct CommitRecord {
    pub version: i64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub operation: Option<String>,
    pub operation_parameters: Map<String, Value>,
    pub operation_metrics: Map<String, Value>,
    pub engine_info: Option<String>,
    pub user_metadata: Option<String>,
    pub is_blind_append: Option<bool>,
    pub read_version: Option<i64>,
    /// The whole commitInfo, including application metadata (e.g. COPY INTO's loaded files).
    pub info: Map<String, Value>,
}

/// Versions whose commit files are still in the log, ascending.
async fn listed_versions(store: &dyn ObjectStore) -> Result<Vec<(i64, i64)>> {
    let log = Path::from("_delta_log");
    let metas: Vec<_> = store.list(Some(&log)).try_collect().await?;
    let mut versions: Vec<(i64, i64)> = metas
        .iter()
        .filter_map(|m| {
            let name = m.location.filename()?;
            let stem = name.strip_suffix(".json")?;
            (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
                .then(|| stem.parse::<i64>().ok())
                .flatten()
                .map(|v| (v, m.last_modified.timestamp_millis()))
        })
        .collect();
    versions.sort_unstable();
    Ok(versions)
}

/// One commit file; `modified` (from a listing) saves nothing but is used when known.
async fn read_commit(store: &dyn ObjectStore, version: i64, modified: Option<i64>) -> Result<CommitRecord> {
    let path = Path::from(format!("_delta_log/{version:020}.json"));
    let got = store.get(&path).await?;
    let modified = modified.unwrap_or_else(|| got.meta.last_modified.timestamp_millis());
    let bytes = got.bytes().await?;
    let mut record = CommitRecord {
        version,
        timestamp: modified,
        operation: None,
        operation_parameters: Map::new(),
        operation_metrics: Map::new(),
        engine_info: None,
        user_metadata: None,
        is_blind_append: None,
        read_version: None,
        info: Map::new(),
    };
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let action: Value =
            serde_json::from_slice(line).map_err(|e| EngineError::User(format!("commit file {path} is corrupt (not JSON: {e})")))?;
        let Some(info) = action.get("commitInfo").and_then(Value::as_object) else {
            continue;
        };
        let ts = info.get("inCommitTimestamp").and_then(Value::as_i64).or_else(|| info.get("timestamp").and_then(Value::as_i64));
        if let Some(ts) = ts {
            record.timestamp = ts;
        }
        record.operation = info.get("operation").and_then(Value::as_str).map(str::to_string);
        record.operation_parameters = info.get("operationParameters").and_then(Value::as_object).cloned().unwrap_or_default();
        record.operation_metrics = info.get("operationMetrics").and_then(Value::as_object).cloned().unwrap_or_default();
        record.engine_info = info.get("engineInfo").or_else(|| info.get("clientVersion")).and_then(Value::as_str).map(str::to_string);
        record.user_metadata = info.get("userMetadata").and_then(Value::as_str).map(str::to_string);
        record.is_blind_append = info.get("isBlindAppend").and_then(Value::as_bool);
        record.read_version = info.get("readVersion").and_then(Value::as_i64);
        record.info = info.clone();
    }
    Ok(record)
}

/// The commits of `table` up to its loaded version, newest first, at most `limit` of them.
///
/// With a limit the commit files are read newest first by name (no listing: a listing of a long
/// log costs more than the few reads), stopping where the log has been cleaned up.
pub async fn read_commits(table: &DeltaTable, limit: Option<usize>) -> Result<Vec<CommitRecord>> {
    let store = table.log_store().object_store(None);
    let current = table.version().map_or(-1, |v| v as i64);
    let mut out = Vec::new();
    if let Some(limit) = limit {
        let mut version = current;
        while version >= 0 && out.len() < limit {
            match read_commit(store.as_ref(), version, None).await {
                Ok(record) => out.push(record),
                Err(EngineError::ObjectStore(object_store::Error::NotFound { .. })) => break,
                Err(e) => return Err(e),
            }
            version -= 1;
        }
        return Ok(out);
    }
    for (version, modified) in listed_versions(store.as_ref()).await?.into_iter().rev().filter(|(v, _)| *v <= current) {
        out.push(read_commit(store.as_ref(), version, Some(modified)).await?);
    }
    Ok(out)
}

/// `(version, commit timestamp in ms)` of every commit still in the log, oldest first.
pub async fn commit_timestamps(table: &DeltaTable) -> Result<Vec<(i64, i64)>> {
    let store = table.log_store().object_store(None);
    let current = table.version().map_or(-1, |v| v as i64);
    let mut out = Vec::new();
    for (version, modified) in listed_versions(store.as_ref()).await? {
        if version > current {
            break;
        }
        out.push((version, read_commit(store.as_ref(), version, Some(modified)).await?.timestamp));
    }
    Ok(out)
}

/// The latest version committed at or before `ts`, by the commits' own timestamps.
pub async fn resolve_timestamp(table: &DeltaTable, ts: DateTime<Utc>) -> Result<i64> {
    let target = ts.timestamp_millis();
    let store = table.log_store().object_store(None);
    let versions = listed_versions(store.as_ref()).await?;
    let Some(first) = versions.first().copied() else {
        return Err(EngineError::User("the table has no commits".into()));
    };
    // Commit timestamps are monotonic per the protocol: binary search over the listed versions.
    let (mut lo, mut hi) = (0usize, versions.len());
    let mut found: Option<i64> = None;
    while lo < hi {
        let mid = (lo + hi) / 2;
        let (v, modified) = versions[mid];
        let commit = read_commit(store.as_ref(), v, Some(modified)).await?;
        if commit.timestamp <= target {
            found = Some(v);
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let fmt = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms).map(|d| d.to_rfc3339()).unwrap_or_else(|| ms.to_string());
    match found {
        // A timestamp after the last commit reads the latest version, as delta-rs does.
        Some(v) => Ok(v),
        None => {
            let earliest = read_commit(store.as_ref(), first.0, Some(first.1)).await?;
            Err(EngineError::User(format!(
                "timestamp {} is before the earliest available commit (version {} at {}); \
                 DESCRIBE HISTORY lists the commits",
                fmt(target),
                first.0,
                fmt(earliest.timestamp)
            )))
        }
    }
}

/// One commit's actions, each line of its commit file as JSON, with the commit's timestamp (as
/// [`CommitRecord::timestamp`]). For protocols that hand out a table's changes file by file.
pub async fn commit_actions(table: &DeltaTable, version: i64) -> Result<(i64, Vec<Value>)> {
    let store = table.log_store().object_store(None);
    let path = Path::from(format!("_delta_log/{version:020}.json"));
    let got = match store.get(&path).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(EngineError::User(format!(
                "version {version} is no longer available (its log was cleaned up); DESCRIBE HISTORY lists the available versions"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let mut timestamp = got.meta.last_modified.timestamp_millis();
    let bytes = got.bytes().await?;
    let mut actions = Vec::new();
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
        let action: Value =
            serde_json::from_slice(line).map_err(|e| EngineError::User(format!("commit file {path} is corrupt (not JSON: {e})")))?;
        if let Some(info) = action.get("commitInfo") {
            let ts = info.get("inCommitTimestamp").or_else(|| info.get("timestamp")).and_then(Value::as_i64);
            if let Some(ts) = ts {
                timestamp = ts;
            }
        }
        actions.push(action);
    }
    Ok((timestamp, actions))
}
