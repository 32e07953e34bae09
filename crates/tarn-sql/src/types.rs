//! SQL type names (Spark/Databricks spelling) to Arrow types, and Arrow types back to the
//! Spark names DESCRIBE and SHOW CREATE TABLE print.

use arrow::datatypes::DataType;
use sqlparser::ast::DataType as SqlType;

use crate::error::{Result, SqlError};

/// The Arrow type Tarn stores a SQL type as (the Delta type follows from it).
pub fn arrow_type(sql: &SqlType) -> Result<DataType> {
    tarn_engine::spark::types::arrow_type(sql).map_err(SqlError::user)
}

pub use tarn_engine::spark::types::spark_type_name;
