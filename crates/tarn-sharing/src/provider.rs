//! The provider side: every request of the protocol, answered from the catalog's shares and
//! the shared tables' Delta logs. HTTP lives in `tarn-server`; this module decides what a
//! recipient may see and writes the protocol's lines.

use std::collections::HashMap;
use std::time::Duration;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::{Value, json};
use tarn_catalog::{Catalog, Recipient, Share, SharedTable, TableEntry, TokenRefusal};
use tarn_engine::deltalake::DeltaTable;
use tarn_engine::{ChangeBound, TimeTravel};
use url::Url;

use crate::predicate::{Predicate, column_types, parse_json_hints, parse_sql_hints};
use crate::protocol::{Capabilities, Page, QueryRequest, ResponseFormat, choose_format, number_param, paginate, timestamp_param};
use crate::signing::{SignedFile, UrlSigner};
use crate::{Result, SharingError};

/// Names a table the way recipients do: `share.schema.table`.
#[derive(Debug, Clone)]
pub struct TableRef {
    pub share: String,
    pub schema: String,
    pub table: String,
}

impl std::fmt::Display for TableRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.share, self.schema, self.table)
    }
}

/// A table-level response: lines of JSON, the version they describe, the format chosen, and
/// what the audit log records.
#[derive(Debug)]
pub struct TableResponse {
    pub version: i64,
    pub format: ResponseFormat,
    pub lines: Vec<String>,
    /// The warehouse table behind the shared name (`catalog.schema.table`).
    pub table: String,
    pub files: usize,
}

/// A file a signed URL names, ready to be read.
#[derive(Debug)]
pub struct FileAccess {
    pub store: std::sync::Arc<dyn ObjectStore>,
    pub path: Path,
    pub table: String,
}

/// Answers protocol requests for one warehouse.
#[derive(Debug, Clone)]
pub struct Provider {
    catalog: Catalog,
    signer: UrlSigner,
    url_lifetime: Duration,
}

/// A shared table as a request resolved it.
struct Resolved {
    /// Who asked: file URLs are signed for this recipient.
    recipient: String,
    shared: SharedTable,
    entry: TableEntry,
    url: Url,
    name: TableRef,
}

/// One data file (or change file) as the log describes it.
struct FileEntry {
    kind: &'static str,
    /// Decoded path, relative to the table or an absolute URL.
    path: String,
    partition_values: HashMap<String, Option<String>>,
    size: i64,
    modification_time: i64,
    stats: Option<String>,
    deletion_vector: Option<Value>,
    deletion_timestamp: Option<i64>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Provider {
    /// A provider over `catalog`, handing out file URLs valid for `url_lifetime`.
    pub async fn new(catalog: Catalog, url_lifetime: Duration) -> Result<Self> {
        let key = catalog.sharing_signing_key().await?;
        Ok(Self { catalog, signer: UrlSigner::new(&key), url_lifetime })
    }

    /// The recipient a bearer token (the `Authorization` header's value) belongs to.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Recipient> {
        let token = authorization.and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
        let Some(token) = token else {
            return Err(SharingError::Unauthenticated("send the profile's bearer token: Authorization: Bearer <token>".into()));
        };
        match self.catalog.authenticate_recipient(token).await? {
            Ok(recipient) => Ok(recipient),
            Err(TokenRefusal::Expired) => {
                Err(SharingError::Unauthenticated("the bearer token has expired; ask the provider for a new profile".into()))
            }
            Err(TokenRefusal::Unknown) => {
                Err(SharingError::Unauthenticated("the bearer token is not valid (unknown, revoked, or its recipient was dropped)".into()))
            }
        }
    }

    /// A share the recipient may read: 404 if there is none, 403 if it is not theirs.
    async fn share_for(&self, recipient: &Recipient, share: &str) -> Result<Share> {
        // A share that exists but is not granted answers exactly as one that does not exist:
        // recipients learn nothing about others' shares, not even their names.
        let hidden =
            || SharingError::NotFound(format!("share '{share}' does not exist or is not shared with recipient '{}'", recipient.name));
        let Some(found) = self.catalog.get_share(share).await? else {
            return Err(hidden());
        };
        if !self.catalog.recipient_may_read(&found.name, &recipient.name).await? {
            return Err(hidden());
        }
        Ok(found)
    }

    pub async fn list_shares(&self, recipient: &Recipient, page: &Page) -> Result<Value> {
        let shares = self.catalog.shares_of_recipient(&recipient.name).await?;
        let items: Vec<Value> = shares.iter().map(|s| json!({ "name": s.name })).collect();
        paginate(items, page, "shares")
    }

    pub async fn get_share(&self, recipient: &Recipient, share: &str) -> Result<Value> {
        let share = self.share_for(recipient, share).await?;
        Ok(json!({ "share": { "name": share.name } }))
    }

    pub async fn list_schemas(&self, recipient: &Recipient, share: &str, page: &Page) -> Result<Value> {
        let share = self.share_for(recipient, share).await?;
        let mut schemas: Vec<String> = self.catalog.shared_tables(&share.name).await?.into_iter().map(|t| t.schema).collect();
        schemas.dedup();
        let items: Vec<Value> = schemas.iter().map(|s| json!({ "name": s, "share": share.name })).collect();
        paginate(items, page, &format!("schemas/{}", share.name))
    }

    pub async fn list_tables(&self, recipient: &Recipient, share: &str, schema: Option<&str>, page: &Page) -> Result<Value> {
        let share = self.share_for(recipient, share).await?;
        let mut tables = self.catalog.shared_tables(&share.name).await?;
        if let Some(schema) = schema {
            tables.retain(|t| t.schema.eq_ignore_ascii_case(schema));
            if tables.is_empty() {
                return Err(SharingError::NotFound(format!("schema '{schema}' does not exist in share '{}'", share.name)));
            }
        }
        let items: Vec<Value> =
            tables.iter().map(|t| json!({ "name": t.name, "schema": t.schema, "share": share.name, "id": t.table_id })).collect();
        paginate(items, page, &format!("tables/{}/{}", share.name, schema.unwrap_or("*")))
    }

    async fn resolve(&self, recipient: &Recipient, name: &TableRef) -> Result<Resolved> {
        let share = self.share_for(recipient, &name.share).await?;
        let shared = self
            .catalog
            .get_shared_table(&share.name, &name.schema, &name.table)
            .await?
            .ok_or_else(|| SharingError::NotFound(format!("table '{name}' does not exist in the share")))?;
        let (entry, url) = self.shared_location(&shared).await?;
        Ok(Resolved { recipient: recipient.name.clone(), shared, entry, url, name: name.clone() })
    }

    /// Where a shared table lives, if it is still the table that was shared.
    async fn shared_location(&self, shared: &SharedTable) -> Result<(TableEntry, Url)> {
        let gone = || SharingError::NotFound(format!("table '{}.{}.{}' is no longer available", shared.share, shared.schema, shared.name));
        let entry = self.catalog.get_table(&shared.table_ident()?).await?.ok_or_else(gone)?;
        if entry.id != shared.table_id {
            return Err(gone());
        }
        let url = entry.location_url()?;
        Ok((entry, url))
    }

    async fn open(&self, resolved: &Resolved, at: Option<&TimeTravel>) -> Result<DeltaTable> {
        Ok(tarn_engine::open_table(&resolved.url, at).await?)
    }

    fn require_history(resolved: &Resolved, what: &str) -> Result<()> {
        if resolved.shared.history {
            return Ok(());
        }
        Err(SharingError::Forbidden(format!(
            "{what} of '{}' is not available: the table is shared without history (the provider can share it WITH HISTORY)",
            resolved.name
        )))
    }

    /// The table's version, or with `startingTimestamp` the first version committed at or after it.
    pub async fn table_version(&self, recipient: &Recipient, name: &TableRef, params: &HashMap<String, String>) -> Result<i64> {
        let resolved = self.resolve(recipient, name).await?;
        let table = self.open(&resolved, None).await?;
        match timestamp_param(params, "startingTimestamp")? {
            None => Ok(table.version().map_or(-1, |v| v as i64)),
            Some(ts) => {
                Self::require_history(&resolved, "the version at a timestamp")?;
                let range = tarn_engine::resolve_change_range(&table, &ChangeBound::Timestamp(ts), None).await?;
                Ok(range.start)
            }
        }
    }

    pub async fn metadata(&self, recipient: &Recipient, name: &TableRef, caps: &Capabilities) -> Result<TableResponse> {
        let resolved = self.resolve(recipient, name).await?;
        let table = self.open(&resolved, None).await?;
        let (protocol, metadata) = actions_of(&table)?;
        let format = choose_format(caps, &name.to_string(), &protocol, &metadata)?;
        let (size, files) = table_size(&table, &resolved.shared)?;
        let version = table.version().map_or(-1, |v| v as i64);
        let lines = vec![protocol_line(format, &protocol), metadata_line(format, &metadata, None, Some((size, files)))];
        Ok(TableResponse { version, format, lines, table: resolved.entry.ident().to_string(), files: 0 })
    }

    /// `POST .../query`: the files of a version of the table that may hold rows the hints ask
    /// for, or with `startingVersion` the files added (and removed) since then.
    pub async fn query(
        &self,
        recipient: &Recipient,
        name: &TableRef,
        caps: &Capabilities,
        request: &QueryRequest,
        endpoint: &str,
    ) -> Result<TableResponse> {
        let resolved = self.resolve(recipient, name).await?;
        if let Some(start) = request.starting_version {
            Self::require_history(&resolved, "reading changes")?;
            let mut params = HashMap::new();
            params.insert("startingVersion".to_string(), start.to_string());
            if let Some(end) = request.ending_version {
                params.insert("endingVersion".to_string(), end.to_string());
            }
            return self.changes_of(&resolved, caps, &params, endpoint, false).await;
        }
        let at = match (&request.version, &request.timestamp) {
            (Some(v), _) => Some(TimeTravel::Version(*v)),
            (_, Some(ts)) => Some(TimeTravel::Timestamp(
                crate::protocol::parse_timestamp(ts)
                    .ok_or_else(|| SharingError::BadRequest(format!("timestamp must look like 2022-01-01T00:00:00Z, got '{ts}'")))?,
            )),
            _ => None,
        };
        if at.is_some() {
            Self::require_history(&resolved, "an earlier version")?;
        }
        let table = self.open(&resolved, at.as_ref()).await?;
        let version = table.version().map_or(-1, |v| v as i64);
        let (protocol, metadata) = actions_of(&table)?;
        let format = choose_format(caps, &name.to_string(), &protocol, &metadata)?;
        let types = column_types(metadata.get("schemaString").and_then(Value::as_str).unwrap_or_default());
        let mut hints = Vec::new();
        if let Some(json) = &request.json_predicate_hints {
            hints.push(parse_json_hints(json, &types)?);
        }
        if let Some(sql) = &request.predicate_hints {
            hints.push(parse_sql_hints(sql, &types));
        }
        let predicate = Predicate::And(hints);
        let has_hints = !matches!(&predicate, Predicate::And(h) if h.is_empty());

        let expires_at = now_ms() + self.url_lifetime.as_millis() as i64;
        let mut lines = Vec::new();
        let mut rows_so_far = 0i64;
        let snapshot = table.snapshot().map_err(|e| SharingError::Internal(e.to_string()))?;
        // Files the hints rule out, by DataFusion's pruning over the log's typed statistics.
        let keep = if has_hints { crate::pruning::files_to_keep(&predicate, &table) } else { None };
        for (i, view) in snapshot.log_data().iter().enumerate() {
            let partition_values = view.partition_values_map();
            if !in_shared_partitions(&resolved.shared, &partition_values) {
                continue;
            }
            if keep.as_ref().is_some_and(|keep| !keep.get(i).copied().unwrap_or(true)) {
                continue;
            }
            let stats = view.stats();
            let parsed: Option<Value> = stats.as_deref().and_then(|s| serde_json::from_str(s).ok());
            let deletion_vector = view.deletion_vector_descriptor().and_then(|dv| serde_json::to_value(dv).ok());
            // A limit is a promise about rows the recipient will see; with hints the files'
            // rows may not match, so only a query without hints stops early.
            if let Some(limit) = request.limit_hint
                && !has_hints
            {
                if rows_so_far >= limit {
                    break;
                }
                let records = parsed.as_ref().and_then(|s| s.get("numRecords")).and_then(Value::as_i64);
                let deleted = deletion_vector.as_ref().and_then(|dv| dv.get("cardinality")).and_then(Value::as_i64).unwrap_or(0);
                rows_so_far += records.map_or(i64::MAX / 4, |r| r - deleted);
            }
            let file = FileEntry {
                kind: "add",
                path: view.path().to_string(),
                partition_values,
                size: view.size(),
                modification_time: view.modification_time(),
                stats,
                deletion_vector,
                deletion_timestamp: None,
            };
            lines.push(self.file_line(&resolved, format, &file, None, endpoint, expires_at).await?);
        }
        let files = lines.len();
        let time_travelled = at.is_some().then_some(version);
        let (size, num_files) = table_size(&table, &resolved.shared)?;
        let mut out = vec![protocol_line(format, &protocol), metadata_line(format, &metadata, time_travelled, Some((size, num_files)))];
        out.extend(lines);
        Ok(TableResponse { version, format, lines: out, table: resolved.entry.ident().to_string(), files })
    }

    /// `GET .../changes`: the change data feed between two versions (or timestamps).
    pub async fn changes(
        &self,
        recipient: &Recipient,
        name: &TableRef,
        caps: &Capabilities,
        params: &HashMap<String, String>,
        endpoint: &str,
    ) -> Result<TableResponse> {
        let resolved = self.resolve(recipient, name).await?;
        Self::require_history(&resolved, "the change data feed")?;
        self.changes_of(&resolved, caps, params, endpoint, true).await
    }

    /// The files changed in a range of commits. `cdf`: as the change data feed (a commit's
    /// change files instead of its adds and removes where it wrote them, the feed must be on);
    /// otherwise as a streaming query (adds and removes).
    async fn changes_of(
        &self,
        resolved: &Resolved,
        caps: &Capabilities,
        params: &HashMap<String, String>,
        endpoint: &str,
        cdf: bool,
    ) -> Result<TableResponse> {
        let start = match (number_param(params, "startingVersion")?, timestamp_param(params, "startingTimestamp")?) {
            (Some(v), None) => ChangeBound::Version(v),
            (None, Some(ts)) => ChangeBound::Timestamp(ts),
            (Some(_), Some(_)) => {
                return Err(SharingError::BadRequest("give startingVersion or startingTimestamp, not both".into()));
            }
            (None, None) => {
                return Err(SharingError::BadRequest("startingVersion or startingTimestamp is required".into()));
            }
        };
        let end = match (number_param(params, "endingVersion")?, timestamp_param(params, "endingTimestamp")?) {
            (Some(v), None) => Some(ChangeBound::Version(v)),
            (None, Some(ts)) => Some(ChangeBound::Timestamp(ts)),
            (Some(_), Some(_)) => {
                return Err(SharingError::BadRequest("give endingVersion or endingTimestamp, not both".into()));
            }
            (None, None) => None,
        };
        let historical_metadata = params.get("includeHistoricalMetadata").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let latest = self.open(resolved, None).await?;
        let range = tarn_engine::resolve_change_range(&latest, &start, end.as_ref()).await?;
        let at_start = self.open(resolved, Some(&TimeTravel::Version(range.start))).await?;
        let (protocol, metadata) = actions_of(&at_start)?;
        let name = resolved.name.to_string();
        let feed_on = |m: &Value| {
            m.get("configuration")
                .and_then(|c| c.get(tarn_engine::CHANGE_DATA_FEED))
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        };
        if cdf && !feed_on(&metadata) {
            return Err(SharingError::BadRequest(format!(
                "the change data feed of '{name}' is not enabled at version {}; the provider can turn it on with \
                 ALTER TABLE ... SET TBLPROPERTIES (delta.enableChangeDataFeed = true)",
                range.start
            )));
        }
        let format = choose_format(caps, &name, &protocol, &metadata)?;
        let expires_at = now_ms() + self.url_lifetime.as_millis() as i64;
        let mut lines = vec![protocol_line(format, &protocol), metadata_line(format, &metadata, Some(range.start), None)];
        let mut files = 0;
        for version in range.start..=range.end {
            let (timestamp, actions) = tarn_engine::commit_actions(&latest, version).await?;
            for action in &actions {
                if let Some(m) = action.get("metaData").filter(|_| version > range.start) {
                    if cdf && !feed_on(m) {
                        return Err(SharingError::BadRequest(format!(
                            "the change data feed of '{name}' was turned off at version {version}; ask for changes up to version {}",
                            version - 1
                        )));
                    }
                    if format == ResponseFormat::Delta || historical_metadata {
                        lines.push(metadata_line(format, m, Some(version), None));
                    }
                }
            }
            let has_cdc = cdf && actions.iter().any(|a| a.get("cdc").is_some());
            for action in &actions {
                let Some(file) = change_file(action, has_cdc) else {
                    continue;
                };
                if !in_shared_partitions(&resolved.shared, &file.partition_values) {
                    continue;
                }
                lines.push(self.file_line(resolved, format, &file, Some((version, timestamp)), endpoint, expires_at).await?);
                files += 1;
            }
        }
        Ok(TableResponse { version: range.start, format, lines, table: resolved.entry.ident().to_string(), files })
    }

    /// A URL for one file of a shared table: pre-signed by the store where it can (S3), else
    /// signed by Tarn and served under `endpoint`.
    async fn file_url(&self, resolved: &Resolved, path: &str, endpoint: &str, expires_at: i64) -> Result<String> {
        if let Some(location) = object_url(&resolved.url, path)?
            && let Some(url) = tarn_storage::presigned_get_url(&location, self.url_lifetime).await?
        {
            return Ok(url.to_string());
        }
        self.signer.url(
            endpoint,
            &SignedFile {
                share: resolved.shared.share.clone(),
                schema: resolved.shared.schema.clone(),
                table: resolved.shared.name.clone(),
                path: path.to_string(),
                expires_at,
                recipient: resolved.recipient.clone(),
                partitions: partition_filter(&resolved.shared),
            },
        )
    }

    async fn file_line(
        &self,
        resolved: &Resolved,
        format: ResponseFormat,
        file: &FileEntry,
        commit: Option<(i64, i64)>,
        endpoint: &str,
        expires_at: i64,
    ) -> Result<String> {
        let url = self.file_url(resolved, &file.path, endpoint, expires_at).await?;
        let id = file_id(&file.path);
        let line = match format {
            ResponseFormat::Parquet => {
                let mut body = json!({
                    "url": url,
                    "id": id,
                    "partitionValues": file.partition_values,
                    "size": file.size,
                    "expirationTimestamp": expires_at,
                });
                if let Some(stats) = &file.stats {
                    body["stats"] = json!(stats);
                }
                if let Some((version, timestamp)) = commit {
                    body["version"] = json!(version);
                    body["timestamp"] = json!(timestamp);
                }
                // A snapshot's files are `file` lines; a range's are add / cdf / remove.
                let key = match (commit, file.kind) {
                    (None, _) => "file",
                    (Some(_), "cdc") => "cdf",
                    (Some(_), kind) => kind,
                };
                json!({ key: body })
            }
            ResponseFormat::Delta => {
                let mut action = json!({
                    "path": url,
                    "partitionValues": file.partition_values,
                    "size": file.size,
                    "dataChange": file.kind != "cdc",
                });
                match file.kind {
                    "add" => {
                        action["modificationTime"] = json!(file.modification_time);
                        if let Some(stats) = &file.stats {
                            action["stats"] = json!(stats);
                        }
                    }
                    "remove" => {
                        action["deletionTimestamp"] = json!(file.deletion_timestamp.unwrap_or(file.modification_time));
                        action["extendedFileMetadata"] = json!(true);
                    }
                    _ => {}
                }
                if let Some(dv) = &file.deletion_vector {
                    action["deletionVector"] = self.inline_deletion_vector(resolved, dv).await?;
                }
                let mut body = json!({
                    "id": id,
                    "deltaSingleAction": { file.kind: action },
                    "expirationTimestamp": expires_at,
                });
                if let Some((version, timestamp)) = commit {
                    body["version"] = json!(version);
                    body["timestamp"] = json!(timestamp);
                }
                json!({ "file": body })
            }
        };
        Ok(line.to_string())
    }

    /// A deletion vector stored in a file is sent inline (`storageType: i`, the bitmap's bytes
    /// z85-encoded), as Delta Sharing servers do: readers then need no second URL per file, and
    /// the Delta kernel reads deletion vectors only from the table's own store.
    async fn inline_deletion_vector(&self, resolved: &Resolved, dv: &Value) -> Result<Value> {
        let stored = dv.get("pathOrInlineDv").and_then(Value::as_str).unwrap_or_default();
        let path = match dv.get("storageType").and_then(Value::as_str) {
            Some("u") => deletion_vector_path(stored)?,
            Some("p") => stored.to_string(),
            _ => return Ok(dv.clone()),
        };
        let size = dv
            .get("sizeInBytes")
            .and_then(Value::as_u64)
            .ok_or_else(|| SharingError::Internal(format!("deletion vector {dv} has no size")))?;
        let offset = dv.get("offset").and_then(Value::as_u64).unwrap_or(1);
        let (store, object) = object_location(&resolved.url, &path)?;
        // On disk: a 4-byte big-endian size, then the bitmap (magic included), then a checksum.
        let bytes = store.get_range(&object, offset..offset + 4 + size).await?;
        let stated = bytes.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64);
        if stated != Some(size) || bytes.len() as u64 != 4 + size {
            return Err(SharingError::Internal(format!("deletion vector {path} does not hold {size} bytes at offset {offset}")));
        }
        let mut bitmap = bytes[4..].to_vec();
        bitmap.resize(bitmap.len().div_ceil(4) * 4, 0);
        let mut inline = json!({
            "storageType": "i",
            "pathOrInlineDv": z85::encode(&bitmap),
            "sizeInBytes": size,
        });
        if let Some(cardinality) = dv.get("cardinality") {
            inline["cardinality"] = cardinality.clone();
        }
        Ok(inline)
    }

    /// The file a signed URL names, after checking the signature, the expiry, that the table
    /// is still in the share, and that the path stays inside the table.
    pub async fn open_file(&self, payload: &str, signature: &str) -> Result<FileAccess> {
        let file = self.signer.verify(payload, signature, now_ms())?;
        let no_longer = || SharingError::Forbidden("the table of this file URL is no longer shared with you".into());
        if self.catalog.get_share(&file.share).await?.is_none() {
            return Err(no_longer());
        }
        if !self.catalog.recipient_may_read(&file.share, &file.recipient).await? {
            return Err(no_longer());
        }
        let shared = self.catalog.get_shared_table(&file.share, &file.schema, &file.table).await?.ok_or_else(no_longer)?;
        if partition_filter(&shared) != file.partitions {
            return Err(no_longer());
        }
        let (entry, url) = self.shared_location(&shared).await.map_err(|_| no_longer())?;
        let (store, path) = object_location(&url, &file.path)?;
        Ok(FileAccess { store, path, table: entry.ident().to_string() })
    }
}

/// The table's protocol and metadata actions as JSON.
fn actions_of(table: &DeltaTable) -> Result<(Value, Value)> {
    let snapshot = table.snapshot().map_err(|e| SharingError::Internal(e.to_string()))?;
    let protocol = serde_json::to_value(snapshot.protocol()).map_err(|e| SharingError::Internal(e.to_string()))?;
    let metadata = serde_json::to_value(snapshot.metadata()).map_err(|e| SharingError::Internal(e.to_string()))?;
    Ok((protocol, metadata))
}

/// The bytes and files of what is shared of `table`: with a partition filter, only the files
/// in the shared partitions (the rest is not the recipient's to know about).
fn table_size(table: &DeltaTable, shared: &SharedTable) -> Result<(i64, usize)> {
    let snapshot = table.snapshot().map_err(|e| SharingError::Internal(e.to_string()))?;
    Ok(snapshot
        .log_data()
        .iter()
        .filter(|f| shared.partitions.is_empty() || in_shared_partitions(shared, &f.partition_values_map()))
        .fold((0i64, 0usize), |(b, n), f| (b + f.size(), n + 1)))
}

fn protocol_line(format: ResponseFormat, protocol: &Value) -> String {
    match format {
        ResponseFormat::Parquet => json!({ "protocol": { "minReaderVersion": 1 } }),
        ResponseFormat::Delta => json!({ "protocol": { "deltaProtocol": protocol } }),
    }
    .to_string()
}

fn metadata_line(format: ResponseFormat, metadata: &Value, version: Option<i64>, size: Option<(i64, usize)>) -> String {
    let mut body = match format {
        ResponseFormat::Parquet => {
            let mut body = json!({
                "id": metadata.get("id"),
                "format": { "provider": "parquet" },
                "schemaString": metadata.get("schemaString"),
                "partitionColumns": metadata.get("partitionColumns").cloned().unwrap_or_else(|| json!([])),
                "configuration": metadata.get("configuration").cloned().unwrap_or_else(|| json!({})),
            });
            for key in ["name", "description"] {
                if let Some(v) = metadata.get(key).filter(|v| !v.is_null()) {
                    body[key] = v.clone();
                }
            }
            body
        }
        ResponseFormat::Delta => json!({ "deltaMetadata": metadata }),
    };
    if let Some(version) = version {
        body["version"] = json!(version);
    }
    if let Some((bytes, files)) = size {
        body["size"] = json!(bytes);
        body["numFiles"] = json!(files);
    }
    json!({ "metaData": body }).to_string()
}

/// A stable id for a file: the same file has the same id in every response.
fn file_id(path: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(path.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Whether a file's partition values are inside the share's `PARTITION (...)` clause.
/// A shared table's partition filter as text (`c=v,...`, sorted), signed into its file URLs.
fn partition_filter(shared: &SharedTable) -> String {
    let mut parts: Vec<String> = shared.partitions.iter().map(|(c, v)| format!("{c}={v}")).collect();
    parts.sort();
    parts.join(",")
}

fn in_shared_partitions(shared: &SharedTable, values: &HashMap<String, Option<String>>) -> bool {
    shared.partitions.iter().all(|(column, wanted)| {
        values.iter().find(|(k, _)| k.eq_ignore_ascii_case(column)).is_some_and(|(_, v)| v.as_deref() == Some(wanted.as_str()))
    })
}

/// A commit's action as a file to hand out for changes, if it is one: `cdc` files where the
/// commit has them, else data-changing adds and removes.
fn change_file(action: &Value, has_cdc: bool) -> Option<FileEntry> {
    let (kind, body) = if has_cdc {
        ("cdc", action.get("cdc")?)
    } else if let Some(add) = action.get("add") {
        ("add", add)
    } else {
        ("remove", action.get("remove")?)
    };
    if kind != "cdc" && !body.get("dataChange").and_then(Value::as_bool).unwrap_or(true) {
        return None;
    }
    let raw = body.get("path")?.as_str()?;
    let path = percent_encoding::percent_decode_str(raw).decode_utf8_lossy().to_string();
    let partition_values: HashMap<String, Option<String>> =
        body.get("partitionValues").and_then(|p| serde_json::from_value(p.clone()).ok()).unwrap_or_default();
    Some(FileEntry {
        kind,
        path,
        partition_values,
        size: body.get("size").and_then(Value::as_i64).unwrap_or(0),
        modification_time: body.get("modificationTime").and_then(Value::as_i64).unwrap_or(0),
        stats: body.get("stats").and_then(Value::as_str).map(str::to_string),
        deletion_vector: body.get("deletionVector").filter(|v| !v.is_null()).cloned(),
        deletion_timestamp: body.get("deletionTimestamp").and_then(Value::as_i64),
    })
}

/// `Some(url)` for a path that is an absolute URL; `None` for a path relative to the table,
/// which must stay inside it (no `..`, no leading `/`).
fn object_url(table: &Url, path: &str) -> Result<Option<Url>> {
    if let Some((scheme, _)) = path.split_once("://")
        && scheme.len() > 1
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
    {
        return Url::parse(path).map(Some).map_err(|e| SharingError::Internal(format!("file path '{path}' in the log is not a URL: {e}")));
    }
    if path.starts_with('/') || path.split('/').any(|segment| segment == ".." || segment == ".") || path.contains('\\') {
        return Err(SharingError::Forbidden(format!("file path '{path}' leaves the shared table")));
    }
    if table.scheme() == "file" {
        return Ok(None);
    }
    let encoded: Vec<String> =
        path.split('/').map(|s| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()).collect();
    let base = if table.path().ends_with('/') {
        table.clone()
    } else {
        Url::parse(&format!("{table}/")).map_err(|e| SharingError::Internal(e.to_string()))?
    };
    base.join(&encoded.join("/")).map(Some).map_err(|e| SharingError::Internal(e.to_string()))
}

/// The store and path of a file of the table at `table` (a path as the log names it).
fn object_location(table: &Url, path: &str) -> Result<(std::sync::Arc<dyn ObjectStore>, Path)> {
    Ok(match object_url(table, path)? {
        Some(location) => tarn_storage::store_for_url(&location)?,
        None => {
            let (store, root) = tarn_storage::store_for_url(table)?;
            let relative = Path::parse(path).unwrap_or_else(|_| Path::from(path));
            (store, Path::from_iter(root.parts().chain(relative.parts())))
        }
    })
}

/// The table-relative path of a deletion vector stored as `u` (an optional prefix and a
/// z85-encoded UUID), as the Delta protocol derives it.
fn deletion_vector_path(stored: &str) -> Result<String> {
    let bad = || SharingError::Internal(format!("deletion vector '{stored}' in the log is malformed"));
    if stored.len() < 20 || !stored.is_ascii() {
        return Err(bad());
    }
    let (prefix, encoded) = stored.split_at(stored.len() - 20);
    let bytes = z85::decode(encoded).map_err(|_| bad())?;
    let uuid = uuid::Uuid::from_slice(&bytes).map_err(|_| bad())?;
    Ok(if prefix.is_empty() { format!("deletion_vector_{uuid}.bin") } else { format!("{prefix}/deletion_vector_{uuid}.bin") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_stay_inside_the_table() {
        let local = Url::parse("file:///wh/t/").expect("url");
        assert!(object_url(&local, "part-0.parquet").expect("ok").is_none());
        assert!(object_url(&local, "d=1/part-0.parquet").expect("ok").is_none());
        for escape in ["../other/part.parquet", "a/../../x", "/etc/passwd", "a\\..\\b"] {
            assert_eq!(object_url(&local, escape).expect_err("refused").status(), 403, "{escape}");
        }
        let s3 = Url::parse("s3://bucket/wh/t").expect("url");
        let url = object_url(&s3, "d=a b/part-0.parquet").expect("ok").expect("url");
        assert_eq!(url.as_str(), "s3://bucket/wh/t/d%3Da%20b/part%2D0%2Eparquet");
        assert_eq!(object_url(&local, "s3://b/x.parquet").expect("ok").expect("abs").as_str(), "s3://b/x.parquet");
    }

    #[test]
    fn deletion_vector_paths_follow_the_delta_protocol() {
        // The example of the Delta protocol: prefix "ab", UUID d2c639aa-8816-431a-aaf6-d3fe2512ff61.
        let path = deletion_vector_path("ab^-aqEH.-t@S}K{vb[*k^").expect("path");
        assert_eq!(path, "ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin");
        assert!(deletion_vector_path("short").is_err());
    }

    #[test]
    fn shared_partitions_filter_files() {
        let shared = SharedTable {
            share: "s".into(),
            schema: "x".into(),
            name: "t".into(),
            table: "main.default.t".into(),
            table_id: "1".into(),
            history: false,
            partitions: vec![("region".into(), "eu".into())],
            added_by: "a".into(),
            added_at: 0,
        };
        let mut values = HashMap::new();
        values.insert("region".to_string(), Some("eu".to_string()));
        assert!(in_shared_partitions(&shared, &values));
        values.insert("region".to_string(), Some("us".to_string()));
        assert!(!in_shared_partitions(&shared, &values));
        values.insert("region".to_string(), None);
        assert!(!in_shared_partitions(&shared, &values));
    }
}
