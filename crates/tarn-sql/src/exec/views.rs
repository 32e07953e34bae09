//! Temporary views: `CREATE [OR REPLACE] TEMPORARY VIEW` and `DROP VIEW`.
//!
//! A temporary view is the session's: it stores the query, not its result, and is planned
//! again each time a statement reads it (`Session::plan_temp_view`), so it sees the tables'
//! current versions and the reader's privileges are checked on every table it reads.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use sqlparser::ast::{Ident, ObjectName, ObjectNamePart, Query};

use crate::error::{Result, SqlError};
use crate::flows::TempView;
use crate::output::StatementOutput;
use crate::relations::Relations;
use crate::session::Session;

pub(crate) async fn create_temp_view(
    session: &mut Session,
    name: Ident,
    columns: Vec<Ident>,
    query: Query,
    or_replace: bool,
    if_not_exists: bool,
) -> Result<StatementOutput> {
    let key = name.value.to_ascii_lowercase();
    if session.temp_view(&key).is_some() && !or_replace {
        if if_not_exists {
            return Ok(StatementOutput::empty());
        }
        return Err(SqlError::user(format!(
            "[TEMP_TABLE_OR_VIEW_ALREADY_EXISTS] the temporary view '{key}' already exists; use CREATE OR REPLACE TEMPORARY VIEW"
        )));
    }
    if let Some(path) = cycle_through(session, &key, &query) {
        return Err(SqlError::user(format!("[RECURSIVE_VIEW] the view '{key}' would read itself: {}", path.join(" -> "))));
    }
    // Plan it now: a view that cannot be read is refused at creation, as in Spark.
    session.plan_temp_view(&query, &columns).await?;
    session.temp_views.insert(key, TempView::Query { query: Box::new(query), columns });
    Ok(StatementOutput::empty())
}

pub(crate) fn drop_view(session: &mut Session, name: &ObjectName, if_exists: bool) -> Result<StatementOutput> {
    let single: Vec<&Ident> = name.0.iter().filter_map(ObjectNamePart::as_ident).collect();
    let removed = match single.as_slice() {
        [view] => session.temp_views.remove(&view.value.to_ascii_lowercase()).is_some(),
        _ => false,
    };
    if removed || if_exists {
        return Ok(StatementOutput::empty());
    }
    Err(SqlError::user(format!("[TABLE_OR_VIEW_NOT_FOUND] no view '{name}' (Tarn's views are temporary views of this session)")))
}

/// The chain of temporary views by which `query` would read the view `name`, if any.
fn cycle_through(session: &Session, name: &str, query: &Query) -> Option<Vec<String>> {
    fn reads(session: &Session, query: &Query, target: &str, path: &mut Vec<String>, seen: &mut HashSet<String>) -> bool {
        let statement = sqlparser::ast::Statement::Query(Box::new(query.clone()));
        for relation in Relations::of(&statement).tables {
            let parts: Vec<&Ident> = relation.name.0.iter().filter_map(ObjectNamePart::as_ident).collect();
            let [one] = parts.as_slice() else { continue };
            let view = one.value.to_ascii_lowercase();
            path.push(view.clone());
            if view == target {
                return true;
            }
            if seen.insert(view.clone())
                && let Some(TempView::Query { query, .. }) = session.temp_view(&view)
                && reads(session, &query, target, path, seen)
            {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = vec![name.to_string()];
    reads(session, query, name, &mut path, &mut HashSet::new()).then_some(path)
}

impl Session {
    /// A temporary view's query as a provider, planned now with this session's rights.
    pub(crate) async fn plan_temp_view(&self, query: &Query, columns: &[Ident]) -> Result<Arc<dyn TableProvider>> {
        let (_, plan) = self.plan_query(query).await?;
        let plan = if columns.is_empty() {
            plan
        } else {
            let fields = plan.schema().columns();
            if fields.len() != columns.len() {
                return Err(SqlError::user(format!(
                    "[CREATE_VIEW_COLUMN_ARITY_MISMATCH] the view names {} columns but its query returns {}",
                    columns.len(),
                    fields.len()
                )));
            }
            let renamed: Vec<Expr> = fields.into_iter().zip(columns).map(|(c, name)| Expr::Column(c).alias(name.value.clone())).collect();
            LogicalPlanBuilder::from(plan).project(renamed)?.build()?
        };
        Ok(Arc::new(ViewTable::new(plan, Some(query.to_string()))))
    }
}
