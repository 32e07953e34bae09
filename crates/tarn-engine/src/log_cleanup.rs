//! Expired-log cleanup after checkpoints, as Delta (Spark) does it.
//!
//! delta-rs, left to itself, runs `cleanup_expired_logs_for` after **every** commit, and that
//! lists the whole `_delta_log` each time: on a table with 5,000 commits one single-row INSERT
//! cost ~30,000 `stat` calls on local disk (a full S3 listing on S3). Spark cleans up only after
//! it writes a checkpoint. Tarn's writes therefore turn delta-rs's per-commit cleanup off
//! ([`commit_properties`](crate::commit_properties)) and attach [`post_commit_hooks`], which
//! runs the same cleanup once a post-commit hook has written a checkpoint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use deltalake::DeltaTable;
use deltalake::errors::DeltaResult;
use deltalake::logstore::LogStoreRef;
use deltalake::operations::CustomExecuteHandler;
use deltalake::protocol::checkpoints::cleanup_expired_logs_for;
use deltalake::table::config::TablePropertiesExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use uuid::Uuid;

/// The post-commit hooks every Tarn write carries.
pub fn post_commit_hooks() -> Arc<dyn CustomExecuteHandler> {
    static HOOKS: OnceLock<Arc<dyn CustomExecuteHandler>> = OnceLock::new();
    HOOKS.get_or_init(|| Arc::new(CleanupAfterCheckpoint::default())).clone()
}

/// delta-rs does not tell the hooks whether a checkpoint was written (their `file_operation`
/// flag only says one may have been), so the hooks compare `_delta_log/_last_checkpoint`
/// before and after the post-commit work: two HEADs of one small file per commit.
#[derive(Default)]
struct CleanupAfterCheckpoint {
    /// `_last_checkpoint`'s identity before the post-commit work, per post-commit operation.
    before: Mutex<HashMap<Uuid, Option<String>>>,
}

async fn last_checkpoint_tag(log_store: &LogStoreRef) -> Option<String> {
    let path = Path::from("_delta_log/_last_checkpoint");
    match log_store.object_store(None).head(&path).await {
        Ok(meta) => Some(format!("{:?}/{}/{}", meta.e_tag, meta.last_modified, meta.size)),
        Err(_) => None,
    }
}

#[async_trait]
impl CustomExecuteHandler for CleanupAfterCheckpoint {
    async fn pre_execute(&self, _: &LogStoreRef, _: Uuid) -> DeltaResult<()> {
        Ok(())
    }

    async fn post_execute(&self, _: &LogStoreRef, _: Uuid) -> DeltaResult<()> {
        Ok(())
    }

    async fn before_post_commit_hook(&self, log_store: &LogStoreRef, file_operation: bool, id: Uuid) -> DeltaResult<()> {
        if file_operation {
            let tag = last_checkpoint_tag(log_store).await;
            self.before.lock().unwrap_or_else(|p| p.into_inner()).insert(id, tag);
        }
        Ok(())
    }

    /// The commit has landed whatever happens here, so a failed cleanup is logged, not returned:
    /// an error would make the statement look failed (and a re-run INSERT would insert twice).
    async fn after_post_commit_hook(&self, log_store: &LogStoreRef, _: bool, id: Uuid) -> DeltaResult<()> {
        let Some(before) = self.before.lock().unwrap_or_else(|p| p.into_inner()).remove(&id) else {
            return Ok(());
        };
        let after = last_checkpoint_tag(log_store).await;
        if after.is_some()
            && after != before
            && let Err(e) = cleanup(log_store).await
        {
            tracing::warn!(table = %log_store.root_url(), error = %e, "expired log cleanup failed (the commit stands)");
        }
        Ok(())
    }
}

async fn cleanup(log_store: &LogStoreRef) -> DeltaResult<()> {
    // Reads the checkpoint just written and the commits after it: cheap.
    let mut table = DeltaTable::new(log_store.clone());
    table.load().await?;
    let state = table.snapshot()?;
    let config = state.table_config();
    if !config.enable_expired_log_cleanup() {
        return Ok(());
    }
    let cutoff = chrono::Utc::now().timestamp_millis() - config.log_retention_duration().as_millis() as i64;
    let Some(version) = table.version() else { return Ok(()) };
    let removed = cleanup_expired_logs_for(version, log_store.as_ref(), cutoff, None).await?;
    tracing::debug!(table = %log_store.root_url(), version, removed, "cleaned up expired log files");
    Ok(())
}
