//! Spark's `LIKE` forms DataFusion does not read: `x LIKE ANY | SOME | ALL (p1, p2, ..)` (and
//! `NOT LIKE`, `ILIKE`), and `ESCAPE 'c'` with an escape character other than the backslash.
//!
//! The quantified forms become `x LIKE p1 OR x LIKE p2 ..` (`ALL`: AND; `NOT LIKE ANY`: some
//! pattern does not match, `NOT LIKE ALL`: none matches), which is how Spark defines them,
//! NULLs included. A literal pattern with its own escape character is rewritten to the
//! backslash-escaped pattern DataFusion reads, with Spark's rule that the escape character may
//! only precede `_`, `%` or itself.

use sqlparser::ast::{BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value, ValueWithSpan};

use crate::error::{Result, SqlError};

/// `expr` rewritten when it is one of the forms above.
pub(super) fn rewrite(expr: &mut Expr) -> Result<()> {
    if let Some(quantified) = quantified(expr) {
        *expr = quantified;
    }
    if let Expr::Like { pattern, escape_char, .. } | Expr::ILike { pattern, escape_char, .. } = expr
        && let Some(escape) = escape_char.as_ref().and_then(escape_character)
        && escape != '\\'
        && let Some(text) = string_literal(pattern)
    {
        **pattern = Expr::Value(Value::SingleQuotedString(backslash_escaped(&text, escape)?).into());
        *escape_char = None;
    }
    Ok(())
}

/// The one character of an `ESCAPE` value.
fn escape_character(value: &ValueWithSpan) -> Option<char> {
    let (Value::SingleQuotedString(s) | Value::DoubleQuotedString(s)) = &value.value else { return None };
    let mut chars = s.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(s) | Value::DoubleQuotedString(s), .. }) => Some(s.clone()),
        Expr::Nested(inner) => string_literal(inner),
        _ => None,
    }
}

/// `pattern` with `escape` as its escape character, as the same pattern escaped by `\`.
fn backslash_escaped(pattern: &str, escape: char) -> Result<String> {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == escape {
            match chars.next() {
                Some(next @ ('_' | '%')) => {
                    out.push('\\');
                    out.push(next);
                }
                Some(next) if next == escape => push_literal(&mut out, next),
                Some(next) => {
                    return Err(SqlError::user(format!(
                        "[INVALID_FORMAT.ESC_IN_THE_MIDDLE] the pattern '{pattern}' is invalid: the escape character is not allowed to precede '{next}'"
                    )));
                }
                None => {
                    return Err(SqlError::user(format!(
                        "[INVALID_FORMAT.ESC_AT_THE_END] the pattern '{pattern}' is invalid: it ends with the escape character"
                    )));
                }
            }
        } else {
            push_literal(&mut out, c);
        }
    }
    Ok(out)
}

/// `c` matching only itself in a backslash-escaped pattern (where it is not `_` or `%`,
/// which the escape character turned literal above).
fn push_literal(out: &mut String, c: char) {
    if c == '\\' {
        out.push('\\');
    }
    out.push(c);
}

/// `x [NOT] LIKE ANY|SOME|ALL (p, ..)` as a disjunction or conjunction of single `LIKE`s.
fn quantified(expr: &Expr) -> Option<Expr> {
    let (negated, any, subject, pattern, escape_char, case_insensitive) = match expr {
        Expr::Like { negated, any, expr, pattern, escape_char } => (*negated, *any, expr, pattern, escape_char, false),
        Expr::ILike { negated, any, expr, pattern, escape_char } => (*negated, *any, expr, pattern, escape_char, true),
        _ => return None,
    };
    let (all, patterns) = if any {
        (false, listed(pattern)?)
    } else {
        let Expr::Function(function) = pattern.as_ref() else { return None };
        let name = function.name.to_string().to_ascii_uppercase();
        let all = match name.as_str() {
            "ALL" => true,
            "ANY" | "SOME" => false,
            _ => return None,
        };
        let FunctionArguments::List(list) = &function.args else { return None };
        let patterns = list
            .args
            .iter()
            .map(|arg| match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        (all, patterns)
    };
    if patterns.is_empty() {
        return None;
    }
    let single = |pattern: Expr| {
        let (expr, pattern, escape_char) = (subject.clone(), Box::new(pattern), escape_char.clone());
        if case_insensitive {
            Expr::ILike { negated, any: false, expr, pattern, escape_char }
        } else {
            Expr::Like { negated, any: false, expr, pattern, escape_char }
        }
    };
    let op = if all { BinaryOperator::And } else { BinaryOperator::Or };
    let combined = patterns.into_iter().map(single).reduce(|left, right| Expr::BinaryOp {
        left: Box::new(left),
        op: op.clone(),
        right: Box::new(right),
    })?;
    Some(Expr::Nested(Box::new(combined)))
}

/// The patterns of `ANY (p, ..)`: one in parentheses, or a tuple.
fn listed(pattern: &Expr) -> Option<Vec<Expr>> {
    match pattern {
        Expr::Nested(p) => Some(vec![p.as_ref().clone()]),
        Expr::Tuple(ps) => Some(ps.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::backslash_escaped;

    #[test]
    fn escape_characters_become_backslashes() {
        assert_eq!(backslash_escaped("a%#%b", '#').unwrap(), "a%\\%b");
        assert_eq!(backslash_escaped("a##b", '#').unwrap(), "a#b");
        assert_eq!(backslash_escaped("a\\b_", '#').unwrap(), "a\\\\b_");
        assert!(backslash_escaped("a#b", '#').is_err());
        assert!(backslash_escaped("ab#", '#').is_err());
    }
}
