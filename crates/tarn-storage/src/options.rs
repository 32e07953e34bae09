//! How Tarn reaches object storage: S3 settings, the disk cache, test-only fault injection.
//!
//! Credentials and endpoints come from Tarn's settings (flags, `TARN_*`, `tarn.toml`) first,
//! then from the standard AWS environment variables (what `object_store` reads), then from the
//! AWS shared files
//! (`~/.aws/credentials`, `~/.aws/config`, profile `AWS_PROFILE` or `default`).

use std::collections::HashMap;
use std::path::PathBuf;

use crate::faults::FaultPlan;

/// Everything the storage layer needs to build object stores. Set once per process with
/// [`crate::configure`]; every store built afterwards (warehouse, tables, files) uses it.
#[derive(Debug, Clone, Default)]
pub struct StorageOptions {
    pub s3: S3Options,
    /// Raw `object_store` options (`google_service_account`, `azure_storage_account_name`, ...)
    /// passed to the GCS and Azure builders.
    pub extra: HashMap<String, String>,
    /// A local disk cache for remote data files; `None` disables it.
    pub cache: Option<CacheOptions>,
    /// Faults to inject into every store (tests only).
    pub faults: Option<FaultPlan>,
}

/// S3 and S3-compatible stores. `None` fields fall back to the AWS environment and profile.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub allow_http: Option<bool>,
    /// `true` for path-style requests (`http://host/bucket/key`, the default, which most
    /// S3-compatible servers need); `false` for virtual-hosted style.
    pub path_style: Option<bool>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// The AWS shared-config profile to read (default: `AWS_PROFILE`, then `default`).
    pub profile: Option<String>,
}

/// The local disk cache of remote data files.
#[derive(Debug, Clone)]
pub struct CacheOptions {
    pub dir: PathBuf,
    pub max_bytes: u64,
}

impl CacheOptions {
    /// `$XDG_CACHE_HOME/tarn/files` (or `~/.cache/tarn/files`), 10 GiB.
    pub fn default_location() -> Self {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        Self { dir: base.join("tarn").join("files"), max_bytes: 10 << 30 }
    }
}

/// One profile's values from the AWS shared files.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct AwsProfile {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

impl AwsProfile {
    /// Read `profile` from `~/.aws/credentials` and `~/.aws/config` (paths overridable with
    /// `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`). Missing files mean an empty profile.
    pub fn load(profile: &str) -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        let path = |var: &str, default: &str| std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| home.join(".aws").join(default));
        let credentials = std::fs::read_to_string(path("AWS_SHARED_CREDENTIALS_FILE", "credentials")).unwrap_or_default();
        let config = std::fs::read_to_string(path("AWS_CONFIG_FILE", "config")).unwrap_or_default();
        let mut values = ini_section(&config, &if profile == "default" { "default".to_string() } else { format!("profile {profile}") });
        values.extend(ini_section(&credentials, profile));
        let mut take = |key: &str| values.remove(key);
        Self {
            access_key_id: take("aws_access_key_id"),
            secret_access_key: take("aws_secret_access_key"),
            session_token: take("aws_session_token"),
            region: take("region"),
            endpoint_url: take("endpoint_url"),
        }
    }
}

/// The `key = value` pairs of section `[name]` of an INI text.
fn ini_section(text: &str, name: &str) -> HashMap<String, String> {
    let mut values = HashMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = section.trim() == name;
            continue;
        }
        if inside && let Some((key, value)) = line.split_once('=') {
            values.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections_are_read_by_name() {
        let text = "[default]\naws_access_key_id = A\n\n[profile dev]\nregion=eu-west-1\n# note\nendpoint_url = http://x\n";
        assert_eq!(ini_section(text, "default").get("aws_access_key_id").map(String::as_str), Some("A"));
        let dev = ini_section(text, "profile dev");
        assert_eq!(dev.get("region").map(String::as_str), Some("eu-west-1"));
        assert_eq!(dev.get("endpoint_url").map(String::as_str), Some("http://x"));
        assert!(ini_section(text, "other").is_empty());
    }
}
