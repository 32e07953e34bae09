//! Fragments of real clients' catalog queries that DataFusion cannot plan, replaced by
//! equivalents it can (in addition to `datafusion-pg-catalog`'s own list). Matching ignores
//! whitespace differences; a query without a known fragment is left exactly as sent.

/// (fragment as the client sends it, replacement)
const REPLACEMENTS: &[(&str, &str)] = &[
    // psql `\d+`: table options plus TOAST options. pg_class has no reloptions (Tarn tables
    // have no storage options) and
    // DataFusion has no ARRAY(subquery) constructor.
    ("pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ')", "''"),
    // pgjdbc's getPrimaryKeys (DBeaver, DataGrip, Metabase): index keys expanded with
    // information_schema._pg_expandarray, a set-returning function read through composite
    // field access. Tarn tables have no indexes (pg_index is empty), so the join it feeds has
    // no rows either way; plain columns keep the query's shape.
    ("(information_schema._pg_expandarray(i.indkey)).n", "CAST(NULL AS INT)"),
    ("information_schema._pg_expandarray(i.indkey)", "CAST(NULL AS INT)"),
    ("(result.KEYS).x", "result.KEYS"),
    // pgjdbc's getIndexInfo: pg_index.indoption is an int2vector (text here) it subscripts;
    // as a typed empty array the (index-less, so row-less) query plans.
    ("i.indoption AS I_INDOPTION", "CAST(NULL AS SMALLINT[]) AS I_INDOPTION"),
    // pgjdbc's getImportedKeys / getExportedKeys / getCrossReference: foreign-key columns by
    // subscripting pg_constraint's int2vectors. Tarn has no foreign keys (the query keeps
    // only contype = 'f'), so typed NULLs give the same empty answer.
    ("pka.attnum = con.confkey[pos.n]", "pka.attnum = CAST(NULL AS SMALLINT)"),
    ("fka.attnum = con.conkey[pos.n]", "fka.attnum = CAST(NULL AS SMALLINT)"),
    // pgjdbc's getTypeInfo: a correlated scalar subquery DataFusion only plans when
    // aggregated; as EXISTS it is the same filter (a WHERE treats NULL as false).
    (
        "(SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid)",
        "EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c')",
    ),
    // pgjdbc's type lookups (and DBeaver's): pg_type.typinput holds function names here, not
    // regproc oids, so compare names.
    ("typinput='pg_catalog.array_in'::regproc", "typinput='array_in'"),
    ("typinput = 'pg_catalog.array_in'::regproc", "typinput = 'array_in'"),
];

/// Functions DataFusion (or Tarn) provides as table functions; any other function called in
/// FROM is a scalar one.
const TABLE_FUNCTIONS: &[&str] = &["generate_series", "range", "unnest", "pg_get_keywords", "read_files", "table_changes"];

/// Postgres lets a scalar function stand in FROM as a one-row table (Grafana:
/// `FROM string_to_array(current_setting('search_path'), ',') s`); DataFusion only takes
/// table functions there. Each such call becomes `(SELECT f(..) AS s) AS s`, which is what
/// Postgres means: one row, one column named after the alias (or its first column alias).
pub(crate) fn scalar_functions_in_from(statement: &mut sqlparser::ast::Statement) {
    use sqlparser::ast::VisitMut;
    let _ = statement.visit(&mut ScalarFunctionsInFrom);
}

struct ScalarFunctionsInFrom;

impl sqlparser::ast::VisitorMut for ScalarFunctionsInFrom {
    type Break = ();

    fn post_visit_table_factor(&mut self, factor: &mut sqlparser::ast::TableFactor) -> std::ops::ControlFlow<()> {
        use sqlparser::ast::{Ident, TableAlias, TableFactor};
        let TableFactor::Table { name, alias, args: Some(args), with_ordinality: false, .. } = factor else {
            return std::ops::ControlFlow::Continue(());
        };
        // A qualified name outside Postgres' schemas is a SQL (table) function of the catalog.
        if name.0.len() > 1 && !is_system_qualified(name) {
            return std::ops::ControlFlow::Continue(());
        }
        let function = name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase()).unwrap_or_default();
        // A one-column set-returning function's column is named after its alias in Postgres
        // (`generate_series(1, 3) AS i` has column i); DataFusion calls it `value`.
        if matches!(function.as_str(), "generate_series" | "range")
            && let Some(alias) = alias.as_mut()
            && alias.columns.is_empty()
        {
            alias.columns.push(sqlparser::ast::TableAliasColumnDef { name: alias.name.clone(), data_type: None });
        }
        if function.is_empty() || TABLE_FUNCTIONS.contains(&function.as_str()) {
            return std::ops::ControlFlow::Continue(());
        }
        let alias = alias.clone().unwrap_or(TableAlias { explicit: true, name: Ident::new(function.clone()), columns: vec![], at: None });
        let column = alias.columns.first().map(|c| c.name.clone()).unwrap_or_else(|| alias.name.clone());
        let arguments = args.args.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT {name}({arguments}) AS {column}");
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let Ok(mut parsed) = sqlparser::parser::Parser::parse_sql(&dialect, &sql) else {
            return std::ops::ControlFlow::Continue(());
        };
        if let (1, Some(sqlparser::ast::Statement::Query(query))) = (parsed.len(), parsed.pop()) {
            *factor = TableFactor::Derived { lateral: false, subquery: query, alias: Some(alias), sample: None };
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// DataFusion plans `x IN (SELECT ..)` in WHERE (as a semi join) but not in a SELECT list,
/// where clients put it inside CASE (Grafana: is this table's schema on the search path?).
/// There it becomes `array_has((SELECT array_agg(v) FROM (<subquery>) AS s(v)), x)`, the same
/// test over the subquery's single column.
pub(crate) fn in_subqueries_in_select_lists(statement: &mut sqlparser::ast::Statement) {
    use sqlparser::ast::VisitMut;
    let _ = statement.visit(&mut SelectListInSubqueries);
}

struct SelectListInSubqueries;

impl sqlparser::ast::VisitorMut for SelectListInSubqueries {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut sqlparser::ast::Query) -> std::ops::ControlFlow<()> {
        use sqlparser::ast::{SelectItem, SetExpr, VisitMut};
        if let SetExpr::Select(select) = query.body.as_mut() {
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
                    let _ = expr.visit(&mut InSubqueryToArrayHas);
                }
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

struct InSubqueryToArrayHas;

impl sqlparser::ast::VisitorMut for InSubqueryToArrayHas {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut sqlparser::ast::Expr) -> std::ops::ControlFlow<()> {
        if let sqlparser::ast::Expr::InSubquery { expr: needle, subquery, negated } = expr {
            let not = if *negated { "NOT " } else { "" };
            let sql = format!("{not}array_has((SELECT array_agg(__tarn_in.v) FROM ({subquery}) AS __tarn_in(v)), {needle})");
            let dialect = sqlparser::dialect::PostgreSqlDialect {};
            if let Ok(mut parser) = sqlparser::parser::Parser::new(&dialect).try_with_sql(&sql)
                && let Ok(replacement) = parser.parse_expr()
            {
                *expr = replacement;
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

fn collapse(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `sql` with known unplannable fragments replaced.
pub(crate) fn rewrite(sql: &str) -> std::borrow::Cow<'_, str> {
    let collapsed = collapse(sql);
    let mut out = collapsed.clone();
    for (from, to) in REPLACEMENTS {
        out = out.replace(&collapse(from), to);
    }
    if out == collapsed { std::borrow::Cow::Borrowed(sql) } else { std::borrow::Cow::Owned(out) }
}

/// Postgres counts array subscripts from 1 (`arr[1]` is the first element, NULL when out of
/// range); Tarn's own dialect follows Spark (`arr[0]`, an error out of range). Text read as
/// Postgres gets Postgres' meaning: `arr[i]` becomes `array_element(arr, i)`.
pub(crate) fn postgres_subscripts(statement: &mut sqlparser::ast::Statement) {
    use sqlparser::ast::VisitMut;
    let _ = statement.visit(&mut PostgresSubscripts);
}

struct PostgresSubscripts;

impl sqlparser::ast::VisitorMut for PostgresSubscripts {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut sqlparser::ast::Expr) -> std::ops::ControlFlow<()> {
        use sqlparser::ast::{
            AccessExpr, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, ObjectName, Subscript,
        };
        let Expr::CompoundFieldAccess { root, access_chain } = expr else {
            return std::ops::ControlFlow::Continue(());
        };
        if !access_chain.iter().all(|a| matches!(a, AccessExpr::Subscript(Subscript::Index { .. }))) {
            return std::ops::ControlFlow::Continue(());
        }
        let mut result = root.as_ref().clone();
        for access in access_chain.drain(..) {
            let AccessExpr::Subscript(Subscript::Index { index }) = access else { continue };
            result = Expr::Function(Function {
                name: ObjectName::from(vec![Ident::new("array_element")]),
                uses_odbc_syntax: false,
                parameters: FunctionArguments::None,
                args: FunctionArguments::List(FunctionArgumentList {
                    duplicate_treatment: None,
                    args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(result)), FunctionArg::Unnamed(FunctionArgExpr::Expr(index))],
                    clauses: vec![],
                }),
                filter: None,
                null_treatment: None,
                over: None,
                within_group: vec![],
            });
        }
        *expr = result;
        std::ops::ControlFlow::Continue(())
    }
}

/// The marker between the parts of a qualified function name while it is hidden from
/// datafusion-pg-catalog's rewrites.
const QUALIFIED: char = '\u{1}';

/// Whether a qualified function name is one of Postgres' own (`pg_catalog.f`,
/// `information_schema.f`), which datafusion-pg-catalog may strip to `f`.
fn is_system_qualified(name: &sqlparser::ast::ObjectName) -> bool {
    name.0.len() > 1
        && name.0[name.0.len() - 2]
            .as_ident()
            .is_some_and(|s| s.value.eq_ignore_ascii_case("pg_catalog") || s.value.eq_ignore_ascii_case("information_schema"))
}

/// Whether `sql` calls a function by a qualified name outside Postgres' schemas (a SQL
/// function: `sales.net(x)`, `SELECT * FROM sales.rows_for(1)`).
pub(crate) fn calls_qualified_functions(sql: &str) -> bool {
    use sqlparser::ast::Visit;
    let Ok(statements) = sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql) else {
        return false;
    };
    let mut found = QualifiedNames { hide: false, found: false };
    for statement in &statements {
        let _ = statement.visit(&mut found);
    }
    found.found
}

/// Hide (or show again) qualified function names from datafusion-pg-catalog's rewrites, which
/// strip every function's qualifier: `sales.net(x)` would call another function, or a cast
/// (`fx.double(2)` is `CAST(2 AS DOUBLE)` once stripped). Hidden, the name is one part.
pub(crate) fn hide_qualified_functions(statement: &mut sqlparser::ast::Statement, hide: bool) {
    use sqlparser::ast::VisitMut;
    let _ = statement.visit(&mut QualifiedNames { hide, found: false });
}

struct QualifiedNames {
    hide: bool,
    found: bool,
}

impl QualifiedNames {
    fn rename(&mut self, name: &mut sqlparser::ast::ObjectName) {
        use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};
        if self.hide && name.0.len() > 1 && !is_system_qualified(name) {
            let parts: Vec<String> = name.0.iter().map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_default()).collect();
            *name = ObjectName(vec![ObjectNamePart::Identifier(Ident::with_quote('"', parts.join(&QUALIFIED.to_string())))]);
        } else if !self.hide
            && let [ObjectNamePart::Identifier(one)] = name.0.as_slice()
            && one.value.contains(QUALIFIED)
        {
            let parts = one.value.split(QUALIFIED).map(|p| ObjectNamePart::Identifier(Ident::new(p))).collect();
            *name = ObjectName(parts);
        }
    }
}

impl sqlparser::ast::Visitor for QualifiedNames {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &sqlparser::ast::Expr) -> std::ops::ControlFlow<()> {
        if let sqlparser::ast::Expr::Function(f) = expr
            && f.name.0.len() > 1
            && !is_system_qualified(&f.name)
        {
            self.found = true;
        }
        std::ops::ControlFlow::Continue(())
    }
    fn pre_visit_table_factor(&mut self, factor: &sqlparser::ast::TableFactor) -> std::ops::ControlFlow<()> {
        if let sqlparser::ast::TableFactor::Table { name, args: Some(_), .. } = factor
            && name.0.len() > 1
            && !is_system_qualified(name)
        {
            self.found = true;
        }
        std::ops::ControlFlow::Continue(())
    }
}

impl sqlparser::ast::VisitorMut for QualifiedNames {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &mut sqlparser::ast::Expr) -> std::ops::ControlFlow<()> {
        if let sqlparser::ast::Expr::Function(f) = expr {
            self.rename(&mut f.name);
        }
        std::ops::ControlFlow::Continue(())
    }
    fn pre_visit_table_factor(&mut self, factor: &mut sqlparser::ast::TableFactor) -> std::ops::ControlFlow<()> {
        if let sqlparser::ast::TableFactor::Table { name, args: Some(_), .. } = factor {
            self.rename(name);
        }
        std::ops::ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_functions_in_from_become_one_row_subqueries() {
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let sql = "SELECT s[1] FROM generate_series(1, 2) AS i, string_to_array('a,b', ',') s, upper('x') AS u(v)";
        let mut statement = sqlparser::parser::Parser::parse_sql(&dialect, sql).expect("parse").remove(0);
        scalar_functions_in_from(&mut statement);
        assert_eq!(
            statement.to_string(),
            "SELECT s[1] FROM generate_series(1, 2) AS i (i), (SELECT string_to_array('a,b', ',') AS s) s, \
             (SELECT upper('x') AS v) AS u (v)"
        );
    }

    #[test]
    fn in_subqueries_move_out_of_select_lists_only() {
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let sql = "SELECT CASE WHEN a IN (SELECT b FROM t) THEN 1 END FROM u WHERE c IN (SELECT d FROM v)";
        let mut statement = sqlparser::parser::Parser::parse_sql(&dialect, sql).expect("parse").remove(0);
        in_subqueries_in_select_lists(&mut statement);
        assert_eq!(
            statement.to_string(),
            "SELECT CASE WHEN array_has((SELECT array_agg(__tarn_in.v) FROM (SELECT b FROM t) AS __tarn_in (v)), a) \
             THEN 1 END FROM u WHERE c IN (SELECT d FROM v)"
        );
    }

    #[test]
    fn replaces_known_fragments_only() {
        let psql = "SELECT c.relchecks, pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x\n from pg_catalog.unnest(tc.reloptions) x), ', ')\nFROM pg_catalog.pg_class c";
        assert_eq!(rewrite(psql), "SELECT c.relchecks, '' FROM pg_catalog.pg_class c");
        let user = "SELECT  'two  spaces'";
        assert_eq!(rewrite(user), user);
    }
}
