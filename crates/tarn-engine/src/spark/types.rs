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
