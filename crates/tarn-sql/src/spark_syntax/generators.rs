//! Spark's generators (`explode`, `posexplode`, `inline`, `stack`, `json_tuple`, ...) where Spark
//! writes them, as the lateral relations `tarn_engine::spark::generators` plans:
//!
//! - `FROM t LATERAL VIEW [OUTER] explode(t.arr) g AS x` is `FROM t, LATERAL explode[_outer](t.arr)
//!   AS g(x)`.
//! - `SELECT a, explode(arr) AS x FROM t WHERE ..` is `SELECT a, g.* FROM t, LATERAL
//!   explode(arr) AS g(x) WHERE ..`: every other name of the query stays in scope.
//! - When the SELECT aggregates (`GROUP BY`, `HAVING`, an aggregate call), has a window or a bare
//!   `*`, the generator runs over the SELECT's result instead, as Spark's does: `SELECT
//!   explode(collect_list(x)) FROM t` is `SELECT g.* FROM (SELECT collect_list(x) AS arg FROM
//!   t) s, LATERAL explode(s.arg) g`.
//!
//! One generator per SELECT, at the top of its item, as Spark requires.

use sqlparser::ast::{
    ExceptSelectItem, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, ObjectName, Select, SelectItem,
    SelectItemQualifiedWildcardKind, TableAlias, TableAliasColumnDef, TableFactor, TableWithJoins, WildcardAdditionalOptions,
};
use tarn_engine::spark::generators::is_generator;

use crate::error::{Result, SqlError};

/// The relation a generator's columns are read from.
const GENERATED: &str = "__tarn_generator";
/// The SELECT a generator runs over when it runs after aggregation.
const INNER: &str = "__tarn_generator_input";

/// Rewrites the generators of one SELECT.
pub(super) fn rewrite(select: &mut Select) -> Result<()> {
    lateral_views(select)?;
    let found: Vec<usize> = select.projection.iter().enumerate().filter(|(_, item)| generator_of(item).is_some()).map(|(i, _)| i).collect();
    match found.as_slice() {
        [] => {
            if let Some(SelectItem::ExprWithAliases { aliases, .. }) =
                select.projection.iter().find(|i| matches!(i, SelectItem::ExprWithAliases { .. }))
            {
                let names: Vec<String> = aliases.iter().map(|a| a.value.clone()).collect();
                return Err(SqlError::user(format!(
                    "[MULTI_ALIAS_WITHOUT_GENERATOR] the aliases ({}) name several columns, which only a generator such as explode makes",
                    names.join(", ")
                )));
            }
            Ok(())
        }
        [at] => {
            if runs_after_the_select(select) {
                after_the_select(select, *at)
            } else {
                beside_the_from(select, *at)
            }
        }
        _ => Err(SqlError::user(format!(
            "[UNSUPPORTED_GENERATOR.MULTI_GENERATOR] only one generator is allowed per SELECT, found {}",
            found.len()
        ))),
    }
}

/// The generator call of a select item, and the names its item gives the columns.
fn generator_of(item: &SelectItem) -> Option<(&sqlparser::ast::Function, Vec<Ident>)> {
    let (expr, names) = match item {
        SelectItem::UnnamedExpr(expr) => (expr, Vec::new()),
        SelectItem::ExprWithAlias { expr, alias } => (expr, vec![alias.clone()]),
        SelectItem::ExprWithAliases { expr, aliases } => (expr, aliases.clone()),
        _ => return None,
    };
    match expr {
        Expr::Function(function) if one_part(&function.name).is_some_and(|n| is_generator(&n)) => Some((function, names)),
        _ => None,
    }
}

fn one_part(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [part] => part.as_ident().map(|i| i.value.to_ascii_lowercase()),
        _ => None,
    }
}

fn arguments(function: &sqlparser::ast::Function) -> Result<Vec<FunctionArg>> {
    match &function.args {
        FunctionArguments::List(list) if list.duplicate_treatment.is_none() && list.clauses.is_empty() => {
            let mut args = list.args.clone();
            if let Some(name) = one_part(&function.name) {
                super::named_arguments::resolve(&name, &mut args)?;
            }
            Ok(args)
        }
        FunctionArguments::None => Ok(Vec::new()),
        _ => Err(SqlError::user(format!("{}: a generator takes plain arguments", function.name))),
    }
}

fn alias(name: &str, columns: Vec<Ident>) -> TableAlias {
    TableAlias {
        explicit: true,
        name: Ident::new(name),
        columns: columns.into_iter().map(|name| TableAliasColumnDef { name, data_type: None }).collect(),
        at: None,
    }
}

fn lateral(name: ObjectName, args: Vec<FunctionArg>, alias: TableAlias) -> TableWithJoins {
    TableWithJoins {
        relation: TableFactor::Function { lateral: true, name, args, alias: Some(alias), with_ordinality: false },
        joins: Vec::new(),
    }
}

/// `LATERAL VIEW [OUTER] gen(..) g [AS] a, b` as `, LATERAL gen[_outer](..) AS g(a, b)`.
fn lateral_views(select: &mut Select) -> Result<()> {
    for view in std::mem::take(&mut select.lateral_views) {
        let Expr::Function(function) = &view.lateral_view else {
            return Err(SqlError::user(format!("LATERAL VIEW takes a generator such as explode(..), got {}", view.lateral_view)));
        };
        let Some(name) = one_part(&function.name).filter(|n| is_generator(n)) else {
            return Err(SqlError::user(format!("LATERAL VIEW takes a generator such as explode(..), got {}", function.name)));
        };
        let name = if view.outer && !name.ends_with("_outer") {
            if name == "stack" || name == "json_tuple" { name } else { format!("{name}_outer") }
        } else {
            name
        };
        if select.from.is_empty() {
            return Err(SqlError::user("LATERAL VIEW needs a FROM clause to follow"));
        }
        // `LATERAL VIEW explode(..) AS a`: the table name is missing (sqlparser reads AS as it).
        if let [part] = view.lateral_view_name.0.as_slice()
            && part.as_ident().is_some_and(|i| i.quote_style.is_none() && i.value.eq_ignore_ascii_case("as"))
        {
            return Err(SqlError::user("[PARSE_SYNTAX_ERROR] LATERAL VIEW needs a table name: LATERAL VIEW explode(..) t AS a"));
        }
        let table = view.lateral_view_name.0.last().and_then(|p| p.as_ident()).map_or_else(|| GENERATED.to_string(), |i| i.value.clone());
        let args = arguments(function)?;
        select.from.push(lateral(ObjectName::from(vec![Ident::new(name)]), args, alias(&table, view.lateral_col_alias)));
    }
    Ok(())
}

/// Whether the SELECT computes something the generator must run after: an aggregate, a window,
/// a bare `*` (which would also take the generator's columns).
fn runs_after_the_select(select: &Select) -> bool {
    let groups = match &select.group_by {
        GroupByExpr::All(_) => true,
        GroupByExpr::Expressions(exprs, modifiers) => !exprs.is_empty() || !modifiers.is_empty(),
    };
    groups
        || select.having.is_some()
        || select.distinct.is_some()
        || select.projection.iter().any(|item| match item {
            SelectItem::Wildcard(_) => true,
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } | SelectItem::ExprWithAliases { expr: e, .. } => {
                aggregates_or_windows(e)
            }
            SelectItem::QualifiedWildcard(..) => false,
        })
}

/// Whether `expr` calls one of Spark's aggregates ([`super::AGGREGATES`]) or a window (`OVER`).
fn aggregates_or_windows(expr: &Expr) -> bool {
    let mut found = false;
    let _ = sqlparser::ast::visit_expressions(expr, |e| {
        if let Expr::Function(f) = e
            && (f.over.is_some() || one_part(&f.name).is_some_and(|n| super::AGGREGATES.contains(&n.as_str())))
        {
            found = true;
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    });
    found
}

/// The generator as a lateral relation of the SELECT's own FROM.
fn beside_the_from(select: &mut Select, at: usize) -> Result<()> {
    let Some((function, names)) = generator_of(&select.projection[at]) else { return Ok(()) };
    let name = function.name.clone();
    let args = arguments(function)?;
    let alias = alias(GENERATED, names);
    let relation = if select.from.is_empty() {
        TableWithJoins {
            relation: TableFactor::Table {
                name,
                alias: Some(alias),
                args: Some(sqlparser::ast::TableFunctionArgs { args, settings: None }),
                with_hints: Vec::new(),
                version: None,
                with_ordinality: false,
                partitions: Vec::new(),
                json_path: None,
                sample: None,
                index_hints: Vec::new(),
            },
            joins: Vec::new(),
        }
    } else {
        lateral(name, args, alias)
    };
    select.from.push(relation);
    select.projection[at] = generated_columns();
    Ok(())
}

fn generated_columns() -> SelectItem {
    SelectItem::QualifiedWildcard(
        SelectItemQualifiedWildcardKind::ObjectName(ObjectName::from(vec![Ident::new(GENERATED)])),
        WildcardAdditionalOptions::default(),
    )
}

/// The generator over the SELECT's result: the SELECT computes the generator's arguments and
/// every other item under a name, and a new SELECT reads those and the generated columns.
fn after_the_select(select: &mut Select, at: usize) -> Result<()> {
    let Some((function, names)) = generator_of(&select.projection[at]) else { return Ok(()) };
    let name = function.name.clone();
    let args = arguments(function)?;
    let mut inner_items = Vec::new();
    let mut outer_items = Vec::new();
    let mut hidden = Vec::new();
    let mut lateral_args = Vec::with_capacity(args.len());
    for (i, arg) in args.into_iter().enumerate() {
        let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg else {
            return Err(SqlError::user(format!("{name}: a generator takes positional arguments")));
        };
        let column = Ident::new(format!("__tarn_generator_arg_{i}"));
        inner_items.push(SelectItem::ExprWithAlias { expr, alias: column.clone() });
        lateral_args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::CompoundIdentifier(vec![Ident::new(INNER), column.clone()]))));
        hidden.push(column);
    }
    for (i, item) in std::mem::take(&mut select.projection).into_iter().enumerate() {
        if i == at {
            outer_items.push(generated_columns());
            continue;
        }
        match item {
            SelectItem::Wildcard(options) => {
                inner_items.push(SelectItem::Wildcard(options));
                outer_items.push(SelectItem::Wildcard(WildcardAdditionalOptions::default()));
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                let column = Ident::new(format!("__tarn_item_{i}"));
                inner_items.push(SelectItem::ExprWithAlias { expr, alias: column.clone() });
                outer_items.push(SelectItem::ExprWithAlias { expr: inner_column(&column), alias });
                hidden.push(column);
            }
            SelectItem::UnnamedExpr(expr) => {
                let column = Ident::new(format!("__tarn_item_{i}"));
                let shown = match &expr {
                    Expr::Identifier(name) => name.clone(),
                    Expr::CompoundIdentifier(parts) => parts.last().cloned().unwrap_or_else(|| Ident::new(expr.to_string())),
                    other => Ident::with_quote('"', other.to_string()),
                };
                inner_items.push(SelectItem::ExprWithAlias { expr, alias: column.clone() });
                outer_items.push(SelectItem::ExprWithAlias { expr: inner_column(&column), alias: shown });
                hidden.push(column);
            }
            other => {
                return Err(SqlError::user(format!(
                    "[UNSUPPORTED_GENERATOR] '{other}' beside a generator that runs over the SELECT's rows: list the columns instead"
                )));
            }
        }
    }
    // A bare `*` of the outer SELECT reads the inner one's columns but the named items.
    for item in &mut outer_items {
        if let SelectItem::Wildcard(options) = item {
            if let Some((first, rest)) = hidden.split_first() {
                options.opt_except = Some(ExceptSelectItem { first_element: first.clone(), additional_elements: rest.to_vec() });
            }
            *item = SelectItem::QualifiedWildcard(
                SelectItemQualifiedWildcardKind::ObjectName(ObjectName::from(vec![Ident::new(INNER)])),
                options.clone(),
            );
        }
    }
    let mut inner = select.clone();
    inner.projection = inner_items;
    inner.distinct = None;
    let inner_query = super::query_of(Box::new(sqlparser::ast::SetExpr::Select(Box::new(inner))));
    let derived = TableFactor::Derived { lateral: false, subquery: inner_query, alias: Some(alias(INNER, Vec::new())), sample: None };
    let mut outer = match *super::select_of(outer_items, derived) {
        sqlparser::ast::SetExpr::Select(outer) => *outer,
        _ => return Err(SqlError::user("a generator's SELECT could not be rebuilt")),
    };
    outer.distinct = select.distinct.take();
    outer.from.push(lateral(name, lateral_args, alias(GENERATED, names)));
    *select = outer;
    Ok(())
}

fn inner_column(column: &Ident) -> Expr {
    Expr::CompoundIdentifier(vec![Ident::new(INNER), column.clone()])
}
