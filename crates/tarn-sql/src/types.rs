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

/// The declared length of a `CHAR(n)` / `VARCHAR(n)` column type; `None` for every other type
/// (a `VARCHAR` without a length is a plain string, as Postgres clients write it).
pub fn char_type(sql: &SqlType) -> Result<Option<tarn_engine::spark::char_varchar::CharType>> {
    use sqlparser::ast::CharacterLength;
    use tarn_engine::spark::char_varchar::CharType;
    let (length, varying) = match sql {
        SqlType::Char(length) | SqlType::Character(length) => (length, false),
        SqlType::Varchar(length) | SqlType::CharacterVarying(length) | SqlType::CharVarying(length) => (length, true),
        _ => return Ok(None),
    };
    match length {
        None => Ok(None),
        Some(CharacterLength::Max) => Err(SqlError::user(format!("{sql} has no length Tarn can keep; use STRING"))),
        Some(CharacterLength::IntegerLength { length, .. }) => {
            let n = usize::try_from(*length).ok().filter(|n| *n <= i32::MAX as usize);
            let Some(n) = n else { return Err(SqlError::user(format!("{sql}: the length must be at most {}", i32::MAX))) };
            Ok(Some(if varying { CharType::Varchar(n) } else { CharType::Char(n) }))
        }
    }
}

/// A column's type as Spark prints it: its declared `char(n)` / `varchar(n)`, else its type's name.
pub fn field_type_name(field: &arrow::datatypes::Field) -> String {
    match tarn_engine::spark::char_varchar::CharType::of_field(field) {
        Some(declared) => declared.name(),
        None => tarn_engine::spark::collations::type_name(field).unwrap_or_else(|| spark_type_name(field.data_type())),
    }
}
