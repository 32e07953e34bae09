//! A SQL session: the warehouse, its catalog, the DataFusion state and the current schema.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;

use datafusion::catalog::MemoryCatalogProviderList;
use datafusion::execution::context::SessionState;
use parquet::file::properties::WriterProperties;
use tarn_catalog::{Catalog, DEFAULT_CATALOG, DEFAULT_SCHEMA};
use tarn_engine::{DataFileOptions, Runtime, SessionOptions, new_session_state};
use tarn_storage::Warehouse;

use crate::ast::Statement;
use crate::error::Result;
use crate::exec;
use crate::metadata::SystemSchemas;
use crate::output::StatementOutput;
use crate::parser::parse_sql;

/// The Delta table property that sets a table's own target file size (bytes).
pub(crate) const TARGET_FILE_SIZE_PROPERTY: &str = "delta.targetFileSize";

/// How to open a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Warehouse root: a directory path or an object-store URL.
    pub warehouse: String,
    /// Scan/join parallelism; `None` means one per core.
    pub target_partitions: Option<usize>,
    /// Memory limit and spill directory; every session made from (a clone of) this config
    /// shares them.
    pub runtime: Runtime,
    /// Size of the data files writes and OPTIMIZE aim for, unless a table sets its own
    /// `delta.targetFileSize`.
    pub target_file_size: NonZeroU64,
    /// How data files are written (codec), unless a session sets
    /// `spark.sql.parquet.compression.codec`.
    pub data_files: DataFileOptions,
    /// The Delta Sharing endpoint recipients reach (`http://host:8080/delta-sharing`), for the
    /// activation links CREATE RECIPIENT prints; `None`: `tarn serve`'s default address.
    pub sharing_endpoint: Option<String>,
}

/// 128 MiB: large enough that a scan opens few files, small enough to skip most of a table.
pub const DEFAULT_TARGET_FILE_SIZE: NonZeroU64 = match NonZeroU64::new(128 * 1024 * 1024) {
    Some(size) => size,
    None => unreachable!(),
};

impl SessionConfig {
    pub fn new(warehouse: impl Into<String>) -> Self {
        Self {
            warehouse: warehouse.into(),
            target_partitions: None,
            runtime: Runtime::default(),
            target_file_size: DEFAULT_TARGET_FILE_SIZE,
            data_files: DataFileOptions::default(),
            sharing_endpoint: None,
        }
    }
}

/// How long a session trusts what the catalog last said about its principal.
pub(crate) const PRINCIPAL_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// A SQL session. Statements run one at a time; `USE` and `SET` change the session.
pub struct Session {
    pub(crate) catalog: Catalog,
    pub(crate) base: SessionState,
    pub(crate) current_catalog: String,
    pub(crate) current_schema: String,
    /// Values set with `SET key = value` that Tarn itself reads (e.g. the VACUUM safety check).
    pub(crate) settings: HashMap<String, String>,
    /// Schemas a front end mounts in every catalog (pgwire's `pg_catalog`).
    pub(crate) system_schemas: Option<Arc<dyn SystemSchemas>>,
    /// Who runs the statements; `None` is the warehouse's own administrator (the local CLI).
    pub(crate) principal: Option<tarn_catalog::Principal>,
    /// The principal as the catalog last said, and when: privileges are checked against it,
    /// so a dropped user or a lost ADMIN flag reaches open connections within
    /// [`PRINCIPAL_RECHECK`].
    pub(crate) principal_checked: std::sync::Mutex<Option<(std::time::Instant, tarn_catalog::Principal)>>,
    /// Tables named by statements since the last [`Session::take_touched_tables`].
    touched_tables: Vec<String>,
    /// While an EXPLAIN is planned: the files each of its Delta scans reads. `None` otherwise,
    /// so ordinary queries do not pay for counting every table's files.
    pub(crate) scan_log: Option<tarn_engine::ScanLog>,
    /// Temporary views (one-part names bound to a provider), shadowing tables.
    pub(crate) temp_views: crate::flows::TempViews,
    /// Temporary SQL functions (`CREATE TEMPORARY FUNCTION`), by lower-case name.
    pub(crate) temp_functions: HashMap<String, tarn_catalog::FunctionEntry>,
    /// Session variables (`DECLARE VARIABLE`), by lower-case name.
    pub(crate) variables: HashMap<String, crate::exec::Variable>,
    /// Default target size of written data files ([`SessionConfig::target_file_size`]).
    target_file_size: NonZeroU64,
    /// How this session's writes encode data files (`SET spark.sql.parquet.compression.codec`).
    pub(crate) data_files: DataFileOptions,
    /// Where recipients reach Delta Sharing ([`SessionConfig::sharing_endpoint`]).
    pub(crate) sharing_endpoint: Option<String>,
    /// What statements told the user besides their result (Postgres' NOTICE), oldest first,
    /// until a front end takes them with [`Session::take_notices`].
    notices: Vec<String>,
    /// How many catalog views deep this session plans (0 for a user's session).
    pub(crate) view_depth: usize,
}

impl Session {
    /// Open (creating if needed) the warehouse and its catalog.
    pub async fn open(config: SessionConfig) -> Result<Self> {
        let warehouse = Warehouse::connect(&config.warehouse).await.map_err(tarn_catalog::CatalogError::from)?;
        let catalog = Catalog::open(warehouse).await?;
        Self::with_catalog(catalog, &config)
    }

    /// A session on an already opened catalog (servers open it once, not per request).
    pub fn with_catalog(catalog: Catalog, config: &SessionConfig) -> Result<Self> {
        let options =
            SessionOptions { target_partitions: config.target_partitions, runtime: config.runtime.clone(), ..SessionOptions::default() };
        let base = new_session_state(Arc::new(MemoryCatalogProviderList::new()), &options)?;
        Ok(Session {
            catalog,
            base,
            current_catalog: DEFAULT_CATALOG.to_string(),
            current_schema: DEFAULT_SCHEMA.to_string(),
            settings: HashMap::new(),
            system_schemas: None,
            principal: None,
            principal_checked: std::sync::Mutex::new(None),
            touched_tables: Vec::new(),
            scan_log: None,
            temp_views: Default::default(),
            temp_functions: Default::default(),
            variables: Default::default(),
            target_file_size: config.target_file_size,
            data_files: config.data_files,
            sharing_endpoint: config.sharing_endpoint.clone(),
            notices: Vec::new(),
            view_depth: 0,
        })
    }

    /// Run statements as `principal`: every statement is checked against its privileges.
    pub fn set_principal(&mut self, principal: tarn_catalog::Principal) {
        self.principal = Some(principal);
        *self.principal_checked.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The principal statements run as, if not the local administrator.
    pub fn principal(&self) -> Option<&tarn_catalog::Principal> {
        self.principal.as_ref()
    }

    /// Who statements run as, by name: the principal, or for the local administrator the
    /// operating-system user (as Spark in local mode answers `current_user()`).
    pub fn user_name(&self) -> String {
        match &self.principal {
            Some(principal) => principal.name.clone(),
            None => std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "admin".to_string()),
        }
    }

    /// Mount `schemas` in every catalog this session's statements see.
    pub fn set_system_schemas(&mut self, schemas: Arc<dyn SystemSchemas>) {
        self.system_schemas = Some(schemas);
    }

    /// The DataFusion state statements are planned in (functions, options, planners).
    pub fn state(&self) -> &SessionState {
        &self.base
    }

    /// Replace the DataFusion state, e.g. to register a front end's functions. Its catalog
    /// list is ignored: every statement gets its own.
    pub fn set_state(&mut self, state: SessionState) {
        self.base = state;
    }

    /// The file size a write to a table with `properties` aims for: the table's own
    /// `delta.targetFileSize` (as in Spark), else the session's default. `None` (delta-rs
    /// decides, and rejects it) when the property is not a positive number.
    pub(crate) fn target_file_size(&self, properties: &HashMap<String, String>) -> Option<NonZeroU64> {
        match properties.get(TARGET_FILE_SIZE_PROPERTY) {
            Some(value) => value.trim().parse().ok(),
            None => Some(self.target_file_size),
        }
    }

    /// Parquet writer properties for the data files of this session's writes.
    pub(crate) fn writer_properties(&self) -> WriterProperties {
        self.data_files.writer_properties()
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn current_catalog(&self) -> &str {
        &self.current_catalog
    }

    pub fn current_schema(&self) -> &str {
        &self.current_schema
    }

    /// Run every statement of `sql` in order, collecting each result. For scripts whose
    /// results should stream, parse with [`parse_sql`] and call [`Session::execute`].
    pub async fn sql(&mut self, sql: &str) -> Result<Vec<Vec<arrow::array::RecordBatch>>> {
        let mut out = Vec::new();
        for statement in parse_sql(sql)? {
            out.push(self.execute(statement).await?.collect().await?);
        }
        Ok(out)
    }

    /// Execute one statement. Queries return a lazy stream; everything else has finished
    /// (and committed) when this returns.
    pub async fn execute(&mut self, statement: Statement) -> Result<StatementOutput> {
        match &statement {
            // Never log a password.
            Statement::CreateUser { name, .. } | Statement::AlterUserPassword { name, .. } => {
                tracing::debug!(user = %name, "execute: user with a password")
            }
            other => tracing::debug!(statement = ?other, "execute"),
        }
        for table in self.tables_of(&statement) {
            if !self.touched_tables.contains(&table) {
                self.touched_tables.push(table);
            }
        }
        self.authorize(&statement).await?;
        self.refuse_writes_to_shared(&statement).await?;
        // On the heap: a statement's future is large (planning, views, SQL functions, table
        // functions nest), and a caller that polls it on a thread's stack must not overflow.
        // A panic in planning (a library's bug) is this statement's error, not the process's end.
        let run = Box::pin(exec::execute(self, statement));
        match futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await {
            Ok(result) => result,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".to_string());
                Err(crate::error::SqlError::Internal(format!(
                    "a panic stopped this statement ({message}); please report it with the statement \
                     (a write is committed whole or not at all)"
                )))
            }
        }
    }

    /// The tables statements named (read, wrote, created, changed — or were refused) since
    /// the last call, fully qualified; for the audit log.
    pub fn take_touched_tables(&mut self) -> Vec<String> {
        std::mem::take(&mut self.touched_tables)
    }

    /// A session that plans a catalog view's query: as `owner` (`None`: the administrator), in
    /// the view's schema, without this session's temporary views, one view deeper.
    pub(crate) fn view_reader(&self, owner: Option<tarn_catalog::Principal>, catalog: &str, schema: &str) -> Session {
        Session {
            catalog: self.catalog.clone(),
            base: self.base.clone(),
            current_catalog: catalog.to_string(),
            current_schema: schema.to_string(),
            settings: self.settings.clone(),
            system_schemas: self.system_schemas.clone(),
            principal: owner,
            principal_checked: std::sync::Mutex::new(None),
            touched_tables: Vec::new(),
            scan_log: self.scan_log.clone(),
            temp_views: Default::default(),
            temp_functions: Default::default(),
            variables: Default::default(),
            target_file_size: self.target_file_size,
            data_files: self.data_files,
            sharing_endpoint: self.sharing_endpoint.clone(),
            notices: Vec::new(),
            view_depth: self.view_depth + 1,
        }
    }

    /// Tell the user something a statement did that they may not expect (it still succeeded).
    pub(crate) fn notice(&mut self, message: impl Into<String>) {
        let message = message.into();
        tracing::info!(notice = %message);
        self.notices.push(message);
    }

    /// The notices statements gave since the last call, oldest first: front ends show them
    /// (psql prints `NOTICE:`, the shell prints them on stderr, HTTP returns `notices`).
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    /// Whether writes may add columns (Databricks' `spark.databricks.delta.schema.autoMerge.enabled`).
    pub(crate) fn auto_merge_schema(&self) -> bool {
        self.settings.get("spark.databricks.delta.schema.automerge.enabled").is_some_and(|v| v == "true")
    }

    /// Names of all tables in the current schema (for shell completion).
    pub async fn table_names(&self) -> Vec<String> {
        self.catalog
            .list_tables(&self.current_catalog, &self.current_schema)
            .await
            .map(|tables| tables.into_iter().map(|t| t.name).collect())
            .unwrap_or_default()
    }
}
