//! Predicate hints → file skipping. A recipient's hints (`jsonPredicateHints`, or the older
//! SQL `predicateHints`) are evaluated against each file's partition values and min/max/null
//! count statistics from the log; a file is left out only when its statistics prove that no row
//! can match. Hints are best-effort by the protocol: the recipient filters the rows itself, so
//! anything not understood here keeps the file.

use std::cmp::Ordering;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
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

/// What a predicate is for all rows of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    Always,
    Never,
    Maybe,
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

/// What the log says about one file.
#[derive(Debug, Default)]
pub struct FileFacts<'a> {
    pub partition_values: Option<&'a HashMap<String, Option<String>>>,
    /// The `stats` JSON of the add action, parsed.
    pub stats: Option<&'a Value>,
}

/// A comparable value.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Days since the epoch.
    Date(i64),
    /// Microseconds since the epoch.
    Timestamp(i64),
}

fn scalar(text: &str, value_type: ValueType) -> Option<Scalar> {
    let text = text.trim();
    Some(match value_type {
        ValueType::Bool => Scalar::Bool(text.parse().ok()?),
        ValueType::Int => Scalar::Int(text.parse().ok()?),
        ValueType::Float => Scalar::Float(text.parse().ok()?),
        ValueType::String => Scalar::Str(text.to_string()),
        ValueType::Date => {
            let date = NaiveDate::parse_from_str(text.get(..10).unwrap_or(text), "%Y-%m-%d").ok()?;
            Scalar::Date(date.signed_duration_since(NaiveDate::default()).num_days())
        }
        ValueType::Timestamp => Scalar::Timestamp(parse_timestamp_micros(text)?),
    })
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

fn json_scalar(value: &Value, value_type: ValueType) -> Option<Scalar> {
    match value {
        Value::String(s) => scalar(s, value_type),
        Value::Number(n) => scalar(&n.to_string(), value_type),
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        _ => None,
    }
}

/// A column's values in one file: bounds (None: unknown), null count and row count.
struct Range {
    min: Option<Scalar>,
    max: Option<Scalar>,
    nulls: Option<i64>,
    rows: Option<i64>,
}

fn range(facts: &FileFacts<'_>, column: &str, value_type: ValueType) -> Range {
    let rows = facts.stats.and_then(|s| s.get("numRecords")).and_then(Value::as_i64);
    if let Some(values) = facts.partition_values
        && let Some(value) = values.get(column)
    {
        return match value {
            None => Range { min: None, max: None, nulls: rows.or(Some(1)), rows: rows.or(Some(1)) },
            Some(v) => {
                let s = scalar(v, value_type);
                Range { min: s.clone(), max: s, nulls: Some(0), rows }
            }
        };
    }
    let stat = |key: &str| facts.stats.and_then(|s| s.get(key)).and_then(|m| m.get(column));
    let min = stat("minValues").and_then(|v| json_scalar(v, value_type));
    let mut max = stat("maxValues").and_then(|v| json_scalar(v, value_type));
    match &mut max {
        // Delta truncates long string statistics; a truncated maximum bounds nothing.
        Some(Scalar::Str(s)) if s.chars().count() >= 32 => max = None,
        // Timestamp statistics are truncated to milliseconds.
        Some(Scalar::Timestamp(t)) => *t += 999,
        _ => {}
    }
    Range { min, max, nulls: stat("nullCount").and_then(Value::as_i64), rows }
}

fn order(a: &Scalar, b: &Scalar) -> Option<Ordering> {
    match (a, b) {
        (Scalar::Int(x), Scalar::Float(y)) => (*x as f64).partial_cmp(y),
        (Scalar::Float(x), Scalar::Int(y)) => x.partial_cmp(&(*y as f64)),
        _ => a.partial_cmp(b),
    }
}

impl Predicate {
    /// Whether some row of the file may satisfy the predicate (false only when the file's
    /// statistics prove none can).
    pub fn may_match(&self, facts: &FileFacts<'_>) -> bool {
        self.truth(facts) != Truth::Never
    }

    fn truth(&self, facts: &FileFacts<'_>) -> Truth {
        match self {
            Predicate::Unknown => Truth::Maybe,
            Predicate::And(all) => {
                let truths: Vec<Truth> = all.iter().map(|p| p.truth(facts)).collect();
                if truths.contains(&Truth::Never) {
                    Truth::Never
                } else if truths.iter().all(|t| *t == Truth::Always) {
                    Truth::Always
                } else {
                    Truth::Maybe
                }
            }
            Predicate::Or(any) => {
                let truths: Vec<Truth> = any.iter().map(|p| p.truth(facts)).collect();
                if truths.contains(&Truth::Always) {
                    Truth::Always
                } else if !truths.is_empty() && truths.iter().all(|t| *t == Truth::Never) {
                    Truth::Never
                } else {
                    Truth::Maybe
                }
            }
            // A comparison that is never true may still be null (not false) on some rows, so its
            // negation is not "always"; only "always" turns into "never".
            Predicate::Not(inner) => match inner.truth(facts) {
                Truth::Always => Truth::Never,
                _ => Truth::Maybe,
            },
            Predicate::IsNull(column) => {
                let r = range(facts, column, ValueType::String);
                match (r.nulls, r.rows) {
                    (Some(0), _) => Truth::Never,
                    (Some(n), Some(rows)) if n == rows => Truth::Always,
                    _ => Truth::Maybe,
                }
            }
            Predicate::Compare { column, op, literal, value_type } => {
                let Some(lit) = scalar(literal, *value_type) else {
                    return Truth::Maybe;
                };
                let r = range(facts, column, *value_type);
                if let (Some(n), Some(rows)) = (r.nulls, r.rows)
                    && n == rows
                    && rows > 0
                {
                    return Truth::Never;
                }
                let vs_min = r.min.as_ref().and_then(|m| order(m, &lit));
                let vs_max = r.max.as_ref().and_then(|m| order(m, &lit));
                let no_nulls = r.nulls == Some(0);
                use Ordering::*;
                let (never, always) = match op.0 {
                    Cmp::Eq => (vs_min == Some(Greater) || vs_max == Some(Less), vs_min == Some(Equal) && vs_max == Some(Equal)),
                    Cmp::Lt => (matches!(vs_min, Some(Greater | Equal)), vs_max == Some(Less)),
                    Cmp::Le => (vs_min == Some(Greater), matches!(vs_max, Some(Less | Equal))),
                    Cmp::Gt => (matches!(vs_max, Some(Less | Equal)), vs_min == Some(Greater)),
                    Cmp::Ge => (vs_max == Some(Less), matches!(vs_min, Some(Greater | Equal))),
                };
                if never {
                    Truth::Never
                } else if always && no_nulls {
                    Truth::Always
                } else {
                    Truth::Maybe
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn types() -> HashMap<String, ValueType> {
        column_types(r#"{"type":"struct","fields":[{"name":"id","type":"long"},{"name":"d","type":"date"},{"name":"s","type":"string"}]}"#)
    }

    fn stats(min: i64, max: i64, nulls: i64) -> Value {
        json!({"numRecords": 10, "minValues": {"id": min, "s": "b"}, "maxValues": {"id": max, "s": "d"}, "nullCount": {"id": nulls, "s": 0}})
    }

    fn keeps(p: &Predicate, stats: &Value) -> bool {
        p.may_match(&FileFacts { partition_values: None, stats: Some(stats) })
    }

    #[test]
    fn json_hints_skip_files_whose_ranges_cannot_match() {
        let hint = r#"{"op":"and","children":[
            {"op":"greaterThanOrEqual","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"10","valueType":"long"}]},
            {"op":"lessThan","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"20","valueType":"long"}]}]}"#;
        let p = parse_json_hints(hint, &types()).expect("parse");
        assert!(!keeps(&p, &stats(0, 9, 0)));
        assert!(keeps(&p, &stats(0, 10, 0)));
        assert!(keeps(&p, &stats(19, 30, 0)));
        assert!(!keeps(&p, &stats(20, 30, 0)));
        // No statistics: kept.
        assert!(p.may_match(&FileFacts::default()));
        assert!(parse_json_hints("{not json", &types()).is_err());
        // Operators not understood keep every file.
        let unknown = parse_json_hints(r#"{"op":"like","children":[]}"#, &types()).expect("parse");
        assert!(keeps(&unknown, &stats(0, 1, 0)));
    }

    #[test]
    fn negation_and_nulls_are_conservative() {
        let eq5 = parse_json_hints(
            r#"{"op":"equal","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"5","valueType":"long"}]}"#,
            &types(),
        )
        .expect("parse");
        let not_eq5 = Predicate::Not(Box::new(eq5.clone()));
        assert!(!keeps(&not_eq5, &stats(5, 5, 0)), "every row is 5");
        assert!(keeps(&not_eq5, &stats(5, 5, 1)), "nulls are not 5 either, but NOT(NULL) is not true: kept conservatively");
        assert!(keeps(&not_eq5, &stats(1, 9, 0)));
        let is_null = Predicate::IsNull("id".into());
        assert!(!keeps(&is_null, &stats(1, 2, 0)));
        assert!(keeps(&is_null, &stats(1, 2, 3)));
    }

    #[test]
    fn sql_hints_and_partition_values() {
        let p = parse_sql_hints(&["d >= '2021-01-02'".to_string(), "s = 'c'".to_string()], &types());
        let mut partitions = HashMap::new();
        partitions.insert("d".to_string(), Some("2021-01-01".to_string()));
        let s = stats(0, 1, 0);
        assert!(!p.may_match(&FileFacts { partition_values: Some(&partitions), stats: Some(&s) }));
        partitions.insert("d".to_string(), Some("2021-01-02".to_string()));
        assert!(p.may_match(&FileFacts { partition_values: Some(&partitions), stats: Some(&s) }));
        let outside = parse_sql_hints(&["s > 'x'".to_string()], &types());
        assert!(!keeps(&outside, &s));
        let garbage = parse_sql_hints(&["((".to_string()], &types());
        assert!(keeps(&garbage, &s));
    }
}
