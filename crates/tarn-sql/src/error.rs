use datafusion::error::DataFusionError;
use deltalake::DeltaTableError;
use tarn_catalog::CatalogError;
use tarn_engine::EngineError;
use thiserror::Error;

/// Errors of statement parsing and execution. Everything except `Internal` (and the storage
/// failures inside the wrapped errors) is the user's to fix, and the message says how.
#[derive(Debug, Error)]
pub enum SqlError {
    #[error("syntax error: {0}")]
    Parse(String),

    #[error("{0}")]
    Unsupported(String),

    /// The statement is well-formed but cannot be done as asked.
    #[error("{0}")]
    User(String),

    /// The session's principal lacks a privilege; the message names it and who can grant it.
    #[error("{0}")]
    PermissionDenied(String),

    #[error(transparent)]
    Catalog(#[from] CatalogError),

    #[error(transparent)]
    Engine(#[from] EngineError),

    #[error("{}", clean_datafusion(.0))]
    DataFusion(#[from] DataFusionError),

    #[error("{}", clean_delta(.0))]
    Delta(#[from] DeltaTableError),

    #[error("internal error (this is a bug in Tarn): {0}")]
    Internal(String),
}

impl SqlError {
    pub(crate) fn from_parser(e: sqlparser::parser::ParserError) -> Self {
        let text = e.to_string();
        let text = text
            .strip_prefix("sql parser error: ")
            .unwrap_or(&text)
            .to_string();
        SqlError::Parse(text)
    }

    pub(crate) fn user(msg: impl Into<String>) -> Self {
        SqlError::User(msg.into())
    }
}

fn clean_datafusion(e: &DataFusionError) -> String {
    // DataFusion nests context ("External error: ...", "Error during planning: ..."); keep the
    // innermost message, which is the one that names the problem.
    let mut inner = e;
    loop {
        match inner {
            DataFusionError::Context(_, next) => inner = next,
            DataFusionError::Shared(shared) => inner = shared.as_ref(),
            DataFusionError::External(ext) => {
                if let Some(delta) = ext.downcast_ref::<DeltaTableError>() {
                    return clean_delta(delta);
                }
                return ext.to_string();
            }
            DataFusionError::Plan(msg) => return msg.clone(),
            DataFusionError::Execution(msg) => return msg.clone(),
            DataFusionError::SchemaError(err, _) => return err.to_string(),
            DataFusionError::ArrowError(err, _) => return err.to_string(),
            other => return other.to_string(),
        }
    }
}

fn clean_delta(e: &DeltaTableError) -> String {
    match e {
        DeltaTableError::GenericError { source } => source.to_string(),
        DeltaTableError::Arrow { source } => source.to_string(),
        other => other.to_string(),
    }
}

pub type Result<T, E = SqlError> = std::result::Result<T, E>;
