//! `a FULL JOIN b USING (k)` / `RIGHT JOIN .. USING`: the one column `k` a USING join keeps is
//! `COALESCE(a.k, b.k)` for a FULL join and `b.k` for a RIGHT one, in Spark (and the SQL
//! standard). DataFusion kept the left side's `k`, so the rows only the right side had showed
//! `k` as NULL — a wrong answer to `SELECT *` and to every unqualified `k`.
//!
//! For a SELECT whose FROM is one chain of named relations joined with USING, the rewrite
//! writes `k` out: `*` becomes `<k> AS k, a.* EXCEPT (k), b.* EXCEPT (k)` (Spark's column
//! order), and an unqualified `k` in the SELECT list, WHERE, GROUP BY, HAVING, QUALIFY and
//! ORDER BY becomes `<k>`. Qualified `a.k` keeps its side's value, as in Spark. A chain this
//! cannot name (a NATURAL join, a relation without a name, a key from a side of several
//! relations not joined on it) is left as it was.

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, ExceptSelectItem, Expr, Ident, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, TableFactor, VisitMut, VisitorMut, WildcardAdditionalOptions,
};

use super::functions::call;
use crate::error::{Result, SqlError};

/// The name a relation's columns are qualified with.
fn qualifier(factor: &TableFactor) -> Option<Ident> {
    match factor {
        TableFactor::Table { alias: Some(alias), .. } | TableFactor::Derived { alias: Some(alias), .. } => Some(alias.name.clone()),
        TableFactor::Table { name, alias: None, .. } => name.0.last().and_then(ObjectNamePart::as_ident).cloned(),
        _ => None,
    }
}

fn column(relation: &Ident, name: &Ident) -> Expr {
    Expr::CompoundIdentifier(vec![relation.clone(), name.clone()])
}

/// The rewrite of a query's body when it is such a SELECT, its ORDER BY included.
pub(super) fn rewrite_query(query: &mut Query) -> Result<()> {
    let keys = match query.body.as_mut() {
        sqlparser::ast::SetExpr::Select(select) => rewrite(select)?,
        body => {
            super::each_select(body, |select| rewrite(select).map(|_| ()))?;
            return Ok(());
        }
    };
    if let Some(order_by) = &mut query.order_by
        && !keys.is_empty()
    {
        let _ = order_by.visit(&mut UnqualifiedKeys { keys: &keys, depth: 0 });
    }
    Ok(())
}

/// Whether a SELECT names a column without its table, or takes `*` (a NATURAL join's merged
/// columns would be read).
fn reads_unqualified(select: &mut Select) -> bool {
    if select.projection.iter().any(|item| matches!(item, SelectItem::Wildcard(_))) {
        return true;
    }
    let mut found = false;
    let mut look = |e: &Expr| {
        if matches!(e, Expr::Identifier(_)) {
            found = true;
        }
        ControlFlow::<()>::Continue(())
    };
    for item in &select.projection {
        let _ = sqlparser::ast::visit_expressions(item, &mut look);
    }
    for clause in [&select.selection, &select.having].into_iter().flatten() {
        let _ = sqlparser::ast::visit_expressions(clause, &mut look);
    }
    let _ = sqlparser::ast::visit_expressions(&select.group_by, &mut look);
    found
}

fn rewrite(select: &mut Select) -> Result<HashMap<String, Expr>> {
    let reads = reads_unqualified(select);
    for from in &select.from {
        for join in &from.joins {
            let natural_merge = matches!(
                join.join_operator,
                JoinOperator::FullOuter(JoinConstraint::Natural)
                    | JoinOperator::Right(JoinConstraint::Natural)
                    | JoinOperator::RightOuter(JoinConstraint::Natural)
            );
            // One such join, read only through qualified names and aggregates over rows, is
            // right as DataFusion plans it (its condition compares both sides' columns).
            if natural_merge && (reads || from.joins.len() > 1 || select.from.len() > 1) {
                return Err(SqlError::Unsupported(
                    "NATURAL FULL / RIGHT JOIN: Tarn cannot yet merge the common columns as Spark does; name them with \
                     USING (..)"
                        .into(),
                ));
            }
        }
    }
    let [from] = select.from.as_slice() else { return Ok(HashMap::new()) };
    let merges = |op: &JoinOperator| {
        matches!(
            op,
            JoinOperator::FullOuter(JoinConstraint::Using(_))
                | JoinOperator::Right(JoinConstraint::Using(_))
                | JoinOperator::RightOuter(JoinConstraint::Using(_))
        )
    };
    if !from.joins.iter().any(|j| merges(&j.join_operator)) {
        return Ok(HashMap::new());
    }
    let Some(first) = qualifier(&from.relation) else { return Ok(HashMap::new()) };
    // Relations so far, with the keys each was joined on; each key's expression.
    let mut relations: Vec<(Ident, Vec<Ident>)> = vec![(first, Vec::new())];
    let mut keys: Vec<(String, Ident, Expr)> = Vec::new();
    // Each USING join as the ON it means: the merged keys so far equal the right side's.
    let mut conditions: Vec<Option<Expr>> = Vec::with_capacity(from.joins.len());
    for join in &from.joins {
        let Some(right) = qualifier(&join.relation) else { return Ok(HashMap::new()) };
        let (using, full, right_join) = match &join.join_operator {
            JoinOperator::FullOuter(JoinConstraint::Using(c)) => (c, true, false),
            JoinOperator::Right(JoinConstraint::Using(c)) | JoinOperator::RightOuter(JoinConstraint::Using(c)) => (c, false, true),
            JoinOperator::Join(JoinConstraint::Using(c))
            | JoinOperator::Inner(JoinConstraint::Using(c))
            | JoinOperator::Left(JoinConstraint::Using(c))
            | JoinOperator::LeftOuter(JoinConstraint::Using(c)) => (c, false, false),
            JoinOperator::Join(JoinConstraint::On(_) | JoinConstraint::None)
            | JoinOperator::Inner(JoinConstraint::On(_) | JoinConstraint::None)
            | JoinOperator::Left(JoinConstraint::On(_))
            | JoinOperator::LeftOuter(JoinConstraint::On(_))
            | JoinOperator::CrossJoin(_) => {
                relations.push((right, Vec::new()));
                conditions.push(None);
                continue;
            }
            // NATURAL (unknown columns), RIGHT / FULL with ON after a merge, semi / anti joins:
            // not named here.
            _ => return Ok(HashMap::new()),
        };
        let mut joined = Vec::new();
        let mut equalities = Vec::new();
        for key in using {
            let [ObjectNamePart::Identifier(key)] = key.0.as_slice() else { return Ok(HashMap::new()) };
            let lower = key.value.to_ascii_lowercase();
            let left = match keys.iter().position(|(k, ..)| *k == lower) {
                Some(i) => keys[i].2.clone(),
                // A key first met here: the left side must be one relation to name it.
                None if relations.len() == 1 => {
                    relations[0].1.push(key.clone());
                    column(&relations[0].0, key)
                }
                None => return Ok(HashMap::new()),
            };
            equalities.push(Expr::BinaryOp { left: Box::new(left.clone()), op: BinaryOperator::Eq, right: Box::new(column(&right, key)) });
            let merged = if full {
                call("coalesce", vec![left, column(&right, key)])
            } else if right_join {
                column(&right, key)
            } else {
                left
            };
            match keys.iter_mut().find(|(k, ..)| *k == lower) {
                Some(entry) => entry.2 = merged,
                None => keys.push((lower, key.clone(), merged)),
            }
            joined.push(key.clone());
        }
        relations.push((right, joined));
        conditions.push(equalities.into_iter().reduce(|a, b| Expr::BinaryOp {
            left: Box::new(a),
            op: BinaryOperator::And,
            right: Box::new(b),
        }));
    }
    // The joins on the merged keys (DataFusion's USING would compare the left side's own).
    if let Some(from) = select.from.first_mut() {
        for (join, condition) in from.joins.iter_mut().zip(conditions) {
            let Some(condition) = condition else { continue };
            let on = JoinConstraint::On(condition);
            join.join_operator = match std::mem::replace(&mut join.join_operator, JoinOperator::CrossJoin(JoinConstraint::None)) {
                JoinOperator::FullOuter(_) => JoinOperator::FullOuter(on),
                JoinOperator::Right(_) | JoinOperator::RightOuter(_) => JoinOperator::RightOuter(on),
                JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => JoinOperator::LeftOuter(on),
                _ => JoinOperator::Inner(on),
            };
        }
    }
    let lookup: HashMap<String, Expr> = keys.iter().map(|(k, _, e)| (k.clone(), e.clone())).collect();
    // `*`: the keys, then every relation's other columns.
    let mut projection = Vec::with_capacity(select.projection.len());
    // A qualified `a.k` beside `k` in the list: `k` keeps its expression's name (DataFusion
    // refuses an unqualified `k` next to a qualified one).
    let qualified_beside = |name: &Ident| {
        select.projection.iter().any(|item| {
            matches!(item, SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) if parts.last().is_some_and(|p| p.value.eq_ignore_ascii_case(&name.value)))
        })
    };
    let aliased: Vec<bool> = select
        .projection
        .iter()
        .map(|item| matches!(item, SelectItem::UnnamedExpr(Expr::Identifier(name)) if !qualified_beside(name)))
        .collect();
    for (item, aliased) in std::mem::take(&mut select.projection).into_iter().zip(aliased) {
        match item {
            SelectItem::Wildcard(options) if options == WildcardAdditionalOptions::default() => {
                for (_, name, expr) in &keys {
                    projection.push(SelectItem::ExprWithAlias { expr: expr.clone(), alias: name.clone() });
                }
                for (relation, joined) in &relations {
                    let mut options = WildcardAdditionalOptions::default();
                    if let Some((first, rest)) = joined.split_first() {
                        options.opt_except = Some(ExceptSelectItem { first_element: first.clone(), additional_elements: rest.to_vec() });
                    }
                    let name = SelectItemQualifiedWildcardKind::ObjectName(ObjectName::from(vec![relation.clone()]));
                    projection.push(SelectItem::QualifiedWildcard(name, options));
                }
            }
            // `SELECT k`: the merged key, still named `k`.
            SelectItem::UnnamedExpr(Expr::Identifier(name)) if aliased && lookup.contains_key(&name.value.to_ascii_lowercase()) => {
                projection.push(SelectItem::ExprWithAlias { expr: lookup[&name.value.to_ascii_lowercase()].clone(), alias: name });
            }
            other => projection.push(other),
        }
    }
    select.projection = projection;
    // An unqualified key anywhere in this SELECT (not in its subqueries) is the merged one.
    let mut keys = UnqualifiedKeys { keys: &lookup, depth: 0 };
    for item in &mut select.projection {
        let _ = item.visit(&mut keys);
    }
    for clause in [&mut select.selection, &mut select.having, &mut select.qualify].into_iter().flatten() {
        let _ = clause.visit(&mut keys);
    }
    if let sqlparser::ast::GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
        for expr in exprs {
            let _ = expr.visit(&mut keys);
        }
    }
    Ok(lookup)
}

struct UnqualifiedKeys<'a> {
    keys: &'a HashMap<String, Expr>,
    depth: usize,
}

impl VisitorMut for UnqualifiedKeys<'_> {
    type Break = ();
    fn pre_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }
    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.depth == 0
            && let Expr::Identifier(name) = expr
            && let Some(merged) = self.keys.get(&name.value.to_ascii_lowercase())
        {
            *expr = merged.clone();
        }
        ControlFlow::Continue(())
    }
}
