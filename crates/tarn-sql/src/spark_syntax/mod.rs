//! Spark SQL syntax that sqlparser reads but DataFusion would plan differently, rewritten to
//! the form DataFusion plans as Spark means it (see `tarn_engine::spark` for the semantics
//! decided in the session itself):
//!
//! - `GROUP BY a, b WITH ROLLUP` / `WITH CUBE` / `GROUP BY a, b GROUPING SETS ((a), (b))`
//!   (Hive's forms, which DataFusion would run as a plain `GROUP BY a, b`) become
//!   `GROUP BY ROLLUP (a, b)` / `CUBE (a, b)` / `GROUPING SETS (...)`.
//! - Spark's cast functions `int(x)`, `bigint(x)`, `double(x)`, `string(x)`, ... (one argument,
//!   Spark's own aliases of `CAST(x AS type)`) become that cast.
//! - `EXISTS (SELECT count(*) FROM .. WHERE ..)` — a query of aggregates without `GROUP BY`,
//!   which always returns one row — is `TRUE` (`NOT EXISTS` is `FALSE`). DataFusion 55
//!   decorrelates it into a semi join that keeps only the rows with matches (the "count bug").
//! - `EXCEPT ALL` / `INTERSECT ALL` keep Spark's multiplicities (`{1,1,1} EXCEPT ALL {1}` is
//!   `{1,1}`; DataFusion 55 alone would give nothing): each side's copies of a row are numbered
//!   and the DISTINCT operation runs over (row, number) — see `tarn_engine::spark::multiplicity`.
//!   In pipe syntax they are still refused.
//! - A join without a condition (`t1 LEFT JOIN t2`) joins every pair, as Spark does: `ON TRUE`
//!   (DataFusion refuses it for every kind but the inner join).
//! - Pipe syntax: `FROM t` alone is `SELECT * FROM t`; `|> DROP a, b` is `|> SELECT * EXCEPT (a, b)`;
//!   `|> SET a = x, b = y` is `|> SELECT * REPLACE (x AS a)` then `(y AS b)`, one after the other
//!   as Spark applies them. DataFusion plans the rest of the pipe operators itself.
//! - `LIKE ANY | SOME | ALL (..)` and `ESCAPE` with another character than `\` ([`like`]).
//! - Interval ranges: `INTERVAL '2-1' YEAR TO MONTH`, `'1 2:03:04' DAY TO SECOND` ([`intervals`]).
//! - A CTE that shadows an enclosing one is renamed ([`ctes`]).
//! - Spark functions that are another expression DataFusion plans ([`functions`]).
//! - Generators in the select list and `LATERAL VIEW` as lateral relations ([`generators`]).
//! - `s.*` over a struct column `s` ([`struct_stars`]); named arguments ([`named_arguments`]).

use std::ops::ControlFlow;

use sqlparser::ast::{
    AssignmentTarget, CastKind, CeilFloorKind, DataType, ExactNumberInfo, ExceptSelectItem, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, GroupByExpr, GroupByWithModifier, Ident, Join, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart,
    PipeOperator, Query, ReplaceSelectElement, ReplaceSelectItem, SelectFlavor, SelectItem, SetExpr, SetOperator, SetQuantifier, Statement,
    TableFactor, TableWithJoins, TimezoneInfo, VisitMut, VisitorMut, WildcardAdditionalOptions,
};

use crate::error::{Result, SqlError};

mod ctes;
pub(crate) mod functions;
mod generators;
mod intervals;
mod like;
mod named_arguments;
mod struct_stars;
mod tuple_in;
mod using_joins;

/// Rewrites `statement` in place; refuses what Spark would not run either.
pub(crate) fn rewrite(statement: &mut Statement) -> Result<()> {
    if let Statement::Query(query) = statement
        && let Some(columns) = values_width(query)
    {
        // A query that is only VALUES: Spark names its columns col1, col2, ...
        let values = std::mem::replace(query.as_mut(), *query_of(empty_body()));
        let derived = TableFactor::Derived { lateral: false, subquery: Box::new(values), alias: Some(values_alias(columns)), sample: None };
        *query.as_mut() = *query_of(select_of(vec![SelectItem::Wildcard(WildcardAdditionalOptions::default())], derived));
    }
    ctes::unshadow(statement);
    let mut rewriter = Rewriter::default();
    match VisitMut::visit(statement, &mut rewriter) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(e),
    }
}

#[derive(Default)]
struct Rewriter {
    /// Subqueries in FROM given a name so far.
    unnamed_subqueries: usize,
    /// Generators in FROM given a name so far.
    unnamed_generators: usize,
}

impl VisitorMut for Rewriter {
    type Break = SqlError;

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SqlError> {
        if let Expr::Function(function) = expr
            && let Err(e) = named_arguments::resolve_call(function)
        {
            return ControlFlow::Break(e);
        }
        if let Err(e) = like::rewrite(expr).and_then(|()| intervals::rewrite(expr)).and_then(|()| functions::rewrite(expr)) {
            return ControlFlow::Break(e);
        }
        if let Some(cast) = cast_function(expr) {
            *expr = cast;
        }
        if let Some(rounding) = rounding_to_scale(expr) {
            *expr = rounding;
        }
        match tuple_in::rewrite(expr) {
            Ok(Some(row_in)) => *expr = row_in,
            Ok(None) => {}
            Err(e) => return ControlFlow::Break(e),
        }
        if let Err(e) = timestamp_unit_function(expr) {
            return ControlFlow::Break(e);
        }
        within_group_as_order_by(expr);
        if let Expr::Exists { subquery, negated } = expr
            && returns_one_row(subquery)
        {
            *expr = Expr::Value(sqlparser::ast::Value::Boolean(!*negated).into());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<SqlError> {
        // `explode(collection => arr)`: named arguments of a table function, by position.
        let named = match factor {
            TableFactor::Table { name, args: Some(args), .. } => named_arguments_of_table_function(name, &mut args.args),
            TableFactor::Function { name, args, .. } => named_arguments_of_table_function(name, args),
            _ => Ok(()),
        };
        if let Err(e) = named {
            return ControlFlow::Break(e);
        }
        // A generator in FROM without a name gets one, so that its columns are its own: in
        // `FROM explode(a), explode(b)` both `col`s are kept, as in Spark (DataFusion would
        // refuse two unqualified columns of one name).
        if let TableFactor::Table { name, args: Some(_), alias: alias @ None, .. } | TableFactor::Function { name, alias: alias @ None, .. } =
            factor
            && let [ObjectNamePart::Identifier(function)] = name.0.as_slice()
            && tarn_engine::spark::generators::is_generator(&function.value)
        {
            self.unnamed_generators += 1;
            *alias = Some(sqlparser::ast::TableAlias {
                explicit: true,
                name: Ident::new(format!("__tarn_generator_{}", self.unnamed_generators)),
                columns: Vec::new(),
                at: None,
            });
        }
        // `RANGE(3)`: a table function by its lower-case name, as Spark finds it.
        if let TableFactor::Table { name, args: Some(_), .. } = factor
            && let [sqlparser::ast::ObjectNamePart::Identifier(function)] = name.0.as_mut_slice()
            && function.quote_style.is_none()
        {
            function.value = function.value.to_ascii_lowercase();
        }
        if let TableFactor::NestedJoin { table_with_joins, .. } = factor {
            table_with_joins.joins.iter_mut().for_each(fill_join_condition);
        }
        // A lateral subquery without a name is one, as in Spark, whose columns are its own:
        // `t1, LATERAL (SELECT c2 FROM t2 UNION ALL ..)` reads `c2` beside `t1.c2` (DataFusion
        // would keep it unqualified and refuse the pair as ambiguous). Other subqueries in
        // FROM keep DataFusion's naming: its decorrelation loses columns under an alias there.
        if let TableFactor::Derived { lateral: true, alias: alias @ None, subquery, .. } = factor
            && values_width(subquery).is_none()
        {
            self.unnamed_subqueries += 1;
            *alias = Some(sqlparser::ast::TableAlias {
                explicit: true,
                name: Ident::new(format!("__tarn_subquery_{}", self.unnamed_subqueries)),
                columns: Vec::new(),
                at: None,
            });
        }
        // `(VALUES ..) AS t` without column names: Spark's are col1, col2, ...
        if let TableFactor::Derived { subquery, alias, .. } = factor
            && let Some(columns) = values_width(subquery)
            && alias.as_ref().is_none_or(|a| a.columns.is_empty())
        {
            let mut named = values_alias(columns);
            if let Some(alias) = alias.take() {
                named.name = alias.name;
            }
            *alias = Some(named);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<SqlError> {
        order_by_all(query);
        match rewrite_set_expr(&mut query.body)
            .and_then(|()| rewrite_pipes(query))
            .and_then(|()| each_select(&mut query.body, struct_stars::rewrite))
            .and_then(|()| each_select(&mut query.body, generators::rewrite))
            .and_then(|()| each_select(&mut query.body, functions::collated_cast_names))
            .and_then(|()| using_joins::rewrite_query(query))
        {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }
}

fn named_arguments_of_table_function(name: &ObjectName, args: &mut Vec<FunctionArg>) -> Result<()> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(function)] if function.quote_style.is_none() => named_arguments::resolve(&function.value, args),
        _ => Ok(()),
    }
}

/// `rewrite` applied to every SELECT of a query body (not of its subqueries: each is a query
/// of its own, visited in turn).
fn each_select(body: &mut SetExpr, rewrite: fn(&mut sqlparser::ast::Select) -> Result<()>) -> Result<()> {
    match body {
        SetExpr::Select(select) => rewrite(select),
        SetExpr::SetOperation { left, right, .. } => {
            each_select(left, rewrite)?;
            each_select(right, rewrite)
        }
        _ => Ok(()),
    }
}

/// `ORDER BY ALL [ASC|DESC] [NULLS ..]`: every output column in order, unless a column of the
/// query is itself named `all` (then Spark orders by it). DataFusion plans `ORDER BY ALL` over a
/// SELECT's own columns; a set operation is wrapped in `SELECT *` first, so it is ordered too.
fn order_by_all(query: &mut Query) {
    let Some(order_by) = &query.order_by else { return };
    let sqlparser::ast::OrderByKind::Expressions(exprs) = &order_by.kind else { return };
    let [only] = exprs.as_slice() else { return };
    let Expr::Identifier(word) = &only.expr else { return };
    if word.quote_style.is_some() || !word.value.eq_ignore_ascii_case("all") || only.with_fill.is_some() || names_a_column_all(&query.body)
    {
        return;
    }
    let options = only.options;
    if !matches!(query.body.as_ref(), SetExpr::Select(_)) {
        // SELECT * FROM (<set operation>) ORDER BY ALL, the LIMIT kept outside.
        let inner = Query { order_by: None, limit_clause: None, fetch: None, ..query.clone() };
        let derived = TableFactor::Derived {
            lateral: false,
            subquery: Box::new(inner),
            alias: Some(sqlparser::ast::TableAlias { explicit: true, name: Ident::new("__tarn_ordered"), columns: Vec::new(), at: None }),
            sample: None,
        };
        query.with = None;
        query.body = select_of(vec![SelectItem::Wildcard(WildcardAdditionalOptions::default())], derived);
    }
    query.order_by = Some(sqlparser::ast::OrderBy { kind: sqlparser::ast::OrderByKind::All(options), interpolate: None });
}

/// Whether a SELECT names an output or a relation's column `all` (a select item, an alias or
/// an inline table's column list).
fn names_a_column_all(body: &SetExpr) -> bool {
    let is_all = |i: &Ident| i.value.eq_ignore_ascii_case("all");
    match body {
        SetExpr::Select(select) => {
            select.projection.iter().any(|item| match item {
                SelectItem::ExprWithAlias { alias, .. } => is_all(alias),
                SelectItem::UnnamedExpr(Expr::Identifier(i)) => is_all(i),
                SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => parts.last().is_some_and(is_all),
                _ => false,
            }) || select.from.iter().any(|t| {
                std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)).any(|f| match f {
                    TableFactor::Derived { alias: Some(a), .. } | TableFactor::Table { alias: Some(a), .. } => {
                        a.columns.iter().any(|c| is_all(&c.name))
                    }
                    _ => false,
                })
            })
        }
        SetExpr::SetOperation { left, right, .. } => names_a_column_all(left) || names_a_column_all(right),
        SetExpr::Query(q) => names_a_column_all(&q.body),
        _ => false,
    }
}

/// How many columns a query that is only `VALUES (..), ..` has.
fn values_width(query: &Query) -> Option<usize> {
    if query.with.is_some() || query.order_by.is_some() || query.limit_clause.is_some() {
        return None;
    }
    let SetExpr::Values(values) = query.body.as_ref() else { return None };
    values.rows.first().map(|row| row.len()).filter(|n| *n > 0)
}

/// An alias naming `columns` columns as Spark names an inline table's: col1, col2, ...
fn values_alias(columns: usize) -> sqlparser::ast::TableAlias {
    sqlparser::ast::TableAlias {
        explicit: true,
        name: Ident::new("__tarn_values"),
        columns: (1..=columns)
            .map(|i| sqlparser::ast::TableAliasColumnDef { name: Ident::new(format!("col{i}")), data_type: None })
            .collect(),
        at: None,
    }
}

/// A placeholder body, replaced at once.
fn empty_body() -> Box<SetExpr> {
    Box::new(SetExpr::Values(sqlparser::ast::Values { explicit_row: false, value_keyword: false, rows: Vec::new() }))
}

/// A query whose body is `body`.
fn query_of(body: Box<SetExpr>) -> Box<Query> {
    Box::new(Query {
        with: None,
        body,
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: Vec::new(),
    })
}

/// `SELECT <projection> FROM (<query>) AS <alias>`.
fn select_from(projection: Vec<SelectItem>, query: Box<Query>, alias: &str) -> Box<SetExpr> {
    let derived = TableFactor::Derived {
        lateral: false,
        subquery: query,
        alias: Some(sqlparser::ast::TableAlias { explicit: true, name: Ident::new(alias), columns: Vec::new(), at: None }),
        sample: None,
    };
    select_of(projection, derived)
}

/// `SELECT <projection> FROM <relation>`.
fn select_of(projection: Vec<SelectItem>, relation: TableFactor) -> Box<SetExpr> {
    // A parsed `SELECT 1` gives every other field of the SELECT its empty value.
    let parsed = sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::GenericDialect {}, "SELECT 1");
    let mut select = match parsed.as_deref() {
        Ok([Statement::Query(query)]) => match query.body.as_ref() {
            SetExpr::Select(select) => select.as_ref().clone(),
            _ => unreachable!("SELECT 1 is a SELECT"),
        },
        _ => unreachable!("SELECT 1 parses"),
    };
    select.projection = projection;
    select.from = vec![TableWithJoins { relation, joins: Vec::new() }];
    Box::new(SetExpr::Select(Box::new(select)))
}

/// `left EXCEPT ALL right` (or INTERSECT ALL) with Spark's multiplicities: each side's rows
/// numbered per distinct row by `tarn_engine::spark`'s analyzer rule, the DISTINCT operation
/// over (row, number), the number dropped again (see `tarn_engine::spark::multiplicity`).
fn multiplicities(op: SetOperator, left: Box<SetExpr>, right: Box<SetExpr>) -> SetExpr {
    // The copy's number is a column named after the marker that makes it.
    const NUMBER: &str = tarn_engine::spark::SET_MULTIPLICITY_MARKER;
    let numbered = |side: Box<SetExpr>, alias: &str| {
        let marker = Expr::Function(sqlparser::ast::Function {
            name: ObjectName::from(vec![Ident::new(NUMBER)]),
            uses_odbc_syntax: false,
            parameters: FunctionArguments::None,
            args: FunctionArguments::List(sqlparser::ast::FunctionArgumentList {
                duplicate_treatment: None,
                args: Vec::new(),
                clauses: Vec::new(),
            }),
            filter: None,
            null_treatment: None,
            over: None,
            within_group: Vec::new(),
        });
        let projection = vec![
            SelectItem::Wildcard(WildcardAdditionalOptions::default()),
            SelectItem::ExprWithAlias { expr: marker, alias: Ident::new(NUMBER) },
        ];
        select_from(projection, query_of(side), alias)
    };
    let distinct = SetExpr::SetOperation {
        op,
        set_quantifier: SetQuantifier::Distinct,
        left: numbered(left, "__tarn_left"),
        right: numbered(right, "__tarn_right"),
    };
    let except = ExceptSelectItem { first_element: Ident::new(NUMBER), additional_elements: Vec::new() };
    let all_but_number = WildcardAdditionalOptions { opt_except: Some(except), ..Default::default() };
    *select_from(vec![SelectItem::Wildcard(all_but_number)], query_of(Box::new(distinct)), "__tarn_set")
}

/// A join's constraint (`ON ..`, `USING (..)`, NATURAL, none), for the joins that have one.
fn join_constraint(operator: &mut JoinOperator) -> Option<&mut JoinConstraint> {
    match operator {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::Semi(c)
        | JoinOperator::LeftSemi(c)
        | JoinOperator::RightSemi(c)
        | JoinOperator::Anti(c)
        | JoinOperator::LeftAnti(c)
        | JoinOperator::RightAnti(c) => Some(c),
        _ => None,
    }
}

/// Whether a join merges its key columns into one (`USING (..)`, NATURAL).
fn merges_columns(join: &mut Join) -> bool {
    matches!(join_constraint(&mut join.join_operator), Some(JoinConstraint::Using(_) | JoinConstraint::Natural))
}

/// `ON TRUE` for a join written without a condition; Spark's `SEMI JOIN` / `ANTI JOIN` are
/// its `LEFT SEMI` / `LEFT ANTI` joins.
fn fill_join_condition(join: &mut Join) {
    let placeholder = JoinOperator::CrossJoin(sqlparser::ast::JoinConstraint::None);
    join.join_operator = match std::mem::replace(&mut join.join_operator, placeholder) {
        JoinOperator::Semi(c) => JoinOperator::LeftSemi(c),
        JoinOperator::Anti(c) => JoinOperator::LeftAnti(c),
        other => other,
    };
    if let Some(constraint @ JoinConstraint::None) = join_constraint(&mut join.join_operator) {
        *constraint = JoinConstraint::On(Expr::Value(sqlparser::ast::Value::Boolean(true).into()));
    }
}

/// Spark's pipe operators that DataFusion does not plan, as ones it does.
fn rewrite_pipes(query: &mut Query) -> Result<()> {
    let mut rewritten = Vec::with_capacity(query.pipe_operators.len());
    for operator in std::mem::take(&mut query.pipe_operators) {
        match operator {
            PipeOperator::Except { set_quantifier: SetQuantifier::All, .. }
            | PipeOperator::Intersect { set_quantifier: SetQuantifier::All, .. } => {
                return Err(SqlError::Unsupported(
                    "|> EXCEPT ALL / INTERSECT ALL: Tarn cannot yet keep Spark's multiplicities for them; use DISTINCT".into(),
                ));
            }
            PipeOperator::Drop { columns } => {
                let mut columns = columns.into_iter();
                let Some(first_element) = columns.next() else {
                    return Err(SqlError::user("|> DROP needs at least one column"));
                };
                let except = ExceptSelectItem { first_element, additional_elements: columns.collect() };
                let options = WildcardAdditionalOptions { opt_except: Some(except), ..Default::default() };
                rewritten.push(PipeOperator::Select { exprs: vec![SelectItem::Wildcard(options)] });
            }
            PipeOperator::Set { assignments } => {
                for assignment in assignments {
                    let column_name = match &assignment.target {
                        AssignmentTarget::ColumnName(name) => match name.0.as_slice() {
                            [part] => part.as_ident().cloned(),
                            _ => None,
                        },
                        AssignmentTarget::Tuple(_) => None,
                    };
                    let Some(column_name) = column_name else {
                        return Err(SqlError::user(format!("|> SET assigns to a column by its name, not '{}'", assignment.target)));
                    };
                    // DataFusion's `REPLACE` passes over a column that does not exist; Spark's
                    // `SET` is an error then. A filter naming the column makes it resolve first
                    // (and the optimizer drops the always-true filter).
                    let named = Expr::Identifier(column_name.clone());
                    let always = Expr::BinaryOp {
                        left: Box::new(Expr::IsNull(Box::new(named))),
                        op: sqlparser::ast::BinaryOperator::Or,
                        right: Box::new(Expr::Value(sqlparser::ast::Value::Boolean(true).into())),
                    };
                    rewritten.push(PipeOperator::Where { expr: always });
                    let element = ReplaceSelectElement { expr: assignment.value, column_name, as_keyword: true };
                    let replace = ReplaceSelectItem { items: vec![Box::new(element)] };
                    let options = WildcardAdditionalOptions { opt_replace: Some(replace), ..Default::default() };
                    rewritten.push(PipeOperator::Select { exprs: vec![SelectItem::Wildcard(options)] });
                }
            }
            PipeOperator::Join(mut join) => {
                fill_join_condition(&mut join);
                if merges_columns(&mut join) {
                    // `USING (a)` / NATURAL: one `a` in the result, as in a SELECT's join
                    // (DataFusion's pipe join kept both sides' `a`).
                    let left = pipe_so_far(query, std::mem::take(&mut rewritten));
                    let mut body = select_of(vec![SelectItem::Wildcard(WildcardAdditionalOptions::default())], left);
                    if let SetExpr::Select(select) = body.as_mut() {
                        select.from[0].joins.push(join);
                    }
                    query.body = body;
                } else {
                    rewritten.push(PipeOperator::Join(join));
                }
            }
            PipeOperator::Aggregate { group_by_expr, .. }
                if group_by_expr
                    .iter()
                    .any(|g| matches!(&g.expr.expr, Expr::Value(v) if matches!(v.value, sqlparser::ast::Value::Number(..)))) =>
            {
                // DataFusion would group by the number itself (a constant), where Spark reads
                // it as the input's column at that position.
                return Err(SqlError::Unsupported(
                    "a column position in |> AGGREGATE .. GROUP BY; name the column instead (GROUP BY x)".into(),
                ));
            }
            // `|> PIVOT (..)` / `|> UNPIVOT (..)`: the query so far, pivoted, is what the next
            // operators read.
            PipeOperator::Pivot { aggregate_functions, value_column, value_source, alias } => {
                let table = Box::new(pipe_so_far(query, std::mem::take(&mut rewritten)));
                let pivot = TableFactor::Pivot {
                    table,
                    aggregate_functions,
                    value_column: value_column.into_iter().map(Expr::Identifier).collect(),
                    value_source,
                    default_on_null: None,
                    alias: alias.map(table_alias),
                };
                query.body = select_of(vec![SelectItem::Wildcard(WildcardAdditionalOptions::default())], pivot);
            }
            PipeOperator::Unpivot { value_column, name_column, unpivot_columns, alias } => {
                let table = Box::new(pipe_so_far(query, std::mem::take(&mut rewritten)));
                let unpivot = TableFactor::Unpivot {
                    table,
                    value: Expr::Identifier(value_column),
                    name: name_column,
                    columns: unpivot_columns
                        .into_iter()
                        .map(|c| sqlparser::ast::ExprWithAlias { expr: Expr::Identifier(c), alias: None })
                        .collect(),
                    null_inclusion: None,
                    alias: alias.map(table_alias),
                };
                query.body = select_of(vec![SelectItem::Wildcard(WildcardAdditionalOptions::default())], unpivot);
            }
            // A window function in `|> SELECT` / `|> EXTEND`: DataFusion's pipe planning leaves
            // it unplanned, so the query so far becomes the FROM of an ordinary SELECT.
            PipeOperator::Select { exprs } if has_window_function(&exprs) => {
                let from = pipe_so_far(query, std::mem::take(&mut rewritten));
                query.body = select_of(exprs, from);
            }
            PipeOperator::Extend { exprs } if has_window_function(&exprs) => {
                let from = pipe_so_far(query, std::mem::take(&mut rewritten));
                let mut items = vec![SelectItem::Wildcard(WildcardAdditionalOptions::default())];
                items.extend(exprs);
                query.body = select_of(items, from);
            }
            other => rewritten.push(other),
        }
    }
    query.pipe_operators = rewritten;
    Ok(())
}

fn has_window_function(items: &[SelectItem]) -> bool {
    let mut found = false;
    for item in items {
        let _ = sqlparser::ast::visit_expressions(item, |e| {
            if matches!(e, Expr::Function(f) if f.over.is_some()) {
                found = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
    }
    found
}

fn table_alias(name: Ident) -> sqlparser::ast::TableAlias {
    sqlparser::ast::TableAlias { explicit: true, name, columns: Vec::new(), at: None }
}

/// The pipe query up to here (its body, its own ORDER BY / LIMIT and the operators already
/// read) as a subquery in FROM; the WITH clause stays with the whole query.
fn pipe_so_far(query: &mut Query, operators: Vec<PipeOperator>) -> TableFactor {
    let inner = Query {
        with: None,
        body: std::mem::replace(&mut query.body, empty_body()),
        order_by: query.order_by.take(),
        limit_clause: query.limit_clause.take(),
        fetch: query.fetch.take(),
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: operators,
    };
    TableFactor::Derived { lateral: false, subquery: Box::new(inner), alias: Some(table_alias(Ident::new("__tarn_pipe"))), sample: None }
}

fn rewrite_set_expr(body: &mut SetExpr) -> Result<()> {
    match body {
        SetExpr::Select(select) => {
            // `FROM t` alone (pipe syntax's start) is every column of t.
            if select.flavor == SelectFlavor::FromFirstNoSelect && select.projection.is_empty() {
                select.projection = vec![SelectItem::Wildcard(WildcardAdditionalOptions::default())];
            }
            for from in &mut select.from {
                from.joins.iter_mut().for_each(fill_join_condition);
            }
            group_by_modifiers(&mut select.group_by)?;
            grouping_set_ordinals(&mut select.group_by, &select.projection)
        }
        SetExpr::SetOperation { left, right, op, set_quantifier } => {
            // Spark's `MINUS` is `EXCEPT`.
            if *op == SetOperator::Minus {
                *op = SetOperator::Except;
            }
            rewrite_set_expr(left)?;
            rewrite_set_expr(right)?;
            if matches!(op, SetOperator::Except | SetOperator::Intersect | SetOperator::Minus) && *set_quantifier == SetQuantifier::All {
                *body = multiplicities(*op, std::mem::replace(left, empty_body()), std::mem::replace(right, empty_body()));
            }
            Ok(())
        }
        // `TABLE t` as a body (sqlparser's form, from front ends that parse themselves):
        // `SELECT * FROM t`, which DataFusion plans.
        SetExpr::Table(table) => {
            let Some(name) = crate::relations::table_query_name(table) else {
                return Err(SqlError::user("TABLE needs a table name"));
            };
            let relation = TableFactor::Table {
                name,
                alias: None,
                args: None,
                with_hints: Vec::new(),
                version: None,
                with_ordinality: false,
                partitions: Vec::new(),
                json_path: None,
                sample: None,
                index_hints: Vec::new(),
            };
            *body = *select_of(vec![SelectItem::Wildcard(WildcardAdditionalOptions::default())], relation);
            Ok(())
        }
        _ => Ok(()),
    }
}

fn group_by_modifiers(group_by: &mut GroupByExpr) -> Result<()> {
    match group_by {
        GroupByExpr::All(modifiers) if !modifiers.is_empty() => {
            Err(SqlError::Unsupported("GROUP BY ALL with WITH ROLLUP / WITH CUBE / GROUPING SETS".into()))
        }
        GroupByExpr::Expressions(exprs, modifiers) if !modifiers.is_empty() => {
            let [modifier] = modifiers.as_slice() else {
                return Err(SqlError::user("GROUP BY takes one of WITH ROLLUP, WITH CUBE or GROUPING SETS, not several"));
            };
            let sets = || exprs.iter().map(|e| vec![e.clone()]).collect::<Vec<_>>();
            let grouping = match modifier {
                GroupByWithModifier::Rollup => Expr::Rollup(sets()),
                GroupByWithModifier::Cube => Expr::Cube(sets()),
                GroupByWithModifier::GroupingSets(sets) => sets.clone(),
                GroupByWithModifier::Totals => {
                    return Err(SqlError::user("WITH TOTALS is not Spark SQL; use WITH ROLLUP or GROUPING SETS"));
                }
            };
            *group_by = GroupByExpr::Expressions(vec![grouping], Vec::new());
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Ordinals inside `ROLLUP (1, b)`, `CUBE (1, 2)` and `GROUPING SETS ((1), (a, 2))` name the
/// select list's items, as a plain `GROUP BY 1` does (DataFusion resolves only the plain form).
fn grouping_set_ordinals(group_by: &mut GroupByExpr, projection: &[SelectItem]) -> Result<()> {
    let GroupByExpr::Expressions(exprs, _) = group_by else { return Ok(()) };
    let resolve = |e: &mut Expr| -> Result<()> {
        let Expr::Value(value) = e else { return Ok(()) };
        let sqlparser::ast::Value::Number(text, _) = &value.value else { return Ok(()) };
        let Ok(n) = text.parse::<usize>() else { return Ok(()) };
        let item = n.checked_sub(1).and_then(|i| projection.get(i));
        match item {
            Some(SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) => {
                *e = expr.clone();
                Ok(())
            }
            Some(_) => Ok(()),
            None => Err(SqlError::user(format!(
                "[GROUP_BY_POS_OUT_OF_RANGE] GROUP BY position {n} is not in the select list (it has {} items)",
                projection.len()
            ))),
        }
    };
    for expr in exprs.iter_mut() {
        match expr {
            Expr::Rollup(sets) | Expr::Cube(sets) | Expr::GroupingSets(sets) => {
                for e in sets.iter_mut().flatten() {
                    resolve(e)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `int(x)` and its kin as `CAST(x AS INT)`.
/// `listagg(x) WITHIN GROUP (ORDER BY ..)` (and `string_agg`) as `listagg(x ORDER BY ..)`: the
/// order values are joined in. DataFusion's WITHIN GROUP is for ordered-set aggregates only.
fn within_group_as_order_by(expr: &mut Expr) {
    let Expr::Function(function) = expr else { return };
    let [ObjectNamePart::Identifier(name)] = function.name.0.as_slice() else { return };
    let joins = ["listagg", "string_agg"].iter().any(|n| name.value.eq_ignore_ascii_case(n));
    if !joins || function.within_group.is_empty() || function.over.is_some() {
        return;
    }
    let FunctionArguments::List(list) = &mut function.args else { return };
    if list.clauses.iter().any(|c| matches!(c, sqlparser::ast::FunctionArgumentClause::OrderBy(_))) {
        return;
    }
    list.clauses.push(sqlparser::ast::FunctionArgumentClause::OrderBy(std::mem::take(&mut function.within_group)));
}

/// `CEIL(x, 1)` / `FLOOR(x, -2)` as calls of the functions `ceil` / `floor`, which take a scale
/// (DataFusion's planner refuses the parsed form; a negative scale already parses as a call).
fn rounding_to_scale(expr: &Expr) -> Option<Expr> {
    let (name, x, scale) = match expr {
        Expr::Ceil { expr, field: CeilFloorKind::Scale(scale) } => ("ceil", expr, scale),
        Expr::Floor { expr, field: CeilFloorKind::Scale(scale) } => ("floor", expr, scale),
        _ => return None,
    };
    let args =
        [x.as_ref().clone(), Expr::Value(scale.clone())].into_iter().map(|arg| FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))).collect();
    Some(Expr::Function(sqlparser::ast::Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(sqlparser::ast::FunctionArgumentList { duplicate_treatment: None, args, clauses: Vec::new() }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    }))
}

fn cast_function(expr: &Expr) -> Option<Expr> {
    let Expr::Function(function) = expr else { return None };
    let [ObjectNamePart::Identifier(name)] = function.name.0.as_slice() else { return None };
    if name.quote_style.is_some() || function.over.is_some() || function.filter.is_some() || !function.within_group.is_empty() {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else { return None };
    let ([FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))], None, true) =
        (list.args.as_slice(), &list.duplicate_treatment, list.clauses.is_empty())
    else {
        return None;
    };
    let data_type = match name.value.to_ascii_lowercase().as_str() {
        "boolean" => DataType::Boolean,
        "tinyint" => DataType::TinyInt(None),
        "smallint" => DataType::SmallInt(None),
        "int" => DataType::Int(None),
        "bigint" => DataType::BigInt(None),
        "float" => DataType::Float(ExactNumberInfo::None),
        "double" => DataType::Double(ExactNumberInfo::None),
        "decimal" => DataType::Decimal(ExactNumberInfo::PrecisionAndScale(10, 0)),
        "string" => DataType::String(None),
        "binary" => DataType::Binary(None),
        "timestamp" => DataType::Timestamp(None, TimezoneInfo::None),
        _ => return None,
    };
    Some(Expr::Cast { kind: CastKind::Cast, expr: Box::new(arg.clone()), data_type, array: false, format: None })
}

/// `timestampadd(MONTH, n, ts)` / `timestampdiff(DAY, a, b)` and their other names with three
/// arguments (`dateadd`, `date_add`, `datediff`, `date_diff`, `timediff`): the unit keyword
/// becomes text, the name Tarn's function (`tarn_engine::spark::units`).
fn timestamp_unit_function(expr: &mut Expr) -> Result<()> {
    let Expr::Function(function) = expr else { return Ok(()) };
    let [ObjectNamePart::Identifier(name)] = function.name.0.as_slice() else { return Ok(()) };
    let target = match name.value.to_ascii_lowercase().as_str() {
        "timestampadd" | "dateadd" | "date_add" => "timestampadd",
        "timestampdiff" | "datediff" | "date_diff" | "timediff" => "timestampdiff",
        _ => return Ok(()),
    };
    if name.quote_style.is_some() || function.over.is_some() {
        return Ok(());
    }
    let FunctionArguments::List(list) = &mut function.args else { return Ok(()) };
    if list.args.len() != 3 {
        return Ok(());
    }
    match &mut list.args[0] {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(unit @ Expr::Identifier(_))) => {
            let Expr::Identifier(keyword) = &*unit else { return Ok(()) };
            if keyword.quote_style.is_some() {
                return Ok(());
            }
            *unit = Expr::Value(sqlparser::ast::Value::SingleQuotedString(keyword.value.to_ascii_uppercase()).into());
        }
        // Spark's grammar takes the unit as a keyword only.
        _ => {
            return Err(SqlError::user(format!(
                "[PARSE_SYNTAX_ERROR] the unit of {} is a keyword such as DAY or MONTH, not an expression: {}",
                name.value, list.args[0]
            )));
        }
    }
    function.name = ObjectName::from(vec![Ident::new(target)]);
    Ok(())
}

/// Spark's aggregate functions by name: a call of one without `OVER` aggregates, so a query of
/// them returns exactly one row without GROUP BY (and a generator beside one runs after it).
pub(super) const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "mean",
    "min",
    "max",
    "count_if",
    "collect_list",
    "collect_set",
    "array_agg",
    "first",
    "last",
    "first_value",
    "last_value",
    "any_value",
    "bool_and",
    "bool_or",
    "every",
    "some",
    "any",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "variance",
    "var_samp",
    "var_pop",
    "approx_count_distinct",
    "median",
    "percentile",
    "percentile_approx",
    "string_agg",
    "listagg",
];

/// Whether `query` is `SELECT <aggregates> FROM .. [WHERE ..]` with no GROUP BY, HAVING,
/// DISTINCT, LIMIT or OFFSET: SQL gives exactly one row for it, whatever the tables hold.
fn returns_one_row(query: &Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else { return false };
    let no_groups = matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty());
    let plain = query.with.is_none()
        && query.limit_clause.is_none()
        && query.fetch.is_none()
        && select.having.is_none()
        && select.qualify.is_none()
        && select.distinct.is_none()
        && no_groups
        && !select.projection.is_empty();
    plain
        && select.projection.iter().all(|item| {
            let (sqlparser::ast::SelectItem::UnnamedExpr(e) | sqlparser::ast::SelectItem::ExprWithAlias { expr: e, .. }) = item else {
                return false;
            };
            let Expr::Function(f) = e else { return false };
            let [ObjectNamePart::Identifier(name)] = f.name.0.as_slice() else { return false };
            f.over.is_none() && AGGREGATES.contains(&name.value.to_ascii_lowercase().as_str())
        })
}
