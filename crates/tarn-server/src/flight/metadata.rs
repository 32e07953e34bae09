//! Flight SQL catalog commands over Tarn's catalog: catalogs, schemas, tables (with their
//! Arrow schemas), table types, SQL info and XDBC type info.

use std::sync::OnceLock;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder};
use arrow_flight::sql::{
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetTableTypes, CommandGetTables, Nullable, Searchable, SqlInfo, XdbcDataType,
};
use tarn_catalog::{Catalog, TableIdent};
use tonic::Status;

fn catalog_error(e: tarn_catalog::CatalogError) -> Status {
    Status::internal(format!("reading the catalog failed: {e}"))
}

fn build_error(e: impl std::fmt::Display) -> Status {
    Status::internal(format!("building the result failed: {e}"))
}

pub(super) async fn catalogs(catalog: &Catalog, query: CommandGetCatalogs) -> Result<RecordBatch, Status> {
    let mut builder = query.into_builder();
    for c in catalog.list_catalogs().await.map_err(catalog_error)? {
        builder.append(c.name);
    }
    builder.build().map_err(build_error)
}

pub(super) async fn schemas(catalog: &Catalog, query: CommandGetDbSchemas) -> Result<RecordBatch, Status> {
    let only = query.catalog.clone();
    let mut builder = query.into_builder();
    for c in catalog.list_catalogs().await.map_err(catalog_error)? {
        if only.as_ref().is_some_and(|o| *o != c.name) {
            continue;
        }
        for s in catalog.list_schemas(&c.name).await.map_err(catalog_error)? {
            builder.append(&c.name, &s.name);
        }
    }
    builder.build().map_err(build_error)
}

pub(super) async fn tables(catalog: &Catalog, visibility: &tarn_sql::Visibility, query: CommandGetTables) -> Result<RecordBatch, Status> {
    let only = query.catalog.clone();
    let include_schema = query.include_schema;
    let mut builder = query.into_builder();
    let empty = Schema::empty();
    for c in catalog.list_catalogs().await.map_err(catalog_error)? {
        if only.as_ref().is_some_and(|o| *o != c.name) {
            continue;
        }
        for s in catalog.list_schemas(&c.name).await.map_err(catalog_error)? {
            let relations = visibility.relations(&c.name, &s.name).await.map_err(|e| Status::internal(e.to_string()))?;
            for relation in relations {
                let (t, kind) = (
                    &relation.name,
                    match relation.kind {
                        tarn_sql::RelationKind::Table => "TABLE",
                        tarn_sql::RelationKind::View => "VIEW",
                    },
                );
                // Opening a table costs a log read; only done when the client asks for schemas.
                let schema = if include_schema {
                    let ident = TableIdent::new(c.name.clone(), s.name.clone(), t.clone());
                    match visibility.relation_schema(&ident).await {
                        Ok(Some((_, schema))) => schema.as_ref().clone(),
                        Ok(None) => continue,
                        Err(e) => return Err(Status::internal(format!("describing {ident}: {e}"))),
                    }
                } else {
                    empty.clone()
                };
                builder.append(&c.name, &s.name, t, kind, &schema).map_err(build_error)?;
            }
        }
    }
    builder.build().map_err(build_error)
}

pub(super) fn table_types(query: CommandGetTableTypes) -> Result<RecordBatch, Status> {
    let mut builder = query.into_builder();
    builder.append("TABLE");
    builder.append("VIEW");
    builder.build().map_err(build_error)
}

pub(super) fn primary_keys_schema() -> Schema {
    Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ])
}

pub(super) fn sql_info() -> &'static SqlInfoData {
    static INFO: OnceLock<SqlInfoData> = OnceLock::new();
    INFO.get_or_init(|| {
        let mut builder = SqlInfoDataBuilder::new();
        builder.append(SqlInfo::FlightSqlServerName, "Tarn");
        builder.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        builder.append(SqlInfo::FlightSqlServerArrowVersion, "59");
        builder.append(SqlInfo::FlightSqlServerReadOnly, false);
        builder.append(SqlInfo::FlightSqlServerSql, true);
        builder.append(SqlInfo::FlightSqlServerSubstrait, false);
        builder.append(SqlInfo::FlightSqlServerTransaction, 0i32);
        builder.append(SqlInfo::FlightSqlServerCancel, false);
        builder.append(SqlInfo::SqlDdlCatalog, true);
        builder.append(SqlInfo::SqlDdlSchema, true);
        builder.append(SqlInfo::SqlDdlTable, true);
        builder.append(SqlInfo::SqlIdentifierQuoteChar, "`");
        builder.append(SqlInfo::SqlIdentifierCase, 3i32); // case-insensitive
        builder.append(SqlInfo::SqlQuotedIdentifierCase, 3i32);
        builder.append(SqlInfo::SqlSchemaTerm, "schema");
        builder.append(SqlInfo::SqlCatalogTerm, "catalog");
        builder.append(SqlInfo::SqlCatalogAtStart, true);
        // Built once from constants: a failure here is a bug, and GetSqlInfo reports it.
        builder.build().unwrap_or_else(|_| {
            let mut fallback = SqlInfoDataBuilder::new();
            fallback.append(SqlInfo::FlightSqlServerName, "Tarn");
            fallback.build().expect("a one-entry SqlInfo builds")
        })
    })
}

fn xdbc(name: &str, data_type: XdbcDataType, column_size: Option<i32>, prefix: Option<&str>) -> XdbcTypeInfo {
    XdbcTypeInfo {
        type_name: name.into(),
        data_type,
        column_size,
        literal_prefix: prefix.map(Into::into),
        literal_suffix: prefix.map(|_| "'".into()),
        create_params: None,
        nullable: Nullable::NullabilityNullable,
        case_sensitive: matches!(data_type, XdbcDataType::XdbcVarchar),
        searchable: Searchable::Full,
        unsigned_attribute: Some(false),
        fixed_prec_scale: false,
        auto_increment: Some(false),
        local_type_name: Some(name.into()),
        minimum_scale: None,
        maximum_scale: None,
        sql_data_type: data_type,
        datetime_subcode: None,
        num_prec_radix: None,
        interval_precision: None,
    }
}

pub(super) fn xdbc_types() -> &'static XdbcTypeInfoData {
    static TYPES: OnceLock<XdbcTypeInfoData> = OnceLock::new();
    TYPES.get_or_init(|| {
        let mut builder = XdbcTypeInfoDataBuilder::new();
        for info in [
            xdbc("BOOLEAN", XdbcDataType::XdbcBit, Some(1), None),
            xdbc("TINYINT", XdbcDataType::XdbcTinyint, Some(3), None),
            xdbc("SMALLINT", XdbcDataType::XdbcSmallint, Some(5), None),
            xdbc("INT", XdbcDataType::XdbcInteger, Some(10), None),
            xdbc("BIGINT", XdbcDataType::XdbcBigint, Some(19), None),
            xdbc("FLOAT", XdbcDataType::XdbcFloat, Some(7), None),
            xdbc("DOUBLE", XdbcDataType::XdbcDouble, Some(15), None),
            xdbc("DECIMAL", XdbcDataType::XdbcDecimal, Some(38), None),
            xdbc("STRING", XdbcDataType::XdbcVarchar, None, Some("'")),
            xdbc("BINARY", XdbcDataType::XdbcBinary, None, Some("X'")),
            xdbc("DATE", XdbcDataType::XdbcDate, Some(10), Some("DATE '")),
            xdbc("TIMESTAMP", XdbcDataType::XdbcTimestamp, Some(29), Some("TIMESTAMP '")),
        ] {
            builder.append(info);
        }
        builder.build().unwrap_or_else(|_| XdbcTypeInfoDataBuilder::new().build().expect("an empty XDBC type list builds"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_metadata_builds() {
        let info = CommandGetSqlInfo::default().into_builder(sql_info()).build().unwrap();
        assert!(info.num_rows() >= 10);
        let types = arrow_flight::sql::CommandGetXdbcTypeInfo::default().into_builder(xdbc_types()).build().unwrap();
        assert_eq!(types.num_rows(), 12);
        assert_eq!(primary_keys_schema().fields().len(), 6);
    }

    use arrow_flight::sql::CommandGetSqlInfo;
}
