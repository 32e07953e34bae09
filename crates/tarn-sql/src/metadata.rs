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

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, MemoryCatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
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

/// One Tarn schema whose tables open on first use.
pub(crate) struct WarehouseSchema {
    catalog: Catalog,
    catalog_name: String,
    schema_name: String,
    names: Vec<String>,
    opened: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
    state: SessionState,
}

impl std::fmt::Debug for WarehouseSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarehouseSchema")
            .field("catalog", &self.catalog_name)
            .field("schema", &self.schema_name)
            .field("tables", &self.names.len())
            .finish()
    }
}

fn opened<'a>(
    map: &'a Mutex<HashMap<String, Arc<dyn TableProvider>>>,
) -> std::sync::MutexGuard<'a, HashMap<String, Arc<dyn TableProvider>>> {
    // A poisoned map only means another thread panicked mid-insert; the map itself is intact.
    map.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl SchemaProvider for WarehouseSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.names.clone();
        for name in opened(&self.opened).keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    async fn table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        if let Some(provider) = opened(&self.opened).get(name) {
            return Ok(Some(provider.clone()));
        }
        if !self.names.iter().any(|n| n == name) {
            return Ok(None);
        }
        let ident = TableIdent::new(self.catalog_name.clone(), self.schema_name.clone(), name.to_string());
        let external = |e: String| DataFusionError::External(e.into());
        let entry = self.catalog.require_table(&ident).await.map_err(|e| external(e.to_string()))?;
        let url = entry.location_url().map_err(|e| external(e.to_string()))?;
        let table = crate::resolve::open_location(&url, None).await.map_err(|e| external(e.to_string()))?;
        let provider = table_provider(&table, &self.state).await.map_err(|e| external(e.to_string()))?;
        opened(&self.opened).insert(name.to_string(), provider.clone());
        Ok(Some(provider))
    }

    fn register_table(&self, name: String, table: Arc<dyn TableProvider>) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        Ok(opened(&self.opened).insert(name, table))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name) || opened(&self.opened).contains_key(name)
    }
}

/// Register every catalog and schema of the warehouse in `list`, tables opening lazily.
pub(crate) async fn mount_warehouse(catalog: &Catalog, list: &dyn CatalogProviderList, state: &SessionState) -> Result<()> {
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
            let names = catalog.list_tables(&c.name, &s.name).await?.into_iter().map(|t| t.name).collect();
            let schema = WarehouseSchema {
                catalog: catalog.clone(),
                catalog_name: c.name.clone(),
                schema_name: s.name.clone(),
                names,
                opened: Mutex::new(HashMap::new()),
                state: state.clone(),
            };
            provider.register_schema(&s.name, Arc::new(schema))?;
        }
    }
    Ok(())
}
