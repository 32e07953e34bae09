//! Delta tables on DataFusion.
//!
//! This crate is the only place that talks to `deltalake` directly for reading: it opens tables
//! (at the latest version or travelling back in time), reads their commit history, turns them
//! into DataFusion table providers, builds the DataFusion session, and clones tables. Write
//! operations are driven by `tarn-sql` through the `deltalake` builders re-exported here.
//!
//! Architecture invariant: nothing here knows about the catalog or SQL text; tables are URLs.

mod changes;
mod clone;
mod damage;
mod data_files;
mod error;
mod file_statistics;
mod history;
mod limit_barrier;
mod log_cleanup;
mod open;
mod scan_hook;
mod scan_predicates;
mod scan_report;
mod session;
pub mod snapshots;
pub mod spark;
mod storage;

pub use changes::{CHANGE_DATA_FEED, ChangeBound, VersionRange, cdf_error, changes_provider, records_changes, resolve_change_range};
pub use clone::{CloneKind, clone_table};
pub use data_files::{DataFileOptions, ROW_GROUP_ROWS, parse_compression};
pub use error::{EngineError, Result};
pub use history::{CommitRecord, commit_actions, commit_timestamps, read_commits, resolve_timestamp};
pub use log_cleanup::post_commit_hooks;
pub use open::{TimeTravel, open_table, table_exists, table_provider};
pub use scan_report::{ScanLog, ScanSummary, reporting_provider};
pub use session::{Runtime, SessionOptions, derive_state, new_session_state};
pub use storage::{BackoffLogStore, CommitRetry, commit_properties, commit_retry, register_storage, retry_delay, set_commit_retry};

pub use datafusion;
pub use deltalake;
