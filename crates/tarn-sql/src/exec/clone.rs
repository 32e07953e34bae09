//! CREATE TABLE ... SHALLOW | DEEP CLONE.

use tarn_catalog::{CatalogError, TableIdent, TableKind};
use tarn_engine::{CloneKind, clone_table};

use crate::ast::{CloneDepth, CreateClone};
use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::resolve::TableName;
use crate::session::Session;

use super::create_table::register_new;
use super::util::metrics_output;

pub(crate) async fn create_clone(session: &mut Session, clone: CreateClone) -> Result<StatementOutput> {
    let at = match &clone.source_version {
        Some(spec) => Some(session.time_travel(spec).await?),
        None => None,
    };
    let source = session.open_target(&clone.source, at.as_ref()).await?;
    let kind = match clone.depth {
        CloneDepth::Shallow => CloneKind::Shallow,
        CloneDepth::Deep => CloneKind::Deep,
    };
    let ident = match session.table_name(&clone.name)? {
        TableName::Path(url) => {
            clone_table(&source.table, &url, kind, None).await?;
            return Ok(StatementOutput::empty());
        }
        TableName::Catalog(i) => TableIdent::validated(&i.catalog, &i.schema, &i.table)?,
    };
    if session.catalog.get_table(&ident).await?.is_some() {
        if clone.if_not_exists {
            return Ok(StatementOutput::empty());
        }
        return Err(if clone.or_replace {
            SqlError::user(format!("CREATE OR REPLACE ... CLONE: drop {ident} first; replacing by clone is not done in place"))
        } else {
            CatalogError::AlreadyExists { kind: "table", name: ident.to_string() }.into()
        });
    }
    if session.catalog.get_schema(&ident.catalog, &ident.schema).await?.is_none() {
        return Err(CatalogError::SchemaNotFound(format!("{}.{}", ident.catalog, ident.schema)).into());
    }
    let id = uuid::Uuid::new_v4().to_string();
    let (location, table_kind) = match &clone.location {
        Some(l) => (tarn_storage::resolve_location(l).map_err(CatalogError::from)?, TableKind::External),
        None => (session.catalog.managed_location(&ident, &id)?, TableKind::Managed),
    };
    session.catalog.check_location_free(&location).await?;
    let cloned = clone_table(&source.table, &location, kind, Some(ident.table.clone())).await?;
    if !clone.properties.is_empty() {
        cloned
            .clone()
            .set_tbl_properties()
            .with_properties(clone.properties.iter().cloned().collect())
            .with_raise_if_not_exists(false)
            .await?;
    }
    register_new(session, &ident, id, &location, table_kind, true).await?;
    let state = cloned.snapshot()?;
    let files = state.log_data().iter().count() as i64;
    let size: i64 = state.log_data().iter().map(|f| f.size()).sum();
    metrics_output(&[
        ("source_table_size", size),
        ("source_num_of_files", files),
        ("num_copied_files", if kind == CloneKind::Deep { files } else { 0 }),
        ("copied_files_size", if kind == CloneKind::Deep { size } else { 0 }),
    ])
}
