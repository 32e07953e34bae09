//! Catalogs and schemas: CREATE/DROP/SHOW/USE.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, StringArray};
use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

use crate::ast::UseTarget;
use crate::error::Result;
use crate::output::StatementOutput;
use crate::session::Session;

use super::util::{delete_table_files, like_matches};

pub(crate) async fn create_catalog(
    session: &mut Session,
    name: Ident,
    if_not_exists: bool,
    comment: Option<String>,
) -> Result<StatementOutput> {
    session.catalog.create_catalog(&name.value, comment, if_not_exists).await?;
    Ok(StatementOutput::empty())
}

pub(crate) async fn create_schema(
    session: &mut Session,
    name: &ObjectName,
    if_not_exists: bool,
    comment: Option<String>,
) -> Result<StatementOutput> {
    let (catalog, schema) = session.schema_name(name)?;
    let existed = session.catalog.get_schema(&catalog, &schema).await?.is_some();
    session.catalog.create_schema(&catalog, &schema, comment, if_not_exists).await?;
    if !existed {
        let securable = tarn_catalog::Securable::Schema { catalog, name: schema };
        super::access::record_owner(session, &securable).await?;
    }
    Ok(StatementOutput::empty())
}

pub(crate) async fn drop_schema(session: &mut Session, name: &ObjectName, if_exists: bool, cascade: bool) -> Result<StatementOutput> {
    let (catalog, schema) = session.schema_name(name)?;
    match session.catalog.drop_schema(&catalog, &schema, cascade).await? {
        None if !if_exists => Err(tarn_catalog::CatalogError::SchemaNotFound(format!("{catalog}.{schema}")).into()),
        None => Ok(StatementOutput::empty()),
        Some(dropped) => {
            for entry in dropped {
                if entry.kind == tarn_catalog::TableKind::Managed {
                    delete_table_files(&entry.location_url()?).await?;
                }
            }
            if session.current_catalog == catalog && session.current_schema == schema {
                session.current_schema = tarn_catalog::DEFAULT_SCHEMA.to_string();
            }
            Ok(StatementOutput::empty())
        }
    }
}

pub(crate) async fn use_(session: &mut Session, target: UseTarget, name: &ObjectName) -> Result<StatementOutput> {
    match target {
        UseTarget::Catalog => {
            let catalog = session.catalog_name(name)?;
            if session.catalog.get_catalog(&catalog).await?.is_none() {
                return Err(tarn_catalog::CatalogError::CatalogNotFound(catalog).into());
            }
            session.current_catalog = catalog;
            session.current_schema = tarn_catalog::DEFAULT_SCHEMA.to_string();
        }
        UseTarget::Schema => {
            let (catalog, schema) = session.schema_name(name)?;
            if session.catalog.get_schema(&catalog, &schema).await?.is_none() {
                return Err(tarn_catalog::CatalogError::SchemaNotFound(format!("{catalog}.{schema}")).into());
            }
            session.current_catalog = catalog;
            session.current_schema = schema;
        }
    }
    Ok(StatementOutput::empty())
}

pub(crate) async fn show_catalogs(session: &mut Session, like: Option<String>) -> Result<StatementOutput> {
    let names: Vec<String> =
        session.catalog.list_catalogs().await?.into_iter().map(|c| c.name).filter(|n| like_matches(like.as_deref(), n)).collect();
    StatementOutput::from_columns(vec![("catalog", Arc::new(StringArray::from(names)) as ArrayRef)])
}

pub(crate) async fn show_schemas(session: &mut Session, catalog: Option<ObjectName>, like: Option<String>) -> Result<StatementOutput> {
    let catalog = match catalog {
        Some(name) => session.catalog_name(&name)?,
        None => session.current_catalog.clone(),
    };
    let names: Vec<String> =
        session.catalog.list_schemas(&catalog).await?.into_iter().map(|s| s.name).filter(|n| like_matches(like.as_deref(), n)).collect();
    StatementOutput::from_columns(vec![("databaseName", Arc::new(StringArray::from(names)) as ArrayRef)])
}

/// `DESCRIBE SCHEMA | CATALOG [EXTENDED] name`: Spark's `info_name` / `info_value` rows — the
/// names, the comment and the owner; EXTENDED adds when it was created. A name that is not
/// there is an error.
pub(crate) async fn describe_namespace(
    session: &mut Session,
    is_catalog: bool,
    name: &ObjectName,
    extended: bool,
) -> Result<StatementOutput> {
    let mut rows: Vec<(&str, Option<String>)> = Vec::new();
    let (securable, comment, created_at) = if is_catalog {
        let catalog = session.catalog_name(name)?;
        let Some(entry) = session.catalog.get_catalog(&catalog).await? else {
            return Err(crate::error::SqlError::user(format!("catalog '{catalog}' not found; SHOW CATALOGS lists the catalogs")));
        };
        rows.push(("Catalog Name", Some(entry.name.clone())));
        (tarn_catalog::Securable::Catalog { name: entry.name }, entry.comment, entry.created_at)
    } else {
        let (catalog, schema) = session.schema_name(name)?;
        let Some(entry) = session.catalog.get_schema(&catalog, &schema).await? else {
            return Err(crate::error::SqlError::user(format!("schema '{catalog}.{schema}' not found; SHOW SCHEMAS lists the schemas")));
        };
        rows.push(("Catalog Name", Some(entry.catalog.clone())));
        rows.push(("Namespace Name", Some(entry.name.clone())));
        (tarn_catalog::Securable::Schema { catalog: entry.catalog, name: entry.name }, entry.comment, entry.created_at)
    };
    rows.push(("Comment", comment));
    let owner = session.catalog.grants_on(&securable).await?.into_iter().find(|g| g.privilege == tarn_catalog::Privilege::Owner);
    rows.push(("Owner", owner.map(|g| g.principal)));
    if extended {
        let created = chrono::DateTime::from_timestamp_millis(created_at).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        rows.push(("Created Time", created));
    }
    StatementOutput::from_columns(vec![
        ("info_name", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef),
        ("info_value", Arc::new(StringArray::from(rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>())) as ArrayRef),
    ])
}

/// `SHOW TABLES`: as in Spark, the schema's tables and views, then the session's temporary
/// views (with an empty `database` and `isTemporary` true).
pub(crate) async fn show_tables(
    session: &mut Session,
    schema: Option<ObjectName>,
    like: Option<String>,
    extended: bool,
) -> Result<StatementOutput> {
    let (catalog, schema) = match schema {
        Some(name) => session.schema_name(&name)?,
        None => (session.current_catalog.clone(), session.current_schema.clone()),
    };
    let mut names: Vec<String> = session.catalog.list_tables(&catalog, &schema).await?.into_iter().map(|t| t.name).collect();
    names.extend(session.catalog.list_views(&catalog, &schema).await?.into_iter().map(|v| v.name));
    names.sort();
    names.retain(|n| like_matches(like.as_deref(), n));
    if extended {
        // What is described is what the user may read.
        names = session.visibility().await?.readable(&catalog, &schema, names).await?;
    }
    let mut rows: Vec<(String, String, bool)> = names.into_iter().map(|n| (schema.clone(), n, false)).collect();
    let mut temporary: Vec<&String> = session.temp_views.keys().filter(|n| like_matches(like.as_deref(), n)).collect();
    temporary.sort();
    rows.extend(temporary.into_iter().map(|n| (String::new(), n.clone(), true)));
    let mut columns = vec![
        ("database", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0.clone()))) as ArrayRef),
        ("tableName", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1.clone()))) as ArrayRef),
        ("isTemporary", Arc::new(BooleanArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())) as ArrayRef),
    ];
    if extended {
        let mut information = Vec::with_capacity(rows.len());
        for (database, name, temporary) in &rows {
            let parts: Vec<&str> = if *temporary { vec![name.as_str()] } else { vec![catalog.as_str(), database.as_str(), name.as_str()] };
            let object = ObjectName(parts.iter().map(|p| ObjectNamePart::Identifier(Ident::with_quote('`', *p))).collect());
            information.push(super::describe::information(session, &object, *temporary).await?);
        }
        columns.push(("information", Arc::new(StringArray::from_iter_values(information)) as ArrayRef));
    }
    StatementOutput::from_columns(columns)
}

/// `COMMENT ON CATALOG | SCHEMA name IS 'text' | NULL`.
pub(crate) async fn comment_on(
    session: &mut Session,
    is_catalog: bool,
    name: &ObjectName,
    comment: Option<String>,
) -> Result<StatementOutput> {
    if is_catalog {
        let catalog = session.catalog_name(name)?;
        session.catalog.set_catalog_comment(&catalog, comment).await?;
    } else {
        let (catalog, schema) = session.schema_name(name)?;
        session.catalog.set_schema_comment(&catalog, &schema, comment).await?;
    }
    Ok(StatementOutput::empty())
}
