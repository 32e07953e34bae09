//! Refusing stores that would let two writers commit the same version.
//!
//! Delta's commit protocol needs an atomic put-if-absent: version N is whoever creates
//! `N.json` first. Some S3-compatible servers accept `If-None-Match: *` and ignore it; on such a
//! store concurrent commits silently overwrite each other. So before Tarn writes to a remote
//! warehouse it creates one probe object twice: the second create must be refused.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::{Result, StorageError};

/// Check that `store` refuses a second create of the same object, below `prefix`.
pub async fn check_put_if_absent(store: &dyn ObjectStore, prefix: &Path, location: &str) -> Result<()> {
    let probe = prefix.clone().join("_tarn_catalog").join("probes").join(uuid::Uuid::new_v4().to_string());
    let create = || PutOptions { mode: PutMode::Create, ..PutOptions::default() };
    let refused = |detail: String| StorageError::UnsafeStore { location: location.to_string(), detail };
    store.put_opts(&probe, PutPayload::from_static(b"first"), create()).await.map_err(|e| match e {
        object_store::Error::NotImplemented { .. } => refused(format!("it cannot create objects conditionally ({e})")),
        other => StorageError::ObjectStore(other),
    })?;
    let second = store.put_opts(&probe, PutPayload::from_static(b"second"), create()).await;
    let _ = store.delete(&probe).await;
    match second {
        Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
        Ok(_) => Err(refused("a second create of the same object succeeded (If-None-Match: * was ignored)".into())),
        Err(object_store::Error::NotImplemented { .. }) => Err(refused("it cannot create objects conditionally".into())),
        Err(other) => Err(StorageError::ObjectStore(other)),
    }
}
