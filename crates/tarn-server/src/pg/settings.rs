//! `pg_catalog.pg_settings`: the server's settings as Postgres clients read them (pgjdbc asks
//! for `max_index_keys`, BI tools for the version and encodings). A connection's own `SET`
//! values are what `SHOW` and `current_setting` report; this view lists the defaults.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemTable;

use crate::error::{Result, ServerError};

/// Fixed properties of the server that clients look up, beyond the session defaults.
const CONSTANTS: &[(&str, &str, &str)] = &[
    ("max_index_keys", "32", "Preset Options"),
    ("max_function_args", "100", "Preset Options"),
    ("block_size", "8192", "Preset Options"),
    ("max_connections", "1000", "Connections and Authentication"),
    ("ssl", "off", "Connections and Authentication"),
];

/// The view's rows: the session defaults plus the constants, sorted by name.
pub(crate) fn table(tls: bool) -> Result<Arc<MemTable>> {
    let mut rows: Vec<(String, String, String)> = super::commands::default_settings("", "")
        .into_iter()
        .filter(|(name, _)| !matches!(name.as_str(), "session_authorization" | "application_name"))
        .map(|(name, value)| (name, value, "Client Connection Defaults".to_string()))
        .collect();
    for (name, value, category) in CONSTANTS {
        let value = if *name == "ssl" && tls { "on" } else { value };
        rows.push((name.to_string(), value.to_string(), category.to_string()));
    }
    rows.sort();
    type Row = (String, String, String);
    let text = |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef { Arc::new(rows.iter().map(f).collect::<StringArray>()) };
    let columns = [
        ("name", text(&|r| Some(r.0.clone()))),
        ("setting", text(&|r| Some(r.1.clone()))),
        ("unit", text(&|_| None)),
        ("category", text(&|r| Some(r.2.clone()))),
        ("short_desc", text(&|_| None)),
        ("extra_desc", text(&|_| None)),
        ("context", text(&|_| Some("user".into()))),
        ("vartype", text(&|_| Some("string".into()))),
        ("source", text(&|_| Some("default".into()))),
        ("min_val", text(&|_| None)),
        ("max_val", text(&|_| None)),
        ("enumvals", text(&|_| None)),
        ("boot_val", text(&|r| Some(r.1.clone()))),
        ("reset_val", text(&|r| Some(r.1.clone()))),
        ("sourcefile", text(&|_| None)),
    ];
    let schema = Arc::new(Schema::new(columns.iter().map(|(name, _)| Field::new(*name, DataType::Utf8, true)).collect::<Vec<_>>()));
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect())
        .map_err(|e| ServerError::Internal(format!("pg_settings: {e}")))?;
    MemTable::try_new(schema, vec![vec![batch]]).map(Arc::new).map_err(|e| ServerError::Internal(format!("pg_settings: {e}")))
}
