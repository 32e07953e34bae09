//! What a statement takes and returns, found without running it — for protocols that
//! describe prepared statements before they execute (Postgres extended query, Flight SQL).

use arrow::datatypes::{DataType, SchemaRef};
use sqlparser::ast::{Expr, SetExpr, Value};

use crate::ast::Statement;
use crate::error::Result;
use crate::session::Session;

/// The shape of a prepared statement.
#[derive(Debug, Clone, Default)]
pub struct Described {
    /// Result columns of a query. `None` for statements whose result is only known by
    /// running them (DESCRIBE, SHOW, ...) and for statements that return no rows.
    pub schema: Option<SchemaRef>,
    /// Types of `$1`, `$2`, ... by position, where they can be inferred.
    pub parameters: Vec<Option<DataType>>,
}

/// The position (0-based) of a `$n` placeholder.
fn placeholder_index(expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => p.strip_prefix('$')?.parse::<usize>().ok()?.checked_sub(1),
            _ => None,
        },
        Expr::Nested(inner) => placeholder_index(inner),
        _ => None,
    }
}

fn set_parameter(parameters: &mut Vec<Option<DataType>>, index: usize, data_type: DataType) {
    if parameters.len() <= index {
        parameters.resize(index + 1, None);
    }
    if parameters[index].is_none() {
        parameters[index] = Some(data_type);
    }
}

/// The plan's schema as results arrive: Delta partition columns are dictionary-encoded in
/// the plan but decoded by the time batches reach the client.
fn without_dictionaries(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<arrow::datatypes::FieldRef> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, value) => std::sync::Arc::new(f.as_ref().clone().with_data_type(value.as_ref().clone())),
            _ => f.clone(),
        })
        .collect();
    std::sync::Arc::new(arrow::datatypes::Schema::new_with_metadata(fields, schema.metadata().clone()))
}

impl Session {
    /// Describe `statement`: its result columns and parameter types, as far as planning
    /// (not running) it tells. Planning errors are returned: a statement that cannot be
    /// planned cannot run either.
    pub async fn describe_statement(&self, statement: &Statement) -> Result<Described> {
        // Describing reveals columns: it needs the same privileges as running.
        self.authorize(statement).await?;
        match statement {
            Statement::Query(query) => {
                let (_, plan) = self.plan_statement((**query).clone()).await?;
                let types = plan.get_parameter_types()?;
                let mut parameters = Vec::new();
                for (name, data_type) in types {
                    if let (Some(index), Some(data_type)) = (name.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()), data_type)
                        && index > 0
                    {
                        set_parameter(&mut parameters, index - 1, data_type);
                    }
                }
                let max = plan.get_parameter_types()?.len();
                if parameters.len() < max {
                    parameters.resize(max, None);
                }
                Ok(Described { schema: Some(without_dictionaries(plan.schema().inner())), parameters })
            }
            Statement::Insert(insert) => {
                let mut parameters = Vec::new();
                if let SetExpr::Values(values) = insert.query.body.as_ref() {
                    let target = self.open_target(&insert.table, None).await?;
                    let schema = target.table.snapshot()?.snapshot().arrow_schema();
                    let columns: Vec<Option<DataType>> = if insert.columns.is_empty() {
                        schema.fields().iter().map(|f| Some(f.data_type().clone())).collect()
                    } else {
                        insert
                            .columns
                            .iter()
                            .map(|c| {
                                schema.fields().iter().find(|f| f.name().eq_ignore_ascii_case(&c.value)).map(|f| f.data_type().clone())
                            })
                            .collect()
                    };
                    for row in &values.rows {
                        for (expr, column) in row.iter().zip(&columns) {
                            if let (Some(index), Some(data_type)) = (placeholder_index(expr), column) {
                                set_parameter(&mut parameters, index, data_type.clone());
                            }
                        }
                    }
                }
                Ok(Described { schema: None, parameters })
            }
            Statement::Update(update) => {
                let target = self.open_target(&update.table, None).await?;
                let schema = target.table.snapshot()?.snapshot().arrow_schema();
                let mut parameters = Vec::new();
                for (column, expr) in &update.assignments {
                    if let (Some(index), Some(field)) =
                        (placeholder_index(expr), schema.fields().iter().find(|f| f.name().eq_ignore_ascii_case(&column.value)))
                    {
                        set_parameter(&mut parameters, index, field.data_type().clone());
                    }
                }
                Ok(Described { schema: None, parameters })
            }
            _ => Ok(Described::default()),
        }
    }
}
