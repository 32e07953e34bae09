//! Teaching delta-rs where Tarn's stores come from, and how to wait before a commit retry.
//!
//! delta-rs finds a table's object store and log store through process-wide factory
//! registries keyed by URL scheme. Tarn registers its own for every scheme it supports, so a
//! table on `s3://` gets the same configured (and cached) store as the warehouse, and every
//! commit goes through [`BackoffLogStore`]: delta-rs's default log store (put-if-absent on
//! `N.json`, Delta's conflict checker between attempts) plus exponential backoff with jitter
//! when another writer won the version, so many concurrent appenders do not retry in lockstep.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use bytes::Bytes;
use deltalake::kernel::transaction::{CommitProperties, TransactionError};
use deltalake::logstore::{
    CommitOrBytes, LogStore, LogStoreConfig, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore,
    logstore_factories, object_store_factories,
};
use deltalake::{DeltaResult, DeltaTableError};
use object_store::ObjectStore;
use object_store::path::Path;
use url::Url;
use uuid::Uuid;

/// How often and how patiently a commit is retried when another writer committed first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommitRetry {
    /// Attempts after the first (each re-checks Delta's conflict rules against the winner).
    pub max_retries: usize,
    /// The first wait; doubled after every lost race, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for CommitRetry {
    fn default() -> Self {
        Self {
            // Delta's own writers retry blind appends practically without limit; a
            // commit that keeps losing the race to many writers must not be dropped.
            max_retries: 10_000,
            base_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(250),
        }
    }
}

fn retry_setting() -> &'static RwLock<CommitRetry> {
    static RETRY: OnceLock<RwLock<CommitRetry>> = OnceLock::new();
    RETRY.get_or_init(|| RwLock::new(CommitRetry::default()))
}

/// Set the commit retry policy of the process.
pub fn set_commit_retry(retry: CommitRetry) {
    *retry_setting().write().unwrap_or_else(|p| p.into_inner()) = retry;
}

pub fn commit_retry() -> CommitRetry {
    *retry_setting().read().unwrap_or_else(|p| p.into_inner())
}

/// Commit properties every Tarn write starts from: the retry limit in force, and no expired-log
/// cleanup after every commit (it lists the whole log each time); the write's
/// [`post_commit_hooks`](crate::post_commit_hooks) clean up after checkpoints instead.
pub fn commit_properties() -> CommitProperties {
    CommitProperties::default().with_max_retries(commit_retry().max_retries).with_cleanup_expired_logs(Some(false))
}

const SCHEMES: &[&str] = &["file", "s3", "s3a", "gs", "az", "adl", "azure", "abfs", "abfss"];

/// Register Tarn's object-store and log-store factories with delta-rs (once per process).
pub fn register_storage() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        let stores = Arc::new(TarnStoreFactory);
        let logs = Arc::new(BackoffLogStoreFactory);
        for scheme in SCHEMES {
            let Ok(url) = Url::parse(&format!("{scheme}://")) else { continue };
            object_store_factories().insert(url.clone(), stores.clone());
            logstore_factories().insert(url, logs.clone());
        }
    });
}

struct TarnStoreFactory;

impl ObjectStoreFactory for TarnStoreFactory {
    fn parse_url_opts(&self, url: &Url, _config: &StorageConfig) -> DeltaResult<(ObjectStoreRef, Path)> {
        tarn_storage::store_for_url(url).map_err(|e| DeltaTableError::Generic(e.to_string()))
    }
}

struct BackoffLogStoreFactory;

impl LogStoreFactory for BackoffLogStoreFactory {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(Arc::new(BackoffLogStore {
            inner: default_logstore(prefixed_store, root_store, location, options),
            lost_races: Mutex::new(HashMap::new()),
        }))
    }
}

/// delta-rs's default log store, waiting with exponential backoff and full jitter after
/// every lost race before delta-rs re-reads the log and tries the next version.
pub struct BackoffLogStore {
    inner: Arc<dyn LogStore>,
    /// Lost races per operation (delta-rs keeps an operation's id across its attempts).
    lost_races: Mutex<HashMap<Uuid, u32>>,
}

/// How long to wait after the `attempt`-th lost race (1 = the first): exponential up to the
/// policy's ceiling, with full jitter.
pub fn retry_delay(attempt: u32) -> Duration {
    delay(Uuid::new_v4(), attempt.max(1))
}

fn delay(operation: Uuid, attempt: u32) -> Duration {
    let policy = commit_retry();
    let ceiling = policy.base_backoff.saturating_mul(1u32 << (attempt - 1).min(20)).min(policy.max_backoff);
    ceiling.mul_f64(jitter(operation, attempt))
}

impl BackoffLogStore {
    fn backoff(&self, operation: Uuid) -> Duration {
        let mut races = self.lost_races.lock().unwrap_or_else(|p| p.into_inner());
        let lost = races.entry(operation).or_insert(0);
        *lost += 1;
        delay(operation, *lost)
    }

    fn forget(&self, operation: Uuid) {
        self.lost_races.lock().unwrap_or_else(|p| p.into_inner()).remove(&operation);
    }
}

/// A number in [0, 1) that differs between operations and attempts.
fn jitter(operation: Uuid, attempt: u32) -> f64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos() as u64);
    let mut x = (operation.as_u128() as u64) ^ ((attempt as u64) << 32) ^ nanos ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl std::fmt::Debug for BackoffLogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BackoffLogStore({})", self.inner.name())
    }
}

#[async_trait::async_trait]
impl LogStore for BackoffLogStore {
    /// The inner store's name: delta-rs picks how it hands over a commit ("LogBytes" for
    /// put-if-absent stores) by this name.
    fn name(&self) -> String {
        self.inner.name()
    }

    async fn refresh(&self) -> DeltaResult<()> {
        self.inner.refresh().await
    }

    async fn read_commit_entry(&self, version: deltalake::kernel::Version) -> DeltaResult<Option<Bytes>> {
        self.inner.read_commit_entry(version).await
    }

    async fn write_commit_entry(
        &self,
        version: deltalake::kernel::Version,
        commit_or_bytes: CommitOrBytes,
        operation_id: Uuid,
    ) -> Result<(), TransactionError> {
        let result = self.inner.write_commit_entry(version, commit_or_bytes, operation_id).await;
        match &result {
            Err(TransactionError::VersionAlreadyExists(_)) => {
                let wait = self.backoff(operation_id);
                tracing::debug!(version, ?wait, "another writer committed this version first; retrying after a pause");
                tokio::time::sleep(wait).await;
            }
            _ => self.forget(operation_id),
        }
        result
    }

    async fn abort_commit_entry(
        &self,
        version: deltalake::kernel::Version,
        commit_or_bytes: CommitOrBytes,
        operation_id: Uuid,
    ) -> Result<(), TransactionError> {
        self.forget(operation_id);
        self.inner.abort_commit_entry(version, commit_or_bytes, operation_id).await
    }

    async fn get_latest_version(&self, start_version: deltalake::kernel::Version) -> DeltaResult<deltalake::kernel::Version> {
        self.inner.get_latest_version(start_version).await
    }

    fn object_store(&self, operation_id: Option<Uuid>) -> Arc<dyn ObjectStore> {
        self.inner.object_store(operation_id)
    }

    fn root_object_store(&self, operation_id: Option<Uuid>) -> Arc<dyn ObjectStore> {
        self.inner.root_object_store(operation_id)
    }

    fn to_uri(&self, location: &Path) -> String {
        self.inner.to_uri(location)
    }

    fn root_url(&self) -> &Url {
        self.inner.root_url()
    }

    fn log_path(&self) -> &Path {
        self.inner.log_path()
    }

    fn transaction_url(&self, operation_id: Option<Uuid>) -> DeltaResult<Url> {
        self.inner.transaction_url(operation_id)
    }

    async fn is_delta_table_location(&self) -> DeltaResult<bool> {
        self.inner.is_delta_table_location().await
    }

    fn config(&self) -> &LogStoreConfig {
        self.inner.config()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_ceiling_with_jitter() {
        let store = BackoffLogStore {
            inner: default_logstore(
                Arc::new(object_store::memory::InMemory::new()),
                Arc::new(object_store::memory::InMemory::new()),
                &Url::parse("memory:///t/").expect("url"),
                &StorageConfig::default(),
            ),
            lost_races: Mutex::new(HashMap::new()),
        };
        let op = Uuid::new_v4();
        let policy = commit_retry();
        for attempt in 1..=12u32 {
            let wait = store.backoff(op);
            let ceiling = policy.base_backoff.saturating_mul(1 << (attempt - 1)).min(policy.max_backoff);
            assert!(wait <= ceiling, "attempt {attempt}: {wait:?} > {ceiling:?}");
        }
        store.forget(op);
        assert!(store.backoff(op) <= policy.base_backoff, "a new operation starts from the base wait");
    }
}
