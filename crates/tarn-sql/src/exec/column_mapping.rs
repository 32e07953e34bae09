//! Delta column mapping (`delta.columnMapping.mode = 'name'`): a column's data lives in the
//! Parquet files under a physical name that never changes, so renaming or dropping a column is
//! a metadata commit and no file is rewritten — as on Databricks.
//!
//! - New tables may be created with the mode (delta-rs assigns ids and physical names).
//! - `SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name')` turns it on for an existing table
//!   as Delta does: each column keeps its current name as its physical name, gets an id, and the
//!   protocol is upgraded (reader 2 / writer 5, or the `columnMapping` table feature) in the
//!   same commit. It cannot be turned off again.
//! - `RENAME COLUMN`, `DROP COLUMN[S]` and `ADD COLUMNS` on such a table change the schema only
//!   (a new column gets a fresh id and a `col-<uuid>` physical name).

use std::collections::HashMap;

use deltalake::kernel::{Action, DataType, Metadata, MetadataExt, MetadataValue, Protocol, StructField, StructType};
use deltalake::protocol::DeltaOperation;
use sqlparser::ast::Ident;

use crate::error::{Result, SqlError};
use crate::resolve::Target;

pub(crate) const MODE_KEY: &str = "delta.columnMapping.mode";
pub(crate) const MAX_ID_KEY: &str = "delta.columnMapping.maxColumnId";
pub(crate) const ID_KEY: &str = "delta.columnMapping.id";
/// Where a column's values live in the data files.
pub(crate) const PHYSICAL_NAME_KEY: &str = "delta.columnMapping.physicalName";

/// Whether the table maps its columns by name.
pub(crate) fn is_mapped(target: &Target) -> Result<bool> {
    let state = target.table.snapshot()?;
    Ok(state.metadata().configuration().get(MODE_KEY).is_some_and(|m| m.eq_ignore_ascii_case("name")))
}

/// `ALTER TABLE t SET TBLPROPERTIES (..)` when it names the column mapping mode: turn it on (with
/// the other properties, in one commit). Turning it off, or the `id` mode, is refused.
pub(crate) async fn set_properties_with_mode(target: &Target, properties: HashMap<String, String>) -> Result<()> {
    let wanted = properties.iter().find(|(k, _)| k.eq_ignore_ascii_case(MODE_KEY)).map(|(_, v)| v.to_ascii_lowercase()).unwrap_or_default();
    let mapped = is_mapped(target)?;
    match (wanted.as_str(), mapped) {
        ("name", _) => {}
        ("none", false) => {}
        ("none", true) => {
            return Err(SqlError::Unsupported(format!(
                "[DELTA_UNSUPPORTED_COLUMN_MAPPING_MODE_CHANGE] {} maps its columns by name; turning column mapping off would \
                 need every file rewritten. CREATE TABLE .. AS SELECT * FROM {} makes a copy without it",
                target.display, target.display
            )));
        }
        (other, _) => {
            return Err(SqlError::Unsupported(format!(
                "column mapping mode '{other}' is not supported by Tarn; use 'name' (as Databricks does)"
            )));
        }
    }
    let state = target.table.snapshot()?;
    let mut metadata = state.metadata().clone();
    let mut actions = Vec::new();
    if wanted == "name" && !mapped {
        let mut max_id = 0;
        let fields: Vec<StructField> = state.schema().fields().map(|f| with_mapping(f, &mut max_id)).collect::<Result<_>>()?;
        metadata = metadata.with_schema(&struct_type(fields)?).map_err(deltalake::DeltaTableError::from)?;
        metadata = metadata.add_config_key(MAX_ID_KEY.to_string(), max_id.to_string()).map_err(deltalake::DeltaTableError::from)?;
        actions.push(Action::Protocol(with_column_mapping_feature(state.protocol())?));
    }
    for (key, value) in &properties {
        let key = if key.eq_ignore_ascii_case(MODE_KEY) { MODE_KEY.to_string() } else { key.clone() };
        let value = if key == MODE_KEY { wanted.clone() } else { value.clone() };
        metadata = metadata.add_config_key(key, value).map_err(deltalake::DeltaTableError::from)?;
    }
    actions.insert(0, Action::Metadata(metadata));
    commit(target, actions, DeltaOperation::SetTableProperties { properties }).await
}

/// `ALTER TABLE t RENAME COLUMN a TO b` (and Hive's `CHANGE a b type`).
pub(crate) async fn rename_column(target: &Target, from: &Ident, to: &Ident) -> Result<()> {
    require_mapping(target, "RENAME COLUMN")?;
    let state = target.table.snapshot()?;
    let mut fields: Vec<StructField> = state.schema().fields().cloned().collect();
    let index = position(&fields, &from.value)?;
    let old = fields[index].name().clone();
    if fields.iter().enumerate().any(|(i, f)| i != index && f.name().eq_ignore_ascii_case(&to.value)) {
        return Err(SqlError::user(format!("[COLUMN_ALREADY_EXISTS] {} already has a column '{}'", target.display, to.value)));
    }
    refuse_if_constrained(state.metadata(), &old, "rename")?;
    fields[index].name = to.value.clone();
    let renamed = fields[index].clone();
    let partitions: Vec<String> =
        state.metadata().partition_columns().iter().map(|p| if *p == old { to.value.clone() } else { p.clone() }).collect();
    let metadata = with_schema_and_partitions(state.metadata().clone(), struct_type(fields)?, partitions)?;
    commit(target, vec![Action::Metadata(metadata)], DeltaOperation::DropColumnNotNull { column: renamed }).await
}

/// `ALTER TABLE t DROP COLUMN[S] [IF EXISTS] (a, b)`.
pub(crate) async fn drop_columns(target: &Target, columns: &[Ident], if_exists: bool) -> Result<()> {
    require_mapping(target, "DROP COLUMN")?;
    let state = target.table.snapshot()?;
    let mut fields: Vec<StructField> = state.schema().fields().cloned().collect();
    let mut dropped = Vec::new();
    for column in columns {
        let index = match position(&fields, &column.value) {
            Ok(i) => i,
            Err(_) if if_exists => continue,
            Err(e) => return Err(e),
        };
        let name = fields[index].name().clone();
        if state.metadata().partition_columns().contains(&name) {
            return Err(SqlError::user(format!(
                "[DELTA_UNSUPPORTED_DROP_PARTITION_COLUMN] '{name}' partitions {}; a partition column cannot be dropped",
                target.display
            )));
        }
        refuse_if_constrained(state.metadata(), &name, "drop")?;
        dropped.push(fields.remove(index));
    }
    let Some(first) = dropped.first().cloned() else { return Ok(()) };
    if fields.is_empty() {
        return Err(SqlError::user(format!("[DELTA_DROP_COLUMN_ON_SINGLE_FIELD_SCHEMA] {} would have no columns left", target.display)));
    }
    let partitions = state.metadata().partition_columns().to_vec();
    let metadata = with_schema_and_partitions(state.metadata().clone(), struct_type(fields)?, partitions)?;
    commit(target, vec![Action::Metadata(metadata)], DeltaOperation::DropColumnNotNull { column: first }).await
}

/// `ALTER TABLE t ADD COLUMNS (..)` on a mapped table: each new column (and nested field) gets
/// the next id and a physical name of its own.
pub(crate) async fn add_columns(target: &Target, new: Vec<StructField>) -> Result<()> {
    let state = target.table.snapshot()?;
    let mut max_id: i64 = state.metadata().configuration().get(MAX_ID_KEY).and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut fields: Vec<StructField> = state.schema().fields().cloned().collect();
    let first = new.first().cloned();
    for field in new {
        let mut field = with_mapping(&field, &mut max_id)?;
        field.metadata.insert(PHYSICAL_NAME_KEY.to_string(), MetadataValue::String(format!("col-{}", uuid::Uuid::new_v4())));
        fields.push(field);
    }
    let Some(first) = first else { return Ok(()) };
    let metadata = state
        .metadata()
        .clone()
        .with_schema(&struct_type(fields)?)
        .and_then(|m| m.add_config_key(MAX_ID_KEY.to_string(), max_id.to_string()))
        .map_err(deltalake::DeltaTableError::from)?;
    commit(target, vec![Action::Metadata(metadata)], DeltaOperation::AddColumn { fields: vec![first] }).await
}

pub(crate) fn require_mapping(target: &Target, what: &str) -> Result<()> {
    if is_mapped(target)? {
        return Ok(());
    }
    Err(SqlError::Unsupported(format!(
        "[DELTA_UNSUPPORTED_{}] {what} needs Delta column mapping, so that no file is rewritten; turn it on with \
         ALTER TABLE {} SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name') (readers of Delta 1.2 and later read such tables)",
        what.replace(' ', "_"),
        target.display
    )))
}

fn position(fields: &[StructField], name: &str) -> Result<usize> {
    fields.iter().position(|f| f.name().eq_ignore_ascii_case(name)).ok_or_else(|| {
        let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
        super::write::unknown_column(name, &names)
    })
}

/// A CHECK constraint names columns in its SQL text; one that names `column` must go first.
pub(crate) fn refuse_if_constrained(metadata: &Metadata, column: &str, verb: &str) -> Result<()> {
    for (key, expression) in metadata.configuration() {
        let Some(name) = key.strip_prefix("delta.constraints.") else { continue };
        let names_it = expression.split(|c: char| !(c.is_alphanumeric() || c == '_')).any(|word| word.eq_ignore_ascii_case(column));
        if names_it {
            return Err(SqlError::user(format!(
                "[DELTA_CONSTRAINT_DEPENDENT_COLUMN_CHANGE] cannot {verb} column '{column}': CHECK constraint {name} ({expression}) \
                 uses it; ALTER TABLE .. DROP CONSTRAINT {name} first"
            )));
        }
    }
    Ok(())
}

/// `field` with an id (the next after `max_id`) and, unless it has one, its own name as its
/// physical name — the files written so far hold it under that name. Nested fields too.
fn with_mapping(field: &StructField, max_id: &mut i64) -> Result<StructField> {
    let mut field = field.clone();
    if !field.metadata.contains_key(ID_KEY) {
        *max_id += 1;
        field.metadata.insert(ID_KEY.to_string(), MetadataValue::Number(*max_id));
    }
    field.metadata.entry(PHYSICAL_NAME_KEY.to_string()).or_insert_with(|| MetadataValue::String(field.name.clone()));
    field.data_type = nested_with_mapping(&field.data_type, max_id)?;
    Ok(field)
}

fn nested_with_mapping(data_type: &DataType, max_id: &mut i64) -> Result<DataType> {
    Ok(match data_type {
        DataType::Struct(inner) => {
            let fields: Vec<StructField> = inner.fields().map(|f| with_mapping(f, max_id)).collect::<Result<_>>()?;
            DataType::Struct(Box::new(struct_type(fields)?))
        }
        DataType::Array(array) => DataType::Array(Box::new(deltalake::kernel::ArrayType::new(
            nested_with_mapping(array.element_type(), max_id)?,
            array.contains_null(),
        ))),
        DataType::Map(map) => DataType::Map(Box::new(deltalake::kernel::MapType::new(
            nested_with_mapping(map.key_type(), max_id)?,
            nested_with_mapping(map.value_type(), max_id)?,
            map.value_contains_null(),
        ))),
        other => other.clone(),
    })
}

fn struct_type(fields: Vec<StructField>) -> Result<StructType> {
    StructType::try_new(fields).map_err(|e| SqlError::user(format!("the new schema is not valid: {e}")))
}

/// `protocol` with column mapping supported: the `columnMapping` feature where the protocol
/// lists features, else reader version 2 and writer version 5. (delta-rs builds protocols only
/// inside its own operations; the action's JSON is the protocol's own, stable form.)
fn with_column_mapping_feature(protocol: &Protocol) -> Result<Protocol> {
    let invalid = |e: serde_json::Error| SqlError::Internal(format!("protocol action: {e}"));
    let mut json = serde_json::to_value(protocol).map_err(invalid)?;
    let object = json.as_object_mut().ok_or_else(|| SqlError::Internal("protocol action is not an object".into()))?;
    for (version_key, features_key, legacy) in [("minReaderVersion", "readerFeatures", 2), ("minWriterVersion", "writerFeatures", 5)] {
        let version = object.get(version_key).and_then(|v| v.as_i64()).unwrap_or(1);
        let modern = if version_key == "minReaderVersion" { version >= 3 } else { version >= 7 };
        if modern {
            let features = object.entry(features_key).or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let Some(list) = features.as_array_mut()
                && !list.iter().any(|f| f == "columnMapping")
            {
                list.push(serde_json::Value::String("columnMapping".into()));
            }
        } else {
            object.insert(version_key.to_string(), serde_json::Value::from(version.max(legacy)));
        }
    }
    serde_json::from_value(json).map_err(invalid)
}

pub(crate) fn with_schema_and_partitions(metadata: Metadata, schema: StructType, partitions: Vec<String>) -> Result<Metadata> {
    // delta-rs sets a schema, not partition columns: those go through the action's JSON.
    let metadata = metadata.with_schema(&schema).map_err(deltalake::DeltaTableError::from)?;
    let invalid = |e: serde_json::Error| SqlError::Internal(format!("metadata action: {e}"));
    let mut json = serde_json::to_value(&metadata).map_err(invalid)?;
    if let Some(object) = json.as_object_mut() {
        object.insert("partitionColumns".to_string(), serde_json::json!(partitions));
    }
    serde_json::from_value(json).map_err(invalid)
}

async fn commit(target: &Target, actions: Vec<Action>, operation: DeltaOperation) -> Result<()> {
    super::alter_column::commit_definition(target, actions, operation, false).await
}
