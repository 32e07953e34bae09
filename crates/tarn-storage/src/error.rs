use thiserror::Error;

/// Errors of the storage layer.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The user gave a location we cannot use.
    #[error("invalid location '{location}': {reason}")]
    InvalidLocation { location: String, reason: String },

    /// The object store reported an error (I/O, permissions, network).
    #[error("storage error: {0}")]
    ObjectStore(#[from] object_store::Error),

    /// The store does not honour put-if-absent, so commits could be lost.
    #[error(
        "refusing the warehouse at '{location}': {detail}. Delta commits need an atomic put-if-absent \
         (If-None-Match: *) or two writers could both write the same version; use AWS S3, MinIO, \
         Cloudflare R2 or another store with conditional writes"
    )]
    UnsafeStore { location: String, detail: String },

    /// Local file system error while preparing a warehouse directory.
    #[error("cannot prepare '{path}': {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
