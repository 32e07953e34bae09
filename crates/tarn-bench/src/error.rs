use std::path::Path;

/// What can go wrong generating or loading benchmark data.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Bad input from the user (e.g. a scale factor that is not a positive number).
    #[error("{0}")]
    User(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("generating TPC-H data: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("writing Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error(transparent)]
    Sql(#[from] tarn_sql::SqlError),
}

impl BenchError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        BenchError::Io { path: path.display().to_string(), source }
    }
}

pub type Result<T, E = BenchError> = std::result::Result<T, E>;
