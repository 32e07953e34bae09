//! `information_schema` as Postgres presents it, for Postgres clients (dbt, BI tools read
//! `columns.data_type` as SQL type names such as `bigint` or `timestamp with time zone`;
//! DataFusion's own information_schema speaks Arrow types). Scoped to the connection's
//! database (Tarn catalog); built when a query reads it.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use async_trait::async_trait;
use datafusion::catalog::{MemTable, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use pgwire::api::Type;

use super::catalog::TarnCatalogInfo;

const TABLES: &[&str] = &["schemata", "tables", "columns", "views"];

#[derive(Debug)]
pub(crate) struct PgInformationSchema {
    pub info: TarnCatalogInfo,
    pub database: String,
}

fn strings(values: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn text_fields(names: &[&str]) -> Vec<Field> {
    names.iter().map(|n| Field::new(*n, DataType::Utf8, true)).collect()
}

/// The SQL name Postgres' information_schema gives a column type, with its `udt_name`.
fn sql_type_name(data_type: &DataType) -> (String, String) {
    let pg = arrow_pg::datatypes::into_pg_type(data_type).unwrap_or(Type::TEXT);
    let standard = match pg {
        Type::BOOL => "boolean",
        Type::INT2 => "smallint",
        Type::INT4 => "integer",
        Type::INT8 => "bigint",
        Type::FLOAT4 => "real",
        Type::FLOAT8 => "double precision",
        Type::NUMERIC => "numeric",
        Type::TEXT => "text",
        Type::VARCHAR => "character varying",
        Type::CHAR | Type::BPCHAR => "character",
        Type::BYTEA => "bytea",
        Type::DATE => "date",
        Type::TIME => "time without time zone",
        Type::TIMESTAMP => "timestamp without time zone",
        Type::TIMESTAMPTZ => "timestamp with time zone",
        Type::INTERVAL => "interval",
        Type::JSON => "json",
        Type::JSONB => "jsonb",
        // Postgres names array types with a leading underscore (`_text`).
        ref t if t.name().starts_with('_') => "ARRAY",
        _ => "USER-DEFINED",
    };
    (standard.to_string(), pg.name().to_string())
}

impl PgInformationSchema {
    async fn schemata(&self) -> Result<RecordBatch> {
        let schemas = self.info.schema_names(&self.database).await?.unwrap_or_default();
        let schema = Arc::new(Schema::new(text_fields(&["catalog_name", "schema_name", "schema_owner"])));
        let n = schemas.len();
        RecordBatch::try_new(
            schema,
            vec![strings(vec![Some(self.database.clone()); n]), strings(schemas.into_iter().map(Some).collect()), strings(vec![None; n])],
        )
        .map_err(Into::into)
    }

    /// One row per (schema, name, value) of this database, under `columns` (catalog first).
    fn named_rows(&self, columns: &[&str], rows: Vec<(String, String, String)>) -> Result<RecordBatch> {
        let n = rows.len();
        RecordBatch::try_new(
            Arc::new(Schema::new(text_fields(columns))),
            vec![
                strings(vec![Some(self.database.clone()); n]),
                strings(rows.iter().map(|r| Some(r.0.clone())).collect()),
                strings(rows.iter().map(|r| Some(r.1.clone())).collect()),
                strings(rows.into_iter().map(|r| Some(r.2)).collect()),
            ],
        )
        .map_err(Into::into)
    }

    async fn tables(&self) -> Result<RecordBatch> {
        let mut rows = Vec::new();
        for schema in self.info.schema_names(&self.database).await?.unwrap_or_default() {
            for relation in self.info.relations(&schema).await? {
                rows.push((schema.clone(), relation.name, relation.kind.sql_name().to_string()));
            }
        }
        self.named_rows(&["table_catalog", "table_schema", "table_name", "table_type"], rows)
    }

    async fn columns(&self) -> Result<RecordBatch> {
        let mut cols: Vec<[Option<String>; 8]> = Vec::new();
        let mut positions = Vec::new();
        let mut precision = Vec::new();
        let mut scale = Vec::new();
        for schema in self.info.schema_names(&self.database).await?.unwrap_or_default() {
            for table in self.info.table_names(&self.database, &schema).await?.unwrap_or_default() {
                let Some(table_schema) = self.info.table_schema(&self.database, &schema, &table).await? else {
                    continue;
                };
                for (i, field) in table_schema.fields().iter().enumerate() {
                    let (data_type, udt) = sql_type_name(field.data_type());
                    cols.push([
                        Some(self.database.clone()),
                        Some(schema.clone()),
                        Some(table.clone()),
                        Some(field.name().clone()),
                        None,
                        Some(if field.is_nullable() { "YES" } else { "NO" }.to_string()),
                        Some(data_type),
                        Some(udt),
                    ]);
                    positions.push(i as i32 + 1);
                    let (p, s) = match field.data_type() {
                        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => (Some(i32::from(*p)), Some(i32::from(*s))),
                        DataType::Int16 => (Some(16), Some(0)),
                        DataType::Int32 => (Some(32), Some(0)),
                        DataType::Int64 => (Some(64), Some(0)),
                        DataType::Float32 => (Some(24), None),
                        DataType::Float64 => (Some(53), None),
                        _ => (None, None),
                    };
                    precision.push(p);
                    scale.push(s);
                }
            }
        }
        let mut fields = text_fields(&["table_catalog", "table_schema", "table_name", "column_name"]);
        fields.push(Field::new("ordinal_position", DataType::Int32, false));
        fields.extend(text_fields(&["column_default", "is_nullable", "data_type", "udt_name"]));
        fields.push(Field::new("character_maximum_length", DataType::Int32, true));
        fields.push(Field::new("numeric_precision", DataType::Int32, true));
        fields.push(Field::new("numeric_scale", DataType::Int32, true));
        let column = |i: usize| strings(cols.iter().map(|c| c[i].clone()).collect());
        let n = cols.len();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            vec![
                column(0),
                column(1),
                column(2),
                column(3),
                Arc::new(Int32Array::from(positions)),
                column(4),
                column(5),
                column(6),
                column(7),
                Arc::new(Int32Array::from(vec![None; n])),
                Arc::new(Int32Array::from(precision)),
                Arc::new(Int32Array::from(scale)),
            ],
        )
        .map_err(Into::into)
    }

    async fn views(&self) -> Result<RecordBatch> {
        let mut rows = Vec::new();
        for schema in self.info.schema_names(&self.database).await?.unwrap_or_default() {
            for (view, sql) in self.info.view_definitions(&schema).await? {
                rows.push((schema.clone(), view, sql));
            }
        }
        self.named_rows(&["table_catalog", "table_schema", "table_name", "view_definition"], rows)
    }
}

#[async_trait]
impl SchemaProvider for PgInformationSchema {
    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(ToString::to_string).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let batch = match name {
            "schemata" => self.schemata().await?,
            "tables" => self.tables().await?,
            "columns" => self.columns().await?,
            "views" => self.views().await?,
            _ => return Ok(None),
        };
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])
            .map_err(|e| DataFusionError::Context(format!("information_schema.{name}"), Box::new(e)))?;
        Ok(Some(Arc::new(table)))
    }

    fn table_exist(&self, name: &str) -> bool {
        TABLES.contains(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_follow_postgres() {
        assert_eq!(sql_type_name(&DataType::Int64), ("bigint".into(), "int8".into()));
        assert_eq!(sql_type_name(&DataType::Utf8View).0, "text");
        assert_eq!(
            sql_type_name(&DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()))).0,
            "timestamp with time zone"
        );
        assert_eq!(sql_type_name(&DataType::Decimal128(10, 2)).0, "numeric");
        let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
        assert_eq!(sql_type_name(&list), ("ARRAY".into(), "_text".into()));
    }
}
