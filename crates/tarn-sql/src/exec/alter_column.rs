//! `ALTER TABLE t ALTER | CHANGE COLUMN c ...`, `COMMENT ON TABLE | COLUMN`: changes to a
//! table's definition that rewrite no data file — one Delta commit of a new `metaData` action.
//!
//! A rename needs Delta column mapping (`column_mapping`); a different type would rewrite every
//! file and is refused with what to do instead, as Databricks does without type widening.

use datafusion::prelude::col;
use deltalake::kernel::transaction::{CommitBuilder, TableReference};
use deltalake::kernel::{Action, Metadata, MetadataExt, MetadataValue, StructField, StructType};
use deltalake::protocol::DeltaOperation;
use sqlparser::ast::{Ident, ObjectName};

use crate::ast::ColumnChange;
use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::resolve::{TableName, Target};
use crate::session::Session;

const COMMENT_KEY: &str = "comment";

/// `COMMENT ON TABLE | VIEW name IS 'text' | NULL`: a table's description in its Delta
/// metadata, a view's comment in the catalog.
pub(crate) async fn set_table_comment(session: &mut Session, name: &ObjectName, comment: Option<String>) -> Result<StatementOutput> {
    if let TableName::Catalog(ident) = session.table_name(name)?
        && session.catalog.get_table(&ident).await?.is_none()
        && let Some(view) = session.catalog.get_view(&ident).await?
    {
        session.catalog.replace_view(&tarn_catalog::ViewEntry { comment, ..view }).await?;
        return Ok(StatementOutput::empty());
    }
    let target = session.open_target(name, None).await?;
    let state = target.table.snapshot()?;
    let metadata = with_description(state.metadata().clone(), comment.clone())?;
    let update = deltalake::operations::update_table_metadata::TableMetadataUpdate { name: None, description: comment };
    commit_definition(&target, vec![Action::Metadata(metadata)], DeltaOperation::UpdateTableMetadata { metadata_update: update }, false)
        .await?;
    Ok(StatementOutput::empty())
}

/// `ALTER TABLE t ALTER | CHANGE COLUMN c ...`: every change checked first, then one commit.
pub(crate) async fn alter_column(
    session: &mut Session,
    target: &Target,
    column: &Ident,
    changes: Vec<ColumnChange>,
) -> Result<StatementOutput> {
    let state = target.table.snapshot()?;
    let schema = state.schema();
    let mut fields: Vec<StructField> = schema.fields().cloned().collect();
    let index = fields.iter().position(|f| f.name().eq_ignore_ascii_case(&column.value)).ok_or_else(|| {
        let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
        super::write::unknown_column(&column.value, &names)
    })?;
    let mut field = fields.remove(index);
    let mut position = index;
    let mut check_not_null = false;
    for change in changes {
        match change {
            ColumnChange::Comment(Some(text)) => {
                field.metadata.insert(COMMENT_KEY.to_string(), MetadataValue::String(text));
            }
            ColumnChange::Comment(None) => {
                field.metadata.remove(COMMENT_KEY);
            }
            ColumnChange::SetNotNull => {
                check_not_null |= field.nullable;
                field.nullable = false;
            }
            ColumnChange::DropNotNull => field.nullable = true,
            ColumnChange::Type(data_type) => {
                let wanted = super::create_table::delta_schema(&arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(
                    field.name(),
                    crate::types::arrow_type(&data_type)?,
                    true,
                )]))?;
                let same = wanted.fields().next().is_some_and(|w| w.data_type() == field.data_type());
                if !same {
                    return Err(SqlError::Unsupported(format!(
                        "[DELTA_UNSUPPORTED_ALTER_TABLE_CHANGE_COL_OP] column '{}' is {}; changing its type to {data_type} would rewrite \
                         every file. Make a new table with CREATE OR REPLACE TABLE {} AS SELECT .., CAST({} AS {data_type}) AS {}, .. FROM {}",
                        field.name(),
                        field.data_type(),
                        target.display,
                        field.name(),
                        field.name(),
                        target.display
                    )));
                }
            }
            ColumnChange::Rename(new_name) => {
                if new_name.value != *field.name() {
                    super::column_mapping::require_mapping(target, "RENAME COLUMN")?;
                    if fields.iter().any(|f| f.name().eq_ignore_ascii_case(&new_name.value)) {
                        return Err(SqlError::user(format!(
                            "[COLUMN_ALREADY_EXISTS] {} already has a column '{}'",
                            target.display, new_name.value
                        )));
                    }
                    super::column_mapping::refuse_if_constrained(state.metadata(), field.name(), "rename")?;
                    field.name = new_name.value.clone();
                }
            }
            ColumnChange::Position(None) => position = 0,
            ColumnChange::Position(Some(after)) => {
                let i = fields.iter().position(|f| f.name().eq_ignore_ascii_case(&after.value)).ok_or_else(|| {
                    let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
                    super::write::unknown_column(&after.value, &names)
                })?;
                position = i + 1;
            }
            ColumnChange::SetDefault(_) | ColumnChange::DropDefault => {
                return Err(SqlError::Unsupported(format!(
                    "column DEFAULT values (ALTER COLUMN {} SET | DROP DEFAULT) are not supported by Tarn yet",
                    field.name()
                )));
            }
        }
    }
    if check_not_null {
        let nulls = super::write::count_matching(&session.base, target, Some(col(field.name()).is_null())).await?;
        if nulls > 0 {
            return Err(SqlError::ConstraintViolation(format!(
                "[DELTA_NOT_NULL_CONSTRAINT_VIOLATED] column '{}' of {} has {nulls} NULL value(s); update or delete those rows \
                 before SET NOT NULL",
                field.name(),
                target.display
            )));
        }
    }
    let changed = field.clone();
    let original = schema.fields().nth(index).map(|f| f.name().clone()).unwrap_or_default();
    let partitions: Vec<String> =
        state.metadata().partition_columns().iter().map(|p| if *p == original { changed.name().clone() } else { p.clone() }).collect();
    fields.insert(position, field);
    let schema = StructType::try_new(fields).map_err(|e| SqlError::user(format!("ALTER COLUMN: {e}")))?;
    let metadata = super::column_mapping::with_schema_and_partitions(state.metadata().clone(), schema, partitions)?;
    // A NOT NULL checked against this snapshot holds only if nothing was committed since.
    commit_definition(target, vec![Action::Metadata(metadata)], DeltaOperation::DropColumnNotNull { column: changed }, check_not_null)
        .await?;
    Ok(StatementOutput::empty())
}

/// Commit a change to the table's definition (`metaData`, perhaps `protocol`) with no data
/// files — every ALTER that rewrites none commits through here. With `exclusive`, any commit
/// since the snapshot makes this one fail instead of being retried on top of it.
pub(crate) async fn commit_definition(target: &Target, actions: Vec<Action>, operation: DeltaOperation, exclusive: bool) -> Result<()> {
    let state = target.table.snapshot()?;
    let mut properties = tarn_engine::commit_properties();
    if exclusive {
        properties = properties.with_max_retries(0);
    }
    CommitBuilder::from(properties)
        .with_post_commit_hook_handler(Some(tarn_engine::post_commit_hooks()))
        .with_actions(actions)
        .build(Some(state as &dyn TableReference), target.table.log_store(), operation)
        .await
        .map_err(|e| match e {
            deltalake::DeltaTableError::Transaction { .. } if exclusive => {
                SqlError::user(format!("{} changed while its rows were checked; run the statement again", target.display))
            }
            other => other.into(),
        })?;
    Ok(())
}

/// `metadata` with its description set, or removed with `None` (delta-rs can only set one).
fn with_description(metadata: Metadata, description: Option<String>) -> Result<Metadata> {
    if let Some(text) = description {
        return Ok(metadata.with_description(text).map_err(deltalake::DeltaTableError::from)?);
    }
    let mut json = serde_json::to_value(&metadata).map_err(|e| SqlError::user(e.to_string()))?;
    if let Some(object) = json.as_object_mut() {
        object.remove("description");
    }
    serde_json::from_value(json).map_err(|e| SqlError::user(e.to_string()))
}
