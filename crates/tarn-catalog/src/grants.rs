//! Privileges (Unity Catalog style) and ownership, stored in the warehouse.
//!
//! Each grant is its own document, `_tarn_catalog/grants/<securable>/<principal>/<PRIVILEGE>.json`,
//! created with put-if-absent and revoked by deleting it: concurrent GRANTs and REVOKEs never
//! overwrite each other. Tables are keyed by their id, so a renamed table keeps its grants and a
//! dropped-and-recreated one starts with none. Ownership is the `OWNER` document of a securable.
//! Whether a privilege suffices (inheritance down catalog → schema → table) is decided in
//! `tarn-sql`; this module only stores and lists.

use serde::{Deserialize, Serialize};

use crate::store::Catalog;
use crate::{CatalogError, Result, TableEntry};

/// Something privileges are granted on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Securable {
    Catalog {
        name: String,
    },
    Schema {
        catalog: String,
        name: String,
    },
    Table {
        catalog: String,
        schema: String,
        name: String,
        id: String,
    },
    /// A SQL function in the catalog, keyed (like a table) by its id.
    Function {
        catalog: String,
        schema: String,
        name: String,
        id: String,
    },
    /// Direct file access: `delta.`path`` tables, COPY INTO sources, external locations.
    AnyFile,
}

impl Securable {
    pub fn table(entry: &TableEntry) -> Self {
        Securable::Table { catalog: entry.catalog.clone(), schema: entry.schema.clone(), name: entry.name.clone(), id: entry.id.clone() }
    }

    /// `CATALOG`, `SCHEMA`, `TABLE` or `ANY FILE`.
    pub fn kind(&self) -> &'static str {
        match self {
            Securable::Catalog { .. } => "CATALOG",
            Securable::Schema { .. } => "SCHEMA",
            Securable::Table { .. } => "TABLE",
            Securable::Function { .. } => "FUNCTION",
            Securable::AnyFile => "ANY FILE",
        }
    }

    /// The name as users write it.
    pub fn display_name(&self) -> String {
        match self {
            Securable::Catalog { name } => name.clone(),
            Securable::Schema { catalog, name } => format!("{catalog}.{name}"),
            Securable::Table { catalog, schema, name, .. } | Securable::Function { catalog, schema, name, .. } => {
                format!("{catalog}.{schema}.{name}")
            }
            Securable::AnyFile => String::new(),
        }
    }

    fn key(&self) -> Vec<String> {
        match self {
            Securable::Catalog { name } => vec!["catalog".into(), name.clone()],
            Securable::Schema { catalog, name } => vec!["schema".into(), catalog.clone(), name.clone()],
            Securable::Table { id, .. } => vec!["table".into(), id.clone()],
            Securable::Function { id, .. } => vec!["function".into(), id.clone()],
            Securable::AnyFile => vec!["anyfile".into()],
        }
    }
}

/// A privilege. `Owner` is not granted but held by whoever created (or was given) an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Privilege {
    UseCatalog,
    UseSchema,
    CreateSchema,
    CreateTable,
    CreateFunction,
    Select,
    Execute,
    Modify,
    AllPrivileges,
    Owner,
}

impl Privilege {
    /// As written in SQL.
    pub fn sql(self) -> &'static str {
        match self {
            Privilege::UseCatalog => "USE CATALOG",
            Privilege::UseSchema => "USE SCHEMA",
            Privilege::CreateSchema => "CREATE SCHEMA",
            Privilege::CreateTable => "CREATE TABLE",
            Privilege::CreateFunction => "CREATE FUNCTION",
            Privilege::Select => "SELECT",
            Privilege::Execute => "EXECUTE",
            Privilege::Modify => "MODIFY",
            Privilege::AllPrivileges => "ALL PRIVILEGES",
            Privilege::Owner => "OWNER",
        }
    }

    /// Parse `USE CATALOG`, `select`, `ALL PRIVILEGES`, ... (words separated by spaces).
    pub fn parse(words: &str) -> Option<Privilege> {
        let normalized = words.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_uppercase();
        Some(match normalized.as_str() {
            "USE CATALOG" => Privilege::UseCatalog,
            "USE SCHEMA" => Privilege::UseSchema,
            "CREATE SCHEMA" => Privilege::CreateSchema,
            "CREATE TABLE" => Privilege::CreateTable,
            "CREATE FUNCTION" => Privilege::CreateFunction,
            "SELECT" => Privilege::Select,
            "EXECUTE" => Privilege::Execute,
            "MODIFY" => Privilege::Modify,
            "ALL PRIVILEGES" | "ALL" => Privilege::AllPrivileges,
            _ => return None,
        })
    }

    fn file_name(self) -> String {
        format!("{self:?}").to_ascii_uppercase()
    }
}

/// One stored grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub securable: Securable,
    pub principal: String,
    pub privilege: Privilege,
    pub granted_by: String,
    pub granted_at: i64,
}

impl Catalog {
    fn grant_path(&self, securable: &Securable, principal: &str, privilege: Privilege) -> object_store::path::Path {
        let mut parts: Vec<String> = vec!["grants".into()];
        parts.extend(securable.key());
        parts.push(principal.to_ascii_lowercase());
        parts.push(privilege.file_name());
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        self.doc_path(&refs)
    }

    fn grants_dir(&self, securable: &Securable, principal: Option<&str>) -> object_store::path::Path {
        let mut parts: Vec<String> = vec!["grants".into()];
        parts.extend(securable.key());
        if let Some(p) = principal {
            parts.push(p.to_ascii_lowercase());
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        self.dir_path(&refs)
    }

    /// Grant `privilege` on `securable` to an existing principal. Granting twice is a no-op.
    pub async fn grant(&self, securable: &Securable, principal: &str, privilege: Privilege, granted_by: &str) -> Result<()> {
        if self.get_principal(principal).await?.is_none() {
            return Err(CatalogError::Invalid(format!("user '{principal}' does not exist; create it first (CREATE USER {principal})")));
        }
        let grant = Grant {
            securable: securable.clone(),
            principal: principal.to_ascii_lowercase(),
            privilege,
            granted_by: granted_by.to_string(),
            granted_at: chrono::Utc::now().timestamp_millis(),
        };
        self.put_new(&self.grant_path(securable, principal, privilege), &grant).await?;
        Ok(())
    }

    /// Revoke a grant. Returns whether it existed.
    pub async fn revoke(&self, securable: &Securable, principal: &str, privilege: Privilege) -> Result<bool> {
        self.delete_doc(&self.grant_path(securable, principal, privilege)).await
    }

    /// Make `principal` the owner of `securable` (replacing any previous owner).
    pub async fn set_owner(&self, securable: &Securable, principal: &str, granted_by: &str) -> Result<()> {
        for previous in self.grants_on(securable).await? {
            if previous.privilege == Privilege::Owner && previous.principal != principal.to_ascii_lowercase() {
                self.revoke(securable, &previous.principal, Privilege::Owner).await?;
            }
        }
        self.grant(securable, principal, Privilege::Owner, granted_by).await
    }

    /// Every grant on `securable` (ownership included).
    pub async fn grants_on(&self, securable: &Securable) -> Result<Vec<Grant>> {
        let mut all: Vec<Grant> = self.list_docs_recursive(&self.grants_dir(securable, None)).await?;
        all.sort_by(|a, b| (&a.principal, a.privilege).cmp(&(&b.principal, b.privilege)));
        Ok(all)
    }

    /// The privileges `principal` holds directly on `securable`.
    pub async fn privileges_of(&self, securable: &Securable, principal: &str) -> Result<Vec<Privilege>> {
        let grants: Vec<Grant> = self.list_docs(&self.grants_dir(securable, Some(principal))).await?;
        Ok(grants.into_iter().map(|g| g.privilege).collect())
    }

    /// Every grant held by `principal`, on anything.
    pub async fn grants_to(&self, principal: &str) -> Result<Vec<Grant>> {
        let principal = principal.to_ascii_lowercase();
        let mut all: Vec<Grant> = self.list_docs_recursive(&self.dir_path(&["grants"])).await?;
        all.retain(|g| g.principal == principal);
        all.sort_by(|a, b| {
            (a.securable.kind(), a.securable.display_name(), a.privilege).cmp(&(
                b.securable.kind(),
                b.securable.display_name(),
                b.privilege,
            ))
        });
        Ok(all)
    }

    /// Remove every grant on `securable` (when it is dropped).
    pub async fn drop_grants(&self, securable: &Securable) -> Result<()> {
        for grant in self.grants_on(securable).await? {
            self.revoke(securable, &grant.principal, grant.privilege).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PrincipalKind;

    async fn catalog() -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().expect("tempdir");
        let warehouse = tarn_storage::Warehouse::open(&dir.path().to_string_lossy()).expect("warehouse");
        (dir, Catalog::open(warehouse).await.expect("catalog"))
    }

    #[tokio::test]
    async fn grants_are_stored_listed_and_revoked() {
        let (_dir, catalog) = catalog().await;
        catalog.create_principal("ada", PrincipalKind::User, false, false).await.unwrap();
        let schema = Securable::Schema { catalog: "main".into(), name: "default".into() };
        catalog.grant(&schema, "ada", Privilege::UseSchema, "admin").await.unwrap();
        catalog.grant(&schema, "ada", Privilege::UseSchema, "admin").await.unwrap();
        catalog.grant(&schema, "ADA", Privilege::Select, "admin").await.unwrap();
        assert_eq!(catalog.privileges_of(&schema, "ada").await.unwrap().len(), 2);
        assert_eq!(catalog.grants_to("ada").await.unwrap().len(), 2);
        assert!(catalog.revoke(&schema, "ada", Privilege::Select).await.unwrap());
        assert!(!catalog.revoke(&schema, "ada", Privilege::Select).await.unwrap());
        assert_eq!(catalog.privileges_of(&schema, "ada").await.unwrap(), vec![Privilege::UseSchema]);
        assert!(catalog.grant(&schema, "nobody", Privilege::Select, "admin").await.is_err());
        // A catalog's grants are not its schemas' grants.
        let main = Securable::Catalog { name: "main".into() };
        assert!(catalog.grants_on(&main).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn ownership_moves() {
        let (_dir, catalog) = catalog().await;
        for user in ["ada", "bob"] {
            catalog.create_principal(user, PrincipalKind::User, false, false).await.unwrap();
        }
        let table = Securable::Table { catalog: "main".into(), schema: "default".into(), name: "t".into(), id: "abc".into() };
        catalog.set_owner(&table, "ada", "ada").await.unwrap();
        catalog.set_owner(&table, "bob", "ada").await.unwrap();
        let owners: Vec<String> =
            catalog.grants_on(&table).await.unwrap().into_iter().filter(|g| g.privilege == Privilege::Owner).map(|g| g.principal).collect();
        assert_eq!(owners, vec!["bob".to_string()]);
        catalog.drop_grants(&table).await.unwrap();
        assert!(catalog.grants_on(&table).await.unwrap().is_empty());
    }
}
