//! Who may run a statement: the one place privileges are checked, for every protocol.
//!
//! Unity Catalog's rules: using anything in a catalog needs USE CATALOG on it, anything in a
//! schema also USE SCHEMA; then SELECT / MODIFY / CREATE TABLE / CREATE SCHEMA on the object or
//! any of its parents (privileges inherit downward). An owner has every privilege on what it
//! owns and below. Admins — and sessions without a principal, such as the local `tarn sql`,
//! which holds the files anyway — skip the checks. Direct file access (`delta.`path``, COPY INTO
//! sources, LOCATION) needs SELECT or MODIFY ON ANY FILE.

use std::collections::HashMap;

use sqlparser::ast::{ObjectName, Visit};
use tarn_catalog::{Privilege, Securable, TableIdent};

use crate::ast::{SecurableName, Statement};
use crate::error::{Result, SqlError};
use crate::resolve::{RelationCollector, TableName};
use crate::session::Session;

/// Something a statement needs.
#[derive(Debug, Clone)]
enum Need {
    /// `privilege` on a table (with USE on its catalog and schema).
    Table(TableIdent, Privilege),
    /// `privilege` on a schema (CREATE TABLE), with USE on it and its catalog.
    Schema(String, String, Privilege),
    /// `privilege` on a catalog (USE CATALOG, CREATE SCHEMA).
    Catalog(String, Privilege),
    /// SELECT or MODIFY ON ANY FILE; with the table's path when a path table is named.
    AnyFile(Privilege, Option<String>),
    /// Ownership of a securable (or of a parent).
    Owner(SecurableName),
    /// Only an administrator.
    Admin(&'static str),
}

/// Privileges a principal holds, looked up once per securable per statement.
struct Held<'a> {
    session: &'a Session,
    principal: &'a str,
    cache: HashMap<String, Vec<Privilege>>,
}

impl Held<'_> {
    async fn on(&mut self, securable: &Securable) -> Result<Vec<Privilege>> {
        let key = format!("{securable:?}");
        if let Some(p) = self.cache.get(&key) {
            return Ok(p.clone());
        }
        let privileges = self.session.catalog.privileges_of(securable, self.principal).await?;
        self.cache.insert(key, privileges.clone());
        Ok(privileges)
    }

    /// Whether any of `chain` (object and its parents) grants `privilege` (or ALL, or ownership).
    async fn any(&mut self, chain: &[Securable], privilege: Privilege) -> Result<bool> {
        for securable in chain {
            let held = self.on(securable).await?;
            if held.iter().any(|p| *p == privilege || *p == Privilege::AllPrivileges || *p == Privilege::Owner) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn owns(&mut self, chain: &[Securable]) -> Result<bool> {
        for securable in chain {
            if self.on(securable).await?.contains(&Privilege::Owner) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn catalog_of(name: &str) -> Securable {
    Securable::Catalog { name: name.to_string() }
}

fn schema_of(catalog: &str, schema: &str) -> Securable {
    Securable::Schema { catalog: catalog.to_string(), name: schema.to_string() }
}

/// How the audit log names a path table.
fn path_name(url: &url::Url) -> String {
    format!("delta.`{url}`")
}

fn denied(principal: &str, what: String, fix: String) -> SqlError {
    SqlError::PermissionDenied(format!("permission denied: user '{principal}' {what}; {fix}"))
}

impl Session {
    /// Refuse `statement` unless the session's principal may run it.
    pub(crate) async fn authorize(&self, statement: &Statement) -> Result<()> {
        let Some(principal) = &self.principal else { return Ok(()) };
        if principal.admin {
            return Ok(());
        }
        let needs = self.needs(statement, &principal.name)?;
        let mut held = Held { session: self, principal: &principal.name, cache: HashMap::new() };
        for need in needs {
            self.check(&mut held, need).await?;
        }
        Ok(())
    }

    /// The tables `statement` reads, writes, creates or changes, fully qualified (paths as
    /// `` delta.`url` ``), each once; for the audit log. Names that do not resolve are left out.
    pub fn tables_of(&self, statement: &Statement) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let mut add = |name: String| {
            if !names.contains(&name) {
                names.push(name);
            }
        };
        let created = match statement {
            Statement::CreateTable(create) => Some(&create.name),
            Statement::CreateClone(clone) => Some(&clone.name),
            _ => None,
        };
        if let Some(name) = created {
            match self.table_name(name) {
                Ok(TableName::Catalog(ident)) => add(ident.to_string()),
                Ok(TableName::Path(url)) => add(path_name(&url)),
                Err(_) => {}
            }
        }
        for need in self.needs(statement, "").unwrap_or_default() {
            match need {
                Need::Table(ident, _) => add(ident.to_string()),
                Need::AnyFile(_, Some(path)) => add(path),
                Need::Owner(SecurableName::Table(name)) => {
                    if let Ok(TableName::Catalog(ident)) = self.table_name(&name) {
                        add(ident.to_string());
                    }
                }
                _ => {}
            }
        }
        names
    }

    async fn check(&self, held: &mut Held<'_>, need: Need) -> Result<()> {
        let who = held.principal.to_string();
        match need {
            Need::Admin(what) => Err(denied(&who, format!("cannot {what}"), "only administrators can".into())),
            Need::AnyFile(privilege, _) => {
                if held.any(&[Securable::AnyFile], privilege).await? {
                    Ok(())
                } else {
                    Err(denied(
                        &who,
                        format!("lacks {} ON ANY FILE (direct file access)", privilege.sql()),
                        format!("an administrator can GRANT {} ON ANY FILE TO {who}", privilege.sql()),
                    ))
                }
            }
            Need::Catalog(catalog, privilege) => {
                let chain = [catalog_of(&catalog)];
                self.require(held, &chain, Privilege::UseCatalog, "CATALOG", &catalog).await?;
                if privilege != Privilege::UseCatalog {
                    self.require(held, &chain, privilege, "CATALOG", &catalog).await?;
                }
                Ok(())
            }
            Need::Schema(catalog, schema, privilege) => {
                self.require(held, &[catalog_of(&catalog)], Privilege::UseCatalog, "CATALOG", &catalog).await?;
                let chain = [schema_of(&catalog, &schema), catalog_of(&catalog)];
                let name = format!("{catalog}.{schema}");
                self.require(held, &chain, Privilege::UseSchema, "SCHEMA", &name).await?;
                if privilege != Privilege::UseSchema {
                    self.require(held, &chain, privilege, "SCHEMA", &name).await?;
                }
                Ok(())
            }
            Need::Table(ident, privilege) => {
                // A table that does not exist fails later with "not found".
                let Some(entry) = self.catalog.get_table(&ident).await? else { return Ok(()) };
                self.require(held, &[catalog_of(&ident.catalog)], Privilege::UseCatalog, "CATALOG", &ident.catalog).await?;
                let schema_chain = [schema_of(&ident.catalog, &ident.schema), catalog_of(&ident.catalog)];
                let schema_name = format!("{}.{}", ident.catalog, ident.schema);
                self.require(held, &schema_chain, Privilege::UseSchema, "SCHEMA", &schema_name).await?;
                let chain = [Securable::table(&entry), schema_of(&ident.catalog, &ident.schema), catalog_of(&ident.catalog)];
                self.require(held, &chain, privilege, "TABLE", &ident.to_string()).await
            }
            Need::Owner(name) => {
                let Some(chain) = self.securable_chain(&name).await? else { return Ok(()) };
                if held.owns(&chain).await? {
                    return Ok(());
                }
                let (kind, display) = (chain[0].kind(), chain[0].display_name());
                Err(denied(&who, format!("does not own {kind} {display}"), "only its owner (or an administrator) can do this".into()))
            }
        }
    }

    async fn require(&self, held: &mut Held<'_>, chain: &[Securable], privilege: Privilege, kind: &str, name: &str) -> Result<()> {
        if held.any(chain, privilege).await? {
            return Ok(());
        }
        let who = held.principal.to_string();
        Err(denied(
            &who,
            format!("lacks {} on {kind} {name}", privilege.sql()),
            format!("its owner can GRANT {} ON {kind} {name} TO {who}", privilege.sql()),
        ))
    }

    /// A securable and its parents, outermost last; `None` if it does not exist.
    pub(crate) async fn securable_chain(&self, name: &SecurableName) -> Result<Option<Vec<Securable>>> {
        Ok(match name {
            SecurableName::AnyFile => Some(vec![Securable::AnyFile]),
            SecurableName::Catalog(c) => {
                let c = c.value.to_ascii_lowercase();
                self.catalog.get_catalog(&c).await?.map(|_| vec![catalog_of(&c)])
            }
            SecurableName::Schema(s) => {
                let (c, s) = self.schema_name(s)?;
                self.catalog.get_schema(&c, &s).await?.map(|_| vec![schema_of(&c, &s), catalog_of(&c)])
            }
            SecurableName::Table(t) => match self.table_name(t)? {
                TableName::Catalog(ident) => self
                    .catalog
                    .get_table(&ident)
                    .await?
                    .map(|entry| vec![Securable::table(&entry), schema_of(&ident.catalog, &ident.schema), catalog_of(&ident.catalog)]),
                TableName::Path(_) => return Err(SqlError::user("privileges are granted on catalog tables, not paths")),
            },
        })
    }

    /// The tables a piece of SQL reads: every relation except CTEs and system schemas.
    fn reads(&self, node: &impl Visit, needs: &mut Vec<Need>) -> Result<()> {
        let mut collector = RelationCollector::default();
        let _ = node.visit(&mut collector);
        for (name, _version) in collector.relations {
            self.read_relation(&name, &collector.ctes, needs)?;
        }
        // Table functions read too: table_changes its table, read_files its files.
        for (name, args) in collector.functions {
            let function = name.to_string().to_ascii_lowercase();
            if function == crate::table_functions::TABLE_CHANGES {
                let target = crate::table_functions::table_changes_target(&args)?;
                self.read_relation(&target, &Default::default(), needs)?;
            } else if function == crate::table_functions::READ_FILES {
                let source = crate::table_functions::read_files_source(&args)?;
                needs.push(Need::AnyFile(Privilege::Select, Some(format!("read_files('{source}')"))));
            }
        }
        Ok(())
    }

    fn read_relation(&self, name: &ObjectName, ctes: &std::collections::HashSet<String>, needs: &mut Vec<Need>) -> Result<()> {
        let parts: Vec<&sqlparser::ast::Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
        if parts.len() == 1 && (ctes.contains(&parts[0].value.to_ascii_lowercase()) || self.temp_view(&parts[0].value).is_some()) {
            return Ok(());
        }
        match self.table_name(name)? {
            TableName::Path(url) => needs.push(Need::AnyFile(Privilege::Select, Some(path_name(&url)))),
            TableName::Catalog(ident) => {
                let system = self.system_schemas.as_ref().map(|s| s.names()).unwrap_or_default();
                let is_system = ident.schema == "information_schema"
                    || system.contains(&ident.schema)
                    || (parts.len() == 1 && self.implicit_system_table(name).is_some());
                if !is_system {
                    needs.push(Need::Table(ident, Privilege::Select));
                }
            }
        }
        Ok(())
    }

    fn target(&self, name: &ObjectName, privilege: Privilege, needs: &mut Vec<Need>) -> Result<()> {
        match self.table_name(name)? {
            TableName::Path(url) => needs.push(Need::AnyFile(privilege, Some(path_name(&url)))),
            TableName::Catalog(ident) => needs.push(Need::Table(ident, privilege)),
        }
        Ok(())
    }

    fn create_in(&self, name: &ObjectName, needs: &mut Vec<Need>) -> Result<()> {
        match self.table_name(name)? {
            TableName::Path(url) => needs.push(Need::AnyFile(Privilege::Modify, Some(path_name(&url)))),
            TableName::Catalog(ident) => needs.push(Need::Schema(ident.catalog, ident.schema, Privilege::CreateTable)),
        }
        Ok(())
    }

    /// What `statement` needs.
    fn needs(&self, statement: &Statement, principal: &str) -> Result<Vec<Need>> {
        use Statement as S;
        let mut needs = Vec::new();
        match statement {
            S::Query(q) => self.reads(q.as_ref(), &mut needs)?,
            S::Set { .. } | S::ShowCatalogs { .. } => {}
            S::CreateCatalog { .. } => needs.push(Need::Admin("create catalogs")),
            S::CreateSchema { name, .. } => {
                let (c, _) = self.schema_name(name)?;
                needs.push(Need::Catalog(c, Privilege::CreateSchema));
            }
            S::DropSchema { name, .. } => needs.push(Need::Owner(SecurableName::Schema(name.clone()))),
            S::Use { target, name } => match target {
                crate::ast::UseTarget::Catalog => needs.push(Need::Catalog(self.catalog_name(name)?, Privilege::UseCatalog)),
                crate::ast::UseTarget::Schema => {
                    let (c, s) = self.schema_name(name)?;
                    needs.push(Need::Schema(c, s, Privilege::UseSchema));
                }
            },
            S::ShowSchemas { catalog, .. } => {
                let c = match catalog {
                    Some(c) => self.catalog_name(c)?,
                    None => self.current_catalog.clone(),
                };
                needs.push(Need::Catalog(c, Privilege::UseCatalog));
            }
            S::ShowTables { schema, .. } => {
                let (c, s) = match schema {
                    Some(s) => self.schema_name(s)?,
                    None => (self.current_catalog.clone(), self.current_schema.clone()),
                };
                needs.push(Need::Schema(c, s, Privilege::UseSchema));
            }
            S::ShowCreateTable { table }
            | S::ShowTblProperties { table }
            | S::ShowColumns { table }
            | S::DescribeHistory { table, .. }
            | S::DescribeDetail { table }
            | S::DescribeTable { table, .. } => self.target(table, Privilege::Select, &mut needs)?,
            S::CreateTable(create) => {
                self.create_in(&create.name, &mut needs)?;
                if create.location.is_some() {
                    needs.push(Need::AnyFile(Privilege::Modify, None));
                }
                if let Some(query) = &create.query {
                    self.reads(query.as_ref(), &mut needs)?;
                }
                if create.or_replace {
                    needs.push(Need::Owner(SecurableName::Table(create.name.clone())));
                }
            }
            S::CreateClone(clone) => {
                self.create_in(&clone.name, &mut needs)?;
                self.target(&clone.source, Privilege::Select, &mut needs)?;
                if clone.location.is_some() {
                    needs.push(Need::AnyFile(Privilege::Modify, None));
                }
                if clone.or_replace {
                    needs.push(Need::Owner(SecurableName::Table(clone.name.clone())));
                }
            }
            S::DropTable { name, .. } | S::AlterTable { table: name, .. } => {
                if let TableName::Path(url) = self.table_name(name)? {
                    needs.push(Need::AnyFile(Privilege::Modify, Some(path_name(&url))));
                } else {
                    needs.push(Need::Owner(SecurableName::Table(name.clone())));
                }
            }
            S::Insert(insert) => {
                self.target(&insert.table, Privilege::Modify, &mut needs)?;
                self.reads(insert.query.as_ref(), &mut needs)?;
                if let Some(predicate) = &insert.replace_where {
                    self.reads(predicate, &mut needs)?;
                }
            }
            S::Update(update) => {
                self.target(&update.table, Privilege::Modify, &mut needs)?;
                self.target(&update.table, Privilege::Select, &mut needs)?;
                for (_, value) in &update.assignments {
                    self.reads(value, &mut needs)?;
                }
                if let Some(predicate) = &update.predicate {
                    self.reads(predicate, &mut needs)?;
                }
            }
            S::Delete(delete) => {
                self.target(&delete.table, Privilege::Modify, &mut needs)?;
                self.target(&delete.table, Privilege::Select, &mut needs)?;
                if let Some(predicate) = &delete.predicate {
                    self.reads(predicate, &mut needs)?;
                }
            }
            S::Merge(merge) => {
                self.target(&merge.target, Privilege::Modify, &mut needs)?;
                self.target(&merge.target, Privilege::Select, &mut needs)?;
                self.reads(&merge.source, &mut needs)?;
                self.reads(&merge.on, &mut needs)?;
            }
            S::Truncate { table } | S::Restore { table, .. } | S::Optimize { table, .. } | S::Vacuum { table, .. } => {
                self.target(table, Privilege::Modify, &mut needs)?;
            }
            S::CacheTable { table, .. } | S::UncacheTable { table, .. } => {
                self.target(table, Privilege::Select, &mut needs)?;
            }
            S::ClearCache => {}
            S::CopyInto(copy) => {
                self.target(&copy.table, Privilege::Modify, &mut needs)?;
                needs.push(Need::AnyFile(Privilege::Select, None));
            }
            S::Grant { on, .. } | S::Revoke { on, .. } | S::SetOwner { on, .. } => match on {
                SecurableName::AnyFile => needs.push(Need::Admin("grant file access")),
                other => needs.push(Need::Owner(other.clone())),
            },
            S::ShowGrants { principal: Some(p), on: None } => {
                if !p.value.eq_ignore_ascii_case(principal) {
                    needs.push(Need::Admin("list another user's grants"));
                }
            }
            S::ShowGrants { on: Some(on), principal: who } => {
                let own = who.as_ref().is_some_and(|p| p.value.eq_ignore_ascii_case(principal));
                if !own {
                    match on {
                        SecurableName::AnyFile => needs.push(Need::Admin("list file-access grants")),
                        other => needs.push(Need::Owner(other.clone())),
                    }
                }
            }
            S::ShowGrants { principal: None, on: None } => {}
            S::CreateUser { .. } | S::DropUser { .. } | S::ShowUsers => needs.push(Need::Admin("manage users")),
            // Delta Sharing hands data to other organisations: administrators only, as
            // metastore admins in Unity Catalog. Adding a table also reads it.
            S::AlterShareAdd(add) => {
                needs.push(Need::Admin("manage Delta Sharing shares"));
                self.target(&add.table, Privilege::Select, &mut needs)?;
            }
            S::CreateShare { .. }
            | S::DropShare { .. }
            | S::AlterShareRemove { .. }
            | S::ShowShares
            | S::ShowAllInShare { .. }
            | S::GrantShare { .. }
            | S::ShowShareGrants { .. } => needs.push(Need::Admin("manage Delta Sharing shares")),
            S::CreateRecipient { .. } | S::DropRecipient { .. } | S::RotateRecipientToken { .. } | S::ShowRecipients => {
                needs.push(Need::Admin("manage Delta Sharing recipients"))
            }
            S::AlterUserPassword { name, .. } => {
                if !name.value.eq_ignore_ascii_case(principal) {
                    needs.push(Need::Admin("change another user's password"));
                }
            }
        }
        Ok(needs)
    }
}
