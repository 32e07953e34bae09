//! GRANT, REVOKE, SHOW GRANTS, ownership and users. Who may run these is decided in
//! `authorize` like for every other statement; this module only carries them out.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, StringArray};
use sqlparser::ast::Ident;
use tarn_catalog::{Grant, PrincipalKind, Privilege, Securable};

use crate::ast::SecurableName;
use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::session::Session;

/// The acting principal's name, for `granted_by`.
fn actor(session: &Session) -> String {
    session.principal().map_or_else(|| "admin".to_string(), |p| p.name.clone())
}

/// The securable a statement names; it must exist.
async fn securable(session: &Session, name: &SecurableName) -> Result<Securable> {
    let chain = session.securable_chain(name).await?;
    match (chain, name) {
        (Some(chain), _) => chain.into_iter().next().ok_or_else(|| SqlError::Internal("empty securable chain".into())),
        (None, SecurableName::Catalog(c)) => Err(tarn_catalog::CatalogError::CatalogNotFound(c.value.to_ascii_lowercase()).into()),
        (None, SecurableName::Schema(s)) => Err(SqlError::user(format!("schema '{s}' does not exist"))),
        (None, SecurableName::Table(t)) => Err(SqlError::user(format!("table '{t}' does not exist"))),
        (None, SecurableName::Function(f)) => Err(SqlError::user(format!("[ROUTINE_NOT_FOUND] function '{f}' does not exist"))),
        (None, SecurableName::AnyFile) => Ok(Securable::AnyFile),
    }
}

/// Whether `privilege` means anything on `securable` (Unity Catalog's applicability rules).
fn applies(privilege: Privilege, securable: &Securable) -> bool {
    use Privilege as P;
    match securable {
        Securable::Catalog { .. } => true,
        Securable::Schema { .. } => !matches!(privilege, P::UseCatalog | P::CreateSchema),
        Securable::Table { .. } => matches!(privilege, P::Select | P::Modify | P::AllPrivileges),
        Securable::Function { .. } => matches!(privilege, P::Execute | P::AllPrivileges),
        Securable::AnyFile => matches!(privilege, P::Select | P::Modify | P::AllPrivileges),
    }
}

/// Make the session's principal the owner of what it just created (the local administrator
/// owns everything already).
pub(crate) async fn record_owner(session: &Session, securable: &Securable) -> Result<()> {
    if let Some(principal) = session.principal() {
        session.catalog.set_owner(securable, &principal.name, &principal.name).await?;
    }
    Ok(())
}

pub(crate) async fn grant(
    session: &mut Session,
    privileges: Vec<Privilege>,
    on: &SecurableName,
    principal: &Ident,
    grant: bool,
) -> Result<StatementOutput> {
    let target = securable(session, on).await?;
    let who = principal.value.to_ascii_lowercase();
    for privilege in &privileges {
        if !applies(*privilege, &target) {
            return Err(SqlError::user(format!(
                "{} cannot be granted on a {}; see the privileges in the README",
                privilege.sql(),
                target.kind()
            )));
        }
    }
    if session.catalog.get_principal(&who).await?.is_none() {
        return Err(SqlError::user(format!("user '{who}' does not exist; create it first (CREATE USER {who})")));
    }
    for privilege in privileges {
        if grant {
            session.catalog.grant(&target, &who, privilege, &actor(session)).await?;
        } else {
            session.catalog.revoke(&target, &who, privilege).await?;
        }
    }
    Ok(StatementOutput::empty())
}

fn grant_rows(grants: Vec<Grant>) -> Result<StatementOutput> {
    let column = |f: &dyn Fn(&Grant) -> String| Arc::new(StringArray::from(grants.iter().map(f).collect::<Vec<_>>())) as ArrayRef;
    StatementOutput::from_columns(vec![
        ("principal", column(&|g| g.principal.clone())),
        ("action_type", column(&|g| g.privilege.sql().to_string())),
        ("object_type", column(&|g| g.securable.kind().to_string())),
        ("object_key", column(&|g| g.securable.display_name())),
    ])
}

pub(crate) async fn show_grants(session: &mut Session, principal: Option<&Ident>, on: Option<&SecurableName>) -> Result<StatementOutput> {
    let mut grants = match on {
        Some(on) => session.catalog.grants_on(&securable(session, on).await?).await?,
        None => {
            let who = principal.map_or_else(|| actor(session), |p| p.value.clone());
            session.catalog.grants_to(&who).await?
        }
    };
    if let Some(p) = principal {
        grants.retain(|g| g.principal.eq_ignore_ascii_case(&p.value));
    }
    grant_rows(grants)
}

pub(crate) async fn set_owner(session: &mut Session, on: &SecurableName, principal: &Ident) -> Result<StatementOutput> {
    let target = securable(session, on).await?;
    let who = principal.value.to_ascii_lowercase();
    if session.catalog.get_principal(&who).await?.is_none() {
        return Err(SqlError::user(format!("user '{who}' does not exist")));
    }
    session.catalog.set_owner(&target, &who, &actor(session)).await?;
    Ok(StatementOutput::empty())
}

pub(crate) async fn create_user(
    session: &mut Session,
    name: &Ident,
    if_not_exists: bool,
    password: Option<String>,
    admin: bool,
) -> Result<StatementOutput> {
    // Refuse a bad password before anything is created: a failed statement changes nothing.
    if password.as_deref() == Some("") {
        return Err(SqlError::user("the password is empty; give one, or create the user without a password"));
    }
    let created = session.catalog.create_principal(&name.value, PrincipalKind::User, admin, if_not_exists).await?;
    if created && let Some(password) = password {
        session.catalog.set_password(&name.value, &password).await?;
    }
    Ok(StatementOutput::empty())
}

pub(crate) async fn drop_user(session: &mut Session, name: &Ident, if_exists: bool) -> Result<StatementOutput> {
    if session.principal().is_some_and(|p| p.name.eq_ignore_ascii_case(&name.value)) {
        return Err(SqlError::user("you cannot drop the user you are connected as"));
    }
    if !session.catalog.drop_principal(&name.value).await? && !if_exists {
        return Err(SqlError::user(format!("user '{}' does not exist", name.value.to_ascii_lowercase())));
    }
    Ok(StatementOutput::empty())
}

pub(crate) async fn alter_password(session: &mut Session, name: &Ident, password: &str) -> Result<StatementOutput> {
    session.catalog.set_password(&name.value, password).await?;
    Ok(StatementOutput::empty())
}

pub(crate) async fn show_users(session: &mut Session) -> Result<StatementOutput> {
    let users = session.catalog.list_principals().await?;
    StatementOutput::from_columns(vec![
        ("name", Arc::new(StringArray::from(users.iter().map(|u| u.name.clone()).collect::<Vec<_>>())) as ArrayRef),
        (
            "kind",
            Arc::new(StringArray::from(users.iter().map(|u| format!("{:?}", u.kind).to_ascii_lowercase()).collect::<Vec<_>>())) as ArrayRef,
        ),
        ("admin", Arc::new(BooleanArray::from(users.iter().map(|u| u.admin).collect::<Vec<_>>())) as ArrayRef),
    ])
}
