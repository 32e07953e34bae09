//! ALTER TABLE: ADD COLUMNS, SET/UNSET TBLPROPERTIES, ADD/DROP CONSTRAINT, RENAME TO; column
//! changes and comments are `alter_column`'s.

use std::collections::HashMap;
use std::sync::Arc;

use deltalake::kernel::{Action, MetadataExt};
use deltalake::protocol::DeltaOperation;
use sqlparser::ast::ObjectName;
use tarn_catalog::TableIdent;

use crate::ast::AlterOp;
use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::resolve::TableName;
use crate::session::Session;

use super::create_table::{arrow_schema, delta_schema};
use super::write::table_df_schema;

pub(crate) async fn alter_table(session: &mut Session, table: &ObjectName, op: AlterOp) -> Result<StatementOutput> {
    if let AlterOp::RenameTo(new_name) = &op {
        let TableName::Catalog(from) = session.table_name(table)? else {
            return Err(SqlError::user("RENAME TO applies to catalog tables, not paths"));
        };
        let new_name = &super::util::beside(&from, new_name);
        let TableName::Catalog(to) = session.table_name(new_name)? else {
            return Err(SqlError::user("RENAME TO needs a table name, not a path"));
        };
        let to = TableIdent::validated(&to.catalog, &to.schema, &to.table)?;
        // Postgres renames views with ALTER TABLE too (dbt does): a view is renamed as ALTER
        // VIEW would.
        if session.catalog.get_table(&from).await?.is_none() && session.catalog.get_view(&from).await?.is_some() {
            session.catalog.rename_view(&from, &to).await?;
            return Ok(StatementOutput::empty());
        }
        session.catalog.rename_table(&from, &to).await?;
        return Ok(StatementOutput::empty());
    }
    if let AlterOp::SetComment(comment) = op {
        return super::alter_column::set_table_comment(session, table, comment).await;
    }
    let target = session.open_target(table, None).await?;
    match op {
        AlterOp::AlterColumn { column, changes } => {
            return super::alter_column::alter_column(session, &target, &column, changes).await;
        }
        AlterOp::RenameColumn { from, to } => super::column_mapping::rename_column(&target, &from, &to).await?,
        AlterOp::DropColumns { columns, if_exists } => super::column_mapping::drop_columns(&target, &columns, if_exists).await?,
        AlterOp::AddColumns(columns) => {
            if let Some(c) = columns.iter().find(|c| c.not_null) {
                return Err(SqlError::user(format!(
                    "ADD COLUMNS: '{}' cannot be NOT NULL, because the existing rows have no value for it",
                    c.name
                )));
            }
            let existing = target.table.snapshot()?.snapshot().arrow_schema();
            let schema = arrow_schema(&columns)?;
            for f in schema.fields() {
                if existing.fields().iter().any(|e| e.name().eq_ignore_ascii_case(f.name())) {
                    return Err(SqlError::user(format!("ADD COLUMNS: column '{}' already exists", f.name())));
                }
            }
            let fields = delta_schema(&schema)?.fields().cloned().collect::<Vec<_>>();
            if super::column_mapping::is_mapped(&target)? {
                super::column_mapping::add_columns(&target, fields).await?;
            } else {
                target.table.clone().add_columns().with_fields(fields).await?;
            }
        }
        AlterOp::SetProperties(properties) => {
            super::create_table::check_properties(properties.iter().map(|(k, v)| (k, v)))?;
            let map: HashMap<String, String> = properties.into_iter().collect();
            if map.keys().any(|k| k.eq_ignore_ascii_case(super::column_mapping::MODE_KEY)) {
                super::column_mapping::set_properties_with_mode(&target, map).await?;
                return Ok(StatementOutput::empty());
            }
            target.table.clone().set_tbl_properties().with_properties(map).with_raise_if_not_exists(false).await?;
        }
        AlterOp::UnsetProperties { keys, if_exists } => {
            let state = target.table.snapshot()?;
            let mut metadata = state.metadata().clone();
            let mut removed = HashMap::new();
            for key in keys {
                if metadata.configuration().contains_key(&key) {
                    removed.insert(key.clone(), String::new());
                    metadata = metadata.remove_config_key(&key).map_err(deltalake::DeltaTableError::from)?;
                } else if !if_exists {
                    return Err(SqlError::user(format!(
                        "UNSET TBLPROPERTIES: the table has no property '{key}' (use IF EXISTS to ignore)"
                    )));
                }
            }
            if !removed.is_empty() {
                let operation = DeltaOperation::SetTableProperties { properties: removed };
                super::alter_column::commit_definition(&target, vec![Action::Metadata(metadata)], operation, false).await?;
            }
        }
        AlterOp::AddConstraint { name, check } => {
            let (_, df_schema) = table_df_schema(&target, &target.display)?;
            let state = session.base.clone();
            let expr = super::util::table_expr(&state, &check, &df_schema)?;
            // Validated against the schema; deltalake stores the SQL text and checks rows with
            // it as bytes, so a condition that compares under a collation is refused.
            if tarn_engine::spark::collations::compares_collated(&expr) {
                return Err(SqlError::Unsupported(format!(
                    "ADD CONSTRAINT {}: CHECK ({check}) compares collated strings, which Delta's constraint checks \
                     would compare as bytes; COLLATE them UTF8_BINARY in the condition",
                    name.value
                )));
            }
            target
                .table
                .clone()
                .add_constraint()
                .with_constraint(name.value.clone(), crate::parser::sql_text(&super::util::normalize_idents(&check)))
                .with_session_state(Arc::new(state))
                .await
                .map_err(|e| {
                    let text = e.to_string();
                    match text.split_once("rows failed validation check.") {
                        Some((count, preview)) => SqlError::ConstraintViolation(format!(
                            "ADD CONSTRAINT {}: {} existing row(s) violate CHECK ({check}); fix or delete them first.{}",
                            name.value,
                            count.rsplit(' ').nth(1).unwrap_or("some"),
                            preview.trim_end()
                        )),
                        None => SqlError::from(e),
                    }
                })?;
        }
        AlterOp::DropConstraint { name, if_exists } => {
            target.table.clone().drop_constraints().with_constraint(name.value.clone()).with_raise_if_not_exists(!if_exists).await?;
        }
        AlterOp::RenameTo(_) | AlterOp::SetComment(_) => unreachable!("handled above"),
    }
    Ok(StatementOutput::empty())
}
