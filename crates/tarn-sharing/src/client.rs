//! The recipient side: read a table another organisation shares, from a profile file.
//!
//! A version of a remote table is *materialized* as a small local Delta table: the server's
//! file list (asked for in the `delta` format, which carries deletion vectors; `parquet`
//! answers work too) becomes one commit whose adds name local copies of the files. Files are
//! downloaded once per file id (the protocol promises an id names the same content) into
//! `~/.cache/tarn/sharing/<table>/files/`, and each materialized version hard-links them, so
//! the local table reads exactly like any Delta table: statistics, partitions, deletion
//! vectors, DataFusion's scans. Nothing here writes to the remote side.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use crate::protocol::{CAPABILITIES_HEADER, TABLE_VERSION_HEADER};
use crate::{Result, SharingError};

/// What this client reads, as it tells servers.
const CLIENT_CAPABILITIES: &str = "responseformat=delta,parquet;readerfeatures=deletionvectors,columnmapping,timestampntz";

/// A profile file: where the sharing server is and the bearer token.
#[derive(Debug, Clone)]
pub struct Profile {
    pub endpoint: String,
    pub bearer_token: String,
    pub expiration_time: Option<String>,
}

impl Profile {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SharingError::BadRequest(format!("cannot read the profile file {}: {e}", path.display())))?;
        let doc: Value = serde_json::from_str(&text)
            .map_err(|e| SharingError::BadRequest(format!("the profile file {} is not JSON: {e}", path.display())))?;
        let field = |name: &str| doc.get(name).and_then(Value::as_str).map(str::to_string);
        let (Some(endpoint), Some(bearer_token)) = (field("endpoint"), field("bearerToken")) else {
            return Err(SharingError::BadRequest(format!(
                "the profile file {} needs \"endpoint\" and \"bearerToken\" (a Delta Sharing profile, version 1)",
                path.display()
            )));
        };
        Ok(Self { endpoint: endpoint.trim_end_matches('/').to_string(), bearer_token, expiration_time: field("expirationTime") })
    }
}

/// `profile.share#share.schema.table`: a profile file and a table it may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedLocation {
    /// Absolute path of the profile file.
    pub profile: PathBuf,
    pub share: String,
    pub schema: String,
    pub table: String,
}

impl SharedLocation {
    /// Parse `path#share.schema.table` (a relative path is taken from the current directory).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            SharingError::BadRequest(format!("'{text}' is not a shared table location; write '<profile file>#<share>.<schema>.<table>'"))
        };
        let (path, name) = text.rsplit_once('#').ok_or_else(bad)?;
        let parts: Vec<&str> = name.split('.').collect();
        let [share, schema, table] = parts.as_slice() else { return Err(bad()) };
        if path.is_empty() || [share, schema, table].iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let path = match Url::parse(path) {
            Ok(url) if url.scheme() == "file" => url.to_file_path().map_err(|()| bad())?,
            _ => std::path::absolute(path).map_err(|_| bad())?,
        };
        Ok(Self { profile: path, share: share.to_string(), schema: schema.to_string(), table: table.to_string() })
    }

    /// As a URL, for the catalog: `file:///abs/profile.share#share.schema.table`.
    pub fn to_url(&self) -> Result<Url> {
        let mut url = Url::from_file_path(&self.profile)
            .map_err(|()| SharingError::BadRequest(format!("'{}' is not an absolute path", self.profile.display())))?;
        url.set_fragment(Some(&format!("{}.{}.{}", self.share, self.schema, self.table)));
        Ok(url)
    }

    pub fn from_url(url: &Url) -> Result<Self> {
        let text = format!(
            "{}#{}",
            url.to_file_path().map_err(|()| SharingError::Internal(format!("{url} is not a file URL")))?.display(),
            url.fragment().unwrap_or_default()
        );
        Self::parse(&text)
    }

    fn display(&self) -> String {
        format!("{}.{}.{}", self.share, self.schema, self.table)
    }
}

/// A version of a remote table to read.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteVersion {
    Latest,
    Version(i64),
    Timestamp(chrono::DateTime<chrono::Utc>),
}

/// One table of a share, read through its profile.
pub struct RemoteTable {
    http: reqwest::Client,
    profile: Profile,
    location: SharedLocation,
    /// This table's cache directory.
    cache: PathBuf,
}

fn table_prefix(location: &SharedLocation) -> String {
    format!("/shares/{}/schemas/{}/tables/{}", location.share, location.schema, location.table)
}

impl RemoteTable {
    /// `cache_root` holds every shared table's files (`~/.cache/tarn/sharing` by default).
    pub fn new(location: SharedLocation, cache_root: &Path) -> Result<Self> {
        let profile = Profile::load(&location.profile)?;
        let key: String = Sha256::digest(format!("{}#{}", profile.endpoint, location.display()).as_bytes())
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(600))
            .build()
            .map_err(|e| SharingError::Internal(e.to_string()))?;
        Ok(Self { http, profile, location, cache: cache_root.join(key) })
    }

    /// The default cache root: `$XDG_CACHE_HOME/tarn/sharing` or `~/.cache/tarn/sharing`.
    pub fn default_cache_root() -> PathBuf {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("tarn")
            .join("sharing")
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let what = self.location.display();
        let response =
            request.bearer_auth(&self.profile.bearer_token).header(CAPABILITIES_HEADER, CLIENT_CAPABILITIES).send().await.map_err(|e| {
                SharingError::Internal(format!("cannot reach the sharing server {} for {what}: {e}", self.profile.endpoint))
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        let (code, message) = serde_json::from_str::<Value>(&body)
            .ok()
            .map(|v| {
                let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                (s("errorCode"), s("message"))
            })
            .unwrap_or_else(|| (String::new(), body.chars().take(300).collect()));
        let message = format!("the sharing server refused {what}: {message} ({code}, HTTP {})", status.as_u16());
        Err(match status.as_u16() {
            401 | 403 => SharingError::Forbidden(message),
            404 => SharingError::NotFound(message),
            400..=499 => SharingError::BadRequest(message),
            _ => SharingError::Internal(message),
        })
    }

    /// The remote table's current version.
    pub async fn version(&self) -> Result<i64> {
        let url = format!("{}{}/version", self.profile.endpoint, table_prefix(&self.location));
        let response = self.send(self.http.get(url)).await?;
        version_header(&response)
    }

    /// A local Delta table holding `version` of the remote table (its files downloaded once).
    pub async fn materialize(&self, version: &RemoteVersion) -> Result<Url> {
        let mut body = json!({});
        match version {
            RemoteVersion::Latest => {}
            RemoteVersion::Version(v) => body["version"] = json!(v),
            RemoteVersion::Timestamp(ts) => body["timestamp"] = json!(ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        }
        let url = format!("{}{}/query", self.profile.endpoint, table_prefix(&self.location));
        let response = self.send(self.http.post(url).header("content-type", "application/json").body(body.to_string())).await?;
        let remote_version = version_header(&response)?;
        let (delta, lines) = read_lines(response).await?;
        let listing = if delta { Listing::from_delta(&lines)? } else { Listing::from_parquet(&lines)? };
        self.write_local_table(remote_version, listing).await
    }

    /// A local Delta table whose commits `start ..= end` are the remote table's (its change
    /// data feed, with the remote version numbers and commit timestamps), so the engine's own
    /// change feed reads it. Earlier versions are empty placeholders. Returns the table and the
    /// range of versions it holds.
    pub async fn materialize_changes(&self, start: &RemoteVersion, end: Option<&RemoteVersion>) -> Result<(Url, i64, i64)> {
        self.sweep().await;
        let mut url = Url::parse(&format!("{}{}/changes", self.profile.endpoint, table_prefix(&self.location)))
            .map_err(|e| SharingError::BadRequest(format!("the profile's endpoint is not a URL: {e}")))?;
        {
            let mut query = url.query_pairs_mut();
            let ts = |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            match start {
                RemoteVersion::Version(v) => query.append_pair("startingVersion", &v.to_string()),
                RemoteVersion::Timestamp(t) => query.append_pair("startingTimestamp", &ts(t)),
                RemoteVersion::Latest => {
                    return Err(SharingError::BadRequest("a change range needs a starting version or timestamp".into()));
                }
            };
            match end {
                Some(RemoteVersion::Version(v)) => {
                    query.append_pair("endingVersion", &v.to_string());
                }
                Some(RemoteVersion::Timestamp(t)) => {
                    query.append_pair("endingTimestamp", &ts(t));
                }
                Some(RemoteVersion::Latest) | None => {}
            }
        }
        let response = self.send(self.http.get(url)).await?;
        let (delta, lines) = read_lines(response).await?;
        let changes = Changes::parse(&lines, delta)?;
        let first = changes.metadata.first().map(|(v, _)| *v).or(match start {
            RemoteVersion::Version(v) => Some(*v),
            _ => None,
        });
        let first = first.ok_or_else(|| missing("starting version"))?;
        let last = changes.actions.iter().map(|a| a.version).max().unwrap_or(first).max(first);
        let last = match end {
            Some(RemoteVersion::Version(v)) => last.max(*v),
            _ => last,
        };
        self.write_change_table(first, last, changes).await.map(|url| (url, first, last))
    }

    async fn write_change_table(&self, first: i64, last: i64, changes: Changes) -> Result<Url> {
        let files_dir = self.cache.join("files");
        tokio::fs::create_dir_all(&files_dir).await.map_err(|e| io(&files_dir, e))?;
        let dir = self.cache.join(format!(".changes-{}", uuid::Uuid::new_v4().simple()));
        let log_dir = dir.join("_delta_log");
        tokio::fs::create_dir_all(&log_dir).await.map_err(|e| io(&log_dir, e))?;
        let Some((_, start_metadata)) = changes.metadata.first() else { return Err(missing("metaData")) };
        let mut commits: std::collections::BTreeMap<i64, Vec<Value>> = std::collections::BTreeMap::new();
        for version in 0..=last {
            let timestamp = changes.timestamps.get(&version).copied().unwrap_or(0);
            commits.entry(version).or_default().push(json!({ "commitInfo": { "timestamp": timestamp,
                "operation": if version < first { "DELTA SHARING PLACEHOLDER" } else { "DELTA SHARING CHANGES" } } }));
        }
        if let Some(zero) = commits.get_mut(&0) {
            zero.push(json!({ "protocol": changes.protocol }));
            zero.push(json!({ "metaData": start_metadata }));
        }
        for (version, metadata) in changes.metadata.iter().skip(1) {
            commits.entry(*version).or_default().push(json!({ "metaData": metadata }));
        }
        for action in &changes.actions {
            let cached = files_dir.join(&action.file.id);
            if !tokio::fs::try_exists(&cached).await.unwrap_or(false) {
                self.download(&action.file.url, &cached).await?;
            }
            let name = format!("{}.parquet", action.file.id);
            if !tokio::fs::try_exists(dir.join(&name)).await.unwrap_or(false) {
                link_or_copy(&cached, &dir.join(&name)).await?;
            }
            let mut body = json!({
                "path": name,
                "partitionValues": action.file.partition_values,
                "size": action.file.size,
                "dataChange": action.kind != "cdc",
            });
            match action.kind {
                "add" => {
                    body["modificationTime"] = json!(action.timestamp);
                    if let Some(stats) = &action.file.stats {
                        body["stats"] = json!(stats);
                    }
                }
                "remove" => {
                    body["deletionTimestamp"] = json!(action.timestamp);
                    body["extendedFileMetadata"] = json!(true);
                }
                _ => {}
            }
            if let Some(dv) = &action.file.deletion_vector {
                body["deletionVector"] = self.local_deletion_vector(dv, &dir).await?;
            }
            commits.entry(action.version).or_default().push(json!({ action.kind: body }));
        }
        for (version, actions) in commits {
            let text: String = actions.iter().map(|a| format!("{a}\n")).collect();
            let path = log_dir.join(format!("{version:020}.json"));
            tokio::fs::write(&path, text).await.map_err(|e| io(&path, e))?;
        }
        dir_url(&dir)
    }

    /// Remove change tables and unfinished snapshots older than an hour: a query reads a change
    /// table while it runs, and none runs that long on one.
    async fn sweep(&self) {
        let Ok(mut entries) = tokio::fs::read_dir(&self.cache).await else { return };
        let cutoff = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name().to_string_lossy().to_string();
            if !(name.starts_with(".changes-") || name.starts_with(".staging-")) {
                continue;
            }
            let old = entry.metadata().await.and_then(|m| m.modified()).is_ok_and(|t| t < cutoff);
            if old {
                let _ = tokio::fs::remove_dir_all(entry.path()).await;
            }
        }
    }

    async fn download(&self, url: &str, to: &Path) -> Result<()> {
        let response = self.send(self.http.get(url)).await?;
        let partial = to.with_extension(format!("part-{}", uuid::Uuid::new_v4().simple()));
        let mut file = tokio::fs::File::create(&partial).await.map_err(|e| io(&partial, e))?;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| SharingError::Internal(format!("downloading a shared file: {e}")))?;
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk).await.map_err(|e| io(&partial, e))?;
        }
        tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(|e| io(&partial, e))?;
        drop(file);
        tokio::fs::rename(&partial, to).await.map_err(|e| io(to, e))
    }

    async fn write_local_table(&self, version: i64, listing: Listing) -> Result<Url> {
        let files_dir = self.cache.join("files");
        tokio::fs::create_dir_all(&files_dir).await.map_err(|e| io(&files_dir, e))?;
        // The same version with the same files (and deletion vectors) is the same table.
        let mut hasher = Sha256::new();
        for file in &listing.files {
            hasher.update(file.id.as_bytes());
            hasher.update(file.deletion_vector.as_ref().map(|d| d.to_string()).unwrap_or_default().as_bytes());
        }
        hasher.update(listing.metadata.to_string().as_bytes());
        let digest: String = hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
        let dir = self.cache.join(format!("v{version}-{digest}"));
        if tokio::fs::try_exists(dir.join("_delta_log")).await.unwrap_or(false) {
            return dir_url(&dir);
        }
        let staging = self.cache.join(format!(".staging-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::create_dir_all(staging.join("_delta_log")).await.map_err(|e| io(&staging, e))?;
        let mut log = vec![
            json!({ "commitInfo": { "timestamp": chrono::Utc::now().timestamp_millis(), "operation": "DELTA SHARING SNAPSHOT",
                "operationParameters": { "share": self.location.display(), "remoteVersion": version } } }),
            json!({ "protocol": listing.protocol }),
            json!({ "metaData": listing.metadata }),
        ];
        for file in &listing.files {
            let cached = files_dir.join(&file.id);
            if !tokio::fs::try_exists(&cached).await.unwrap_or(false) {
                self.download(&file.url, &cached).await?;
            }
            let name = format!("{}.parquet", file.id);
            link_or_copy(&cached, &staging.join(&name)).await?;
            let mut add = json!({
                "path": name,
                "partitionValues": file.partition_values,
                "size": file.size,
                "modificationTime": file.modification_time,
                "dataChange": true,
            });
            if let Some(stats) = &file.stats {
                add["stats"] = json!(stats);
            }
            if let Some(dv) = &file.deletion_vector {
                add["deletionVector"] = self.local_deletion_vector(dv, &staging).await?;
            }
            log.push(json!({ "add": add }));
        }
        let text: String = log.iter().map(|a| format!("{a}\n")).collect();
        let commit = staging.join("_delta_log").join(format!("{:020}.json", 0));
        tokio::fs::write(&commit, text).await.map_err(|e| io(&commit, e))?;
        match tokio::fs::rename(&staging, &dir).await {
            Ok(()) => {}
            // Another process materialized the same version first: use theirs.
            Err(_) if tokio::fs::try_exists(dir.join("_delta_log")).await.unwrap_or(false) => {
                let _ = tokio::fs::remove_dir_all(&staging).await;
            }
            Err(e) => return Err(io(&dir, e)),
        }
        dir_url(&dir)
    }

    /// A deletion vector at a URL becomes a file of the local table (storage type `u`).
    async fn local_deletion_vector(&self, dv: &Value, table_dir: &Path) -> Result<Value> {
        let kind = dv.get("storageType").and_then(Value::as_str).unwrap_or_default();
        if kind == "i" {
            return Ok(dv.clone());
        }
        let Some(source) = dv.get("pathOrInlineDv").and_then(Value::as_str).filter(|_| kind == "p") else {
            return Err(SharingError::Internal(format!("the sharing server sent a deletion vector this client cannot read: {dv}")));
        };
        let uuid = uuid::Uuid::new_v4();
        self.download(source, &table_dir.join(format!("deletion_vector_{uuid}.bin"))).await?;
        let mut local = dv.clone();
        local["storageType"] = json!("u");
        local["pathOrInlineDv"] = json!(z85::encode(uuid.as_bytes()));
        Ok(local)
    }
}

fn io(path: &Path, e: std::io::Error) -> SharingError {
    SharingError::Internal(format!("{}: {e}", path.display()))
}

fn dir_url(dir: &Path) -> Result<Url> {
    Url::from_directory_path(dir).map_err(|()| SharingError::Internal(format!("{} is not an absolute path", dir.display())))
}

async fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if tokio::fs::hard_link(from, to).await.is_ok() {
        return Ok(());
    }
    tokio::fs::copy(from, to).await.map(|_| ()).map_err(|e| io(to, e))
}

/// A table response's lines, and whether they are in the `delta` format (else `parquet`).
async fn read_lines(response: reqwest::Response) -> Result<(bool, Vec<Value>)> {
    let delta =
        response.headers().get(CAPABILITIES_HEADER).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("responseformat=delta"));
    let text = response.text().await.map_err(|e| SharingError::Internal(format!("reading the sharing server's answer: {e}")))?;
    let lines = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| SharingError::Internal(format!("the sharing server sent a line that is not JSON: {e}")))?;
    Ok((delta, lines))
}

fn version_header(response: &reqwest::Response) -> Result<i64> {
    response
        .headers()
        .get(TABLE_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| SharingError::Internal(format!("the sharing server sent no {TABLE_VERSION_HEADER} header")))
}

/// A file to fetch and how the local log names it.
struct RemoteFile {
    /// The server's id, made safe as a file name.
    id: String,
    url: String,
    partition_values: HashMap<String, Option<String>>,
    size: i64,
    modification_time: i64,
    stats: Option<String>,
    deletion_vector: Option<Value>,
}

/// A query response: the table's protocol and metadata actions and its files.
struct Listing {
    protocol: Value,
    metadata: Value,
    files: Vec<RemoteFile>,
}

fn safe_id(id: &str) -> String {
    if !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        id.to_string()
    } else {
        Sha256::digest(id.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect()
    }
}

fn missing(what: &str) -> SharingError {
    SharingError::Internal(format!("the sharing server's answer has no {what}"))
}

impl Listing {
    fn from_delta(lines: &[Value]) -> Result<Self> {
        let protocol = lines.first().and_then(|l| l.pointer("/protocol/deltaProtocol")).cloned().ok_or_else(|| missing("protocol"))?;
        let metadata = lines.get(1).and_then(|l| l.pointer("/metaData/deltaMetadata")).cloned().ok_or_else(|| missing("metaData"))?;
        let mut files = Vec::new();
        for line in &lines[2..] {
            let Some(file) = line.get("file") else { continue };
            let add = file.pointer("/deltaSingleAction/add").ok_or_else(|| missing("add action"))?;
            let url = add.get("path").and_then(Value::as_str).ok_or_else(|| missing("file URL"))?;
            let id = file.get("id").and_then(Value::as_str).map_or_else(|| safe_id(url), safe_id);
            files.push(RemoteFile {
                id,
                url: url.to_string(),
                partition_values: add.get("partitionValues").and_then(|p| serde_json::from_value(p.clone()).ok()).unwrap_or_default(),
                size: add.get("size").and_then(Value::as_i64).unwrap_or(0),
                modification_time: add.get("modificationTime").and_then(Value::as_i64).unwrap_or(0),
                stats: add.get("stats").and_then(Value::as_str).map(str::to_string),
                deletion_vector: add.get("deletionVector").filter(|v| !v.is_null()).cloned(),
            });
        }
        Ok(Self { protocol, metadata, files })
    }

    fn from_parquet(lines: &[Value]) -> Result<Self> {
        let meta = lines.get(1).and_then(|l| l.get("metaData")).ok_or_else(|| missing("metaData"))?;
        let metadata = json!({
            "id": meta.get("id").cloned().unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string())),
            "name": meta.get("name"),
            "description": meta.get("description"),
            "format": { "provider": "parquet", "options": {} },
            "schemaString": meta.get("schemaString").ok_or_else(|| missing("schemaString"))?,
            "partitionColumns": meta.get("partitionColumns").cloned().unwrap_or_else(|| json!([])),
            "configuration": meta.get("configuration").cloned().unwrap_or_else(|| json!({})),
            "createdTime": chrono::Utc::now().timestamp_millis(),
        });
        let mut files = Vec::new();
        for line in &lines[2..] {
            let Some(file) = line.get("file") else { continue };
            let url = file.get("url").and_then(Value::as_str).ok_or_else(|| missing("file URL"))?;
            files.push(RemoteFile {
                id: file.get("id").and_then(Value::as_str).map_or_else(|| safe_id(url), safe_id),
                url: url.to_string(),
                partition_values: file.get("partitionValues").and_then(|p| serde_json::from_value(p.clone()).ok()).unwrap_or_default(),
                size: file.get("size").and_then(Value::as_i64).unwrap_or(0),
                modification_time: chrono::Utc::now().timestamp_millis(),
                stats: file.get("stats").and_then(Value::as_str).map(str::to_string),
                deletion_vector: None,
            });
        }
        Ok(Self { protocol: json!({ "minReaderVersion": 1, "minWriterVersion": 2 }), metadata, files })
    }
}

/// One file of a change range.
struct ChangeAction {
    version: i64,
    timestamp: i64,
    /// `add`, `remove` or `cdc`.
    kind: &'static str,
    file: RemoteFile,
}

/// A changes response: the protocol, the metadata at the start and at every change of it
/// (version, metaData action), the files, and each version's commit timestamp.
struct Changes {
    protocol: Value,
    metadata: Vec<(i64, Value)>,
    actions: Vec<ChangeAction>,
    timestamps: HashMap<i64, i64>,
}

/// The `add`, `remove` or change-file action in `holder` (`cdc_key` names the change file:
/// `cdc` in Delta actions, `cdf` in the parquet format), as its kind and body.
fn file_action<'v>(holder: &'v Value, cdc_key: &str) -> Option<(&'static str, &'v Value)> {
    [("add", "add"), ("remove", "remove"), ("cdc", cdc_key)].into_iter().find_map(|(kind, key)| holder.get(key).map(|body| (kind, body)))
}

impl Changes {
    fn parse(lines: &[Value], delta: bool) -> Result<Self> {
        let mut out = Changes {
            protocol: json!({ "minReaderVersion": 1, "minWriterVersion": 2 }),
            metadata: Vec::new(),
            actions: Vec::new(),
            timestamps: HashMap::new(),
        };
        if delta {
            out.protocol = lines.first().and_then(|l| l.pointer("/protocol/deltaProtocol")).cloned().ok_or_else(|| missing("protocol"))?;
        }
        for line in lines.iter().skip(1) {
            if let Some(meta) = line.get("metaData") {
                let version = meta.get("version").and_then(Value::as_i64).unwrap_or(0);
                let action = if delta {
                    meta.get("deltaMetadata").cloned().ok_or_else(|| missing("deltaMetadata"))?
                } else {
                    Listing::from_parquet(&[json!({}), line.clone()])?.metadata
                };
                out.metadata.push((version, action));
                continue;
            }
            // The delta format wraps a Delta action (URL in `path`) in a `file` carrying id,
            // version and timestamp; the parquet format puts all of them in one object.
            let (kind, body, holder, url_key) = if delta {
                let Some(file) = line.get("file") else { continue };
                let single = file.get("deltaSingleAction").ok_or_else(|| missing("deltaSingleAction"))?;
                let (kind, body) = file_action(single, "cdc").ok_or_else(|| missing("file action"))?;
                (kind, body, file, "path")
            } else {
                let Some((kind, body)) = file_action(line, "cdf") else { continue };
                (kind, body, body, "url")
            };
            let url = body.get(url_key).and_then(Value::as_str).ok_or_else(|| missing("file URL"))?.to_string();
            let id = holder.get("id").and_then(Value::as_str).map_or_else(|| safe_id(&url), safe_id);
            let version = holder.get("version").and_then(Value::as_i64).ok_or_else(|| missing("version"))?;
            let timestamp = holder.get("timestamp").and_then(Value::as_i64).unwrap_or(0);
            out.timestamps.insert(version, timestamp);
            out.actions.push(ChangeAction {
                version,
                timestamp,
                kind,
                file: RemoteFile {
                    id,
                    url,
                    partition_values: body.get("partitionValues").and_then(|p| serde_json::from_value(p.clone()).ok()).unwrap_or_default(),
                    size: body.get("size").and_then(Value::as_i64).unwrap_or(0),
                    modification_time: timestamp,
                    stats: body.get("stats").and_then(Value::as_str).map(str::to_string),
                    deletion_vector: body.get("deletionVector").filter(|v| !v.is_null()).cloned(),
                },
            });
        }
        if out.metadata.is_empty() {
            return Err(missing("metaData"));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_round_trip_through_urls() {
        let loc = SharedLocation::parse("/tmp/p.share#s.sch.t").expect("parse");
        assert_eq!((loc.share.as_str(), loc.schema.as_str(), loc.table.as_str()), ("s", "sch", "t"));
        let url = loc.to_url().expect("url");
        assert_eq!(url.as_str(), "file:///tmp/p.share#s.sch.t");
        assert_eq!(SharedLocation::from_url(&url).expect("back"), loc);
        for bad in ["/tmp/p.share", "/tmp/p.share#s.t", "#s.a.b", "/tmp/p.share#s..t"] {
            assert!(SharedLocation::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn odd_file_ids_become_safe_names() {
        assert_eq!(safe_id("abc-123_x"), "abc-123_x");
        let hashed = safe_id("../../etc/passwd");
        assert!(hashed.chars().all(|c| c.is_ascii_hexdigit()) && hashed.len() == 32);
    }
}
