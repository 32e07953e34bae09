//! What each statement is, for every front end: whether it answers with rows, whether it
//! changes a table or the catalog, and the command tag Postgres clients expect. One match,
//! exhaustive over [`Statement`] (no wildcard), so a new statement cannot be added without
//! deciding all three.

use crate::ast::Statement;

/// The command tag of a statement that answers without rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandTag {
    /// A data change reported with its row count (`INSERT 0 n`, `UPDATE n`, ...).
    Rows(&'static str),
    /// A plain tag (`CREATE TABLE`, `SET`, ...).
    Plain(&'static str),
}

/// A statement's properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementProperties {
    /// It answers with rows a client should read (queries, SHOW, DESCRIBE, listings). Data
    /// changes answer with a one-row metrics result that Postgres clients see as their tag.
    pub returns_rows: bool,
    /// It changes a table or the catalog (a commit, in the metrics).
    pub writes: bool,
    /// What Postgres clients are told when no rows are sent.
    pub tag: CommandTag,
}

impl Statement {
    /// This statement's [`StatementProperties`].
    pub fn properties(&self) -> StatementProperties {
        use CommandTag::{Plain, Rows};
        use Statement as S;
        let (returns_rows, writes, tag) = match self {
            S::Query(_) => (true, false, Plain("SELECT")),
            S::ShowCatalogs { .. }
            | S::ShowSchemas { .. }
            | S::ShowTables { .. }
            | S::ShowViews { .. }
            | S::ShowFunctions { .. }
            | S::DescribeFunction { .. }
            | S::ShowCreateTable { .. }
            | S::ShowTblProperties { .. }
            | S::ShowPartitions { .. }
            | S::ShowColumns { .. }
            | S::DescribeHistory { .. }
            | S::DescribeDetail { .. }
            | S::DescribeTable { .. }
            | S::DescribeQuery { .. }
            | S::DescribeNamespace { .. }
            | S::ShowGrants { .. }
            | S::ShowUsers
            | S::ShowShares
            | S::ShowAllInShare { .. }
            | S::ShowRecipients
            | S::ShowShareGrants { .. } => (true, false, Plain("SHOW")),
            S::Insert(_) => (false, true, Rows("INSERT")),
            S::Update(_) => (false, true, Rows("UPDATE")),
            S::Delete(_) => (false, true, Rows("DELETE")),
            S::Merge(_) => (false, true, Rows("MERGE")),
            S::CopyInto(_) => (false, true, Rows("COPY")),
            S::Truncate { .. } => (false, true, Plain("TRUNCATE TABLE")),
            S::CreateCatalog { .. } => (false, true, Plain("CREATE DATABASE")),
            S::CreateTempView { .. } => (false, false, Plain("CREATE VIEW")),
            S::CreateView { .. } => (false, true, Plain("CREATE VIEW")),
            S::AlterViewAs { .. } | S::AlterViewSchemaMode { .. } | S::RenameView { .. } => (false, true, Plain("ALTER VIEW")),
            S::DropView { .. } => (false, true, Plain("DROP VIEW")),
            S::CreateFunction(create) => (false, !create.temporary, Plain("CREATE FUNCTION")),
            S::DropFunction { .. } => (false, true, Plain("DROP FUNCTION")),
            S::CreateSchema { .. } => (false, true, Plain("CREATE SCHEMA")),
            S::CommentOnNamespace { .. } => (false, true, Plain("COMMENT")),
            S::DropSchema { .. } => (false, true, Plain("DROP SCHEMA")),
            S::CreateTable(_) => (false, true, Plain("CREATE TABLE")),
            // Clones, RESTORE and OPTIMIZE report metrics rows, as Delta on Spark does.
            S::CreateClone(_) => (true, true, Plain("CREATE TABLE")),
            S::Restore { .. } => (true, true, Plain("RESTORE")),
            S::Optimize { .. } => (true, true, Plain("OPTIMIZE")),
            S::Vacuum { .. } => (true, true, Plain("VACUUM")),
            S::DropTable { .. } => (false, true, Plain("DROP TABLE")),
            S::AlterTable { .. } => (false, true, Plain("ALTER TABLE")),
            S::Set { echo: true, .. } => (true, false, Plain("SET")),
            S::DeclareVariable { .. } | S::SetVariables { .. } | S::DropVariable { .. } => (false, false, Plain("SET")),
            S::Set { .. } | S::Use { .. } => (false, false, Plain("SET")),
            S::CacheTable { .. } => (false, false, Plain("CACHE TABLE")),
            S::UncacheTable { .. } => (false, false, Plain("UNCACHE TABLE")),
            S::ClearCache => (false, false, Plain("CLEAR CACHE")),
            S::Grant { .. } | S::GrantShare { grant: true, .. } => (false, true, Plain("GRANT")),
            S::Revoke { .. } | S::GrantShare { grant: false, .. } => (false, true, Plain("REVOKE")),
            S::SetOwner { .. } => (false, true, Plain("ALTER OWNER")),
            S::CreateUser { .. } => (false, true, Plain("CREATE ROLE")),
            S::DropUser { .. } => (false, true, Plain("DROP ROLE")),
            S::AlterUserPassword { .. } => (false, true, Plain("ALTER ROLE")),
            S::CreateShare { .. } => (false, true, Plain("CREATE SHARE")),
            S::DropShare { .. } => (false, true, Plain("DROP SHARE")),
            S::AlterShareAdd(_) | S::AlterShareRemove { .. } => (false, true, Plain("ALTER SHARE")),
            // The activation link (and a rotated token's) is the answer.
            S::CreateRecipient { .. } => (true, true, Plain("CREATE RECIPIENT")),
            S::RotateRecipientToken { .. } => (true, true, Plain("ALTER RECIPIENT")),
            S::DropRecipient { .. } => (false, true, Plain("DROP RECIPIENT")),
        };
        StatementProperties { returns_rows, writes, tag }
    }
}
