//! CREATE TABLE (with columns, AS SELECT, or over an existing Delta table) and DROP TABLE.
//!
//! Order of work, for crash safety: the Delta table is created first, in a fresh directory,
//! and registered in the catalog second with put-if-absent. A crash in between leaves an
//! unregistered directory (which VACUUM-style cleanup may remove), never a name without a log.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema};
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::operations::create::CreateBuilder;
use deltalake::operations::write::{SchemaMode, WriteBuilder};
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder};
use sqlparser::ast::ObjectName;
use tarn_catalog::{CatalogError, TableEntry, TableIdent, TableKind};
use tarn_engine::open_table;
use url::Url;

use crate::ast::{ColumnSpec, CreateTable};
use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::resolve::TableName;
use crate::session::Session;
use crate::types::arrow_type;

use super::util::delete_table_files;

/// The Arrow schema of a column list, with comments and CHAR / VARCHAR lengths as field
/// metadata (as Delta and Spark store them).
pub(crate) fn arrow_schema(columns: &[ColumnSpec]) -> Result<Schema> {
    let mut seen = std::collections::HashSet::new();
    let mut fields = Vec::with_capacity(columns.len());
    for column in columns {
        let name = normalize_column(&column.name);
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(SqlError::user(format!("column '{name}' is specified more than once")));
        }
        let mut field = Field::new(&name, arrow_type(&column.data_type)?, !column.not_null);
        let mut metadata = HashMap::new();
        if let Some(comment) = &column.comment {
            metadata.insert("comment".to_string(), comment.clone());
        }
        if let Some(expr) = &column.generated {
            metadata.insert(GENERATION_EXPRESSION.to_string(), crate::parser::sql_text(&super::util::normalize_idents(expr)));
        }
        if let Some(declared) = crate::types::char_type(&column.data_type)? {
            metadata.insert(tarn_engine::spark::char_varchar::TYPE_METADATA_KEY.to_string(), declared.name());
        }
        if !metadata.is_empty() {
            field = field.with_metadata(metadata);
        }
        if let Some(name) = &column.collation {
            let collation = tarn_engine::spark::collations::Collation::parse(name).map_err(SqlError::user)?;
            if !tarn_engine::spark::collations::is_string(field.data_type()) || crate::types::char_type(&column.data_type)?.is_some() {
                return Err(SqlError::user(format!(
                    "COLLATE {name}: column '{}' is not a STRING; only strings have collations",
                    field.name()
                )));
            }
            field = collation.on_field(field);
        }
        fields.push(field);
    }
    Ok(Schema::new(fields))
}

/// Where Delta keeps a generated column's expression (Spark SQL text).
pub(crate) const GENERATION_EXPRESSION: &str = "delta.generationExpression";

/// Check each generated column's expression against the table's other columns before anything
/// is written: it must plan, read no generated column, call nothing nondeterministic, and give
/// a value of the column's type (or one that casts to it).
fn check_generated_columns(session: &Session, columns: &[ColumnSpec], schema: &Schema) -> Result<()> {
    let generated: Vec<&ColumnSpec> = columns.iter().filter(|c| c.generated.is_some()).collect();
    if generated.is_empty() {
        return Ok(());
    }
    let base: Vec<Field> =
        schema.fields().iter().filter(|f| !f.metadata().contains_key(GENERATION_EXPRESSION)).map(|f| f.as_ref().clone()).collect();
    let df_schema = datafusion::common::DFSchema::try_from(Schema::new(base))?;
    for column in generated {
        let Some(expr) = &column.generated else { continue };
        let planned = super::util::table_expr(&session.base, expr, &df_schema).map_err(|e| {
            SqlError::user(format!("[DELTA_INVALID_GENERATED_COLUMN] column '{}' GENERATED ALWAYS AS ({expr}): {e}", column.name.value))
        })?;
        if planned.is_volatile() {
            return Err(SqlError::user(format!(
                "[DELTA_NON_DETERMINISTIC_EXPRESSION_IN_GENERATED_COLUMN] column '{}': ({expr}) is not deterministic",
                column.name.value
            )));
        }
        let from = datafusion::logical_expr::ExprSchemable::get_type(&planned, &df_schema)?;
        let to = arrow_type(&column.data_type)?;
        if from != to && !arrow::compute::can_cast_types(&from, &to) {
            return Err(SqlError::user(format!(
                "[DELTA_GENERATED_COLUMNS_EXPR_TYPE_MISMATCH] column '{}' is {} but ({expr}) gives {from}",
                column.name.value, column.data_type
            )));
        }
    }
    Ok(())
}

/// Unquoted column names are case-insensitive and stored lower-case, like table names.
pub(crate) fn normalize_column(ident: &sqlparser::ast::Ident) -> String {
    if ident.quote_style.is_some() { ident.value.clone() } else { ident.value.to_ascii_lowercase() }
}

pub(crate) fn delta_schema(schema: &Schema) -> Result<StructType> {
    let kernel: StructType = schema.try_into_kernel().map_err(|e| SqlError::user(format!("cannot store this schema in Delta: {e}")))?;
    collations_as_objects(kernel)
}

/// A column's `__COLLATIONS` is a JSON object in Delta's schema (Arrow metadata holds it as text).
fn collations_as_objects(schema: StructType) -> Result<StructType> {
    use deltalake::kernel::{MetadataValue, StructField};
    use tarn_engine::spark::collations::METADATA_KEY;
    if !schema.fields().any(|f| f.metadata().contains_key(METADATA_KEY)) {
        return Ok(schema);
    }
    let fields: Vec<StructField> = schema
        .fields()
        .map(|field| {
            let mut field = field.clone();
            if let Some(MetadataValue::String(text)) = field.metadata().get(METADATA_KEY) {
                let object: serde_json::Value = serde_json::from_str(text)
                    .map_err(|e| SqlError::user(format!("column '{}': its collation is not readable: {e}", field.name())))?;
                if object.to_string().contains("INDETERMINATE") {
                    return Err(SqlError::user(format!(
                        "[INDETERMINATE_COLLATION_IN_SCHEMA] column '{}' mixes strings of different collations; COLLATE it to one",
                        field.name()
                    )));
                }
                field.metadata.insert(METADATA_KEY.to_string(), MetadataValue::Other(object));
            }
            Ok(field)
        })
        .collect::<Result<_>>()?;
    StructType::try_new(fields).map_err(|e| SqlError::user(format!("cannot store this schema in Delta: {e}")))
}

/// The table properties of a new table: the user's, plus the change data feed on unless
/// they say otherwise (Tarn's tables are streams too; see `table_changes`).
fn configuration(properties: &[(String, String)]) -> HashMap<String, Option<String>> {
    let mut out: HashMap<String, Option<String>> = properties.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
    if !properties.iter().any(|(k, _)| k.eq_ignore_ascii_case(tarn_engine::CHANGE_DATA_FEED)) {
        out.insert(tarn_engine::CHANGE_DATA_FEED.to_string(), Some("true".to_string()));
    }
    out
}

/// Reject table properties Tarn reads itself when their values are unusable, before anything is
/// written (delta-rs would store them and silently fall back to its default).
pub(crate) fn check_properties<'a>(properties: impl IntoIterator<Item = (&'a String, &'a String)>) -> Result<()> {
    for (key, value) in properties {
        if key == crate::session::TARGET_FILE_SIZE_PROPERTY && value.trim().parse::<std::num::NonZeroU64>().is_err() {
            return Err(SqlError::user(format!(
                "{key} must be a whole number of bytes above 0, e.g. '134217728' for 128 MiB; got '{value}'"
            )));
        }
    }
    Ok(())
}

/// Formats Databricks writes a non-Delta table in for `USING <format>`. Tarn makes a Delta table
/// instead (its data files are Parquet) and says so in a notice, as the issue tracker agreed.
const FILE_FORMATS: [&str; 6] = ["parquet", "csv", "json", "orc", "text", "avro"];

pub(crate) async fn create_table(session: &mut Session, mut create: CreateTable) -> Result<StatementOutput> {
    if create.using.as_deref().is_some_and(|u| u.eq_ignore_ascii_case("deltasharing")) {
        return create_shared_table(session, create).await;
    }
    if let Some(using) = &create.using
        && !using.eq_ignore_ascii_case("delta")
    {
        if !FILE_FORMATS.iter().any(|f| using.eq_ignore_ascii_case(f)) {
            return Err(SqlError::user(format!(
                "USING {using}: Tarn tables are Delta tables; use USING DELTA (or omit USING), or USING deltaSharing \
                 with LOCATION '<profile file>#<share>.<schema>.<table>' for a table shared with you"
            )));
        }
        // Existing files in another format are not a table Tarn can commit to: making an
        // empty Delta table over them would hide them.
        if create.location.is_some() {
            return Err(SqlError::user(format!(
                "USING {using} with LOCATION: Tarn tables are Delta tables and cannot take over {using} files in place; \
                 create a Delta table and load the files with COPY INTO t FROM '<location>' FILEFORMAT = PARQUET | CSV | JSON"
            )));
        }
        session.notice(format!(
            "USING {using}: Tarn stores every table as Delta (Parquet data files with a transaction log), so this is a Delta table"
        ));
    }
    let copied = super::create_like::copy_definition(session, &mut create).await?;
    let copied = copied.as_ref();
    check_properties(create.properties.iter().map(|(k, v)| (k, v)))?;
    for (key, value) in &create.properties {
        if key.eq_ignore_ascii_case(super::column_mapping::MODE_KEY) && !matches!(value.to_ascii_lowercase().as_str(), "name" | "none") {
            return Err(SqlError::Unsupported(format!(
                "column mapping mode '{value}' is not supported by Tarn; use 'name' (as Databricks does)"
            )));
        }
    }
    let ident = match session.table_name(&create.name)? {
        TableName::Path(url) => {
            create_delta(session, &create, copied, &url, None, None).await?;
            return Ok(StatementOutput::empty());
        }
        // Tarn's own `system` catalog takes tables only from the warehouse administrator
        // (the local CLI and the server's internals, which run without a principal).
        TableName::Catalog(ident) if ident.catalog == tarn_catalog::SYSTEM_CATALOG && session.principal().is_none() => {
            TableIdent::validated("main", &ident.schema, &ident.table).map(|v| TableIdent::new(ident.catalog.clone(), v.schema, v.table))?
        }
        TableName::Catalog(ident) => TableIdent::validated(&ident.catalog, &ident.schema, &ident.table)?,
    };
    if session.catalog.get_schema(&ident.catalog, &ident.schema).await?.is_none() {
        return Err(CatalogError::SchemaNotFound(format!("{}.{}", ident.catalog, ident.schema)).into());
    }
    if let Some(existing) = session.catalog.get_table(&ident).await? {
        if create.if_not_exists {
            return Ok(StatementOutput::empty());
        }
        if !create.or_replace {
            return Err(CatalogError::AlreadyExists { kind: "table", name: ident.to_string() }.into());
        }
        let table = open_table(&existing.location_url()?, None).await?;
        create_delta(session, &create, copied, &existing.location_url()?, Some(table), Some(&ident)).await?;
        return Ok(StatementOutput::empty());
    }

    let id = uuid::Uuid::new_v4().to_string();
    let (location, kind) = match &create.location {
        Some(location) => {
            let url = tarn_storage::resolve_location(location).map_err(CatalogError::from)?;
            (url, TableKind::External)
        }
        None => (session.catalog.managed_location(&ident, &id)?, TableKind::Managed),
    };
    session.catalog.check_location_free(&location).await?;

    let mut created_here = false;
    if kind == TableKind::External && tarn_engine::table_exists(&location).await? {
        // Register an existing Delta table; its schema comes from its log.
        let existing = open_table(&location, None).await?;
        if !create.columns.is_empty() {
            check_declared_schema(&create.columns, &existing)?;
        }
        if create.like.is_some() {
            return Err(SqlError::user(format!("{location} already holds a Delta table; CREATE TABLE ... LIKE needs an empty location")));
        }
        if create.query.is_some() {
            return Err(SqlError::user(format!(
                "{location} already holds a Delta table; CREATE TABLE ... AS SELECT needs an empty location"
            )));
        }
    } else {
        create_delta(session, &create, copied, &location, None, Some(&ident)).await?;
        created_here = true;
    }

    register_new(session, &ident, id, &location, kind, created_here).await?;
    Ok(StatementOutput::empty())
}

/// Register a table whose Delta log now exists. If the name was taken meanwhile (another
/// process won the race), remove the managed directory this statement created.
pub(crate) async fn register_new(
    session: &Session,
    ident: &TableIdent,
    id: String,
    location: &Url,
    kind: TableKind,
    created_here: bool,
) -> Result<()> {
    let entry = TableEntry {
        catalog: ident.catalog.clone(),
        schema: ident.schema.clone(),
        name: ident.table.clone(),
        id,
        location: location.to_string(),
        kind,
        created_at: chrono::Utc::now().timestamp_millis(),
    };
    if let Err(e) = session.catalog.register_table(&entry).await {
        if created_here && kind == TableKind::Managed {
            delete_table_files(location).await?;
        }
        return Err(e.into());
    }
    super::access::record_owner(session, &tarn_catalog::Securable::table(&entry)).await
}

/// Create (or, with `existing`, replace) the Delta table at `location`.
async fn create_delta(
    session: &Session,
    create: &CreateTable,
    copied: Option<&super::create_like::CopiedDefinition>,
    location: &Url,
    existing: Option<DeltaTable>,
    ident: Option<&TableIdent>,
) -> Result<DeltaTable> {
    let partition_columns: Vec<String> = create.partitioned_by.iter().map(normalize_column).collect();
    let name = ident.map(|i| i.table.clone());
    if let Some(query) = &create.query {
        let (state, plan) = session.plan_query(query).await?;
        let plan = if create.columns.is_empty() {
            // Spark's CTAS columns are all nullable, whatever the query's literals imply.
            let exprs: Vec<_> = plan
                .schema()
                .iter()
                .map(|(qualifier, field)| {
                    let column = datafusion::logical_expr::Expr::Column(datafusion::common::Column::from((qualifier, field)));
                    tarn_engine::spark::not_null::nullable(column).alias(field.name())
                })
                .collect();
            datafusion::logical_expr::LogicalPlanBuilder::from(plan).project(exprs)?.build()?
        } else {
            let target = Arc::new(arrow_schema(&create.columns)?);
            super::write::align_to_schema(plan, &target, &[], "CREATE TABLE AS SELECT")?
        };
        for p in &partition_columns {
            if plan.schema().field_with_unqualified_name(p).is_err() {
                return Err(SqlError::user(format!("partition column '{p}' is not a column of the query")));
            }
        }
        let (log_store, snapshot, mode) = match &existing {
            Some(table) => (table.log_store(), Some(table.snapshot()?.snapshot().clone()), SaveMode::Overwrite),
            None => (DeltaTableBuilder::from_url(location.clone())?.build()?.log_store(), None, SaveMode::ErrorIfExists),
        };
        let properties: HashMap<String, String> = create.properties.iter().cloned().collect();
        let mut builder = WriteBuilder::new(log_store, snapshot)
            .with_target_file_size(session.target_file_size(&properties))
            .with_custom_execute_handler(tarn_engine::post_commit_hooks())
            .with_writer_properties(session.writer_properties())
            .with_commit_properties(tarn_engine::commit_properties())
            .with_input_plan(plan)
            .with_session_state(Arc::new(state))
            .with_save_mode(mode)
            .with_configuration(configuration(&create.properties));
        if !partition_columns.is_empty() {
            builder = builder.with_partition_columns(partition_columns);
        }
        if existing.is_some() {
            builder = builder.with_schema_mode(SchemaMode::Overwrite);
        }
        if let Some(name) = name {
            builder = builder.with_table_name(name);
        }
        if let Some(comment) = &create.comment {
            builder = builder.with_description(comment.clone());
        }
        return Ok(builder.await?);
    }

    let fields: Vec<deltalake::kernel::StructField> = match copied {
        Some(copied) => copied.fields.clone(),
        None if create.columns.is_empty() => {
            return Err(SqlError::user(
                "CREATE TABLE needs a column list, AS SELECT ..., LIKE another table, or a LOCATION that holds an existing Delta table",
            ));
        }
        None => {
            let schema = arrow_schema(&create.columns)?;
            check_generated_columns(session, &create.columns, &schema)?;
            delta_schema(&schema)?.fields().cloned().collect()
        }
    };
    for p in &partition_columns {
        if !fields.iter().any(|f| f.name() == p) {
            return Err(SqlError::user(format!("partition column '{p}' is not one of the table's columns")));
        }
    }
    let mut builder = CreateBuilder::new()
        .with_location(location.to_string())
        .with_columns(fields)
        .with_partition_columns(partition_columns)
        .with_configuration(configuration(&create.properties))
        .with_raise_if_key_not_exists(false)
        .with_custom_execute_handler(tarn_engine::post_commit_hooks())
        .with_commit_properties(tarn_engine::commit_properties())
        .with_save_mode(if existing.is_some() { SaveMode::Overwrite } else { SaveMode::ErrorIfExists });
    if let Some(table) = &existing {
        builder = builder.with_log_store(table.log_store());
    }
    if let Some(protocol) = copied.and_then(|c| c.protocol.clone()) {
        builder = builder.with_actions(vec![deltalake::kernel::Action::Protocol(protocol)]);
    }
    if let Some(name) = name {
        builder = builder.with_table_name(name);
    }
    if let Some(comment) = &create.comment {
        builder = builder.with_comment(comment.clone());
    }
    Ok(builder.await?)
}

fn check_declared_schema(columns: &[ColumnSpec], existing: &DeltaTable) -> Result<()> {
    let declared = arrow_schema(columns)?;
    let actual = existing.snapshot()?.snapshot().arrow_schema();
    let same = declared.fields().len() == actual.fields().len()
        && declared.fields().iter().zip(actual.fields()).all(|(d, a)| {
            d.name().eq_ignore_ascii_case(a.name())
                && crate::types::spark_type_name(d.data_type()) == crate::types::spark_type_name(a.data_type())
        });
    if !same {
        return Err(SqlError::user(format!(
            "the declared columns do not match the existing Delta table at {}; omit the column list to use its schema",
            existing.table_url()
        )));
    }
    Ok(())
}

pub(crate) async fn drop_table(session: &mut Session, name: &ObjectName, if_exists: bool) -> Result<StatementOutput> {
    let ident = match session.table_name(name)? {
        TableName::Catalog(ident) => ident,
        TableName::Path(url) => {
            return Err(SqlError::user(format!("{url} is a path, not a registered table; DROP TABLE removes catalog tables")));
        }
    };
    match session.catalog.unregister_table(&ident).await? {
        None if session.catalog.get_view(&ident).await?.is_some() => {
            Err(SqlError::user(format!("[WRONG_COMMAND_FOR_OBJECT_TYPE] '{ident}' is a view, not a table; use DROP VIEW")))
        }
        None if if_exists => Ok(StatementOutput::empty()),
        None => {
            session.catalog.require_table(&ident).await?;
            Ok(StatementOutput::empty())
        }
        Some(entry) => {
            if entry.kind == TableKind::Managed {
                delete_table_files(&entry.location_url()?).await?;
            }
            Ok(StatementOutput::empty())
        }
    }
}

/// `CREATE TABLE t USING deltaSharing LOCATION 'profile.share#share.schema.table'`: register a
/// table another organisation shares with us. Its schema and data come from the sharing server
/// at every read; the server is asked now, so a wrong profile or table fails here.
async fn create_shared_table(session: &mut Session, create: CreateTable) -> Result<StatementOutput> {
    let Some(location) = &create.location else {
        return Err(SqlError::user("USING deltaSharing needs LOCATION '<profile file>#<share>.<schema>.<table>'"));
    };
    if !create.columns.is_empty() || create.query.is_some() || !create.partitioned_by.is_empty() || !create.properties.is_empty() {
        return Err(SqlError::user(
            "a shared table takes its columns, partitions and properties from the share; give only LOCATION (and COMMENT)",
        ));
    }
    let ident = match session.table_name(&create.name)? {
        TableName::Catalog(ident) => TableIdent::validated(&ident.catalog, &ident.schema, &ident.table)?,
        TableName::Path(_) => return Err(SqlError::user("a shared table needs a table name, not a path")),
    };
    if session.catalog.get_schema(&ident.catalog, &ident.schema).await?.is_none() {
        return Err(CatalogError::SchemaNotFound(format!("{}.{}", ident.catalog, ident.schema)).into());
    }
    if session.catalog.get_table(&ident).await?.is_some() {
        if create.if_not_exists {
            return Ok(StatementOutput::empty());
        }
        return Err(CatalogError::AlreadyExists { kind: "table", name: ident.to_string() }.into());
    }
    let shared = tarn_sharing::SharedLocation::parse(location)?;
    let remote = tarn_sharing::RemoteTable::new(shared.clone(), &tarn_sharing::RemoteTable::default_cache_root())?;
    remote.version().await?;
    let url = shared.to_url()?;
    register_new(session, &ident, uuid::Uuid::new_v4().to_string(), &url, TableKind::Sharing, false).await?;
    Ok(StatementOutput::empty())
}
