//! An in-memory cache of table snapshots: the latest loaded state of recently used tables.
//!
//! A cached table is refreshed on every use by reading the commits made since its version
//! (one listing of `_delta_log` after that version), so what callers get is always the latest
//! committed version, never a stale one. The commit file of the cached version is checked to
//! still exist, so a table deleted (or replaced) under the cache is reloaded, not served from
//! memory.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use deltalake::DeltaTable;
use deltalake::logstore::commit_uri_from_version;
use object_store::ObjectStoreExt;
use url::Url;

use crate::Result;

const CAPACITY: usize = 256;

struct Entry {
    table: DeltaTable,
    last_used: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<Url, Entry>,
    clock: u64,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn lock() -> std::sync::MutexGuard<'static, Cache> {
    cache().lock().unwrap_or_else(|p| p.into_inner())
}

/// The table at `url` at its latest version, from the cache brought up to date, or `None`
/// if it is not cached (or no longer where the cache saw it).
pub(crate) async fn latest(url: &Url) -> Result<Option<DeltaTable>> {
    let cached = {
        let mut cache = lock();
        cache.clock += 1;
        let clock = cache.clock;
        cache.entries.get_mut(url).map(|entry| {
            entry.last_used = clock;
            entry.table.clone()
        })
    };
    let Some(mut table) = cached else { return Ok(None) };
    let Some(version) = table.version() else { return Ok(None) };
    let store = table.log_store().object_store(None);
    if store.head(&commit_uri_from_version(Some(version))).await.is_err() {
        forget(url);
        return Ok(None);
    }
    if table.update_incremental(None).await.is_err() {
        // Reload from scratch, which reports (and names) whatever is wrong.
        forget(url);
        return Ok(None);
    }
    remember(url, &table);
    Ok(Some(table))
}

/// Keep `table` (loaded at its latest version) as the snapshot of `url`.
pub(crate) fn remember(url: &Url, table: &DeltaTable) {
    let mut cache = lock();
    cache.clock += 1;
    let clock = cache.clock;
    let newer = cache.entries.get(url).is_some_and(|e| e.table.version() > table.version());
    if !newer {
        cache.entries.insert(url.clone(), Entry { table: table.clone(), last_used: clock });
    }
    while cache.entries.len() > CAPACITY {
        let Some(oldest) = cache.entries.iter().min_by_key(|(_, e)| e.last_used).map(|(u, _)| u.clone()) else {
            break;
        };
        cache.entries.remove(&oldest);
    }
}

/// Drop the snapshot of `url` (its table was dropped).
pub fn forget(url: &Url) {
    lock().entries.remove(url);
}

/// Drop every snapshot (after the storage configuration changed: cached tables hold the
/// stores they were opened with).
pub fn clear() {
    lock().entries.clear();
}
