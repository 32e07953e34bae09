//! Tarn's SQL: the Spark/Databricks statements around DataFusion, executed against the
//! catalog and Delta tables.
//!
//! - [`parser`] turns text into [`ast::Statement`]s;
//! - [`Session`] holds the warehouse, catalog and DataFusion state and executes statements;
//! - `exec/` has one module per statement family (DDL, DML, MERGE, maintenance, ...);
//! - `resolve` maps table names (catalog names, `delta.`/path``, time travel) to providers.
//!
//! Architecture invariant: this crate never writes Delta logs by hand; every commit goes
//! through a `deltalake` operation builder (or `tarn-engine`, which uses them too).

pub mod ast;
mod authorize;
mod column_names;
mod describe_statement;
mod error;
mod exec;
pub mod files;
mod flows;
mod follow;
mod listing;
mod metadata;
mod output;
pub mod parser;
mod properties;
mod relations;
mod resolve;
mod session;
mod spark_syntax;
mod sql_functions;
mod table_functions;
mod types;

pub use authorize::Visibility;
pub use describe_statement::Described;
pub use error::{ErrorKind, Result, SqlError};
pub use flows::{FlowCommit, FlowWrite};
pub use follow::{DEFAULT_POLL, FollowFrom};
pub use listing::{Relation, RelationKind};
pub use metadata::SystemSchemas;
pub use output::StatementOutput;
pub use parser::{SqlDialect, check_nesting, parse_sql, parse_sql_with, split_statements, sql_text, statement_lines, string_literal};
pub use properties::{CommandTag, StatementProperties};
pub use session::{DEFAULT_TARGET_FILE_SIZE, Session, SessionConfig};
pub use tarn_engine::CommitRecord;
pub use tarn_engine::Runtime;
pub use types::spark_type_name;
