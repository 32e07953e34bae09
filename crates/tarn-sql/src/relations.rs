//! What a piece of SQL reads: the one walk both name resolution and privilege checks use.
//!
//! A one-part name refers to a common table expression only where that CTE is in scope, as
//! Spark and DataFusion scope them: a CTE is visible in its query's body and in the CTEs
//! defined after it (and in itself when the WITH is RECURSIVE), never outside its query. A
//! relation with time travel (`t VERSION AS OF 2`) is always a table. Table functions are
//! recognised by their unquoted, lower-cased name ([`function_name`]), so `` `table_changes` ``
//! and `"TABLE_CHANGES"` are the same function to the resolver and to the authorizer.
//!
//! Security does not rest on this walk being exact: every provider a statement is planned with
//! is bound (and authorized) by `resolve`, and DataFusion sees nothing else. A name this walk
//! wrongly took for a CTE fails as "not found", never reads a table unchecked.

use std::ops::ControlFlow;

use sqlparser::ast::{FunctionArg, ObjectName, Query, SetExpr, TableFactor, TableVersion, Visit, Visitor};

/// A table function's name as resolution and authorization compare it: one part, unquoted,
/// lower case. `None` for qualified names.
pub(crate) fn function_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [part] => part.as_ident().map(|i| i.value.to_ascii_lowercase()),
        _ => None,
    }
}

/// A table named in a query (not a CTE reference), with its time-travel clause.
#[derive(Debug, Clone)]
pub(crate) struct Relation {
    pub name: ObjectName,
    pub version: Option<TableVersion>,
}

/// A call of one of Tarn's table functions.
#[derive(Debug, Clone)]
pub(crate) struct FunctionCall {
    pub name: ObjectName,
    /// The normalised name ([`function_name`]).
    pub function: String,
    pub args: Vec<FunctionArg>,
}

/// The table a `TABLE [schema.]t` query body names.
pub(crate) fn table_query_name(table: &sqlparser::ast::Table) -> Option<ObjectName> {
    let table_name = table.table_name.as_ref()?;
    let parts = table.schema_name.iter().chain(std::iter::once(table_name));
    Some(ObjectName::from(parts.map(|p| sqlparser::ast::Ident::new(p.clone())).collect::<Vec<_>>()))
}

/// The tables and table-function calls of `node`, in the order they appear.
#[derive(Debug, Default)]
pub(crate) struct Relations {
    pub tables: Vec<Relation>,
    pub functions: Vec<FunctionCall>,
    /// Calls in FROM of other table functions: SQL functions, if one has the name (else
    /// DataFusion's own, such as `range`). `function` is the whole name, lower case.
    pub other_functions: Vec<FunctionCall>,
}

impl Relations {
    pub fn of(node: &impl Visit) -> Self {
        let mut walker = Walker::default();
        let _ = node.visit(&mut walker);
        walker.found
    }
}

/// One query's WITH clause while its query is being walked.
struct Scope {
    query: *const Query,
    /// CTE names (lower case) in definition order, with the address of each CTE's query.
    ctes: Vec<(String, *const Query)>,
    recursive: bool,
    /// How many of `ctes` are visible right now: while CTE k's body is walked, the k before
    /// it (k + 1 when recursive); in the query's body, all of them.
    visible: usize,
}

#[derive(Default)]
struct Walker {
    scopes: Vec<Scope>,
    found: Relations,
}

impl Walker {
    fn is_cte(&self, name: &ObjectName) -> bool {
        let [part] = name.0.as_slice() else {
            return false;
        };
        let Some(ident) = part.as_ident() else {
            return false;
        };
        let lower = ident.value.to_ascii_lowercase();
        self.scopes.iter().any(|s| s.ctes[..s.visible].iter().any(|(n, _)| *n == lower))
    }
}

impl Visitor for Walker {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        let address = query as *const Query;
        // Entering the body of one of the innermost WITH's CTEs: only earlier ones are visible.
        if let Some(scope) = self.scopes.last_mut()
            && let Some(k) = scope.ctes.iter().position(|(_, q)| *q == address)
        {
            scope.visible = if scope.recursive { k + 1 } else { k };
        }
        let (ctes, recursive) = match &query.with {
            Some(with) => (
                with.cte_tables.iter().map(|cte| (cte.alias.name.value.to_ascii_lowercase(), &*cte.query as *const Query)).collect(),
                with.recursive,
            ),
            None => (Vec::new(), false),
        };
        self.scopes.push(Scope { query: address, ctes, recursive, visible: 0 });
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        // `TABLE t` (a query body sqlparser keeps as bare strings, not a table factor; the Postgres
        // front end's parser makes them) names a table as `SELECT * FROM t` does — looked at
        // here, after the CTE bodies, when all of the query's CTEs are in scope.
        let mut bodies = vec![query.body.as_ref()];
        while let Some(body) = bodies.pop() {
            match body {
                SetExpr::SetOperation { left, right, .. } => bodies.extend([left.as_ref(), right.as_ref()]),
                SetExpr::Table(table) => {
                    if let Some(name) = table_query_name(table)
                        && !self.is_cte(&name)
                    {
                        self.found.tables.push(Relation { name, version: None });
                    }
                }
                _ => {}
            }
        }
        let address = query as *const Query;
        if self.scopes.last().is_some_and(|s| s.query == address) {
            self.scopes.pop();
        }
        // Leaving a CTE's body: what follows (the next CTE resets it, or the query's body)
        // sees every CTE of the clause.
        if let Some(scope) = self.scopes.last_mut()
            && scope.ctes.iter().any(|(_, q)| *q == address)
        {
            scope.visible = scope.ctes.len();
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table { name, args: None, version, .. } if version.is_some() || !self.is_cte(name) => {
                self.found.tables.push(Relation { name: name.clone(), version: version.clone() });
            }
            TableFactor::Table { name, args: Some(args), .. } => {
                if let Some(function) = function_name(name).filter(|f| crate::table_functions::is_tarn_function(f)) {
                    self.found.functions.push(FunctionCall { name: name.clone(), function, args: args.args.clone() });
                } else {
                    let function = name.to_string().to_ascii_lowercase();
                    self.found.other_functions.push(FunctionCall { name: name.clone(), function, args: args.args.clone() });
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(sql: &str) -> Vec<String> {
        let statements = crate::parser::parse_sql(sql).expect("parses");
        let crate::ast::Statement::Query(q) = &statements[0] else { panic!("not a query") };
        Relations::of(q.as_ref())
            .tables
            .iter()
            .map(|r| match &r.version {
                Some(v) => format!("{} {v}", r.name),
                None => r.name.to_string(),
            })
            .collect()
    }

    fn functions(sql: &str) -> Vec<String> {
        let statements = crate::parser::parse_sql(sql).expect("parses");
        let crate::ast::Statement::Query(q) = &statements[0] else { panic!("not a query") };
        Relations::of(q.as_ref()).functions.iter().map(|f| f.function.clone()).collect()
    }

    #[test]
    fn table_query_bodies_name_their_tables() {
        // As the Postgres front end's own parser reads them (Tarn's parser makes them SELECTs).
        let postgres = |sql: &str| -> Vec<String> {
            let statements = sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql).expect("parses");
            Relations::of(&statements[0]).tables.iter().map(|r| r.name.to_string()).collect()
        };
        assert_eq!(postgres("SELECT 1 UNION ALL TABLE hr.salaries"), vec!["hr.salaries"]);
        assert_eq!(postgres("WITH secret AS (SELECT 1) SELECT 1 UNION ALL TABLE secret"), Vec::<String>::new());
    }

    #[test]
    fn a_cte_hides_a_table_only_inside_its_query() {
        assert_eq!(tables("WITH s AS (SELECT 1 AS x) SELECT * FROM s"), Vec::<String>::new());
        // The CTE is declared in a subquery; the outer `secret` is the table.
        assert_eq!(tables("SELECT * FROM secret s CROSS JOIN (WITH secret AS (SELECT 1 AS x) SELECT x FROM secret) c"), vec!["secret"]);
        // A CTE body does not see itself or later CTEs (unless RECURSIVE).
        assert_eq!(tables("WITH a AS (SELECT * FROM a) SELECT * FROM a"), vec!["a"]);
        assert_eq!(tables("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a"), vec!["b"]);
        assert_eq!(tables("WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b"), Vec::<String>::new());
        // Qualified names are never CTEs.
        assert_eq!(tables("WITH t AS (SELECT 1) SELECT * FROM default.t"), vec!["default.t"]);
    }

    #[test]
    fn time_travel_always_names_a_table() {
        assert_eq!(tables("WITH secret AS (SELECT 1 AS x) SELECT * FROM secret VERSION AS OF 2"), vec!["secret VERSION AS OF 2"]);
    }

    #[test]
    fn quoted_table_functions_are_the_same_function() {
        assert_eq!(functions("SELECT * FROM `table_changes`('t', 0)"), vec!["table_changes"]);
        assert_eq!(functions("SELECT * FROM `READ_FILES`('/x', format => 'csv')"), vec!["read_files"]);
        assert_eq!(functions("SELECT * FROM Table_Changes('t', 0)"), vec!["table_changes"]);
    }
}
