//! Spark's type names where sqlparser or DataFusion spell them differently.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::sql::sqlparser::ast::DataType as SqlType;

#[derive(Debug, Default)]
pub struct SparkTypes;

impl TypePlanner for SparkTypes {
    #[allow(deprecated)]
    fn plan_type(&self, sql_type: &SqlType) -> Result<Option<DataType>> {
        if let SqlType::Binary(_) | SqlType::Varbinary(_) | SqlType::Bytea = sql_type {
            return Ok(Some(DataType::Binary));
        }
        let SqlType::Custom(name, modifiers) = sql_type else {
            return Ok(None);
        };
        if !modifiers.is_empty() || name.0.len() != 1 {
            return Ok(None);
        }
        let name = name.to_string().to_ascii_lowercase();
        Ok(match name.as_str() {
            "long" => Some(DataType::Int64),
            "short" => Some(DataType::Int16),
            "byte" => Some(DataType::Int8),
            _ => None,
        })
    }
}

/// Spark's name of a type, as `typeof` and error messages print it.
pub fn spark_type_name(t: &DataType) -> String {
    match t {
        DataType::Null => "void".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::UInt8 => "tinyint".into(),
        DataType::Int16 | DataType::UInt16 => "smallint".into(),
        DataType::Int32 | DataType::UInt32 => "int".into(),
        DataType::Int64 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => "binary".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp".into(),
        DataType::Timestamp(_, None) => "timestamp_ntz".into(),
        DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::YearMonth) => "interval year to month".into(),
        DataType::Interval(_) | DataType::Duration(_) => "interval day to second".into(),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::ListView(f) | DataType::LargeListView(f) => {
            format!("array<{}>", spark_type_name(f.data_type()))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                format!("map<{},{}>", spark_type_name(kv[0].data_type()), spark_type_name(kv[1].data_type()))
            }
            other => spark_type_name(other),
        },
        DataType::Struct(fields) => {
            let parts: Vec<String> = fields.iter().map(|f| format!("{}:{}", f.name(), spark_type_name(f.data_type()))).collect();
            format!("struct<{}>", parts.join(","))
        }
        DataType::Dictionary(_, value) => spark_type_name(value),
        other => other.to_string().to_lowercase(),
    }
}
