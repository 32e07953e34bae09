//! Delta Sharing (the open REST protocol for sharing Delta tables across organisations).
//!
//! Provider side: [`Provider`] answers every request of the protocol from the catalog's shares
//! (`tarn_catalog::Share`, `SharedTable`, recipients and their tokens) and the shared tables'
//! Delta logs: listings with page tokens, table version, metadata, file lists for a version
//! (with predicate hints skipping files by their statistics, and limit hints) and the change
//! data feed, in both response formats (`parquet` and `delta`, [`choose_format`]). Files are
//! handed out as short-lived URLs: pre-signed by the object store where it can (S3), else
//! HMAC-signed by Tarn ([`UrlSigner`]) and served by `tarn serve`.
//!
//! Recipient side: [`RemoteTable`] reads a table shared with us (a profile file and
//! `share.schema.table`, [`SharedLocation`]) by materializing a version of it as a local Delta
//! table in a cache (files downloaded once per file id), which the engine then reads like any
//! other.
//!
//! Architecture invariant: nothing here writes to a warehouse table or the catalog's table
//! entries; a share only names tables. HTTP serving (routes, headers, bodies) is `tarn-server`'s.

pub mod client;
mod error;
pub mod predicate;
pub mod protocol;
mod provider;
mod pruning;
mod signing;

pub use client::{Profile, RemoteTable, RemoteVersion, SharedLocation};
pub use error::{Result, SharingError};
pub use protocol::{CAPABILITIES_HEADER, Capabilities, Page, QueryRequest, ResponseFormat, TABLE_VERSION_HEADER, choose_format};
pub use provider::{FileAccess, Provider, TableRef, TableResponse};
pub use signing::{SIGNATURE_PARAM, SignedFile, UrlSigner};

/// A profile file (`*.share`) as the protocol defines it: where the server is and the token.
pub fn profile_json(endpoint: &str, token: &str, expires_at: Option<i64>) -> serde_json::Value {
    let mut profile = serde_json::json!({
        "shareCredentialsVersion": 1,
        "endpoint": endpoint.trim_end_matches('/'),
        "bearerToken": token,
    });
    if let Some(at) = expires_at.and_then(chrono::DateTime::from_timestamp_millis) {
        profile["expirationTime"] = serde_json::json!(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    profile
}
