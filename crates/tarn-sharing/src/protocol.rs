//! The protocol's request shapes and the few decisions made from them: which response format a
//! client gets (`delta-sharing-capabilities`), listing pages, query and change parameters.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Result, SharingError};

/// The header clients state their capabilities in, and the server its choice.
pub const CAPABILITIES_HEADER: &str = "delta-sharing-capabilities";
/// The header carrying the table version a response describes.
pub const TABLE_VERSION_HEADER: &str = "delta-table-version";

/// How file lists are written: `parquet` (the original format: plain files, URLs) or `delta`
/// (Delta log actions, for tables whose reading needs more than Parquet: deletion vectors,
/// column mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFormat {
    Parquet,
    Delta,
}

impl ResponseFormat {
    /// The value of the response's capabilities header.
    pub fn header_value(self) -> &'static str {
        match self {
            ResponseFormat::Parquet => "responseformat=parquet",
            ResponseFormat::Delta => "responseformat=delta",
        }
    }
}

/// What a client said it can read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Capabilities {
    /// Response formats it accepts, lower-cased; empty means only `parquet`.
    pub formats: Vec<String>,
    /// Delta reader features it supports, lower-cased.
    pub reader_features: Vec<String>,
}

impl Capabilities {
    /// `responseformat=delta,parquet;readerfeatures=deletionvectors,columnmapping`.
    pub fn parse(header: Option<&str>) -> Self {
        let mut caps = Capabilities::default();
        for part in header.unwrap_or_default().split(';') {
            let Some((key, values)) = part.split_once('=') else { continue };
            let values: Vec<String> = values.split(',').map(|v| v.trim().to_ascii_lowercase()).filter(|v| !v.is_empty()).collect();
            match key.trim().to_ascii_lowercase().as_str() {
                "responseformat" => caps.formats = values,
                "readerfeatures" => caps.reader_features = values,
                _ => {}
            }
        }
        caps
    }

    fn accepts(&self, format: &str) -> bool {
        if self.formats.is_empty() {
            return format == "parquet";
        }
        self.formats.iter().any(|f| f == format)
    }
}

/// Reader features a `parquet` response can serve as plain files.
const PLAIN_FEATURES: &[&str] = &["timestampntz", "v2checkpoint", "vacuumprotocolcheck", "checkpointprotection", "domainmetadata"];

/// The response format for a table whose protocol is `protocol` and metadata `metadata` (both
/// as Delta actions): `parquet` where the client takes it and the table needs nothing more,
/// else `delta`, if the client reads every feature the table needs.
pub fn choose_format(caps: &Capabilities, table: &str, protocol: &Value, metadata: &Value) -> Result<ResponseFormat> {
    let features: Vec<String> = protocol
        .get("readerFeatures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_ascii_lowercase))
        .collect();
    let column_mapping =
        metadata.get("configuration").and_then(|c| c.get("delta.columnMapping.mode")).and_then(Value::as_str).is_some_and(|m| m != "none");
    let mut needs: Vec<String> = features.iter().filter(|f| !PLAIN_FEATURES.contains(&f.as_str())).cloned().collect();
    if column_mapping && !needs.iter().any(|f| f == "columnmapping") {
        needs.push("columnmapping".into());
    }
    if needs.is_empty() && caps.accepts("parquet") {
        return Ok(ResponseFormat::Parquet);
    }
    if !caps.accepts("delta") {
        return Err(SharingError::BadRequest(format!(
            "table {table} uses {} and can be read only in the delta response format; send the header \
             '{CAPABILITIES_HEADER}: responseformat=delta;readerfeatures={}'",
            needs.join(", "),
            needs.join(",")
        )));
    }
    let missing: Vec<&String> = needs.iter().filter(|f| !caps.reader_features.contains(f)).collect();
    if !missing.is_empty() && !caps.reader_features.is_empty() {
        return Err(SharingError::BadRequest(format!(
            "table {table} needs the reader features {missing:?}, which the client did not list in {CAPABILITIES_HEADER}"
        )));
    }
    Ok(ResponseFormat::Delta)
}

/// `maxResults` and `pageToken` of a listing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub max_results: Option<String>,
    pub page_token: Option<String>,
}

/// Listings return at most this many items per page unless asked for fewer.
pub const DEFAULT_PAGE_SIZE: usize = 500;

/// One page of `items` as the protocol's `{"items": [...], "nextPageToken": "..."}`. The token
/// is opaque to clients; it names the listing it belongs to and the offset to continue at.
pub fn paginate<T: Serialize>(items: Vec<T>, page: &Page, listing: &str) -> Result<Value> {
    let max = match page.max_results.as_deref() {
        None | Some("") => DEFAULT_PAGE_SIZE,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n > 0 => (n as usize).min(DEFAULT_PAGE_SIZE),
            _ => return Err(SharingError::BadRequest(format!("maxResults must be a positive number, got '{text}'"))),
        },
    };
    let start = match page.page_token.as_deref() {
        None | Some("") => 0,
        Some(token) => decode_token(token, listing)
            .ok_or_else(|| SharingError::BadRequest(format!("pageToken '{token}' is not a token of this listing")))?,
    };
    let total = items.len();
    let page_items: Vec<Value> = items.into_iter().skip(start).take(max).map(|i| serde_json::to_value(i).unwrap_or(Value::Null)).collect();
    let mut out = serde_json::json!({ "items": page_items });
    if start + max < total {
        out["nextPageToken"] = Value::String(URL_SAFE_NO_PAD.encode(format!("{listing}\n{}", start + max)));
    }
    Ok(out)
}

fn decode_token(token: &str, listing: &str) -> Option<usize> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (kind, offset) = text.rsplit_once('\n')?;
    (kind == listing).then_some(())?;
    offset.parse().ok()
}

/// The body of `POST .../query`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryRequest {
    pub predicate_hints: Option<Vec<String>>,
    pub json_predicate_hints: Option<String>,
    pub limit_hint: Option<i64>,
    pub version: Option<i64>,
    pub timestamp: Option<String>,
    pub starting_version: Option<i64>,
    pub ending_version: Option<i64>,
}

impl QueryRequest {
    /// Parse a request body (empty means no parameters); a malformed body is a 400 that says why.
    pub fn parse(body: &[u8]) -> Result<Self> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let request: QueryRequest =
            serde_json::from_slice(body).map_err(|e| SharingError::BadRequest(format!("the query request body is not valid: {e}")))?;
        let travels = [request.version.is_some(), request.timestamp.is_some(), request.starting_version.is_some()];
        if travels.iter().filter(|t| **t).count() > 1 {
            return Err(SharingError::BadRequest("give at most one of version, timestamp and startingVersion".into()));
        }
        if request.ending_version.is_some() && request.starting_version.is_none() {
            return Err(SharingError::BadRequest("endingVersion needs startingVersion".into()));
        }
        for (name, value) in
            [("limitHint", request.limit_hint), ("version", request.version), ("startingVersion", request.starting_version)]
        {
            if value.is_some_and(|v| v < 0) {
                return Err(SharingError::BadRequest(format!("{name} must not be negative")));
            }
        }
        Ok(request)
    }
}

/// A query-string parameter as a number, or a 400 naming it.
pub fn number_param(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>> {
    match params.get(name) {
        None => Ok(None),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .map(Some)
            .ok_or_else(|| SharingError::BadRequest(format!("{name} must be a version number (0 or more), got '{text}'"))),
    }
}

/// A timestamp parameter (`2022-01-01T00:00:00Z` or `yyyy-mm-dd hh:mm:ss[.f]`, UTC).
pub fn timestamp_param(params: &HashMap<String, String>, name: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    match params.get(name) {
        None => Ok(None),
        Some(text) => parse_timestamp(text)
            .map(Some)
            .ok_or_else(|| SharingError::BadRequest(format!("{name} must be a timestamp like 2022-01-01T00:00:00Z, got '{text}'"))),
    }
}

pub fn parse_timestamp(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    crate::predicate::parse_timestamp_micros(text.trim()).and_then(chrono::DateTime::from_timestamp_micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_format_follows_the_table_and_the_client() {
        let plain = json!({"minReaderVersion": 1, "minWriterVersion": 2});
        let dv = json!({"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["deletionVectors"]});
        let meta = json!({"configuration": {}});
        let both = Capabilities::parse(Some("responseformat=delta,parquet;readerfeatures=deletionvectors,columnmapping"));
        let none = Capabilities::parse(None);
        let delta_only = Capabilities::parse(Some("responseformat=delta"));
        assert_eq!(choose_format(&both, "t", &plain, &meta).expect("f"), ResponseFormat::Parquet);
        assert_eq!(choose_format(&none, "t", &plain, &meta).expect("f"), ResponseFormat::Parquet);
        assert_eq!(choose_format(&delta_only, "t", &plain, &meta).expect("f"), ResponseFormat::Delta);
        assert_eq!(choose_format(&both, "t", &dv, &meta).expect("f"), ResponseFormat::Delta);
        let err = choose_format(&none, "t", &dv, &meta).expect_err("parquet cannot carry deletion vectors");
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("responseformat=delta"), "{err}");
    }

    #[test]
    fn pages_continue_where_the_token_says() {
        let items: Vec<i32> = (0..5).collect();
        let page = |max: &str, token: Option<String>| Page { max_results: Some(max.into()), page_token: token };
        let first = paginate(items.clone(), &page("2", None), "shares").expect("page");
        assert_eq!(first["items"], json!([0, 1]));
        let token = first["nextPageToken"].as_str().expect("token").to_string();
        let second = paginate(items.clone(), &page("3", Some(token.clone())), "shares").expect("page");
        assert_eq!(second["items"], json!([2, 3, 4]));
        assert!(second.get("nextPageToken").is_none());
        assert_eq!(paginate(items.clone(), &page("2", Some(token)), "schemas").expect_err("other listing").status(), 400);
        assert_eq!(paginate(items.clone(), &page("0", None), "shares").expect_err("zero").status(), 400);
        assert_eq!(paginate(items, &page("x", None), "shares").expect_err("nan").status(), 400);
    }

    #[test]
    fn query_bodies_are_checked() {
        assert!(QueryRequest::parse(b"").expect("empty").version.is_none());
        assert_eq!(QueryRequest::parse(br#"{"limitHint": 3}"#).expect("ok").limit_hint, Some(3));
        for bad in [&b"{"[..], br#"{"limitHint": "x"}"#, br#"{"version": 1, "timestamp": "2022-01-01T00:00:00Z"}"#, br#"{"version": -1}"#] {
            assert_eq!(QueryRequest::parse(bad).expect_err("bad").status(), 400);
        }
    }
}
