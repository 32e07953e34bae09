use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tarn_sql::SqlError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ServerError {
    #[error(transparent)]
    Sql(#[from] SqlError),

    #[error("{0}")]
    BadRequest(String),

    #[error("{0}")]
    NotFound(String),

    #[error("unauthorized: {0}")]
    Unauthorized(String),

    #[error("{0}")]
    Config(String),

    #[error("internal error (this is a bug in Tarn): {0}")]
    Internal(String),
}

pub type Result<T, E = ServerError> = std::result::Result<T, E>;

impl ServerError {
    /// The one place SQL errors become HTTP statuses.
    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServerError::NotFound(_) => StatusCode::NOT_FOUND,
            ServerError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServerError::Config(_) | ServerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ServerError::Sql(e) => {
                use tarn_sql::ErrorKind as K;
                match e.kind() {
                    K::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                    K::PermissionDenied => StatusCode::FORBIDDEN,
                    K::CatalogNotFound | K::SchemaNotFound | K::TableNotFound => StatusCode::NOT_FOUND,
                    K::AlreadyExists | K::Conflict => StatusCode::CONFLICT,
                    K::ResourcesExhausted | K::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                    K::ConstraintViolation | K::NotNullViolation | K::Syntax | K::Unsupported | K::Invalid => StatusCode::BAD_REQUEST,
                }
            }
        }
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let body = serde_json::json!({ "error": { "message": self.to_string(), "status": status.as_u16() } });
        (status, axum::Json(body)).into_response()
    }
}
