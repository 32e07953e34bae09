//! Where a Tarn warehouse lives.
//!
//! A warehouse is a root URL (`file:///...` by default, any object-store URL later) and the
//! [`ObjectStore`] behind it. Everything above this crate addresses storage through
//! [`Warehouse`], so swapping local disk for S3 changes nothing above the storage layer.
//!
//! Architecture invariant: this crate knows nothing about Delta, SQL or the catalog.

mod error;
mod location;
mod warehouse;

pub use error::{Result, StorageError};
pub use location::{is_within, normalize_dir_url, resolve_location};
pub use warehouse::Warehouse;

/// Re-exported so upper layers name one object_store version.
pub use object_store;
