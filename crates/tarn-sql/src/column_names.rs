//! The names Spark gives a query's unnamed columns: `SELECT 1, 'x', a + 1, upper(b), count(*)`
//! answers columns `1`, `x`, `(a + 1)`, `upper(b)`, `count(1)` — Spark's `toPrettySQL` of each
//! select item — where DataFusion would say `Int64(1)`, `Utf8("x")`, `t.a + Int64(1)`, ...
//!
//! The names are read off the statement as written (before Tarn's own rewrites), and the
//! planned query's output columns are renamed by one final projection, so the rename never
//! changes what a name inside the query refers to. Inner queries keep DataFusion's names; only
//! what the statement answers (and so what CTAS, views and INSERT BY NAME see) is renamed.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::Column;
use datafusion::logical_expr::{Expr as DfExpr, LogicalPlan, LogicalPlanBuilder};
use sqlparser::ast::{
    BinaryOperator, CastKind, DataType, DuplicateTreatment, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, OrderByExpr,
    Query, SelectItem, SetExpr, UnaryOperator, Value, WindowFrameBound, WindowFrameUnits, WindowType,
};

/// The names of a query's select items, read before the query is planned.
pub(crate) struct ItemNames {
    /// Per select item: the name Spark gives it when it is unnamed (`None`: keep the planned name).
    items: Vec<Option<String>>,
    /// Where the one wildcard is, whose columns keep their names.
    star: Option<usize>,
}

impl ItemNames {
    /// `None` when the columns cannot be matched to select items (more than one wildcard, a
    /// VALUES body, ...).
    pub(crate) fn of(query: &Query) -> Option<ItemNames> {
        Self::from_items(select_items(query)?, item_name)
    }

    /// The aliases as the query wrote them: Tarn folds an unquoted alias to lower case to plan
    /// it (`SELECT 1 AS Total` plans a column `total`, as every unquoted name is), while Spark
    /// shows `Total`; the answer's header shows it as written.
    pub(crate) fn aliases_as_written(query: &Query) -> Option<ItemNames> {
        Self::from_items(select_items(query)?, |item| match item {
            SelectItem::ExprWithAlias { alias, .. } if alias.quote_style.is_none() && alias.value.chars().any(|c| c.is_uppercase()) => {
                Some(alias.value.clone())
            }
            _ => None,
        })
    }

    fn from_items(items: &[SelectItem], name: impl Fn(&SelectItem) -> Option<String>) -> Option<ItemNames> {
        let is_star = |i: &SelectItem| matches!(i, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..));
        if items.iter().filter(|i| is_star(i)).count() > 1 {
            return None;
        }
        let names: Vec<Option<String>> = items.iter().map(name).collect();
        if names.iter().all(Option::is_none) {
            return None;
        }
        Some(ItemNames { star: items.iter().position(is_star), items: names })
    }

    /// The name of each of `width` output columns.
    pub(crate) fn for_width(&self, width: usize) -> Option<Vec<Option<String>>> {
        match self.star {
            None => (self.items.len() == width).then(|| self.items.clone()),
            Some(star) => {
                let after = self.items.len() - star - 1;
                let expanded = width.checked_sub(star + after)?;
                let mut names = self.items[..star].to_vec();
                names.extend(std::iter::repeat_n(None, expanded));
                names.extend(self.items[star + 1..].iter().cloned());
                Some(names)
            }
        }
    }
}

/// `plan` with its output columns under Spark's names: one projection on top. Left as it is
/// when the names would repeat (a projection cannot; the result stream renames those).
pub(crate) fn renamed(plan: LogicalPlan, names: &ItemNames) -> datafusion::error::Result<LogicalPlan> {
    let schema = Arc::clone(plan.schema());
    let Some(names) = names.for_width(schema.fields().len()) else { return Ok(plan) };
    let shown: Vec<String> = schema.fields().iter().zip(&names).map(|(f, n)| n.clone().unwrap_or_else(|| f.name().clone())).collect();
    let distinct: HashSet<&String> = shown.iter().collect();
    if distinct.len() < shown.len() || shown.iter().zip(schema.fields()).all(|(s, f)| s == f.name()) {
        return Ok(plan);
    }
    let columns = schema.iter().zip(shown).map(|((qualifier, field), name)| {
        let column = DfExpr::Column(Column::new(qualifier.cloned(), field.name()));
        if &name == field.name() { column } else { column.alias(name) }
    });
    LogicalPlanBuilder::from(plan).project(columns)?.build()
}

/// The select list that names the query's columns: the last pipe `|> SELECT` (through pipe
/// operators that keep the columns), else the leftmost SELECT of the body.
fn select_items(query: &Query) -> Option<&[SelectItem]> {
    use sqlparser::ast::PipeOperator;
    for operator in query.pipe_operators.iter().rev() {
        match operator {
            PipeOperator::Select { exprs } => return Some(exprs),
            PipeOperator::Where { .. } | PipeOperator::OrderBy { .. } | PipeOperator::Limit { .. } => {}
            _ => return None,
        }
    }
    Some(&first_select(&query.body)?.projection)
}

/// The leftmost SELECT of a body: a set operation takes its names from its first query.
fn first_select(body: &SetExpr) -> Option<&sqlparser::ast::Select> {
    match body {
        SetExpr::Select(select) => Some(select),
        SetExpr::Query(query) => first_select(&query.body),
        SetExpr::SetOperation { left, .. } => first_select(left),
        _ => None,
    }
}

/// The name of an unnamed select item (a column keeps its name, a struct field is named by
/// the field, a session variable by the variable); `None` for a named item and a wildcard.
fn item_name(item: &SelectItem) -> Option<String> {
    match item {
        SelectItem::UnnamedExpr(Expr::Identifier(ident)) => Some(normalized(ident)),
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => parts.last().map(normalized),
        // A generator's columns are named by the generator (`col`, `pos`, `key`, `value`).
        SelectItem::UnnamedExpr(Expr::Function(f)) if is_generator(&f.name.to_string()) => None,
        SelectItem::UnnamedExpr(expr) => Some(spark_name(expr)),
        _ => None,
    }
}

fn is_generator(name: &str) -> bool {
    let name = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
    matches!(
        name.as_str(),
        "explode" | "explode_outer" | "posexplode" | "posexplode_outer" | "inline" | "inline_outer" | "stack" | "json_tuple" | "unnest"
    )
}

fn normalized(ident: &Ident) -> String {
    if ident.quote_style.is_some() { ident.value.clone() } else { ident.value.to_ascii_lowercase() }
}

/// Spark's pretty SQL of an expression: literals bare (`x`, not `'x'`), operators in
/// parentheses, functions by their lower-case name.
pub(crate) fn spark_name(expr: &Expr) -> String {
    let n = spark_name;
    match expr {
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::CompoundIdentifier(parts) => parts.iter().map(|p| p.value.as_str()).collect::<Vec<_>>().join("."),
        Expr::Value(value) => literal(&value.value),
        Expr::Nested(inner) => n(inner),
        Expr::IsNull(e) => format!("({} IS NULL)", n(e)),
        Expr::IsNotNull(e) => format!("({} IS NOT NULL)", n(e)),
        Expr::IsTrue(e) => format!("({} IS TRUE)", n(e)),
        Expr::IsNotTrue(e) => format!("({} IS NOT TRUE)", n(e)),
        Expr::IsFalse(e) => format!("({} IS FALSE)", n(e)),
        Expr::IsNotFalse(e) => format!("({} IS NOT FALSE)", n(e)),
        Expr::IsDistinctFrom(a, b) => format!("(NOT ({} <=> {}))", n(a), n(b)),
        Expr::IsNotDistinctFrom(a, b) => format!("({} <=> {})", n(a), n(b)),
        Expr::InList { expr, list, negated } => {
            let list: Vec<String> = list.iter().map(n).collect();
            negate(format!("({} IN ({}))", n(expr), list.join(", ")), *negated)
        }
        Expr::InSubquery { expr, negated, .. } => negate(format!("({} IN (listquery()))", n(expr)), *negated),
        Expr::Between { expr, negated, low, high } => negate(format!("between({}, {}, {})", n(expr), n(low), n(high)), *negated),
        Expr::BinaryOp { left, op, right } => binary(n(left), op, n(right)),
        Expr::Like { negated, expr, pattern, escape_char, any: false } => {
            let escape = escape_char.as_ref().map(|c| format!(" ESCAPE '{}'", literal(&c.value))).unwrap_or_default();
            negate(format!("{} LIKE {}{escape}", n(expr), n(pattern)), *negated)
        }
        Expr::ILike { negated, expr, pattern, any: false, .. } => negate(format!("ilike({}, {})", n(expr), n(pattern)), *negated),
        Expr::RLike { negated, expr, pattern, .. } => negate(format!("RLIKE({}, {})", n(expr), n(pattern)), *negated),
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } if is_number(expr) => format!("-{}", n(expr)),
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => format!("(- {})", n(expr)),
        Expr::UnaryOp { op: UnaryOperator::Plus, expr } => format!("(+ {})", n(expr)),
        Expr::UnaryOp { op: UnaryOperator::Not, expr } => format!("(NOT {})", n(expr)),
        Expr::UnaryOp { op: UnaryOperator::BitwiseNot, expr } => format!("~{}", n(expr)),
        // A typed literal (`1L`, `1.5D`, `1e10`), which the parser reads as `<number>::<type>`.
        Expr::Cast { kind: CastKind::DoubleColon, expr, data_type, .. }
            if matches!(expr.as_ref(), Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_)))
                && matches!(type_name(data_type).as_str(), "TIMESTAMP_NTZ" | "TIMESTAMP_LTZ") =>
        {
            let kind = if type_name(data_type) == "TIMESTAMP_NTZ" { "TIMESTAMP_NTZ" } else { "TIMESTAMP" };
            format!("{kind} '{}'", n(expr))
        }
        literal @ Expr::Cast { expr, data_type, .. } if is_number(literal) => {
            let text = n(expr);
            match data_type {
                DataType::Double(_) => text.parse::<f64>().map(java_double).unwrap_or(text),
                _ => text,
            }
        }
        // Spark names a cast to a collated string by what it casts.
        Expr::Cast { expr, data_type, .. } if type_name(data_type).contains("COLLATE") => n(expr),
        Expr::Cast { kind, expr, data_type, .. } => {
            let function = if matches!(kind, CastKind::TryCast | CastKind::SafeCast) { "TRY_CAST" } else { "CAST" };
            format!("{function}({} AS {})", n(expr), type_name(data_type))
        }
        Expr::TypedString(typed) => {
            let value = literal(&typed.value.value);
            match &typed.data_type {
                DataType::Date => format!("DATE '{value}'"),
                DataType::Timestamp(..) | DataType::Datetime(_) => format!("TIMESTAMP '{value}'"),
                other => format!("{} '{value}'", type_name(other)),
            }
        }
        Expr::Case { operand, conditions, else_result, .. } => {
            let mut text = String::from("CASE");
            for when in conditions {
                let condition = match operand {
                    Some(operand) => format!("({} = {})", n(operand), n(&when.condition)),
                    None => n(&when.condition),
                };
                text.push_str(&format!(" WHEN {condition} THEN {}", n(&when.result)));
            }
            if let Some(otherwise) = else_result {
                text.push_str(&format!(" ELSE {}", n(otherwise)));
            }
            text + " END"
        }
        Expr::Function(function) => function_name(function),
        Expr::Subquery(_) => "scalarsubquery()".to_string(),
        Expr::Exists { negated, .. } => negate("exists()".to_string(), *negated),
        Expr::Extract { field, expr, .. } => format!("extract({field} FROM {})", n(expr)),
        Expr::Substring { expr, substring_from, substring_for, .. } => {
            let mut args = vec![n(expr)];
            args.extend(substring_from.iter().map(|e| n(e)));
            args.push(substring_for.as_ref().map(|e| n(e)).unwrap_or_else(|| "2147483647".to_string()));
            format!("substring({})", args.join(", "))
        }
        Expr::Array(array) => format!("array({})", array.elem.iter().map(n).collect::<Vec<_>>().join(", ")),
        Expr::Collate { expr, collation } => format!("collate({}, {})", n(expr), collation.to_string().to_ascii_lowercase()),
        Expr::Interval(interval) => format!("INTERVAL {}", interval.to_string().trim_start_matches("INTERVAL ")),
        other => other.to_string(),
    }
}

/// A number literal, typed ones included (the parser reads `1L` as `1::BIGINT`, `1e10` as
/// `'1e10'::DOUBLE`).
fn is_number(expr: &Expr) -> bool {
    match expr {
        Expr::Value(v) => matches!(v.value, Value::Number(..)),
        Expr::Cast { kind: CastKind::DoubleColon, expr, .. } => {
            matches!(expr.as_ref(), Expr::Value(v) if matches!(v.value, Value::Number(..) | Value::SingleQuotedString(_)))
        }
        _ => false,
    }
}

fn negate(text: String, negated: bool) -> String {
    if negated { format!("(NOT {text})") } else { text }
}

fn binary(left: String, op: &BinaryOperator, right: String) -> String {
    let symbol = match op {
        BinaryOperator::StringConcat => return format!("concat({left}, {right})"),
        BinaryOperator::NotEq => return format!("(NOT ({left} = {right}))"),
        BinaryOperator::Spaceship => "<=>",
        BinaryOperator::Eq => "=",
        BinaryOperator::MyIntegerDivide | BinaryOperator::DuckIntegerDivide => "div",
        other => return format!("({left} {other} {right})"),
    };
    format!("({left} {symbol} {right})")
}

/// A literal as Spark prints it in a name: strings bare, numbers as written (a double as Java
/// prints it), `true`, `NULL`.
fn literal(value: &Value) -> String {
    match value {
        Value::Number(text, _) => number(text),
        Value::Boolean(b) => b.to_string(),
        Value::Null => "NULL".to_string(),
        Value::HexStringLiteral(hex) => format!("X'{}'", hex.to_ascii_uppercase()),
        other => other.clone().into_string().unwrap_or_else(|| other.to_string()),
    }
}

/// A number literal: an exponent makes it a DOUBLE, printed as Java's `Double.toString`.
fn number(text: &str) -> String {
    if !text.contains(['e', 'E']) {
        return if text.starts_with('.') { format!("0{text}") } else { text.to_string() };
    }
    match text.parse::<f64>() {
        Ok(value) => java_double(value),
        Err(_) => text.to_string(),
    }
}

/// Java's `Double.toString`: plain between 10^-3 and 10^7, otherwise `d.dddE±n`.
pub(crate) fn java_double(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let magnitude = value.abs();
    if magnitude == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let text = format!("{value}");
        return if text.contains('.') { text } else { format!("{text}.0") };
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
    format!("{mantissa}E{exponent}")
}

/// Spark's SQL name of a type: `INT`, `BIGINT`, `STRING`, `DECIMAL(10,2)`, ...
fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => "INT".to_string(),
        DataType::BigInt(_) | DataType::Int8(_) | DataType::Int64 => "BIGINT".to_string(),
        DataType::SmallInt(_) | DataType::Int2(_) | DataType::Int16 => "SMALLINT".to_string(),
        DataType::TinyInt(_) => "TINYINT".to_string(),
        DataType::Real | DataType::Float4 => "FLOAT".to_string(),
        DataType::Double(_) | DataType::DoublePrecision | DataType::Float8 => "DOUBLE".to_string(),
        DataType::Text | DataType::String(_) => "STRING".to_string(),
        DataType::Bool | DataType::Boolean => "BOOLEAN".to_string(),
        DataType::Bytea | DataType::Binary(_) => "BINARY".to_string(),
        other => {
            let text = other.to_string().to_ascii_uppercase();
            match text.as_str() {
                "LONG" => "BIGINT".to_string(),
                "SHORT" => "SMALLINT".to_string(),
                "BYTE" => "TINYINT".to_string(),
                "DECIMAL" | "DEC" | "NUMERIC" => "DECIMAL(10,0)".to_string(),
                _ => text.replace("DEC(", "DECIMAL(").replace("NUMERIC(", "DECIMAL(").replace(", ", ","),
            }
        }
    }
}

/// `name(args)` with `count(*)` as `count(1)`, `DISTINCT`, `FILTER (WHERE ..)` and the window.
fn function_name(function: &sqlparser::ast::Function) -> String {
    let name = function.name.0.last().map(|p| p.to_string()).unwrap_or_default().to_ascii_lowercase();
    let mut distinct = "";
    let args: Vec<String> = match &function.args {
        FunctionArguments::None => {
            return format!("{name}()");
        }
        FunctionArguments::Subquery(_) => vec!["scalarsubquery()".to_string()],
        FunctionArguments::List(list) => {
            if matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct)) {
                distinct = "DISTINCT ";
            }
            list.args
                .iter()
                .map(|arg| match arg {
                    FunctionArg::Unnamed(FunctionArgExpr::Wildcard) if name == "count" => "1".to_string(),
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => spark_name(e),
                    FunctionArg::Named { arg: FunctionArgExpr::Expr(e), .. }
                    | FunctionArg::ExprNamed { arg: FunctionArgExpr::Expr(e), .. } => spark_name(e),
                    other => other.to_string(),
                })
                .collect()
        }
    };
    let mut text = format!("{name}({distinct}{})", args.join(", "));
    if let Some(filter) = &function.filter {
        text.push_str(&format!(" FILTER (WHERE {})", spark_name(filter)));
    }
    if let Some(WindowType::WindowSpec(spec)) = &function.over {
        text.push_str(&format!(" OVER ({})", window(&name, spec)));
    }
    text
}

/// A window as Spark prints it: every ORDER BY key with its direction and nulls order, and
/// the frame (the default one spelled out).
fn window(function: &str, spec: &sqlparser::ast::WindowSpec) -> String {
    let mut parts = Vec::new();
    if !spec.partition_by.is_empty() {
        parts.push(format!("PARTITION BY {}", spec.partition_by.iter().map(spark_name).collect::<Vec<_>>().join(", ")));
    }
    if !spec.order_by.is_empty() {
        parts.push(format!("ORDER BY {}", spec.order_by.iter().map(order_key).collect::<Vec<_>>().join(", ")));
    }
    let frame = match &spec.window_frame {
        Some(frame) => {
            let units = match frame.units {
                WindowFrameUnits::Rows => "ROWS",
                WindowFrameUnits::Range => "RANGE",
                WindowFrameUnits::Groups => "GROUPS",
            };
            let end = frame.end_bound.as_ref().map(bound).unwrap_or_else(|| "CURRENT ROW".to_string());
            format!("{units} BETWEEN {} AND {end}", bound(&frame.start_bound))
        }
        None if is_ranking(function) => "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW".to_string(),
        None if spec.order_by.is_empty() => "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING".to_string(),
        None => "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW".to_string(),
    };
    parts.push(frame);
    parts.join(" ")
}

fn is_ranking(function: &str) -> bool {
    matches!(function, "row_number" | "rank" | "dense_rank" | "percent_rank" | "cume_dist" | "ntile")
}

fn order_key(key: &OrderByExpr) -> String {
    let asc = key.options.asc.unwrap_or(true);
    let nulls_first = key.options.nulls_first.unwrap_or(asc);
    format!("{} {} NULLS {}", spark_name(&key.expr), if asc { "ASC" } else { "DESC" }, if nulls_first { "FIRST" } else { "LAST" })
}

fn bound(bound: &WindowFrameBound) -> String {
    match bound {
        WindowFrameBound::CurrentRow => "CURRENT ROW".to_string(),
        WindowFrameBound::Preceding(None) => "UNBOUNDED PRECEDING".to_string(),
        WindowFrameBound::Following(None) => "UNBOUNDED FOLLOWING".to_string(),
        WindowFrameBound::Preceding(Some(n)) => format!("{} PRECEDING", spark_name(n)),
        WindowFrameBound::Following(Some(n)) => format!("{} FOLLOWING", spark_name(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(sql: &str) -> String {
        let statements = crate::parse_sql(&format!("SELECT {sql}")).expect("parses");
        let Some(crate::ast::Statement::Query(statement)) = statements.first() else { panic!("a query") };
        let sqlparser::ast::Statement::Query(query) = statement.as_ref() else { panic!("a query") };
        let SetExpr::Select(select) = query.body.as_ref() else { panic!("a select") };
        item_name(&select.projection[0]).unwrap_or_default()
    }

    #[test]
    fn names_follow_sparks_pretty_sql() {
        assert_eq!(name("1"), "1");
        assert_eq!(name("'name'"), "name");
        assert_eq!(name("1 + 2"), "(1 + 2)");
        assert_eq!(name("UPPER(a)"), "upper(a)");
        assert_eq!(name("count(*)"), "count(1)");
        assert_eq!(name("count(DISTINCT a)"), "count(DISTINCT a)");
        assert_eq!(name("CAST(1 AS INTEGER)"), "CAST(1 AS INT)");
        assert_eq!(name("a IS NULL"), "(a IS NULL)");
        assert_eq!(name("NOT a"), "(NOT a)");
        assert_eq!(name("a <> 1"), "(NOT (a = 1))");
        assert_eq!(name("'a' || 'b'"), "concat(a, b)");
        assert_eq!(name("true"), "true");
        assert_eq!(name("NULL"), "NULL");
        assert_eq!(name("1e10"), "1.0E10");
        assert_eq!(name("-1.5D"), "-1.5");
        assert_eq!(name("10L"), "10");
        assert_eq!(name("DATE '2020-01-01'"), "DATE '2020-01-01'");
        assert_eq!(name("t.b"), "b");
        assert_eq!(name("CASE WHEN a > 1 THEN 'x' ELSE 'y' END"), "CASE WHEN (a > 1) THEN x ELSE y END");
        assert_eq!(
            name("sum(a) OVER (ORDER BY b)"),
            "sum(a) OVER (ORDER BY b ASC NULLS FIRST RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
        );
    }

    #[test]
    fn java_doubles() {
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(1e10), "1.0E10");
        assert_eq!(java_double(1.5e-4), "1.5E-4");
        assert_eq!(java_double(0.001), "0.001");
    }
}
