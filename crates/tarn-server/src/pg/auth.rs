//! Postgres passwords: SCRAM-SHA-256 against the secrets in the warehouse catalog.

use async_trait::async_trait;
use pgwire::api::auth::sasl::scram::{SCRAM_ITERATIONS, gen_salted_password};
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::PgWireResult;
use tarn_catalog::{Catalog, PasswordSecret};

use crate::error::{Result, ServerError};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// Set `user`'s password (for `tarn user create --password-stdin` and `CREATE USER ... PASSWORD`).
pub async fn set_password(catalog: &Catalog, user: &str, password: &str) -> Result<()> {
    if password.is_empty() {
        return Err(ServerError::BadRequest("the password is empty".into()));
    }
    let salt = uuid::Uuid::new_v4().into_bytes();
    let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
    let secret = PasswordSecret {
        salt_hex: hex(&salt),
        iterations: SCRAM_ITERATIONS as u32,
        salted_password_hex: hex(&salted),
    };
    catalog
        .set_password_secret(user, &secret)
        .await
        .map_err(|e| ServerError::Sql(e.into()))
}

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
        let decoded = secret.and_then(|s| Some((unhex(&s.salt_hex)?, unhex(&s.salted_password_hex)?)));
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
