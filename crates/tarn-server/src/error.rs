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
        use tarn_catalog::CatalogError as C;
        match self {
            ServerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServerError::NotFound(_) => StatusCode::NOT_FOUND,
            ServerError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServerError::Config(_) | ServerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ServerError::Sql(e) => match e {
                SqlError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
                SqlError::PermissionDenied(_) => StatusCode::FORBIDDEN,
                SqlError::Catalog(C::CatalogNotFound(_) | C::SchemaNotFound(_) | C::TableNotFound { .. }) => StatusCode::NOT_FOUND,
                SqlError::Catalog(C::AlreadyExists { .. }) => StatusCode::CONFLICT,
                SqlError::Catalog(C::Storage(_) | C::Corrupt { .. }) => StatusCode::INTERNAL_SERVER_ERROR,
                _ if e.is_conflict() => StatusCode::CONFLICT,
                _ if e.is_resources_exhausted() => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            },
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
