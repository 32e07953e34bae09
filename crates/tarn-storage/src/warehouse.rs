//! The warehouse root and its object store.

use std::sync::Arc;

use object_store::{ObjectStore, path::Path};
use url::Url;

use crate::{Result, StorageError, check_put_if_absent, location::resolve_location, store_for_url};

/// A warehouse: a root directory URL and an object store that can reach everything below it.
#[derive(Debug, Clone)]
pub struct Warehouse {
    root: Url,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

impl Warehouse {
    /// Open (and for local disk, create) the warehouse at `location`.
    pub fn open(location: &str) -> Result<Self> {
        let root = resolve_location(location)?;
        if root.scheme() == "file" {
            let dir = root
                .to_file_path()
                .map_err(|()| StorageError::InvalidLocation { location: location.to_string(), reason: "not a local path".into() })?;
            std::fs::create_dir_all(&dir).map_err(|source| StorageError::Io { path: dir.display().to_string(), source })?;
        }
        let (store, prefix) = store_for_url(&root)?;
        Ok(Self { root, store, prefix })
    }

    /// Open the warehouse at `location` and, for a remote store, check that it honours
    /// put-if-absent ([`check_put_if_absent`]), refusing it otherwise.
    pub async fn connect(location: &str) -> Result<Self> {
        let warehouse = Self::open(location)?;
        if !warehouse.is_local() {
            check_put_if_absent(warehouse.store.as_ref(), &warehouse.prefix, warehouse.root.as_str()).await?;
        }
        Ok(warehouse)
    }

    /// The root URL, always ending in `/`.
    pub fn root(&self) -> &Url {
        &self.root
    }

    /// The object store holding the warehouse.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The object-store path of `relative` (a `/`-separated path below the root).
    pub fn path(&self, relative: &str) -> Path {
        let mut parts: Vec<String> = self.prefix.parts().map(|p| p.as_ref().to_string()).collect();
        parts.extend(relative.split('/').filter(|s| !s.is_empty()).map(str::to_string));
        Path::from_iter(parts)
    }

    /// The URL of directory `relative` below the root, ending in `/`.
    pub fn url(&self, relative: &str) -> Result<Url> {
        let joined = format!("{}/", relative.trim_matches('/'));
        self.root.join(&joined).map_err(|e| StorageError::InvalidLocation { location: relative.to_string(), reason: e.to_string() })
    }

    /// Whether this warehouse is on the local file system.
    pub fn is_local(&self) -> bool {
        self.root.scheme() == "file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_a_local_warehouse_creates_its_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let location = dir.path().join("wh");
        let wh = Warehouse::open(location.to_str().expect("utf8")).expect("open");
        assert!(location.is_dir());
        assert!(wh.is_local());
        let url = wh.url("main/default/t").expect("url");
        assert!(url.as_str().ends_with("/wh/main/default/t/"), "{url}");
    }
}
