//! Spark's `PIVOT` and `UNPIVOT` relations, which DataFusion does not plan.
//!
//! `src PIVOT (agg [AS a], .. FOR col IN (v1 [AS n1], ..))` groups by every column of `src`
//! that neither an aggregate nor the pivot column reads, and gives one column per value (per
//! value and aggregate when there are several, named `n1_a`): the aggregate over the group's
//! rows whose pivot column is the value (`IS NOT DISTINCT FROM`, as Spark's `<=>`). `FOR (c1,
//! c2) IN ((v1, w1) AS n, ..)` pivots on several columns at once.
//!
//! `src UNPIVOT [INCLUDE | EXCLUDE NULLS] (v FOR name IN (c1 [AS n1], ..))` turns each listed
//! column into a row: the other columns, `name` (the column's name or alias) and `v` (its value);
//! `(v, w) FOR name IN ((c1, d1) [AS n1], ..)` unpivots groups of columns. Rows whose values are
//! all NULL are dropped unless `INCLUDE NULLS` is written. Planned as one `Unnest` of the
//! columns' values side by side, so `src` is read once.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, NullHandling, Result, ScalarValue, UnnestOptions, plan_err};
use datafusion::functions_nested::expr_fn::make_array;
use datafusion::logical_expr::planner::{PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, LogicalPlanBuilder, Operator, col, lit};
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, ExprWithAlias, NullInclusion, PivotValueSource, TableFactor};

#[derive(Debug, Default)]
pub struct Pivots;

impl RelationPlanner for Pivots {
    fn plan_relation(&self, relation: TableFactor, context: &mut dyn RelationPlannerContext) -> Result<RelationPlanning> {
        match relation {
            TableFactor::Pivot { table, aggregate_functions, value_column, value_source, default_on_null, alias } => {
                if default_on_null.is_some() {
                    return plan_err!("PIVOT ... DEFAULT ON NULL is not Spark SQL");
                }
                let PivotValueSource::List(values) = value_source else {
                    return plan_err!("PIVOT takes a list of values in Spark SQL: FOR col IN (v1, v2, ..)");
                };
                let input = context.plan(*table)?;
                let plan = pivot(input, aggregate_functions, value_column, values, context)?;
                Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(plan, alias))))
            }
            TableFactor::Unpivot { table, value, name, columns, null_inclusion, alias } => {
                let input = context.plan(*table)?;
                let include_nulls = matches!(null_inclusion, Some(NullInclusion::IncludeNulls));
                let name = context.normalize_ident(name);
                let plan = unpivot(input, value, name, columns, include_nulls, context)?;
                Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(plan, alias))))
            }
            other => Ok(RelationPlanning::Original(Box::new(other))),
        }
    }
}

/// The expressions of a parenthesised list, or the one expression.
fn tuple(expr: SqlExpr) -> Vec<SqlExpr> {
    match expr {
        SqlExpr::Tuple(items) => items,
        SqlExpr::Nested(inner) => vec![*inner],
        other => vec![other],
    }
}

/// A parenthesised pivot value for a struct column, `(1, 'a')`, as a struct with the column's
/// field names (so the two compare field by field).
fn struct_like(part: SqlExpr, column: &Expr, schema: &DFSchema) -> SqlExpr {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::sql::sqlparser::ast::{
        Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, ObjectName, Value,
    };
    let SqlExpr::Tuple(items) = &part else { return part };
    let Ok(DataType::Struct(fields)) = datafusion::logical_expr::ExprSchemable::get_type(column, schema) else { return part };
    if fields.len() != items.len() {
        return part;
    }
    let mut args = Vec::with_capacity(items.len() * 2);
    for (field, item) in fields.iter().zip(items) {
        args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Value(Value::SingleQuotedString(field.name().clone()).into()))));
        args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(item.clone())));
    }
    SqlExpr::Function(Function {
        name: ObjectName::from(vec![Ident::new("named_struct")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList { duplicate_treatment: None, args, clauses: vec![] }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// A pivot value's name as Spark gives it: the text of a string, the digits of a number, the
/// SQL of anything else.
fn value_name(expr: &SqlExpr) -> String {
    match expr {
        SqlExpr::Value(v) => match &v.value {
            datafusion::sql::sqlparser::ast::Value::SingleQuotedString(s)
            | datafusion::sql::sqlparser::ast::Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        SqlExpr::Tuple(items) => format!("{{{}}}", items.iter().map(value_name).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

fn has_map(data_type: &datafusion::arrow::datatypes::DataType) -> bool {
    use datafusion::arrow::datatypes::DataType;
    match data_type {
        DataType::Map(..) => true,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => has_map(f.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| has_map(f.data_type())),
        _ => false,
    }
}

fn pivot(
    input: LogicalPlan,
    aggregates: Vec<ExprWithAlias>,
    value_columns: Vec<SqlExpr>,
    values: Vec<ExprWithAlias>,
    context: &mut dyn RelationPlannerContext,
) -> Result<LogicalPlan> {
    let schema = Arc::clone(input.schema());
    let mut pivot_columns = Vec::with_capacity(value_columns.len());
    for column in value_columns {
        let expr = context.sql_to_expr(column, &schema)?;
        // Spark compares no maps, so it pivots on none.
        if has_map(&datafusion::logical_expr::ExprSchemable::get_type(&expr, schema.as_ref())?) {
            return plan_err!("[INCOMPARABLE_PIVOT_COLUMN] the pivot column {expr} is a map or holds one; maps cannot be compared");
        }
        pivot_columns.push(expr);
    }
    let mut planned = Vec::with_capacity(aggregates.len());
    for aggregate in &aggregates {
        let expr = context.sql_to_expr(aggregate.expr.clone(), &schema)?;
        if !expr.exists(|e| Ok(matches!(e, Expr::AggregateFunction(_))))? {
            return plan_err!("[PIVOT_WITHOUT_AGGREGATE] PIVOT computes aggregates; '{}' is not one", aggregate.expr);
        }
        let name = aggregate.alias.as_ref().map_or_else(|| aggregate.expr.to_string(), |a| context.normalize_ident(a.clone()));
        planned.push((expr, name));
    }
    // Grouped by every column neither an aggregate nor the pivot reads.
    let mut read = Vec::new();
    for expr in planned.iter().map(|(e, _)| e).chain(&pivot_columns) {
        read.extend(expr.column_refs().into_iter().cloned());
    }
    let group: Vec<Expr> = schema
        .columns()
        .into_iter()
        .filter(|c| !read.iter().any(|r| schema.index_of_column(r).ok() == schema.index_of_column(c).ok()))
        .map(Expr::Column)
        .collect();

    let empty = DFSchema::empty();
    let mut aggregate_exprs = Vec::new();
    let mut outputs = Vec::new();
    for value in values {
        let name = match &value.alias {
            Some(alias) => context.normalize_ident(alias.clone()),
            None => value_name(&value.expr),
        };
        let parts = tuple(value.expr);
        if parts.len() != pivot_columns.len() {
            return plan_err!(
                "[PIVOT_VALUE_DATA_TYPE_MISMATCH] a pivot value has {} parts for {} pivot columns",
                parts.len(),
                pivot_columns.len()
            );
        }
        let mut matches = Vec::with_capacity(parts.len());
        for (column, part) in pivot_columns.iter().zip(parts) {
            let part = struct_like(part, column, schema.as_ref());
            let literal = context.sql_to_expr(part, &empty)?;
            matches.push(Expr::BinaryExpr(BinaryExpr::new(Box::new(column.clone()), Operator::IsNotDistinctFrom, Box::new(literal))));
        }
        let Some(matched) = conjunction(matches) else { return plan_err!("PIVOT needs a pivot column") };
        for (expr, aggregate_name) in &planned {
            let output = if planned.len() == 1 { name.clone() } else { format!("{name}_{aggregate_name}") };
            let value = expr
                .clone()
                .transform_up(|e| match e {
                    Expr::AggregateFunction(mut f) => {
                        let filter = match f.params.filter.take() {
                            Some(own) => matched.clone().and(*own),
                            None => matched.clone(),
                        };
                        f.params.filter = Some(Box::new(filter));
                        let column = format!("__tarn_pivot_{}", aggregate_exprs.len());
                        aggregate_exprs.push(Expr::AggregateFunction(f).alias(&column));
                        Ok(Transformed::yes(col(Column::from_name(column))))
                    }
                    other => Ok(Transformed::no(other)),
                })?
                .data;
            outputs.push(value.alias(output));
        }
    }
    let mut projection: Vec<Expr> = group.clone();
    projection.extend(outputs);
    LogicalPlanBuilder::from(input).aggregate(group, aggregate_exprs)?.project(projection)?.build()
}

fn unpivot(
    input: LogicalPlan,
    value: SqlExpr,
    name: String,
    columns: Vec<ExprWithAlias>,
    include_nulls: bool,
    context: &mut dyn RelationPlannerContext,
) -> Result<LogicalPlan> {
    let schema = Arc::clone(input.schema());
    let value_names: Vec<String> = tuple(value)
        .into_iter()
        .map(|e| match e {
            SqlExpr::Identifier(ident) => Ok(context.normalize_ident(ident)),
            other => plan_err!("UNPIVOT names its value columns; '{other}' is not a name"),
        })
        .collect::<Result<_>>()?;
    let mut names = Vec::with_capacity(columns.len());
    let mut lists: Vec<Vec<Expr>> = vec![Vec::with_capacity(columns.len()); value_names.len()];
    let mut unpivoted = Vec::new();
    for column in columns {
        let parts = tuple(column.expr);
        if parts.len() != value_names.len() {
            return plan_err!(
                "[UNPIVOT_VALUE_SIZE_MISMATCH] every unpivoted column group has {} columns, one has {}",
                value_names.len(),
                parts.len()
            );
        }
        let mut part_names = Vec::with_capacity(parts.len());
        for (list, part) in lists.iter_mut().zip(parts) {
            let expr = context.sql_to_expr(part, &schema)?;
            let Expr::Column(c) = &expr else {
                return plan_err!("UNPIVOT takes columns of its input, got {expr}");
            };
            part_names.push(c.name.clone());
            unpivoted.push(schema.index_of_column(c)?);
            list.push(expr);
        }
        names.push(match column.alias {
            Some(alias) => context.normalize_ident(alias),
            None => part_names.join("_"),
        });
    }
    let kept: Vec<Expr> =
        schema.columns().into_iter().enumerate().filter(|(i, _)| !unpivoted.contains(i)).map(|(_, c)| Expr::Column(c)).collect();
    let mut projected = kept.clone();
    projected.push(make_array(names.into_iter().map(|n| lit(ScalarValue::Utf8(Some(n)))).collect()).alias("__tarn_unpivot_name"));
    for (i, list) in lists.into_iter().enumerate() {
        projected.push(make_array(list).alias(format!("__tarn_unpivot_{i}")));
    }
    let mut unnested = vec![Column::from_name("__tarn_unpivot_name")];
    unnested.extend((0..value_names.len()).map(|i| Column::from_name(format!("__tarn_unpivot_{i}"))));
    let options = UnnestOptions { null_handling: NullHandling::Drop, recursions: vec![] };
    let mut plan = LogicalPlanBuilder::from(input).project(projected)?.unnest_columns_with_options(unnested, options)?;
    if !include_nulls {
        let any_value = (0..value_names.len()).map(|i| col(format!("__tarn_unpivot_{i}")).is_not_null()).reduce(Expr::or);
        if let Some(any_value) = any_value {
            plan = plan.filter(any_value)?;
        }
    }
    let mut outputs = kept;
    outputs.push(col("__tarn_unpivot_name").alias(name));
    for (i, value_name) in value_names.into_iter().enumerate() {
        outputs.push(col(format!("__tarn_unpivot_{i}")).alias(value_name));
    }
    plan.project(outputs)?.build()
}
