//! `CREATE TABLE t LIKE source`: a new, empty Delta table with another's definition.
//!
//! From a Delta table it copies what Databricks copies: the columns (types, nullability,
//! comments), the partitioning, the table comment, the properties (CHECK constraints are
//! properties) and the protocol. From a view it takes the columns only. The statement's own
//! `COMMENT`, `TBLPROPERTIES` and `LOCATION` win over the copied ones.

use deltalake::kernel::{ArrayType, DataType, MapType, Protocol, StructField, StructType};
use sqlparser::ast::Ident;

use super::column_mapping;
use crate::ast::CreateTable;
use crate::error::{Result, SqlError};
use crate::session::Session;

/// Field metadata that belongs to the source table's files, not to its definition: a new
/// table assigns its own column-mapping ids and physical names.
const PER_TABLE_FIELD_KEYS: [&str; 3] = [column_mapping::ID_KEY, column_mapping::PHYSICAL_NAME_KEY, "parquet.field.id"];

/// The definition `CREATE TABLE .. LIKE` takes from its source.
pub(crate) struct CopiedDefinition {
    pub fields: Vec<StructField>,
    /// The source's protocol (its reader / writer versions and table features), for a Delta source.
    pub protocol: Option<Protocol>,
}

/// Fill `create` from its `LIKE` source: partitioning, comment and properties go into the
/// statement (so every check a CREATE TABLE makes applies to them); the columns and protocol
/// are returned. `None` without `LIKE`.
pub(crate) async fn copy_definition(session: &Session, create: &mut CreateTable) -> Result<Option<CopiedDefinition>> {
    let Some(source) = create.like.clone() else { return Ok(None) };
    if !create.partitioned_by.is_empty() {
        return Err(SqlError::user(format!(
            "CREATE TABLE {} LIKE {source}: the new table takes the source's partitioning; PARTITIONED BY cannot change it",
            create.name
        )));
    }
    if let Some(schema) = super::views::view_schema(session, &source).await? {
        let fields = super::create_table::delta_schema(&schema)?.fields().cloned().collect();
        return Ok(Some(CopiedDefinition { fields, protocol: None }));
    }
    let target = session.open_target(&source, None).await?;
    let state = target.table.snapshot()?;
    let metadata = state.metadata();
    create.partitioned_by = metadata.partition_columns().iter().map(|c| Ident::with_quote('`', c)).collect();
    if create.comment.is_none() {
        create.comment = metadata.description().map(str::to_string);
    }
    let mut properties: Vec<(String, String)> = metadata
        .configuration()
        .iter()
        .filter(|(key, _)| key.as_str() != column_mapping::MAX_ID_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    properties.sort();
    // The statement's own properties come last: a later entry wins.
    properties.append(&mut create.properties);
    create.properties = properties;
    let fields = state.schema().fields().map(definition_only).collect::<Result<_>>()?;
    Ok(Some(CopiedDefinition { fields, protocol: Some(state.protocol().clone()) }))
}

/// `field` without the metadata that is the source table's own, at any depth.
fn definition_only(field: &StructField) -> Result<StructField> {
    let mut field = field.clone();
    field.metadata.retain(|key, _| !PER_TABLE_FIELD_KEYS.contains(&key.as_str()));
    field.data_type = without_table_metadata(&field.data_type)?;
    Ok(field)
}

fn without_table_metadata(data_type: &DataType) -> Result<DataType> {
    Ok(match data_type {
        DataType::Struct(inner) => {
            let fields: Vec<StructField> = inner.fields().map(definition_only).collect::<Result<_>>()?;
            DataType::Struct(Box::new(StructType::try_new(fields).map_err(|e| SqlError::user(e.to_string()))?))
        }
        DataType::Array(array) => {
            DataType::Array(Box::new(ArrayType::new(without_table_metadata(array.element_type())?, array.contains_null())))
        }
        DataType::Map(map) => DataType::Map(Box::new(MapType::new(
            without_table_metadata(map.key_type())?,
            without_table_metadata(map.value_type())?,
            map.value_contains_null(),
        ))),
        other => other.clone(),
    })
}
