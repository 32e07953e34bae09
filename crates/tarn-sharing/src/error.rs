use thiserror::Error;

/// Errors of the sharing layer, each with the HTTP status and `errorCode` the protocol
/// answers with. All but [`SharingError::Internal`] are the recipient's (or the request's) to fix.
#[derive(Debug, Error)]
pub enum SharingError {
    /// A malformed request: bad JSON, a bad parameter value, a page token not ours.
    #[error("{0}")]
    BadRequest(String),
    /// No valid bearer token (missing, unknown, revoked, or its recipient dropped).
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid recipient asking for something it was not given.
    #[error("{0}")]
    Forbidden(String),
    /// No such share, schema, table (for this recipient), or file.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Internal(String),
}

impl SharingError {
    /// The HTTP status the protocol answers with.
    pub fn status(&self) -> u16 {
        match self {
            SharingError::BadRequest(_) => 400,
            SharingError::Unauthenticated(_) => 401,
            SharingError::Forbidden(_) => 403,
            SharingError::NotFound(_) => 404,
            SharingError::Internal(_) => 500,
        }
    }

    /// The protocol's `errorCode`.
    pub fn error_code(&self) -> &'static str {
        match self {
            SharingError::BadRequest(_) => "INVALID_PARAMETER_VALUE",
            SharingError::Unauthenticated(_) => "UNAUTHENTICATED",
            SharingError::Forbidden(_) => "PERMISSION_DENIED",
            SharingError::NotFound(_) => "RESOURCE_DOES_NOT_EXIST",
            SharingError::Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// The protocol's error body: `{"errorCode": ..., "message": ...}`.
    pub fn body(&self) -> String {
        serde_json::json!({ "errorCode": self.error_code(), "message": self.to_string() }).to_string()
    }
}

impl From<tarn_catalog::CatalogError> for SharingError {
    fn from(e: tarn_catalog::CatalogError) -> Self {
        use tarn_catalog::CatalogError as C;
        match e {
            C::Storage(_) | C::Corrupt { .. } => SharingError::Internal(e.to_string()),
            C::TableNotFound { .. } => SharingError::NotFound(e.to_string()),
            other => SharingError::BadRequest(other.to_string()),
        }
    }
}

impl From<tarn_engine::EngineError> for SharingError {
    fn from(e: tarn_engine::EngineError) -> Self {
        match e {
            tarn_engine::EngineError::User(message) => SharingError::BadRequest(message),
            other => SharingError::Internal(other.to_string()),
        }
    }
}

impl From<object_store::Error> for SharingError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => SharingError::NotFound("the file does not exist (any more)".into()),
            other => SharingError::Internal(other.to_string()),
        }
    }
}

impl From<tarn_storage::StorageError> for SharingError {
    fn from(e: tarn_storage::StorageError) -> Self {
        SharingError::Internal(e.to_string())
    }
}

pub type Result<T, E = SharingError> = std::result::Result<T, E>;
