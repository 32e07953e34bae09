use deltalake::DeltaTableError;
use thiserror::Error;

/// Errors of the engine layer.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The request cannot be satisfied as asked (bad version, no such table, ...).
    #[error("{0}")]
    User(String),

    #[error("{0}")]
    Delta(#[from] DeltaTableError),

    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),

    #[error("storage error: {0}")]
    ObjectStore(#[from] object_store::Error),

    /// A bug in Tarn.
    #[error("internal error (this is a bug in Tarn): {0}")]
    Internal(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
