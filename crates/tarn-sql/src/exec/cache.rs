//! `CACHE [LAZY] TABLE`, `UNCACHE TABLE`, `CLEAR CACHE` (Spark SQL): a table's current version
//! kept decoded in memory, shared by every session of the process.
//!
//! An entry remembers the version it holds. Statements that read the table at its latest
//! version get the in-memory copy only while that version is still the latest; after a new
//! commit (from this process or any other) the next read decodes the new version and caches
//! it instead, so a cached table never answers with stale rows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::execution::session_state::SessionState;
use datafusion::physical_plan::collect_partitioned;
use deltalake::DeltaTable;
use sqlparser::ast::ObjectName;
use url::Url;

use crate::error::Result;
use crate::output::StatementOutput;
use crate::session::Session;

struct Cached {
    /// The version `data` holds; `None` until first read (LAZY) or after a commit.
    version: Option<i64>,
    data: Option<Arc<MemTable>>,
}

fn cache() -> &'static Mutex<HashMap<Url, Cached>> {
    static CACHE: OnceLock<Mutex<HashMap<Url, Cached>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<Url, Cached>> {
    cache().lock().unwrap_or_else(|p| p.into_inner())
}

fn version_of(table: &DeltaTable) -> i64 {
    table.version().map_or(-1, |v| v as i64)
}

async fn decode(table: &DeltaTable, state: &SessionState) -> Result<Arc<MemTable>> {
    let provider = tarn_engine::table_provider(table, state).await?;
    let plan = provider.scan(state, None, &[], None).await?;
    let partitions = collect_partitioned(plan, state.task_ctx()).await?;
    Ok(Arc::new(MemTable::try_new(provider.schema(), partitions)?))
}

/// The in-memory copy of `table` (opened at its latest version) if it is cached, decoding the
/// current version first when the cached one is out of date.
pub(crate) async fn cached_provider(url: &Url, table: &DeltaTable, state: &SessionState) -> Result<Option<Arc<dyn TableProvider>>> {
    let version = version_of(table);
    {
        let cache = lock();
        match cache.get(url) {
            None => return Ok(None),
            Some(Cached { version: Some(v), data: Some(data) }) if *v == version => return Ok(Some(data.clone())),
            Some(_) => {}
        }
    }
    let data = decode(table, state).await?;
    let mut cache = lock();
    // UNCACHE may have run meanwhile; only refresh an entry that still exists.
    if let Some(entry) = cache.get_mut(url)
        && entry.version.is_none_or(|v| v <= version)
    {
        entry.version = Some(version);
        entry.data = Some(data.clone());
    }
    Ok(Some(data))
}

fn location(target: &crate::resolve::Target) -> Url {
    target.table.log_store().root_url().clone()
}

pub(crate) async fn cache_table(session: &mut Session, name: &ObjectName, lazy: bool) -> Result<StatementOutput> {
    let target = session.open_target(name, None).await?;
    let url = location(&target);
    let (version, data) = if lazy {
        (None, None)
    } else {
        let state = session.base.clone();
        (Some(version_of(&target.table)), Some(decode(&target.table, &state).await?))
    };
    lock().insert(url, Cached { version, data });
    Ok(StatementOutput::empty())
}

pub(crate) async fn uncache_table(session: &mut Session, name: &ObjectName, if_exists: bool) -> Result<StatementOutput> {
    match session.open_target(name, None).await {
        Ok(target) => {
            lock().remove(&location(&target));
        }
        Err(_) if if_exists => {}
        Err(e) => return Err(e),
    }
    Ok(StatementOutput::empty())
}

pub(crate) fn clear_cache() -> Result<StatementOutput> {
    lock().clear();
    Ok(StatementOutput::empty())
}
