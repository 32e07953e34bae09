//! The whole warehouse as DataFusion catalogs, for metadata queries.
//!
//! Ordinary statements see only the tables they name (see `resolve`). A query over
//! `information_schema` needs every catalog, schema and table instead; it gets schema providers
//! that list the Tarn catalog up front (DataFusion lists names synchronously) and open a Delta
//! table only when its columns are asked for.
//!
//! Front ends can add read-only [`SystemSchemas`] (the pgwire server's `pg_catalog`), mounted
//! in every catalog a statement sees.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, MemoryCatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use tarn_catalog::{Catalog, TableIdent};
use tarn_engine::table_provider;

use crate::error::Result;

/// Schemas a front end mounts in every catalog, e.g. a Postgres-compatible `pg_catalog`.
/// Names in them are never looked up in the Tarn catalog.
pub trait SystemSchemas: Send + Sync + std::fmt::Debug {
    /// The schema names provided (lower case).
    fn names(&self) -> Vec<String>;
    /// The provider for schema `name` as seen from catalog `catalog`.
    fn schema(&self, catalog: &str, name: &str) -> Option<Arc<dyn SchemaProvider>>;
    /// The schema searched first for one-part table names (Postgres searches `pg_catalog`
    /// before the user's schemas), if any.
    fn implicit_schema(&self) -> Option<String> {
        None
    }
}

/// One Tarn schema for metadata queries: lists the tables the session's principal may read and
/// describes them (their schemas, opened on first use) — but never scans them. The tables a
/// statement really reads are bound by name resolution, authorized there, and registered over
/// the description (`register_table`).
pub(crate) struct WarehouseSchema {
    catalog: Catalog,
    catalog_name: String,
    schema_name: String,
    /// The tables and views the principal may read.
    relations: Vec<crate::Relation>,
    /// Tables bound by name resolution (real providers).
    bound: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
    /// Schema-only descriptions, cached.
    described: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
    state: SessionState,
}

impl std::fmt::Debug for WarehouseSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarehouseSchema")
            .field("catalog", &self.catalog_name)
            .field("schema", &self.schema_name)
            .field("relations", &self.relations.len())
            .finish()
    }
}

fn locked<'a>(
    map: &'a Mutex<HashMap<String, Arc<dyn TableProvider>>>,
) -> std::sync::MutexGuard<'a, HashMap<String, Arc<dyn TableProvider>>> {
    // A poisoned map only means another thread panicked mid-insert; the map itself is intact.
    map.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl SchemaProvider for WarehouseSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.relations.iter().map(|r| r.name.clone()).collect();
        for name in locked(&self.bound).keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    async fn table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        if let Some(provider) = locked(&self.bound).get(name) {
            return Ok(Some(provider.clone()));
        }
        if let Some(provider) = locked(&self.described).get(name) {
            return Ok(Some(provider.clone()));
        }
        let Some(relation) = self.relations.iter().find(|r| r.name == name) else {
            return Ok(None);
        };
        let ident = TableIdent::new(self.catalog_name.clone(), self.schema_name.clone(), name.to_string());
        let external = |e: String| DataFusionError::External(e.into());
        let schema = match relation.kind {
            crate::RelationKind::Table => {
                let entry = self.catalog.require_table(&ident).await.map_err(|e| external(e.to_string()))?;
                let url = entry.location_url().map_err(|e| external(e.to_string()))?;
                let table = crate::resolve::open_location(&url, None).await.map_err(|e| external(e.to_string()))?;
                table_provider(&table, &self.state).await.map_err(|e| external(e.to_string()))?.schema()
            }
            crate::RelationKind::View => match self.catalog.get_view(&ident).await.map_err(|e| external(e.to_string()))? {
                Some(view) => crate::listing::view_columns(&view).map_err(|e| external(e.to_string()))?,
                None => return Ok(None),
            },
        };
        let provider: Arc<dyn TableProvider> = Arc::new(Description { table: ident.to_string(), schema, kind: relation.kind });
        locked(&self.described).insert(name.to_string(), provider.clone());
        Ok(Some(provider))
    }

    fn register_table(&self, name: String, table: Arc<dyn TableProvider>) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        Ok(locked(&self.bound).insert(name, table))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.relations.iter().any(|r| r.name == name) || locked(&self.bound).contains_key(name)
    }
}

/// A table as metadata queries see it: its columns, no rows. Scanning one is a bug in name
/// resolution (the table was not bound), so it fails loudly rather than answer "no rows".
#[derive(Debug)]
struct Description {
    table: String,
    schema: SchemaRef,
    kind: crate::RelationKind,
}

#[async_trait]
impl TableProvider for Description {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        self.kind.datafusion()
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Err(DataFusionError::Plan(format!(
            "{} is mounted for metadata only and cannot be read here; name it in the query's FROM clause",
            self.table
        )))
    }
}

/// Register every catalog and schema of the warehouse in `list` for a metadata query, with the
/// tables and views `session`'s principal may read (an administrator sees all).
pub(crate) async fn mount_warehouse(session: &crate::Session, list: &dyn CatalogProviderList, state: &SessionState) -> Result<()> {
    let catalog = session.catalog();
    let visibility = session.visibility().await?;
    for c in catalog.list_catalogs().await? {
        let provider: Arc<dyn CatalogProvider> = match list.catalog(&c.name) {
            Some(p) => p,
            None => {
                let p: Arc<dyn CatalogProvider> = Arc::new(MemoryCatalogProvider::new());
                list.register_catalog(c.name.clone(), p.clone());
                p
            }
        };
        for s in catalog.list_schemas(&c.name).await? {
            let relations = visibility.relations(&c.name, &s.name).await?;
            let schema = WarehouseSchema {
                catalog: catalog.clone(),
                catalog_name: c.name.clone(),
                schema_name: s.name.clone(),
                relations,
                bound: Mutex::new(HashMap::new()),
                described: Mutex::new(HashMap::new()),
                state: state.clone(),
            };
            provider.register_schema(&s.name, Arc::new(schema))?;
        }
    }
    Ok(())
}
