//! `SELECT s.*` where `s` is a struct column (not a table): one output column per field of the
//! struct, named after it, as Spark expands it (`SELECT payload.* FROM events`); `s.*
//! EXCEPT (f)` leaves fields out, and a nested struct works the same (`t.s.inner.*`).
//!
//! DataFusion reads `s.*` as the columns of a table `s` only ("Invalid qualifier"). The SQL
//! front end, which sees which names in FROM are tables, writes a `*` over a column as a call
//! of [`MARKER`] (the struct, then the names to leave out); this analyzer rule, first of all,
//! replaces each such select item by the struct's fields and gives every node above it its
//! new schema. A subquery in FROM is expanded as it is planned ([`StructStarSubqueries`]), so
//! the query around it reads the fields by name (a view's query is planned whole, so a view
//! works too); a CTE or a LATERAL subquery is not (yet): a query over one is refused with an
//! error that says so.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::planner::{PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, Projection, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, ObjectNamePart, SelectItem, SetExpr, TableFactor};

/// The function the SQL front end writes for `s.*` over a struct column `s`.
pub const MARKER: &str = "__tarn_struct_fields";

/// The marker: typed as the struct until it is expanded; it is never run (running it is an
/// error, never the struct as one column).
#[derive(Debug, PartialEq, Eq, Hash)]
struct StructFields {
    signature: Signature,
}

/// The marker's other name, for a subquery in FROM that [`StructStarSubqueries`] is planning.
const IN_SUBQUERY: &str = "__tarn_struct_fields_in_subquery";

pub(crate) fn marker() -> Arc<ScalarUDF> {
    let udf = ScalarUDF::new_from_impl(StructFields { signature: Signature::variadic_any(Volatility::Immutable) });
    Arc::new(udf.with_aliases([IN_SUBQUERY]))
}

impl ScalarUDFImpl for StructFields {
    fn name(&self) -> &str {
        MARKER
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.first() {
            Some(t) => Ok(t.clone()),
            None => plan_err!("{MARKER} takes the struct first"),
        }
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Never the struct as one column where its fields were asked for.
        datafusion::common::exec_err!("[UNSUPPORTED_FEATURE] s.* over a struct column is supported in a SELECT list only")
    }
}

/// The marker call in a select item (under an alias or not), if it is one. (A call by the
/// marker's other name reports that name, so both are checked.)
fn marker_call(expr: &Expr) -> Option<&datafusion::logical_expr::expr::ScalarFunction> {
    match expr {
        Expr::ScalarFunction(f) if f.func.name() == MARKER || f.func.aliases().iter().any(|a| a == IN_SUBQUERY) => Some(f),
        Expr::Alias(alias) => marker_call(&alias.expr),
        _ => None,
    }
}

fn is_marker(expr: &Expr) -> bool {
    marker_call(expr).is_some()
}

/// The select items `s.*` stands for: `s['f'] AS f` for each field `f` not left out.
fn expand(expr: &Expr, input: &datafusion::common::DFSchema) -> Result<Vec<Expr>> {
    let Some(call) = marker_call(expr) else { return Ok(vec![expr.clone()]) };
    let Some((value, left_out)) = call.args.split_first() else { return plan_err!("{MARKER} takes the struct first") };
    let mut excluded = Vec::with_capacity(left_out.len());
    for name in left_out {
        match name {
            Expr::Literal(ScalarValue::Utf8(Some(name)), _) => excluded.push(name.as_str()),
            other => return plan_err!("{MARKER}: a field to leave out is named by text, got {other}"),
        }
    }
    let DataType::Struct(fields) = value.get_type(input)? else {
        return plan_err!(
            "[INVALID_USAGE_OF_STAR_OR_REGEX] {value}.* needs a table or a struct column, and {value} is {}",
            crate::spark::types::spark_type_name(&value.get_type(input)?)
        );
    };
    for name in &excluded {
        if !fields.iter().any(|f| f.name().eq_ignore_ascii_case(name)) {
            return plan_err!("[FIELD_NOT_FOUND] {value}.* EXCEPT ({name}): the struct has no field {name}");
        }
    }
    Ok(fields
        .iter()
        .filter(|f| !excluded.iter().any(|name| f.name().eq_ignore_ascii_case(name)))
        .map(|f| get_field(value.clone(), f.name().as_str()).alias(f.name()))
        .collect())
}

/// Expands every `s.*` over a struct in `plan` (and its subqueries) and gives the nodes above
/// the new columns. The SQL planner calls it on each query it plans, so the schema every
/// reader of the plan sees (CREATE TABLE AS, INSERT) is the expanded one.
pub fn expand_struct_wildcards(plan: LogicalPlan) -> Result<LogicalPlan> {
    let mut expanded_below = false;
    let plan = plan.transform_up_with_subqueries(|node| {
        if let LogicalPlan::Projection(projection) = &node
            && projection.expr.iter().any(is_marker)
        {
            let mut exprs = Vec::with_capacity(projection.expr.len());
            for expr in &projection.expr {
                exprs.extend(expand(expr, projection.input.schema())?);
            }
            expanded_below = true;
            return Ok(Transformed::yes(LogicalPlan::Projection(Projection::try_new(exprs, Arc::clone(&projection.input))?)));
        }
        if !expanded_below {
            return Ok(Transformed::no(node));
        }
        // Every node above a changed projection reads its new columns. One that named the
        // struct's `*` column as such (a query over the subquery) was planned before the
        // fields were known.
        match node.recompute_schema() {
            Ok(node) => Ok(Transformed::yes(node)),
            Err(e) => plan_err!(
                "[UNSUPPORTED_FEATURE] a query over a CTE or a LATERAL subquery whose select list has s.* over a \
                 struct column: {e}; name the fields there (s.a, s.b) instead"
            ),
        }
    })?;
    Ok(plan.data)
}

/// The same expansion as an analyzer rule, first of all, for plans built elsewhere.
#[derive(Debug, Default)]
pub(crate) struct StructWildcards;

impl AnalyzerRule for StructWildcards {
    fn name(&self) -> &str {
        "spark_struct_wildcards"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        expand_struct_wildcards(plan)
    }
}

/// A subquery in FROM whose select list has `s.*` over a struct is planned and expanded before
/// the query around it is planned, so `SELECT * FROM (SELECT payload.* FROM events) WHERE f > 1`
/// reads the fields by name. (Its markers are renamed to the marker's other name while it is
/// planned, so that this planner does not take the same subquery again.)
#[derive(Debug, Default)]
pub struct StructStarSubqueries;

/// Renames the markers of a query body's select lists (not of nested subqueries, planned on
/// their own); whether there were any.
fn rename_markers(body: &mut SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => {
            let mut renamed = false;
            for item in select.projection.iter_mut() {
                if let SelectItem::UnnamedExpr(SqlExpr::Function(function)) = item
                    && let [ObjectNamePart::Identifier(name)] = function.name.0.as_mut_slice()
                    && name.value == MARKER
                {
                    name.value = IN_SUBQUERY.to_string();
                    renamed = true;
                }
            }
            renamed
        }
        SetExpr::SetOperation { left, right, .. } => rename_markers(left) | rename_markers(right),
        SetExpr::Query(query) => rename_markers(&mut query.body),
        _ => false,
    }
}

impl RelationPlanner for StructStarSubqueries {
    fn plan_relation(&self, relation: TableFactor, context: &mut dyn RelationPlannerContext) -> Result<RelationPlanning> {
        let TableFactor::Derived { lateral: false, mut subquery, alias, sample: None } = relation else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        if !rename_markers(&mut subquery.body) {
            return Ok(RelationPlanning::Original(Box::new(TableFactor::Derived { lateral: false, subquery, alias, sample: None })));
        }
        let plan = context.plan(TableFactor::Derived { lateral: false, subquery, alias: None, sample: None })?;
        let plan = expand_struct_wildcards(plan)?;
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(plan, alias))))
    }
}
