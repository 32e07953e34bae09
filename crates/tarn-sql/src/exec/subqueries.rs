//! Subqueries in a DELETE or UPDATE: `DELETE FROM t WHERE id IN (SELECT ..)`, `UPDATE t SET x =
//! (SELECT ..)`, `.. WHERE EXISTS (SELECT ..)`.
//!
//! delta-rs takes a DELETE / UPDATE condition and an UPDATE value as expressions over the
//! target's own columns. An uncorrelated subquery does not depend on the target's row, so it
//! is run first — as an ordinary query of the session, at the statement's start — and its
//! answer takes its place: a scalar subquery becomes its value (NULL when it returns no row, an
//! error when it returns more than one), `IN (subquery)` the list of its values (with SQL's NULL
//! semantics unchanged: an IN list and an IN subquery treat a NULL alike), `EXISTS` true or
//! false. A subquery that names a column of the target (a correlated one) does not plan on its
//! own; it is refused with the MERGE that expresses it.

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::{Expr, lit};
use datafusion::prelude::DataFrame;
use sqlparser::ast::{Expr as SqlExpr, Query, Value, VisitMut, VisitorMut};

use crate::error::{Result, SqlError};
use crate::session::Session;

/// An IN list longer than this is better written as a MERGE (a join), not a list of literals.
const MAX_IN_VALUES: usize = 1_000_000;

const PLACEHOLDER_PREFIX: &str = "$__tarn_subquery_";

/// What each subquery of an expression answered, by its placeholder's name.
#[derive(Default)]
pub(crate) struct Answers(HashMap<String, Answer>);

enum Answer {
    Scalar(ScalarValue),
    List(Vec<ScalarValue>),
    Exists(bool),
}

#[derive(Clone, Copy)]
enum Kind {
    Scalar,
    In,
    Exists { negated: bool },
}

/// `expr` with each subquery replaced by a placeholder, and the subqueries' answers. Run with
/// the session's rights (the statement's authorization already covered what they read).
pub(crate) async fn run_subqueries(session: &Session, expr: &SqlExpr) -> Result<(SqlExpr, Answers)> {
    struct Extract(Vec<(String, Kind, Query)>);
    impl VisitorMut for Extract {
        type Break = ();
        // Before the children: the replacement has none, so the subquery's own query (and any
        // subquery inside it) is left to the query planner.
        fn pre_visit_expr(&mut self, expr: &mut SqlExpr) -> ControlFlow<()> {
            let name = format!("{PLACEHOLDER_PREFIX}{}", self.0.len());
            let placeholder = SqlExpr::value(Value::Placeholder(name.clone()));
            match expr {
                SqlExpr::Subquery(query) => {
                    self.0.push((name, Kind::Scalar, (**query).clone()));
                    *expr = placeholder;
                }
                SqlExpr::Exists { subquery, negated } => {
                    self.0.push((name, Kind::Exists { negated: *negated }, (**subquery).clone()));
                    *expr = placeholder;
                }
                SqlExpr::InSubquery { expr: operand, subquery, negated } => {
                    self.0.push((name, Kind::In, (**subquery).clone()));
                    *expr = SqlExpr::InList { expr: operand.clone(), list: vec![placeholder], negated: *negated };
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut rewritten = expr.clone();
    let mut extract = Extract(Vec::new());
    let _ = rewritten.visit(&mut extract);
    let mut answers = Answers::default();
    for (name, kind, query) in extract.0 {
        let answer = Box::pin(answer(session, &query, kind)).await?;
        answers.0.insert(name, answer);
    }
    Ok((rewritten, answers))
}

async fn answer(session: &Session, query: &Query, kind: Kind) -> Result<Answer> {
    let (state, plan) = session.plan_query(query).await.map_err(|e| {
        SqlError::Unsupported(format!(
            "the subquery ({query}) does not run on its own: {e}. A subquery that refers to the changed table's \
             columns is not supported in DELETE / UPDATE; write it as MERGE INTO t USING (..) ON .. WHEN MATCHED THEN \
             DELETE | UPDATE"
        ))
    })?;
    if let Kind::Exists { negated } = kind {
        let rows = DataFrame::new(state, plan).limit(0, Some(1))?.count().await?;
        return Ok(Answer::Exists((rows > 0) != negated));
    }
    if plan.schema().fields().len() != 1 {
        return Err(SqlError::user(format!(
            "[INVALID_SUBQUERY_EXPRESSION] the subquery ({query}) returns {} columns; it must return one",
            plan.schema().fields().len()
        )));
    }
    let data_type = plan.schema().field(0).data_type().clone();
    let batches = DataFrame::new(state, plan).collect().await?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let limit = if matches!(kind, Kind::Scalar) { 1 } else { MAX_IN_VALUES };
    if rows > limit {
        return Err(match kind {
            Kind::Scalar => SqlError::user(format!(
                "[SCALAR_SUBQUERY_TOO_MANY_ROWS] the subquery ({query}) returned {rows} rows where one value is needed"
            )),
            _ => SqlError::user(format!(
                "the IN subquery ({query}) returned {rows} values, more than {MAX_IN_VALUES}; write it as MERGE INTO t USING (..) ON .."
            )),
        });
    }
    let mut values = Vec::with_capacity(rows);
    for batch in &batches {
        for row in 0..batch.num_rows() {
            values.push(ScalarValue::try_from_array(batch.column(0), row)?);
        }
    }
    Ok(match kind {
        Kind::Scalar => Answer::Scalar(values.pop().map_or_else(|| ScalarValue::try_from(&data_type), Ok)?),
        _ => Answer::List(values),
    })
}

/// `expr` (planned from [`run_subqueries`]' rewritten expression) with the answers in place of
/// their placeholders.
pub(crate) fn substitute(expr: Expr, answers: &Answers) -> Result<Expr> {
    if answers.0.is_empty() {
        return Ok(expr);
    }
    let placeholder = |e: &Expr| match e {
        Expr::Placeholder(p) => answers.0.get(&p.id),
        _ => None,
    };
    let out = expr.transform_up(|e| {
        Ok(match &e {
            Expr::InList(in_list) if in_list.list.len() == 1 => match placeholder(&in_list.list[0]) {
                Some(Answer::List(values)) if values.is_empty() => Transformed::yes(lit(in_list.negated)),
                Some(Answer::List(values)) => {
                    let list = values.iter().cloned().map(lit).collect();
                    Transformed::yes((*in_list.expr).clone().in_list(list, in_list.negated))
                }
                _ => Transformed::no(e),
            },
            Expr::Placeholder(_) => match placeholder(&e) {
                Some(Answer::Scalar(value)) => Transformed::yes(lit(value.clone())),
                Some(Answer::Exists(found)) => Transformed::yes(lit(*found)),
                _ => Transformed::no(e),
            },
            _ => Transformed::no(e),
        })
    })?;
    Ok(out.data)
}
