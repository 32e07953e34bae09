//! `tarn user`: principals and their passwords, straight on the warehouse's catalog.

use tarn_sql::Session;

use crate::cli::UserAction;

pub(crate) async fn users(session: &Session, action: UserAction) -> Result<(), String> {
    let catalog = session.catalog();
    match action {
        UserAction::Create { name, service, admin, password_stdin } => {
            // Read the password first: a failed read must not leave a user without one.
            let password = if password_stdin { Some(read_password()?) } else { None };
            let kind = if service { tarn_catalog::PrincipalKind::Service } else { tarn_catalog::PrincipalKind::User };
            catalog.create_principal(&name, kind, admin, false).await.map_err(|e| e.to_string())?;
            if let Some(password) = password {
                tarn_server::set_password(catalog, &name, &password).await.map_err(|e| e.to_string())?;
            }
            eprintln!("created {} '{}'", if service { "service principal" } else { "user" }, name.to_ascii_lowercase());
        }
        UserAction::Password { name } => {
            let password = read_password()?;
            tarn_server::set_password(catalog, &name, &password).await.map_err(|e| e.to_string())?;
            eprintln!("set the password of '{}'", name.to_ascii_lowercase());
        }
        UserAction::List => {
            for p in catalog.list_principals().await.map_err(|e| e.to_string())? {
                println!("{}\t{:?}\t{}", p.name, p.kind, if p.admin { "admin" } else { "" });
            }
        }
    }
    Ok(())
}

/// The first line of standard input, without its line ending.
pub(crate) fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err("no password on standard input".into());
    }
    Ok(password)
}
