//! Spark's generators — `explode`, `posexplode`, `inline`, their `_outer` forms, `stack` and
//! `json_tuple` — as relations: `FROM explode(array(1, 2))`, `FROM t, LATERAL explode(t.arr)
//! AS g(x)`. The SQL front end writes a generator in the select list and `LATERAL VIEW` as
//! such a lateral relation; [`crate::spark::decorrelate`] then stacks a lateral generator right
//! on its input (an `Unnest` per input row, no join).
//!
//! A generator is planned as `Projection` (names) over `Unnest` over `Projection` (the lists to
//! unnest) over one empty row, its arguments read from the enclosing query as outer columns.
//! Spark's output columns: `col` for an array's elements, `key` / `value` for a map's entries,
//! `pos` (INT, from 0) first for `posexplode`, a struct's fields for `inline`, `col0 ..` for
//! `stack`, `c0 ..` for `json_tuple`. NULL or empty input gives no row; the `_outer` forms give
//! one row of NULLs instead.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Fields};
use datafusion::common::{DFSchema, NullHandling, Result, ScalarValue, UnnestOptions, plan_err};
use datafusion::functions::core::expr_fn::{coalesce, get_field};
use datafusion::functions_nested::expr_fn::{cardinality, make_array, map_entries, range};
use datafusion::logical_expr::planner::{PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlanBuilder, cast, col, lit};
use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, ObjectName, TableAlias, TableFactor};

/// The generators this planner knows, by Spark's name.
pub const GENERATORS: [&str; 8] =
    ["explode", "explode_outer", "posexplode", "posexplode_outer", "inline", "inline_outer", "stack", "json_tuple"];

/// Whether `name` (any case) is one of Spark's generators.
pub fn is_generator(name: &str) -> bool {
    GENERATORS.contains(&name.to_ascii_lowercase().as_str())
}

#[derive(Debug, Default)]
pub struct Generators;

impl RelationPlanner for Generators {
    fn plan_relation(&self, relation: TableFactor, context: &mut dyn RelationPlannerContext) -> Result<RelationPlanning> {
        let (name, args, alias) = match &relation {
            TableFactor::Table { name, args: Some(args), alias, .. } => (name, &args.args, alias),
            TableFactor::Function { name, args, alias, .. } => (name, args, alias),
            _ => return Ok(RelationPlanning::Original(Box::new(relation))),
        };
        let Some(generator) = generator_name(name) else { return Ok(RelationPlanning::Original(Box::new(relation))) };
        let empty = DFSchema::empty();
        let mut exprs = Vec::with_capacity(args.len());
        for arg in args {
            let FunctionArg::Unnamed(FunctionArgExpr::Expr(arg)) = arg else {
                return plan_err!("{generator} takes positional arguments, got '{arg}'");
            };
            exprs.push(context.sql_to_expr(arg.clone(), &empty)?);
        }
        let plan = generate(&generator, exprs, context)?;
        let alias: Option<TableAlias> = alias.clone();
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(plan, alias))))
    }
}

fn generator_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [part] => part.as_ident().map(|i| i.value.to_ascii_lowercase()).filter(|n| is_generator(n)),
        _ => None,
    }
}

/// The lists to unnest side by side, and how each output column reads the unnested row.
struct Lists {
    lists: Vec<Expr>,
    outputs: Vec<(String, Expr)>,
}

const LIST: &str = "__tarn_generated";

fn list_column(i: usize) -> String {
    format!("{LIST}_{i}")
}

fn generate(generator: &str, args: Vec<Expr>, context: &mut dyn RelationPlannerContext) -> Result<datafusion::logical_expr::LogicalPlan> {
    let empty = DFSchema::empty();
    let outer = generator.ends_with("_outer");
    let base = generator.trim_end_matches("_outer");
    let one = |args: &[Expr]| -> Result<(Expr, DataType)> {
        match args {
            [arg] => Ok((arg.clone(), arg.get_type(&empty)?)),
            _ => plan_err!("{generator} takes one argument, got {}", args.len()),
        }
    };
    let lists = match base {
        "explode" | "posexplode" => {
            let (arg, data_type) = one(&args)?;
            let mut lists = Lists { lists: Vec::new(), outputs: Vec::new() };
            if base == "posexplode" {
                let count = coalesce(vec![cast(cardinality(arg.clone()), DataType::Int64), lit(0i64)]);
                lists.lists.push(range(lit(0i64), count, lit(1i64)));
                lists.outputs.push(("pos".into(), cast(col(list_column(0)), DataType::Int32)));
            }
            let at = lists.lists.len();
            match data_type {
                DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
                    lists.lists.push(arg);
                    lists.outputs.push(("col".into(), col(list_column(at))));
                }
                DataType::Map(entries, _) => {
                    let DataType::Struct(fields) = entries.data_type() else {
                        return plan_err!("{generator}: a map's entries are not a struct");
                    };
                    lists.lists.push(map_entries(arg));
                    for (field, name) in fields.iter().zip(["key", "value"]) {
                        lists.outputs.push((name.into(), get_field(col(list_column(at)), field.name().as_str())));
                    }
                }
                other => {
                    return plan_err!(
                        "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] {generator} takes an ARRAY or a MAP, got {}",
                        crate::spark::types::spark_type_name(&other)
                    );
                }
            }
            lists
        }
        "inline" => {
            let (arg, data_type) = one(&args)?;
            let fields: Fields = match &data_type {
                DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => match f.data_type() {
                    DataType::Struct(fields) => fields.clone(),
                    _ => return plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] inline takes an ARRAY of STRUCTs, got {data_type}"),
                },
                _ => return plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] inline takes an ARRAY of STRUCTs, got {data_type}"),
            };
            let outputs = fields.iter().map(|f| (f.name().clone(), get_field(col(list_column(0)), f.name().as_str()))).collect();
            Lists { lists: vec![arg], outputs }
        }
        "stack" => stack(args)?,
        "json_tuple" => return json_tuple(args, context),
        _ => return plan_err!("{generator} is not a generator"),
    };
    let mut projected = Vec::with_capacity(lists.lists.len());
    let mut columns = Vec::with_capacity(lists.lists.len());
    for (i, list) in lists.lists.into_iter().enumerate() {
        projected.push(list.alias(list_column(i)));
        columns.push(datafusion::common::Column::from_name(list_column(i)));
    }
    let null_handling = if outer { NullHandling::PreserveAndExpandEmpty } else { NullHandling::Drop };
    let options = UnnestOptions { null_handling, recursions: vec![] };
    LogicalPlanBuilder::empty(true)
        .project(projected)?
        .unnest_columns_with_options(columns, options)?
        .project(lists.outputs.into_iter().map(|(name, expr)| expr.alias(name)))?
        .build()
}

/// The most rows `stack` makes.
const MAX_STACK_ROWS: i64 = 65_536;

/// `stack(n, v1, .., vk)`: n rows of ceil(k / n) columns `col0 ..`, filled row by row, the
/// last row padded with NULLs. Column j is the list of the j-th value of every row.
fn stack(args: Vec<Expr>) -> Result<Lists> {
    let Some((rows, values)) = args.split_first() else {
        return plan_err!("stack takes a number of rows and the values to spread over them");
    };
    let n = match rows {
        Expr::Literal(ScalarValue::Int64(Some(n)), _) => *n,
        Expr::Literal(ScalarValue::Int32(Some(n)), _) => i64::from(*n),
        _ => return plan_err!("[DATATYPE_MISMATCH.NON_FOLDABLE_INPUT] stack's first argument must be an integer literal, got {rows}"),
    };
    if n < 1 {
        return plan_err!("[DATATYPE_MISMATCH.VALUE_OUT_OF_RANGE] stack needs at least one row, got {n}");
    }
    // Every row is spelled out in the plan: a row count from a literal must not let one
    // statement build billions of expressions.
    if n > MAX_STACK_ROWS {
        return plan_err!("[DATATYPE_MISMATCH.VALUE_OUT_OF_RANGE] stack makes at most {MAX_STACK_ROWS} rows, got {n}");
    }
    if values.is_empty() {
        return plan_err!("[WRONG_NUM_ARGS] stack takes at least two arguments");
    }
    let n = n as usize;
    let width = values.len().div_ceil(n);
    let mut lists = Lists { lists: Vec::with_capacity(width), outputs: Vec::with_capacity(width) };
    for j in 0..width {
        let column: Vec<Expr> = (0..n).map(|i| values.get(i * width + j).cloned().unwrap_or_else(|| lit(ScalarValue::Null))).collect();
        lists.lists.push(make_array(column));
        lists.outputs.push((format!("col{j}"), col(list_column(j))));
    }
    Ok(lists)
}

/// `json_tuple(json, k1, .., kn)`: one row, the fields `c0 .. c{n-1}` as text.
fn json_tuple(args: Vec<Expr>, context: &mut dyn RelationPlannerContext) -> Result<datafusion::logical_expr::LogicalPlan> {
    if args.len() < 2 {
        return plan_err!("[WRONG_NUM_ARGS] json_tuple takes a JSON text and at least one field name");
    }
    let Some(function) = context.context_provider().get_function_meta("json_tuple") else {
        return plan_err!("json_tuple is not registered in this session");
    };
    let fields = args.len() - 1;
    let value = Expr::ScalarFunction(datafusion::logical_expr::expr::ScalarFunction::new_udf(Arc::clone(&function), args));
    LogicalPlanBuilder::empty(true)
        .project([value.alias(LIST)])?
        .project((0..fields).map(|i| get_field(col(LIST), format!("c{i}").as_str()).alias(format!("c{i}"))))?
        .build()
}
