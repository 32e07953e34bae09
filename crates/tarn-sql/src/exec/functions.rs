//! SQL functions: `CREATE [TEMPORARY] FUNCTION`, `DROP FUNCTION`, `SHOW FUNCTIONS`,
//! `DESCRIBE FUNCTION`. How a call runs is `sql_functions`.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use sqlparser::ast::{FunctionArg, FunctionArgExpr, Ident, ObjectName, ObjectNamePart};
use tarn_catalog::{CatalogError, FunctionEntry, FunctionParam, FunctionReturns, ReturnColumn, Securable, TableIdent};

use crate::ast::{CreateFunction, FunctionBody, FunctionReturnSpec, FunctionScope};
use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::session::Session;
use crate::sql_functions::Found;

/// The three-part name of a function in the catalog.
pub(crate) fn function_ident(session: &Session, name: &ObjectName) -> Result<TableIdent> {
    let parts: Vec<&Ident> = name.0.iter().filter_map(ObjectNamePart::as_ident).collect();
    let lower = |i: &Ident| i.value.to_ascii_lowercase();
    Ok(match parts.as_slice() {
        [f] => TableIdent::new(session.current_catalog.clone(), session.current_schema.clone(), lower(f)),
        [s, f] => TableIdent::new(session.current_catalog.clone(), lower(s), lower(f)),
        [c, s, f] => TableIdent::new(lower(c), lower(s), lower(f)),
        _ => return Err(SqlError::user(format!("'{name}' is not a function name; use f, schema.f or catalog.schema.f"))),
    })
}

impl Session {
    /// The catalog and schema a function named `name` is created in.
    pub(crate) fn function_schema(&self, name: &ObjectName) -> Result<(String, String)> {
        let ident = function_ident(self, name)?;
        Ok((ident.catalog, ident.schema))
    }
}

/// The definition a `CREATE FUNCTION` gives, checked as Spark checks it.
fn definition(session: &Session, create: &CreateFunction, ident: &TableIdent) -> Result<FunctionEntry> {
    let mut seen = HashSet::new();
    let mut defaulted = false;
    let mut params = Vec::with_capacity(create.params.len());
    for param in &create.params {
        let name = param.name.value.to_ascii_lowercase();
        if !seen.insert(name.clone()) {
            return Err(SqlError::user(format!("[DUPLICATE_ROUTINE_PARAMETER_NAMES] parameter '{name}' is named twice in {ident}")));
        }
        if param.default.is_some() {
            defaulted = true;
        } else if defaulted {
            return Err(SqlError::user(format!(
                "[USER_DEFINED_FUNCTIONS.NOT_A_VALID_DEFAULT_PARAMETER_POSITION] parameter '{name}' has no DEFAULT but comes after one \
                 that has: parameters with defaults come last"
            )));
        }
        params.push(FunctionParam {
            name: param.name.value.clone(),
            data_type: param.data_type.to_string(),
            default: param.default.as_ref().map(crate::parser::sql_text),
            comment: param.comment.clone(),
        });
    }
    let returns = match &create.returns {
        FunctionReturnSpec::Scalar(data_type) => FunctionReturns::Scalar { data_type: data_type.to_string() },
        FunctionReturnSpec::Table(columns) => {
            if columns.is_empty() {
                return Err(SqlError::user(
                    "[USER_DEFINED_FUNCTIONS.SQL_TABLE_UDF_MISSING_COLUMN_NAMES] RETURNS TABLE needs at least one column",
                ));
            }
            if !matches!(create.body, FunctionBody::Query(_)) {
                return Err(SqlError::user(format!("[INVALID_SQL_FUNCTION_BODY] table function {ident} must RETURN a query")));
            }
            let mut names = HashSet::new();
            let mut out = Vec::with_capacity(columns.len());
            for column in columns {
                let name = column.name.value.to_ascii_lowercase();
                if !names.insert(name.clone()) {
                    return Err(SqlError::user(format!("[DUPLICATE_ROUTINE_RETURNS_COLUMNS] result column '{name}' is named twice")));
                }
                if column.not_null {
                    return Err(SqlError::user(format!("result column '{name}' cannot be NOT NULL: a function's results are nullable")));
                }
                out.push(ReturnColumn {
                    name: column.name.value.clone(),
                    data_type: column.data_type.to_string(),
                    comment: column.comment.clone(),
                });
            }
            FunctionReturns::Table { columns: out }
        }
    };
    Ok(FunctionEntry {
        catalog: ident.catalog.clone(),
        schema: ident.schema.clone(),
        name: ident.table.clone(),
        id: uuid::Uuid::new_v4().to_string(),
        params,
        returns,
        body: create.body.to_sql_text(),
        comment: create.comment.clone(),
        deterministic: create.deterministic,
        default_catalog: session.current_catalog.clone(),
        default_schema: session.current_schema.clone(),
        created_at: chrono::Utc::now().timestamp_millis(),
    })
}

/// Plan the function once, as a call would: a body that cannot run is refused when created.
async fn check_plans(session: &Session, found: &Found) -> Result<()> {
    match &found.entry.returns {
        FunctionReturns::Scalar { .. } => {
            session.plan_scalar_function(found).await?;
        }
        FunctionReturns::Table { .. } => {
            let nulls: Vec<FunctionArg> = found
                .entry
                .params
                .iter()
                .map(|_| FunctionArg::Unnamed(FunctionArgExpr::Expr(sqlparser::ast::Expr::Value(sqlparser::ast::Value::Null.into()))))
                .collect();
            session.plan_table_function(found, &nulls).await?;
        }
    }
    Ok(())
}

pub(crate) async fn create_function(session: &mut Session, create: CreateFunction) -> Result<StatementOutput> {
    if create.temporary {
        let [ObjectNamePart::Identifier(name)] = create.name.0.as_slice() else {
            return Err(SqlError::user(format!(
                "[INVALID_TEMP_OBJ_QUALIFIER] a temporary function's name has one part, got '{}'",
                create.name
            )));
        };
        let key = name.value.to_ascii_lowercase();
        if session.temp_functions.contains_key(&key) && !create.or_replace {
            if create.if_not_exists {
                return Ok(StatementOutput::empty());
            }
            return Err(SqlError::user(format!(
                "[ROUTINE_ALREADY_EXISTS] the temporary function '{key}' already exists; use CREATE OR REPLACE TEMPORARY FUNCTION"
            )));
        }
        let ident = TableIdent::new(String::new(), String::new(), key.clone());
        let entry = definition(session, &create, &ident)?;
        let found = Found { entry, temporary: true };
        Box::pin(check_plans(session, &found)).await?;
        session.temp_functions.insert(key, found.entry);
        return Ok(StatementOutput::empty());
    }
    let ident = function_ident(session, &create.name)?;
    if session.catalog.get_schema(&ident.catalog, &ident.schema).await?.is_none() {
        return Err(CatalogError::SchemaNotFound(format!("{}.{}", ident.catalog, ident.schema)).into());
    }
    let existing = session.catalog.get_function(&ident).await?;
    if existing.is_some() && !create.or_replace {
        if create.if_not_exists {
            return Ok(StatementOutput::empty());
        }
        return Err(SqlError::user(format!(
            "[ROUTINE_ALREADY_EXISTS] the function '{ident}' already exists; use CREATE OR REPLACE FUNCTION"
        )));
    }
    let mut entry = definition(session, &create, &ident)?;
    if let Some(existing) = &existing {
        entry.id = existing.id.clone();
    }
    let found = Found { entry, temporary: false };
    Box::pin(check_plans(session, &found)).await?;
    if existing.is_some() {
        session.catalog.replace_function(&found.entry).await?;
    } else {
        session.catalog.create_function(&found.entry).await?;
        super::access::record_owner(session, &Securable::function(&found.entry)).await?;
    }
    Ok(StatementOutput::empty())
}

pub(crate) async fn drop_function(session: &mut Session, name: &ObjectName, temporary: bool, if_exists: bool) -> Result<StatementOutput> {
    if let [ObjectNamePart::Identifier(one)] = name.0.as_slice()
        && session.temp_functions.remove(&one.value.to_ascii_lowercase()).is_some()
    {
        return Ok(StatementOutput::empty());
    }
    if !temporary {
        let ident = function_ident(session, name)?;
        if session.catalog.get_schema(&ident.catalog, &ident.schema).await?.is_some()
            && session.catalog.drop_function(&ident).await?.is_some()
        {
            return Ok(StatementOutput::empty());
        }
    }
    if if_exists {
        return Ok(StatementOutput::empty());
    }
    Err(SqlError::user(format!("[ROUTINE_NOT_FOUND] no function '{name}'; SHOW USER FUNCTIONS lists them")))
}

/// `SHOW FUNCTIONS`: one column `function`, as Spark: SQL functions by their full names (a
/// temporary one by its own), built-ins by theirs.
pub(crate) async fn show_functions(
    session: &mut Session,
    scope: FunctionScope,
    schema: Option<ObjectName>,
    like: Option<String>,
) -> Result<StatementOutput> {
    let (catalog, schema) = match schema {
        Some(name) => session.schema_name(&name)?,
        None => (session.current_catalog.clone(), session.current_schema.clone()),
    };
    let matches = |name: &str| super::util::like_matches(like.as_deref(), name);
    let mut names: Vec<String> = Vec::new();
    if scope != FunctionScope::System {
        let mut temporary: Vec<String> = session.temp_functions.keys().filter(|n| matches(n)).cloned().collect();
        temporary.sort();
        names.extend(temporary);
        for f in session.catalog.list_functions(&catalog, &schema).await? {
            if matches(&f.name) {
                names.push(f.ident().to_string());
            }
        }
    }
    if scope != FunctionScope::User {
        let state = &session.base;
        let mut builtins: Vec<String> = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .filter(|n| !n.starts_with("__") && !n.starts_with("spark_") && matches(n))
            .cloned()
            .collect();
        builtins.sort();
        builtins.dedup();
        names.extend(builtins);
    }
    StatementOutput::from_columns(vec![("function", Arc::new(StringArray::from_iter_values(names)) as ArrayRef)])
}

/// `DESCRIBE FUNCTION [EXTENDED] f`: Spark's `function_desc` lines.
pub(crate) async fn describe_function(session: &mut Session, name: &ObjectName, extended: bool) -> Result<StatementOutput> {
    let mut lines: Vec<String> = Vec::new();
    if let Some(found) = session.find_function(name).await? {
        // Its body is for those who may run it.
        if !found.temporary {
            session.require_execute(&found.entry).await?;
        }
        let entry = &found.entry;
        lines.push(format!("Function:    {}", found.display_name()));
        lines.push(format!("Type:        {}", if matches!(entry.returns, FunctionReturns::Table { .. }) { "TABLE" } else { "SCALAR" }));
        let params: Vec<String> = entry
            .params
            .iter()
            .map(|p| {
                let mut text = format!("{} {}", p.name, p.data_type);
                if let Some(d) = &p.default {
                    text.push_str(&format!(" DEFAULT {d}"));
                }
                if let Some(c) = &p.comment {
                    text.push_str(&format!(" '{c}'"));
                }
                text
            })
            .collect();
        lines.push(format!("Input:       {}", if params.is_empty() { "()".to_string() } else { params.join(", ") }));
        match &entry.returns {
            FunctionReturns::Scalar { data_type } => lines.push(format!("Returns:     {data_type}")),
            FunctionReturns::Table { columns } => {
                let columns: Vec<String> = columns.iter().map(|c| format!("{} {}", c.name, c.data_type)).collect();
                lines.push(format!("Returns:     {}", columns.join(", ")));
            }
        }
        if extended {
            if let Some(comment) = &entry.comment {
                lines.push(format!("Comment:     {comment}"));
            }
            lines.push(format!("Deterministic: {}", entry.deterministic));
            lines.push("Data Access: CONTAINS SQL".into());
            lines.push(format!("Body:        {}", entry.body));
        }
    } else if let [ObjectNamePart::Identifier(one)] = name.0.as_slice() {
        let key = one.value.to_ascii_lowercase();
        let state = &session.base;
        let documentation = state
            .scalar_functions()
            .get(&key)
            .map(|f| f.documentation().cloned())
            .or_else(|| state.aggregate_functions().get(&key).map(|f| f.documentation().cloned()))
            .or_else(|| state.window_functions().get(&key).map(|f| f.documentation().cloned()));
        let Some(documentation) = documentation else {
            return Err(SqlError::user(format!("[ROUTINE_NOT_FOUND] no function '{name}'; SHOW FUNCTIONS lists them")));
        };
        lines.push(format!("Function: {key}"));
        match documentation {
            Some(doc) => {
                lines.push(format!("Usage: {} - {}", doc.syntax_example, doc.description));
                if extended && let Some(example) = &doc.sql_example {
                    lines.push(format!("Extended Usage:\n{example}"));
                }
            }
            None => lines.push("Usage: N/A.".into()),
        }
    } else {
        return Err(SqlError::user(format!("[ROUTINE_NOT_FOUND] no function '{name}'; SHOW USER FUNCTIONS lists them")));
    }
    StatementOutput::from_columns(vec![("function_desc", Arc::new(StringArray::from_iter_values(lines)) as ArrayRef)])
}
