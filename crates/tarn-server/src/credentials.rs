//! Passwords live in the catalog (`Catalog::set_password`); these wrappers give the server's
//! callers (the `tarn` binary, bootstrap) its error type.

use tarn_catalog::Catalog;

use crate::error::{Result, ServerError};

/// Set `user`'s password (for `tarn user create --password-stdin`).
pub async fn set_password(catalog: &Catalog, user: &str, password: &str) -> Result<()> {
    catalog.set_password(user, password).await.map_err(|e| ServerError::Sql(e.into()))
}

/// Whether `password` is `user`'s password.
pub async fn verify_password(catalog: &Catalog, user: &str, password: &str) -> Result<bool> {
    catalog.verify_password(user, password).await.map_err(|e| ServerError::Sql(e.into()))
}
