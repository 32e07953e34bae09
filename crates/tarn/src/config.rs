//! Settings: CLI flags, then `TARN_*` environment variables, then an optional TOML file, then
//! defaults. (clap already folds the environment into the flags it declares.)

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    warehouse: Option<String>,
    format: Option<String>,
    target_partitions: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub warehouse: String,
    pub format: Option<String>,
    pub target_partitions: Option<usize>,
}

impl Settings {
    pub fn load(config_path: Option<&str>, warehouse_flag: Option<String>) -> Result<Self, String> {
        let file = match config_path {
            Some(path) => Some(read(path)?),
            None if std::path::Path::new("tarn.toml").is_file() => Some(read("tarn.toml")?),
            None => None,
        }
        .unwrap_or_default();
        let target_partitions = match std::env::var("TARN_TARGET_PARTITIONS") {
            Ok(v) => Some(v.parse().map_err(|_| format!("TARN_TARGET_PARTITIONS must be a number, got '{v}'"))?),
            Err(_) => file.target_partitions,
        };
        Ok(Self {
            warehouse: warehouse_flag.or(file.warehouse).unwrap_or_else(|| "warehouse".into()),
            format: file.format,
            target_partitions,
        })
    }
}

fn read(path: &str) -> Result<FileSettings, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config {path}: {e}"))?;
    toml::from_str(&text).map_err(|e| format!("config {path}: {e}"))
}
