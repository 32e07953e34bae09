//! Spark functions that are another expression DataFusion already plans, written as that
//! expression:
//!
//! - `isnull(x)` / `isnotnull(x)` are `x IS [NOT] NULL`; `equal_null(a, b)` is `a <=> b`;
//!   `div(a, b)` is `a DIV b`; `positive(x)` is `+x`; `e()` is `exp(1)`.
//! - `decode(expr, search, result, .., default)` is a CASE of NULL-safe comparisons (the
//!   two-argument `decode(bin, charset)` is a function of its own).
//! - `ltrim(chars, str)` / `rtrim(chars, str)` / `TRIM(chars, str)`: Spark's order, characters first.
//! - `x COLLATE name` is `collate(x, 'name')` (`tarn_engine::spark::collations`).
//! - `a RLIKE p`, `a REGEXP p`, `rlike(a, p)`, `regexp(a, p)` are `regexp_like(a, p)` (a match
//!   anywhere in `a`, as Java's `find`).
//! - `count_if(p)` is `count(CASE WHEN p THEN 1 END)`; `max_by(x, y)` / `min_by(x, y)` are
//!   `first_value(x ORDER BY y DESC | ASC) FILTER (WHERE y IS NOT NULL)` (rows whose `y` is NULL
//!   never win, and no row at all is NULL).
//! - `forall(arr, x -> p)` is `NOT exists(arr, x -> NOT p)`: true when every element passes,
//!   NULL when none fails but some is unknown, as Spark's three-valued `forall`.
//! - `f(x).a`, `(s).a`: the field `a` of the value (DataFusion takes only `f(x).'a'`).
//! - `array_size(arr)` is the number of elements as an INT (`array_length`, not `cardinality`,
//!   which counts the elements of nested arrays); `sort_array(arr[, asc])` is `array_sort` with
//!   Spark's NULL placement (first ascending, last descending).

use sqlparser::ast::{
    BinaryOperator, CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, ObjectNamePart, OrderByExpr, OrderByOptions, UnaryOperator, Value,
};

use crate::error::Result;

/// Rewrites `expr` in place when it is one of the functions above.
pub(super) fn rewrite(expr: &mut Expr) -> Result<()> {
    // `! x` is Spark's NOT.
    if let Expr::UnaryOp { op: op @ UnaryOperator::BangNot, .. } = expr {
        *op = UnaryOperator::Not;
        return Ok(());
    }
    // Spark's `TRIM(trimStr, str)` is `TRIM(BOTH trimStr FROM str)` (sqlparser reads the comma
    // form with the string first).
    if let Expr::Trim { expr: first, trim_where: None, trim_what: None, trim_characters: Some(rest) } = expr
        && rest.len() == 1
    {
        let (characters, text) = (first.as_ref().clone(), rest[0].clone());
        *expr = Expr::Trim {
            expr: Box::new(text),
            trim_where: Some(sqlparser::ast::TrimWhereField::Both),
            trim_what: Some(Box::new(characters)),
            trim_characters: None,
        };
        return Ok(());
    }
    // `mode() WITHIN GROUP (ORDER BY x) OVER (..)`: DataFusion's planner takes WITHIN GROUP
    // or OVER, not both; ascending ties go to the smallest value, which is `mode(x, true)`.
    // (DESC keeps the planner's error.)
    if let Expr::Function(function) = expr
        && function.over.is_some()
        && matches!(function.name.0.as_slice(), [part] if part.as_ident().is_some_and(|i| i.value.eq_ignore_ascii_case("mode")))
        && plain_arguments(function).is_some_and(|args| args.is_empty())
        && let [order] = function.within_group.as_slice()
        && order.options.asc != Some(false)
    {
        let value = order.expr.clone();
        function.args = list(vec![value, Expr::Value(sqlparser::ast::Value::Boolean(true).into())]);
        function.within_group.clear();
        return Ok(());
    }
    // `x COLLATE name` is `collate(x, 'name')` (the name checked where it is planned).
    if let Expr::Collate { expr: value, collation } = expr {
        let name = collation.0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(".");
        *expr = call("collate", vec![value.as_ref().clone(), text(&name)]);
        return Ok(());
    }
    // `CAST(x AS STRING COLLATE c)` (read as a custom type by the parser) is
    // `collate(CAST(x AS STRING), 'c')`.
    if let Expr::Cast { data_type: DataType::Custom(name, modifiers), .. } = expr
        && modifiers.is_empty()
        && let Some(collation) = crate::parser::literals::string_collate_type(name)
    {
        let Expr::Cast { data_type, .. } = expr else { return Ok(()) };
        *data_type = DataType::String(None);
        *expr = call("collate", vec![expr.clone(), text(&collation)]);
        return Ok(());
    }
    // `struct(a, 1, x AS b)`: Spark names a field after its column (or alias), else `col<n>`
    // (DataFusion: `c0`, `c1`, ..).
    if let Expr::Struct { values, fields } = expr
        && fields.is_empty()
    {
        let mut args = Vec::with_capacity(values.len() * 2);
        for (i, value) in values.iter().enumerate() {
            let (name, value) = match value {
                Expr::Named { expr, name } => (name.value.clone(), expr.as_ref().clone()),
                Expr::Identifier(column) => (column.value.clone(), value.clone()),
                Expr::CompoundIdentifier(parts) if !parts.is_empty() => (parts[parts.len() - 1].value.clone(), value.clone()),
                other => (format!("col{}", i + 1), other.clone()),
            };
            args.push(text(&name));
            args.push(value);
        }
        if !args.is_empty() {
            *expr = call("named_struct", args);
        }
        return Ok(());
    }
    if let Expr::RLike { negated, expr: text, pattern, .. } = expr {
        let matched = call("regexp_like", vec![text.as_ref().clone(), pattern.as_ref().clone()]);
        *expr = if *negated { not(matched) } else { matched };
        return Ok(());
    }
    // `f(x).a`, `(s).a`, `arr[0].a`: a field by its name (DataFusion reads a quoted name only).
    if let Expr::CompoundFieldAccess { root, access_chain } = expr {
        // `t.col[i]` (a name, then fields): DataFusion resolves the names itself.
        if matches!(root.as_ref(), Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
            return Ok(());
        }
        for access in access_chain.iter_mut() {
            if let sqlparser::ast::AccessExpr::Dot(Expr::Identifier(name)) = access {
                *access = sqlparser::ast::AccessExpr::Dot(text(&name.value));
            }
        }
        return Ok(());
    }
    let Expr::Function(function) = expr else { return Ok(()) };
    let [ObjectNamePart::Identifier(name)] = function.name.0.as_slice() else { return Ok(()) };
    if name.quote_style.is_some() || !function.within_group.is_empty() {
        return Ok(());
    }
    let name = name.value.to_ascii_lowercase();
    let Some(args) = plain_arguments(function) else { return Ok(()) };
    let scalar = function.over.is_none() && function.filter.is_none();
    let replacement = match (name.as_str(), args.as_slice()) {
        // Spark's IF is a CASE (one place decides the branches' common type).
        ("if", [condition, then, otherwise]) if scalar => {
            case(vec![sqlparser::ast::CaseWhen { condition: condition.clone(), result: then.clone() }], Some(otherwise.clone()))
        }
        // grouping_id(a, b): the grouping bits of its columns, first column highest (the SQL
        // standard's multi-column GROUPING), as a BIGINT.
        ("grouping_id", [_, ..]) if scalar => {
            let mut grouping = function.clone();
            grouping.name = ObjectName::from(vec![Ident::new("grouping")]);
            Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(Expr::Function(grouping)),
                data_type: DataType::BigInt(None),
                format: None,
                array: false,
            }
        }
        // Spark's left / right: the first / last `n` characters, none for `n <= 0` (DataFusion
        // follows Postgres: `left('ahoj', -3)` is all but the last three, `'a'`).
        ("left", [text, n]) if scalar => call("substr", vec![text.clone(), number("1"), n.clone()]),
        ("right", [text, n]) if scalar => case(
            vec![
                sqlparser::ast::CaseWhen { condition: Expr::IsNull(Box::new(text.clone())), result: Expr::Value(Value::Null.into()) },
                sqlparser::ast::CaseWhen {
                    condition: Expr::BinaryOp { left: Box::new(n.clone()), op: BinaryOperator::LtEq, right: Box::new(number("0")) },
                    result: Expr::Value(Value::SingleQuotedString(String::new()).into()),
                },
            ],
            Some(call(
                "substr",
                vec![text.clone(), Expr::UnaryOp { op: UnaryOperator::Minus, expr: Box::new(Expr::Nested(Box::new(n.clone()))) }],
            )),
        ),
        // Spark's two-argument ltrim / rtrim take the characters first: `ltrim(trimStr, str)`
        // is `TRIM(LEADING trimStr FROM str)` (DataFusion's take the string first).
        ("ltrim" | "rtrim", [characters, text]) if scalar => call(&name, vec![text.clone(), characters.clone()]),
        // Spark's nullif(a, b) is `a` (of `a`'s type) unless it equals `b`; nvl2(e, a, b) is a
        // CASE (the branches' common type). DataFusion typed nullif as both, nvl2 as `a`.
        ("nullif", [a, b]) if scalar => case(
            vec![sqlparser::ast::CaseWhen {
                condition: Expr::BinaryOp { left: Box::new(a.clone()), op: BinaryOperator::Eq, right: Box::new(b.clone()) },
                result: Expr::Value(Value::Null.into()),
            }],
            Some(a.clone()),
        ),
        ("nvl2", [e, a, b]) if scalar => {
            case(vec![sqlparser::ast::CaseWhen { condition: Expr::IsNotNull(Box::new(e.clone())), result: a.clone() }], Some(b.clone()))
        }
        // Spark's regexp_substr is NULL where the match is empty.
        ("regexp_substr", [_, _]) if scalar => {
            // Quoted: this rewrite passes over it (it would nest itself forever).
            let mut inner = function.clone();
            inner.name = ObjectName::from(vec![Ident::with_quote('"', "regexp_substr")]);
            let found = Expr::Function(inner);
            case(
                vec![sqlparser::ast::CaseWhen {
                    condition: Expr::BinaryOp {
                        left: Box::new(found.clone()),
                        op: BinaryOperator::Eq,
                        right: Box::new(Expr::Value(Value::SingleQuotedString(String::new()).into())),
                    },
                    result: Expr::Value(Value::Null.into()),
                }],
                Some(found),
            )
        }
        ("isnull", [x]) if scalar => Expr::IsNull(Box::new(x.clone())),
        ("isnotnull", [x]) if scalar => Expr::IsNotNull(Box::new(x.clone())),
        ("equal_null", [a, b]) if scalar => Expr::IsNotDistinctFrom(Box::new(a.clone()), Box::new(b.clone())),
        ("div", [a, b]) if scalar => Expr::Nested(Box::new(Expr::BinaryOp {
            left: Box::new(a.clone()),
            op: BinaryOperator::MyIntegerDivide,
            right: Box::new(b.clone()),
        })),
        ("positive", [x]) if scalar => Expr::Nested(Box::new(Expr::UnaryOp { op: UnaryOperator::Plus, expr: Box::new(x.clone()) })),
        ("e", []) if scalar => call("exp", vec![number("1.0")]),
        ("rlike" | "regexp", [a, p]) if scalar => call("regexp_like", vec![a.clone(), p.clone()]),
        ("array_size", [a]) if scalar => cast_int(call("array_length", vec![a.clone()])),
        ("sort_array", [a]) if scalar => sorted(a.clone(), true),
        ("sort_array", [a, Expr::Value(v)]) if scalar => match &v.value {
            Value::Boolean(ascending) => sorted(a.clone(), *ascending),
            _ => return Ok(()),
        },
        ("forall", [array, Expr::Lambda(lambda)]) if scalar => {
            let mut negated = lambda.clone();
            negated.body = Box::new(not(lambda.body.as_ref().clone()));
            not(call("exists", vec![array.clone(), Expr::Lambda(negated)]))
        }
        // Spark's other `decode`: the result of the first search value equal (NULL-safe) to
        // `expr`, else the default (NULL without one).
        ("decode", [subject, pairs @ ..]) if scalar && pairs.len() >= 2 => {
            let mut conditions = Vec::with_capacity(pairs.len() / 2);
            for pair in pairs.chunks_exact(2) {
                conditions.push(sqlparser::ast::CaseWhen {
                    condition: Expr::IsNotDistinctFrom(Box::new(subject.clone()), Box::new(pair[0].clone())),
                    result: pair[1].clone(),
                });
            }
            case(conditions, (pairs.len() % 2 == 1).then(|| pairs[pairs.len() - 1].clone()))
        }
        ("count_if", [p]) => {
            let when = case(vec![sqlparser::ast::CaseWhen { condition: p.clone(), result: number("1") }], None);
            let mut count = function.clone();
            count.name = ObjectName::from(vec![Ident::new("count")]);
            count.args = list(vec![when]);
            Expr::Function(count)
        }
        ("max_by" | "min_by", [x, y]) if function.over.is_none() => {
            let mut first = function.clone();
            first.name = ObjectName::from(vec![Ident::new("first_value")]);
            let order = OrderByExpr {
                expr: y.clone(),
                options: OrderByOptions { asc: Some(name == "min_by"), nulls_first: None },
                with_fill: None,
            };
            first.args = FunctionArguments::List(FunctionArgumentList {
                duplicate_treatment: None,
                args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(x.clone()))],
                clauses: vec![FunctionArgumentClause::OrderBy(vec![order])],
            });
            let known = Expr::IsNotNull(Box::new(y.clone()));
            first.filter = Some(Box::new(match function.filter.take() {
                Some(own) => Expr::BinaryOp { left: Box::new(Expr::Nested(own)), op: BinaryOperator::And, right: Box::new(known) },
                None => known,
            }));
            Expr::Function(first)
        }
        _ => return Ok(()),
    };
    *expr = replacement;
    Ok(())
}

/// A call's arguments when they are plain positional expressions.
fn plain_arguments(function: &Function) -> Option<Vec<Expr>> {
    match &function.args {
        FunctionArguments::None => Some(Vec::new()),
        FunctionArguments::List(list) if list.duplicate_treatment.is_none() && list.clauses.is_empty() => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn list(args: Vec<Expr>) -> FunctionArguments {
    FunctionArguments::List(FunctionArgumentList {
        duplicate_treatment: None,
        args: args.into_iter().map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a))).collect(),
        clauses: Vec::new(),
    })
}

pub(crate) fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: list(args),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// `CASE WHEN .. THEN .. [ELSE ..] END`.
fn case(conditions: Vec<sqlparser::ast::CaseWhen>, otherwise: Option<Expr>) -> Expr {
    use sqlparser::ast::helpers::attached_token::AttachedToken;
    Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions,
        else_result: otherwise.map(Box::new),
    }
}

fn not(expr: Expr) -> Expr {
    Expr::UnaryOp { op: UnaryOperator::Not, expr: Box::new(Expr::Nested(Box::new(expr))) }
}

fn number(text: &str) -> Expr {
    Expr::Value(Value::Number(text.to_string(), false).into())
}

pub(crate) fn text(value: &str) -> Expr {
    Expr::Value(Value::SingleQuotedString(value.to_string()).into())
}

fn cast_int(expr: Expr) -> Expr {
    Expr::Cast { kind: CastKind::Cast, expr: Box::new(expr), data_type: DataType::Int(None), array: false, format: None }
}

fn sorted(array: Expr, ascending: bool) -> Expr {
    let (direction, nulls) = if ascending { ("ASC", "NULLS FIRST") } else { ("DESC", "NULLS LAST") };
    call("array_sort", vec![array, text(direction), text(nulls)])
}

/// `SELECT CAST(c AS STRING COLLATE x)`: the column keeps the name `c`, as in Spark (which
/// reads the cast as giving `c` a collation).
pub(super) fn collated_cast_names(select: &mut sqlparser::ast::Select) -> Result<()> {
    use sqlparser::ast::SelectItem;
    for item in select.projection.iter_mut() {
        let SelectItem::UnnamedExpr(expr) = item else { continue };
        let Expr::Cast { expr: inner, data_type: DataType::Custom(name, _), .. } = expr else { continue };
        if crate::parser::literals::string_collate_type(name).is_none() {
            continue;
        }
        let alias = match inner.as_ref() {
            Expr::Identifier(column) => column.clone(),
            Expr::CompoundIdentifier(parts) if !parts.is_empty() => parts[parts.len() - 1].clone(),
            _ => continue,
        };
        *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias };
    }
    Ok(())
}
