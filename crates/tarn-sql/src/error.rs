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

    /// Rows broke a NOT NULL or CHECK constraint; nothing was written.
    #[error("{0}")]
    ConstraintViolation(String),

    #[error(transparent)]
    Catalog(#[from] CatalogError),

    #[error("{}", clean_engine(.0))]
    Engine(#[from] EngineError),

    #[error("{}", clean_datafusion(.0))]
    DataFusion(#[from] DataFusionError),

    #[error("{}", clean_delta(.0))]
    Delta(#[from] DeltaTableError),

    #[error("internal error (this is a bug in Tarn): {0}")]
    Internal(String),
}

/// What kind of failure an error is: the one classification every protocol maps to its own
/// codes (SQLSTATE, HTTP status, gRPC code), each with one small table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The SQL does not parse.
    Syntax,
    /// Tarn does not do this (yet).
    Unsupported,
    CatalogNotFound,
    SchemaNotFound,
    TableNotFound,
    AlreadyExists,
    PermissionDenied,
    ConstraintViolation,
    /// A NULL for a NOT NULL column; nothing was written.
    NotNullViolation,
    /// A concurrent commit won; nothing was written and running again is safe.
    Conflict,
    /// The memory limit was reached; the server goes on.
    ResourcesExhausted,
    /// Storage failed (an object store's error, a timeout): nothing is wrong with the request,
    /// and trying again later may work.
    Unavailable,
    /// A bug in Tarn, or a warehouse whose catalog is damaged.
    Internal,
    /// Anything else the user can fix as the message says.
    Invalid,
}

impl SqlError {
    /// This error's [`ErrorKind`].
    pub fn kind(&self) -> ErrorKind {
        use tarn_catalog::CatalogError as C;
        match self {
            SqlError::Parse(_) => ErrorKind::Syntax,
            SqlError::Unsupported(_) => ErrorKind::Unsupported,
            SqlError::PermissionDenied(_) => ErrorKind::PermissionDenied,
            SqlError::ConstraintViolation(_) => ErrorKind::ConstraintViolation,
            SqlError::Internal(_) | SqlError::Catalog(C::Corrupt { .. }) => ErrorKind::Internal,
            SqlError::Catalog(C::CatalogNotFound(_)) => ErrorKind::CatalogNotFound,
            SqlError::Catalog(C::SchemaNotFound(_)) => ErrorKind::SchemaNotFound,
            SqlError::Catalog(C::TableNotFound { .. }) => ErrorKind::TableNotFound,
            SqlError::Catalog(C::AlreadyExists { .. }) => ErrorKind::AlreadyExists,
            _ if self.is_conflict() => ErrorKind::Conflict,
            _ if self.is_resources_exhausted() => ErrorKind::ResourcesExhausted,
            _ if self.is_storage_failure() => ErrorKind::Unavailable,
            _ if self.to_string().starts_with(tarn_engine::spark::not_null::NOT_NULL_VIOLATION) => ErrorKind::NotNullViolation,
            _ => ErrorKind::Invalid,
        }
    }

    /// Whether the object store failed (not a missing file: that is the request's or a
    /// damaged table's to explain).
    fn is_storage_failure(&self) -> bool {
        fn transient(e: &object_store::Error) -> bool {
            !matches!(
                e,
                object_store::Error::NotFound { .. }
                    | object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. }
                    | object_store::Error::InvalidPath { .. }
                    | object_store::Error::NotSupported { .. }
                    | object_store::Error::NotImplemented { .. }
                    | object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }
                    | object_store::Error::UnknownConfigurationKey { .. }
            )
        }
        fn in_delta(e: &DeltaTableError) -> bool {
            match e {
                DeltaTableError::ObjectStore { source } => transient(source),
                _ => false,
            }
        }
        fn in_datafusion(e: &DataFusionError) -> bool {
            match innermost(e) {
                Some(DataFusionError::ObjectStore(source)) => transient(source),
                Some(DataFusionError::External(ext)) => {
                    ext.downcast_ref::<object_store::Error>().is_some_and(transient)
                        || ext.downcast_ref::<DeltaTableError>().is_some_and(in_delta)
                }
                _ => false,
            }
        }
        match self {
            SqlError::Catalog(tarn_catalog::CatalogError::Storage(tarn_storage_error)) => {
                matches!(tarn_storage_error, tarn_storage::StorageError::ObjectStore(e) if transient(e))
            }
            SqlError::Engine(EngineError::ObjectStore(e)) => transient(e),
            SqlError::Engine(EngineError::Delta(e)) | SqlError::Delta(e) => in_delta(e),
            SqlError::Engine(EngineError::DataFusion(e)) | SqlError::DataFusion(e) => in_datafusion(e),
            _ => false,
        }
    }

    pub(crate) fn from_parser(e: sqlparser::parser::ParserError) -> Self {
        let text = e.to_string();
        let text = text.strip_prefix("sql parser error: ").unwrap_or(&text).to_string();
        SqlError::Parse(text)
    }

    pub(crate) fn user(msg: impl Into<String>) -> Self {
        SqlError::User(msg.into())
    }

    /// Whether a write lost a race with a concurrent commit and changed nothing; running it
    /// again is safe (protocols report it as a serialization failure / conflict).
    pub fn is_conflict(&self) -> bool {
        match self {
            SqlError::Delta(e) | SqlError::Engine(EngineError::Delta(e)) => is_delta_conflict(e),
            SqlError::DataFusion(e) | SqlError::Engine(EngineError::DataFusion(e)) => innermost(e).is_some_and(
                |e| matches!(e, DataFusionError::External(ext) if ext.downcast_ref::<DeltaTableError>().is_some_and(is_delta_conflict)),
            ),
            _ => false,
        }
    }

    /// Whether the statement failed because it needed more memory than the limit allows
    /// (protocols report it as their out-of-memory code; the server keeps running).
    pub fn is_resources_exhausted(&self) -> bool {
        match self {
            SqlError::DataFusion(e) => innermost(e).is_some_and(|e| matches!(e, DataFusionError::ResourcesExhausted(_))),
            _ => false,
        }
    }
}

/// Whether a Delta error says another writer committed first and this one gave up.
fn is_delta_conflict(e: &DeltaTableError) -> bool {
    use deltalake::kernel::transaction::TransactionError as T;
    matches!(
        e,
        DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction { source: T::CommitConflict(_) | T::MaxCommitAttempts(_) | T::VersionAlreadyExists(_) }
    )
}

/// The innermost DataFusion error under context and sharing wrappers.
fn innermost(e: &DataFusionError) -> Option<&DataFusionError> {
    let mut inner = e;
    loop {
        match inner {
            DataFusionError::Context(_, next) | DataFusionError::Diagnostic(_, next) => inner = next,
            DataFusionError::Shared(shared) => inner = shared.as_ref(),
            DataFusionError::External(ext) => match ext.downcast_ref::<DataFusionError>() {
                Some(next) => inner = next,
                None => return Some(inner),
            },
            other => return Some(other),
        }
    }
}

fn clean_datafusion(e: &DataFusionError) -> String {
    // DataFusion nests context ("External error: ...", "Error during planning: ..."); keep the
    // innermost message, which is the one that names the problem.
    let mut inner = e;
    loop {
        match inner {
            DataFusionError::Context(_, next) | DataFusionError::Diagnostic(_, next) => inner = next,
            DataFusionError::Shared(shared) => inner = shared.as_ref(),
            DataFusionError::Collection(errors) if !errors.is_empty() => inner = &errors[0],
            DataFusionError::External(ext) => {
                if let Some(next) = ext.downcast_ref::<DataFusionError>() {
                    inner = next;
                    continue;
                }
                if let Some(delta) = ext.downcast_ref::<DeltaTableError>() {
                    return clean_delta(delta);
                }
                return without_engine_prefixes(&ext.to_string());
            }
            DataFusionError::ResourcesExhausted(msg) => {
                return format!(
                    "out of memory: {msg}. The query needs more memory than the limit allows: raise it \
                     (--memory-limit, TARN_MEMORY_LIMIT or memory_limit in tarn.toml) or make the query \
                     need less (filter earlier, select fewer columns)"
                );
            }
            DataFusionError::Plan(msg) | DataFusionError::Execution(msg) => return without_engine_prefixes(msg),
            DataFusionError::SchemaError(err, _) => return err.to_string(),
            DataFusionError::ArrowError(err, _) => return without_engine_prefixes(&err.to_string()),
            other => return without_engine_prefixes(&other.to_string()),
        }
    }
}

fn clean_engine(e: &EngineError) -> String {
    match e {
        EngineError::Delta(e) => clean_delta(e),
        EngineError::DataFusion(e) => clean_datafusion(e),
        other => other.to_string(),
    }
}

fn clean_delta(e: &DeltaTableError) -> String {
    if is_delta_conflict(e) {
        return format!(
            "conflict with a concurrent commit: another writer changed the table while this statement ran, \
             so nothing was committed; run the statement again ({e})"
        );
    }
    match e {
        DeltaTableError::GenericError { source } => match source.downcast_ref::<DataFusionError>() {
            Some(inner) => clean_datafusion(inner),
            None => without_engine_prefixes(&source.to_string()),
        },
        DeltaTableError::Arrow { source } => source.to_string(),
        // delta-rs passes DataFusion's errors on as text ("Generic DeltaTable error: Execution
        // error: ..."): the user needs the message, not the layers it went through.
        DeltaTableError::Generic(text) => without_engine_prefixes(text),
        other => other.to_string(),
    }
}

/// `text` without the layer names DataFusion and delta-rs put in front of a message.
fn without_engine_prefixes(text: &str) -> String {
    const PREFIXES: [&str; 9] = [
        "Schema error: ",
        "Generic DeltaTable error: ",
        "Generic error: ",
        "Execution error: ",
        "External error: ",
        "Error during planning: ",
        "Arrow error: ",
        "Invalid argument error: ",
        "DataFusion error: ",
    ];
    let mut text = text.trim_start();
    while let Some(rest) = PREFIXES.iter().find_map(|p| text.strip_prefix(p)) {
        text = rest.trim_start();
    }
    text.to_string()
}

pub type Result<T, E = SqlError> = std::result::Result<T, E>;

impl From<tarn_sharing::SharingError> for SqlError {
    /// Sharing errors are the recipient's or the remote server's to fix, never a bug here.
    fn from(e: tarn_sharing::SharingError) -> Self {
        SqlError::User(e.to_string())
    }
}
