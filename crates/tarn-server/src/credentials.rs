//! Passwords: stored as SCRAM-SHA-256 secrets (salt, iterations, salted password), the form
//! the Postgres protocol's password exchange needs; Flight SQL's Basic handshake checks a
//! password against the same secret.

use pgwire::api::auth::sasl::scram::{SCRAM_ITERATIONS, gen_salted_password};
use tarn_catalog::{Catalog, PasswordSecret};

use crate::error::{Result, ServerError};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
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

/// Whether `password` is `user`'s password. Unknown users and users without a password never
/// match.
pub async fn verify_password(catalog: &Catalog, user: &str, password: &str) -> Result<bool> {
    let secret = catalog.password_secret(user).await.map_err(|e| ServerError::Sql(e.into()))?;
    let Some(secret) = secret else { return Ok(false) };
    let (Some(salt), Some(expected)) = (unhex(&secret.salt_hex), unhex(&secret.salted_password_hex)) else {
        return Ok(false);
    };
    let actual = gen_salted_password(password, &salt, secret.iterations as usize);
    // Compare in constant time.
    Ok(actual.len() == expected.len() && actual.iter().zip(&expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
}
