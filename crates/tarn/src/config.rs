//! Settings: CLI flags, then `TARN_*` environment variables, then an optional TOML file, then
//! defaults. (clap already folds the environment into the flags it declares, so a flag's
//! `Option` is `Some` when either was given.)
//!
//! ```toml
//! warehouse = "./lake"
//! format = "table"
//! target_partitions = 4
//! memory_limit = "4GiB"        # for all queries of the process together; spills beyond it
//! spill_dir = "/var/tmp/tarn"
//! target_file_size = "128MiB"  # data files written and compacted (a table's delta.targetFileSize wins)
//! parquet_compression = "snappy" # codec of written data files: snappy, zstd, zstd(LEVEL), lz4_raw, gzip, uncompressed
//!
//! [storage]                  # object stores (S3 and S3-compatible; AWS_* variables also work)
//! endpoint = "http://127.0.0.1:9000"
//! region = "us-east-1"
//! allow_http = true
//! path_style = true            # default; false for virtual-hosted-style requests
//! profile = "dev"              # AWS shared-config profile (default: AWS_PROFILE, then default)
//! options = { google_service_account = "/path/key.json" }   # raw object_store keys (GCS, Azure)
//!
//! [cache]                      # local disk cache of remote data files
//! enabled = true
//! dir = "/var/cache/tarn"      # default ~/.cache/tarn/files
//! max_size = "10GiB"
//!
//! [commit]                     # when another writer committed first
//! max_retries = 10000
//! backoff_base_ms = 5          # doubled after every lost race, with jitter
//! backoff_max_ms = 250
//!
//! [sharing]                  # Delta Sharing (served by `tarn serve` under /delta-sharing/)
//! endpoint = "https://lake.example.com/delta-sharing"  # what recipients reach; default: the HTTP address
//! url_lifetime_secs = 3600     # how long the file URLs handed to recipients stay valid
//!
//! [serve]
//! http_addr = "127.0.0.1:8080" # or "off"
//! pg_addr = "127.0.0.1:5433"
//! flight_addr = "off"
//! pg_tls_cert = "server.crt"   # PEM; with pg_tls_key, Postgres clients may use TLS
//! pg_tls_key = "server.key"
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    warehouse: Option<String>,
    format: Option<String>,
    target_partitions: Option<usize>,
    memory_limit: Option<ByteSize>,
    spill_dir: Option<PathBuf>,
    target_file_size: Option<ByteSize>,
    parquet_compression: Option<String>,
    #[serde(default)]
    serve: ServeFileSettings,
    #[serde(default)]
    storage: StorageFileSettings,
    #[serde(default)]
    cache: CacheFileSettings,
    #[serde(default)]
    commit: CommitFileSettings,
    #[serde(default)]
    sharing: SharingFileSettings,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SharingFileSettings {
    endpoint: Option<String>,
    url_lifetime_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageFileSettings {
    endpoint: Option<String>,
    region: Option<String>,
    allow_http: Option<bool>,
    path_style: Option<bool>,
    profile: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    #[serde(default)]
    options: std::collections::HashMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFileSettings {
    enabled: Option<bool>,
    dir: Option<PathBuf>,
    max_size: Option<ByteSize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitFileSettings {
    max_retries: Option<usize>,
    backoff_base_ms: Option<u64>,
    backoff_max_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeFileSettings {
    http_addr: Option<String>,
    pg_addr: Option<String>,
    flight_addr: Option<String>,
    pg_tls_cert: Option<PathBuf>,
    pg_tls_key: Option<PathBuf>,
}

/// A size in bytes, written as a number or as a string with a unit (`"512MiB"`, `"4GB"`).
#[derive(Debug, Clone, Copy)]
struct ByteSize(usize);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(usize),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(t) => parse_byte_size(&t).map(ByteSize).map_err(serde::de::Error::custom),
        }
    }
}

/// Flags (and their environment variables) the settings are built from.
#[derive(Debug, Default)]
pub struct Flags {
    pub config: Option<String>,
    pub warehouse: Option<String>,
    pub memory_limit: Option<String>,
    pub spill_dir: Option<PathBuf>,
}

/// `tarn serve`'s flags; `None` where neither the flag nor its variable was given.
#[derive(Debug, Default)]
pub struct ServeFlags {
    pub http_addr: Option<String>,
    pub pg_addr: Option<String>,
    pub flight_addr: Option<String>,
    pub pg_tls_cert: Option<PathBuf>,
    pub pg_tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub warehouse: String,
    pub format: Option<String>,
    pub target_partitions: Option<usize>,
    pub memory_limit: Option<usize>,
    pub spill_dir: Option<PathBuf>,
    pub target_file_size: std::num::NonZeroU64,
    pub data_files: tarn_engine::DataFileOptions,
    pub storage: tarn_storage::StorageOptions,
    pub commit_retry: tarn_engine::CommitRetry,
    /// The Delta Sharing endpoint recipients reach, if configured (`TARN_SHARING_ENDPOINT`).
    pub sharing_endpoint: Option<String>,
    /// How long file URLs handed to recipients stay valid (`TARN_SHARING_URL_LIFETIME_SECS`).
    pub sharing_url_lifetime: std::time::Duration,
    file_serve: ServeFile,
}

#[derive(Debug, Clone, Default)]
struct ServeFile {
    http_addr: Option<String>,
    pg_addr: Option<String>,
    flight_addr: Option<String>,
    pg_tls_cert: Option<PathBuf>,
    pg_tls_key: Option<PathBuf>,
}

/// Where `tarn serve` listens, resolved.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub http_addr: Option<SocketAddr>,
    pub pg_addr: Option<SocketAddr>,
    pub flight_addr: Option<SocketAddr>,
    pub pg_tls: Option<(PathBuf, PathBuf)>,
}

impl Settings {
    pub fn load(flags: Flags) -> Result<Self, String> {
        let file = match flags.config.as_deref() {
            Some(path) => Some(read(path)?),
            None if std::path::Path::new("tarn.toml").is_file() => Some(read("tarn.toml")?),
            None => None,
        }
        .unwrap_or_default();
        let target_partitions = match std::env::var("TARN_TARGET_PARTITIONS") {
            Ok(v) => Some(v.parse().map_err(|_| format!("TARN_TARGET_PARTITIONS must be a number, got '{v}'"))?),
            Err(_) => file.target_partitions,
        };
        let memory_limit = match flags.memory_limit {
            Some(text) => Some(parse_byte_size(&text).map_err(|e| format!("--memory-limit: {e}"))?),
            None => file.memory_limit.map(|b| b.0),
        };
        let target_file_size = match std::env::var("TARN_TARGET_FILE_SIZE") {
            Ok(text) => Some(parse_byte_size(&text).map_err(|e| format!("TARN_TARGET_FILE_SIZE: {e}"))?),
            Err(_) => file.target_file_size.map(|b| b.0),
        };
        let target_file_size = match target_file_size {
            None => tarn_sql::DEFAULT_TARGET_FILE_SIZE,
            Some(size) => std::num::NonZeroU64::new(size as u64).ok_or("target_file_size must be more than 0 bytes (e.g. 128MiB)")?,
        };
        let mut data_files = tarn_engine::DataFileOptions::default();
        let compression = match std::env::var("TARN_PARQUET_COMPRESSION") {
            Ok(name) => Some(("TARN_PARQUET_COMPRESSION", name)),
            Err(_) => file.parquet_compression.clone().map(|name| ("parquet_compression", name)),
        };
        if let Some((origin, name)) = compression {
            data_files.compression = tarn_engine::parse_compression(&name).map_err(|e| format!("{origin}: {e}"))?;
        }
        let storage = storage_options(&file)?;
        let commit_retry = commit_retry(&file.commit)?;
        let sharing_endpoint = std::env::var("TARN_SHARING_ENDPOINT").ok().or_else(|| file.sharing.endpoint.clone());
        if let Some(endpoint) = &sharing_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(format!("the sharing endpoint must be an http:// or https:// URL, got '{endpoint}'"));
        }
        let url_lifetime = match std::env::var("TARN_SHARING_URL_LIFETIME_SECS") {
            Ok(v) => Some(v.parse::<u64>().map_err(|_| format!("TARN_SHARING_URL_LIFETIME_SECS must be a number of seconds, got '{v}'"))?),
            Err(_) => file.sharing.url_lifetime_secs,
        };
        let sharing_url_lifetime = match url_lifetime {
            Some(0) => return Err("the sharing URL lifetime must be at least 1 second".into()),
            Some(secs) => std::time::Duration::from_secs(secs),
            None => std::time::Duration::from_secs(3600),
        };
        Ok(Self {
            sharing_endpoint: sharing_endpoint.map(|e| e.trim_end_matches('/').to_string()),
            sharing_url_lifetime,
            storage,
            commit_retry,
            warehouse: flags.warehouse.or(file.warehouse).unwrap_or_else(|| "warehouse".into()),
            format: file.format,
            target_partitions,
            memory_limit,
            spill_dir: flags.spill_dir.or(file.spill_dir),
            target_file_size,
            data_files,
            file_serve: ServeFile {
                http_addr: file.serve.http_addr,
                pg_addr: file.serve.pg_addr,
                flight_addr: file.serve.flight_addr,
                pg_tls_cert: file.serve.pg_tls_cert,
                pg_tls_key: file.serve.pg_tls_key,
            },
        })
    }

    /// The listeners of `tarn serve`: flags, then the `[serve]` table, then the defaults.
    /// The Delta Sharing endpoint for activation links when none is configured: where
    /// `tarn serve` with these settings (`TARN_HTTP_ADDR`, `[serve] http_addr`) answers, so a
    /// `CREATE RECIPIENT` run from a local `tarn sql` links to the server that will serve it.
    pub fn served_sharing_endpoint(&self) -> Option<String> {
        let flags = ServeFlags { http_addr: std::env::var("TARN_HTTP_ADDR").ok(), ..ServeFlags::default() };
        let http = self.serve(flags).ok()?.http_addr?;
        Some(format!("http://{http}/delta-sharing"))
    }

    pub fn serve(&self, flags: ServeFlags) -> Result<ServeSettings, String> {
        let file = &self.file_serve;
        let listen = |name: &str, flag: Option<String>, file: &Option<String>, default: &str| {
            let value = flag.or_else(|| file.clone()).unwrap_or_else(|| default.to_string());
            parse_listen(&value).map_err(|e| format!("{name}: {e}"))
        };
        let cert = flags.pg_tls_cert.or_else(|| file.pg_tls_cert.clone());
        let key = flags.pg_tls_key.or_else(|| file.pg_tls_key.clone());
        let pg_tls = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err("give both --pg-tls-cert and --pg-tls-key (a PEM certificate chain and its private key), or neither".into()),
        };
        Ok(ServeSettings {
            http_addr: listen("--http-addr", flags.http_addr, &file.http_addr, "127.0.0.1:8080")?,
            pg_addr: listen("--pg-addr", flags.pg_addr, &file.pg_addr, "127.0.0.1:5433")?,
            flight_addr: listen("--flight-addr", flags.flight_addr, &file.flight_addr, "127.0.0.1:50051")?,
            pg_tls,
        })
    }
}

/// `TARN_*` variables over the `[storage]` and `[cache]` tables.
fn storage_options(file: &FileSettings) -> Result<tarn_storage::StorageOptions, String> {
    let storage = &file.storage;
    let text = |var: &str, value: &Option<String>| std::env::var(var).ok().or_else(|| value.clone());
    let flag = |var: &str, value: Option<bool>| -> Result<Option<bool>, String> {
        match std::env::var(var) {
            Ok(v) => parse_bool(&v).map(Some).ok_or_else(|| format!("{var} must be true or false, got '{v}'")),
            Err(_) => Ok(value),
        }
    };
    let s3 = tarn_storage::S3Options {
        endpoint: text("TARN_S3_ENDPOINT", &storage.endpoint),
        region: text("TARN_S3_REGION", &storage.region),
        allow_http: flag("TARN_S3_ALLOW_HTTP", storage.allow_http)?,
        path_style: flag("TARN_S3_PATH_STYLE", storage.path_style)?,
        access_key_id: storage.access_key_id.clone(),
        secret_access_key: storage.secret_access_key.clone(),
        session_token: storage.session_token.clone(),
        profile: text("TARN_S3_PROFILE", &storage.profile),
    };
    let cache = if flag("TARN_CACHE", file.cache.enabled)?.unwrap_or(true) {
        let mut cache = tarn_storage::CacheOptions::default_location();
        if let Some(dir) = std::env::var_os("TARN_CACHE_DIR").map(PathBuf::from).or_else(|| file.cache.dir.clone()) {
            cache.dir = dir;
        }
        match std::env::var("TARN_CACHE_MAX_SIZE") {
            Ok(v) => cache.max_bytes = parse_byte_size(&v).map_err(|e| format!("TARN_CACHE_MAX_SIZE: {e}"))? as u64,
            Err(_) => {
                if let Some(size) = file.cache.max_size {
                    cache.max_bytes = size.0 as u64;
                }
            }
        }
        Some(cache)
    } else {
        None
    };
    // Test-only: inject object-store faults into this process (see tarn_storage::faults).
    let faults = match std::env::var("TARN_FAULTS") {
        Ok(plan) => Some(plan.parse().map_err(|e| format!("TARN_FAULTS: {e}"))?),
        Err(_) => None,
    };
    Ok(tarn_storage::StorageOptions { s3, extra: storage.options.clone(), cache, faults })
}

fn commit_retry(file: &CommitFileSettings) -> Result<tarn_engine::CommitRetry, String> {
    let number = |var: &str, value: Option<u64>| -> Result<Option<u64>, String> {
        match std::env::var(var) {
            Ok(v) => v.parse().map(Some).map_err(|_| format!("{var} must be a number, got '{v}'")),
            Err(_) => Ok(value),
        }
    };
    let defaults = tarn_engine::CommitRetry::default();
    let ms = std::time::Duration::from_millis;
    Ok(tarn_engine::CommitRetry {
        max_retries: number("TARN_COMMIT_MAX_RETRIES", file.max_retries.map(|n| n as u64))?.map_or(defaults.max_retries, |n| n as usize),
        base_backoff: number("TARN_COMMIT_BACKOFF_BASE_MS", file.backoff_base_ms)?.map_or(defaults.base_backoff, ms),
        max_backoff: number("TARN_COMMIT_BACKOFF_MAX_MS", file.backoff_max_ms)?.map_or(defaults.max_backoff, ms),
    })
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A listener address, or `off` for none.
fn parse_listen(value: &str) -> Result<Option<SocketAddr>, String> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|e| format!("'{value}' is not an address like 127.0.0.1:5433 or 'off': {e}"))
}

/// `"4GiB"`, `"512 MB"`, `"1048576"`: binary units (KiB, MiB, GiB, TiB), decimal units (KB,
/// MB, GB, TB; K/M/G/T mean the binary ones, as in most tools), or plain bytes.
pub fn parse_byte_size(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("'{text}' is not a size like 512MiB, 4GiB or a number of bytes"))?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024.0_f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        other => {
            return Err(format!("unknown unit '{other}' in '{text}'; use B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB)"));
        }
    };
    let bytes = number * multiplier;
    if !bytes.is_finite() || bytes < 0.0 || bytes > usize::MAX as f64 {
        return Err(format!("'{text}' is out of range"));
    }
    Ok(bytes as usize)
}

fn read(path: &str) -> Result<FileSettings, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config {path}: {e}"))?;
    toml::from_str(&text).map_err(|e| format!("config {path}: {e}"))
}

/// The share of the machine's memory `tarn serve` lets queries use when no limit is set.
const SERVER_MEMORY_SHARE: f64 = 0.6;

/// `tarn serve`'s memory limit when none is configured: [`SERVER_MEMORY_SHARE`] of the
/// container's limit (cgroup v2 `memory.max`) or else of the machine's memory; `None` where
/// neither can be read.
pub fn default_server_memory_limit() -> Option<usize> {
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().and_then(|text| text.trim().parse::<u64>().ok());
    let machine = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    });
    let total = match (cgroup, machine) {
        (Some(c), Some(m)) => c.min(m),
        (c, m) => c.or(m)?,
    };
    Some((total as f64 * SERVER_MEMORY_SHARE) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_take_binary_and_decimal_units() {
        assert_eq!(parse_byte_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_byte_size("512MiB"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_byte_size("4 GiB"), Ok(4 << 30));
        assert_eq!(parse_byte_size("2g"), Ok(2 << 30));
        assert_eq!(parse_byte_size("1.5GB"), Ok(1_500_000_000));
        assert!(parse_byte_size("lots").is_err());
        assert!(parse_byte_size("4 parsecs").expect_err("bad unit").contains("unknown unit"));
    }

    #[test]
    fn a_zero_target_file_size_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tarn.toml");
        std::fs::write(&path, "target_file_size = \"0\"\n").expect("write");
        let err = Settings::load(Flags { config: Some(path.to_string_lossy().into_owned()), ..Flags::default() }).expect_err("zero size");
        assert!(err.contains("target_file_size must be more than 0 bytes"), "{err}");
    }

    #[test]
    fn the_parquet_codec_comes_from_the_file_and_a_bad_one_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tarn.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).expect("write");
            Settings::load(Flags { config: Some(path.to_string_lossy().into_owned()), ..Flags::default() })
        };
        let default = load("").expect("load");
        assert_eq!(default.data_files.compression, parquet::basic::Compression::SNAPPY);
        let lz4 = load("parquet_compression = \"lz4_raw\"\n").expect("load");
        assert_eq!(lz4.data_files.compression, parquet::basic::Compression::LZ4_RAW);
        let err = load("parquet_compression = \"lzo\"\n").expect_err("lzo");
        assert!(err.contains("parquet_compression: 'lzo' is not a Parquet compression codec"), "{err}");
    }

    #[test]
    fn the_sharing_table_is_read_and_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tarn.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).expect("write");
            Settings::load(Flags { config: Some(path.to_string_lossy().into_owned()), ..Flags::default() })
        };
        let default = load("").expect("load");
        assert_eq!((default.sharing_endpoint, default.sharing_url_lifetime.as_secs()), (None, 3600));
        let set = load("[sharing]\nendpoint = \"https://lake.example.com/delta-sharing/\"\nurl_lifetime_secs = 60\n").expect("load");
        assert_eq!(set.sharing_endpoint.as_deref(), Some("https://lake.example.com/delta-sharing"));
        assert_eq!(set.sharing_url_lifetime.as_secs(), 60);
        let err = load("[sharing]\nendpoint = \"lake.example.com\"\n").expect_err("no scheme");
        assert!(err.contains("http:// or https://"), "{err}");
        let err = load("[sharing]\nurl_lifetime_secs = 0\n").expect_err("zero");
        assert!(err.contains("at least 1 second"), "{err}");
    }

    #[test]
    fn listeners_come_from_flags_then_file_then_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tarn.toml");
        std::fs::write(
            &path,
            "memory_limit = \"256MiB\"\ntarget_file_size = \"64MiB\"\n[serve]\npg_addr = \"127.0.0.1:6000\"\nflight_addr = \"off\"\n",
        )
        .expect("write");
        let settings = Settings::load(Flags { config: Some(path.to_string_lossy().into_owned()), ..Flags::default() }).expect("load");
        assert_eq!(settings.memory_limit, Some(256 << 20));
        assert_eq!(settings.target_file_size.get(), 64 << 20);
        let serve = settings.serve(ServeFlags { http_addr: Some("127.0.0.1:9000".into()), ..ServeFlags::default() }).expect("serve");
        assert_eq!(serve.http_addr, Some("127.0.0.1:9000".parse().expect("addr")));
        assert_eq!(serve.pg_addr, Some("127.0.0.1:6000".parse().expect("addr")));
        assert_eq!(serve.flight_addr, None);
        let half_tls = settings.serve(ServeFlags { pg_tls_cert: Some("c.pem".into()), ..ServeFlags::default() });
        assert!(half_tls.expect_err("half TLS").contains("both"));
    }

    #[test]
    fn storage_cache_and_commit_tables_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tarn.toml");
        std::fs::write(
            &path,
            "[storage]\nendpoint = \"http://127.0.0.1:9\"\nallow_http = true\n[cache]\nmax_size = \"1MiB\"\n[commit]\nmax_retries = 7\nbackoff_max_ms = 50\n",
        )
        .expect("write");
        let settings = Settings::load(Flags { config: Some(path.to_string_lossy().into_owned()), ..Flags::default() }).expect("load");
        assert_eq!(settings.storage.s3.endpoint.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(settings.storage.s3.allow_http, Some(true));
        assert_eq!(settings.storage.cache.as_ref().map(|c| c.max_bytes), Some(1 << 20));
        assert_eq!(settings.commit_retry.max_retries, 7);
        assert_eq!(settings.commit_retry.max_backoff, std::time::Duration::from_millis(50));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tarn.toml");
        std::fs::write(&path, "[serve]\npg_adr = \"x\"\n").expect("write");
        let err = Settings::load(Flags { config: Some(path.to_string_lossy().into_owned()), ..Flags::default() }).expect_err("unknown key");
        assert!(err.contains("pg_adr"), "{err}");
    }
}
