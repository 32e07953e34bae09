//! Principals (users and service principals) and their bearer tokens, stored in the warehouse.
//!
//! Tokens look like `tarn_<id>_<secret>`. Only the SHA-256 of the secret is stored
//! (`_tarn_catalog/tokens/<id>.json`), so the warehouse never holds a usable credential.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::Catalog;
use crate::{CatalogError, Result, validate_name};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    User,
    Service,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Principal {
    pub name: String,
    pub kind: PrincipalKind,
    /// Admins may do everything; the first principal a server creates is one.
    pub admin: bool,
    pub created_at: i64,
}

/// What may be shown about a token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    pub id: String,
    pub principal: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenRecord {
    id: String,
    principal: String,
    secret_sha256: String,
    created_at: i64,
    expires_at: Option<i64>,
}

pub(crate) fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality that takes the same time wherever the inputs differ.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A password as SCRAM-SHA-256 (the Postgres protocol's password exchange) verifies it, stored
/// as Postgres stores it: the salt, the iteration count, `StoredKey` and `ServerKey` (RFC 5802).
/// Neither the password nor the salted password (`SaltedPassword`, from which a client proof
/// can be computed — it logs in like the password) is ever stored; `StoredKey` only checks a
/// proof, it cannot make one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PasswordSecret {
    pub salt_hex: String,
    pub iterations: u32,
    #[serde(default)]
    pub stored_key_hex: String,
    #[serde(default)]
    pub server_key_hex: String,
    /// Written by Tarn before StoredKey/ServerKey; read once to derive them, then removed
    /// (`Catalog::upgrade_password_secrets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salted_password_hex: Option<String>,
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), data).as_ref().to_vec()
}

/// Equality of byte strings that takes the same time wherever they differ.
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl PasswordSecret {
    /// The secret for `password` with a fresh random salt.
    pub fn new(password: &str) -> Self {
        let salt = uuid::Uuid::new_v4().into_bytes();
        Self::from_salted(&salt, PASSWORD_ITERATIONS, &salted_password(password, &salt, PASSWORD_ITERATIONS))
    }

    /// `StoredKey := H(HMAC(SaltedPassword, "Client Key"))`, `ServerKey := HMAC(SaltedPassword, "Server Key")`.
    fn from_salted(salt: &[u8], iterations: u32, salted: &[u8]) -> Self {
        let client_key = hmac_sha256(salted, b"Client Key");
        PasswordSecret {
            salt_hex: hex(salt),
            iterations,
            stored_key_hex: hex(&Sha256::digest(&client_key)),
            server_key_hex: hex(&hmac_sha256(salted, b"Server Key")),
            salted_password_hex: None,
        }
    }

    /// A secret of the old form (salted password only) as StoredKey/ServerKey.
    fn upgraded(&self) -> Option<Self> {
        let salted = unhex(self.salted_password_hex.as_deref()?)?;
        Some(Self::from_salted(&unhex(&self.salt_hex)?, self.iterations, &salted))
    }

    pub fn salt(&self) -> Option<Vec<u8>> {
        unhex(&self.salt_hex)
    }

    /// Check a SCRAM `ClientProof` for `auth_message` (client-first-bare, server-first,
    /// client-final-without-proof). On success, the `ServerSignature` the client checks in
    /// return; `None` for a wrong proof.
    pub fn verify_proof(&self, auth_message: &[u8], proof: &[u8]) -> Option<Vec<u8>> {
        let stored_key = unhex(&self.stored_key_hex)?;
        let server_key = unhex(&self.server_key_hex)?;
        let signature = hmac_sha256(&stored_key, auth_message);
        if proof.len() != signature.len() {
            return None;
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        bytes_eq(&Sha256::digest(&client_key), &stored_key).then(|| hmac_sha256(&server_key, auth_message))
    }

    /// Whether `password` is the password this secret was made from.
    pub fn matches(&self, password: &str) -> bool {
        let Some(salt) = self.salt() else {
            return false;
        };
        let candidate = Self::from_salted(&salt, self.iterations, &salted_password(password, &salt, self.iterations));
        bytes_eq(candidate.stored_key_hex.as_bytes(), self.stored_key_hex.as_bytes()) && !self.stored_key_hex.is_empty()
    }
}

/// Iterations of PBKDF2 for new passwords (the SCRAM-SHA-256 default Postgres uses).
pub const PASSWORD_ITERATIONS: u32 = 4096;

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// SCRAM's `SaltedPassword := Hi(Normalize(password), salt, i)`: PBKDF2-HMAC-SHA-256 of the
/// SASLprep-normalized password (the password as given if it does not normalize, as libpq does).
pub fn salted_password(password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    let normalized = stringprep::saslprep(password).unwrap_or(std::borrow::Cow::Borrowed(password));
    let mut out = vec![0u8; 32];
    let iterations = std::num::NonZeroU32::new(iterations).unwrap_or(std::num::NonZeroU32::MIN);
    ring::pbkdf2::derive(ring::pbkdf2::PBKDF2_HMAC_SHA256, iterations, salt, normalized.as_bytes(), &mut out);
    out
}

impl Catalog {
    /// Set (or replace) `principal`'s password; only its SCRAM verifier is stored.
    pub async fn set_password(&self, principal: &str, password: &str) -> Result<()> {
        if password.is_empty() {
            return Err(CatalogError::Invalid("the password is empty".into()));
        }
        self.set_password_secret(principal, &PasswordSecret::new(password)).await
    }

    /// Whether `password` is `principal`'s password (false for unknown users and users
    /// without one). Compares in constant time.
    pub async fn verify_password(&self, principal: &str, password: &str) -> Result<bool> {
        Ok(self.password_secret(principal).await?.is_some_and(|secret| secret.matches(password)))
    }

    /// Rewrite every password secret still in the old form (the salted password) as
    /// StoredKey/ServerKey, so the login-equivalent value is no longer on disk. Returns how
    /// many were rewritten. Servers call this at start.
    pub async fn upgrade_password_secrets(&self) -> Result<usize> {
        let mut upgraded = 0;
        for principal in self.list_principals().await? {
            let path = self.doc_path(&["passwords", &principal.name]);
            let Some(secret) = self.get_doc::<PasswordSecret>(&path).await? else {
                continue;
            };
            if let Some(new) = secret.upgraded() {
                self.set_password_secret(&principal.name, &new).await?;
                upgraded += 1;
            }
        }
        Ok(upgraded)
    }

    /// Set (or replace) the password of an existing principal.
    pub async fn set_password_secret(&self, principal: &str, secret: &PasswordSecret) -> Result<()> {
        let Some(owner) = self.get_principal(principal).await? else {
            return Err(CatalogError::Invalid(format!(
                "user '{principal}' does not exist; create it first (tarn user create {principal})"
            )));
        };
        let body = serde_json::to_vec_pretty(secret).map_err(|e| CatalogError::Invalid(e.to_string()))?;
        let path = self.doc_path(&["passwords", &owner.name]);
        object_store::ObjectStoreExt::put(self.store(), &path, object_store::PutPayload::from(bytes::Bytes::from(body))).await?;
        Ok(())
    }

    /// The stored password secret of `principal`, if it has a password (an old-form secret
    /// is read as StoredKey/ServerKey).
    pub async fn password_secret(&self, principal: &str) -> Result<Option<PasswordSecret>> {
        let secret: Option<PasswordSecret> = self.get_doc(&self.doc_path(&["passwords", &principal.to_ascii_lowercase()])).await?;
        Ok(secret.map(|s| s.upgraded().unwrap_or(s)))
    }

    /// Create a principal. Returns false if it already existed and `if_not_exists` was given.
    pub async fn create_principal(&self, name: &str, kind: PrincipalKind, admin: bool, if_not_exists: bool) -> Result<bool> {
        let name = validate_name("user", name)?;
        let principal = Principal { name: name.clone(), kind, admin, created_at: chrono::Utc::now().timestamp_millis() };
        let created = self.put_new(&self.doc_path(&["principals", &name]), &principal).await?;
        if !created && !if_not_exists {
            return Err(CatalogError::AlreadyExists { kind: "user", name });
        }
        Ok(created)
    }

    /// Remove a principal with its password, tokens and grants (a user created later under
    /// the same name starts with nothing). Returns whether it existed.
    pub async fn drop_principal(&self, name: &str) -> Result<bool> {
        let name = name.to_ascii_lowercase();
        if self.get_principal(&name).await?.is_none() {
            return Ok(false);
        }
        self.delete_doc(&self.doc_path(&["principals", &name])).await?;
        self.delete_doc(&self.doc_path(&["passwords", &name])).await?;
        for token in self.list_tokens(&name).await? {
            self.revoke_token(&token.id).await?;
        }
        for grant in self.grants_to(&name).await? {
            self.revoke(&grant.securable, &name, grant.privilege).await?;
        }
        Ok(true)
    }

    pub async fn get_principal(&self, name: &str) -> Result<Option<Principal>> {
        self.get_doc(&self.doc_path(&["principals", &name.to_ascii_lowercase()])).await
    }

    pub async fn list_principals(&self) -> Result<Vec<Principal>> {
        let mut all: Vec<Principal> = self.list_docs(&self.dir_path(&["principals"])).await?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Issue a new bearer token for `principal`, valid for `ttl_seconds` (or until revoked).
    /// The plaintext token is returned once and stored nowhere.
    pub async fn create_token(&self, principal: &str, ttl_seconds: Option<i64>) -> Result<String> {
        let Some(owner) = self.get_principal(principal).await? else {
            return Err(CatalogError::Invalid(format!(
                "user '{principal}' does not exist; create it first (tarn user create {principal})"
            )));
        };
        let id = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
        let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let now = chrono::Utc::now().timestamp_millis();
        let record = TokenRecord {
            id: id.clone(),
            principal: owner.name,
            secret_sha256: sha256_hex(&secret),
            created_at: now,
            expires_at: ttl_seconds.map(|s| now + s * 1000),
        };
        if !self.put_new(&self.doc_path(&["tokens", &id]), &record).await? {
            return Err(CatalogError::Invalid("token id collision; try again".into()));
        }
        Ok(format!("tarn_{id}_{secret}"))
    }

    /// Tokens of one principal (ids and dates only; secrets are never stored).
    pub async fn list_tokens(&self, principal: &str) -> Result<Vec<TokenInfo>> {
        let records: Vec<TokenRecord> = self.list_docs(&self.dir_path(&["tokens"])).await?;
        let mut out: Vec<TokenInfo> = records
            .into_iter()
            .filter(|r| r.principal.eq_ignore_ascii_case(principal))
            .map(|r| TokenInfo { id: r.id, principal: r.principal, created_at: r.created_at, expires_at: r.expires_at })
            .collect();
        out.sort_by_key(|t| t.created_at);
        Ok(out)
    }

    /// Revoke a token by id: it stops working at once. Returns false if there was none.
    pub async fn revoke_token(&self, id: &str) -> Result<bool> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(false);
        }
        self.delete_doc(&self.doc_path(&["tokens", id])).await
    }

    /// The principal a bearer token belongs to, if the token is valid, unexpired and its
    /// principal still exists.
    pub async fn authenticate_token(&self, token: &str) -> Result<Option<Principal>> {
        let Some((id, secret)) = token.strip_prefix("tarn_").and_then(|t| t.split_once('_')) else {
            return Ok(None);
        };
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Some(record) = self.get_doc::<TokenRecord>(&self.doc_path(&["tokens", id])).await? else {
            return Ok(None);
        };
        if !constant_time_eq(&record.secret_sha256, &sha256_hex(secret)) {
            return Ok(None);
        }
        if record.expires_at.is_some_and(|e| e <= chrono::Utc::now().timestamp_millis()) {
            return Ok(None);
        }
        self.get_principal(&record.principal).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tarn_storage::Warehouse;

    #[tokio::test]
    async fn tokens_authenticate_their_principal_only_while_valid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = Catalog::open(Warehouse::open(dir.path().to_str().expect("utf8")).expect("wh")).await.expect("catalog");
        catalog.create_principal("ada", PrincipalKind::User, false, false).await.expect("user");
        let token = catalog.create_token("ada", None).await.expect("token");
        let who = catalog.authenticate_token(&token).await.expect("auth").expect("valid");
        assert_eq!(who.name, "ada");

        let tampered = format!("{}x", &token[..token.len() - 1]);
        assert!(catalog.authenticate_token(&tampered).await.expect("auth").is_none());
        assert!(catalog.authenticate_token("tarn_zz_abc").await.expect("auth").is_none());
        assert!(catalog.authenticate_token("garbage").await.expect("auth").is_none());

        let expired = catalog.create_token("ada", Some(-1)).await.expect("token");
        assert!(catalog.authenticate_token(&expired).await.expect("auth").is_none());

        // Revocation is immediate and listed tokens show no secrets.
        let listed = catalog.list_tokens("ada").await.expect("list");
        assert_eq!(listed.len(), 2);
        let id = token.split('_').nth(1).expect("id");
        assert!(listed.iter().any(|t| t.id == id));
        assert!(catalog.revoke_token(id).await.expect("revoke"));
        assert!(catalog.authenticate_token(&token).await.expect("auth").is_none());
        assert!(!catalog.revoke_token(id).await.expect("again"));

        // Nothing on disk contains the secret.
        let secret = expired.rsplit('_').next().expect("secret");
        for entry in walk(dir.path()) {
            let text = std::fs::read_to_string(&entry).unwrap_or_default();
            assert!(!text.contains(secret), "{} holds the secret", entry.display());
        }
        assert!(catalog.create_token("nobody", None).await.is_err());
        assert!(matches!(
            catalog.create_principal("ada", PrincipalKind::User, false, false).await,
            Err(CatalogError::AlreadyExists { .. })
        ));
    }

    /// RFC 7677's SCRAM-SHA-256 example: user "user", password "pencil".
    #[test]
    fn a_stored_verifier_checks_the_rfc_7677_exchange() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let secret = PasswordSecret::from_salted(&salt, 4096, &salted_password("pencil", &salt, 4096));
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                            s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let proof = b64.decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=").expect("proof");
        let server_signature = secret.verify_proof(auth_message.as_bytes(), &proof).expect("the RFC's proof is valid");
        assert_eq!(b64.encode(server_signature), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        let mut wrong = proof.clone();
        wrong[0] ^= 1;
        assert!(secret.verify_proof(auth_message.as_bytes(), &wrong).is_none());
        assert!(secret.matches("pencil") && !secret.matches("pen"));
    }

    #[tokio::test]
    async fn old_secrets_are_upgraded_and_the_salted_password_leaves_the_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = Catalog::open(Warehouse::open(dir.path().to_str().expect("utf8")).expect("wh")).await.expect("catalog");
        catalog.create_principal("ada", PrincipalKind::User, false, false).await.expect("user");
        let salt = [7u8; 16];
        let salted = salted_password("s3cret", &salt, PASSWORD_ITERATIONS);
        let old = PasswordSecret {
            salt_hex: hex(&salt),
            iterations: PASSWORD_ITERATIONS,
            stored_key_hex: String::new(),
            server_key_hex: String::new(),
            salted_password_hex: Some(hex(&salted)),
        };
        catalog.set_password_secret("ada", &old).await.expect("old form");
        assert!(catalog.verify_password("ada", "s3cret").await.expect("verify"), "old secrets still log in");
        assert_eq!(catalog.upgrade_password_secrets().await.expect("upgrade"), 1);
        assert_eq!(catalog.upgrade_password_secrets().await.expect("again"), 0);
        assert!(catalog.verify_password("ada", "s3cret").await.expect("verify"));
        assert!(!catalog.verify_password("ada", "wrong").await.expect("verify"));
        for entry in walk(dir.path()) {
            let text = std::fs::read_to_string(&entry).unwrap_or_default();
            assert!(!text.contains(&hex(&salted)), "{} holds the salted password", entry.display());
        }
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                out.extend(walk(&entry.path()));
            } else {
                out.push(entry.path());
            }
        }
        out
    }
}
