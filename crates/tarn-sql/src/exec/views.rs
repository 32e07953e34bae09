//! Views: `CREATE [OR REPLACE] [TEMPORARY] VIEW`, `DROP VIEW`, `SHOW VIEWS`.
//!
//! A view stores its query, not its result, and is planned again each time a statement reads
//! it, so it sees the tables' current versions.
//! - A temporary view is the session's (`Session::plan_view_definition`): it runs with the reader's
//!   rights, every table it reads checked for the reader.
//! - A view in the catalog (`Session::plan_catalog_view`) runs with its owner's rights, as in
//!   Unity Catalog: SELECT on the view is what a reader needs, and the owner's access to the
//!   view's tables is checked at each read (an owner who loses it breaks the view). Its
//!   unqualified names resolve in the catalog and schema current when it was created.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use sqlparser::ast::{Ident, ObjectName, ObjectNamePart, Query};

use tarn_catalog::{CatalogError, Securable, TableIdent, ViewColumn, ViewEntry, ViewField, ViewSchemaMode};

use super::view_binding;
use crate::error::{Result, SqlError};
use crate::flows::TempView;
use crate::output::StatementOutput;
use crate::relations::Relations;
use crate::resolve::TableName;
use crate::session::Session;

/// How deep views may read views. Definitions are checked for cycles when created, but two
/// concurrent `CREATE OR REPLACE VIEW`s can still close one; this bound turns it into an error.
const MAX_VIEW_DEPTH: usize = 32;

pub(crate) async fn create_temp_view(session: &mut Session, name: Ident, query: Query, options: ViewOptions) -> Result<StatementOutput> {
    let ViewOptions { columns, or_replace, if_not_exists, schema_mode, default_collation, .. } = options;
    let columns = columns.into_iter().map(|(c, _)| c).collect();
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
    // Planned now: a view that cannot be read is refused at creation, as in Spark.
    let definition = session.define_view(key.clone(), query, columns, schema_mode.unwrap_or_default(), default_collation).await?;
    session.temp_views.insert(key, TempView::Query(Box::new(definition)));
    Ok(StatementOutput::empty())
}

/// What `CREATE VIEW` says besides the view's name and query.
pub(crate) struct ViewOptions {
    pub columns: Vec<(Ident, Option<String>)>,
    pub comment: Option<String>,
    pub or_replace: bool,
    pub if_not_exists: bool,
    pub schema_mode: Option<ViewSchemaMode>,
    pub default_collation: Option<String>,
}

impl ViewDefinition {
    /// The query as it is planned: with the view's default collation on its literals.
    fn planned_query(&self) -> std::borrow::Cow<'_, Query> {
        match &self.default_collation {
            Some(collation) => std::borrow::Cow::Owned(super::view_collation::collated_literals(self.query.clone(), collation)),
            None => std::borrow::Cow::Borrowed(&self.query),
        }
    }
}

pub(crate) async fn create_view(session: &mut Session, name: &ObjectName, query: Query, options: ViewOptions) -> Result<StatementOutput> {
    let ViewOptions { columns, comment, or_replace, if_not_exists, schema_mode, default_collation } = options;
    let ident = catalog_ident(session, name)?;
    if session.catalog.get_schema(&ident.catalog, &ident.schema).await?.is_none() {
        return Err(CatalogError::SchemaNotFound(format!("{}.{}", ident.catalog, ident.schema)).into());
    }
    if session.catalog.get_table(&ident).await?.is_some() {
        return Err(SqlError::user(format!(
            "[TABLE_OR_VIEW_ALREADY_EXISTS] '{ident}' is a table; choose another name for the view (or DROP TABLE first)"
        )));
    }
    let existing = session.catalog.get_view(&ident).await?;
    if existing.is_some() && !or_replace {
        if if_not_exists {
            return Ok(StatementOutput::empty());
        }
        return Err(SqlError::user(format!(
            "[TABLE_OR_VIEW_ALREADY_EXISTS] the view '{ident}' already exists; use CREATE OR REPLACE VIEW"
        )));
    }
    // Anyone reading the view runs its query without this session's temporary views.
    let statement = sqlparser::ast::Statement::Query(Box::new(query.clone()));
    for relation in Relations::of(&statement).tables {
        let parts: Vec<&Ident> = relation.name.0.iter().filter_map(ObjectNamePart::as_ident).collect();
        if let [one] = parts.as_slice()
            && session.temp_view(&one.value).is_some()
        {
            return Err(SqlError::user(format!(
                "[INVALID_TEMP_OBJ_REFERENCE] the view '{ident}' cannot read the temporary view '{}': a view in the catalog \
                 outlives this session; make it a TEMPORARY VIEW, or read tables instead",
                one.value
            )));
        }
    }
    if let Some(path) = catalog_cycle(session, &ident, &query).await? {
        return Err(SqlError::user(format!("[RECURSIVE_VIEW] the view '{ident}' would read itself: {}", path.join(" -> "))));
    }
    let names: Vec<Ident> = columns.iter().map(|(c, _)| c.clone()).collect();
    // Planned now, with the creator's rights: a view that cannot be read is refused, as in Spark.
    let definition = session.define_view(ident.to_string(), query, names, schema_mode.unwrap_or_default(), default_collation).await?;
    let entry = ViewEntry {
        catalog: ident.catalog.clone(),
        schema: ident.schema.clone(),
        name: ident.table.clone(),
        id: existing.as_ref().map_or_else(|| uuid::Uuid::new_v4().to_string(), |v| v.id.clone()),
        sql: crate::parser::sql_text(&definition.query),
        columns: columns.into_iter().map(|(c, comment)| ViewColumn { name: c.value, comment }).collect(),
        comment,
        default_catalog: session.current_catalog.clone(),
        default_schema: session.current_schema.clone(),
        created_at: chrono::Utc::now().timestamp_millis(),
        schema_mode: definition.schema_mode,
        query_columns: definition.query_columns,
        default_collation: definition.default_collation,
    };
    if existing.is_some() {
        session.catalog.replace_view(&entry).await?;
        return Ok(StatementOutput::empty());
    }
    session.catalog.create_view(&entry).await?;
    super::access::record_owner(session, &Securable::view(&entry)).await?;
    Ok(StatementOutput::empty())
}

fn catalog_ident(session: &Session, name: &ObjectName) -> Result<TableIdent> {
    match session.table_name(name)? {
        TableName::Catalog(ident) => Ok(TableIdent::validated(&ident.catalog, &ident.schema, &ident.table)?),
        TableName::Path(_) => {
            Err(SqlError::user(format!("'{name}' is a path; a view needs a name (view, schema.view or catalog.schema.view)")))
        }
    }
}

/// The chain of catalog views by which `query` (run in the session's current schema) would
/// read the view `target`, if any.
async fn catalog_cycle(session: &Session, target: &TableIdent, query: &Query) -> Result<Option<Vec<String>>> {
    // Breadth-first over view definitions; each view expanded once.
    let mut queue: Vec<(Query, String, String, Vec<String>)> =
        vec![(query.clone(), session.current_catalog.clone(), session.current_schema.clone(), vec![target.to_string()])];
    let mut seen: HashSet<String> = HashSet::new();
    while let Some((query, catalog, schema, path)) = queue.pop() {
        let statement = sqlparser::ast::Statement::Query(Box::new(query));
        for relation in Relations::of(&statement).tables {
            let Ok(TableName::Catalog(ident)) = in_schema(session, &relation.name, &catalog, &schema) else { continue };
            let mut path = path.clone();
            path.push(ident.to_string());
            if &ident == target {
                return Ok(Some(path));
            }
            if !seen.insert(ident.to_string()) || path.len() > MAX_VIEW_DEPTH {
                continue;
            }
            if let Some(view) = session.catalog.get_view(&ident).await? {
                queue.push((parse_view_query(&view)?, view.default_catalog, view.default_schema, path));
            }
        }
    }
    Ok(None)
}

/// `name` resolved as if `catalog.schema` were current.
fn in_schema(session: &Session, name: &ObjectName, catalog: &str, schema: &str) -> Result<TableName> {
    let resolved = session.table_name(name)?;
    let parts: Vec<&Ident> = name.0.iter().filter_map(ObjectNamePart::as_ident).collect();
    Ok(match (resolved, parts.len()) {
        (TableName::Catalog(ident), 1) => TableName::Catalog(TableIdent::new(catalog, schema, &ident.table)),
        (TableName::Catalog(ident), 2) => TableName::Catalog(TableIdent::new(catalog, &ident.schema, &ident.table)),
        (other, _) => other,
    })
}

/// A stored view's query, parsed.
fn parse_view_query(view: &ViewEntry) -> Result<Query> {
    let corrupt = || SqlError::Internal(format!("the definition of view {} is not a query: {}", view.ident(), view.sql));
    match crate::parse_sql(&view.sql)?.into_iter().next() {
        Some(crate::ast::Statement::Query(statement)) => match *statement {
            sqlparser::ast::Statement::Query(query) => Ok(*query),
            _ => Err(corrupt()),
        },
        _ => Err(corrupt()),
    }
}

/// `ALTER VIEW v AS query`: the view must exist; it keeps its name, owner, grants and comment
/// (its columns are the new query's), and is checked as a new view would be.
pub(crate) async fn alter_view_as(session: &mut Session, name: &ObjectName, query: Query) -> Result<StatementOutput> {
    let single: Vec<&Ident> = name.0.iter().filter_map(ObjectNamePart::as_ident).collect();
    if let [view] = single.as_slice()
        && let Some(existing) = session.temp_view(&view.value)
    {
        let (mode, collation) = match existing {
            TempView::Query(definition) => (Some(definition.schema_mode), definition.default_collation),
            TempView::Provider(_) => (None, None),
        };
        let options = ViewOptions {
            columns: Vec::new(),
            comment: None,
            or_replace: true,
            if_not_exists: false,
            schema_mode: mode,
            default_collation: collation,
        };
        return create_temp_view(session, (*view).clone(), query, options).await;
    }
    let ident = catalog_ident(session, name)?;
    let Some(existing) = session.catalog.get_view(&ident).await? else {
        if session.catalog.get_table(&ident).await?.is_some() {
            return Err(SqlError::user(format!(
                "[EXPECT_VIEW_NOT_TABLE] '{ident}' is a table, not a view; ALTER VIEW .. AS changes views"
            )));
        }
        return Err(SqlError::user(format!("[TABLE_OR_VIEW_NOT_FOUND] the view '{ident}' does not exist; CREATE VIEW makes one")));
    };
    let options = ViewOptions {
        columns: Vec::new(),
        comment: existing.comment,
        or_replace: true,
        if_not_exists: false,
        schema_mode: Some(existing.schema_mode),
        default_collation: existing.default_collation,
    };
    create_view(session, name, query, options).await
}

/// `ALTER VIEW v WITH SCHEMA mode`: how the view follows its query's columns from now on.
pub(crate) async fn alter_view_schema_mode(session: &mut Session, name: &ObjectName, mode: ViewSchemaMode) -> Result<StatementOutput> {
    let single: Vec<&Ident> = name.0.iter().filter_map(ObjectNamePart::as_ident).collect();
    if let [view] = single.as_slice()
        && let Some(existing) = session.temp_view(&view.value)
    {
        let TempView::Query(mut definition) = existing else {
            return Err(SqlError::user(format!("the view '{}' is a pipeline's; its columns are its data's", view.value)));
        };
        definition.schema_mode = mode;
        session.temp_views.insert(view.value.to_ascii_lowercase(), TempView::Query(definition));
        return Ok(StatementOutput::empty());
    }
    let ident = catalog_ident(session, name)?;
    let Some(mut existing) = session.catalog.get_view(&ident).await? else {
        return Err(SqlError::user(format!("[TABLE_OR_VIEW_NOT_FOUND] the view '{ident}' does not exist; CREATE VIEW makes one")));
    };
    existing.schema_mode = mode;
    session.catalog.replace_view(&existing).await?;
    Ok(StatementOutput::empty())
}

pub(crate) async fn drop_view(session: &mut Session, name: &ObjectName, if_exists: bool) -> Result<StatementOutput> {
    let single: Vec<&Ident> = name.0.iter().filter_map(ObjectNamePart::as_ident).collect();
    if let [view] = single.as_slice()
        && session.temp_views.remove(&view.value.to_ascii_lowercase()).is_some()
    {
        return Ok(StatementOutput::empty());
    }
    let ident = catalog_ident(session, name)?;
    if session.catalog.drop_view(&ident).await?.is_some() {
        return Ok(StatementOutput::empty());
    }
    if session.catalog.get_table(&ident).await?.is_some() {
        return Err(SqlError::user(format!("[WRONG_COMMAND_FOR_OBJECT_TYPE] '{ident}' is a table, not a view; use DROP TABLE")));
    }
    if if_exists {
        return Ok(StatementOutput::empty());
    }
    Err(SqlError::user(format!("[TABLE_OR_VIEW_NOT_FOUND] no view '{ident}'; SHOW VIEWS lists the views")))
}

/// `ALTER VIEW v RENAME TO w`. A temporary view takes a one-part new name and stays temporary;
/// a catalog view keeps its schema unless the new name names another.
pub(crate) async fn rename_view(session: &mut Session, name: &ObjectName, to: &ObjectName) -> Result<StatementOutput> {
    let single: Vec<&Ident> = name.0.iter().filter_map(ObjectNamePart::as_ident).collect();
    if let [view] = single.as_slice()
        && session.temp_view(&view.value).is_some()
    {
        let [new_name] = to.0.as_slice() else {
            return Err(SqlError::user(format!(
                "[TEMP_VIEW_NAME_TOO_MANY_NAME_PARTS] a temporary view's new name must be one part, not '{to}'"
            )));
        };
        let new_name = new_name.as_ident().map(|i| i.value.to_ascii_lowercase()).unwrap_or_default();
        if session.temp_views.contains_key(&new_name) {
            return Err(SqlError::user(format!(
                "[TABLE_OR_VIEW_ALREADY_EXISTS] a temporary view '{new_name}' already exists; DROP VIEW it first"
            )));
        }
        if let Some(mut definition) = session.temp_views.remove(&view.value.to_ascii_lowercase()) {
            if let TempView::Query(d) = &mut definition {
                d.name = new_name.clone();
            }
            session.temp_views.insert(new_name, definition);
        }
        return Ok(StatementOutput::empty());
    }
    let from = catalog_ident(session, name)?;
    if session.catalog.get_view(&from).await?.is_none() {
        if session.catalog.get_table(&from).await?.is_some() {
            return Err(SqlError::user(format!(
                "[EXPECT_VIEW_NOT_TABLE] '{from}' is a table, not a view; ALTER TABLE .. RENAME TO renames tables"
            )));
        }
        return Err(SqlError::user(format!("[TABLE_OR_VIEW_NOT_FOUND] no view '{from}'; SHOW VIEWS lists the views")));
    }
    let to = catalog_ident(session, &super::util::beside(&from, to))?;
    session.catalog.rename_view(&from, &to).await?;
    Ok(StatementOutput::empty())
}

/// `SHOW VIEWS`: Spark's columns (`namespace`, `viewName`, `isTemporary`); the schema's views,
/// then the session's temporary views.
pub(crate) async fn show_views(session: &mut Session, schema: Option<ObjectName>, like: Option<String>) -> Result<StatementOutput> {
    use arrow::array::{ArrayRef, BooleanArray, StringArray};
    let (catalog, schema) = match schema {
        Some(name) => session.schema_name(&name)?,
        None => (session.current_catalog.clone(), session.current_schema.clone()),
    };
    let matches = |name: &str| super::util::like_matches(like.as_deref(), name);
    let mut rows: Vec<(String, String, bool)> = session
        .catalog
        .list_views(&catalog, &schema)
        .await?
        .into_iter()
        .filter(|v| matches(&v.name))
        .map(|v| (schema.clone(), v.name, false))
        .collect();
    let mut temporary: Vec<&String> = session.temp_views.keys().filter(|n| matches(n)).collect();
    temporary.sort();
    rows.extend(temporary.into_iter().map(|n| (String::new(), n.clone(), true)));
    StatementOutput::from_columns(vec![
        ("namespace", std::sync::Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0.clone()))) as ArrayRef),
        ("viewName", std::sync::Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1.clone()))) as ArrayRef),
        ("isTemporary", std::sync::Arc::new(BooleanArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())) as ArrayRef),
    ])
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
                && let Some(TempView::Query(definition)) = session.temp_view(&view)
                && reads(session, &definition.query, target, path, seen)
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
    /// A catalog view's query as a provider, planned now with its owner's rights in the schema
    /// it was created in.
    pub(crate) async fn plan_catalog_view(&self, view: &ViewEntry) -> Result<Arc<dyn TableProvider>> {
        if self.view_depth >= MAX_VIEW_DEPTH {
            return Err(SqlError::user(format!(
                "[RECURSIVE_VIEW] view {} reads views more than {MAX_VIEW_DEPTH} deep (a cycle?); re-create the views without it",
                view.ident()
            )));
        }
        let owner =
            self.catalog.grants_on(&Securable::view(view)).await?.into_iter().find(|g| g.privilege == tarn_catalog::Privilege::Owner);
        let owner = match owner {
            // Created by the warehouse's administrator (the local CLI): it runs as one.
            None => None,
            Some(grant) => Some(self.catalog.get_principal(&grant.principal).await?.ok_or_else(|| {
                SqlError::PermissionDenied(format!(
                    "permission denied: the view {} runs with its owner's rights, and its owner '{}' no longer exists; \
                     an administrator can ALTER VIEW {} OWNER TO another user",
                    view.ident(),
                    grant.principal,
                    view.ident()
                ))
            })?),
        };
        let reader = self.view_reader(owner, &view.default_catalog, &view.default_schema);
        let definition = ViewDefinition {
            name: view.ident().to_string(),
            query: parse_view_query(view)?,
            columns: view.columns.iter().map(|c| Ident::new(c.name.clone())).collect(),
            schema_mode: view.schema_mode,
            query_columns: view.query_columns.clone(),
            default_collation: view.default_collation.clone(),
        };
        Box::pin(reader.plan_view_definition(&definition)).await
    }

    /// A view's query as a provider, planned now with this session's rights, as the view's
    /// columns (`view_binding`).
    pub(crate) async fn plan_view_definition(&self, view: &ViewDefinition) -> Result<Arc<dyn TableProvider>> {
        let (state, plan) = self.plan_query(&view.planned_query()).await?;
        let plan = view_binding::bind(&state, plan, &view.name, view.schema_mode, &view.query_columns, &view.columns)?;
        Ok(Arc::new(ViewTable::new(plan, Some(view.query.to_string()))))
    }

    /// A new view's definition: its query planned now (so one that cannot be read is refused)
    /// and the columns it returns, which the view keeps.
    async fn define_view(
        &self,
        name: String,
        query: Query,
        columns: Vec<Ident>,
        schema_mode: ViewSchemaMode,
        default_collation: Option<String>,
    ) -> Result<ViewDefinition> {
        if let Some(collation) = &default_collation {
            tarn_engine::spark::collations::Collation::parse(collation).map_err(SqlError::user)?;
        }
        let mut definition = ViewDefinition { name, query, columns, schema_mode, query_columns: Vec::new(), default_collation };
        let (state, plan) = self.plan_query(&definition.planned_query()).await?;
        definition.query_columns = view_binding::query_columns(&state, &plan)?;
        let plan = view_binding::bind(&state, plan, &definition.name, schema_mode, &definition.query_columns, &definition.columns)?;
        view_binding::no_duplicates(plan.schema(), &definition.name)?;
        Ok(definition)
    }
}

/// A view as a read plans it: a temporary view's, or one from the catalog.
#[derive(Debug, Clone)]
pub(crate) struct ViewDefinition {
    /// The view's name, for messages.
    pub name: String,
    pub query: Query,
    /// The view's column list; empty keeps the query's names.
    pub columns: Vec<Ident>,
    pub schema_mode: ViewSchemaMode,
    /// The query's columns when the view was made (`view_binding`).
    pub query_columns: Vec<ViewField>,
    pub default_collation: Option<String>,
}

/// What DESCRIBE and SHOW CREATE TABLE say about a view.
pub(crate) struct DescribedView {
    /// (name, Spark type, comment) per column.
    pub columns: Vec<(String, String, Option<String>)>,
    /// DESCRIBE EXTENDED's "Detailed Table Information" rows.
    pub details: Vec<(String, String, Option<String>)>,
    pub ddl: String,
}

/// A view found by name: the session's temporary view, else one in the catalog.
enum FoundView {
    Temporary(String, TempView),
    Catalog(Box<ViewEntry>),
}

async fn find_view(session: &Session, name: &ObjectName) -> Result<Option<FoundView>> {
    let single: Vec<&Ident> = name.0.iter().filter_map(ObjectNamePart::as_ident).collect();
    if let [one] = single.as_slice()
        && let Some(view) = session.temp_view(&one.value)
    {
        return Ok(Some(FoundView::Temporary(one.value.to_ascii_lowercase(), view)));
    }
    let Ok(TableName::Catalog(ident)) = session.table_name(name) else { return Ok(None) };
    if session.catalog.get_table(&ident).await?.is_some() {
        return Ok(None);
    }
    Ok(session.catalog.get_view(&ident).await?.map(|v| FoundView::Catalog(Box::new(v))))
}

/// The columns of the view `name` (planned as a read plans it); `None` when it names no view.
pub(crate) async fn view_schema(session: &Session, name: &ObjectName) -> Result<Option<arrow::datatypes::SchemaRef>> {
    let provider = match find_view(session, name).await? {
        None => return Ok(None),
        Some(FoundView::Temporary(_, TempView::Provider(provider))) => provider,
        Some(FoundView::Temporary(_, TempView::Query(definition))) => session.plan_view_definition(&definition).await?,
        Some(FoundView::Catalog(view)) => session.plan_catalog_view(&view).await?,
    };
    Ok(Some(provider.schema()))
}

/// `name` as a view (temporary, else in the catalog), planned for its columns; `None` when
/// it names no view.
pub(crate) async fn described_view(session: &Session, name: &ObjectName) -> Result<Option<DescribedView>> {
    let view = match find_view(session, name).await? {
        None => return Ok(None),
        Some(FoundView::Temporary(name, view)) => {
            let provider = match &view {
                TempView::Provider(provider) => provider.clone(),
                TempView::Query(definition) => session.plan_view_definition(definition).await?,
            };
            let columns = column_rows(&provider, &[]);
            let text = match &view {
                TempView::Query(definition) => crate::parser::sql_text(&definition.query),
                TempView::Provider(_) => String::new(),
            };
            let ddl = format!("CREATE TEMPORARY VIEW {name} AS {text}");
            return Ok(Some(DescribedView { columns, details: Vec::new(), ddl }));
        }
        Some(FoundView::Catalog(view)) => *view,
    };
    let provider = session.plan_catalog_view(&view).await?;
    let columns = column_rows(&provider, &view.columns);
    let owner =
        session.catalog.grants_on(&Securable::view(&view)).await?.into_iter().find(|g| g.privilege == tarn_catalog::Privilege::Owner);
    let mut details = vec![
        ("Catalog".into(), view.catalog.clone(), None),
        ("Database".into(), view.schema.clone(), None),
        ("Table".into(), view.name.clone(), None),
        ("Owner".into(), owner.map(|g| g.principal).unwrap_or_default(), None),
        ("Type".into(), "VIEW".into(), None),
        ("View Text".into(), view.sql.clone(), None),
        ("View Current Catalog".into(), view.default_catalog.clone(), None),
        ("View Current Schema".into(), view.default_schema.clone(), None),
        ("View Schema Mode".into(), view.schema_mode.sql().into(), None),
    ];
    if !view.query_columns.is_empty() {
        let names: Vec<String> = view.query_columns.iter().map(|c| format!("`{}`", c.name.replace('`', "``"))).collect();
        details.push(("View Query Output Columns".into(), format!("[{}]", names.join(", ")), None));
    }
    if let Some(collation) = &view.default_collation {
        details.push(("Default Collation".into(), collation.clone(), None));
    }
    if let Some(comment) = &view.comment {
        details.push(("Comment".into(), comment.clone(), None));
    }
    let quote = crate::parser::string_literal;
    let mut ddl = format!("CREATE VIEW {}", view.ident());
    if !view.columns.is_empty() {
        let cols: Vec<String> = view
            .columns
            .iter()
            .map(|c| match &c.comment {
                Some(comment) => format!("`{}` COMMENT {}", c.name.replace('`', "``"), quote(comment)),
                None => format!("`{}`", c.name.replace('`', "``")),
            })
            .collect();
        ddl.push_str(&format!(" ({})", cols.join(", ")));
    }
    if let Some(comment) = &view.comment {
        ddl.push_str(&format!("\nCOMMENT {}", quote(comment)));
    }
    ddl.push_str(&format!("\nWITH SCHEMA {}", view.schema_mode.sql()));
    if let Some(collation) = &view.default_collation {
        ddl.push_str(&format!("\nDEFAULT COLLATION {collation}"));
    }
    ddl.push_str(&format!("\nAS {}", view.sql));
    Ok(Some(DescribedView { columns, details, ddl }))
}

fn column_rows(provider: &Arc<dyn TableProvider>, columns: &[ViewColumn]) -> Vec<(String, String, Option<String>)> {
    provider
        .schema()
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name().clone(), crate::types::spark_type_name(f.data_type()), columns.get(i).and_then(|c| c.comment.clone())))
        .collect()
}
