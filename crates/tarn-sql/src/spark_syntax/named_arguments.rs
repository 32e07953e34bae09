//! Spark's named arguments, `mask(s, lowerChar => 'q')` and `explode(collection => arr)`, for
//! the built-ins whose parameters Spark names, rewritten to the positional call Tarn plans:
//! each argument goes to its parameter's place and a parameter left out takes Spark's default.
//!
//! The rules are Spark's: positional arguments come first; a parameter is given once; a name
//! must be one of the function's (matched without regard to case); a parameter without a
//! default must be given. Functions not listed here keep DataFusion's own handling (which
//! refuses names for a function that has none).

use sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArgOperator, Ident};

use super::functions::text;
use crate::error::{Result, SqlError};

/// A parameter: its name, and the SQL value Spark uses when it is left out (`None`: required).
type Parameter = (&'static str, Option<fn() -> Expr>);

const REQUIRED: Option<fn() -> Expr> = None;

fn null() -> Expr {
    Expr::Value(sqlparser::ast::Value::Null.into())
}

/// Spark's parameter lists of the built-ins that take named arguments.
fn parameters(function: &str) -> Option<&'static [Parameter]> {
    const MASK: &[Parameter] = &[
        ("str", REQUIRED),
        ("upperChar", Some(|| text("X"))),
        ("lowerChar", Some(|| text("x"))),
        ("digitChar", Some(|| text("n"))),
        ("otherChar", Some(null)),
    ];
    const COLLECTION: &[Parameter] = &[("collection", REQUIRED)];
    const INPUT: &[Parameter] = &[("input", REQUIRED)];
    match function.to_ascii_lowercase().as_str() {
        "mask" => Some(MASK),
        "explode" | "explode_outer" | "posexplode" | "posexplode_outer" => Some(COLLECTION),
        "inline" | "inline_outer" => Some(INPUT),
        _ => None,
    }
}

/// The parameter name of a named argument, if `arg` is one.
fn argument_name(arg: &FunctionArg) -> Option<&Ident> {
    match arg {
        FunctionArg::Named { name, operator: FunctionArgOperator::RightArrow, .. } => Some(name),
        FunctionArg::ExprNamed { name: Expr::Identifier(name), operator: FunctionArgOperator::RightArrow, .. } => Some(name),
        _ => None,
    }
}

fn argument_value(arg: FunctionArg) -> FunctionArgExpr {
    match arg {
        FunctionArg::Named { arg, .. } | FunctionArg::ExprNamed { arg, .. } | FunctionArg::Unnamed(arg) => arg,
    }
}

/// Rewrites the arguments of a call of `function` to positional ones when some are named and
/// `function` is one of Spark's built-ins with named parameters.
pub(super) fn resolve(function: &str, args: &mut Vec<FunctionArg>) -> Result<()> {
    if !args.iter().any(|a| argument_name(a).is_some()) {
        return Ok(());
    }
    let Some(parameters) = parameters(function) else { return Ok(()) };
    let mut slots: Vec<Option<FunctionArgExpr>> = vec![None; parameters.len()];
    let mut named_seen = false;
    for (position, arg) in std::mem::take(args).into_iter().enumerate() {
        let index = match argument_name(&arg) {
            Some(name) => {
                named_seen = true;
                parameters.iter().position(|(p, _)| p.eq_ignore_ascii_case(&name.value)).ok_or_else(|| {
                    let names: Vec<&str> = parameters.iter().map(|(p, _)| *p).collect();
                    SqlError::user(format!(
                        "[UNRECOGNIZED_PARAMETER_NAME] {function} has no parameter named `{}`; its parameters are {}",
                        name.value,
                        names.join(", ")
                    ))
                })?
            }
            None if named_seen => {
                return Err(SqlError::user(format!(
                    "[UNEXPECTED_POSITIONAL_ARGUMENT] {function}: positional argument {} follows a named one; \
                     give positional arguments first",
                    position + 1
                )));
            }
            None if position >= parameters.len() => {
                return Err(SqlError::user(format!("[WRONG_NUM_ARGS] {function} takes at most {} arguments, got more", parameters.len())));
            }
            None => position,
        };
        if slots[index].is_some() {
            return Err(SqlError::user(format!(
                "[DUPLICATE_ROUTINE_PARAMETER_ASSIGNMENT] {function}: the parameter `{}` is given twice",
                parameters[index].0
            )));
        }
        slots[index] = Some(argument_value(arg));
    }
    for (slot, (name, default)) in slots.into_iter().zip(parameters) {
        let value = match (slot, default) {
            (Some(value), _) => value,
            (None, Some(default)) => FunctionArgExpr::Expr(default()),
            (None, None) => {
                return Err(SqlError::user(format!(
                    "[REQUIRED_PARAMETER_NOT_FOUND] {function} needs its parameter `{name}` (by position or as {name} => ..)"
                )));
            }
        };
        args.push(FunctionArg::Unnamed(value));
    }
    Ok(())
}

/// [`resolve`] for a call in an expression: `mask(s, lowerChar => 'q')`.
pub(super) fn resolve_call(function: &mut sqlparser::ast::Function) -> Result<()> {
    let [sqlparser::ast::ObjectNamePart::Identifier(name)] = function.name.0.as_slice() else { return Ok(()) };
    if name.quote_style.is_some() {
        return Ok(());
    }
    let name = name.value.clone();
    match &mut function.args {
        sqlparser::ast::FunctionArguments::List(list) => resolve(&name, &mut list.args),
        _ => Ok(()),
    }
}
