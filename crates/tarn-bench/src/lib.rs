//! Benchmark data for Tarn. [`tpch`]: the TPC-H tables, generated in process.
//!
//! Architecture invariant: data is loaded through Tarn's SQL session like a user's, never by
//! writing Delta tables behind the catalog's back.

mod error;
pub mod tpch;

pub use error::{BenchError, Result};
