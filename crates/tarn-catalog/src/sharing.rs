//! Delta Sharing's provider-side objects: shares (named sets of tables), recipients (other
//! organisations, not principals of this warehouse), which recipients may read which shares,
//! and the recipients' bearer tokens.
//!
//! One document per fact, as everywhere in the catalog: `shares/s.json`,
//! `share_tables/s/<schema>.<table>.json`, `share_grants/s/r.json`, `recipients/r.json`,
//! `recipient_tokens/<id>.json` (only the SHA-256 of the secret) and
//! `recipient_activations/<id>.json` (a one-time code that, once used, is deleted and becomes a
//! token). Tokens look like `tarnshare_<id>_<secret>`.

use crate::principals::{constant_time_eq, hex, sha256_hex, unhex};
use crate::store::Catalog;
use crate::{CatalogError, Result, TableIdent, validate_name};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Share {
    pub name: String,
    pub comment: Option<String>,
    pub owner: String,
    pub created_at: i64,
}

/// A table in a share, under the name recipients see (`<schema>.<name>` inside the share).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SharedTable {
    pub share: String,
    pub schema: String,
    pub name: String,
    /// The warehouse table shared, and its id when added: a table dropped and created again
    /// under the same name is not shared by accident.
    pub table: String,
    pub table_id: String,
    /// Whether recipients may read earlier versions and the change data feed.
    pub history: bool,
    /// `PARTITION (col = 'v', ...)`: recipients see only files of these partitions.
    #[serde(default)]
    pub partitions: Vec<(String, String)>,
    pub added_by: String,
    pub added_at: i64,
}

impl SharedTable {
    pub fn table_ident(&self) -> Result<TableIdent> {
        let parts: Vec<&str> = self.table.split('.').collect();
        match parts.as_slice() {
            [c, s, t] => Ok(TableIdent::new(*c, *s, *t)),
            _ => Err(CatalogError::Corrupt { path: format!("share {}", self.share), reason: format!("table name '{}'", self.table) }),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recipient {
    pub name: String,
    pub comment: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

/// What may be shown about a recipient's token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecipientToken {
    pub id: String,
    pub recipient: String,
    secret_sha256: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Activation {
    id: String,
    recipient: String,
    secret_sha256: String,
    created_at: i64,
    /// The token this activation hands out expires then.
    token_expires_at: Option<i64>,
}

/// Why a recipient's bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Not a token, or no such token (never issued, revoked, recipient dropped).
    Unknown,
    Expired,
}

fn new_secret() -> (String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    (id, secret)
}

/// `<id>_<secret>` after `prefix`, with a hex id.
fn split_secret<'a>(text: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    let (id, secret) = text.strip_prefix(prefix)?.split_once('_')?;
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()) && !secret.is_empty()).then_some((id, secret))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Catalog {
    pub async fn create_share(&self, name: &str, comment: Option<String>, owner: &str, if_not_exists: bool) -> Result<bool> {
        let name = validate_name("share", name)?;
        let share = Share { name: name.clone(), comment, owner: owner.to_string(), created_at: now() };
        let created = self.put_new(&self.doc_path(&["shares", &name]), &share).await?;
        if !created && !if_not_exists {
            return Err(CatalogError::AlreadyExists { kind: "share", name });
        }
        Ok(created)
    }

    pub async fn get_share(&self, name: &str) -> Result<Option<Share>> {
        self.get_doc(&self.doc_path(&["shares", &name.to_ascii_lowercase()])).await
    }

    pub async fn require_share(&self, name: &str) -> Result<Share> {
        self.get_share(name).await?.ok_or_else(|| {
            CatalogError::Invalid(format!("share '{}' does not exist; SHOW SHARES lists the shares", name.to_ascii_lowercase()))
        })
    }

    pub async fn list_shares(&self) -> Result<Vec<Share>> {
        let mut all: Vec<Share> = self.list_docs(&self.dir_path(&["shares"])).await?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Drop a share with its tables and grants. Returns whether it existed.
    pub async fn drop_share(&self, name: &str) -> Result<bool> {
        let name = name.to_ascii_lowercase();
        if self.get_share(&name).await?.is_none() {
            return Ok(false);
        }
        // The share document goes first: from then on no recipient can reach it.
        self.delete_doc(&self.doc_path(&["shares", &name])).await?;
        for table in self.shared_tables(&name).await? {
            self.delete_doc(&self.doc_path(&["share_tables", &name, &format!("{}.{}", table.schema, table.name)])).await?;
        }
        for recipient in self.share_recipients(&name).await? {
            self.delete_doc(&self.doc_path(&["share_grants", &name, &recipient])).await?;
        }
        Ok(true)
    }

    /// Add a table to a share under `schema.name`; refused if that name is taken in the share.
    pub async fn add_shared_table(&self, table: &SharedTable) -> Result<()> {
        let schema = validate_name("schema", &table.schema)?;
        let name = validate_name("table", &table.name)?;
        let path = self.doc_path(&["share_tables", &table.share, &format!("{schema}.{name}")]);
        let doc = SharedTable { schema: schema.clone(), name: name.clone(), ..table.clone() };
        if !self.put_new(&path, &doc).await? {
            return Err(CatalogError::AlreadyExists { kind: "table in share", name: format!("{}.{schema}.{name}", table.share) });
        }
        Ok(())
    }

    /// Remove `schema.name` from a share. Returns whether it was there.
    pub async fn remove_shared_table(&self, share: &str, schema: &str, name: &str) -> Result<bool> {
        let key = format!("{}.{}", schema.to_ascii_lowercase(), name.to_ascii_lowercase());
        self.delete_doc(&self.doc_path(&["share_tables", &share.to_ascii_lowercase(), &key])).await
    }

    /// The tables of a share, by schema and name.
    pub async fn shared_tables(&self, share: &str) -> Result<Vec<SharedTable>> {
        let mut all: Vec<SharedTable> = self.list_docs(&self.dir_path(&["share_tables", &share.to_ascii_lowercase()])).await?;
        all.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        Ok(all)
    }

    pub async fn get_shared_table(&self, share: &str, schema: &str, name: &str) -> Result<Option<SharedTable>> {
        let key = format!("{}.{}", schema.to_ascii_lowercase(), name.to_ascii_lowercase());
        self.get_doc(&self.doc_path(&["share_tables", &share.to_ascii_lowercase(), &key])).await
    }

    pub async fn create_recipient(&self, name: &str, comment: Option<String>, created_by: &str, if_not_exists: bool) -> Result<bool> {
        let name = validate_name("recipient", name)?;
        let recipient = Recipient { name: name.clone(), comment, created_by: created_by.to_string(), created_at: now() };
        let created = self.put_new(&self.doc_path(&["recipients", &name]), &recipient).await?;
        if !created && !if_not_exists {
            return Err(CatalogError::AlreadyExists { kind: "recipient", name });
        }
        Ok(created)
    }

    pub async fn get_recipient(&self, name: &str) -> Result<Option<Recipient>> {
        self.get_doc(&self.doc_path(&["recipients", &name.to_ascii_lowercase()])).await
    }

    pub async fn require_recipient(&self, name: &str) -> Result<Recipient> {
        self.get_recipient(name).await?.ok_or_else(|| {
            CatalogError::Invalid(format!("recipient '{}' does not exist; SHOW RECIPIENTS lists them", name.to_ascii_lowercase()))
        })
    }

    pub async fn list_recipients(&self) -> Result<Vec<Recipient>> {
        let mut all: Vec<Recipient> = self.list_docs(&self.dir_path(&["recipients"])).await?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Drop a recipient: its tokens and activation links stop working at once, its grants go.
    pub async fn drop_recipient(&self, name: &str) -> Result<bool> {
        let name = name.to_ascii_lowercase();
        if self.get_recipient(&name).await?.is_none() {
            return Ok(false);
        }
        self.delete_doc(&self.doc_path(&["recipients", &name])).await?;
        for token in self.recipient_tokens(&name).await? {
            self.delete_doc(&self.doc_path(&["recipient_tokens", &token.id])).await?;
        }
        let activations: Vec<Activation> = self.list_docs(&self.dir_path(&["recipient_activations"])).await?;
        for activation in activations.iter().filter(|a| a.recipient == name) {
            self.delete_doc(&self.doc_path(&["recipient_activations", &activation.id])).await?;
        }
        for share in self.list_shares().await? {
            self.delete_doc(&self.doc_path(&["share_grants", &share.name, &name])).await?;
        }
        Ok(true)
    }

    pub async fn grant_share(&self, share: &str, recipient: &str, granted_by: &str) -> Result<()> {
        let share = self.require_share(share).await?.name;
        let recipient = self.require_recipient(recipient).await?.name;
        let doc = serde_json::json!({ "share": share, "recipient": recipient, "granted_by": granted_by, "granted_at": now() });
        self.put_new(&self.doc_path(&["share_grants", &share, &recipient]), &doc).await?;
        Ok(())
    }

    pub async fn revoke_share(&self, share: &str, recipient: &str) -> Result<bool> {
        let share = self.require_share(share).await?.name;
        self.delete_doc(&self.doc_path(&["share_grants", &share, &recipient.to_ascii_lowercase()])).await
    }

    /// Recipients that may read `share`.
    pub async fn share_recipients(&self, share: &str) -> Result<Vec<String>> {
        let docs: Vec<serde_json::Value> = self.list_docs(&self.dir_path(&["share_grants", &share.to_ascii_lowercase()])).await?;
        let mut out: Vec<String> = docs.iter().filter_map(|d| d.get("recipient")?.as_str().map(str::to_string)).collect();
        out.sort();
        Ok(out)
    }

    pub async fn recipient_may_read(&self, share: &str, recipient: &str) -> Result<bool> {
        let path = self.doc_path(&["share_grants", &share.to_ascii_lowercase(), &recipient.to_ascii_lowercase()]);
        Ok(self.get_doc::<serde_json::Value>(&path).await?.is_some())
    }

    /// Shares `recipient` may read.
    pub async fn shares_of_recipient(&self, recipient: &str) -> Result<Vec<Share>> {
        let mut out = Vec::new();
        for share in self.list_shares().await? {
            if self.recipient_may_read(&share.name, recipient).await? {
                out.push(share);
            }
        }
        Ok(out)
    }

    /// Issue a bearer token for `recipient`; the plaintext is returned once and stored nowhere.
    pub async fn create_recipient_token(&self, recipient: &str, expires_at: Option<i64>) -> Result<(String, RecipientToken)> {
        let recipient = self.require_recipient(recipient).await?.name;
        let (id, secret) = new_secret();
        let record = RecipientToken { id: id.clone(), recipient, secret_sha256: sha256_hex(&secret), created_at: now(), expires_at };
        if !self.put_new(&self.doc_path(&["recipient_tokens", &id]), &record).await? {
            return Err(CatalogError::Invalid("token id collision; try again".into()));
        }
        Ok((format!("tarnshare_{id}_{secret}"), record))
    }

    pub async fn recipient_tokens(&self, recipient: &str) -> Result<Vec<RecipientToken>> {
        let all: Vec<RecipientToken> = self.list_docs(&self.dir_path(&["recipient_tokens"])).await?;
        let mut out: Vec<RecipientToken> = all.into_iter().filter(|t| t.recipient.eq_ignore_ascii_case(recipient)).collect();
        out.sort_by_key(|t| t.created_at);
        Ok(out)
    }

    /// Make every current token of `recipient` expire at `expires_at` (sooner only: a token
    /// already expiring earlier keeps its expiry). Returns how many tokens were changed.
    pub async fn expire_recipient_tokens(&self, recipient: &str, expires_at: i64) -> Result<usize> {
        let mut changed = 0;
        for mut token in self.recipient_tokens(recipient).await? {
            if token.expires_at.is_some_and(|e| e <= expires_at) {
                continue;
            }
            token.expires_at = Some(expires_at);
            let body = serde_json::to_vec_pretty(&token).map_err(|e| CatalogError::Invalid(e.to_string()))?;
            let path = self.doc_path(&["recipient_tokens", &token.id]);
            object_store::ObjectStoreExt::put(self.store(), &path, object_store::PutPayload::from(bytes::Bytes::from(body))).await?;
            changed += 1;
        }
        Ok(changed)
    }

    /// The recipient a bearer token belongs to, or why it is refused.
    pub async fn authenticate_recipient(&self, token: &str) -> Result<std::result::Result<Recipient, TokenRefusal>> {
        let Some((id, secret)) = split_secret(token, "tarnshare_") else {
            return Ok(Err(TokenRefusal::Unknown));
        };
        let Some(record) = self.get_doc::<RecipientToken>(&self.doc_path(&["recipient_tokens", id])).await? else {
            return Ok(Err(TokenRefusal::Unknown));
        };
        if !constant_time_eq(&record.secret_sha256, &sha256_hex(secret)) {
            return Ok(Err(TokenRefusal::Unknown));
        }
        if record.expires_at.is_some_and(|e| e <= now()) {
            return Ok(Err(TokenRefusal::Expired));
        }
        Ok(self.get_recipient(&record.recipient).await?.ok_or(TokenRefusal::Unknown))
    }

    /// A one-time activation code for `recipient`; activating it issues a token that expires
    /// at `token_expires_at`.
    pub async fn create_activation(&self, recipient: &str, token_expires_at: Option<i64>) -> Result<String> {
        let recipient = self.require_recipient(recipient).await?.name;
        let (id, secret) = new_secret();
        let record = Activation { id: id.clone(), recipient, secret_sha256: sha256_hex(&secret), created_at: now(), token_expires_at };
        if !self.put_new(&self.doc_path(&["recipient_activations", &id]), &record).await? {
            return Err(CatalogError::Invalid("activation id collision; try again".into()));
        }
        Ok(format!("{id}_{secret}"))
    }

    /// Use an activation code: it is deleted (it works once) and a fresh token is returned.
    /// `None` if the code is unknown or was used already.
    pub async fn activate(&self, code: &str) -> Result<Option<(String, RecipientToken)>> {
        let Some((id, secret)) = split_secret(code, "") else {
            return Ok(None);
        };
        let path = self.doc_path(&["recipient_activations", id]);
        let Some(record) = self.get_doc::<Activation>(&path).await? else {
            return Ok(None);
        };
        if !constant_time_eq(&record.secret_sha256, &sha256_hex(secret)) {
            return Ok(None);
        }
        if !self.delete_doc(&path).await? {
            return Ok(None);
        }
        Ok(Some(self.create_recipient_token(&record.recipient, record.token_expires_at).await?))
    }

    /// The key signing the file URLs this warehouse hands out (created on first use).
    ///
    /// Keys made before Tarn kept its catalog out of reach of `read_files` lived under
    /// `signing_key`, where they may have been read; they are dropped and a new key is made
    /// under `signing_key_v2` (put-if-absent, so every server agrees on one) — a one-time
    /// rotation on upgrade.
    pub async fn sharing_signing_key(&self) -> Result<Vec<u8>> {
        self.delete_doc(&self.doc_path(&["sharing", "signing_key"])).await?;
        let path = self.doc_path(&["sharing", "signing_key_v2"]);
        if let Some(doc) = self.get_doc::<serde_json::Value>(&path).await?
            && let Some(key) = doc.get("key_hex").and_then(|k| k.as_str())
        {
            return unhex(key).ok_or_else(|| CatalogError::Corrupt { path: path.to_string(), reason: "key_hex is not hex".into() });
        }
        let mut key = Vec::with_capacity(64);
        for _ in 0..4 {
            key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        }
        // Put-if-absent: of two servers starting at once, both end up with the winner's key.
        self.put_new(&path, &serde_json::json!({ "key_hex": hex(&key) })).await?;
        let doc = self.get_doc::<serde_json::Value>(&path).await?.unwrap_or_default();
        doc.get("key_hex")
            .and_then(|k| k.as_str())
            .and_then(unhex)
            .ok_or_else(|| CatalogError::Corrupt { path: path.to_string(), reason: "no key_hex".into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tarn_storage::Warehouse;

    async fn catalog() -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = Catalog::open(Warehouse::open(dir.path().to_str().expect("utf8")).expect("wh")).await.expect("catalog");
        (dir, catalog)
    }

    #[tokio::test]
    async fn recipient_tokens_work_until_expired_revoked_or_the_recipient_is_dropped() {
        let (_dir, catalog) = catalog().await;
        catalog.create_recipient("acme", None, "admin", false).await.expect("recipient");
        let (token, _) = catalog.create_recipient_token("acme", None).await.expect("token");
        assert_eq!(catalog.authenticate_recipient(&token).await.expect("auth").expect("valid").name, "acme");
        // Change the secret's last hex digit (to another digit: it may already be '0').
        let other = if token.ends_with('0') { '1' } else { '0' };
        let tampered = format!("{}{other}", &token[..token.len() - 1]);
        assert_eq!(catalog.authenticate_recipient(&tampered).await.expect("auth"), Err(TokenRefusal::Unknown));
        assert_eq!(catalog.authenticate_recipient("tarn_abc_def").await.expect("auth"), Err(TokenRefusal::Unknown));

        assert_eq!(catalog.expire_recipient_tokens("acme", now() - 1).await.expect("expire"), 1);
        assert_eq!(catalog.authenticate_recipient(&token).await.expect("auth"), Err(TokenRefusal::Expired));

        let code = catalog.create_activation("acme", None).await.expect("activation");
        let (fresh, _) = catalog.activate(&code).await.expect("activate").expect("first use");
        assert!(catalog.activate(&code).await.expect("again").is_none(), "an activation code works once");
        assert!(catalog.authenticate_recipient(&fresh).await.expect("auth").is_ok());

        assert!(catalog.drop_recipient("acme").await.expect("drop"));
        assert_eq!(catalog.authenticate_recipient(&fresh).await.expect("auth"), Err(TokenRefusal::Unknown));
    }

    #[tokio::test]
    async fn share_grants_and_tables_go_with_the_share() {
        let (_dir, catalog) = catalog().await;
        catalog.create_share("s", None, "admin", false).await.expect("share");
        assert!(matches!(catalog.create_share("S", None, "admin", false).await, Err(CatalogError::AlreadyExists { .. })));
        catalog.create_recipient("r", None, "admin", false).await.expect("recipient");
        catalog.grant_share("s", "r", "admin").await.expect("grant");
        assert!(catalog.recipient_may_read("s", "r").await.expect("check"));
        let table = SharedTable {
            share: "s".into(),
            schema: "sales".into(),
            name: "orders".into(),
            table: "main.default.orders".into(),
            table_id: "id1".into(),
            history: false,
            partitions: vec![],
            added_by: "admin".into(),
            added_at: 0,
        };
        catalog.add_shared_table(&table).await.expect("add");
        assert!(catalog.add_shared_table(&table).await.is_err(), "one name once per share");
        assert_eq!(catalog.shared_tables("s").await.expect("list").len(), 1);
        assert!(catalog.drop_share("s").await.expect("drop"));
        catalog.create_share("s", None, "admin", false).await.expect("again");
        assert!(catalog.shared_tables("s").await.expect("list").is_empty());
        assert!(!catalog.recipient_may_read("s", "r").await.expect("check"));
    }
}
