//! SQL functions at planning time: a call is expanded into its body, as Spark expands them.
//!
//! A function's body is planned like a query of its own, in the schema the function was made
//! in and with the caller's rights (every table it reads is bound and authorized as in any
//! query; calling it needs `EXECUTE`). Its parameters are the columns of a one-row relation
//! `__tarn_params`: DataFusion then resolves each name in the body as SQL scopes it — a column
//! of a subquery's own `FROM` shadows a parameter of the same name, and a parameter used inside
//! a subquery is an outer reference. That scoping is why the body is not substituted as text.
//!
//! - A **scalar** function becomes a [`SqlFunction`] UDF in the statement's session. Its
//!   `simplify` (the optimizer's first pass) replaces each call by the body, with the call's
//!   arguments (already cast to the parameters' types) for the parameters and a cast to the
//!   declared return type around it. A parameter inside a subquery becomes an outer reference
//!   to the caller's columns.
//! - A **table** function's arguments are constants; its body becomes a view over the body's
//!   plan with the parameters replaced by those values, and its columns cast and named as
//!   declared.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, plan_err};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::expr::{Exists, InSubquery};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Subquery, Volatility,
};
use sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, Ident, ObjectName, ObjectNamePart, Query, SelectItem, SetExpr, Statement as SqlStatement, TableFactor,
    Visit, VisitMut, Visitor, VisitorMut,
};
use tarn_catalog::{FunctionEntry, FunctionReturns, TableIdent};

use crate::error::{Result, SqlError};
use crate::session::Session;

/// The relation whose columns are a function's parameters while its body is planned.
const PARAMS: &str = "__tarn_params";
/// The name of the body's value in the plan of a scalar function.
const RESULT: &str = "__tarn_result";
/// How deep functions may call functions (a cycle stops here).
const MAX_FUNCTION_DEPTH: usize = 32;

/// A SQL function found for a name, and whether it is the session's temporary one.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub entry: FunctionEntry,
    pub temporary: bool,
}

impl Found {
    /// The name a call of it shows (Spark: `spark_catalog.default.f(1)`, or `f(1)` for a
    /// temporary function), also the name it is registered under for one statement.
    pub fn display_name(&self) -> String {
        if self.temporary { self.entry.name.clone() } else { self.entry.ident().to_string() }
    }
}

/// The body as parsed: an expression, or a query.
pub(crate) enum Body {
    Expr(Box<SqlExpr>),
    Query(Box<Query>),
}

/// Parse a stored body: a query when it reads as one, else an expression.
pub(crate) fn parse_body(text: &str) -> Result<Body> {
    if let Ok(mut statements) = crate::parser::parse_sql(text)
        && statements.len() == 1
        && let Some(crate::ast::Statement::Query(statement)) = statements.pop()
        && let SqlStatement::Query(query) = *statement
    {
        return Ok(Body::Query(query));
    }
    Ok(Body::Expr(Box::new(crate::parser::parse_expr(text)?)))
}

/// A SQL type as text (`INT`, `ARRAY<STRING>`) as the parser reads it.
fn sql_type(text: &str) -> Result<sqlparser::ast::DataType> {
    crate::parser::parse_data_type(text)
}

/// `SELECT <projection> [FROM (SELECT CAST(NULL AS t) AS p, ..) AS __tarn_params] [WHERE ..]`.
fn over_params(entry: &FunctionEntry, values: Option<&[SqlExpr]>, projection: SqlExpr, selection: Option<SqlExpr>) -> Result<Query> {
    let mut query = template(if entry.params.is_empty() {
        "SELECT NULL AS __tarn_result"
    } else {
        "SELECT NULL AS __tarn_result FROM (SELECT NULL) AS __tarn_params"
    })?;
    let SetExpr::Select(select) = query.body.as_mut() else { return Err(SqlError::Internal("template is a SELECT".into())) };
    select.projection = vec![SelectItem::ExprWithAlias { expr: projection, alias: Ident::new(RESULT) }];
    select.selection = selection;
    if let Some(from) = select.from.first_mut()
        && let TableFactor::Derived { subquery, .. } = &mut from.relation
        && let SetExpr::Select(params) = subquery.body.as_mut()
    {
        let mut columns = Vec::with_capacity(entry.params.len());
        for (i, param) in entry.params.iter().enumerate() {
            let value = values.and_then(|v| v.get(i)).cloned().unwrap_or(SqlExpr::Value(sqlparser::ast::Value::Null.into()));
            let cast = SqlExpr::Cast {
                kind: sqlparser::ast::CastKind::Cast,
                expr: Box::new(value),
                data_type: sql_type(&param.data_type)?,
                array: false,
                format: None,
            };
            columns.push(SelectItem::ExprWithAlias { expr: cast, alias: Ident::new(param.name.to_ascii_lowercase()) });
        }
        params.projection = columns;
    }
    Ok(query)
}

fn template(sql: &str) -> Result<Query> {
    match crate::parser::parse_sql(sql)?.pop() {
        Some(crate::ast::Statement::Query(statement)) => match *statement {
            SqlStatement::Query(query) => Ok(*query),
            _ => Err(SqlError::Internal("template is a query".into())),
        },
        _ => Err(SqlError::Internal("template is a query".into())),
    }
}

fn parenthesized(query: Box<Query>) -> SqlExpr {
    SqlExpr::Subquery(query)
}

impl Session {
    /// The SQL function `name` calls, if any: a one-part name is a temporary function first,
    /// then one of the current schema; `s.f` and `c.s.f` are functions in the catalog.
    pub(crate) async fn find_function(&self, name: &ObjectName) -> Result<Option<Found>> {
        let parts: Vec<&Ident> = name.0.iter().filter_map(ObjectNamePart::as_ident).collect();
        if parts.len() != name.0.len() {
            return Ok(None);
        }
        let lower = |i: &Ident| i.value.to_ascii_lowercase();
        if let [one] = parts.as_slice()
            && let Some(entry) = self.temp_functions.get(&lower(one))
        {
            return Ok(Some(Found { entry: entry.clone(), temporary: true }));
        }
        let ident = match parts.as_slice() {
            [f] => TableIdent::new(self.current_catalog.clone(), self.current_schema.clone(), lower(f)),
            [s, f] => TableIdent::new(self.current_catalog.clone(), lower(s), lower(f)),
            [c, s, f] => TableIdent::new(lower(c), lower(s), lower(f)),
            _ => return Ok(None),
        };
        if self.catalog.get_schema(&ident.catalog, &ident.schema).await?.is_none() {
            return Ok(None);
        }
        Ok(self.catalog.get_function(&ident).await?.map(|entry| Found { entry, temporary: false }))
    }

    /// A session that plans `function`'s body: the caller's rights, the function's schema;
    /// a temporary function also sees the session's temporary views and functions.
    fn function_reader(&self, found: &Found) -> Result<Session> {
        if self.view_depth >= MAX_FUNCTION_DEPTH {
            return Err(SqlError::user(format!(
                "[ROUTINE_RECURSION] function {} calls functions more than {MAX_FUNCTION_DEPTH} deep (does it call itself?)",
                found.display_name()
            )));
        }
        let mut reader = self.view_reader(self.principal.clone(), &found.entry.default_catalog, &found.entry.default_schema);
        if found.temporary {
            reader.temp_views = self.temp_views.clone();
            reader.temp_functions = self.temp_functions.clone();
        }
        Ok(reader)
    }

    /// Register in `state` every SQL function `statement` calls as a scalar function, and name
    /// each call after it. Built-in functions keep their names (Spark: built-ins first).
    pub(crate) async fn bind_sql_functions(&self, statement: &mut SqlStatement, state: &mut SessionState) -> Result<()> {
        let mut names = CalledNames::default();
        let _ = Visit::visit(&*statement, &mut names);
        let mut renames: HashMap<String, String> = HashMap::new();
        for name in names.found {
            let key = name.to_string().to_ascii_lowercase();
            if renames.contains_key(&key) || is_builtin(state, &name) {
                continue;
            }
            let Some(found) = self.find_function(&name).await? else { continue };
            if matches!(found.entry.returns, FunctionReturns::Table { .. }) {
                return Err(SqlError::user(format!(
                    "[NOT_A_SCALAR_FUNCTION] {} returns a table: call it in FROM (SELECT * FROM {}(..))",
                    found.display_name(),
                    found.display_name()
                )));
            }
            if !found.temporary {
                self.require_execute(&found.entry).await?;
            }
            let udf = Box::pin(self.plan_scalar_function(&found)).await?;
            state.register_udf(Arc::new(ScalarUDF::new_from_impl(udf)))?;
            renames.insert(key, found.display_name());
        }
        if !renames.is_empty() {
            let _ = VisitMut::visit(statement, &mut Rename { renames });
        }
        Ok(())
    }

    /// Plan a scalar function's body and defaults.
    pub(crate) async fn plan_scalar_function(&self, found: &Found) -> Result<SqlFunction> {
        let entry = &found.entry;
        let FunctionReturns::Scalar { data_type } = &entry.returns else {
            return Err(SqlError::Internal("a table function is not scalar".into()));
        };
        let reader = self.function_reader(found)?;
        let body = match parse_body(&entry.body)? {
            Body::Expr(e) => *e,
            Body::Query(q) => parenthesized(q),
        };
        // The cast to the declared type is planned with the body, so the plan knows both types.
        let body = SqlExpr::Cast {
            kind: sqlparser::ast::CastKind::Cast,
            expr: Box::new(body),
            data_type: sql_type(data_type)?,
            array: false,
            format: None,
        };
        let query = over_params(entry, None, body, None)?;
        let (state, plan) = Box::pin(reader.plan_query(&query)).await?;
        let plan = state.analyzer().execute_and_check(plan, state.config_options(), |_, _| {})?;
        let body = projected_value(&plan).ok_or_else(|| {
            SqlError::user(format!(
                "[INVALID_SQL_FUNCTION_BODY] the body of {} must be one value computed from its parameters \
                 (no aggregate or window functions outside a subquery)",
                found.display_name()
            ))
        })?;
        let return_type = plan.schema().field(0).data_type().clone();
        let params = param_types(&plan);
        let mut defaults = Vec::with_capacity(entry.params.len());
        for param in &entry.params {
            defaults.push(match &param.default {
                Some(text) => {
                    let cast = SqlExpr::Cast {
                        kind: sqlparser::ast::CastKind::Cast,
                        expr: Box::new(crate::parser::parse_expr(text)?),
                        data_type: sql_type(&param.data_type)?,
                        array: false,
                        format: None,
                    };
                    let mut no_params = entry.clone();
                    no_params.params.clear();
                    let query = over_params(&no_params, None, cast, None)?;
                    let (state, plan) = Box::pin(reader.plan_query(&query)).await?;
                    let plan = state.analyzer().execute_and_check(plan, state.config_options(), |_, _| {})?;
                    Some(
                        projected_value(&plan)
                            .ok_or_else(|| SqlError::user(format!("the default of parameter '{}' must be one value", param.name)))?,
                    )
                }
                None => None,
            });
        }
        Ok(SqlFunction {
            name: found.display_name(),
            params,
            defaults,
            body,
            return_type,
            signature: Signature::user_defined(Volatility::Volatile),
        })
    }

    /// A provider for a call of a table function with constant arguments (the caller checks
    /// EXECUTE: a function being created has no grants yet).
    pub(crate) async fn plan_table_function(&self, found: &Found, args: &[FunctionArg]) -> Result<Arc<dyn TableProvider>> {
        let entry = &found.entry;
        let FunctionReturns::Table { columns } = &entry.returns else {
            return Err(SqlError::user(format!(
                "[NOT_A_TABLE_FUNCTION] {} returns a value, not a table: call it in an expression (SELECT {}(..))",
                found.display_name(),
                found.display_name()
            )));
        };
        let values = self.bound_arguments(found, args).await?;
        let reader = self.function_reader(found)?;
        let Body::Query(body) = parse_body(&entry.body)? else {
            return Err(SqlError::user(format!("the body of table function {} must be a query", found.display_name())));
        };
        // The body is planned inside EXISTS so that DataFusion plans it with the parameters as
        // its outer scope; the subquery's plan is then the function's rows.
        let exists = SqlExpr::Exists { subquery: body, negated: false };
        let query = over_params(entry, Some(&values), SqlExpr::Value(sqlparser::ast::Value::Null.into()), Some(exists))?;
        let (state, plan) = Box::pin(reader.plan_query(&query)).await?;
        let rows =
            exists_subquery(&plan).ok_or_else(|| SqlError::Internal("the table function's body was not planned as a subquery".into()))?;
        let params = param_types(&plan);
        let mut constants = Vec::with_capacity(values.len());
        for (value, (_, data_type)) in values.iter().zip(&params) {
            constants
                .push(Expr::Cast(datafusion::logical_expr::Cast::new(Box::new(reader_constant(&reader, value).await?), data_type.clone())));
        }
        let rows = bind_outer_params(rows, &|column: &Column| param_index(&params, column).map(|i| constants[i].clone()))?;
        let fields = rows.schema().columns();
        if fields.len() != columns.len() {
            return Err(SqlError::user(format!(
                "[USER_DEFINED_FUNCTIONS.RETURN_COLUMN_COUNT_MISMATCH] {} declares {} result columns but its query returns {}",
                found.display_name(),
                columns.len(),
                fields.len()
            )));
        }
        let types = types_of(&reader, columns.iter().map(|c| c.data_type.as_str())).await?;
        let mut projection = Vec::with_capacity(columns.len());
        for ((field, column), data_type) in fields.into_iter().zip(columns).zip(types) {
            projection
                .push(Expr::Cast(datafusion::logical_expr::Cast::new(Box::new(Expr::Column(field)), data_type)).alias(column.name.clone()));
        }
        let plan = LogicalPlanBuilder::from(rows).project(projection)?.build()?;
        drop(state);
        Ok(Arc::new(ViewTable::new(plan, Some(entry.body.clone()))))
    }

    /// A call's arguments in parameter order, defaults filled in: positional ones first, then
    /// `name => value` ones.
    async fn bound_arguments(&self, found: &Found, args: &[FunctionArg]) -> Result<Vec<SqlExpr>> {
        let entry = &found.entry;
        let parsed = crate::table_functions::Arguments::parse(&found.display_name(), args)?;
        if parsed.positional.len() > entry.params.len() {
            return Err(SqlError::user(format!(
                "[WRONG_NUM_ARGS] {} takes at most {} arguments, got {}",
                found.display_name(),
                entry.params.len(),
                parsed.positional.len()
            )));
        }
        let mut values: Vec<Option<SqlExpr>> = parsed.positional.into_iter().map(Some).collect();
        values.resize(entry.params.len(), None);
        for (name, value) in parsed.named {
            let Some(i) = entry.params.iter().position(|p| p.name.eq_ignore_ascii_case(&name)) else {
                return Err(SqlError::user(format!("[UNRECOGNIZED_PARAMETER_NAME] {} has no parameter '{name}'", found.display_name())));
            };
            if values[i].is_some() {
                return Err(SqlError::user(format!("[DUPLICATE_ROUTINE_PARAMETER_ASSIGNMENT] parameter '{name}' is given twice")));
            }
            values[i] = Some(value);
        }
        let mut out = Vec::with_capacity(values.len());
        for (value, param) in values.into_iter().zip(&entry.params) {
            match (value, &param.default) {
                (Some(value), _) => out.push(value),
                (None, Some(default)) => out.push(crate::parser::parse_expr(default)?),
                (None, None) => {
                    return Err(SqlError::user(format!(
                        "[REQUIRED_PARAMETER_NOT_FOUND] {} needs a value for parameter '{}'",
                        found.display_name(),
                        param.name
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// A constant argument's value (table functions take constants: their rows are planned once).
async fn reader_constant(session: &Session, expr: &SqlExpr) -> Result<Expr> {
    let value = session.eval_scalar(expr).await.map_err(|e| match e {
        SqlError::DataFusion(_) | SqlError::User(_) => {
            SqlError::user(format!("a table function's argument must be a constant; '{expr}' is not ({e})"))
        }
        other => other,
    })?;
    Ok(Expr::Literal(value, None))
}

/// The Arrow types of SQL types, as this session's planner reads them (planned, not run).
async fn types_of(session: &Session, texts: impl Iterator<Item = &str>) -> Result<Vec<DataType>> {
    let mut casts = Vec::new();
    for (i, text) in texts.enumerate() {
        let null = SqlExpr::Value(sqlparser::ast::Value::Null.into());
        let cast = SqlExpr::Cast {
            kind: sqlparser::ast::CastKind::Cast,
            expr: Box::new(null),
            data_type: sql_type(text)?,
            array: false,
            format: None,
        };
        casts.push(SelectItem::ExprWithAlias { expr: cast, alias: Ident::new(format!("t{i}")) });
    }
    let mut query = template("SELECT NULL")?;
    if let SetExpr::Select(select) = query.body.as_mut() {
        select.projection = casts;
    }
    let (_, plan) = Box::pin(session.plan_query(&query)).await?;
    Ok(plan.schema().fields().iter().map(|f| f.data_type().clone()).collect())
}

/// Each parameter's name and type, from the `__tarn_params` relation a plan was made over.
fn param_types(plan: &LogicalPlan) -> Vec<(String, DataType)> {
    let mut params = Vec::new();
    let _ = plan.apply(|node| {
        if let LogicalPlan::SubqueryAlias(alias) = node
            && alias.alias.table() == PARAMS
        {
            params = alias.schema.fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
            return Ok(datafusion::common::tree_node::TreeNodeRecursion::Stop);
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    params
}

/// The one value a `SELECT <value> AS __tarn_result [FROM params]` plan computes.
fn projected_value(plan: &LogicalPlan) -> Option<Expr> {
    let LogicalPlan::Projection(projection) = plan else { return None };
    let reads_params_only = match projection.input.as_ref() {
        LogicalPlan::EmptyRelation(_) => true,
        LogicalPlan::SubqueryAlias(alias) => alias.alias.table() == PARAMS,
        _ => false,
    };
    let [value] = projection.expr.as_slice() else { return None };
    reads_params_only.then(|| value.clone().unalias())
}

/// The subquery of the `WHERE EXISTS (...)` a table function's body was planned in.
pub(crate) fn exists_subquery(plan: &LogicalPlan) -> Option<LogicalPlan> {
    let mut found = None;
    let _ = plan.apply(|node| {
        if let LogicalPlan::Filter(filter) = node
            && let Expr::Exists(Exists { subquery, .. }) = &filter.predicate
        {
            found = Some(subquery.subquery.as_ref().clone());
            return Ok(datafusion::common::tree_node::TreeNodeRecursion::Stop);
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    found
}

fn param_index(params: &[(String, DataType)], column: &Column) -> Option<usize> {
    if column.relation.as_ref().is_some_and(|r| r.table() == PARAMS) {
        params.iter().position(|(name, _)| *name == column.name)
    } else {
        None
    }
}

/// `plan` with each outer reference to a parameter replaced by `bind(column)`, in every
/// expression of every node and subquery; each subquery's list of outer references follows.
pub(crate) fn bind_outer_params(plan: LogicalPlan, bind: &dyn Fn(&Column) -> Option<Expr>) -> Result<LogicalPlan> {
    let plan = plan
        .transform_up_with_subqueries(|node| {
            // Names stay: a node above (a set operation, a projection) reads columns by name.
            let names = datafusion::logical_expr::expr_rewriter::NamePreserver::new(&node);
            let bound = node.map_expressions(|expr| {
                let saved = names.save(&expr);
                let bound = expr.transform_up(|e| match &e {
                    Expr::OuterReferenceColumn(_, column) => match bind(column) {
                        Some(value) => Ok(Transformed::yes(value)),
                        None => Ok(Transformed::no(e)),
                    },
                    _ => Ok(Transformed::no(e)),
                })?;
                Ok(if bound.transformed { Transformed::yes(saved.restore(bound.data)) } else { bound })
            })?;
            if bound.transformed { Ok(Transformed::yes(bound.data.recompute_schema()?)) } else { Ok(bound) }
        })?
        .data;
    Ok(refresh_outer_refs(plan)?)
}

/// Recompute each subquery expression's outer references from its plan.
pub(crate) fn refresh_outer_refs(plan: LogicalPlan) -> datafusion::common::Result<LogicalPlan> {
    Ok(plan
        .transform_up_with_subqueries(|node| {
            node.map_expressions(|expr| {
                expr.transform_up(|e| {
                    Ok(match e {
                        Expr::ScalarSubquery(s) => Transformed::yes(Expr::ScalarSubquery(refreshed(s))),
                        Expr::Exists(Exists { subquery, negated }) => {
                            Transformed::yes(Expr::Exists(Exists { subquery: refreshed(subquery), negated }))
                        }
                        Expr::InSubquery(InSubquery { expr, subquery, negated }) => {
                            Transformed::yes(Expr::InSubquery(InSubquery { expr, subquery: refreshed(subquery), negated }))
                        }
                        other => Transformed::no(other),
                    })
                })
            })
        })?
        .data)
}

fn refreshed(subquery: Subquery) -> Subquery {
    let outer_ref_columns = subquery.subquery.all_out_ref_exprs();
    Subquery { outer_ref_columns, ..subquery }
}

/// Whether a function name is one of DataFusion's (or Spark's) built-ins in this session
/// (the registries hold every alias as a key too).
fn is_builtin(state: &SessionState, name: &ObjectName) -> bool {
    let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() else { return false };
    let lower = ident.value.to_ascii_lowercase();
    state.scalar_functions().contains_key(&lower)
        || state.aggregate_functions().contains_key(&lower)
        || state.window_functions().contains_key(&lower)
}

/// The names of the functions an AST calls in expressions.
#[derive(Default)]
struct CalledNames {
    found: Vec<ObjectName>,
}

impl Visitor for CalledNames {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &SqlExpr) -> std::ops::ControlFlow<()> {
        if let SqlExpr::Function(f) = expr
            && !self.found.contains(&f.name)
        {
            self.found.push(f.name.clone());
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// Renames calls of SQL functions to the name they are registered under.
struct Rename {
    renames: HashMap<String, String>,
}

impl VisitorMut for Rename {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &mut SqlExpr) -> std::ops::ControlFlow<()> {
        if let SqlExpr::Function(f) = expr
            && let Some(name) = self.renames.get(&f.name.to_string().to_ascii_lowercase())
        {
            f.name = ObjectName::from(vec![Ident::with_quote('"', name.clone())]);
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// A SQL function of one statement: expanded into its body when the plan is simplified.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SqlFunction {
    name: String,
    /// Each parameter's name (lower case) and type.
    params: Vec<(String, DataType)>,
    /// Each parameter's default, planned (a constant expression of the parameter's type).
    defaults: Vec<Option<Expr>>,
    /// The body, over columns `__tarn_params.<name>`.
    body: Expr,
    return_type: DataType,
    signature: Signature,
}

impl SqlFunction {
    fn required(&self) -> usize {
        self.defaults.iter().position(Option::is_some).unwrap_or(self.defaults.len())
    }

    /// The body with `args` bound to the parameters, cast to the return type.
    fn expand(&self, mut args: Vec<Expr>, info: &SimplifyContext) -> datafusion::common::Result<Expr> {
        for default in self.defaults.iter().skip(args.len()) {
            match default {
                Some(value) => args.push(value.clone()),
                None => return plan_err!("[WRONG_NUM_ARGS] {} needs at least {} arguments", self.name, self.required()),
            }
        }
        // Inside a subquery, a parameter is an outer reference to the caller's columns.
        let mut outer = Vec::with_capacity(args.len());
        for arg in &args {
            outer.push(outer_reference(arg, info)?);
        }
        let bind_column = |column: &Column| param_index(&self.params, column).map(|i| args[i].clone());
        let bind_outer = |column: &Column| param_index(&self.params, column).map(|i| outer[i].clone());
        let body = self
            .body
            .clone()
            .transform_up(|e| {
                Ok(match e {
                    Expr::Column(ref column) => match bind_column(column) {
                        Some(value) => Transformed::yes(value),
                        None => Transformed::no(e),
                    },
                    Expr::ScalarSubquery(s) => Transformed::yes(Expr::ScalarSubquery(bound_subquery(s, &bind_outer)?)),
                    Expr::Exists(Exists { subquery, negated }) => {
                        Transformed::yes(Expr::Exists(Exists { subquery: bound_subquery(subquery, &bind_outer)?, negated }))
                    }
                    Expr::InSubquery(InSubquery { expr, subquery, negated }) => {
                        Transformed::yes(Expr::InSubquery(InSubquery { expr, subquery: bound_subquery(subquery, &bind_outer)?, negated }))
                    }
                    other => Transformed::no(other),
                })
            })?
            .data;
        // The body ends in its cast to the declared type (planned with it).
        Ok(body)
    }
}

fn bound_subquery(subquery: Subquery, bind: &dyn Fn(&Column) -> Option<Expr>) -> datafusion::common::Result<Subquery> {
    let plan = bind_outer_params(subquery.subquery.as_ref().clone(), bind)
        .map_err(|e| datafusion::common::DataFusionError::Plan(e.to_string()))?;
    Ok(refreshed(Subquery { subquery: Arc::new(plan), ..subquery }))
}

/// `arg` as a subquery sees it: the caller's columns as outer references.
fn outer_reference(arg: &Expr, info: &SimplifyContext) -> datafusion::common::Result<Expr> {
    Ok(arg
        .clone()
        .transform_up(|e| match e {
            Expr::Column(column) => {
                let column_expr = Expr::Column(column.clone());
                let field = Field::new(column.name.clone(), info.get_data_type(&column_expr)?, info.nullable(&column_expr)?);
                Ok(Transformed::yes(Expr::OuterReferenceColumn(Arc::new(field), column)))
            }
            other => Ok(Transformed::no(other)),
        })?
        .data)
}

impl ScalarUDFImpl for SqlFunction {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> datafusion::common::Result<Vec<DataType>> {
        if args.len() < self.required() || args.len() > self.params.len() {
            let range = if self.required() == self.params.len() {
                format!("{}", self.params.len())
            } else {
                format!("{} to {}", self.required(), self.params.len())
            };
            return plan_err!("[WRONG_NUM_ARGS] {} takes {range} arguments, got {}", self.name, args.len());
        }
        Ok(self.params.iter().take(args.len()).map(|(_, t)| t.clone()).collect())
    }
    fn return_type(&self, _args: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(self.return_type.clone())
    }
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> datafusion::common::Result<ExprSimplifyResult> {
        Ok(ExprSimplifyResult::Simplified(self.expand(args, info)?))
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> datafusion::common::Result<ColumnarValue> {
        datafusion::common::exec_err!("SQL function {} runs only as part of a planned query", self.name)
    }
}
