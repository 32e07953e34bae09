//! The persistent catalog: catalogs → schemas → tables and views, stored inside the warehouse.
//!
//! The catalog is a set of small JSON documents under `_tarn_catalog/` in the warehouse root.
//! Every creation is a put-if-absent ([`object_store::PutMode::Create`]), so two processes that
//! create the same name at once get one success and one "already exists", and two processes that
//! create different names both succeed — with no lock service and no side database that could
//! disagree with the lake.
//!
//! Architecture invariant: the catalog records *where* tables are and never touches Delta logs or
//! data files. Callers create a table's Delta log first and register it second, so a crash in
//! between leaves an unreferenced directory, never a registered table without a log.

mod error;
mod functions;
mod grants;
mod ident;
mod principals;
mod sharing;
mod store;
mod views;

pub use error::{CatalogError, Result};
pub use functions::{FunctionEntry, FunctionParam, FunctionReturns, ReturnColumn};
pub use grants::{Grant, Privilege, Securable};
pub use ident::{TableIdent, validate_name};
pub use principals::{PASSWORD_ITERATIONS, PasswordSecret, Principal, PrincipalKind, TokenInfo};
pub use sharing::{Recipient, RecipientToken, Share, SharedTable, TokenRefusal};
pub use store::{Catalog, CatalogEntry, SYSTEM_CATALOG, SchemaEntry, TableEntry, TableKind};
pub use views::{ViewColumn, ViewEntry, ViewField, ViewSchemaMode};

/// The catalog every warehouse has.
pub const DEFAULT_CATALOG: &str = "main";
/// The schema every catalog has.
pub const DEFAULT_SCHEMA: &str = "default";
