//! The catalog documents and the operations on them.

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, path::Path};
use serde::{Deserialize, Serialize};
use tarn_storage::{Warehouse, is_within, normalize_dir_url};
use url::Url;

use crate::{CatalogError, DEFAULT_CATALOG, DEFAULT_SCHEMA, Result, TableIdent, validate_name};

const ROOT: &str = "_tarn_catalog";

/// A name `validate_name` refuses (it starts with `_tarn`), so no document is stored under it.
const UNSTORABLE: &str = "_tarn_unstorable";

/// The catalog of Tarn's own tables.
pub const SYSTEM_CATALOG: &str = "system";

/// A catalog (the first level of a three-level name).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogEntry {
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
    pub created_at: i64,
}

/// A schema inside a catalog.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SchemaEntry {
    pub catalog: String,
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
    pub created_at: i64,
}

/// Whether Tarn owns the table's files.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// Files live under the warehouse and are deleted by `DROP TABLE`.
    Managed,
    /// Files live at a user-given location and are never deleted by `DROP TABLE`.
    External,
    /// Another organisation's table, read over Delta Sharing: the location is the profile
    /// file's URL with `#share.schema.table`. Read-only; nothing of it lives in the warehouse.
    Sharing,
}

/// A registered table: a name pointing at a Delta table's location.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableEntry {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    /// Stable identity; changes when a table is dropped and re-created.
    pub id: String,
    /// Directory URL of the Delta table, ending in `/`.
    pub location: String,
    pub kind: TableKind,
    pub created_at: i64,
}

impl TableEntry {
    pub fn ident(&self) -> TableIdent {
        TableIdent::new(&self.catalog, &self.schema, &self.name)
    }

    pub fn location_url(&self) -> Result<Url> {
        Url::parse(&self.location)
            .map_err(|e| CatalogError::Corrupt { path: self.ident().to_string(), reason: format!("bad location '{}': {e}", self.location) })
    }
}

/// The catalog of one warehouse.
#[derive(Debug, Clone)]
pub struct Catalog {
    warehouse: Warehouse,
}

impl Catalog {
    /// Open the catalog of `warehouse`, creating `main` and `main.default` on first use.
    pub async fn open(warehouse: Warehouse) -> Result<Self> {
        let catalog = Self { warehouse };
        catalog.create_catalog(DEFAULT_CATALOG, None, true).await?;
        catalog.create_schema(DEFAULT_CATALOG, DEFAULT_SCHEMA, None, true).await?;
        Ok(catalog)
    }

    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    pub(crate) fn store(&self) -> &dyn ObjectStore {
        self.warehouse.store().as_ref()
    }

    /// The path of a document. Parts come from names users typed, and lookups take any name:
    /// a part no valid name can have (too long for a file name, a path separator, a dot
    /// segment) becomes a reserved name nothing is ever stored under, so the lookup finds
    /// nothing instead of failing on the file system or escaping its folder.
    pub(crate) fn doc_path(&self, parts: &[&str]) -> Path {
        let mut rel = String::from(ROOT);
        for (i, part) in parts.iter().enumerate() {
            let part =
                if part.is_empty() || part.len() > 255 || part.contains(['/', '\\']) || part.starts_with('.') { UNSTORABLE } else { part };
            rel.push('/');
            rel.push_str(part);
            if i + 1 == parts.len() {
                rel.push_str(".json");
            }
        }
        self.warehouse.path(&rel)
    }

    pub(crate) fn dir_path(&self, parts: &[&str]) -> Path {
        let mut rel = String::from(ROOT);
        for part in parts {
            rel.push('/');
            rel.push_str(part);
        }
        self.warehouse.path(&rel)
    }

    /// Write a document only if nothing exists at its path. Returns false if one did.
    pub(crate) async fn put_new<T: Serialize>(&self, path: &Path, doc: &T) -> Result<bool> {
        let body = serde_json::to_vec_pretty(doc).map_err(|e| CatalogError::Invalid(e.to_string()))?;
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store().put_opts(path, PutPayload::from(Bytes::from(body)), opts).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Write a document over whatever is at its path, in one put (readers see the old or the new).
    pub(crate) async fn put_doc<T: Serialize>(&self, path: &Path, doc: &T) -> Result<()> {
        let body = serde_json::to_vec_pretty(doc).map_err(|e| CatalogError::Invalid(e.to_string()))?;
        let opts = PutOptions { mode: PutMode::Overwrite, ..Default::default() };
        self.store().put_opts(path, PutPayload::from(Bytes::from(body)), opts).await?;
        Ok(())
    }

    pub(crate) async fn get_doc<T: for<'de> Deserialize<'de>>(&self, path: &Path) -> Result<Option<T>> {
        match self.store().get(path).await {
            Ok(result) => {
                let bytes = result.bytes().await?;
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| CatalogError::Corrupt { path: path.to_string(), reason: e.to_string() })
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn list_docs<T: for<'de> Deserialize<'de>>(&self, dir: &Path) -> Result<Vec<T>> {
        let listing = self.store().list_with_delimiter(Some(dir)).await?;
        let mut docs = Vec::new();
        for meta in listing.objects {
            if meta.location.extension() != Some("json") {
                continue;
            }
            if let Some(doc) = self.get_doc(&meta.location).await? {
                docs.push(doc);
            }
        }
        Ok(docs)
    }

    /// Every document below `dir`, at any depth.
    pub(crate) async fn list_docs_recursive<T: for<'de> Deserialize<'de>>(&self, dir: &Path) -> Result<Vec<T>> {
        let metas: Vec<object_store::ObjectMeta> = self.store().list(Some(dir)).try_collect().await?;
        let mut docs = Vec::new();
        for meta in metas {
            if meta.location.extension() != Some("json") {
                continue;
            }
            if let Some(doc) = self.get_doc(&meta.location).await? {
                docs.push(doc);
            }
        }
        Ok(docs)
    }

    pub(crate) async fn delete_doc(&self, path: &Path) -> Result<bool> {
        match self.store().delete(path).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    // ---- catalogs ----

    pub async fn create_catalog(&self, name: &str, comment: Option<String>, if_not_exists: bool) -> Result<()> {
        let name = validate_name("catalog", name)?;
        let entry = CatalogEntry { name: name.clone(), comment, created_at: now_millis() };
        let created = self.put_new(&self.doc_path(&["catalogs", &name]), &entry).await?;
        if !created && !if_not_exists {
            return Err(CatalogError::AlreadyExists { kind: "catalog", name });
        }
        if created {
            self.create_schema(&name, DEFAULT_SCHEMA, None, true).await?;
        }
        Ok(())
    }

    /// Create Tarn's own `system` catalog and one of its schemas (names users cannot take),
    /// if missing. Idempotent and safe against concurrent starts.
    pub async fn ensure_system_schema(&self, schema: &str) -> Result<()> {
        let catalog = CatalogEntry {
            name: SYSTEM_CATALOG.to_string(),
            comment: Some("Tarn's own tables (audit log)".into()),
            created_at: now_millis(),
        };
        self.put_new(&self.doc_path(&["catalogs", SYSTEM_CATALOG]), &catalog).await?;
        let entry = SchemaEntry { catalog: SYSTEM_CATALOG.to_string(), name: schema.to_string(), comment: None, created_at: now_millis() };
        self.put_new(&self.doc_path(&["schemas", SYSTEM_CATALOG, schema]), &entry).await?;
        Ok(())
    }

    pub async fn get_catalog(&self, name: &str) -> Result<Option<CatalogEntry>> {
        let name = name.to_ascii_lowercase();
        self.get_doc(&self.doc_path(&["catalogs", &name])).await
    }

    pub async fn list_catalogs(&self) -> Result<Vec<CatalogEntry>> {
        let mut all: Vec<CatalogEntry> = self.list_docs(&self.dir_path(&["catalogs"])).await?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Set (or with `None`, remove) a catalog's comment.
    pub async fn set_catalog_comment(&self, name: &str, comment: Option<String>) -> Result<()> {
        let Some(entry) = self.get_catalog(name).await? else {
            return Err(CatalogError::CatalogNotFound(name.to_ascii_lowercase()));
        };
        let path = self.doc_path(&["catalogs", &entry.name]);
        self.put_doc(&path, &CatalogEntry { comment, ..entry }).await
    }

    async fn require_catalog(&self, catalog: &str) -> Result<String> {
        let catalog = catalog.to_ascii_lowercase();
        if self.get_catalog(&catalog).await?.is_none() {
            return Err(CatalogError::CatalogNotFound(catalog));
        }
        Ok(catalog)
    }

    // ---- schemas ----

    pub async fn create_schema(&self, catalog: &str, name: &str, comment: Option<String>, if_not_exists: bool) -> Result<()> {
        let catalog = self.require_catalog(catalog).await?;
        let name = validate_name("schema", name)?;
        let entry = SchemaEntry { catalog: catalog.clone(), name: name.clone(), comment, created_at: now_millis() };
        let created = self.put_new(&self.doc_path(&["schemas", &catalog, &name]), &entry).await?;
        if !created && !if_not_exists {
            return Err(CatalogError::AlreadyExists { kind: "schema", name: format!("{catalog}.{name}") });
        }
        Ok(())
    }

    pub async fn get_schema(&self, catalog: &str, name: &str) -> Result<Option<SchemaEntry>> {
        let (catalog, name) = (catalog.to_ascii_lowercase(), name.to_ascii_lowercase());
        self.get_doc(&self.doc_path(&["schemas", &catalog, &name])).await
    }

    /// Set (or with `None`, remove) a schema's comment.
    pub async fn set_schema_comment(&self, catalog: &str, name: &str, comment: Option<String>) -> Result<()> {
        let Some(entry) = self.get_schema(catalog, name).await? else {
            return Err(CatalogError::SchemaNotFound(format!("{}.{}", catalog.to_ascii_lowercase(), name.to_ascii_lowercase())));
        };
        let path = self.doc_path(&["schemas", &entry.catalog, &entry.name]);
        self.put_doc(&path, &SchemaEntry { comment, ..entry }).await
    }

    pub async fn list_schemas(&self, catalog: &str) -> Result<Vec<SchemaEntry>> {
        let catalog = self.require_catalog(catalog).await?;
        let mut all: Vec<SchemaEntry> = self.list_docs(&self.dir_path(&["schemas", &catalog])).await?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Drop a schema. With `cascade`, its views are dropped and its tables unregistered too, the tables returned so the
    /// caller can delete the files of managed ones. Returns `None` if it did not exist.
    pub async fn drop_schema(&self, catalog: &str, name: &str, cascade: bool) -> Result<Option<Vec<TableEntry>>> {
        let (catalog, name) = (catalog.to_ascii_lowercase(), name.to_ascii_lowercase());
        if self.get_schema(&catalog, &name).await?.is_none() {
            return Ok(None);
        }
        if name == DEFAULT_SCHEMA && catalog == DEFAULT_CATALOG {
            return Err(CatalogError::Invalid("the schema main.default cannot be dropped".into()));
        }
        let tables = self.list_tables(&catalog, &name).await?;
        let views = self.list_views(&catalog, &name).await?;
        if (!tables.is_empty() || !views.is_empty()) && !cascade {
            return Err(CatalogError::SchemaNotEmpty(format!("{catalog}.{name}")));
        }
        for table in &tables {
            self.unregister_table(&table.ident()).await?;
        }
        for view in &views {
            self.drop_view(&view.ident()).await?;
        }
        self.delete_doc(&self.doc_path(&["schemas", &catalog, &name])).await?;
        self.drop_grants(&crate::Securable::Schema { catalog, name }).await?;
        Ok(Some(tables))
    }

    async fn require_schema(&self, catalog: &str, schema: &str) -> Result<()> {
        self.require_catalog(catalog).await?;
        if self.get_schema(catalog, schema).await?.is_none() {
            return Err(CatalogError::SchemaNotFound(format!("{catalog}.{schema}")));
        }
        Ok(())
    }

    // ---- tables ----

    /// Where a new managed table with this name would live: a fresh directory per creation so a
    /// dropped and re-created table never sees the old one's files.
    pub fn managed_location(&self, ident: &TableIdent, id: &str) -> Result<Url> {
        let short = id.split('-').next().unwrap_or(id);
        Ok(self.warehouse.url(&format!("{}/{}/{}-{}", ident.catalog, ident.schema, ident.table, short))?)
    }

    pub async fn get_table(&self, ident: &TableIdent) -> Result<Option<TableEntry>> {
        self.get_doc(&self.doc_path(&["tables", &ident.catalog, &ident.schema, &ident.table])).await
    }

    /// Like [`Catalog::get_table`] but a missing table is an error with a "did you mean" hint.
    pub async fn require_table(&self, ident: &TableIdent) -> Result<TableEntry> {
        if let Some(entry) = self.get_table(ident).await? {
            return Ok(entry);
        }
        self.require_schema(&ident.catalog, &ident.schema).await?;
        let names: Vec<String> = self.list_tables(&ident.catalog, &ident.schema).await?.into_iter().map(|t| t.name).collect();
        Err(CatalogError::TableNotFound {
            name: ident.to_string(),
            hint: did_you_mean(&ident.table, &names)
                .map(|n| format!("; did you mean '{}.{}.{n}'?", ident.catalog, ident.schema))
                .unwrap_or_default(),
        })
    }

    pub async fn list_tables(&self, catalog: &str, schema: &str) -> Result<Vec<TableEntry>> {
        let (catalog, schema) = (catalog.to_ascii_lowercase(), schema.to_ascii_lowercase());
        self.require_schema(&catalog, &schema).await?;
        let mut all: Vec<TableEntry> = self.list_docs(&self.dir_path(&["tables", &catalog, &schema])).await?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Every registered table in the warehouse.
    pub async fn all_tables(&self) -> Result<Vec<TableEntry>> {
        let metas: Vec<_> = self.store().list(Some(&self.dir_path(&["tables"]))).try_collect().await?;
        let mut out = Vec::new();
        for meta in metas {
            if meta.location.extension() == Some("json")
                && let Some(entry) = self.get_doc::<TableEntry>(&meta.location).await?
            {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Check that `location` neither contains nor lies inside another registered table, nor the
    /// catalog's own folder.
    pub async fn check_location_free(&self, location: &Url) -> Result<()> {
        let location = normalize_dir_url(location);
        let catalog_dir = self.warehouse.url(ROOT)?;
        if is_within(&location, &catalog_dir) || is_within(&catalog_dir, &location) {
            return Err(CatalogError::Invalid(format!(
                "location {location} overlaps the warehouse's catalog folder; choose another location"
            )));
        }
        for other in self.all_tables().await? {
            if other.kind == TableKind::Sharing {
                continue;
            }
            let theirs = normalize_dir_url(&other.location_url()?);
            if is_within(&location, &theirs) || is_within(&theirs, &location) {
                return Err(CatalogError::Invalid(format!(
                    "location {location} overlaps the directory of table {} ({theirs}); \
                     a table's files must not be inside another table's directory",
                    other.ident()
                )));
            }
        }
        // A folder that already holds other files (and no Delta log) is not a table's: the
        // table's VACUUM would delete every file it does not know.
        let (store, prefix) = tarn_storage::store_for_url(&location)?;
        let log = prefix.clone().join("_delta_log");
        let has_log = store.list(Some(&log)).try_next().await?.is_some();
        if !has_log && store.list(Some(&prefix)).try_next().await?.is_some() {
            return Err(CatalogError::Invalid(format!(
                "location {location} already holds files but no Delta table; a table's folder must be empty \
                 or hold a Delta table (Tarn would own it, and VACUUM deletes files the table does not list)"
            )));
        }
        Ok(())
    }

    /// Register a table. Fails with `AlreadyExists` if the name is taken — atomically, even
    /// against another process registering the same name at the same moment.
    pub async fn register_table(&self, entry: &TableEntry) -> Result<()> {
        self.require_schema(&entry.catalog, &entry.schema).await?;
        if self.get_view(&entry.ident()).await?.is_some() {
            return Err(CatalogError::AlreadyExists { kind: "view", name: entry.ident().to_string() });
        }
        let path = self.doc_path(&["tables", &entry.catalog, &entry.schema, &entry.name]);
        if !self.put_new(&path, entry).await? {
            return Err(CatalogError::AlreadyExists { kind: "table", name: entry.ident().to_string() });
        }
        Ok(())
    }

    /// Remove a table's registration. Returns the entry that was removed, if any.
    pub async fn unregister_table(&self, ident: &TableIdent) -> Result<Option<TableEntry>> {
        let Some(entry) = self.get_table(ident).await? else {
            return Ok(None);
        };
        let path = self.doc_path(&["tables", &ident.catalog, &ident.schema, &ident.table]);
        self.delete_doc(&path).await?;
        // A table created later under this name must not inherit these grants.
        self.drop_grants(&crate::Securable::table(&entry)).await?;
        Ok(Some(entry))
    }

    /// Rename a table: register the new name first, then drop the old one, so at no moment is
    /// the table unreachable.
    pub async fn rename_table(&self, from: &TableIdent, to: &TableIdent) -> Result<TableEntry> {
        let old = self.require_table(from).await?;
        let renamed = TableEntry { catalog: to.catalog.clone(), schema: to.schema.clone(), name: to.table.clone(), ..old };
        self.register_table(&renamed).await?;
        self.delete_doc(&self.doc_path(&["tables", &from.catalog, &from.schema, &from.table])).await?;
        Ok(renamed)
    }
}

/// The closest candidate within a small edit distance, for "did you mean" hints.
pub(crate) fn did_you_mean(name: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn catalog() -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().expect("tempdir");
        let wh = Warehouse::open(dir.path().to_str().expect("utf8")).expect("warehouse");
        let catalog = Catalog::open(wh).await.expect("catalog");
        (dir, catalog)
    }

    fn entry(catalog: &Catalog, name: &str) -> TableEntry {
        let ident = TableIdent::new("main", "default", name);
        let id = uuid::Uuid::new_v4().to_string();
        TableEntry {
            location: catalog.managed_location(&ident, &id).expect("loc").to_string(),
            catalog: ident.catalog,
            schema: ident.schema,
            name: ident.table,
            id,
            kind: TableKind::Managed,
            created_at: 0,
        }
    }

    #[tokio::test]
    async fn defaults_exist_and_opening_twice_is_harmless() {
        let (dir, catalog) = catalog().await;
        let again = Catalog::open(Warehouse::open(dir.path().to_str().expect("utf8")).expect("wh")).await.expect("reopen");
        assert_eq!(again.list_catalogs().await.expect("list").len(), 1);
        assert_eq!(catalog.list_schemas("main").await.expect("schemas")[0].name, "default");
    }

    #[tokio::test]
    async fn registering_the_same_name_twice_fails_once() {
        let (_dir, catalog) = catalog().await;
        catalog.register_table(&entry(&catalog, "t")).await.expect("first");
        let err = catalog.register_table(&entry(&catalog, "t")).await.expect_err("second");
        assert!(matches!(err, CatalogError::AlreadyExists { .. }), "{err}");
    }

    #[tokio::test]
    async fn concurrent_registrations_of_one_name_have_exactly_one_winner() {
        let (_dir, catalog) = catalog().await;
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let catalog = catalog.clone();
                let e = entry(&catalog, "race");
                tokio::spawn(async move { catalog.register_table(&e).await.is_ok() })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.expect("join"));
        }
        assert_eq!(wins, 1);
    }

    #[tokio::test]
    async fn missing_table_suggests_a_close_name() {
        let (_dir, catalog) = catalog().await;
        catalog.register_table(&entry(&catalog, "orders")).await.expect("register");
        let err = catalog.require_table(&TableIdent::new("main", "default", "order")).await.expect_err("missing");
        assert!(err.to_string().contains("did you mean 'main.default.orders'"), "{err}");
    }

    #[tokio::test]
    async fn overlapping_locations_are_refused() {
        let (_dir, catalog) = catalog().await;
        let e = entry(&catalog, "a");
        catalog.register_table(&e).await.expect("register");
        let inner = Url::parse(&e.location).expect("url").join("sub/").expect("join");
        assert!(catalog.check_location_free(&inner).await.is_err());
        let outer = catalog.warehouse().url("main").expect("url");
        assert!(catalog.check_location_free(&outer).await.is_err());
        let elsewhere = catalog.warehouse().url("elsewhere").expect("url");
        catalog.check_location_free(&elsewhere).await.expect("free");
    }

    #[tokio::test]
    async fn non_empty_schema_needs_cascade() {
        let (_dir, catalog) = catalog().await;
        catalog.create_schema("main", "s", None, false).await.expect("schema");
        let mut e = entry(&catalog, "t");
        e.schema = "s".into();
        catalog.register_table(&e).await.expect("register");
        assert!(matches!(catalog.drop_schema("main", "s", false).await, Err(CatalogError::SchemaNotEmpty(_))));
        let dropped = catalog.drop_schema("main", "s", true).await.expect("cascade").expect("existed");
        assert_eq!(dropped.len(), 1);
        assert!(catalog.get_schema("main", "s").await.expect("get").is_none());
    }
}
