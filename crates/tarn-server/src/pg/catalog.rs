//! `pg_catalog` for Postgres clients, from `datafusion-pg-catalog` over Tarn's catalog.
//!
//! A Postgres database is a Tarn catalog: `pg_namespace`, `pg_class` and `pg_attribute` of
//! a connection show the schemas and tables of the catalog it connected to, `pg_database`
//! lists every catalog. One provider per catalog lives as long as the server, so the OIDs a
//! client reads in one query (psql's `\d`) still mean the same table in the next.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{MemoryCatalogProvider, SchemaProvider};
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use datafusion_pg_catalog::pg_catalog::context::{EmptyContextProvider, PgCatalogContextProvider, Role};
use datafusion_pg_catalog::pg_catalog::{PgCatalogSchemaProvider, PgCatalogStaticTables};
use tarn_catalog::{Catalog, TableIdent};
use tarn_sql::Visibility;

use crate::error::{Result, ServerError};

/// Schemas every database lists besides its own (their tables are views, not Tarn tables).
const SYSTEM_SCHEMAS: [&str; 2] = ["pg_catalog", "information_schema"];

/// Tarn's catalog as `datafusion-pg-catalog` sees it, scoped to one database (catalog).
#[derive(Debug, Clone)]
pub(crate) struct TarnCatalogInfo {
    catalog: Catalog,
    database: String,
    /// Which tables the connection's user sees (those it may read).
    visibility: Visibility,
}

fn external(e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::External(e.to_string().into())
}

impl TarnCatalogInfo {
    /// The tables and views of `schema` (in this database) the user may read; none in the
    /// system schemas.
    pub(crate) async fn relations(&self, schema: &str) -> Result<Vec<tarn_sql::Relation>, DataFusionError> {
        if SYSTEM_SCHEMAS.contains(&schema) {
            return Ok(Vec::new());
        }
        self.visibility.relations(&self.database, schema).await.map_err(external)
    }

    /// The views of `schema` (in this database) the user may read, with their SQL.
    pub(crate) async fn view_definitions(&self, schema: &str) -> Result<Vec<(String, String)>, DataFusionError> {
        let mut out = Vec::new();
        for relation in self.relations(schema).await? {
            if relation.kind != tarn_sql::RelationKind::View {
                continue;
            }
            if let Some(view) = self.catalog.get_view(&TableIdent::new(&self.database, schema, &relation.name)).await.map_err(external)? {
                out.push((view.name, view.sql));
            }
        }
        Ok(out)
    }
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
        // Every Postgres database has these two; clients join pg_type and pg_proc (which
        // live in pg_catalog, oid 11) with pg_namespace.
        let mut names: Vec<String> = SYSTEM_SCHEMAS.iter().map(|s| s.to_string()).collect();
        names.extend(schemas.into_iter().map(|s| s.name));
        Ok(Some(names))
    }

    async fn table_names(&self, catalog_name: &str, schema_name: &str) -> Result<Option<Vec<String>>, DataFusionError> {
        if catalog_name != self.database {
            return Ok(None);
        }
        Ok(Some(self.relations(schema_name).await?.into_iter().map(|r| r.name).collect()))
    }

    async fn table_schema(&self, catalog_name: &str, schema_name: &str, table_name: &str) -> Result<Option<SchemaRef>, DataFusionError> {
        let ident = TableIdent::new(catalog_name, schema_name, table_name);
        Ok(self.visibility.relation_schema(&ident).await.map_err(external)?.map(|(_, schema)| schema))
    }

    async fn table_type(&self, catalog_name: &str, schema_name: &str, table_name: &str) -> Result<Option<TableType>, DataFusionError> {
        let ident = TableIdent::new(catalog_name, schema_name, table_name);
        let view = self.catalog.get_table(&ident).await.map_err(external)?.is_none()
            && self.catalog.get_view(&ident).await.map_err(external)?.is_some();
        Ok(Some(if view { TableType::View } else { TableType::Base }))
    }
}

/// Tarn's principals as Postgres roles (`pg_roles`): admins are superusers.
#[derive(Debug, Clone)]
pub(crate) struct TarnRoles {
    catalog: Catalog,
}

#[async_trait]
impl PgCatalogContextProvider for TarnRoles {
    async fn roles(&self) -> Vec<String> {
        match self.catalog.list_principals().await {
            Ok(principals) => principals.into_iter().map(|p| p.name).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "listing principals for pg_roles failed");
                Vec::new()
            }
        }
    }

    async fn role(&self, name: &str) -> Option<Role> {
        // Always an answer: the caller looks up every name roles() gave, and a principal
        // dropped in between is still better shown than a failed query.
        let admin = matches!(self.catalog.get_principal(name).await, Ok(Some(p)) if p.admin);
        Some(Role {
            name: name.to_string(),
            is_superuser: admin,
            can_login: true,
            can_create_db: admin,
            can_create_role: admin,
            can_create_user: admin,
            can_replication: false,
            grants: Vec::new(),
            inherited_roles: Vec::new(),
        })
    }
}

type PgCatalogSchema = PgCatalogSchemaProvider<TarnCatalogInfo, TarnRoles>;

/// `datafusion-pg-catalog`'s `pg_catalog` with Tarn's own `pg_settings`, and `pg_tables` /
/// `pg_views` that tell tables from views (the crate lists every relation in `pg_tables` and
/// none in `pg_views`; dbt reads both to learn what each relation is).
#[derive(Debug)]
struct TarnPgCatalog {
    inner: PgCatalogSchema,
    settings: Arc<datafusion::catalog::MemTable>,
    info: TarnCatalogInfo,
}

impl TarnPgCatalog {
    /// `pg_tables` (kind Table) or `pg_views` (kind View) of this database, in the crate's
    /// columns: names from Tarn, owners `postgres`, the rest false or NULL.
    async fn relations_table(
        &self,
        name: &str,
        kind: tarn_sql::RelationKind,
    ) -> Result<Option<Arc<dyn datafusion::catalog::TableProvider>>, DataFusionError> {
        use datafusion::arrow::array::{ArrayRef, BooleanArray, StringArray};
        let Some(template) = self.inner.table(name).await? else { return Ok(None) };
        let schema = template.schema();
        let mut rows: Vec<(String, String, Option<String>)> = Vec::new();
        for schema_name in self.info.schema_names(&self.info.database).await?.unwrap_or_default() {
            match kind {
                tarn_sql::RelationKind::View => {
                    for (view, sql) in self.info.view_definitions(&schema_name).await? {
                        rows.push((schema_name.clone(), view, Some(sql)));
                    }
                }
                tarn_sql::RelationKind::Table => {
                    let tables = self.info.relations(&schema_name).await?.into_iter().filter(|r| r.kind == kind);
                    rows.extend(tables.map(|r| (schema_name.clone(), r.name, None)));
                }
            }
        }
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|field| -> ArrayRef {
                match (field.name().as_str(), field.data_type()) {
                    ("schemaname", _) => Arc::new(rows.iter().map(|r| Some(r.0.clone())).collect::<StringArray>()),
                    ("tablename" | "viewname", _) => Arc::new(rows.iter().map(|r| Some(r.1.clone())).collect::<StringArray>()),
                    ("tableowner" | "viewowner", _) => Arc::new(rows.iter().map(|_| Some("postgres")).collect::<StringArray>()),
                    ("definition", _) => Arc::new(rows.iter().map(|r| r.2.clone()).collect::<StringArray>()),
                    (_, DataType::Boolean) => Arc::new(BooleanArray::from(vec![false; rows.len()])),
                    (_, data_type) => datafusion::arrow::array::new_null_array(data_type, rows.len()),
                }
            })
            .collect();
        let batch = datafusion::arrow::record_batch::RecordBatch::try_new(schema.clone(), columns)?;
        Ok(Some(Arc::new(datafusion::catalog::MemTable::try_new(schema, vec![vec![batch]])?)))
    }
}

#[async_trait]
impl SchemaProvider for TarnPgCatalog {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn datafusion::catalog::TableProvider>>, DataFusionError> {
        if name.eq_ignore_ascii_case("pg_settings") {
            return Ok(Some(self.settings.clone()));
        }
        if name.eq_ignore_ascii_case("pg_tables") {
            return self.relations_table("pg_tables", tarn_sql::RelationKind::Table).await;
        }
        if name.eq_ignore_ascii_case("pg_views") {
            return self.relations_table("pg_views", tarn_sql::RelationKind::View).await;
        }
        self.inner.table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// What the `pg_catalog` and `information_schema` of every connection share: the static
/// tables and the settings.
pub(crate) struct PgSystemSchemas {
    catalog: Catalog,
    static_tables: Arc<PgCatalogStaticTables>,
    settings: Arc<datafusion::catalog::MemTable>,
}

impl std::fmt::Debug for PgSystemSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSystemSchemas").finish_non_exhaustive()
    }
}

impl PgSystemSchemas {
    pub fn new(catalog: Catalog, tls: bool) -> Result<Self> {
        let static_tables = PgCatalogStaticTables::try_new().map_err(|e| ServerError::Internal(e.to_string()))?;
        Ok(Self { catalog, static_tables: Arc::new(static_tables), settings: super::settings::table(tls)? })
    }

    /// The system schemas as one connection's user sees them: only the tables it may read.
    pub fn for_viewer(self: &Arc<Self>, visibility: Visibility) -> Arc<dyn tarn_sql::SystemSchemas> {
        Arc::new(ViewerSchemas { shared: self.clone(), visibility, by_database: Mutex::new(HashMap::new()) })
    }
}

/// One connection's `pg_catalog` and `information_schema`.
struct ViewerSchemas {
    shared: Arc<PgSystemSchemas>,
    visibility: Visibility,
    by_database: Mutex<HashMap<String, Arc<TarnPgCatalog>>>,
}

impl std::fmt::Debug for ViewerSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewerSchemas").finish_non_exhaustive()
    }
}

impl ViewerSchemas {
    fn info(&self, database: &str) -> TarnCatalogInfo {
        TarnCatalogInfo { catalog: self.shared.catalog.clone(), database: database.to_string(), visibility: self.visibility.clone() }
    }
}

impl tarn_sql::SystemSchemas for ViewerSchemas {
    fn names(&self) -> Vec<String> {
        vec!["pg_catalog".to_string(), "information_schema".to_string()]
    }

    fn schema(&self, catalog: &str, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if catalog.starts_with("__") {
            return None;
        }
        if name == "information_schema" {
            return Some(Arc::new(super::information_schema::PgInformationSchema {
                info: self.info(catalog),
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
        let roles = TarnRoles { catalog: self.shared.catalog.clone() };
        let inner = PgCatalogSchemaProvider::try_new(self.info(catalog), self.shared.static_tables.clone(), roles).ok()?;
        let schema = Arc::new(TarnPgCatalog { inner, settings: self.shared.settings.clone(), info: self.info(catalog) });
        map.insert(catalog.to_string(), schema.clone());
        Some(schema)
    }

    fn implicit_schema(&self) -> Option<String> {
        Some("pg_catalog".to_string())
    }
}

/// `state` with the Postgres functions clients call (`format_type`, `pg_get_expr`,
/// `current_schemas`, `current_setting`, `has_table_privilege`, ...) and the
/// `regclass`-style type names.
pub(crate) fn with_pg_functions(
    state: &SessionState,
    database: &str,
    connection: &super::session_info::ConnectionInfo,
) -> Result<SessionState> {
    let ctx = SessionContext::new_with_state(state.clone());
    // setup_pg_catalog mounts its own pg_catalog in this catalog; statements never see it
    // (each gets its own catalog list), they see `PgSystemSchemas` instead.
    ctx.register_catalog(database, Arc::new(MemoryCatalogProvider::new()));
    datafusion_pg_catalog::setup_pg_catalog(&ctx, database, EmptyContextProvider)
        .map_err(|e| ServerError::Internal(format!("installing Postgres functions: {e}")))?;
    // NULL, as Postgres answers for objects that have no comment or do not exist (Tarn has
    // no indexes, and keeps comments in the Delta log, not as Postgres descriptions).
    for (name, arities) in
        [("col_description", &[2][..]), ("obj_description", &[1, 2][..]), ("shobj_description", &[2][..]), ("pg_get_indexdef", &[1, 3][..])]
    {
        ctx.register_udf(constant_text_udf(name, arities, None));
    }
    ctx.register_udf(ScalarUDF::from(PgGetExpr {
        signature: Signature::one_of(vec![TypeSignature::Any(2), TypeSignature::Any(3)], Volatility::Stable),
    }));
    // The connection's own user, schema and settings (registered last: they replace the
    // fixed answers of datafusion-pg-catalog's versions).
    for function in connection.functions() {
        ctx.register_udf(function);
    }
    let version = format!("PostgreSQL {} on {}, Tarn lakehouse", super::SERVER_VERSION, std::env::consts::ARCH);
    ctx.register_udf(constant_text_udf("version", &[0], Some(version)));
    // Postgres clients get the Postgres-typed information_schema of `PgSystemSchemas`,
    // not DataFusion's Arrow-typed one.
    let mut config = ctx.state().config().clone();
    config.options_mut().catalog.information_schema = false;
    tarn_engine::derive_state(&ctx.state(), config, None)
        .map_err(|e| ServerError::Internal(format!("building the Postgres catalog session: {e}")))
}

/// A function returning the same text (or NULL) for every row, whatever its arguments:
/// comments and index definitions Tarn does not keep as Postgres objects, and `version()` as
/// Postgres clients parse it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ConstantText {
    name: String,
    signature: Signature,
    value: Option<String>,
}

impl ScalarUDFImpl for ConstantText {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType, DataFusionError> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue, DataFusionError> {
        let scalar = ScalarValue::Utf8(self.value.clone());
        let any_array = args.args.iter().any(|a| matches!(a, ColumnarValue::Array(_)));
        Ok(if any_array { ColumnarValue::Array(scalar.to_array_of_size(args.number_rows)?) } else { ColumnarValue::Scalar(scalar) })
    }
}

/// `pg_get_expr(expr, relation [, pretty])`: Tarn keeps expressions (CHECK constraints) as
/// SQL text already, so the text itself, and NULL for NULL (datafusion-pg-catalog's version
/// answers '' for everything, which clients show as an empty default).
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgGetExpr {
    signature: Signature,
}

impl ScalarUDFImpl for PgGetExpr {
    fn name(&self) -> &str {
        "pg_get_expr"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType, DataFusionError> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue, DataFusionError> {
        let expr = args.args[0].to_array(args.number_rows)?;
        Ok(ColumnarValue::Array(datafusion::arrow::compute::cast(&expr, &DataType::Utf8)?))
    }
}

/// `name` taking any of `arities` arguments of any type.
fn constant_text_udf(name: &str, arities: &[usize], value: Option<String>) -> ScalarUDF {
    let signatures = arities.iter().map(|n| if *n == 0 { TypeSignature::Nullary } else { TypeSignature::Any(*n) }).collect();
    ScalarUDF::from(ConstantText { name: name.to_string(), signature: Signature::one_of(signatures, Volatility::Stable), value })
}
