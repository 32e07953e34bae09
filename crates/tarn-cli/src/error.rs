use thiserror::Error;

#[derive(Debug, Error)]
pub enum CliError {
    #[error(transparent)]
    Sql(#[from] tarn_sql::SqlError),

    #[error("{0}")]
    Usage(String),

    /// A statement of a script failed; the ones before it ran, the ones after did not.
    #[error("statement {number} (line {line}) failed: {source}")]
    Statement {
        number: usize,
        line: u64,
        #[source]
        source: Box<CliError>,
    },

    #[error("cannot write output: {0}")]
    Output(String),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<arrow::error::ArrowError> for CliError {
    fn from(e: arrow::error::ArrowError) -> Self {
        CliError::Output(e.to_string())
    }
}

impl From<parquet::errors::ParquetError> for CliError {
    fn from(e: parquet::errors::ParquetError) -> Self {
        CliError::Output(e.to_string())
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;
