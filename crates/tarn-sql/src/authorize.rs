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
use crate::relations::Relations;
use crate::resolve::TableName;
use crate::session::{PRINCIPAL_RECHECK, Session};

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
    /// `privilege` (EXECUTE) on a SQL function in the catalog, with USE on its catalog and schema.
    Function(tarn_catalog::FunctionEntry, Privilege),
    /// Ownership of a securable (or of a parent).
    Owner(SecurableName),
    /// Only an administrator.
    Admin(&'static str),
}

/// Privileges a principal holds, looked up once per securable per statement.
struct Held<'a> {
    catalog: &'a tarn_catalog::Catalog,
    principal: &'a str,
    cache: HashMap<String, Vec<Privilege>>,
}

impl Held<'_> {
    async fn on(&mut self, securable: &Securable) -> Result<Vec<Privilege>> {
        let key = format!("{securable:?}");
        if let Some(p) = self.cache.get(&key) {
            return Ok(p.clone());
        }
        let privileges = self.catalog.privileges_of(securable, self.principal).await?;
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

    /// Refuse unless `privilege` is held on `chain`.
    async fn require(&mut self, chain: &[Securable], privilege: Privilege, kind: &str, name: &str) -> Result<()> {
        if self.any(chain, privilege).await? {
            return Ok(());
        }
        let who = self.principal.to_string();
        Err(denied(
            &who,
            format!("lacks {} on {kind} {name}", privilege.sql()),
            format!("its owner can GRANT {} ON {kind} {name} TO {who}", privilege.sql()),
        ))
    }

    /// `privilege` on table `ident`, with USE on its catalog and schema. A table that does not
    /// exist passes: it fails later with "not found".
    async fn require_table(&mut self, ident: &TableIdent, privilege: Privilege) -> Result<()> {
        let securable = match self.catalog.get_table(ident).await? {
            Some(entry) => Securable::table(&entry),
            None => match self.catalog.get_view(ident).await? {
                Some(view) => Securable::view(&view),
                None => return Ok(()),
            },
        };
        self.require(&[catalog_of(&ident.catalog)], Privilege::UseCatalog, "CATALOG", &ident.catalog).await?;
        let schema_chain = [schema_of(&ident.catalog, &ident.schema), catalog_of(&ident.catalog)];
        let schema_name = format!("{}.{}", ident.catalog, ident.schema);
        self.require(&schema_chain, Privilege::UseSchema, "SCHEMA", &schema_name).await?;
        let chain = [securable, schema_of(&ident.catalog, &ident.schema), catalog_of(&ident.catalog)];
        self.require(&chain, privilege, "TABLE", &ident.to_string()).await
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
        let Some(principal) = self.current_principal().await? else {
            return Ok(());
        };
        if principal.admin {
            return Ok(());
        }
        let needs = self.needs(statement, &principal.name)?;
        self.require_all(needs).await
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
                held.require(&chain, Privilege::UseCatalog, "CATALOG", &catalog).await?;
                if privilege != Privilege::UseCatalog {
                    held.require(&chain, privilege, "CATALOG", &catalog).await?;
                }
                Ok(())
            }
            Need::Schema(catalog, schema, privilege) => {
                held.require(&[catalog_of(&catalog)], Privilege::UseCatalog, "CATALOG", &catalog).await?;
                let chain = [schema_of(&catalog, &schema), catalog_of(&catalog)];
                let name = format!("{catalog}.{schema}");
                held.require(&chain, Privilege::UseSchema, "SCHEMA", &name).await?;
                if privilege != Privilege::UseSchema {
                    held.require(&chain, privilege, "SCHEMA", &name).await?;
                }
                Ok(())
            }
            Need::Table(ident, privilege) => held.require_table(&ident, privilege).await,
            Need::Function(entry, privilege) => {
                let (catalog, schema) = (entry.catalog.clone(), entry.schema.clone());
                held.require(&[catalog_of(&catalog)], Privilege::UseCatalog, "CATALOG", &catalog).await?;
                let schema_chain = [schema_of(&catalog, &schema), catalog_of(&catalog)];
                held.require(&schema_chain, Privilege::UseSchema, "SCHEMA", &format!("{catalog}.{schema}")).await?;
                let chain = [Securable::function(&entry), schema_of(&catalog, &schema), catalog_of(&catalog)];
                held.require(&chain, privilege, "FUNCTION", &entry.ident().to_string()).await
            }
            Need::Owner(name) => {
                let Some(chain) = self.securable_chain(&name).await? else {
                    return Ok(());
                };
                if held.owns(&chain).await? {
                    return Ok(());
                }
                let (kind, display) = (chain[0].kind(), chain[0].display_name());
                Err(denied(&who, format!("does not own {kind} {display}"), "only its owner (or an administrator) can do this".into()))
            }
        }
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
            SecurableName::Function(f) => {
                let found = self.find_function(f).await?.filter(|found| !found.temporary);
                found.map(|found| {
                    let e = &found.entry;
                    vec![Securable::function(e), schema_of(&e.catalog, &e.schema), catalog_of(&e.catalog)]
                })
            }
            SecurableName::Table(t) => match self.table_name(t)? {
                TableName::Catalog(ident) => {
                    let securable = match self.catalog.get_table(&ident).await? {
                        Some(entry) => Some(Securable::table(&entry)),
                        None => self.catalog.get_view(&ident).await?.map(|view| Securable::view(&view)),
                    };
                    securable.map(|s| vec![s, schema_of(&ident.catalog, &ident.schema), catalog_of(&ident.catalog)])
                }
                TableName::Path(_) => {
                    return Err(SqlError::user("privileges are granted on catalog tables, not paths"));
                }
            },
        })
    }

    /// The tables a piece of SQL reads: every relation except CTEs in scope and system
    /// schemas, and what its table functions read. Name resolution checks the same again
    /// where it binds each one (`require_read`); this up-front pass names them for the audit
    /// and refuses early.
    fn reads(&self, node: &impl Visit, needs: &mut Vec<Need>) -> Result<()> {
        let relations = Relations::of(node);
        for relation in &relations.tables {
            self.read_relation(&relation.name, relation.version.is_some(), needs)?;
        }
        for call in &relations.functions {
            if call.function == crate::table_functions::TABLE_CHANGES {
                let target = crate::table_functions::table_changes_target(&call.args)?;
                self.read_relation(&target, false, needs)?;
            } else if call.function == crate::table_functions::READ_FILES {
                let source = crate::table_functions::read_files_source(&call.args)?;
                needs.push(Need::AnyFile(Privilege::Select, Some(format!("read_files('{source}')"))));
            }
        }
        Ok(())
    }

    fn read_relation(&self, name: &ObjectName, time_travel: bool, needs: &mut Vec<Need>) -> Result<()> {
        let parts: Vec<&sqlparser::ast::Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
        if !time_travel && parts.len() == 1 && self.temp_view(&parts[0].value).is_some() {
            return Ok(());
        }
        match self.table_name(name)? {
            TableName::Path(url) => needs.push(Need::AnyFile(Privilege::Select, Some(path_name(&url)))),
            TableName::Catalog(ident) => {
                let system = self.system_schemas.as_ref().map(|s| s.names()).unwrap_or_default();
                let is_system = !time_travel
                    && (ident.schema == "information_schema"
                        || system.contains(&ident.schema)
                        || (parts.len() == 1 && self.implicit_system_table(name).is_some()));
                if !is_system {
                    needs.push(Need::Table(ident, Privilege::Select));
                }
            }
        }
        Ok(())
    }

    /// Refuse unless the principal may read the table or path `name` (SELECT with USE on its
    /// catalog and schema; SELECT ON ANY FILE for a path). Name resolution calls this for
    /// every table it binds.
    pub(crate) async fn require_read(&self, name: &ObjectName) -> Result<()> {
        let mut needs = Vec::new();
        match self.table_name(name)? {
            TableName::Path(url) => needs.push(Need::AnyFile(Privilege::Select, Some(path_name(&url)))),
            TableName::Catalog(ident) => needs.push(Need::Table(ident, Privilege::Select)),
        }
        self.require_all(needs).await
    }

    /// Refuse unless the principal may call the SQL function `entry` (EXECUTE, as in Unity Catalog).
    pub(crate) async fn require_execute(&self, entry: &tarn_catalog::FunctionEntry) -> Result<()> {
        self.require_all(vec![Need::Function(entry.clone(), Privilege::Execute)]).await
    }

    /// Refuse unless the principal may read files directly (SELECT ON ANY FILE).
    pub(crate) async fn require_file_read(&self) -> Result<()> {
        self.require_all(vec![Need::AnyFile(Privilege::Select, None)]).await
    }

    /// What this session's principal may see in metadata listings, for front ends that list
    /// tables themselves (Postgres' `pg_catalog`, Flight SQL's `GetTables`).
    pub async fn visibility(&self) -> Result<Visibility> {
        Ok(Visibility { catalog: self.catalog.clone(), principal: self.principal.as_ref().map(|p| p.name.clone()) })
    }

    /// The session's principal as the catalog has it now (at most [`PRINCIPAL_RECHECK`] old):
    /// a user dropped, or no longer an administrator, since the connection opened has lost
    /// those rights for its next statement. `None` for the local administrator.
    async fn current_principal(&self) -> Result<Option<tarn_catalog::Principal>> {
        let Some(principal) = &self.principal else {
            return Ok(None);
        };
        let cached = self.principal_checked.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some((at, fresh)) = cached
            && at.elapsed() < PRINCIPAL_RECHECK
        {
            return Ok(Some(fresh));
        }
        let Some(fresh) = self.catalog.get_principal(&principal.name).await? else {
            return Err(SqlError::PermissionDenied(format!(
                "permission denied: user '{}' no longer exists; connect as another user",
                principal.name
            )));
        };
        *self.principal_checked.lock().unwrap_or_else(|p| p.into_inner()) = Some((std::time::Instant::now(), fresh.clone()));
        Ok(Some(fresh))
    }

    async fn require_all(&self, needs: Vec<Need>) -> Result<()> {
        let Some(principal) = self.current_principal().await? else {
            return Ok(());
        };
        if principal.admin {
            return Ok(());
        }
        let mut held = Held { catalog: &self.catalog, principal: &principal.name, cache: HashMap::new() };
        for need in needs {
            self.check(&mut held, need).await?;
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
            // A temporary view is the session's own; its query's tables are checked when it is
            // created and again each time it is read (it runs with the reader's rights).
            S::CreateTempView { query, .. } => self.reads(&sqlparser::ast::Statement::Query(query.clone()), &mut needs)?,
            // A view in the catalog is created like a table (CREATE TABLE on its schema) by
            // someone who can read what it reads; replacing or dropping one is its owner's.
            S::CreateView { name, query, or_replace, .. } => {
                self.create_in(name, &mut needs)?;
                self.reads(&sqlparser::ast::Statement::Query(query.clone()), &mut needs)?;
                if *or_replace {
                    needs.push(Need::Owner(SecurableName::Table(name.clone())));
                }
            }
            // A new query for a view: its owner's to give, reading only what they can read
            // (a temporary view is the session's own).
            S::AlterViewAs { name, query } => {
                self.reads(&sqlparser::ast::Statement::Query(query.clone()), &mut needs)?;
                let single = name.0.len() == 1 && name.0[0].as_ident().is_some_and(|i| self.temp_view(&i.value).is_some());
                if !single {
                    needs.push(Need::Owner(SecurableName::Table(name.clone())));
                }
            }
            // Renaming is the owner's; a qualified new name is creating a view in that schema
            // (a bare one stays in the view's own schema).
            S::RenameView { name, to } => {
                let single = name.0.len() == 1 && name.0[0].as_ident().is_some_and(|i| self.temp_view(&i.value).is_some());
                if !single {
                    needs.push(Need::Owner(SecurableName::Table(name.clone())));
                    if to.0.len() > 1 {
                        self.create_in(to, &mut needs)?;
                    }
                }
            }
            S::AlterViewSchemaMode { name, .. } => {
                let single = name.0.len() == 1 && name.0[0].as_ident().is_some_and(|i| self.temp_view(&i.value).is_some());
                if !single {
                    needs.push(Need::Owner(SecurableName::Table(name.clone())));
                }
            }
            S::DropView { name, .. } => {
                let single = name.0.len() == 1 && name.0[0].as_ident().is_some_and(|i| self.temp_view(&i.value).is_some());
                if !single {
                    needs.push(Need::Owner(SecurableName::Table(name.clone())));
                }
            }
            S::ShowViews { schema, .. } => {
                let (c, s) = match schema {
                    Some(s) => self.schema_name(s)?,
                    None => (self.current_catalog.clone(), self.current_schema.clone()),
                };
                needs.push(Need::Schema(c, s, Privilege::UseSchema));
            }
            // A temporary function is the session's own; its body's tables are checked when it is
            // called (with the caller's rights). One in the catalog needs CREATE FUNCTION on its
            // schema; replacing or dropping one is its owner's.
            S::CreateFunction(create) => {
                if !create.temporary {
                    let (c, s) = self.function_schema(&create.name)?;
                    needs.push(Need::Schema(c, s, Privilege::CreateFunction));
                    if create.or_replace {
                        needs.push(Need::Owner(SecurableName::Function(create.name.clone())));
                    }
                }
            }
            S::DropFunction { name, temporary, .. } => {
                if !*temporary {
                    needs.push(Need::Owner(SecurableName::Function(name.clone())));
                }
            }
            S::ShowFunctions { schema, .. } => {
                let (c, s) = match schema {
                    Some(s) => self.schema_name(s)?,
                    None => (self.current_catalog.clone(), self.current_schema.clone()),
                };
                needs.push(Need::Schema(c, s, Privilege::UseSchema));
            }
            S::DescribeFunction { .. } | S::DropVariable { .. } => {}
            // A variable's value is computed with the session's rights, like any query.
            S::DeclareVariable { default, .. } => {
                if let Some(default) = default {
                    self.reads(default, &mut needs)?;
                }
            }
            S::SetVariables { values, .. } => match values {
                crate::ast::VariableValues::Exprs(exprs) => {
                    for expr in exprs {
                        self.reads(expr, &mut needs)?;
                    }
                }
                crate::ast::VariableValues::Query(query) => self.reads(&sqlparser::ast::Statement::Query(query.clone()), &mut needs)?,
            },
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
            | S::ShowPartitions { table, .. }
            | S::ShowColumns { table }
            | S::DescribeHistory { table, .. }
            | S::DescribeDetail { table }
            | S::DescribeTable { table, .. } => self.target(table, Privilege::Select, &mut needs)?,
            // Describing a query needs what running it needs.
            S::DescribeQuery { query } => self.reads(&sqlparser::ast::Statement::Query(query.clone()), &mut needs)?,
            // A catalog's or schema's comment is its owner's to change.
            S::CommentOnNamespace { catalog: true, name, .. } => {
                needs.push(Need::Owner(SecurableName::Catalog(sqlparser::ast::Ident::new(self.catalog_name(name)?))))
            }
            S::CommentOnNamespace { catalog: false, name, .. } => needs.push(Need::Owner(SecurableName::Schema(name.clone()))),
            S::DescribeNamespace { catalog: true, name, .. } => needs.push(Need::Catalog(self.catalog_name(name)?, Privilege::UseCatalog)),
            S::DescribeNamespace { catalog: false, name, .. } => {
                let (c, s) = self.schema_name(name)?;
                needs.push(Need::Schema(c, s, Privilege::UseSchema));
            }
            S::CreateTable(create) => {
                self.create_in(&create.name, &mut needs)?;
                if create.location.is_some() {
                    needs.push(Need::AnyFile(Privilege::Modify, None));
                }
                if let Some(query) = &create.query {
                    self.reads(query.as_ref(), &mut needs)?;
                }
                // Copying a definition reads it, as DESCRIBE does.
                if let Some(source) = &create.like {
                    self.target(source, Privilege::Select, &mut needs)?;
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
                // Renaming into another schema is creating a table there (a bare new name
                // stays in the table's own schema).
                if let S::AlterTable { op: crate::ast::AlterOp::RenameTo(new_name), .. } = statement
                    && new_name.0.len() > 1
                {
                    self.create_in(new_name, &mut needs)?;
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

/// Which tables a principal may see in metadata: those it may SELECT from (an administrator,
/// or a session without a principal, sees all). Listings (information_schema, pg_catalog,
/// Flight SQL's GetTables) show only these, with their columns.
#[derive(Debug, Clone)]
pub struct Visibility {
    catalog: tarn_catalog::Catalog,
    /// `None`: everything is visible. A principal's ADMIN flag is read when asked, so a
    /// change reaches open connections.
    principal: Option<String>,
}

impl Visibility {
    /// Whether the principal may read table `ident`.
    pub(crate) fn catalog(&self) -> &tarn_catalog::Catalog {
        &self.catalog
    }

    pub async fn may_read(&self, ident: &TableIdent) -> Result<bool> {
        let name = ident.table.clone();
        Ok(!self.readable(&ident.catalog, &ident.schema, vec![name]).await?.is_empty())
    }

    /// Those of `tables` (names in `catalog.schema`) the principal may read, in order. The
    /// principal and the catalog's and schema's privileges are read once for the whole list.
    pub async fn readable(&self, catalog: &str, schema: &str, tables: Vec<String>) -> Result<Vec<String>> {
        let Some(principal) = &self.principal else { return Ok(tables) };
        match self.catalog.get_principal(principal).await? {
            None => return Ok(Vec::new()),
            Some(p) if p.admin => return Ok(tables),
            Some(_) => {}
        }
        let mut held = Held { catalog: &self.catalog, principal, cache: HashMap::new() };
        let mut readable = Vec::with_capacity(tables.len());
        for table in tables {
            let ident = TableIdent::new(catalog.to_string(), schema.to_string(), table);
            match held.require_table(&ident, Privilege::Select).await {
                Ok(()) => readable.push(ident.table),
                Err(SqlError::PermissionDenied(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(readable)
    }
}
