//! Delta Sharing's provider statements: shares, the tables in them, recipients, their tokens
//! and grants. Only the catalog changes; `tarn serve` answers recipients from it.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
use sqlparser::ast::{Ident, ObjectName};
use tarn_catalog::SharedTable;

use crate::ast::ShareTable;
use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::resolve::TableName;
use crate::session::Session;

/// Where recipients reach the server when nothing says otherwise: `tarn serve`'s default.
const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8080/delta-sharing";

fn actor(session: &Session) -> String {
    session.principal().map_or_else(|| "admin".to_string(), |p| p.name.clone())
}

fn endpoint(session: &Session) -> String {
    session.sharing_endpoint.clone().unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
}

fn strings(values: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn optional(values: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

pub(crate) async fn create_share(
    session: &mut Session,
    name: &Ident,
    if_not_exists: bool,
    comment: Option<String>,
) -> Result<StatementOutput> {
    session.catalog.create_share(&name.value, comment, &actor(session), if_not_exists).await?;
    Ok(StatementOutput::empty())
}

pub(crate) async fn drop_share(session: &mut Session, name: &Ident, if_exists: bool) -> Result<StatementOutput> {
    if !session.catalog.drop_share(&name.value).await? && !if_exists {
        return Err(SqlError::user(format!("share '{}' does not exist; SHOW SHARES lists the shares", name.value.to_ascii_lowercase())));
    }
    Ok(StatementOutput::empty())
}

pub(crate) async fn add_table(session: &mut Session, add: ShareTable) -> Result<StatementOutput> {
    let share = session.catalog.require_share(&add.share.value).await?;
    let ident = match session.table_name(&add.table)? {
        TableName::Catalog(ident) => ident,
        TableName::Path(url) => {
            return Err(SqlError::user(format!(
                "only catalog tables can be shared, not the path {url}; CREATE TABLE ... LOCATION registers it first"
            )));
        }
    };
    let entry = session.catalog.require_table(&ident).await?;
    if entry.kind == tarn_catalog::TableKind::Sharing {
        return Err(SqlError::user(format!("{ident} is itself shared with you; only tables of this warehouse can be shared")));
    }
    let (schema, name) = match &add.alias {
        None => (ident.schema.clone(), ident.table.clone()),
        Some(alias) => match alias.0.as_slice() {
            [schema, name] => (part(schema)?, part(name)?),
            [name] => (ident.schema.clone(), part(name)?),
            _ => return Err(SqlError::user(format!("the name a table is shared as is schema.table, not '{alias}'"))),
        },
    };
    // PARTITION (...) must name partition columns of the table, or it would silently share nothing.
    let mut partitions = Vec::new();
    if !add.partitions.is_empty() {
        let table = tarn_engine::open_table(&entry.location_url()?, None).await?;
        let columns: Vec<String> =
            table.snapshot().map(|s| s.metadata().partition_columns().to_vec()).map_err(|e| SqlError::Internal(e.to_string()))?;
        for (column, value) in &add.partitions {
            let Some(found) = columns.iter().find(|c| c.eq_ignore_ascii_case(&column.value)) else {
                return Err(SqlError::user(format!(
                    "'{}' is not a partition column of {ident} (its partition columns: {})",
                    column.value,
                    if columns.is_empty() { "none".to_string() } else { columns.join(", ") }
                )));
            };
            partitions.push((found.clone(), value.clone()));
        }
    }
    let shared = SharedTable {
        share: share.name,
        schema,
        name,
        table: ident.to_string(),
        table_id: entry.id.clone(),
        history: add.history,
        partitions,
        added_by: actor(session),
        added_at: chrono::Utc::now().timestamp_millis(),
    };
    session.catalog.add_shared_table(&shared).await?;
    Ok(StatementOutput::empty())
}

fn part(ident: &sqlparser::ast::ObjectNamePart) -> Result<String> {
    ident.as_ident().map(|i| i.value.to_ascii_lowercase()).ok_or_else(|| SqlError::user(format!("'{ident}' is not a name")))
}

pub(crate) async fn remove_table(session: &mut Session, share: &Ident, table: &ObjectName) -> Result<StatementOutput> {
    let share = session.catalog.require_share(&share.value).await?;
    let tables = session.catalog.shared_tables(&share.name).await?;
    let names: Vec<String> = table.0.iter().map(part).collect::<Result<_>>()?;
    // The name the share shows (`schema.name`), or the warehouse table's own name.
    let found = tables.iter().find(|t| match names.as_slice() {
        [schema, name] => (&t.schema, &t.name) == (schema, name),
        [name] => &t.name == name,
        _ => false,
    });
    let found = match found {
        Some(found) => Some(found),
        None => match session.table_name(table) {
            Ok(TableName::Catalog(ident)) => tables.iter().find(|t| t.table == ident.to_string()),
            _ => None,
        },
    };
    let Some(found) = found else {
        return Err(SqlError::user(format!("share '{}' has no table '{table}'; SHOW ALL IN SHARE {} lists them", share.name, share.name)));
    };
    session.catalog.remove_shared_table(&share.name, &found.schema, &found.name).await?;
    Ok(StatementOutput::empty())
}

pub(crate) async fn show_shares(session: &mut Session) -> Result<StatementOutput> {
    let shares = session.catalog.list_shares().await?;
    StatementOutput::from_columns(vec![
        ("name", strings(shares.iter().map(|s| s.name.clone()).collect())),
        ("comment", optional(shares.iter().map(|s| s.comment.clone()).collect())),
        ("owner", strings(shares.iter().map(|s| s.owner.clone()).collect())),
        ("created_at", strings(shares.iter().map(|s| time(s.created_at)).collect())),
    ])
}

pub(crate) async fn show_all_in_share(session: &mut Session, share: &Ident) -> Result<StatementOutput> {
    let share = session.catalog.require_share(&share.value).await?;
    let tables = session.catalog.shared_tables(&share.name).await?;
    let partitions = |t: &SharedTable| {
        (!t.partitions.is_empty()).then(|| t.partitions.iter().map(|(c, v)| format!("{c} = '{v}'")).collect::<Vec<_>>().join(", "))
    };
    StatementOutput::from_columns(vec![
        ("name", strings(tables.iter().map(|t| format!("{}.{}", t.schema, t.name)).collect())),
        ("type", strings(tables.iter().map(|_| "TABLE".to_string()).collect())),
        ("shared_object", strings(tables.iter().map(|t| t.table.clone()).collect())),
        ("history_sharing", Arc::new(BooleanArray::from(tables.iter().map(|t| t.history).collect::<Vec<_>>())) as ArrayRef),
        ("partitions", optional(tables.iter().map(partitions).collect())),
        ("added_by", strings(tables.iter().map(|t| t.added_by.clone()).collect())),
        ("added_at", strings(tables.iter().map(|t| time(t.added_at)).collect())),
    ])
}

fn activation_output(session: &Session, recipient: &str, code: &str, extra: Vec<(&str, ArrayRef)>) -> Result<StatementOutput> {
    let mut columns = vec![
        ("name", strings(vec![recipient.to_string()])),
        ("activation_link", strings(vec![format!("{}/activation/{code}", endpoint(session))])),
    ];
    columns.extend(extra);
    StatementOutput::from_columns(columns)
}

pub(crate) async fn create_recipient(
    session: &mut Session,
    name: &Ident,
    if_not_exists: bool,
    comment: Option<String>,
) -> Result<StatementOutput> {
    let created = session.catalog.create_recipient(&name.value, comment, &actor(session), if_not_exists).await?;
    if !created {
        return Ok(StatementOutput::empty());
    }
    let recipient = name.value.to_ascii_lowercase();
    let code = session.catalog.create_activation(&recipient, None).await?;
    activation_output(session, &recipient, &code, vec![])
}

pub(crate) async fn drop_recipient(session: &mut Session, name: &Ident, if_exists: bool) -> Result<StatementOutput> {
    if !session.catalog.drop_recipient(&name.value).await? && !if_exists {
        return Err(SqlError::user(format!("recipient '{}' does not exist; SHOW RECIPIENTS lists them", name.value.to_ascii_lowercase())));
    }
    Ok(StatementOutput::empty())
}

/// A new activation link (so a new token) for the recipient; its current tokens expire after
/// `expire_existing_in` seconds (at once by default), the new one after `expires_in` if given.
pub(crate) async fn rotate_token(
    session: &mut Session,
    name: &Ident,
    expire_existing_in: Option<i64>,
    expires_in: Option<i64>,
) -> Result<StatementOutput> {
    let recipient = session.catalog.require_recipient(&name.value).await?.name;
    for (what, secs) in [("EXPIRE EXISTING IN", expire_existing_in), ("EXPIRES IN", expires_in)] {
        if secs.is_some_and(|s| s < 0) {
            return Err(SqlError::user(format!("{what} must not be negative")));
        }
    }
    let now = chrono::Utc::now().timestamp_millis();
    let existing_expire_at = now + expire_existing_in.unwrap_or(0) * 1000;
    session.catalog.expire_recipient_tokens(&recipient, existing_expire_at).await?;
    let code = session.catalog.create_activation(&recipient, expires_in.map(|s| now + s * 1000)).await?;
    activation_output(session, &recipient, &code, vec![("existing_tokens_expire_at", strings(vec![time(existing_expire_at)]))])
}

pub(crate) async fn show_recipients(session: &mut Session) -> Result<StatementOutput> {
    let recipients = session.catalog.list_recipients().await?;
    let now = chrono::Utc::now().timestamp_millis();
    let mut active = Vec::new();
    for r in &recipients {
        let tokens = session.catalog.recipient_tokens(&r.name).await?;
        active.push(tokens.iter().filter(|t| t.expires_at.is_none_or(|e| e > now)).count() as i64);
    }
    StatementOutput::from_columns(vec![
        ("name", strings(recipients.iter().map(|r| r.name.clone()).collect())),
        ("comment", optional(recipients.iter().map(|r| r.comment.clone()).collect())),
        ("created_by", strings(recipients.iter().map(|r| r.created_by.clone()).collect())),
        ("created_at", strings(recipients.iter().map(|r| time(r.created_at)).collect())),
        ("active_tokens", Arc::new(Int64Array::from(active)) as ArrayRef),
    ])
}

pub(crate) async fn grant_share(session: &mut Session, share: &Ident, recipient: &Ident, grant: bool) -> Result<StatementOutput> {
    if grant {
        session.catalog.grant_share(&share.value, &recipient.value, &actor(session)).await?;
    } else {
        session.catalog.require_recipient(&recipient.value).await?;
        session.catalog.revoke_share(&share.value, &recipient.value).await?;
    }
    Ok(StatementOutput::empty())
}

pub(crate) async fn show_grants(session: &mut Session, share: Option<&Ident>, recipient: Option<&Ident>) -> Result<StatementOutput> {
    let mut rows: Vec<(String, String)> = Vec::new();
    if let Some(share) = share {
        let share = session.catalog.require_share(&share.value).await?.name;
        for r in session.catalog.share_recipients(&share).await? {
            rows.push((r, share.clone()));
        }
    }
    if let Some(recipient) = recipient {
        let recipient = session.catalog.require_recipient(&recipient.value).await?.name;
        for s in session.catalog.shares_of_recipient(&recipient).await? {
            rows.push((recipient.clone(), s.name));
        }
    }
    StatementOutput::from_columns(vec![
        ("recipient", strings(rows.iter().map(|(r, _)| r.clone()).collect())),
        ("privilege", strings(rows.iter().map(|_| "SELECT".to_string()).collect())),
        ("share", strings(rows.iter().map(|(_, s)| s.clone()).collect())),
    ])
}
