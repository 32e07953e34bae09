//! Tarn's table functions, bound by name resolution like time travel is:
//! `table_changes('t', start [, end])` — the change data feed of a table between two versions
//! or timestamps — and `read_files('path-or-glob', format => 'csv', ...)`.
//!
//! Table and path arguments must be string literals: they are what privileges are checked on
//! before anything runs.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::execution::context::SessionState;
use datafusion::scalar::ScalarValue;
use sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArgOperator, ObjectName, Value};

use crate::relations::FunctionCall;
use tarn_engine::{ChangeBound, changes_provider, resolve_change_range};

use crate::error::{Result, SqlError};
use crate::session::Session;

pub(crate) const TABLE_CHANGES: &str = "table_changes";
pub(crate) const READ_FILES: &str = "read_files";

/// Whether `function` (a name normalised by [`crate::relations::function_name`]) is one of
/// Tarn's table functions.
pub(crate) fn is_tarn_function(function: &str) -> bool {
    function == TABLE_CHANGES || function == READ_FILES
}

/// A call's arguments: positional ones in order, then `name => value` ones.
pub(crate) struct Arguments {
    pub positional: Vec<Expr>,
    pub named: Vec<(String, Expr)>,
}

impl Arguments {
    pub fn parse(function: &str, args: &[FunctionArg]) -> Result<Self> {
        let mut out = Arguments { positional: Vec::new(), named: Vec::new() };
        for arg in args {
            match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => {
                    if !out.named.is_empty() {
                        return Err(SqlError::user(format!("{function}: positional arguments come before named ones")));
                    }
                    out.positional.push(e.clone());
                }
                FunctionArg::Named {
                    name,
                    arg: FunctionArgExpr::Expr(e),
                    operator: FunctionArgOperator::RightArrow | FunctionArgOperator::Equals | FunctionArgOperator::Assignment,
                } => {
                    out.named.push((name.value.to_ascii_lowercase(), e.clone()));
                }
                FunctionArg::ExprNamed { name: Expr::Identifier(name), arg: FunctionArgExpr::Expr(e), .. } => {
                    out.named.push((name.value.to_ascii_lowercase(), e.clone()));
                }
                other => {
                    return Err(SqlError::user(format!("{function}: unsupported argument '{other}'")));
                }
            }
        }
        Ok(out)
    }

    /// The text of a string-literal argument.
    pub fn literal(function: &str, what: &str, expr: &Expr) -> Result<String> {
        match expr {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Ok(s.clone()),
                _ => Err(SqlError::user(format!("{function}: the {what} must be a string literal, got {expr}"))),
            },
            _ => Err(SqlError::user(format!("{function}: the {what} must be a string literal, got {expr}"))),
        }
    }
}

/// The table `table_changes` reads (its first argument), for privilege checks.
pub(crate) fn table_changes_target(args: &[FunctionArg]) -> Result<ObjectName> {
    let args = Arguments::parse(TABLE_CHANGES, args)?;
    let Some(first) = args.positional.first() else {
        return Err(SqlError::user("table_changes(table, start [, end]) needs a table name"));
    };
    crate::parser::parse_object_name(&Arguments::literal(TABLE_CHANGES, "table name", first)?)
}

/// The path `read_files` reads (its first argument), for privilege checks.
pub(crate) fn read_files_source(args: &[FunctionArg]) -> Result<String> {
    let args = Arguments::parse(READ_FILES, args)?;
    let Some(first) = args.positional.first() else {
        return Err(SqlError::user("read_files(path, format => ..) needs a path or glob"));
    };
    Arguments::literal(READ_FILES, "path", first)
}

impl Session {
    /// A provider for a call of one of Tarn's table functions.
    /// The call's table or files are authorized here, where they are bound.
    pub(crate) async fn table_function(&self, call: &FunctionCall, state: &SessionState) -> Result<Arc<dyn TableProvider>> {
        match call.function.as_str() {
            TABLE_CHANGES => {
                self.require_read(&table_changes_target(&call.args)?).await?;
                self.table_changes(&call.args, state).await
            }
            READ_FILES => {
                self.require_file_read().await?;
                crate::files::read_files_provider(self, &call.args, state).await
            }
            _ => Err(SqlError::Internal(format!("{} is not a Tarn table function", call.name))),
        }
    }

    async fn table_changes(&self, raw: &[FunctionArg], state: &SessionState) -> Result<Arc<dyn TableProvider>> {
        let table_name = table_changes_target(raw)?;
        let args = Arguments::parse(TABLE_CHANGES, raw)?;
        if !args.named.is_empty() || !(2..=3).contains(&args.positional.len()) {
            return Err(SqlError::user("table_changes(table, start [, end]): start and end are versions (numbers) or timestamps"));
        }
        let start = self.change_bound(&args.positional[1]).await?;
        let end = match args.positional.get(2) {
            Some(e) => Some(self.change_bound(e).await?),
            None => None,
        };
        if let Some(location) = self.shared_location_of(&table_name).await? {
            // A shared table's changes come from the sharing server, as a local table whose
            // commits carry the remote versions; the engine's change feed reads it.
            let remote = tarn_sharing::RemoteTable::new(
                tarn_sharing::SharedLocation::from_url(&location)?,
                &tarn_sharing::RemoteTable::default_cache_root(),
            )?;
            let to_remote = |b: &ChangeBound| match b {
                ChangeBound::Version(v) => tarn_sharing::RemoteVersion::Version(*v),
                ChangeBound::Timestamp(t) => tarn_sharing::RemoteVersion::Timestamp(*t),
            };
            let end = end.as_ref().map(to_remote);
            let (local, first, last) = remote.materialize_changes(&to_remote(&start), end.as_ref()).await?;
            let table = tarn_engine::open_table(&local, None).await?;
            let range = tarn_engine::VersionRange { start: first, end: last };
            return Ok(changes_provider(&table, range, state).await?);
        }
        let target = self.open_target(&table_name, None).await?;
        let range = resolve_change_range(&target.table, &start, end.as_ref()).await?;
        Ok(changes_provider(&target.table, range, state).await?)
    }

    /// A version (a whole number) or a timestamp (a string or timestamp expression).
    async fn change_bound(&self, expr: &Expr) -> Result<ChangeBound> {
        let value = self.eval_scalar(expr).await?;
        if value.is_null() {
            return Err(SqlError::user(format!("table_changes: '{expr}' is NULL; give a version or a timestamp")));
        }
        if value.data_type().is_integer() {
            let version = match value.cast_to(&arrow::datatypes::DataType::Int64)? {
                ScalarValue::Int64(Some(v)) => v,
                _ => {
                    return Err(SqlError::user(format!("table_changes: '{expr}' is not a version")));
                }
            };
            return Ok(ChangeBound::Version(version));
        }
        Ok(ChangeBound::Timestamp(self.eval_timestamp(expr).await?))
    }
}
