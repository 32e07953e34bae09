//! Views: named queries stored in the catalog, `_tarn_catalog/views/<catalog>/<schema>/<view>.json`.
//!
//! A view shares its schema's namespace with tables (a name is a table or a view, never both:
//! each creation checks the other kind), and is a table for privileges — `Securable::Table`
//! keyed by the view's own id, so `GRANT SELECT ON TABLE v` (or `ON VIEW v`) works as in Unity
//! Catalog. The catalog only stores the definition; `tarn-sql` parses and plans it when read.

use serde::{Deserialize, Serialize};

use crate::store::Catalog;
use crate::{CatalogError, Result, Securable, TableIdent};

/// A view's definition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ViewEntry {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    /// Stable identity (grants are keyed by it); changes when the view is dropped and re-created.
    pub id: String,
    /// The query, as SQL Tarn parses again each time the view is read.
    pub sql: String,
    /// The names (and comments) the view gives its query's columns, in order; empty keeps the
    /// query's own names.
    #[serde(default)]
    pub columns: Vec<ViewColumn>,
    #[serde(default)]
    pub comment: Option<String>,
    /// The catalog and schema that were current at creation: unqualified names in `sql`
    /// resolve in them, whoever reads the view.
    pub default_catalog: String,
    pub default_schema: String,
    pub created_at: i64,
    /// How the view follows changes to the columns its query returns (Spark's `WITH SCHEMA ..`).
    #[serde(default)]
    pub schema_mode: ViewSchemaMode,
    /// The query's output columns when the view was made, with their types: a read finds its
    /// columns by these names and gives them these types. Empty for views stored before Tarn
    /// kept them, which are read by position with the query's current types.
    #[serde(default)]
    pub query_columns: Vec<ViewField>,
    /// `DEFAULT COLLATION`: the collation of the query's string literals and string casts.
    #[serde(default)]
    pub default_collation: Option<String>,
}

/// How a view's columns follow its query's columns when its tables change (Spark 4's
/// `WITH SCHEMA` clause).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ViewSchemaMode {
    /// Same columns; a type may only widen (an up-cast) to the stored one.
    Binding,
    /// Same columns; any type that casts to the stored one (the cast may fail on a row).
    #[default]
    Compensation,
    /// Same columns, with whatever types they have now.
    TypeEvolution,
    /// The query's columns as they are now: names, number and types (with a column list,
    /// as `TypeEvolution`).
    Evolution,
}

impl ViewSchemaMode {
    /// The mode as `WITH SCHEMA ..` spells it.
    pub fn sql(self) -> &'static str {
        match self {
            ViewSchemaMode::Binding => "BINDING",
            ViewSchemaMode::Compensation => "COMPENSATION",
            ViewSchemaMode::TypeEvolution => "TYPE EVOLUTION",
            ViewSchemaMode::Evolution => "EVOLUTION",
        }
    }
}

/// One column of a view's query as it was when the view was made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ViewField {
    pub name: String,
    /// Spark's name of the type (`int`, `decimal(10,2)`, `array<string>`).
    pub data_type: String,
}

/// A column name the view's definition gives, with its comment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ViewColumn {
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
}

impl ViewEntry {
    pub fn ident(&self) -> TableIdent {
        TableIdent::new(&self.catalog, &self.schema, &self.name)
    }
}

impl Securable {
    /// Privileges on a view are privileges on a table (as in Unity Catalog), keyed by its id.
    pub fn view(entry: &ViewEntry) -> Self {
        Securable::Table { catalog: entry.catalog.clone(), schema: entry.schema.clone(), name: entry.name.clone(), id: entry.id.clone() }
    }
}

impl Catalog {
    fn view_path(&self, ident: &TableIdent) -> object_store::path::Path {
        self.doc_path(&["views", &ident.catalog, &ident.schema, &ident.table])
    }

    pub async fn get_view(&self, ident: &TableIdent) -> Result<Option<ViewEntry>> {
        self.get_doc(&self.view_path(ident)).await
    }

    /// The views of a schema, by name.
    pub async fn list_views(&self, catalog: &str, schema: &str) -> Result<Vec<ViewEntry>> {
        let (catalog, schema) = (catalog.to_ascii_lowercase(), schema.to_ascii_lowercase());
        if self.get_schema(&catalog, &schema).await?.is_none() {
            return Err(CatalogError::SchemaNotFound(format!("{catalog}.{schema}")));
        }
        let mut all: Vec<ViewEntry> = self.list_docs(&self.dir_path(&["views", &catalog, &schema])).await?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Store a new view. Fails with `AlreadyExists` when a table or a view has the name
    /// (atomically against another view of that name).
    pub async fn create_view(&self, entry: &ViewEntry) -> Result<()> {
        let ident = entry.ident();
        if self.get_schema(&ident.catalog, &ident.schema).await?.is_none() {
            return Err(CatalogError::SchemaNotFound(format!("{}.{}", ident.catalog, ident.schema)));
        }
        if self.get_table(&ident).await?.is_some() {
            return Err(CatalogError::AlreadyExists { kind: "table", name: ident.to_string() });
        }
        if !self.put_new(&self.view_path(&ident), entry).await? {
            return Err(CatalogError::AlreadyExists { kind: "view", name: ident.to_string() });
        }
        Ok(())
    }

    /// Replace an existing view's definition in one write (readers see the old or the new one).
    /// The id, and so the grants, stay.
    pub async fn replace_view(&self, entry: &ViewEntry) -> Result<()> {
        self.put_doc(&self.view_path(&entry.ident()), entry).await
    }

    /// Give a view a new name: stored under the new name first (which must be free of tables
    /// and views), then removed from the old, so at no moment is it unreachable. Its id, and so
    /// its owner and grants, stay.
    pub async fn rename_view(&self, from: &TableIdent, to: &TableIdent) -> Result<ViewEntry> {
        let Some(old) = self.get_view(from).await? else {
            return Err(CatalogError::TableNotFound { name: from.to_string(), hint: "; SHOW VIEWS lists the views".into() });
        };
        let renamed = ViewEntry { catalog: to.catalog.clone(), schema: to.schema.clone(), name: to.table.clone(), ..old };
        self.create_view(&renamed).await?;
        self.delete_doc(&self.view_path(from)).await?;
        Ok(renamed)
    }

    /// Drop a view and its grants. Returns the view that was dropped, if any.
    pub async fn drop_view(&self, ident: &TableIdent) -> Result<Option<ViewEntry>> {
        let Some(entry) = self.get_view(ident).await? else {
            return Ok(None);
        };
        self.delete_doc(&self.view_path(ident)).await?;
        self.drop_grants(&Securable::view(&entry)).await?;
        Ok(Some(entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TableEntry;

    fn view(name: &str) -> ViewEntry {
        ViewEntry {
            catalog: "main".into(),
            schema: "default".into(),
            name: name.into(),
            id: uuid::Uuid::new_v4().to_string(),
            sql: "SELECT 1".into(),
            columns: vec![],
            comment: None,
            default_catalog: "main".into(),
            default_schema: "default".into(),
            created_at: 0,
            schema_mode: ViewSchemaMode::default(),
            query_columns: vec![],
            default_collation: None,
        }
    }

    async fn catalog() -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().expect("tempdir");
        let warehouse = tarn_storage::Warehouse::open(dir.path().to_str().expect("utf8")).expect("warehouse");
        (dir, Catalog::open(warehouse).await.expect("catalog"))
    }

    #[tokio::test]
    async fn a_name_is_a_table_or_a_view_never_both() {
        let (_dir, catalog) = catalog().await;
        catalog.create_view(&view("v")).await.unwrap();
        assert!(matches!(catalog.create_view(&view("v")).await, Err(CatalogError::AlreadyExists { kind: "view", .. })));
        let table = TableEntry {
            catalog: "main".into(),
            schema: "default".into(),
            name: "v".into(),
            id: "t".into(),
            location: "file:///tmp/x/".into(),
            kind: crate::TableKind::External,
            created_at: 0,
        };
        assert!(matches!(catalog.register_table(&table).await, Err(CatalogError::AlreadyExists { kind: "view", .. })));
        catalog.drop_view(&TableIdent::new("main", "default", "v")).await.unwrap();
        catalog.register_table(&table).await.unwrap();
        assert!(matches!(catalog.create_view(&view("v")).await, Err(CatalogError::AlreadyExists { kind: "table", .. })));
    }

    #[tokio::test]
    async fn replacing_keeps_the_id_and_listing_sorts() {
        let (_dir, catalog) = catalog().await;
        catalog.create_view(&view("b")).await.unwrap();
        let mut a = view("a");
        catalog.create_view(&a).await.unwrap();
        a.sql = "SELECT 2".into();
        catalog.replace_view(&a).await.unwrap();
        let all = catalog.list_views("main", "default").await.unwrap();
        assert_eq!(all.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(all[0].sql, "SELECT 2");
        assert_eq!(all[0].id, a.id);
    }
}
