//! Tarn's command line: result formats, the script runner and the interactive shell.
//!
//! Architecture invariant: nothing here knows SQL semantics; it parses with `tarn-sql`,
//! executes through [`tarn_sql::Session`] and prints what comes back, streaming.

mod error;
mod format;
mod runner;
mod shell;

pub use error::{CliError, Result};
pub use format::{OutputFormat, ResultPrinter};
pub use runner::{RunOptions, run_script};
pub use shell::run_shell;
