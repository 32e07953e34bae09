//! MERGE INTO, on `deltalake`'s merge (which also refuses several source rows matching one
//! target row, as Delta requires).

use std::sync::Arc;
use tarn_engine::spark::char_varchar::CharType;

use datafusion::dataframe::DataFrame;
use sqlparser::ast::{Expr as SqlExpr, Ident, TableFactor};

use crate::ast::{InsertAction, MatchedAction, Merge, MergeClause};
use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::session::Session;

use super::create_table::normalize_column;
use super::util::{explain_violation, metrics_output, normalize_idents};
use super::write::unknown_column;

fn text(expr: &SqlExpr) -> String {
    normalize_idents(expr).to_string()
}

pub(crate) async fn merge(session: &mut Session, merge: Merge) -> Result<StatementOutput> {
    let target = session.open_target(&merge.target, None).await?;
    let target_alias = merge
        .target_alias
        .as_ref()
        .map(|a| a.value.clone())
        .or_else(|| merge.target.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase()))
        .unwrap_or_else(|| "target".into());

    // Plan the source as `SELECT * FROM <source>` so it gets the same name resolution (time
    // travel, path tables, subqueries) as any query.
    let mut factor = merge.source.clone();
    let source_alias = match &mut factor {
        TableFactor::Table { name, alias, .. } => {
            alias.take().map(|a| a.name.value).or_else(|| name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase()))
        }
        TableFactor::Derived { alias, .. } => alias.take().map(|a| a.name.value),
        _ => None,
    }
    .unwrap_or_else(|| "source".into());
    if source_alias.eq_ignore_ascii_case(&target_alias) {
        return Err(SqlError::user(format!("MERGE: source and target are both called '{source_alias}'; give one an alias")));
    }
    let sql = format!("SELECT * FROM {}", crate::parser::sql_text(&factor));
    let statement = match crate::parser::parse_sql(&sql)?.pop() {
        Some(crate::ast::Statement::Query(q)) => *q,
        _ => return Err(SqlError::Internal(format!("MERGE source did not re-parse: {sql}"))),
    };
    let (state, plan) = session.plan_statement(statement).await?;
    let source_columns: Vec<String> = plan.schema().fields().iter().map(|f| f.name().clone()).collect();
    let source = DataFrame::new(state.clone(), plan);

    let target_schema = target.table.snapshot()?.snapshot().arrow_schema();
    // delta-rs plans MERGE's conditions itself (and prunes the target with them) comparing
    // strings as bytes: refused rather than answered wrongly where a collation says otherwise.
    let collated =
        |fields: &arrow::datatypes::Fields| fields.iter().any(|f| f.metadata().contains_key(tarn_engine::spark::collations::METADATA_KEY));
    if collated(target_schema.fields()) || collated(source.schema().as_arrow().fields()) {
        return Err(SqlError::Unsupported(
            "MERGE with collated string columns (in the target or the source) is not supported yet; \
             use UPDATE / DELETE / INSERT ... SELECT, which compare under the collation"
                .into(),
        ));
    }
    let target_columns: Vec<&str> = target_schema.fields().iter().map(|f| f.name().as_str()).collect();
    let resolve_target = |ident: &Ident| -> Result<String> {
        let name = normalize_column(ident);
        target_columns
            .iter()
            .find(|c| c.eq_ignore_ascii_case(&name))
            .map(|c| c.to_string())
            .ok_or_else(|| unknown_column(&name, &target_columns))
    };
    // A value written to a CHAR / VARCHAR or NOT NULL column is checked (and padded) as every
    // write does.
    let checked = |column: &str, value: String| -> String {
        let field = target_schema.fields().iter().find(|f| f.name() == column);
        let value = match field.and_then(|f| CharType::of_field(f)) {
            Some(kind) => tarn_engine::spark::char_varchar::write_check_sql(&value, kind),
            None => value,
        };
        match field.filter(|f| !f.is_nullable()) {
            Some(_) => tarn_engine::spark::not_null::not_null_check_sql(&value, column).unwrap_or(value),
            None => value,
        }
    };
    let source_column = |column: &str| -> Result<String> {
        source_columns.iter().find(|c| c.eq_ignore_ascii_case(column)).map(|c| format!("{source_alias}.`{c}`")).ok_or_else(|| {
            SqlError::user(format!(
                "MERGE: UPDATE SET * / INSERT * needs a source column '{column}' (source columns: {})",
                source_columns.join(", ")
            ))
        })
    };

    let evolve = session.auto_merge_schema();
    let new_columns: Vec<String> = if evolve {
        source_columns.iter().filter(|c| !target_columns.iter().any(|t| t.eq_ignore_ascii_case(c))).cloned().collect()
    } else {
        Vec::new()
    };
    let star_columns: Vec<String> = target_columns.iter().map(|c| c.to_string()).chain(new_columns.iter().cloned()).collect();
    let mut builder = target
        .table
        .clone()
        .merge(source, text(&merge.on))
        .with_merge_schema(evolve)
        .with_source_alias(&source_alias)
        .with_target_alias(&target_alias)
        .with_session_state(Arc::new(state))
        .with_custom_execute_handler(tarn_engine::post_commit_hooks())
        .with_writer_properties(session.writer_properties())
        .with_commit_properties(tarn_engine::commit_properties());

    for clause in &merge.clauses {
        builder = match clause {
            MergeClause::Matched { condition, action } | MergeClause::NotMatchedBySource { condition, action } => {
                let by_source = matches!(clause, MergeClause::NotMatchedBySource { .. });
                let predicate = condition.as_ref().map(text);
                match action {
                    MatchedAction::Delete => {
                        let f = |mut d: deltalake::operations::merge::DeleteBuilder| {
                            if let Some(p) = predicate.clone() {
                                d = d.predicate(p);
                            }
                            d
                        };
                        if by_source { builder.when_not_matched_by_source_delete(f)? } else { builder.when_matched_delete(f)? }
                    }
                    MatchedAction::Update(assignments) => {
                        let mut sets = Vec::new();
                        for (column, value) in assignments {
                            let column = resolve_target(column)?;
                            let value = checked(&column, text(value));
                            sets.push((column, value));
                        }
                        let f = |mut u: deltalake::operations::merge::UpdateBuilder| {
                            if let Some(p) = predicate.clone() {
                                u = u.predicate(p);
                            }
                            for (c, v) in sets {
                                u = u.update(c, v);
                            }
                            u
                        };
                        if by_source { builder.when_not_matched_by_source_update(f)? } else { builder.when_matched_update(f)? }
                    }
                    MatchedAction::UpdateAll => {
                        if by_source {
                            return Err(SqlError::user("MERGE: WHEN NOT MATCHED BY SOURCE cannot UPDATE SET * (there is no source row)"));
                        }
                        let mut sets = Vec::new();
                        for column in &star_columns {
                            sets.push((column.to_string(), checked(column, source_column(column)?)));
                        }
                        builder.when_matched_update(|mut u| {
                            if let Some(p) = predicate.clone() {
                                u = u.predicate(p);
                            }
                            for (c, v) in sets {
                                u = u.update(c, v);
                            }
                            u
                        })?
                    }
                }
            }
            MergeClause::NotMatched { condition, action } => {
                let predicate = condition.as_ref().map(text);
                let mut sets = Vec::new();
                match action {
                    InsertAction::All => {
                        for column in &star_columns {
                            sets.push((column.to_string(), checked(column, source_column(column)?)));
                        }
                    }
                    InsertAction::Values { columns, values } => {
                        let names: Vec<String> = if columns.is_empty() {
                            target_columns.iter().map(|c| c.to_string()).collect()
                        } else {
                            columns.iter().map(&resolve_target).collect::<Result<_>>()?
                        };
                        if names.len() != values.len() {
                            return Err(SqlError::user(format!("MERGE: INSERT lists {} columns but {} values", names.len(), values.len())));
                        }
                        for (c, v) in names.into_iter().zip(values) {
                            let v = checked(&c, text(v));
                            sets.push((c, v));
                        }
                    }
                }
                builder.when_not_matched_insert(|mut i| {
                    if let Some(p) = predicate.clone() {
                        i = i.predicate(p);
                    }
                    for (c, v) in sets {
                        i = i.set(c, v);
                    }
                    i
                })?
            }
        };
    }

    let context = format!("MERGE INTO {}", target.display);
    let (_, metrics) = builder.await.map_err(|e| explain_violation(e, &target.table, &context))?;
    let updated = metrics.num_target_rows_updated as i64;
    let deleted = metrics.num_target_rows_deleted as i64;
    let inserted = metrics.num_target_rows_inserted as i64;
    metrics_output(&[
        ("num_affected_rows", updated + deleted + inserted),
        ("num_updated_rows", updated),
        ("num_deleted_rows", deleted),
        ("num_inserted_rows", inserted),
    ])
}
