//! Statement execution: one module per statement family.

mod access;
mod alter;
mod alter_column;
pub(crate) mod cache;
mod clone;
mod column_mapping;
mod copy_into;
mod create_like;
mod create_table;
mod describe;
mod functions;
mod maintenance;
mod merge;
mod namespace;
mod partitions;
mod query;
mod sharing;
mod subqueries;
mod util;
mod variables;
mod view_binding;
mod view_collation;
pub(crate) mod views;
mod write;

pub(crate) use create_table::arrow_schema as arrow_schema_of;
pub(crate) use util::explain_violation as explain_violation_of;
pub(crate) use variables::Variable;
pub(crate) use write::{align_to_schema as align_to_schema_of, evolved_schema as evolved_schema_of, rows_added as rows_added_of};

use crate::ast::Statement;
use crate::error::Result;
use crate::output::StatementOutput;
use crate::session::Session;

/// Re-runs of a statement that lost a race with a conflicting commit.
const CONFLICT_RERUNS: u32 = 20;

/// Run one statement. A data change that conflicts with a concurrent commit (Delta's conflict
/// rules: both touched the same files) committed nothing, so it is run again from the start,
/// on the new snapshot, after a backoff — as a single-statement transaction retried by the
/// database. Only after [`CONFLICT_RERUNS`] lost races is the conflict reported.
pub(crate) async fn execute(session: &mut Session, statement: Statement) -> Result<StatementOutput> {
    use Statement as S;
    let rerunnable =
        matches!(statement, S::Insert(_) | S::Update(_) | S::Delete(_) | S::Merge(_) | S::Truncate { .. } | S::Optimize { .. });
    if !rerunnable {
        return execute_once(session, statement).await;
    }
    let mut attempt = 0;
    loop {
        match execute_once(session, statement.clone()).await {
            Err(e) if e.is_conflict() && attempt < CONFLICT_RERUNS => {
                attempt += 1;
                let wait = tarn_engine::retry_delay(attempt);
                tracing::debug!(attempt, ?wait, "statement conflicted with a concurrent commit; running it again");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

async fn execute_once(session: &mut Session, statement: Statement) -> Result<StatementOutput> {
    use Statement as S;
    match statement {
        S::Query(stmt) => query::run(session, *stmt).await,
        S::Set { key, value, echo } => query::set(session, key, value, echo),
        S::CreateTempView { name, columns, query, or_replace, if_not_exists, schema_mode, default_collation } => {
            let columns = columns.into_iter().map(|c| (c, None)).collect();
            let options = views::ViewOptions { columns, comment: None, or_replace, if_not_exists, schema_mode, default_collation };
            Box::pin(views::create_temp_view(session, name, *query, options)).await
        }
        S::CreateView { name, columns, comment, query, or_replace, if_not_exists, schema_mode, default_collation } => {
            // Boxed: planning the view's query is a large future, and this match's future is as
            // large as its largest arm.
            let options = views::ViewOptions { columns, comment, or_replace, if_not_exists, schema_mode, default_collation };
            Box::pin(views::create_view(session, &name, *query, options)).await
        }
        S::AlterViewSchemaMode { name, mode } => Box::pin(views::alter_view_schema_mode(session, &name, mode)).await,
        S::AlterViewAs { name, query } => Box::pin(views::alter_view_as(session, &name, *query)).await,
        S::CommentOnNamespace { catalog, name, comment } => namespace::comment_on(session, catalog, &name, comment).await,
        S::RenameView { name, to } => Box::pin(views::rename_view(session, &name, &to)).await,
        S::DropView { name, if_exists } => Box::pin(views::drop_view(session, &name, if_exists)).await,
        S::ShowViews { schema, like } => Box::pin(views::show_views(session, schema, like)).await,
        S::DeclareVariable { name, or_replace, data_type, default } => {
            Box::pin(variables::declare(session, &name, or_replace, data_type, default)).await
        }
        S::SetVariables { targets, values } => Box::pin(variables::set(session, &targets, values)).await,
        S::DropVariable { name, if_exists } => variables::drop(session, &name, if_exists),
        S::CreateFunction(create) => Box::pin(functions::create_function(session, *create)).await,
        S::DropFunction { name, temporary, if_exists } => Box::pin(functions::drop_function(session, &name, temporary, if_exists)).await,
        S::ShowFunctions { scope, schema, like } => Box::pin(functions::show_functions(session, scope, schema, like)).await,
        S::DescribeFunction { name, extended } => Box::pin(functions::describe_function(session, &name, extended)).await,
        S::CreateCatalog { name, if_not_exists, comment } => namespace::create_catalog(session, name, if_not_exists, comment).await,
        S::CreateSchema { name, if_not_exists, comment } => namespace::create_schema(session, &name, if_not_exists, comment).await,
        S::DropSchema { name, if_exists, cascade } => namespace::drop_schema(session, &name, if_exists, cascade).await,
        S::Use { target, name } => namespace::use_(session, target, &name).await,
        S::ShowCatalogs { like } => namespace::show_catalogs(session, like).await,
        S::ShowSchemas { catalog, like } => namespace::show_schemas(session, catalog, like).await,
        S::ShowTables { schema, like, extended } => namespace::show_tables(session, schema, like, extended).await,
        S::CreateTable(create) => create_table::create_table(session, *create).await,
        S::CreateClone(clone) => clone::create_clone(session, *clone).await,
        S::DropTable { name, if_exists } => create_table::drop_table(session, &name, if_exists).await,
        S::Insert(insert) => write::insert(session, *insert).await,
        S::Update(update) => write::update(session, *update).await,
        S::Delete(delete) => write::delete(session, *delete).await,
        S::Truncate { table } => write::truncate(session, &table).await,
        S::Merge(merge) => merge::merge(session, *merge).await,
        S::DescribeHistory { table, limit } => describe::history(session, &table, limit).await,
        S::DescribeDetail { table } => describe::detail(session, &table).await,
        S::DescribeTable { table, extended, column: None } => describe::describe_table(session, &table, extended).await,
        S::DescribeTable { table, extended, column: Some(column) } => describe::describe_column(session, &table, &column, extended).await,
        S::ShowCreateTable { table } => describe::show_create_table(session, &table).await,
        S::ShowPartitions { table, filter } => partitions::show_partitions(session, &table, &filter).await,
        S::ShowTblProperties { table } => describe::show_tblproperties(session, &table).await,
        S::ShowColumns { table } => describe::show_columns(session, &table).await,
        S::DescribeQuery { query } => describe::describe_query(session, &query).await,
        S::DescribeNamespace { catalog, name, extended } => namespace::describe_namespace(session, catalog, &name, extended).await,
        S::Restore { table, to } => maintenance::restore(session, &table, &to).await,
        S::Optimize { table, predicate, zorder_by } => maintenance::optimize(session, &table, predicate, zorder_by).await,
        S::Vacuum { table, retain_hours, dry_run } => maintenance::vacuum(session, &table, retain_hours, dry_run).await,
        S::CacheTable { table, lazy } => cache::cache_table(session, &table, lazy).await,
        S::UncacheTable { table, if_exists } => cache::uncache_table(session, &table, if_exists).await,
        S::ClearCache => cache::clear_cache(),
        S::AlterTable { table, op } => alter::alter_table(session, &table, op).await,
        S::CopyInto(copy) => copy_into::copy_into(session, *copy).await,
        S::Grant { privileges, on, principal } => access::grant(session, privileges, &on, &principal, true).await,
        S::Revoke { privileges, on, principal } => access::grant(session, privileges, &on, &principal, false).await,
        S::ShowGrants { principal, on } => access::show_grants(session, principal.as_ref(), on.as_ref()).await,
        S::SetOwner { on, principal } => access::set_owner(session, &on, &principal).await,
        S::CreateUser { name, if_not_exists, password, admin } => access::create_user(session, &name, if_not_exists, password, admin).await,
        S::DropUser { name, if_exists } => access::drop_user(session, &name, if_exists).await,
        S::AlterUserPassword { name, password } => access::alter_password(session, &name, &password).await,
        S::ShowUsers => access::show_users(session).await,
        S::CreateShare { name, if_not_exists, comment } => sharing::create_share(session, &name, if_not_exists, comment).await,
        S::DropShare { name, if_exists } => sharing::drop_share(session, &name, if_exists).await,
        S::AlterShareAdd(add) => sharing::add_table(session, *add).await,
        S::AlterShareRemove { share, table } => sharing::remove_table(session, &share, &table).await,
        S::ShowShares => sharing::show_shares(session).await,
        S::ShowAllInShare { share } => sharing::show_all_in_share(session, &share).await,
        S::CreateRecipient { name, if_not_exists, comment } => sharing::create_recipient(session, &name, if_not_exists, comment).await,
        S::DropRecipient { name, if_exists } => sharing::drop_recipient(session, &name, if_exists).await,
        S::RotateRecipientToken { name, expire_existing_in, expires_in } => {
            sharing::rotate_token(session, &name, expire_existing_in, expires_in).await
        }
        S::ShowRecipients => sharing::show_recipients(session).await,
        S::GrantShare { share, recipient, grant } => sharing::grant_share(session, &share, &recipient, grant).await,
        S::ShowShareGrants { share, recipient } => sharing::show_grants(session, share.as_ref(), recipient.as_ref()).await,
    }
}
