//! SHALLOW and DEEP CLONE.
//!
//! A shallow clone is a new Delta table over the source's data files with zero bytes copied: on
//! local disk each file is hard-linked into the clone's directory; on object stores its `add`
//! action points at the source file by absolute URL (as Spark's shallow clones do). Writes to either table only ever add new files to their own
//! directory or remove entries from their own log, so neither changes what the other reads.
//! A deep clone copies the data files into the new table's directory first.
//!
//! Safety note (as in Databricks): VACUUM on the source may delete files that a shallow clone
//! still references once the source no longer needs them.

use std::collections::HashMap;

use deltalake::DeltaTable;
use deltalake::kernel::Action;
use deltalake::operations::create::CreateBuilder;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::json;
use url::Url;

use crate::{EngineError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneKind {
    Shallow,
    Deep,
}

/// Clone `source` (at the version it is loaded at) into a new table at `target`.
pub async fn clone_table(source: &DeltaTable, target: &Url, kind: CloneKind, name: Option<String>) -> Result<DeltaTable> {
    let state = source.snapshot()?;
    let snapshot = state.snapshot();
    let source_version = state.version();
    let log_store = source.log_store();
    let files: Vec<_> = snapshot.file_views(log_store.as_ref(), None).try_collect().await?;
    if files.iter().any(|f| f.deletion_vector_descriptor().is_some()) {
        return Err(EngineError::User(
            "this table has deletion vectors; run OPTIMIZE on it (which rewrites them away) before cloning".into(),
        ));
    }

    let source_root = source.table_url().clone();
    let source_store = log_store.object_store(None);
    let target_store = target_object_store(target)?;
    let mut adds = Vec::with_capacity(files.len());
    for file in &files {
        #[allow(deprecated)]
        let mut add = file.add_action();
        let is_absolute = add.path.contains("://");
        match kind {
            CloneKind::Shallow => {
                let absolute = if is_absolute {
                    Url::parse(&add.path).map_err(|e| EngineError::Internal(e.to_string()))?
                } else {
                    source_root.join(&add.path).map_err(|e| EngineError::Internal(format!("bad data file path {}: {e}", add.path)))?
                };
                // On local disk a hard link shares the bytes (zero copy) while keeping the file
                // inside the clone's own directory, where every writer (and VACUUM of either
                // table) can handle it. Elsewhere the log points at the source file by URL.
                match link_into(&source_root, target, &add.path, is_absolute) {
                    Some(relative) => add.path = relative,
                    None => add.path = absolute.to_string(),
                }
            }
            CloneKind::Deep => {
                let relative = if is_absolute {
                    let url = Url::parse(&add.path).map_err(|e| EngineError::Internal(e.to_string()))?;
                    url.path_segments()
                        .and_then(|mut s| s.next_back())
                        .map(str::to_string)
                        .ok_or_else(|| EngineError::Internal(format!("bad data file URL {url}")))?
                } else {
                    add.path.clone()
                };
                let bytes = if is_absolute {
                    let url = Url::parse(&add.path).map_err(|e| EngineError::Internal(e.to_string()))?;
                    let (store, path) = tarn_storage::store_for_url(&url).map_err(|e| EngineError::User(e.to_string()))?;
                    store.get(&path).await?.bytes().await?
                } else {
                    source_store.get(&file.object_store_path()).await?.bytes().await?
                };
                target_store.put(&Path::from(relative.as_str()), bytes.into()).await?;
                add.path = relative;
            }
        }
        adds.push(Action::Add(add));
    }

    let metadata = snapshot.metadata();
    let mut actions = vec![Action::Protocol(snapshot.protocol().clone())];
    actions.extend(adds);
    let configuration: HashMap<String, Option<String>> =
        metadata.configuration().iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
    let mut builder = CreateBuilder::new()
        .with_location(target.to_string())
        .with_columns(snapshot.schema().fields().cloned())
        .with_partition_columns(metadata.partition_columns().to_vec())
        .with_configuration(configuration)
        .with_actions(actions)
        .with_custom_execute_handler(crate::post_commit_hooks())
        .with_commit_properties(crate::commit_properties().with_metadata([(
            "clone".to_string(),
            json!({
                "source": source_root.to_string(),
                "sourceVersion": source_version,
                "isShallow": kind == CloneKind::Shallow,
            }),
        )]));
    if let Some(description) = metadata.description() {
        builder = builder.with_comment(description);
    }
    if let Some(name) = name {
        builder = builder.with_table_name(name);
    }
    Ok(builder.await?)
}

/// Hard-link a local source file into the clone's directory; returns its relative path there.
///
/// `logged_path` is the add action's path as delta-rs hands it out: already decoded, so it is
/// the file's real path below the table root (Hive-escaped partition directories such as
/// `p=a%20b` are literal names and must not be decoded again).
fn link_into(source_root: &Url, target: &Url, logged_path: &str, is_absolute: bool) -> Option<String> {
    if target.scheme() != "file" {
        return None;
    }
    let (from, relative) = if is_absolute {
        let url = Url::parse(logged_path).ok().filter(|u| u.scheme() == "file")?;
        let from = url.to_file_path().ok()?;
        let name = from.file_name()?.to_str()?.to_string();
        (from, name)
    } else if source_root.scheme() == "file" {
        (source_root.to_file_path().ok()?.join(logged_path), logged_path.to_string())
    } else {
        return None;
    };
    let to = target.to_file_path().ok()?.join(&relative);
    std::fs::create_dir_all(to.parent()?).ok()?;
    match std::fs::hard_link(&from, &to) {
        Ok(()) => Some(relative),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Some(relative),
        Err(_) => None,
    }
}

fn target_object_store(target: &Url) -> Result<Box<dyn object_store::ObjectStore>> {
    if target.scheme() == "file" {
        let dir = target.to_file_path().map_err(|()| EngineError::User(format!("bad clone location {target}")))?;
        std::fs::create_dir_all(&dir).map_err(|e| EngineError::User(format!("cannot create {}: {e}", dir.display())))?;
        return Ok(Box::new(object_store::local::LocalFileSystem::new_with_prefix(dir)?));
    }
    let (store, prefix) = tarn_storage::store_for_url(target).map_err(|e| EngineError::User(e.to_string()))?;
    Ok(Box::new(object_store::prefix::PrefixStore::new(store, prefix)))
}
