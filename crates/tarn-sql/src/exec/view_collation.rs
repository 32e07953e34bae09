//! A view's `DEFAULT COLLATION`: the collation Spark gives the string literals of the view's
//! query, as weakly as a literal holds its collation (a column's own collation wins).
//!
//! The literals are marked where a collation decides something (comparisons, `IN`, `BETWEEN`,
//! `CASE`) or becomes a column's (a literal in the SELECT list). A literal that is a function's
//! argument is left as written: functions that need a constant (a format, a field name, a
//! JSON path) must still see one.

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, Ident, Query, SelectItem, SetExpr, Value, VisitMut, VisitorMut};

use crate::spark_syntax::functions::{call, text};

/// `query` with its string literals given `collation` as their default.
pub(crate) fn collated_literals(mut query: Query, collation: &str) -> Query {
    let _ = query.visit(&mut Literals { collation });
    query
}

struct Literals<'a> {
    collation: &'a str,
}

impl Literals<'_> {
    fn mark(&self, expr: &mut Expr) {
        if string_literal(expr).is_some() {
            let literal = std::mem::replace(expr, Expr::Value(Value::Null.into()));
            *expr = call("collate", vec![literal, text(self.collation), text("default")]);
        }
    }
}

impl VisitorMut for Literals<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        select_lists(&mut query.body, &mut |item| match item {
            SelectItem::UnnamedExpr(expr) => {
                if let Some(name) = string_literal(expr) {
                    let alias = Ident::new(name);
                    let mut expr = expr.clone();
                    self.mark(&mut expr);
                    *item = SelectItem::ExprWithAlias { expr, alias };
                }
            }
            SelectItem::ExprWithAlias { expr, .. } => self.mark(expr),
            _ => {}
        });
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        use BinaryOperator as B;
        match expr {
            Expr::BinaryOp { left, op: B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq | B::Spaceship, right } => {
                self.mark(left);
                self.mark(right);
            }
            Expr::InList { expr, list, .. } => {
                self.mark(expr);
                list.iter_mut().for_each(|e| self.mark(e));
            }
            Expr::Between { expr, low, high, .. } => {
                self.mark(expr);
                self.mark(low);
                self.mark(high);
            }
            Expr::Case { operand, conditions, else_result, .. } => {
                if let Some(operand) = operand {
                    self.mark(operand);
                }
                for when in conditions.iter_mut() {
                    self.mark(&mut when.condition);
                    self.mark(&mut when.result);
                }
                if let Some(other) = else_result {
                    self.mark(other);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Every SELECT list of a query's body (through set operations and parentheses).
fn select_lists(body: &mut SetExpr, each: &mut dyn FnMut(&mut SelectItem)) {
    match body {
        SetExpr::Select(select) => select.projection.iter_mut().for_each(each),
        SetExpr::SetOperation { left, right, .. } => {
            select_lists(left, each);
            select_lists(right, each);
        }
        // A parenthesized query is a query of its own, visited as one.
        _ => {}
    }
}

fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}
