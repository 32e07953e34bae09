//! Pipeline errors: the user's (a definition to fix, an expectation that failed) apart from
//! Tarn's own bugs.

use tarn_sql::SqlError;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A definition file does not parse; `at` is `file line N`.
    #[error("{at}: {message}")]
    Syntax { at: String, message: String },
    /// The definitions are inconsistent (unknown reference, cycle, duplicate name, bad option).
    #[error("{0}")]
    Definition(String),
    /// A `FAIL UPDATE` expectation was violated; the dataset's update committed nothing.
    #[error(
        "{dataset}: expectation '{rule}' failed (ON VIOLATION FAIL UPDATE) for {failed} row(s), e.g. {example}; nothing was written to {dataset}"
    )]
    ExpectationFailed { dataset: String, rule: String, failed: u64, example: String },
    /// A dataset's update failed; other datasets that do not depend on it still ran.
    #[error("{dataset}: {source}")]
    Dataset { dataset: String, source: Box<PipelineError> },
    #[error("the update failed for {failed} of {total} dataset(s): {names}; see the messages above and `tarn pipeline status`")]
    UpdateFailed { failed: usize, total: usize, names: String },
    #[error(transparent)]
    Sql(#[from] SqlError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// A bug in Tarn.
    #[error("internal error (a bug in Tarn): {0}")]
    Internal(String),
}

impl From<datafusion::error::DataFusionError> for PipelineError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        // An expectation that failed inside a write comes back wrapped by DataFusion.
        if let datafusion::error::DataFusionError::External(inner) = &e
            && let Some(failed) = inner.downcast_ref::<PipelineError>()
            && let PipelineError::ExpectationFailed { dataset, rule, failed, example } = failed
        {
            return PipelineError::ExpectationFailed {
                dataset: dataset.clone(),
                rule: rule.clone(),
                failed: *failed,
                example: example.clone(),
            };
        }
        PipelineError::Sql(SqlError::from(e))
    }
}

impl From<arrow::error::ArrowError> for PipelineError {
    fn from(e: arrow::error::ArrowError) -> Self {
        PipelineError::Internal(e.to_string())
    }
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
