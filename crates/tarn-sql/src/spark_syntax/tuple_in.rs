//! `(a, b) [NOT] IN (SELECT c, d ...)`: a row of values in a subquery's rows. DataFusion takes a
//! single value only ("Too many columns!"); this rewrite gives Spark's (and SQL's) answer for
//! a row, three-valued:
//!
//! - TRUE when some row of the subquery equals it in every column;
//! - else NULL when some row could (each column equal, or NULL on either side);
//! - else FALSE.
//!
//! written as `CASE WHEN EXISTS (exact) THEN TRUE WHEN EXISTS (could) THEN NULL ELSE FALSE END`
//! over the subquery as a derived table with Tarn's own column names (so the row's own
//! columns, outer references there, never meet a subquery column of the same name). `NOT IN`
//! is its negation: a row is kept only when no row of the subquery could equal it.

use sqlparser::ast::helpers::attached_token::AttachedToken;
use sqlparser::ast::{
    BinaryOperator, CaseWhen, Expr, Ident, Query, SelectItem, TableAlias, TableAliasColumnDef, TableFactor, UnaryOperator, Value,
};

use super::{query_of, select_of};
use crate::error::{Result, SqlError};

/// How deep rows IN subqueries may nest: each level copies the subquery twice, so the
/// rewritten query grows as 2^depth.
const MAX_NESTING: usize = 8;

/// The rewrite of `expr`, if it is an IN of a row of several values in a subquery.
pub(super) fn rewrite(expr: &Expr) -> Result<Option<Expr>> {
    let Expr::InSubquery { expr: row, subquery, negated } = expr else { return Ok(None) };
    let Expr::Tuple(values) = row.as_ref() else { return Ok(None) };
    if values.len() < 2 {
        return Ok(None);
    }
    if nesting(expr) > MAX_NESTING {
        return Err(SqlError::user(format!("(a, b) IN (subquery) nested more than {MAX_NESTING} deep; join the subqueries instead")));
    }
    let columns: Vec<Ident> = (1..=values.len()).map(|i| Ident::new(format!("__tarn_in_{i}"))).collect();
    let column = |i: usize| Expr::CompoundIdentifier(vec![Ident::new("__tarn_in"), columns[i].clone()]);
    let equal = |i: usize| binary(column(i), BinaryOperator::Eq, values[i].clone());
    let exact = all((0..values.len()).map(equal).collect());
    let could = all((0..values.len())
        .map(|i| {
            let either_null = binary(Expr::IsNull(Box::new(column(i))), BinaryOperator::Or, Expr::IsNull(Box::new(values[i].clone())));
            Expr::Nested(Box::new(binary(equal(i), BinaryOperator::Or, either_null)))
        })
        .collect());
    let exists = |condition: Expr| {
        let alias = TableAlias {
            explicit: true,
            name: Ident::new("__tarn_in"),
            columns: columns.iter().map(|c| TableAliasColumnDef { name: c.clone(), data_type: None }).collect(),
            at: None,
        };
        let derived = TableFactor::Derived { lateral: false, subquery: subquery.clone(), alias: Some(alias), sample: None };
        let mut body = select_of(vec![SelectItem::UnnamedExpr(Expr::Value(Value::Number("1".into(), false).into()))], derived);
        if let sqlparser::ast::SetExpr::Select(select) = body.as_mut() {
            select.selection = Some(condition);
        }
        let query: Box<Query> = query_of(body);
        Expr::Exists { subquery: query, negated: false }
    };
    let boolean = |b: Option<bool>| Expr::Value(b.map_or(Value::Null, Value::Boolean).into());
    let answer = Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: vec![
            CaseWhen { condition: exists(exact), result: boolean(Some(true)) },
            CaseWhen { condition: exists(could), result: boolean(None) },
        ],
        else_result: Some(Box::new(boolean(Some(false)))),
    };
    Ok(Some(if *negated { Expr::UnaryOp { op: UnaryOperator::Not, expr: Box::new(Expr::Nested(Box::new(answer))) } } else { answer }))
}

fn is_row_in(expr: &Expr) -> bool {
    matches!(expr, Expr::InSubquery { expr, .. } if matches!(expr.as_ref(), Expr::Tuple(v) if v.len() >= 2))
}

/// The deepest chain of row INs nested in one another, `expr` included.
fn nesting(expr: &Expr) -> usize {
    struct Depth {
        current: usize,
        deepest: usize,
    }
    impl sqlparser::ast::Visitor for Depth {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
            if is_row_in(expr) {
                self.current += 1;
                self.deepest = self.deepest.max(self.current);
            }
            std::ops::ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
            if is_row_in(expr) {
                self.current -= 1;
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut depth = Depth { current: 0, deepest: 0 };
    let _ = sqlparser::ast::Visit::visit(expr, &mut depth);
    depth.deepest
}

fn binary(left: Expr, op: BinaryOperator, right: Expr) -> Expr {
    Expr::BinaryOp { left: Box::new(left), op, right: Box::new(right) }
}

fn all(mut conditions: Vec<Expr>) -> Expr {
    let first = conditions.remove(0);
    conditions.into_iter().fold(first, |acc, c| binary(acc, BinaryOperator::And, c))
}
