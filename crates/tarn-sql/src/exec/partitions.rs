//! `SHOW PARTITIONS t [PARTITION (k = v, ..)]`, from the snapshot's file list (no data file is
//! read): one row per distinct partition, one column per partition column with its type, as
//! Databricks shows a Delta table's partitions. A table without partition columns is an error.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use sqlparser::ast::{Ident, ObjectName};

use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::session::Session;

pub(crate) async fn show_partitions(session: &mut Session, table: &ObjectName, filter: &[(Ident, String)]) -> Result<StatementOutput> {
    let target = session.open_target(table, None).await?;
    let state = target.table.snapshot()?;
    let columns = state.metadata().partition_columns().to_vec();
    if columns.is_empty() {
        return Err(SqlError::user(format!(
            "[INVALID_PARTITION_OPERATION.PARTITION_SCHEMA_IS_EMPTY] {} is not partitioned; SHOW PARTITIONS needs a table with PARTITIONED BY",
            target.display
        )));
    }
    let schema = state.schema();
    let arrow_schema = state.snapshot().arrow_schema();
    // The key each partition column's value has in the files' `partitionValues`.
    let keys: Vec<String> = columns
        .iter()
        .map(|c| match schema.field(c).and_then(|f| f.metadata().get(super::column_mapping::PHYSICAL_NAME_KEY)) {
            Some(deltalake::kernel::MetadataValue::String(physical)) => physical.clone(),
            _ => c.clone(),
        })
        .collect();
    let mut wanted: Vec<(usize, &str)> = Vec::new();
    for (column, value) in filter {
        let Some(i) = columns.iter().position(|c| c.eq_ignore_ascii_case(&column.value)) else {
            return Err(SqlError::user(format!(
                "[PARTITIONS_NOT_FOUND] '{}' is not a partition column of {}; its partition columns are {}",
                column.value,
                target.display,
                columns.join(", ")
            )));
        };
        wanted.push((i, value.as_str()));
    }
    let mut partitions: BTreeSet<Vec<Option<String>>> = BTreeSet::new();
    for file in state.log_data().iter() {
        let values = file.partition_values_map();
        let row: Vec<Option<String>> = keys.iter().map(|k| values.get(k).cloned().flatten()).collect();
        if wanted.iter().all(|(i, v)| row[*i].as_deref() == Some(*v)) {
            partitions.insert(row);
        }
    }
    let arrow = |e: arrow::error::ArrowError| SqlError::Internal(format!("SHOW PARTITIONS: {e}"));
    let mut typed: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let text: ArrayRef = Arc::new(partitions.iter().map(|row| row[i].clone()).collect::<StringArray>());
        typed.push(match arrow_schema.field_with_name(column) {
            Ok(field) => arrow::compute::cast(&text, field.data_type()).map_err(arrow)?,
            Err(_) => text,
        });
    }
    // In the values' order (numbers as numbers), not their text's.
    let sort: Vec<arrow::compute::SortColumn> =
        typed.iter().map(|values| arrow::compute::SortColumn { values: values.clone(), options: None }).collect();
    let order = arrow::compute::lexsort_to_indices(&sort, None).map_err(arrow)?;
    let mut out: Vec<(&str, ArrayRef)> = Vec::with_capacity(columns.len());
    for (column, values) in columns.iter().zip(&typed) {
        out.push((column.as_str(), arrow::compute::take(values, &order, None).map_err(arrow)?));
    }
    StatementOutput::from_columns(out)
}
