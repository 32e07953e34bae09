//! A common table expression that shadows one of an enclosing query — `WITH t AS (..) SELECT
//! .. FROM (WITH t AS (..) SELECT * FROM t)` — is renamed, with the references that see it.
//!
//! Spark resolves a name to the innermost CTE that defines it (its non-legacy rule);
//! DataFusion refuses the inner definition ("WITH query name specified more than once"). A CTE's
//! body sees the CTEs written before it in its WITH (and itself under RECURSIVE), the query
//! body sees all of them: the same scopes [`crate::relations`] resolves names with.

use std::ops::ControlFlow;

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart, Query, Statement, TableFactor, VisitMut, VisitorMut};

/// Renames every CTE that shadows an enclosing one, and its references.
pub(super) fn unshadow(statement: &mut Statement) {
    let mut renamer = Renamer::default();
    let _ = VisitMut::visit(statement, &mut renamer);
}

struct Scope {
    /// The query whose WITH this is.
    owner: *const Query,
    /// Each CTE's name as written (lower case) and, when it shadows another, the name it is
    /// planned under.
    names: Vec<(String, Option<String>)>,
    /// The CTE bodies, in order.
    bodies: Vec<*const Query>,
    /// How many of `names` the query being visited sees.
    visible: usize,
    recursive: bool,
}

#[derive(Default)]
struct Renamer {
    scopes: Vec<Scope>,
    renamed: usize,
}

impl Renamer {
    /// The CTE `name` (lower case) reads where it is read: `Some(new name)` when that CTE was
    /// renamed, `Some(None)` when not, `None` when no CTE defines it.
    fn lookup(&self, name: &str) -> Option<Option<&str>> {
        self.scopes
            .iter()
            .rev()
            .find_map(|s| s.names[..s.visible].iter().rev().find(|(n, _)| n == name).map(|(_, planned)| planned.as_deref()))
    }
}

impl VisitorMut for Renamer {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let address = query as *const Query;
        // Entering a CTE body: it sees the CTEs before it (and itself when recursive).
        if let Some(scope) = self.scopes.last_mut()
            && let Some(i) = scope.bodies.iter().position(|b| *b == address)
        {
            scope.visible = if scope.recursive { i + 1 } else { i };
        }
        if let Some(with) = &mut query.with {
            let mut names = Vec::with_capacity(with.cte_tables.len());
            for cte in &mut with.cte_tables {
                let name = cte.alias.name.value.to_ascii_lowercase();
                let planned = if self.lookup(&name).is_some() {
                    self.renamed += 1;
                    let planned = format!("__tarn_cte_{}_{name}", self.renamed);
                    cte.alias.name = Ident::new(planned.clone());
                    Some(planned)
                } else {
                    None
                };
                names.push((name, planned));
            }
            let bodies = with.cte_tables.iter().map(|c| c.query.as_ref() as *const Query).collect();
            self.scopes.push(Scope { owner: address, names, bodies, visible: 0, recursive: with.recursive });
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let address = query as *const Query;
        if self.scopes.last().is_some_and(|s| s.owner == address) {
            self.scopes.pop();
        }
        // Leaving a CTE body: what follows sees that CTE too.
        if let Some(scope) = self.scopes.last_mut()
            && let Some(i) = scope.bodies.iter().position(|b| *b == address)
        {
            scope.visible = i + 1;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, args: None, version: None, .. } = factor
            && let [ObjectNamePart::Identifier(ident)] = name.0.as_slice()
            && let Some(Some(planned)) = self.lookup(&ident.value.to_ascii_lowercase())
        {
            *name = ObjectName::from(vec![Ident::new(planned.to_string())]);
        }
        ControlFlow::Continue(())
    }
}
