use thiserror::Error;

/// Errors of the catalog. All but [`CatalogError::Storage`] and [`CatalogError::Corrupt`] are
/// caused by the user's request.
#[derive(Debug, Error)]
pub enum CatalogError {
    #[error("invalid name '{name}': {reason}")]
    InvalidName { name: String, reason: String },

    #[error("catalog '{0}' not found; SHOW CATALOGS lists the catalogs")]
    CatalogNotFound(String),

    #[error("schema '{0}' not found; SHOW SCHEMAS lists the schemas")]
    SchemaNotFound(String),

    #[error("table '{name}' not found{hint}")]
    TableNotFound { name: String, hint: String },

    #[error("{kind} '{name}' already exists")]
    AlreadyExists { kind: &'static str, name: String },

    #[error("schema '{0}' is not empty; use DROP SCHEMA ... CASCADE to drop it with its tables")]
    SchemaNotEmpty(String),

    #[error("{0}")]
    Invalid(String),

    #[error("catalog entry '{path}' is unreadable: {reason}")]
    Corrupt { path: String, reason: String },

    #[error(transparent)]
    Storage(#[from] tarn_storage::StorageError),
}

impl From<object_store::Error> for CatalogError {
    fn from(e: object_store::Error) -> Self {
        CatalogError::Storage(e.into())
    }
}

pub type Result<T, E = CatalogError> = std::result::Result<T, E>;
