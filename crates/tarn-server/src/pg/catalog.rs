//! `pg_catalog` for Postgres clients, from `datafusion-pg-catalog` over Tarn's catalog.
//!
//! A Postgres database is a Tarn catalog: `pg_namespace`, `pg_class` and `pg_attribute` of
//! a connection show the schemas and tables of the catalog it connected to, `pg_database`
//! lists every catalog. One provider per catalog lives as long as the server, so the OIDs a
//! client reads in one query (psql's `\d`) still mean the same table in the next.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{MemoryCatalogProvider, SchemaProvider};
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility};
use datafusion::prelude::{SessionContext, create_udf};
use datafusion::scalar::ScalarValue;
use datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::pg_catalog::{PgCatalogSchemaProvider, PgCatalogStaticTables};
use tarn_catalog::{Catalog, TableIdent};

use crate::error::{Result, ServerError};

/// Tarn's catalog as `datafusion-pg-catalog` sees it, scoped to one database (catalog).
#[derive(Debug, Clone)]
pub(crate) struct TarnCatalogInfo {
    catalog: Catalog,
    database: String,
}

fn external(e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::External(e.to_string().into())
}

#[async_trait]
impl CatalogInfo for TarnCatalogInfo {
    async fn catalog_names(&self) -> Result<Vec<String>, DataFusionError> {
        Ok(self.catalog.list_catalogs().await.map_err(external)?.into_iter().map(|c| c.name).collect())
    }

    async fn schema_names(&self, catalog_name: &str) -> Result<Option<Vec<String>>, DataFusionError> {
        // Other databases' namespaces are not visible from this one, as in Postgres.
        if catalog_name != self.database {
            return Ok(None);
        }
        let schemas = self.catalog.list_schemas(catalog_name).await.map_err(external)?;
        Ok(Some(schemas.into_iter().map(|s| s.name).collect()))
    }

    async fn table_names(&self, catalog_name: &str, schema_name: &str) -> Result<Option<Vec<String>>, DataFusionError> {
        if catalog_name != self.database {
            return Ok(None);
        }
        let tables = self.catalog.list_tables(catalog_name, schema_name).await.map_err(external)?;
        Ok(Some(tables.into_iter().map(|t| t.name).collect()))
    }

    async fn table_schema(
        &self,
        catalog_name: &str,
        schema_name: &str,
        table_name: &str,
    ) -> Result<Option<SchemaRef>, DataFusionError> {
        let ident = TableIdent::new(catalog_name, schema_name, table_name);
        let Some(entry) = self.catalog.get_table(&ident).await.map_err(external)? else {
            return Ok(None);
        };
        let url = entry.location_url().map_err(external)?;
        let table = tarn_engine::open_table(&url, None).await.map_err(external)?;
        let state = table.snapshot().map_err(external)?;
        Ok(Some(state.snapshot().arrow_schema()))
    }

    async fn table_type(
        &self,
        _catalog_name: &str,
        _schema_name: &str,
        _table_name: &str,
    ) -> Result<Option<TableType>, DataFusionError> {
        Ok(Some(TableType::Base))
    }
}

type PgCatalogSchema = PgCatalogSchemaProvider<TarnCatalogInfo, EmptyContextProvider>;

/// The `pg_catalog` schema of every catalog, shared by all connections of a server.
pub(crate) struct PgSystemSchemas {
    catalog: Catalog,
    static_tables: Arc<PgCatalogStaticTables>,
    by_database: Mutex<HashMap<String, Arc<PgCatalogSchema>>>,
}

impl std::fmt::Debug for PgSystemSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSystemSchemas").finish_non_exhaustive()
    }
}

impl PgSystemSchemas {
    pub fn new(catalog: Catalog) -> Result<Self> {
        let static_tables = PgCatalogStaticTables::try_new().map_err(|e| ServerError::Internal(e.to_string()))?;
        Ok(Self {
            catalog,
            static_tables: Arc::new(static_tables),
            by_database: Mutex::new(HashMap::new()),
        })
    }
}

impl tarn_sql::SystemSchemas for PgSystemSchemas {
    fn names(&self) -> Vec<String> {
        vec!["pg_catalog".to_string(), "information_schema".to_string()]
    }

    fn schema(&self, catalog: &str, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if catalog.starts_with("__") {
            return None;
        }
        if name == "information_schema" {
            return Some(Arc::new(super::information_schema::PgInformationSchema {
                info: TarnCatalogInfo {
                    catalog: self.catalog.clone(),
                    database: catalog.to_string(),
                },
                database: catalog.to_string(),
            }));
        }
        if name != "pg_catalog" {
            return None;
        }
        let mut map = self.by_database.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(schema) = map.get(catalog) {
            return Some(schema.clone());
        }
        let info = TarnCatalogInfo {
            catalog: self.catalog.clone(),
            database: catalog.to_string(),
        };
        let schema = Arc::new(PgCatalogSchemaProvider::try_new(info, self.static_tables.clone(), EmptyContextProvider).ok()?);
        map.insert(catalog.to_string(), schema.clone());
        Some(schema)
    }

    fn implicit_schema(&self) -> Option<String> {
        Some("pg_catalog".to_string())
    }
}

/// `state` with the Postgres functions clients call (`format_type`, `pg_get_expr`,
/// `current_schemas`, `has_table_privilege`, ...) and the `regclass`-style type names.
pub(crate) fn with_pg_functions(state: &SessionState, database: &str) -> Result<SessionState> {
    let ctx = SessionContext::new_with_state(state.clone());
    // setup_pg_catalog mounts its own pg_catalog in this catalog; statements never see it
    // (each gets its own catalog list), they see `PgSystemSchemas` instead.
    ctx.register_catalog(database, Arc::new(MemoryCatalogProvider::new()));
    datafusion_pg_catalog::setup_pg_catalog(&ctx, database, EmptyContextProvider)
        .map_err(|e| ServerError::Internal(format!("installing Postgres functions: {e}")))?;
    for (name, args) in [
        ("col_description", vec![DataType::Int32, DataType::Int32]),
        ("obj_description", vec![DataType::Int32, DataType::Utf8]),
        ("shobj_description", vec![DataType::Int32, DataType::Utf8]),
    ] {
        ctx.register_udf(constant_text_udf(name, args, None));
    }
    let version = format!("PostgreSQL {} on {}, Tarn lakehouse", super::SERVER_VERSION, std::env::consts::ARCH);
    ctx.register_udf(constant_text_udf("version", vec![], Some(version)));
    // Postgres clients get the Postgres-typed information_schema of `PgSystemSchemas`,
    // not DataFusion's Arrow-typed one.
    let mut config = ctx.state().config().clone();
    config.options_mut().catalog.information_schema = false;
    Ok(datafusion::execution::SessionStateBuilder::new_from_existing(ctx.state())
        .with_config(config)
        .build())
}

/// A function returning the same text (or NULL) for every row: comments Tarn does not keep
/// as Postgres objects, and `version()` as Postgres clients parse it.
fn constant_text_udf(name: &str, args: Vec<DataType>, value: Option<String>) -> ScalarUDF {
    let func = move |args: &[ColumnarValue]| {
        let rows = args
            .iter()
            .find_map(|a| match a {
                ColumnarValue::Array(array) => Some(array.len()),
                ColumnarValue::Scalar(_) => None,
            });
        let scalar = ScalarValue::Utf8(value.clone());
        Ok(match rows {
            Some(n) => ColumnarValue::Array(scalar.to_array_of_size(n)?),
            None => ColumnarValue::Scalar(scalar),
        })
    };
    create_udf(name, args, DataType::Utf8, Volatility::Stable, Arc::new(func))
}
