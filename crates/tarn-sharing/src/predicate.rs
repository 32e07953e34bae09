//! Predicate hints → file skipping. A recipient's hints (`jsonPredicateHints`, or the older
//! SQL `predicateHints`) are evaluated against each file's partition values and min/max/null
//! count statistics from the log; a file is left out only when its statistics prove that no row
//! can match. Hints are best-effort by the protocol: the recipient filters the rows itself, so
//! anything not understood here keeps the file.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::Value;

use crate::{Result, SharingError};

/// The value types of the protocol's JSON predicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Bool,
    Int,
    Float,
    String,
    Date,
    Timestamp,
}

impl ValueType {
    fn from_protocol(name: &str) -> Option<Self> {
        Some(match name {
            "boolean" => ValueType::Bool,
            "int" | "long" | "short" | "byte" | "integer" => ValueType::Int,
            "float" | "double" => ValueType::Float,
            "string" => ValueType::String,
            "date" => ValueType::Date,
            "timestamp" | "timestamp_ntz" => ValueType::Timestamp,
            d if d.starts_with("decimal") => ValueType::Float,
            _ => return None,
        })
    }
}

/// A comparison operator of a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    /// `lit op col` as `col op' lit`.
    fn flipped(self) -> Self {
        match self {
            Cmp::Lt => Cmp::Gt,
            Cmp::Le => Cmp::Ge,
            Cmp::Gt => Cmp::Lt,
            Cmp::Ge => Cmp::Le,
            Cmp::Eq => Cmp::Eq,
        }
    }
}

/// A predicate over one file's rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// `column op literal`.
    Compare {
        column: String,
        op: CmpOp,
        literal: String,
        value_type: ValueType,
    },
    IsNull(String),
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
    Not(Box<Predicate>),
    /// Something not understood: may be true or false for any row.
    Unknown,
}

/// Public face of [`Cmp`] (kept opaque to the outside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CmpOp(Cmp);

impl CmpOp {
    pub(crate) fn comparison(self) -> Cmp {
        self.0
    }
}

/// The column types of a table, from its Delta schema string (top-level primitive columns).
pub fn column_types(schema_string: &str) -> HashMap<String, ValueType> {
    let Ok(schema) = serde_json::from_str::<Value>(schema_string) else {
        return HashMap::new();
    };
    schema
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| {
            let name = f.get("name")?.as_str()?;
            let ty = ValueType::from_protocol(f.get("type")?.as_str()?)?;
            Some((name.to_string(), ty))
        })
        .collect()
}

/// Parse `jsonPredicateHints` (the protocol's JSON predicate). Malformed JSON is the
/// request's error; an operator not understood becomes [`Predicate::Unknown`].
pub fn parse_json_hints(text: &str, types: &HashMap<String, ValueType>) -> Result<Predicate> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| SharingError::BadRequest(format!("jsonPredicateHints is not valid JSON: {e}")))?;
    Ok(json_predicate(&value, types))
}

fn json_predicate(node: &Value, types: &HashMap<String, ValueType>) -> Predicate {
    let op = node.get("op").and_then(Value::as_str).unwrap_or_default();
    let children: Vec<&Value> = node.get("children").and_then(Value::as_array).map(|c| c.iter().collect()).unwrap_or_default();
    let leaf = |n: &Value| -> Option<(bool, String, Option<ValueType>)> {
        let value_type = n.get("valueType").and_then(Value::as_str).and_then(ValueType::from_protocol);
        match n.get("op").and_then(Value::as_str)? {
            "column" => Some((true, n.get("name")?.as_str()?.to_string(), value_type)),
            "literal" => Some((false, n.get("value")?.as_str()?.to_string(), value_type)),
            _ => None,
        }
    };
    let cmp = match op {
        "equal" => Some(Cmp::Eq),
        "lessThan" => Some(Cmp::Lt),
        "lessThanOrEqual" => Some(Cmp::Le),
        "greaterThan" => Some(Cmp::Gt),
        "greaterThanOrEqual" => Some(Cmp::Ge),
        _ => None,
    };
    match (op, cmp) {
        ("and", _) => Predicate::And(children.iter().map(|c| json_predicate(c, types)).collect()),
        ("or", _) => Predicate::Or(children.iter().map(|c| json_predicate(c, types)).collect()),
        ("not", _) if children.len() == 1 => Predicate::Not(Box::new(json_predicate(children[0], types))),
        ("isNull", _) if children.len() == 1 => match leaf(children[0]) {
            Some((true, column, _)) => Predicate::IsNull(column),
            _ => Predicate::Unknown,
        },
        (_, Some(cmp)) if children.len() == 2 => match (leaf(children[0]), leaf(children[1])) {
            (Some((true, column, ct)), Some((false, literal, lt))) => compare(column, cmp, literal, lt.or(ct), types),
            (Some((false, literal, lt)), Some((true, column, ct))) => compare(column, cmp.flipped(), literal, lt.or(ct), types),
            _ => Predicate::Unknown,
        },
        _ => Predicate::Unknown,
    }
}

fn compare(column: String, op: Cmp, literal: String, given: Option<ValueType>, types: &HashMap<String, ValueType>) -> Predicate {
    // The table's own type wins: statistics are written in it.
    match types.get(&column).copied().or(given) {
        Some(value_type) => Predicate::Compare { column, op: CmpOp(op), literal, value_type },
        None => Predicate::Unknown,
    }
}

/// The longest SQL predicate hint (in tokens) that is evaluated.
const MAX_HINT_TOKENS: usize = 1000;

/// Parse the older SQL `predicateHints` (`a >= 3`, `date = '2021-01-01'`, `x IS NULL`, with
/// AND/OR/NOT); all hints together must hold. A hint that does not parse is ignored.
pub fn parse_sql_hints(hints: &[String], types: &HashMap<String, ValueType>) -> Predicate {
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::Parser;
    let mut all = Vec::new();
    for hint in hints {
        // A hint's tree is as deep as its operator chain and is walked recursively; a hint
        // too long to be a plain filter is ignored (hints only ever narrow the files sent).
        let tokens = sqlparser::tokenizer::Tokenizer::new(&GenericDialect {}, hint).tokenize();
        if tokens.as_ref().map_or(true, |t| t.len() > MAX_HINT_TOKENS) {
            tracing::debug!(length = hint.len(), "predicate hint ignored: not a plain filter or too long");
            continue;
        }
        let parsed = Parser::new(&GenericDialect {}).try_with_sql(hint).and_then(|mut p| p.parse_expr());
        match parsed {
            Ok(expr) => all.push(sql_predicate(&expr, types)),
            Err(e) => tracing::debug!(hint, error = %e, "predicate hint ignored"),
        }
    }
    Predicate::And(all)
}

fn sql_predicate(expr: &sqlparser::ast::Expr, types: &HashMap<String, ValueType>) -> Predicate {
    use sqlparser::ast::{BinaryOperator as B, Expr, UnaryOperator, Value as V};
    let column = |e: &Expr| match e {
        Expr::Identifier(ident) => Some(ident.value.clone()),
        _ => None,
    };
    let literal = |e: &Expr| match e {
        Expr::Value(v) => match &v.value {
            V::Number(n, _) => Some(n.to_string()),
            V::SingleQuotedString(s) => Some(s.clone()),
            V::Boolean(b) => Some(b.to_string()),
            _ => None,
        },
        Expr::TypedString(t) => match &t.value.value {
            V::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    };
    match expr {
        Expr::Nested(inner) => sql_predicate(inner, types),
        Expr::UnaryOp { op: UnaryOperator::Not, expr } => Predicate::Not(Box::new(sql_predicate(expr, types))),
        Expr::IsNull(e) => column(e).map_or(Predicate::Unknown, Predicate::IsNull),
        Expr::IsNotNull(e) => column(e).map_or(Predicate::Unknown, |c| Predicate::Not(Box::new(Predicate::IsNull(c)))),
        Expr::BinaryOp { left, op: B::And, right } => Predicate::And(vec![sql_predicate(left, types), sql_predicate(right, types)]),
        Expr::BinaryOp { left, op: B::Or, right } => Predicate::Or(vec![sql_predicate(left, types), sql_predicate(right, types)]),
        Expr::BinaryOp { left, op, right } => {
            let cmp = match op {
                B::Eq => Cmp::Eq,
                B::Lt => Cmp::Lt,
                B::LtEq => Cmp::Le,
                B::Gt => Cmp::Gt,
                B::GtEq => Cmp::Ge,
                B::NotEq => {
                    let eq = Expr::BinaryOp { left: left.clone(), op: B::Eq, right: right.clone() };
                    return Predicate::Not(Box::new(sql_predicate(&eq, types)));
                }
                _ => return Predicate::Unknown,
            };
            match (column(left), literal(right), literal(left), column(right)) {
                (Some(c), Some(l), _, _) => compare(c, cmp, l, None, types),
                (_, _, Some(l), Some(c)) => compare(c, cmp.flipped(), l, None, types),
                _ => Predicate::Unknown,
            }
        }
        _ => Predicate::Unknown,
    }
}

/// RFC 3339 (`2021-04-28T23:33:48.719Z`) or `yyyy-mm-dd hh:mm:ss[.f]` (UTC).
pub fn parse_timestamp_micros(text: &str) -> Option<i64> {
    if let Ok(ts) = DateTime::parse_from_rfc3339(text) {
        return Some(ts.timestamp_micros());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"] {
        if let Ok(ts) = NaiveDateTime::parse_from_str(text, format) {
            return Some(ts.and_utc().timestamp_micros());
        }
        if format == "%Y-%m-%d"
            && let Ok(date) = NaiveDate::parse_from_str(text, format)
        {
            return date.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp_micros());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> HashMap<String, ValueType> {
        column_types(r#"{"type":"struct","fields":[{"name":"id","type":"long"},{"name":"d","type":"date"},{"name":"s","type":"string"}]}"#)
    }

    #[test]
    fn json_hints_parse_into_predicates() {
        let hint = r#"{"op":"and","children":[
            {"op":"greaterThanOrEqual","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"10","valueType":"long"}]},
            {"op":"isNull","children":[{"op":"column","name":"s","valueType":"string"}]}]}"#;
        let Predicate::And(parts) = parse_json_hints(hint, &types()).expect("parse") else { panic!("an AND") };
        assert!(matches!(&parts[0], Predicate::Compare { column, literal, .. } if column == "id" && literal == "10"));
        assert_eq!(parts[1], Predicate::IsNull("s".into()));
        assert!(parse_json_hints("{not json", &types()).is_err());
        assert_eq!(parse_json_hints(r#"{"op":"like","children":[]}"#, &types()).expect("parse"), Predicate::Unknown);
    }

    #[test]
    fn sql_hints_parse_and_garbage_is_ignored() {
        let Predicate::And(parts) = parse_sql_hints(&["d >= '2021-01-02'".to_string(), "((".to_string()], &types()) else {
            panic!("an AND")
        };
        assert_eq!(parts.len(), 1, "the hint that does not parse is left out");
        assert!(matches!(&parts[0], Predicate::Compare { column, literal, .. } if column == "d" && literal == "2021-01-02"));
        // A chain too long to be a plain filter is ignored, not walked.
        let long = (0..5000).map(|i| format!("id = {i}")).collect::<Vec<_>>().join(" OR ");
        assert_eq!(parse_sql_hints(&[long], &types()), Predicate::And(vec![]));
    }
}
