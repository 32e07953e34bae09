//! Tarn's statements: the Spark/Databricks/Delta statements around DataFusion's SQL.
//!
//! Expressions, queries, names and types are `sqlparser` AST nodes; only the statement shapes
//! DataFusion does not know are defined here.

use sqlparser::ast::{DataType, Expr, Ident, ObjectName, Query, TableFactor};
pub use tarn_catalog::ViewSchemaMode;

/// One parsed statement.
#[derive(Debug, Clone)]
pub enum Statement {
    /// SELECT / WITH / VALUES / EXPLAIN and anything else DataFusion plans itself.
    Query(Box<sqlparser::ast::Statement>),
    /// `CREATE [OR REPLACE] TEMP[ORARY] VIEW [IF NOT EXISTS] v [(a, b)] AS query`: a name for a
    /// query, for this session only, expanded (and its tables checked) where it is read.
    CreateTempView {
        name: Ident,
        columns: Vec<Ident>,
        query: Box<Query>,
        or_replace: bool,
        if_not_exists: bool,
        schema_mode: Option<ViewSchemaMode>,
        default_collation: Option<String>,
    },
    /// `CREATE [OR REPLACE] VIEW [IF NOT EXISTS] s.v [(a [COMMENT ..], ..)] [COMMENT ..] AS query`:
    /// a view in the catalog, read with its owner's rights.
    CreateView {
        name: ObjectName,
        columns: Vec<(Ident, Option<String>)>,
        comment: Option<String>,
        query: Box<Query>,
        or_replace: bool,
        if_not_exists: bool,
        /// `WITH SCHEMA ..`: how the view follows changes to its query's columns.
        schema_mode: Option<ViewSchemaMode>,
        /// `DEFAULT COLLATION c`: the collation of the query's string literals.
        default_collation: Option<String>,
    },
    /// `ALTER VIEW v WITH SCHEMA mode`.
    AlterViewSchemaMode {
        name: ObjectName,
        mode: ViewSchemaMode,
    },
    /// `ALTER VIEW v AS query`: a new query for an existing view (temporary or in the catalog),
    /// which keeps its name, owner, grants and comment.
    AlterViewAs {
        name: ObjectName,
        query: Box<Query>,
    },
    /// `ALTER VIEW v RENAME TO w`: a temporary view of the session, else a view in the catalog,
    /// under a new name; its definition, owner and grants stay.
    RenameView {
        name: ObjectName,
        to: ObjectName,
    },
    /// `COMMENT ON CATALOG | SCHEMA name IS 'text' | NULL`.
    CommentOnNamespace {
        catalog: bool,
        name: ObjectName,
        comment: Option<String>,
    },
    /// `SHOW VIEWS [IN|FROM schema] [LIKE 'pattern']`: the schema's views and the session's
    /// temporary views.
    ShowViews {
        schema: Option<ObjectName>,
        like: Option<String>,
    },
    /// `DROP VIEW [IF EXISTS] v`: a temporary view of the session, else a view in the catalog.
    DropView {
        name: ObjectName,
        if_exists: bool,
    },
    /// `CREATE [OR REPLACE] [TEMPORARY] FUNCTION [IF NOT EXISTS] f(x INT [DEFAULT ..], ..)
    /// RETURNS type | TABLE (..) [COMMENT ..] RETURN expr | query`: a SQL function.
    CreateFunction(Box<CreateFunction>),
    /// `DROP [TEMPORARY] FUNCTION [IF EXISTS] f`.
    DropFunction {
        name: ObjectName,
        temporary: bool,
        if_exists: bool,
    },
    /// `SHOW [USER | SYSTEM | ALL] FUNCTIONS [IN schema] [[LIKE] 'pattern']`.
    ShowFunctions {
        scope: FunctionScope,
        schema: Option<ObjectName>,
        like: Option<String>,
    },
    /// `DECLARE [OR REPLACE] [VARIABLE] v [type] [DEFAULT | = expr]`: a session variable.
    DeclareVariable {
        name: ObjectName,
        or_replace: bool,
        data_type: Option<DataType>,
        default: Option<Expr>,
    },
    /// `SET VAR[IABLE] v = expr [, w = expr]` or `SET VAR (v, w) = (query)`.
    SetVariables {
        targets: Vec<ObjectName>,
        values: VariableValues,
    },
    /// `DROP TEMPORARY VAR[IABLE] [IF EXISTS] v`.
    DropVariable {
        name: ObjectName,
        if_exists: bool,
    },
    /// `DESCRIBE FUNCTION [EXTENDED] f`: a SQL function's or a built-in's signature and usage.
    DescribeFunction {
        name: ObjectName,
        extended: bool,
    },
    CreateCatalog {
        name: Ident,
        if_not_exists: bool,
        comment: Option<String>,
    },
    CreateSchema {
        name: ObjectName,
        if_not_exists: bool,
        comment: Option<String>,
    },
    DropSchema {
        name: ObjectName,
        if_exists: bool,
        cascade: bool,
    },
    Use {
        target: UseTarget,
        name: ObjectName,
    },
    ShowCatalogs {
        like: Option<String>,
    },
    ShowSchemas {
        catalog: Option<ObjectName>,
        like: Option<String>,
    },
    /// `SHOW TABLES [IN s] [LIKE ..]`; `SHOW TABLE EXTENDED [IN s] LIKE ..` adds each one's
    /// `information` (only for the tables and views the user may read).
    ShowTables {
        schema: Option<ObjectName>,
        like: Option<String>,
        extended: bool,
    },
    ShowCreateTable {
        table: ObjectName,
    },
    /// `SHOW PARTITIONS t [PARTITION (k = v, ..)]`: the table's partitions, one column per
    /// partition column (as Databricks shows a Delta table's).
    ShowPartitions {
        table: ObjectName,
        filter: Vec<(Ident, String)>,
    },
    ShowTblProperties {
        table: ObjectName,
    },
    ShowColumns {
        table: ObjectName,
    },
    CreateTable(Box<CreateTable>),
    CreateClone(Box<CreateClone>),
    DropTable {
        name: ObjectName,
        if_exists: bool,
    },
    Insert(Box<Insert>),
    Update(Box<Update>),
    Delete(Box<Delete>),
    Merge(Box<Merge>),
    Truncate {
        table: ObjectName,
    },
    DescribeHistory {
        table: ObjectName,
        limit: Option<u64>,
    },
    DescribeDetail {
        table: ObjectName,
    },
    DescribeTable {
        table: ObjectName,
        extended: bool,
        /// `DESCRIBE t col`: one column's description.
        column: Option<String>,
    },
    /// `DESCRIBE [QUERY] <query>`: the columns a query would return, without running it.
    DescribeQuery {
        query: Box<sqlparser::ast::Query>,
    },
    /// `DESCRIBE SCHEMA | DATABASE [EXTENDED] s` (`catalog` false) or `DESCRIBE CATALOG
    /// [EXTENDED] c` (`catalog` true): the namespace's name, comment, owner and creation time.
    DescribeNamespace {
        catalog: bool,
        name: ObjectName,
        extended: bool,
    },
    Restore {
        table: ObjectName,
        to: VersionSpec,
    },
    Optimize {
        table: ObjectName,
        predicate: Option<Expr>,
        zorder_by: Vec<Ident>,
    },
    Vacuum {
        table: ObjectName,
        retain_hours: Option<f64>,
        dry_run: bool,
    },
    /// `CACHE [LAZY] TABLE t`: keep the table's current version decoded in memory.
    CacheTable {
        table: ObjectName,
        lazy: bool,
    },
    /// `UNCACHE TABLE [IF EXISTS] t`
    UncacheTable {
        table: ObjectName,
        if_exists: bool,
    },
    /// `CLEAR CACHE`: drop every cached table.
    ClearCache,
    AlterTable {
        table: ObjectName,
        op: AlterOp,
    },
    CopyInto(Box<CopyInto>),
    /// `SET key = value`. In Spark's dialect it answers the row (key, value) as Spark does;
    /// Postgres clients get a command tag only.
    Set {
        key: String,
        value: String,
        echo: bool,
    },
    /// `GRANT privilege[, ...] ON securable TO principal`
    Grant {
        privileges: Vec<tarn_catalog::Privilege>,
        on: SecurableName,
        principal: Ident,
    },
    /// `REVOKE privilege[, ...] ON securable FROM principal`
    Revoke {
        privileges: Vec<tarn_catalog::Privilege>,
        on: SecurableName,
        principal: Ident,
    },
    /// `SHOW GRANTS [principal] [ON securable]` / `SHOW GRANTS TO principal`
    ShowGrants {
        principal: Option<Ident>,
        on: Option<SecurableName>,
    },
    /// `ALTER {CATALOG | SCHEMA | TABLE} name [SET] OWNER TO principal`
    SetOwner {
        on: SecurableName,
        principal: Ident,
    },
    /// `CREATE USER [IF NOT EXISTS] name [[WITH] PASSWORD 'secret'] [ADMIN]`
    CreateUser {
        name: Ident,
        if_not_exists: bool,
        password: Option<String>,
        admin: bool,
    },
    /// `DROP USER [IF EXISTS] name`
    DropUser {
        name: Ident,
        if_exists: bool,
    },
    /// `ALTER USER name [WITH] PASSWORD 'secret'`
    AlterUserPassword {
        name: Ident,
        password: String,
    },
    /// `SHOW USERS`
    ShowUsers,
    /// `CREATE SHARE [IF NOT EXISTS] s [COMMENT '...']`
    CreateShare {
        name: Ident,
        if_not_exists: bool,
        comment: Option<String>,
    },
    /// `DROP SHARE [IF EXISTS] s`
    DropShare {
        name: Ident,
        if_exists: bool,
    },
    /// `ALTER SHARE s ADD [TABLE] t [COMMENT '..'] [PARTITION (c = v, ...)] [AS schema.name] [WITH | WITHOUT HISTORY]`
    AlterShareAdd(Box<ShareTable>),
    /// `ALTER SHARE s REMOVE [TABLE] t` (the name the share shows, or the table's own)
    AlterShareRemove {
        share: Ident,
        table: ObjectName,
    },
    /// `SHOW SHARES`
    ShowShares,
    /// `SHOW ALL IN SHARE s`
    ShowAllInShare {
        share: Ident,
    },
    /// `CREATE RECIPIENT [IF NOT EXISTS] r [COMMENT '...']`: prints a one-time activation link
    CreateRecipient {
        name: Ident,
        if_not_exists: bool,
        comment: Option<String>,
    },
    /// `DROP RECIPIENT [IF EXISTS] r`: its tokens stop working at once
    DropRecipient {
        name: Ident,
        if_exists: bool,
    },
    /// `ALTER RECIPIENT r ROTATE TOKEN [EXPIRE EXISTING IN n unit] [EXPIRES IN n unit]`
    /// (seconds; existing tokens expire at once unless told otherwise)
    RotateRecipientToken {
        name: Ident,
        expire_existing_in: Option<i64>,
        expires_in: Option<i64>,
    },
    /// `SHOW RECIPIENTS`
    ShowRecipients,
    /// `GRANT SELECT ON SHARE s TO RECIPIENT r` / `REVOKE SELECT ON SHARE s FROM RECIPIENT r`
    GrantShare {
        share: Ident,
        recipient: Ident,
        grant: bool,
    },
    /// `SHOW GRANTS ON SHARE s` / `SHOW GRANTS TO RECIPIENT r`
    ShowShareGrants {
        share: Option<Ident>,
        recipient: Option<Ident>,
    },
}

/// A table added to a share.
#[derive(Debug, Clone)]
pub struct ShareTable {
    pub share: Ident,
    pub table: ObjectName,
    /// `schema.name` recipients see; default: the table's own schema and name.
    pub alias: Option<ObjectName>,
    pub history: bool,
    /// `PARTITION (c = 'v', ...)`: only these partitions are shared.
    pub partitions: Vec<(Ident, String)>,
    pub comment: Option<String>,
}

/// What a GRANT, REVOKE, SHOW GRANTS or ownership change names.
#[derive(Debug, Clone)]
pub enum SecurableName {
    Catalog(Ident),
    Schema(ObjectName),
    Table(ObjectName),
    Function(ObjectName),
    AnyFile,
}

/// The new values of `SET VARIABLE`: one expression per variable, or one query's row.
#[derive(Debug, Clone)]
pub enum VariableValues {
    Exprs(Vec<Expr>),
    Query(Box<Query>),
}

/// Which functions `SHOW FUNCTIONS` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionScope {
    /// Built-in functions.
    System,
    /// SQL functions: the schema's and the session's temporary ones.
    User,
    All,
}

/// `CREATE FUNCTION`'s parts.
#[derive(Debug, Clone)]
pub struct CreateFunction {
    pub name: ObjectName,
    pub or_replace: bool,
    pub temporary: bool,
    pub if_not_exists: bool,
    pub params: Vec<FunctionParamSpec>,
    pub returns: FunctionReturnSpec,
    pub comment: Option<String>,
    pub deterministic: bool,
    pub body: FunctionBody,
}

#[derive(Debug, Clone)]
pub struct FunctionParamSpec {
    pub name: Ident,
    pub data_type: DataType,
    pub default: Option<Expr>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
pub enum FunctionReturnSpec {
    Scalar(DataType),
    Table(Vec<ColumnSpec>),
}

/// What follows `RETURN`: an expression, or a query (a scalar function's query is a scalar
/// subquery; a table function's is its rows).
#[derive(Debug, Clone)]
pub enum FunctionBody {
    Expr(Box<Expr>),
    Query(Box<Query>),
}

impl FunctionBody {
    /// The body as SQL text Tarn's parser reads back (see [`crate::parser::sql_text`]).
    pub fn to_sql_text(&self) -> String {
        match self {
            FunctionBody::Expr(e) => crate::parser::sql_text(e.as_ref()),
            FunctionBody::Query(q) => crate::parser::sql_text(q.as_ref()),
        }
    }
}

impl std::fmt::Display for FunctionBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FunctionBody::Expr(e) => write!(f, "{e}"),
            FunctionBody::Query(q) => write!(f, "{q}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseTarget {
    Catalog,
    Schema,
}

/// `VERSION AS OF n` or `TIMESTAMP AS OF expr`.
#[derive(Debug, Clone)]
pub enum VersionSpec {
    Version(Expr),
    Timestamp(Expr),
}

#[derive(Debug, Clone)]
pub struct ColumnSpec {
    pub name: Ident,
    pub data_type: DataType,
    pub not_null: bool,
    pub comment: Option<String>,
    /// `STRING COLLATE name`: the collation's name as written.
    pub collation: Option<String>,
    /// `GENERATED ALWAYS AS (expr)`: a Delta generated column.
    pub generated: Option<Box<Expr>>,
}

#[derive(Debug, Clone)]
pub struct CreateTable {
    pub or_replace: bool,
    pub if_not_exists: bool,
    pub name: ObjectName,
    pub columns: Vec<ColumnSpec>,
    pub using: Option<String>,
    pub partitioned_by: Vec<Ident>,
    pub location: Option<String>,
    pub comment: Option<String>,
    pub properties: Vec<(String, String)>,
    pub query: Option<Box<Query>>,
    /// `LIKE source`: the definition to copy (see `exec::create_like`).
    pub like: Option<ObjectName>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneDepth {
    Shallow,
    Deep,
}

#[derive(Debug, Clone)]
pub struct CreateClone {
    pub or_replace: bool,
    pub if_not_exists: bool,
    pub name: ObjectName,
    pub depth: CloneDepth,
    pub source: ObjectName,
    pub source_version: Option<VersionSpec>,
    pub location: Option<String>,
    pub properties: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Insert {
    pub table: ObjectName,
    pub overwrite: bool,
    pub columns: Vec<Ident>,
    pub replace_where: Option<Expr>,
    pub query: Box<Query>,
}

#[derive(Debug, Clone)]
pub struct Update {
    pub table: ObjectName,
    pub alias: Option<Ident>,
    pub assignments: Vec<(Ident, Expr)>,
    pub predicate: Option<Expr>,
}

#[derive(Debug, Clone)]
pub struct Delete {
    pub table: ObjectName,
    pub alias: Option<Ident>,
    pub predicate: Option<Expr>,
}

#[derive(Debug, Clone)]
pub struct Merge {
    pub target: ObjectName,
    pub target_alias: Option<Ident>,
    /// A table (possibly with time travel) or a subquery, with its alias.
    pub source: TableFactor,
    pub on: Expr,
    pub clauses: Vec<MergeClause>,
}

#[derive(Debug, Clone)]
pub enum MergeClause {
    Matched { condition: Option<Expr>, action: MatchedAction },
    NotMatched { condition: Option<Expr>, action: InsertAction },
    NotMatchedBySource { condition: Option<Expr>, action: MatchedAction },
}

#[derive(Debug, Clone)]
pub enum MatchedAction {
    UpdateAll,
    Update(Vec<(Ident, Expr)>),
    Delete,
}

#[derive(Debug, Clone)]
pub enum InsertAction {
    All,
    Values { columns: Vec<Ident>, values: Vec<Expr> },
}

#[derive(Debug, Clone)]
pub enum AlterOp {
    AddColumns(Vec<ColumnSpec>),
    SetProperties(Vec<(String, String)>),
    UnsetProperties {
        keys: Vec<String>,
        if_exists: bool,
    },
    AddConstraint {
        name: Ident,
        check: Box<Expr>,
    },
    DropConstraint {
        name: Ident,
        if_exists: bool,
    },
    RenameTo(ObjectName),
    /// `RENAME COLUMN a TO b` (column mapping).
    RenameColumn {
        from: Ident,
        to: Ident,
    },
    /// `DROP COLUMN[S] [IF EXISTS] a | (a, b)` (column mapping).
    DropColumns {
        columns: Vec<Ident>,
        if_exists: bool,
    },
    /// `COMMENT ON TABLE t IS ..` (`None`: `IS NULL`, no comment).
    SetComment(Option<String>),
    /// `ALTER | CHANGE [COLUMN] c ...`: changes to one column, applied in one commit.
    AlterColumn {
        column: Ident,
        changes: Vec<ColumnChange>,
    },
}

/// One change `ALTER TABLE .. ALTER COLUMN` makes to a column.
#[derive(Debug, Clone)]
pub enum ColumnChange {
    /// `COMMENT 'text'` (`None`: `COMMENT ON COLUMN .. IS NULL`).
    Comment(Option<String>),
    SetNotNull,
    DropNotNull,
    /// `TYPE t`, or the type in Hive's `CHANGE c c t`.
    Type(sqlparser::ast::DataType),
    /// The new name in Hive's `CHANGE c new_name t`.
    Rename(Ident),
    /// `FIRST`, or `AFTER other`.
    Position(Option<Ident>),
    SetDefault(Box<Expr>),
    DropDefault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Json,
    Parquet,
}

#[derive(Debug, Clone)]
pub struct CopyInto {
    pub table: ObjectName,
    pub source: String,
    pub format: FileFormat,
    pub pattern: Option<String>,
    pub files: Vec<String>,
    pub format_options: Vec<(String, String)>,
    pub copy_options: Vec<(String, String)>,
}

/// A name from parts given as data (request fields, URL segments, a connection's database):
/// each part quoted, so it is taken exactly as given and never read as SQL. Front ends build
/// statements with this and the constructors below instead of pasting names into SQL text.
pub fn quoted_name(parts: &[&str]) -> ObjectName {
    ObjectName::from(parts.iter().map(|p| Ident::with_quote('`', *p)).collect::<Vec<_>>())
}

impl Statement {
    /// `USE CATALOG name`
    pub fn use_catalog(name: &str) -> Self {
        Statement::Use { target: UseTarget::Catalog, name: quoted_name(&[name]) }
    }

    /// `USE SCHEMA name` (in the current catalog)
    pub fn use_schema(name: &str) -> Self {
        Statement::Use { target: UseTarget::Schema, name: quoted_name(&[name]) }
    }

    /// `SHOW SCHEMAS IN catalog`
    pub fn show_schemas_in(catalog: &str) -> Self {
        Statement::ShowSchemas { catalog: Some(quoted_name(&[catalog])), like: None }
    }

    /// `SHOW TABLES IN catalog.schema`
    pub fn show_tables_in(catalog: &str, schema: &str) -> Self {
        Statement::ShowTables { schema: Some(quoted_name(&[catalog, schema])), like: None, extended: false }
    }

    /// `DESCRIBE TABLE catalog.schema.table`
    pub fn describe_table(catalog: &str, schema: &str, table: &str) -> Self {
        Statement::DescribeTable { table: quoted_name(&[catalog, schema, table]), extended: false, column: None }
    }

    /// `DESCRIBE DETAIL catalog.schema.table`
    pub fn describe_detail(catalog: &str, schema: &str, table: &str) -> Self {
        Statement::DescribeDetail { table: quoted_name(&[catalog, schema, table]) }
    }
}
