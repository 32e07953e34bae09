//! Name resolution: table names to Delta tables, and SQL statements to DataFusion plans.
//!
//! Each statement is planned against a fresh in-memory catalog holding exactly the tables it
//! names, each opened once at its current (or requested) version. That gives every statement
//! a consistent snapshot and keeps DataFusion's synchronous catalog API away from storage.
//! Time travel (`VERSION AS OF`, `TIMESTAMP AS OF`) and path tables (``delta.`/path` ``) are
//! rewritten in the AST to synthetic names bound to the right snapshot.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::array::{Array, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{DateTime, Utc};
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList, MemorySchemaProvider, SchemaProvider,
    TableProvider,
};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use deltalake::DeltaTable;
use sqlparser::ast::{
    Expr as SqlExpr, Ident, ObjectName, ObjectNamePart, Query, Statement as SqlStatement, TableAlias, TableFactor, TableVersion, VisitMut,
    VisitorMut,
};
use tarn_catalog::{TableEntry, TableIdent};
use tarn_engine::{TimeTravel, open_table, table_provider};
use url::Url;

use crate::ast::VersionSpec;
use crate::error::{Result, SqlError};
use crate::relations::{Relation, Relations};
use crate::session::Session;

/// Whether a table location names a table shared with us over Delta Sharing (a profile file
/// with `#share.schema.table`); Delta table locations never have a fragment.
pub(crate) fn is_shared_location(url: &Url) -> bool {
    url.fragment().is_some()
}

/// Open the table at `location`: a Delta table, or a shared table, whose version (latest or
/// `at`) is materialized from the sharing server as a local Delta table first.
pub(crate) async fn open_location(location: &Url, at: Option<&TimeTravel>) -> Result<DeltaTable> {
    if !is_shared_location(location) {
        return Ok(open_table(location, at).await?);
    }
    let shared = tarn_sharing::SharedLocation::from_url(location)?;
    let remote = tarn_sharing::RemoteTable::new(shared, &tarn_sharing::RemoteTable::default_cache_root())?;
    let version = match at {
        None => tarn_sharing::RemoteVersion::Latest,
        Some(TimeTravel::Version(v)) => tarn_sharing::RemoteVersion::Version(*v),
        Some(TimeTravel::Timestamp(ts)) => tarn_sharing::RemoteVersion::Timestamp(*ts),
    };
    let local = remote.materialize(&version).await?;
    Ok(open_table(&local, None).await?)
}

/// A table name after resolution against the current catalog and schema.
#[derive(Debug, Clone)]
pub(crate) enum TableName {
    Catalog(TableIdent),
    Path(Url),
}

/// A table opened for a statement.
pub(crate) struct Target {
    /// How to name it in messages.
    pub display: String,
    /// The catalog entry, for catalog tables.
    pub entry: Option<TableEntry>,
    pub table: DeltaTable,
}

impl Target {
    pub fn url(&self) -> &Url {
        self.table.table_url()
    }
}

fn parts(name: &ObjectName) -> Vec<&Ident> {
    name.0.iter().filter_map(ObjectNamePart::as_ident).collect()
}

impl Session {
    /// Resolve a (possibly partial) table name.
    pub(crate) fn table_name(&self, name: &ObjectName) -> Result<TableName> {
        let p = parts(name);
        if p.len() != name.0.len() {
            return Err(SqlError::user(format!("'{name}' is not a table name")));
        }
        if p.len() == 2 && p[0].value.eq_ignore_ascii_case("delta") && p[0].quote_style.is_none() {
            let url = tarn_storage::resolve_location(&p[1].value).map_err(tarn_catalog::CatalogError::from)?;
            return Ok(TableName::Path(url));
        }
        // ``delta_sharing.`profile.share#share.schema.table` ``: a shared table by its profile,
        // a path whose URL carries the table as its fragment.
        if p.len() == 2 && p[0].value.eq_ignore_ascii_case("delta_sharing") && p[0].quote_style.is_none() {
            let location = tarn_sharing::SharedLocation::parse(&p[1].value)?;
            return Ok(TableName::Path(location.to_url()?));
        }
        let lower = |i: &Ident| i.value.to_ascii_lowercase();
        let (catalog, schema, table) = match p.as_slice() {
            [t] => (self.current_catalog.clone(), self.current_schema.clone(), lower(t)),
            [s, t] => (self.current_catalog.clone(), lower(s), lower(t)),
            [c, s, t] => (lower(c), lower(s), lower(t)),
            _ => {
                return Err(SqlError::user(format!("'{name}' has too many parts; use table, schema.table or catalog.schema.table")));
            }
        };
        Ok(TableName::Catalog(TableIdent::new(catalog, schema, table)))
    }

    /// The location of `name` if it is a table shared with us (Delta Sharing).
    pub(crate) async fn shared_location_of(&self, name: &ObjectName) -> Result<Option<Url>> {
        Ok(match self.table_name(name) {
            Ok(TableName::Path(url)) if is_shared_location(&url) => Some(url),
            Ok(TableName::Catalog(ident)) => match self.catalog.get_table(&ident).await? {
                Some(entry) if entry.kind == tarn_catalog::TableKind::Sharing => Some(entry.location_url()?),
                _ => None,
            },
            _ => None,
        })
    }

    /// Shared tables are read-only: refuse a statement that would change one.
    pub(crate) async fn refuse_writes_to_shared(&self, statement: &crate::ast::Statement) -> Result<()> {
        use crate::ast::Statement as S;
        let target = match statement {
            S::Insert(i) => &i.table,
            S::Update(u) => &u.table,
            S::Delete(d) => &d.table,
            S::Merge(m) => &m.target,
            S::CopyInto(c) => &c.table,
            S::Truncate { table }
            | S::Restore { table, .. }
            | S::Optimize { table, .. }
            | S::Vacuum { table, .. }
            | S::AlterTable { table, .. } => table,
            S::CreateTable(c) if c.or_replace => &c.name,
            S::CreateClone(c) if c.or_replace => &c.name,
            _ => return Ok(()),
        };
        if self.shared_location_of(target).await?.is_some() {
            return Err(SqlError::user(format!(
                "{target} is a table shared with you over Delta Sharing and is read-only; \
                 CREATE TABLE ... AS SELECT * FROM {target} makes a copy you can change"
            )));
        }
        Ok(())
    }

    /// Resolve a catalog name (one part, quoted or not).
    pub(crate) fn catalog_name(&self, name: &ObjectName) -> Result<String> {
        match parts(name).as_slice() {
            [c] => Ok(c.value.to_ascii_lowercase()),
            _ => Err(SqlError::user(format!("'{name}' is not a catalog name"))),
        }
    }

    /// Resolve a schema name (`schema` or `catalog.schema`).
    pub(crate) fn schema_name(&self, name: &ObjectName) -> Result<(String, String)> {
        let p = parts(name);
        let lower = |i: &Ident| i.value.to_ascii_lowercase();
        match p.as_slice() {
            [s] => Ok((self.current_catalog.clone(), lower(s))),
            [c, s] => Ok((lower(c), lower(s))),
            _ => Err(SqlError::user(format!("'{name}' is not a schema name; use schema or catalog.schema"))),
        }
    }

    /// Open the table `name` refers to, at its latest version or at `at`.
    pub(crate) async fn open_target(&self, name: &ObjectName, at: Option<&TimeTravel>) -> Result<Target> {
        match self.table_name(name)? {
            TableName::Catalog(ident) => {
                if self.catalog.get_table(&ident).await?.is_none() && self.catalog.get_view(&ident).await?.is_some() {
                    return Err(SqlError::user(format!(
                        "[EXPECT_TABLE_NOT_VIEW] '{ident}' is a view: it has no versions, files or history and cannot be written; \
                         name one of the tables it reads"
                    )));
                }
                let entry = self.catalog.require_table(&ident).await?;
                let table = open_location(&entry.location_url()?, at).await?;
                Ok(Target { display: ident.to_string(), entry: Some(entry), table })
            }
            TableName::Path(url) => {
                let table = open_location(&url, at).await?;
                Ok(Target {
                    display: if is_shared_location(&url) { format!("delta_sharing.`{url}`") } else { format!("delta.`{url}`") },
                    entry: None,
                    table,
                })
            }
        }
    }

    /// Evaluate `VERSION AS OF` / `TIMESTAMP AS OF`.
    pub(crate) async fn time_travel(&self, spec: &VersionSpec) -> Result<TimeTravel> {
        match spec {
            VersionSpec::Version(expr) => Ok(TimeTravel::Version(version_number(expr)?)),
            VersionSpec::Timestamp(expr) => Ok(TimeTravel::Timestamp(self.eval_timestamp(expr).await?)),
        }
    }

    /// The value of a constant expression (table function arguments, ...).
    pub(crate) async fn eval_scalar(&self, expr: &SqlExpr) -> Result<datafusion::scalar::ScalarValue> {
        let sql = format!("SELECT {} AS v", crate::parser::sql_text(expr));
        let statement = crate::parser::parse_sql(&sql)?
            .pop()
            .and_then(|s| match s {
                crate::ast::Statement::Query(q) => Some(*q),
                _ => None,
            })
            .ok_or_else(|| SqlError::Internal("a constant did not parse as a query".into()))?;
        let mut state = self.base.clone();
        let options = state.config().options().clone();
        state.execution_props_mut().mark_start_execution(options);
        let plan = state.statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(statement))).await?;
        let batches = datafusion::dataframe::DataFrame::new(state, plan).collect().await?;
        let batch = batches.iter().find(|b| b.num_rows() > 0).ok_or_else(|| SqlError::user(format!("'{expr}' produced no value")))?;
        Ok(datafusion::scalar::ScalarValue::try_from_array(batch.column(0), 0)?)
    }

    pub(crate) async fn eval_timestamp(&self, expr: &SqlExpr) -> Result<DateTime<Utc>> {
        let sql = format!("SELECT to_timestamp_micros({}) AS ts", crate::parser::sql_text(expr));
        let statement = crate::parser::parse_sql(&sql)?
            .pop()
            .and_then(|s| match s {
                crate::ast::Statement::Query(q) => Some(*q),
                _ => None,
            })
            .ok_or_else(|| SqlError::Internal("timestamp expression did not parse as a query".into()))?;
        let mut state = self.base.clone();
        let options = state.config().options().clone();
        state.execution_props_mut().mark_start_execution(options);
        let plan = state.statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(statement))).await?;
        let batches = datafusion::dataframe::DataFrame::new(state, plan).collect().await?;
        let column = batches
            .first()
            .map(|b| b.column(0).clone())
            .ok_or_else(|| SqlError::user(format!("TIMESTAMP AS OF {expr}: the expression produced no value")))?;
        let micros = arrow::compute::cast(&column, &DataType::Timestamp(TimeUnit::Microsecond, None))
            .map_err(|e| SqlError::user(format!("TIMESTAMP AS OF {expr}: {e}")))?;
        let micros = micros
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| SqlError::Internal("cast to timestamp gave another type".into()))?;
        if micros.is_empty() || micros.is_null(0) {
            return Err(SqlError::user(format!("TIMESTAMP AS OF {expr}: the timestamp is NULL")));
        }
        DateTime::<Utc>::from_timestamp_micros(micros.value(0))
            .ok_or_else(|| SqlError::user(format!("TIMESTAMP AS OF {expr}: timestamp out of range")))
    }

    /// A session state whose catalog holds `tables` (and the current schema, even if empty).
    fn statement_state(&self, list: Arc<MemoryCatalogProviderList>) -> Result<SessionState> {
        let mut config = self.base.config().clone();
        config.options_mut().catalog.default_catalog = self.current_catalog.clone();
        config.options_mut().catalog.default_schema = self.current_schema.clone();
        let mut state = tarn_engine::derive_state(&self.base, config, Some(list))?;
        // A front end that names the connection's user itself (Postgres' `current_user`,
        // `session_user`) keeps its answer.
        if !state.scalar_functions().contains_key("current_user") {
            let taken: Vec<String> =
                ["user", "session_user"].into_iter().filter(|n| state.scalar_functions().contains_key(*n)).map(String::from).collect();
            datafusion::execution::FunctionRegistry::register_udf(
                &mut state,
                tarn_engine::spark::functions::current_user(&self.user_name(), &taken),
            )?;
        }
        // now() and friends mean the statement's start, not the session's.
        let options = state.config().options().clone();
        state.execution_props_mut().mark_start_execution(options);
        Ok(state)
    }

    /// Plan a statement DataFusion understands (a query, EXPLAIN, ...), binding every table it
    /// names. Returns the state the plan must execute in.
    pub(crate) async fn plan_statement(&self, mut statement: SqlStatement) -> Result<(SessionState, LogicalPlan)> {
        // Spark's names for unnamed columns come from the query as written.
        let names = match &statement {
            SqlStatement::Query(query) => crate::column_names::ItemNames::of(query),
            _ => None,
        };
        crate::spark_syntax::rewrite(&mut statement)?;
        let reads_variables = match self.with_variables(&statement)? {
            Some(wrapped) => {
                statement = wrapped;
                true
            }
            None => false,
        };
        let list = Arc::new(MemoryCatalogProviderList::new());
        register(&list, &self.current_catalog, &self.current_schema, None)?;
        let mut state = self.statement_state(list.clone())?;
        Box::pin(self.bind_sql_functions(&mut statement, &mut state)).await?;

        let relations = Relations::of(&statement);

        let system = self.system_schemas.clone();
        let system_names: Vec<String> = system.as_ref().map(|s| s.names()).unwrap_or_default();
        let is_system_schema = |schema: &str| schema == "information_schema" || system_names.iter().any(|n| n == schema);
        let own_information_schema = system_names.iter().any(|n| n == "information_schema");
        if !own_information_schema && relations.tables.iter().any(|r| schema_part(&r.name).as_deref() == Some("information_schema")) {
            crate::metadata::mount_warehouse(self, list.as_ref(), &state).await?;
        }

        // Every provider the plan can reach is bound here, and each binding of a table, path
        // or table function is authorized right where it is bound: what DataFusion plans
        // against is exactly what was checked.
        let mut replacements: HashMap<String, (ObjectName, Ident)> = HashMap::new();
        let mut opened: HashSet<String> = HashSet::new();
        let qualify = self.same_named_tables(&relations.tables);
        for Relation { name, version } in relations.tables {
            let key = relation_key(&name, version.as_ref());
            let single = parts(&name).len() == 1;
            let path = matches!(self.table_name(&name), Ok(TableName::Path(_)));
            if version.is_none() && !path {
                if single && let Some(view) = self.temp_view(&parts(&name)[0].value) {
                    let table = parts(&name)[0].value.to_ascii_lowercase();
                    // Bound once per statement, however often it is named (a self-join).
                    if !opened.insert(format!("temporary view {table}")) {
                        continue;
                    }
                    let provider = match view {
                        crate::flows::TempView::Provider(provider) => provider,
                        crate::flows::TempView::Query(definition) => Box::pin(self.plan_view_definition(&definition)).await?,
                    };
                    register(&list, &self.current_catalog, &self.current_schema, Some((&table, provider)))?;
                    continue;
                }
                if single && let Some(implicit) = self.implicit_system_table(&name) {
                    let default_alias = Ident::new(parts(&name)[0].value.clone());
                    replacements.insert(key, (implicit, default_alias));
                    continue;
                }
                let TableName::Catalog(ident) = self.table_name(&name)? else {
                    continue;
                };
                if is_system_schema(&ident.schema) || !opened.insert(ident.to_string()) {
                    continue;
                }
                self.require_read(&name).await?;
                let entry = match self.catalog.get_table(&ident).await? {
                    Some(entry) => entry,
                    None => match self.catalog.get_view(&ident).await? {
                        Some(view) => {
                            let provider = Box::pin(self.plan_catalog_view(&view)).await?;
                            register(&list, &ident.catalog, &ident.schema, Some((&ident.table, provider)))?;
                            continue;
                        }
                        None => self.catalog.require_table(&ident).await?,
                    },
                };
                let table = open_location(&entry.location_url()?, None).await?;
                let cached = crate::exec::cache::cached_provider(table.log_store().root_url(), &table, &state).await?;
                let provider = match cached {
                    Some(provider) => provider,
                    None => {
                        let provider = table_provider(&table, &state).await?;
                        match &self.scan_log {
                            Some(log) => tarn_engine::reporting_provider(provider, &ident.to_string(), &table, log.clone()),
                            None => provider,
                        }
                    }
                };
                register(&list, &ident.catalog, &ident.schema, Some((&ident.table, provider)))?;
                continue;
            }
            if replacements.contains_key(&key) {
                continue;
            }
            self.require_read(&name).await?;
            let at = match &version {
                Some(TableVersion::VersionAsOf(e)) => Some(self.time_travel(&VersionSpec::Version(e.clone())).await?),
                Some(TableVersion::TimestampAsOf(e)) => Some(self.time_travel(&VersionSpec::Timestamp(e.clone())).await?),
                Some(other) => {
                    return Err(SqlError::Unsupported(format!("'{other}' is not supported; use VERSION AS OF n or TIMESTAMP AS OF 'ts'")));
                }
                None => None,
            };
            let target = self.open_target(&name, at.as_ref()).await?;
            let provider = table_provider(&target.table, &state).await?;
            let provider = match &self.scan_log {
                Some(log) => tarn_engine::reporting_provider(provider, &target.display, &target.table, log.clone()),
                None => provider,
            };
            let synthetic = format!("t{}", replacements.len());
            register(&list, "__tarn", "snapshots", Some((&synthetic, provider)))?;
            let new_name = ObjectName::from(vec![Ident::new("__tarn"), Ident::new("snapshots"), Ident::new(synthetic)]);
            let default_alias = parts(&name).last().map(|i| Ident::new(i.value.clone())).unwrap_or_else(|| Ident::new("t"));
            replacements.insert(key, (new_name, default_alias));
        }

        for call in &relations.functions {
            let key = function_key(&call.function, &call.args);
            if replacements.contains_key(&key) {
                continue;
            }
            let provider = Box::pin(self.table_function(call, &state)).await?;
            let synthetic = format!("f{}", replacements.len());
            register(&list, "__tarn", "functions", Some((&synthetic, provider)))?;
            let new_name = ObjectName::from(vec![Ident::new("__tarn"), Ident::new("functions"), Ident::new(synthetic)]);
            replacements.insert(key, (new_name, Ident::new(call.function.clone())));
        }

        for call in &relations.other_functions {
            let key = function_key(&call.function, &call.args);
            if replacements.contains_key(&key) {
                continue;
            }
            // Boxed, as every large step here: this future is on the stack of whoever plans.
            let Some(found) = Box::pin(self.find_function(&call.name)).await? else { continue };
            if !found.temporary {
                Box::pin(self.require_execute(&found.entry)).await?;
            }
            let provider = Box::pin(self.plan_table_function(&found, &call.args)).await?;
            let synthetic = format!("f{}", replacements.len());
            register(&list, "__tarn", "functions", Some((&synthetic, provider)))?;
            let new_name = ObjectName::from(vec![Ident::new("__tarn"), Ident::new("functions"), Ident::new(synthetic)]);
            replacements.insert(key, (new_name, Ident::new(found.entry.name.clone())));
        }

        if let Some(system) = &system {
            for catalog in list.catalog_names() {
                let Some(provider) = list.catalog(&catalog) else {
                    continue;
                };
                for name in &system_names {
                    if provider.schema(name).is_none()
                        && let Some(schema) = system.schema(&catalog, name)
                    {
                        provider.register_schema(name, schema)?;
                    }
                }
            }
        }

        if !qualify.is_empty() {
            let mut qualifier = SchemaQualifier { session: self, tables: qualify };
            let _ = VisitMut::visit(&mut statement, &mut qualifier);
        }
        if !replacements.is_empty() {
            let mut rewriter = RelationRewriter { replacements };
            let _ = VisitMut::visit(&mut statement, &mut rewriter);
        }
        let plan = state.statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(statement))).await?;
        let plan = tarn_engine::spark::struct_wildcards::expand_struct_wildcards(plan)?;
        let plan = if reads_variables { self.read_variables(&plan)? } else { plan };
        // Only queries reach DataFusion; a DDL, DML or statement plan here would bypass Tarn's
        // commits and checks.
        datafusion::execution::context::SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)?;
        let plan = tarn_engine::spark::int_literals::narrow(plan)?;
        let plan = match names {
            Some(names) => crate::column_names::renamed(plan, &names)?,
            None => plan,
        };
        Ok((state, plan))
    }

    /// Table names (lower-case) that name different catalog tables in one statement
    /// (`FROM t1, mydb1.t1`). DataFusion matches a qualifier loosely — `mydb1.t1.i1` also
    /// matches a relation called just `t1` — so `SELECT mydb1.t1.i1 FROM t1, mydb1.t1` read
    /// the wrong table's column. Such a one-part name is written with its schema instead.
    fn same_named_tables(&self, tables: &[Relation]) -> HashSet<String> {
        let mut seen: HashMap<String, HashSet<String>> = HashMap::new();
        for Relation { name, version } in tables {
            if version.is_some() {
                continue;
            }
            if let Ok(TableName::Catalog(ident)) = self.table_name(name) {
                seen.entry(ident.table.to_ascii_lowercase()).or_default().insert(ident.to_string());
            }
        }
        seen.into_iter().filter(|(_, idents)| idents.len() > 1).map(|(table, _)| table).collect()
    }

    /// A one-part name that names a table of the implicit system schema (Postgres looks in
    /// `pg_catalog` before the user's schemas), as its qualified name.
    pub(crate) fn implicit_system_table(&self, name: &ObjectName) -> Option<ObjectName> {
        let system = self.system_schemas.as_ref()?;
        let schema_name = system.implicit_schema()?;
        let table = parts(name).first()?.value.to_ascii_lowercase();
        let schema = system.schema(&self.current_catalog, &schema_name)?;
        schema.table_exist(&table).then(|| ObjectName::from(vec![Ident::new(schema_name), Ident::new(table)]))
    }

    /// Plan a query (e.g. the source of INSERT ... SELECT).
    pub(crate) async fn plan_query(&self, query: &Query) -> Result<(SessionState, LogicalPlan)> {
        self.plan_statement(SqlStatement::Query(Box::new(query.clone()))).await
    }
}

fn version_number(expr: &SqlExpr) -> Result<i64> {
    expr.to_string().trim().parse::<i64>().map_err(|_| SqlError::user(format!("VERSION AS OF needs a whole number, got '{expr}'")))
}

/// The schema part of a two- or three-part name, lower case.
fn schema_part(name: &ObjectName) -> Option<String> {
    match parts(name).as_slice() {
        [s, _] | [_, s, _] => Some(s.value.to_ascii_lowercase()),
        _ => None,
    }
}

fn function_key(function: &str, args: &[sqlparser::ast::FunctionArg]) -> String {
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    format!("{function}({})", args.join(", "))
}

fn relation_key(name: &ObjectName, version: Option<&TableVersion>) -> String {
    format!("{name}|{}", version.map(ToString::to_string).unwrap_or_default())
}

fn register(list: &MemoryCatalogProviderList, catalog: &str, schema: &str, table: Option<(&str, Arc<dyn TableProvider>)>) -> Result<()> {
    let catalog_provider = match list.catalog(catalog) {
        Some(c) => c,
        None => {
            let c: Arc<dyn CatalogProvider> = Arc::new(MemoryCatalogProvider::new());
            list.register_catalog(catalog.to_string(), c.clone());
            c
        }
    };
    let schema_provider = match catalog_provider.schema(schema) {
        Some(s) => s,
        None => {
            let s: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
            catalog_provider.register_schema(schema, s.clone())?;
            s
        }
    };
    if let Some((name, provider)) = table {
        schema_provider.register_table(name.to_string(), provider)?;
    }
    Ok(())
}

/// Writes the one-part names of [`Session::same_named_tables`] with their schema.
struct SchemaQualifier<'a> {
    session: &'a Session,
    tables: HashSet<String>,
}

impl VisitorMut for SchemaQualifier<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, args: None, version: None, alias: None, .. } = factor
            && let [one] = parts(name).as_slice()
            && self.tables.contains(&one.value.to_ascii_lowercase())
            && self.session.temp_view(&one.value).is_none()
            && let Ok(TableName::Catalog(ident)) = self.session.table_name(name)
        {
            let table = (*one).clone();
            *name = ObjectName::from(vec![Ident::new(ident.schema.clone()), table]);
        }
        ControlFlow::Continue(())
    }
}

/// Points time-travel and path relations at their synthetic snapshot names.
struct RelationRewriter {
    replacements: HashMap<String, (ObjectName, Ident)>,
}

impl VisitorMut for RelationRewriter {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, args: call @ Some(_), alias, .. } = factor
            && let Some(args) = call.as_ref()
            && let Some((new_name, default_alias)) = [crate::relations::function_name(name), Some(name.to_string().to_ascii_lowercase())]
                .into_iter()
                .flatten()
                .find_map(|function| self.replacements.get(&function_key(&function, &args.args)))
        {
            *name = new_name.clone();
            *call = None;
            if alias.is_none() {
                *alias = Some(TableAlias { explicit: false, name: default_alias.clone(), columns: vec![], at: None });
            }
            return ControlFlow::Continue(());
        }
        if let TableFactor::Table { name, args: None, version, alias, .. } = factor {
            let key = relation_key(name, version.as_ref());
            if let Some((new_name, default_alias)) = self.replacements.get(&key) {
                *name = new_name.clone();
                *version = None;
                if alias.is_none() {
                    *alias = Some(TableAlias { explicit: false, name: default_alias.clone(), columns: vec![], at: None });
                }
            }
        }
        ControlFlow::Continue(())
    }
}
