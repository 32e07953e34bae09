//! Session variables: `DECLARE VARIABLE`, `SET VARIABLE`, `DROP TEMPORARY VARIABLE`, and how
//! a query reads them.
//!
//! A variable is a typed value of the session, named `v`, `session.v` or `system.session.v`.
//! In a query a name is a variable only where no column of any scope has it (Spark's rule).
//! To get that rule from DataFusion itself, a query that mentions a variable is planned inside
//! `SELECT 1 FROM (<one row of the variables>) AS __tarn_vars WHERE EXISTS (<query>)`: names the
//! query's own scopes resolve stay columns, the others become outer references to
//! `__tarn_vars`, which are then replaced by the variables' values in the query's own plan.

use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::scalar::ScalarValue;
use sqlparser::ast::{
    DataType, Expr as SqlExpr, Ident, ObjectName, ObjectNamePart, Query, SelectItem, SetExpr, Statement as SqlStatement, Visit, VisitMut,
    Visitor, VisitorMut,
};

use crate::ast::VariableValues;
use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::session::Session;

/// The relation a query's variables are planned as.
const VARS: &str = "__tarn_vars";

/// A session variable's type (as SQL, for planning) and value.
#[derive(Debug, Clone)]
pub(crate) struct Variable {
    pub sql_type: String,
    pub value: ScalarValue,
}

/// The lower-case name a (possibly qualified) variable name stands for.
fn variable_name(name: &ObjectName) -> Result<String> {
    let parts: Vec<String> = name.0.iter().filter_map(ObjectNamePart::as_ident).map(|i| i.value.to_ascii_lowercase()).collect();
    match parts.as_slice() {
        [v] => Ok(v.clone()),
        [s, v] if s == "session" => Ok(v.clone()),
        [c, s, v] if c == "system" && s == "session" => Ok(v.clone()),
        _ => Err(SqlError::user(format!(
            "[UNRESOLVED_VARIABLE] '{name}' is not a session variable's name; use v, session.v or system.session.v"
        ))),
    }
}

/// The one row `query` answers (NULLs for none; an error for more).
async fn one_row(session: &Session, query: &Query, expected: usize) -> Result<Vec<ScalarValue>> {
    let (state, plan) = session.plan_query(query).await?;
    let batches = datafusion::dataframe::DataFrame::new(state, plan).collect().await?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    if rows > 1 {
        return Err(SqlError::user("[ROW_SUBQUERY_TOO_MANY_ROWS] the query for SET VARIABLE returned more than one row"));
    }
    let Some(batch) = batches.iter().find(|b| b.num_rows() == 1) else {
        let schema = batches.first().map(|b| b.schema());
        return Ok(match schema {
            Some(schema) => {
                schema.fields().iter().map(|f| ScalarValue::try_from(f.data_type())).collect::<datafusion::common::Result<_>>()?
            }
            None => vec![ScalarValue::Null; expected],
        });
    };
    if batch.num_columns() != expected {
        return Err(SqlError::user(format!(
            "[ASSIGNMENT_ARITY_MISMATCH] SET VARIABLE names {expected} variables but the query returns {} columns",
            batch.num_columns()
        )));
    }
    Ok(batch.columns().iter().map(|c| ScalarValue::try_from_array(c, 0)).collect::<datafusion::common::Result<_>>()?)
}

/// `SELECT <exprs>`, optionally each cast to a type.
fn select_of(exprs: Vec<SqlExpr>) -> Result<Query> {
    let mut query = match crate::parser::parse_sql("SELECT 1")?.pop() {
        Some(crate::ast::Statement::Query(statement)) => match *statement {
            SqlStatement::Query(query) => *query,
            _ => return Err(SqlError::Internal("SELECT 1 is a query".into())),
        },
        _ => return Err(SqlError::Internal("SELECT 1 is a query".into())),
    };
    if let SetExpr::Select(select) = query.body.as_mut() {
        select.projection = exprs.into_iter().map(SelectItem::UnnamedExpr).collect();
    }
    Ok(query)
}

fn cast_to(expr: SqlExpr, data_type: DataType) -> SqlExpr {
    SqlExpr::Cast { kind: sqlparser::ast::CastKind::Cast, expr: Box::new(expr), data_type, array: false, format: None }
}

pub(crate) async fn declare(
    session: &mut Session,
    name: &ObjectName,
    or_replace: bool,
    data_type: Option<DataType>,
    default: Option<SqlExpr>,
) -> Result<StatementOutput> {
    let key = variable_name(name)?;
    if session.variables.contains_key(&key) && !or_replace {
        return Err(SqlError::user(format!(
            "[VARIABLE_ALREADY_EXISTS] the variable '{key}' already exists; use DECLARE OR REPLACE VARIABLE or DROP TEMPORARY VARIABLE {key}"
        )));
    }
    let value_expr = default.unwrap_or(SqlExpr::Value(sqlparser::ast::Value::Null.into()));
    let expr = match &data_type {
        Some(t) => cast_to(value_expr, t.clone()),
        None => value_expr,
    };
    let value = one_row(session, &select_of(vec![expr])?, 1).await?.pop().unwrap_or(ScalarValue::Null);
    let (sql_type, value) = match data_type {
        Some(t) => (t.to_string(), value),
        // `DEFAULT NULL` without a type: Spark's VOID (planned as a NULL STRING).
        None if value.data_type().is_null() => ("STRING".to_string(), value),
        None => (crate::types::spark_type_name(&value.data_type()), value),
    };
    session.variables.insert(key, Variable { sql_type, value });
    Ok(StatementOutput::empty())
}

pub(crate) async fn set(session: &mut Session, targets: &[ObjectName], values: VariableValues) -> Result<StatementOutput> {
    let mut keys = Vec::with_capacity(targets.len());
    for target in targets {
        let key = variable_name(target)?;
        if !session.variables.contains_key(&key) {
            return Err(SqlError::user(format!(
                "[UNRESOLVED_VARIABLE] no variable '{target}'; DECLARE VARIABLE {target} <type> makes one"
            )));
        }
        if keys.contains(&key) {
            return Err(SqlError::user(format!("[DUPLICATE_ASSIGNMENTS] the variable '{key}' is set twice")));
        }
        keys.push(key);
    }
    // Every new value is computed from the old ones before any is assigned, then cast to
    // its variable's type.
    let query = match values {
        VariableValues::Exprs(exprs) => {
            if exprs.len() != keys.len() {
                return Err(SqlError::user("[ASSIGNMENT_ARITY_MISMATCH] SET VARIABLE needs one value per variable"));
            }
            select_of(exprs)?
        }
        VariableValues::Query(query) => *query,
    };
    let row = one_row(session, &query, keys.len()).await?;
    let mut typed = Vec::with_capacity(keys.len());
    for (key, value) in keys.iter().zip(row) {
        let data_type = session.variables.get(key).map(|v| v.value.data_type()).unwrap_or(arrow::datatypes::DataType::Null);
        typed.push(value.cast_to(&data_type).map_err(|e| SqlError::user(format!("SET VARIABLE {key}: {e}")))?);
    }
    for (key, value) in keys.into_iter().zip(typed) {
        if let Some(variable) = session.variables.get_mut(&key) {
            variable.value = value;
        }
    }
    Ok(StatementOutput::empty())
}

pub(crate) fn drop(session: &mut Session, name: &ObjectName, if_exists: bool) -> Result<StatementOutput> {
    let key = variable_name(name)?;
    if session.variables.remove(&key).is_none() && !if_exists {
        return Err(SqlError::user(format!("[VARIABLE_NOT_FOUND] no variable '{key}'")));
    }
    Ok(StatementOutput::empty())
}

/// Whether a query names one of `variables` (bare or `session.` / `system.session.`).
struct Mentions<'a> {
    variables: &'a std::collections::HashMap<String, Variable>,
    found: bool,
}

impl Visitor for Mentions<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &SqlExpr) -> std::ops::ControlFlow<()> {
        let last = match expr {
            SqlExpr::Identifier(i) => Some(i),
            SqlExpr::CompoundIdentifier(parts) => parts.last(),
            _ => None,
        };
        if last.is_some_and(|i| self.variables.contains_key(&i.value.to_ascii_lowercase())) {
            self.found = true;
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// Whether a query has a relation named or aliased `session` or `system`: then `session.v`
/// may be its column, and stays one (columns first, as Spark resolves).
struct SessionRelation {
    found: bool,
}

impl Visitor for SessionRelation {
    type Break = ();
    fn pre_visit_table_factor(&mut self, factor: &sqlparser::ast::TableFactor) -> std::ops::ControlFlow<()> {
        let alias = match factor {
            sqlparser::ast::TableFactor::Table { name, alias, .. } => {
                alias.as_ref().map(|a| a.name.value.clone()).or_else(|| name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()))
            }
            sqlparser::ast::TableFactor::Derived { alias, .. }
            | sqlparser::ast::TableFactor::TableFunction { alias, .. }
            | sqlparser::ast::TableFactor::Function { alias, .. }
            | sqlparser::ast::TableFactor::UNNEST { alias, .. }
            | sqlparser::ast::TableFactor::NestedJoin { alias, .. } => alias.as_ref().map(|a| a.name.value.clone()),
            _ => None,
        };
        if alias.is_some_and(|a| a.eq_ignore_ascii_case("session") || a.eq_ignore_ascii_case("system")) {
            self.found = true;
        }
        std::ops::ControlFlow::Continue(())
    }
    fn pre_visit_query(&mut self, query: &Query) -> std::ops::ControlFlow<()> {
        if let Some(with) = &query.with
            && with
                .cte_tables
                .iter()
                .any(|c| c.alias.name.value.eq_ignore_ascii_case("session") || c.alias.name.value.eq_ignore_ascii_case("system"))
        {
            self.found = true;
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// `session.v` and `system.session.v` as the variables relation's columns.
struct Qualified<'a> {
    variables: &'a std::collections::HashMap<String, Variable>,
}

impl VisitorMut for Qualified<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &mut SqlExpr) -> std::ops::ControlFlow<()> {
        if let SqlExpr::CompoundIdentifier(parts) = expr {
            let lower: Vec<String> = parts.iter().map(|p| p.value.to_ascii_lowercase()).collect();
            let variable = match lower.as_slice() {
                [s, v] if s == "session" => Some(v.clone()),
                [c, s, v] if c == "system" && s == "session" => Some(v.clone()),
                _ => None,
            };
            if let Some(v) = variable.filter(|v| self.variables.contains_key(v)) {
                *expr = SqlExpr::CompoundIdentifier(vec![Ident::new(VARS), Ident::new(v)]);
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

impl Session {
    /// A query that names a session variable, wrapped so its plan reads the variables (see the
    /// module's comment); `None` when it names none.
    pub(crate) fn with_variables(&self, statement: &SqlStatement) -> Result<Option<SqlStatement>> {
        let SqlStatement::Query(query) = statement else { return Ok(None) };
        if self.variables.is_empty() {
            return Ok(None);
        }
        let mut mentions = Mentions { variables: &self.variables, found: false };
        let _ = Visit::visit(statement, &mut mentions);
        if !mentions.found {
            return Ok(None);
        }
        let mut query = query.clone();
        let mut session_relation = SessionRelation { found: false };
        let _ = Visit::visit(&*query, &mut session_relation);
        if !session_relation.found {
            let _ = VisitMut::visit(&mut query, &mut Qualified { variables: &self.variables });
        }
        let mut names: Vec<&String> = self.variables.keys().collect();
        names.sort();
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            let sql_type = crate::parser::parse_data_type(&self.variables[name].sql_type)?;
            columns.push(SelectItem::ExprWithAlias {
                expr: cast_to(SqlExpr::Value(sqlparser::ast::Value::Null.into()), sql_type),
                alias: Ident::new(name.clone()),
            });
        }
        let mut wrapper = select_of(vec![SqlExpr::Value(sqlparser::ast::Value::Number("1".into(), false).into())])?;
        let mut from = select_of(Vec::new())?;
        if let SetExpr::Select(select) = from.body.as_mut() {
            select.projection = columns;
        }
        if let SetExpr::Select(select) = wrapper.body.as_mut() {
            select.from = vec![sqlparser::ast::TableWithJoins {
                relation: sqlparser::ast::TableFactor::Derived {
                    lateral: false,
                    subquery: Box::new(from),
                    alias: Some(sqlparser::ast::TableAlias { explicit: true, name: Ident::new(VARS), columns: vec![], at: None }),
                    sample: None,
                },
                joins: vec![],
            }];
            select.selection = Some(SqlExpr::Exists { subquery: query, negated: false });
        }
        Ok(Some(SqlStatement::Query(Box::new(wrapper))))
    }

    /// The plan of the query inside a [`Session::with_variables`] wrapper, its outer
    /// references to the variables replaced by their values.
    pub(crate) fn read_variables(&self, wrapped: &LogicalPlan) -> Result<LogicalPlan> {
        let plan = crate::sql_functions::exists_subquery(wrapped)
            .ok_or_else(|| SqlError::Internal("a query with variables was not planned inside EXISTS".into()))?;
        let value = |column: &datafusion::common::Column| {
            let variable = column.relation.as_ref().filter(|r| r.table() == VARS).and_then(|_| self.variables.get(&column.name))?;
            Some(Expr::Literal(variable.value.clone(), None))
        };
        crate::sql_functions::bind_outer_params(plan, &value)
    }
}
