//! Where a Tarn warehouse lives.
//!
//! A warehouse is a root URL (`file:///...` by default, `s3://bucket/prefix`, `gs://`, `az://`)
//! and the [`ObjectStore`](object_store::ObjectStore) behind it. Every store Tarn uses is built
//! by [`store_for_url`] from the process's [`StorageOptions`], wrapped in the [disk
//! cache](cache) for remote data files and, in tests, in a [fault injector](faults).
//!
//! Architecture invariant: this crate knows nothing about Delta, SQL or the catalog.

pub mod cache;
mod error;
pub mod faults;
mod location;
mod options;
mod probe;
mod stores;
mod warehouse;

pub use error::{Result, StorageError};
pub use location::{is_within, normalize_dir_url, resolve_location};
pub use options::{CacheOptions, S3Options, StorageOptions};
pub use probe::check_put_if_absent;
pub use stores::{configure, disk_cache, presigned_get_url, store_for_url};
pub use warehouse::Warehouse;

/// Re-exported so upper layers name one object_store version.
pub use object_store;
