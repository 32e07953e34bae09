//! What catalog listings show — `information_schema`, `pg_catalog` (psql's `\dt` / `\dv`),
//! Flight SQL `GetTables`, the HTTP browse API: a schema's tables **and views** that a principal
//! may read, each with its kind and columns. One place, so every front end lists the same.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use tarn_catalog::{TableIdent, ViewEntry};

use crate::authorize::Visibility;
use crate::error::Result;

/// Whether a listed relation is a Delta table or a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    Table,
    View,
}

impl RelationKind {
    /// As `information_schema.tables.table_type` says it.
    pub fn sql_name(self) -> &'static str {
        match self {
            RelationKind::Table => "BASE TABLE",
            RelationKind::View => "VIEW",
        }
    }

    pub fn datafusion(self) -> datafusion::datasource::TableType {
        match self {
            RelationKind::Table => datafusion::datasource::TableType::Base,
            RelationKind::View => datafusion::datasource::TableType::View,
        }
    }
}

/// A table or view of a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    pub kind: RelationKind,
}

impl Visibility {
    /// The tables, then the views, of `catalog.schema` that the principal may read, each by name.
    pub async fn relations(&self, catalog: &str, schema: &str) -> Result<Vec<Relation>> {
        let catalog_store = self.catalog();
        let tables: Vec<String> = catalog_store.list_tables(catalog, schema).await?.into_iter().map(|t| t.name).collect();
        let table_count = tables.len();
        let mut names = tables;
        names.extend(catalog_store.list_views(catalog, schema).await?.into_iter().map(|v| v.name));
        // One pass over the grants for both; a name is a table or a view, never both.
        let readable: std::collections::HashSet<String> = self.readable(catalog, schema, names.clone()).await?.into_iter().collect();
        Ok(names
            .into_iter()
            .enumerate()
            .filter(|(_, name)| readable.contains(name))
            .map(|(i, name)| Relation { name, kind: if i < table_count { RelationKind::Table } else { RelationKind::View } })
            .collect())
    }

    /// The kind and columns of a relation the principal may read (`None`: no such relation, or
    /// not readable). A table's columns come from its Delta log; a view's from its definition
    /// (the names and types its query returned when it was made) — neither is read or planned.
    pub async fn relation_schema(&self, ident: &TableIdent) -> Result<Option<(RelationKind, SchemaRef)>> {
        if !self.may_read(ident).await? {
            return Ok(None);
        }
        let catalog = self.catalog();
        if let Some(entry) = catalog.get_table(ident).await? {
            let table = tarn_engine::open_table(&entry.location_url()?, None).await?;
            return Ok(Some((RelationKind::Table, table.snapshot()?.snapshot().arrow_schema())));
        }
        match catalog.get_view(ident).await? {
            Some(view) => Ok(Some((RelationKind::View, view_columns(&view)?))),
            None => Ok(None),
        }
    }
}

/// A view's columns as its definition stored them: the query's output names and types, under
/// the view's own column names where it gives them.
pub(crate) fn view_columns(view: &ViewEntry) -> Result<SchemaRef> {
    let mut fields = Vec::with_capacity(view.query_columns.len());
    for (i, column) in view.query_columns.iter().enumerate() {
        let data_type = crate::types::arrow_type(&crate::parser::parse_data_type(&column.data_type)?)?;
        let name = view.columns.get(i).map_or(column.name.clone(), |c| c.name.clone());
        fields.push(Field::new(name, data_type, true));
    }
    Ok(Arc::new(Schema::new(fields)))
}
