//! `pipeline.toml`: where a pipeline's tables go and how it runs. Every key is optional.
//!
//! ```toml
//! name = "orders"            # default: the folder's name
//! catalog = "main"           # default: main
//! schema = "default"         # default: default
//! event_log = "orders_event_log"   # default: <name>_event_log, in the same schema
//! trigger_interval_ms = 1000 # --continuous: how often to look for new input
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::error::{PipelineError, Result};

pub const FILE_NAME: &str = "pipeline.toml";

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    name: Option<String>,
    catalog: Option<String>,
    schema: Option<String>,
    event_log: Option<String>,
    trigger_interval_ms: Option<u64>,
}

/// A pipeline's settings, defaults filled in.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub name: String,
    pub catalog: String,
    pub schema: String,
    /// The event log table's name (in `catalog.schema`).
    pub event_log: String,
    pub trigger_interval_ms: u64,
}

fn identifier(what: &str, value: &str) -> Result<String> {
    let ok = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(PipelineError::Definition(format!("{FILE_NAME}: {what} '{value}' must be letters, digits and underscores")));
    }
    Ok(value.to_ascii_lowercase())
}

impl PipelineConfig {
    /// Read `dir/pipeline.toml` if it exists.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(FILE_NAME);
        let file: File = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| PipelineError::Definition(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(source) => return Err(PipelineError::Io { path: path.display().to_string(), source }),
        };
        let folder = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "pipeline".into());
        let default_name: String = folder.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
        let name = identifier("name", file.name.as_deref().unwrap_or(&default_name))?;
        Ok(PipelineConfig {
            catalog: identifier("catalog", file.catalog.as_deref().unwrap_or("main"))?,
            schema: identifier("schema", file.schema.as_deref().unwrap_or("default"))?,
            event_log: identifier("event_log", &file.event_log.unwrap_or_else(|| format!("{name}_event_log")))?,
            trigger_interval_ms: file.trigger_interval_ms.unwrap_or(1000).max(10),
            name,
        })
    }

    /// `catalog.schema.table` for a table of this pipeline.
    pub fn qualified(&self, table: &str) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, table)
    }
}
