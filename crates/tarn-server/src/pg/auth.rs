//! Postgres passwords: SCRAM-SHA-256 against the secrets in the warehouse catalog.

use async_trait::async_trait;
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::PgWireResult;
use tarn_catalog::Catalog;

/// Looks up the SCRAM secret of the connecting user.
#[derive(Debug)]
pub(crate) struct CatalogAuthSource {
    pub catalog: Catalog,
}

#[async_trait]
impl AuthSource for CatalogAuthSource {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        let secret = match self.catalog.password_secret(user).await {
            Ok(secret) => secret,
            Err(e) => {
                tracing::error!(error = %e, "reading a password secret failed");
                None
            }
        };
        let decoded = secret.and_then(|s| s.decode());
        match decoded {
            Some((salt, salted)) => Ok(Password::new(Some(salt), salted)),
            // Unknown users and users without a password get a random secret, so they fail
            // exactly like a wrong password does and nothing tells which users exist.
            None => {
                let salt = uuid::Uuid::new_v4().into_bytes().to_vec();
                let salted = uuid::Uuid::new_v4().into_bytes().repeat(2);
                Ok(Password::new(Some(salt), salted))
            }
        }
    }
}
