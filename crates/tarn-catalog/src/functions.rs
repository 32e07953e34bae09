//! SQL functions: `CREATE FUNCTION f(x INT) RETURNS INT RETURN x + 1` (and ones that return a
//! table), stored as `_tarn_catalog/functions/<catalog>/<schema>/<function>.json`.
//!
//! Functions have their own namespace in a schema (a function and a table may share a name, as
//! in Unity Catalog). Privileges are keyed by the function's id (`Securable::Function`):
//! `EXECUTE` to call it, ownership to replace or drop it. The catalog stores the definition as
//! SQL text; `tarn-sql` parses and plans it at each call.

use object_store::{PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::store::Catalog;
use crate::{CatalogError, Result, Securable, TableIdent};

/// A function's definition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionEntry {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    /// Stable identity (grants are keyed by it); changes when the function is dropped and made again.
    pub id: String,
    pub params: Vec<FunctionParam>,
    pub returns: FunctionReturns,
    /// The body after `RETURN`: an expression or a query, as SQL.
    pub body: String,
    #[serde(default)]
    pub comment: Option<String>,
    /// `DETERMINISTIC` / `NOT DETERMINISTIC` as declared (Spark's default: deterministic).
    #[serde(default = "deterministic")]
    pub deterministic: bool,
    /// The catalog and schema that were current at creation: unqualified names in the body
    /// resolve in them, whoever calls the function.
    pub default_catalog: String,
    pub default_schema: String,
    pub created_at: i64,
}

fn deterministic() -> bool {
    true
}

/// One parameter: its name, its type as SQL (`INT`, `ARRAY<STRING>`), an optional default
/// expression as SQL, and a comment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionParam {
    pub name: String,
    pub data_type: String,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// What a function returns: a value of a type, or a table of columns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FunctionReturns {
    Scalar { data_type: String },
    Table { columns: Vec<ReturnColumn> },
}

/// A column of a table function's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReturnColumn {
    pub name: String,
    pub data_type: String,
    #[serde(default)]
    pub comment: Option<String>,
}

impl FunctionEntry {
    /// The function's three-part name (a [`TableIdent`] names any object in a schema).
    pub fn ident(&self) -> TableIdent {
        TableIdent::new(&self.catalog, &self.schema, &self.name)
    }
}

impl Securable {
    pub fn function(entry: &FunctionEntry) -> Self {
        Securable::Function { catalog: entry.catalog.clone(), schema: entry.schema.clone(), name: entry.name.clone(), id: entry.id.clone() }
    }
}

impl Catalog {
    fn function_path(&self, ident: &TableIdent) -> object_store::path::Path {
        self.doc_path(&["functions", &ident.catalog, &ident.schema, &ident.table])
    }

    pub async fn get_function(&self, ident: &TableIdent) -> Result<Option<FunctionEntry>> {
        self.get_doc(&self.function_path(ident)).await
    }

    /// The functions of a schema, by name.
    pub async fn list_functions(&self, catalog: &str, schema: &str) -> Result<Vec<FunctionEntry>> {
        let (catalog, schema) = (catalog.to_ascii_lowercase(), schema.to_ascii_lowercase());
        if self.get_schema(&catalog, &schema).await?.is_none() {
            return Err(CatalogError::SchemaNotFound(format!("{catalog}.{schema}")));
        }
        let mut all: Vec<FunctionEntry> = self.list_docs(&self.dir_path(&["functions", &catalog, &schema])).await?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Store a new function; `AlreadyExists` when one has the name (atomically).
    pub async fn create_function(&self, entry: &FunctionEntry) -> Result<()> {
        let ident = entry.ident();
        if self.get_schema(&ident.catalog, &ident.schema).await?.is_none() {
            return Err(CatalogError::SchemaNotFound(format!("{}.{}", ident.catalog, ident.schema)));
        }
        if !self.put_new(&self.function_path(&ident), entry).await? {
            return Err(CatalogError::AlreadyExists { kind: "function", name: ident.to_string() });
        }
        Ok(())
    }

    /// Replace a function's definition in one write; the id, and so the grants, stay.
    pub async fn replace_function(&self, entry: &FunctionEntry) -> Result<()> {
        let body = serde_json::to_vec_pretty(entry).map_err(|e| CatalogError::Invalid(e.to_string()))?;
        let opts = PutOptions { mode: PutMode::Overwrite, ..Default::default() };
        self.store().put_opts(&self.function_path(&entry.ident()), PutPayload::from(body), opts).await?;
        Ok(())
    }

    /// Drop a function and its grants. Returns the function that was dropped, if any.
    pub async fn drop_function(&self, ident: &TableIdent) -> Result<Option<FunctionEntry>> {
        let Some(entry) = self.get_function(ident).await? else {
            return Ok(None);
        };
        self.delete_doc(&self.function_path(ident)).await?;
        self.drop_grants(&Securable::function(&entry)).await?;
        Ok(Some(entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(name: &str) -> FunctionEntry {
        FunctionEntry {
            catalog: "main".into(),
            schema: "default".into(),
            name: name.into(),
            id: uuid::Uuid::new_v4().to_string(),
            params: vec![FunctionParam { name: "x".into(), data_type: "INT".into(), default: Some("1".into()), comment: None }],
            returns: FunctionReturns::Scalar { data_type: "INT".into() },
            body: "x + 1".into(),
            comment: None,
            deterministic: true,
            default_catalog: "main".into(),
            default_schema: "default".into(),
            created_at: 0,
        }
    }

    #[tokio::test]
    async fn create_replace_list_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let warehouse = tarn_storage::Warehouse::open(dir.path().to_str().expect("utf8")).expect("warehouse");
        let catalog = Catalog::open(warehouse).await.expect("catalog");
        let mut f = function("f");
        catalog.create_function(&f).await.unwrap();
        assert!(matches!(catalog.create_function(&function("f")).await, Err(CatalogError::AlreadyExists { kind: "function", .. })));
        f.body = "x + 2".into();
        catalog.replace_function(&f).await.unwrap();
        catalog.create_function(&function("a")).await.unwrap();
        let all = catalog.list_functions("main", "default").await.unwrap();
        assert_eq!(all.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["a", "f"]);
        assert_eq!(all[1].body, "x + 2");
        assert_eq!(all[1].id, f.id);
        assert!(catalog.drop_function(&f.ident()).await.unwrap().is_some());
        assert!(catalog.get_function(&f.ident()).await.unwrap().is_none());
    }
}
