//! Files as tables: CSV, JSON (one object per line) and Parquet from a file, a directory or a
//! glob — for `read_files(...)`, and for pipelines that ingest new files as they land.
//!
//! Schemas are inferred from the files (the union of their columns). Records that do not fit
//! are handled by `mode`: `PERMISSIVE` (the default) keeps the row and moves what did not fit —
//! unknown fields, values of the wrong type, a line that is not JSON at all — into a
//! `_rescued_data` column as a JSON object (with the `_file` it came from); `DROPMALFORMED`
//! drops such records; `FAILFAST` fails naming the file and line.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow::compute::CastOptions;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::execution::context::SessionState;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use serde_json::{Map, Value};
use sqlparser::ast::FunctionArg;
use url::Url;

use crate::ast::FileFormat;
use crate::error::{Result, SqlError};
use crate::session::Session;
use crate::table_functions::{Arguments, READ_FILES, read_files_source};

/// The default name of the column that keeps what did not fit the schema.
pub const RESCUED_DATA: &str = "_rescued_data";

/// What to do with a record that does not fit the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Permissive,
    DropMalformed,
    FailFast,
}

/// How to read a set of files.
#[derive(Debug, Clone)]
pub struct FileOptions {
    pub format: FileFormat,
    /// CSV: the first line names the columns.
    pub header: bool,
    pub delimiter: u8,
    pub quote: u8,
    pub mode: Mode,
    /// Where PERMISSIVE puts what did not fit (`None`: nowhere, it is dropped).
    pub rescued_column: Option<String>,
    /// Only files whose path below the source matches this glob.
    pub pattern: Option<String>,
    /// An explicit schema instead of inference.
    pub schema: Option<SchemaRef>,
    /// CSV: infer column types (Databricks' `inferColumnTypes`, on by default); off, every
    /// column is a STRING, as Spark reads ``csv.`path` ``.
    pub infer_types: bool,
    /// JSON: order inferred columns (and struct fields) by name, as Spark's JSON source does
    /// (`columnOrder => 'name'`), rather than in the order the records first name them.
    pub columns_by_name: bool,
}

impl FileOptions {
    pub fn new(format: FileFormat) -> Self {
        Self {
            format,
            header: false,
            delimiter: b',',
            quote: b'"',
            mode: Mode::Permissive,
            rescued_column: (format != FileFormat::Parquet).then(|| RESCUED_DATA.to_string()),
            pattern: None,
            schema: None,
            infer_types: true,
            columns_by_name: false,
        }
    }
}

/// A source of files: where, and how to read them.
#[derive(Debug, Clone)]
pub struct FileSource {
    pub location: String,
    pub options: FileOptions,
}

fn user(e: impl std::fmt::Display) -> SqlError {
    SqlError::user(e.to_string())
}

impl FileSource {
    /// A source from `read_files`' arguments: the path, then `format => ..`, `header => ..`,
    /// `sep => ..`, `quote => ..`, `mode => ..`, `rescuedDataColumn => ..`, `schema => ..`,
    /// `pathGlobFilter => ..`.
    pub(crate) async fn from_arguments(session: &Session, raw: &[FunctionArg]) -> Result<Self> {
        let location = read_files_source(raw)?;
        let args = Arguments::parse(READ_FILES, raw)?;
        if args.positional.len() > 1 {
            return Err(SqlError::user("read_files takes one path; give options as name => value"));
        }
        let mut text = std::collections::HashMap::new();
        for (name, expr) in &args.named {
            let value = session.eval_scalar(expr).await?;
            let value = match value {
                datafusion::scalar::ScalarValue::Utf8(Some(s)) | datafusion::scalar::ScalarValue::Utf8View(Some(s)) => s,
                other if other.is_null() => {
                    return Err(SqlError::user(format!("read_files: option {name} is NULL")));
                }
                other => other.to_string(),
            };
            text.insert(name.to_ascii_lowercase(), value);
        }
        let format = match text.get("format").map(|f| f.to_ascii_lowercase()).as_deref() {
            Some("csv") => FileFormat::Csv,
            Some("json") => FileFormat::Json,
            Some("parquet") => FileFormat::Parquet,
            Some(other) => {
                return Err(SqlError::user(format!("read_files: unknown format '{other}'; use csv, json or parquet")));
            }
            None => match location.rsplit('.').next().map(|e| e.to_ascii_lowercase()).as_deref() {
                Some("csv") => FileFormat::Csv,
                Some("json" | "jsonl" | "ndjson") => FileFormat::Json,
                Some("parquet") => FileFormat::Parquet,
                _ => {
                    return Err(SqlError::user("read_files: say which format => 'csv', 'json' or 'parquet'"));
                }
            },
        };
        let mut options = FileOptions::new(format);
        for (name, value) in &text {
            let flag = || match value.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(SqlError::user(format!("read_files: {name} must be true or false, got '{value}'"))),
            };
            let byte = || match value.as_bytes() {
                [b] => Ok(*b),
                _ => Err(SqlError::user(format!("read_files: {name} must be one character, got '{value}'"))),
            };
            match name.as_str() {
                "format" => {}
                "header" => options.header = flag()?,
                "sep" | "delimiter" => options.delimiter = byte()?,
                "quote" => options.quote = byte()?,
                "mode" => {
                    options.mode = match value.to_ascii_uppercase().as_str() {
                        "PERMISSIVE" => Mode::Permissive,
                        "DROPMALFORMED" => Mode::DropMalformed,
                        "FAILFAST" => Mode::FailFast,
                        _ => {
                            return Err(SqlError::user(format!("read_files: mode '{value}' is not PERMISSIVE, DROPMALFORMED or FAILFAST")));
                        }
                    }
                }
                "rescueddatacolumn" => options.rescued_column = (!value.is_empty()).then(|| value.clone()),
                "pathglobfilter" | "pattern" => options.pattern = Some(value.clone()),
                "infercolumntypes" => options.infer_types = flag()?,
                "columnorder" => {
                    options.columns_by_name = match value.to_ascii_lowercase().as_str() {
                        "name" => true,
                        "file" => false,
                        _ => return Err(SqlError::user(format!("read_files: columnOrder must be 'name' or 'file', got '{value}'"))),
                    }
                }
                "schema" => {
                    let columns = crate::parser::parse_column_list(value)?;
                    options.schema = Some(Arc::new(crate::exec::arrow_schema_of(&columns)?));
                }
                other => {
                    return Err(SqlError::user(format!(
                        "read_files: unknown option '{other}'; known: format, header, sep, quote, mode, rescuedDataColumn, schema, pathGlobFilter, inferColumnTypes, columnOrder"
                    )));
                }
            }
        }
        if options.mode != Mode::Permissive {
            options.rescued_column = None;
        }
        Ok(FileSource { location, options })
    }

    /// Every file of the source, sorted by path.
    pub async fn list(&self) -> Result<Vec<Url>> {
        list_files(&self.location, self.options.pattern.as_deref(), &[]).await
    }

    /// The data columns of `files` (without the rescued column): the explicit schema, or the
    /// union of what each file implies.
    pub async fn infer(&self, files: &[Url]) -> Result<SchemaRef> {
        if let Some(schema) = &self.options.schema {
            return Ok(schema.clone());
        }
        let mut fields: Vec<Field> = Vec::new();
        for url in files {
            let bytes = fetch(url).await?;
            let schema = match self.options.format {
                FileFormat::Json => infer_json(&bytes, self.options.columns_by_name),
                FileFormat::Csv => infer_csv(&bytes, &self.options).map_err(|e| with_file(url, e))?,
                FileFormat::Parquet => parquet_schema(bytes).map_err(|e| with_file(url, e))?,
            };
            for field in schema.fields() {
                match fields.iter_mut().find(|f| f.name().eq_ignore_ascii_case(field.name())) {
                    None => fields.push(Field::new(field.name(), field.data_type().clone(), true)),
                    Some(existing) if existing.data_type() != field.data_type() => {
                        *existing = Field::new(existing.name(), widen(existing.data_type(), field.data_type()), true);
                    }
                    Some(_) => {}
                }
            }
        }
        if self.options.columns_by_name {
            fields.sort_by(|a, b| a.name().cmp(b.name()));
        }
        if fields.is_empty() {
            return Err(SqlError::user(format!(
                "read_files: cannot infer a schema from {} file(s) at '{}' (empty?); give schema => 'col TYPE, ...'",
                files.len(),
                self.location
            )));
        }
        Ok(Arc::new(Schema::new(fields)))
    }

    /// The schema rows come out in: `data` plus the rescued column, if any.
    pub fn output_schema(&self, data: &SchemaRef) -> SchemaRef {
        match &self.options.rescued_column {
            Some(name) if data.field_with_name(name).is_err() => {
                let mut fields: Vec<Field> = data.fields().iter().map(|f| f.as_ref().clone()).collect();
                fields.push(Field::new(name, DataType::Utf8, true));
                Arc::new(Schema::new(fields))
            }
            _ => data.clone(),
        }
    }

    /// One file's rows in `output` (as `output_schema` gives it).
    pub async fn read(&self, url: &Url, output: &SchemaRef) -> Result<RecordBatch> {
        let bytes = fetch(url).await?;
        let data: SchemaRef = match &self.options.rescued_column {
            Some(name) => {
                Arc::new(Schema::new(output.fields().iter().filter(|f| f.name() != name).map(|f| f.as_ref().clone()).collect::<Vec<_>>()))
            }
            None => output.clone(),
        };
        let rows = match self.options.format {
            FileFormat::Json => read_json(&bytes, url, &data, &self.options)?,
            FileFormat::Csv => read_csv(&bytes, url, &data, &self.options)?,
            FileFormat::Parquet => Decoded { batch: read_parquet(bytes, &data).map_err(|e| with_file(url, e))?, rescued: None },
        };
        let mut columns: Vec<ArrayRef> = rows.batch.columns().to_vec();
        if self.options.rescued_column.is_some() && output.fields().len() > data.fields().len() {
            let rescued = rows.rescued.unwrap_or_else(|| vec![None; rows.batch.num_rows()]);
            columns.push(Arc::new(StringArray::from(rescued)));
        }
        RecordBatch::try_new(output.clone(), columns).map_err(|e| with_file(url, e))
    }
}

impl Session {
    /// The source a `read_files(...)` call with arguments `args` reads (for incremental
    /// readers that pick the files themselves).
    pub async fn file_source(&self, args: &[FunctionArg]) -> Result<FileSource> {
        FileSource::from_arguments(self, args).await
    }
}

/// `read_files(...)` as a table: every file, read now.
pub(crate) async fn read_files_provider(session: &Session, raw: &[FunctionArg], _state: &SessionState) -> Result<Arc<dyn TableProvider>> {
    let source = FileSource::from_arguments(session, raw).await?;
    let files = source.list().await?;
    if files.is_empty() {
        return Err(SqlError::user(format!("read_files: no files at '{}'", source.location)));
    }
    let data = source.infer(&files).await?;
    let output = source.output_schema(&data);
    let mut batches = Vec::with_capacity(files.len());
    for url in &files {
        batches.push(source.read(url, &output).await?);
    }
    Ok(Arc::new(MemTable::try_new(output, vec![batches])?))
}

fn with_file(url: &Url, e: impl std::fmt::Display) -> SqlError {
    SqlError::user(format!("file {url}: {e}"))
}

async fn fetch(url: &Url) -> Result<bytes::Bytes> {
    let (store, path) = tarn_storage::store_for_url(url).map_err(|e| with_file(url, e))?;
    let got = store.get(&path).await.map_err(|e| with_file(url, e))?;
    got.bytes().await.map_err(|e| with_file(url, e))
}

/// The files at `source` (a file, a directory — every file below it — or a glob), narrowed by
/// `pattern` (relative to the source) and `names`, sorted. Hidden files (`.x`, `_x`) are skipped.
pub async fn list_files(source: &str, pattern: Option<&str>, names: &[String]) -> Result<Vec<Url>> {
    let glob_at = source.find(['*', '?', '[', '{']);
    let (base, glob) = match glob_at {
        Some(i) => {
            let slash = source[..i].rfind('/').map(|s| s + 1).unwrap_or(0);
            (&source[..slash], Some(source[slash..].to_string()))
        }
        None => (source, pattern.map(str::to_string)),
    };
    let base_url = tarn_storage::resolve_location(if base.is_empty() { "." } else { base }).map_err(user)?;
    let file_url = tarn_storage::resolve_location(source).ok().map(|mut u| {
        let trimmed = u.path().trim_end_matches('/').to_string();
        u.set_path(&trimmed);
        u
    });
    // Refused before anything is looked at: whether a private file exists is private too.
    refuse_private(&base_url)?;
    if let Some(url) = &file_url {
        refuse_private(url)?;
    }
    if glob_at.is_none()
        && let Some(url) = &file_url
        && url.scheme() == "file"
    {
        match url.to_file_path() {
            Ok(p) if p.is_file() => {
                refuse_private(url)?;
                return Ok(vec![url.clone()]);
            }
            Ok(p) if !p.exists() => {
                return Err(SqlError::user(format!("the source path '{source}' does not exist")));
            }
            _ => {}
        }
    }
    let (store, prefix) = tarn_storage::store_for_url(&base_url).map_err(user)?;
    let metas: Vec<_> =
        store.list(Some(&prefix)).try_collect().await.map_err(|e| SqlError::user(format!("cannot list '{source}': {e}")))?;
    let glob = glob.map(|p| glob::Pattern::new(&p).map_err(|e| SqlError::user(format!("bad pattern '{p}': {e}")))).transpose()?;
    let prefix_len = prefix.as_ref().len();
    let mut out = Vec::new();
    for meta in metas {
        let full = meta.location.as_ref();
        let relative = full[prefix_len..].trim_start_matches('/');
        let name = relative.rsplit('/').next().unwrap_or(relative);
        // Hidden files and folders (`.x`, `_x`: Delta logs, Spark's markers) are not data.
        if relative.split('/').any(|part| part.starts_with('.') || part.starts_with('_')) {
            continue;
        }
        if let Some(p) = &glob
            && !p.matches(relative)
        {
            continue;
        }
        if !names.is_empty() && !names.iter().any(|f| f == relative || f == name) {
            continue;
        }
        let url = base_url.join(relative).map_err(|e| SqlError::Internal(format!("joining {base_url} and {relative}: {e}")))?;
        refuse_private(&url)?;
        out.push(url);
    }
    out.sort();
    Ok(out)
}

/// Folders whose files are never readable as files, whatever one's privileges: Tarn's catalog
/// (password verifiers, token hashes, the sharing signing key) and Delta logs (a table's
/// history is read through the table, where its grants apply).
const PRIVATE_FOLDERS: [&str; 2] = ["_tarn_catalog", "_delta_log"];

/// Refuse a file inside a private folder, by its path or, on local disk, by where it really is
/// (a symbolic link into the catalog is the catalog).
fn refuse_private(url: &Url) -> Result<()> {
    let private = |path: &str| path.split('/').any(|part| PRIVATE_FOLDERS.contains(&part));
    let real = match url.scheme() {
        "file" => url.to_file_path().ok().and_then(|p| std::fs::canonicalize(p).ok()).map(|p| p.to_string_lossy().replace('\\', "/")),
        _ => None,
    };
    if private(url.path()) || real.as_deref().is_some_and(private) {
        return Err(SqlError::PermissionDenied(format!(
            "permission denied: {url} is inside a Delta log or Tarn's catalog, which are never read as files; \
             query the table (or DESCRIBE HISTORY) instead"
        )));
    }
    Ok(())
}

/// A type both `a` and `b` values fit in.
fn widen(a: &DataType, b: &DataType) -> DataType {
    use DataType as D;
    match (a, b) {
        (x, y) if x == y => x.clone(),
        (D::Null, other) | (other, D::Null) => other.clone(),
        (D::Int64, D::Float64) | (D::Float64, D::Int64) => D::Float64,
        _ => D::Utf8,
    }
}

/// What one file decoded to: rows in the data schema, and per row what was rescued.
struct Decoded {
    batch: RecordBatch,
    rescued: Option<Vec<Option<String>>>,
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
}

fn infer_json(bytes: &[u8], by_name: bool) -> Schema {
    let mut values: Vec<Value> = Vec::new();
    let mut order: Vec<String> = Vec::new();
    for (_, line) in lines(bytes) {
        let Ok(value @ Value::Object(_)) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if let Ok(KeyOrder(keys)) = serde_json::from_slice::<KeyOrder>(line) {
            for key in keys {
                if !order.contains(&key) {
                    order.push(key);
                }
            }
        }
        values.push(value);
    }
    let schema =
        arrow::json::reader::infer_json_schema_from_iterator(values.iter().map(|v| Ok(v.clone()))).unwrap_or_else(|_| Schema::empty());
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    if by_name {
        // Struct fields here; the columns themselves are sorted once, over every file, by `infer`.
        return Schema::new(fields.iter().map(fields_by_name).collect::<Vec<_>>());
    }
    // Columns in the order the records first name them (serde_json's maps sort their keys).
    fields.sort_by_key(|f| order.iter().position(|k| k == f.name()).unwrap_or(usize::MAX));
    Schema::new(fields)
}

/// `field` with its struct fields, at every depth, sorted by name (Spark's JSON inference).
fn fields_by_name(field: &Field) -> Field {
    let sorted = |fields: &arrow::datatypes::Fields| {
        let mut fields: Vec<Field> = fields.iter().map(|f| fields_by_name(f)).collect();
        fields.sort_by(|a, b| a.name().cmp(b.name()));
        DataType::Struct(fields.into())
    };
    let data_type = match field.data_type() {
        DataType::Struct(fields) => sorted(fields),
        DataType::List(item) => DataType::List(Arc::new(fields_by_name(item))),
        DataType::LargeList(item) => DataType::LargeList(Arc::new(fields_by_name(item))),
        other => other.clone(),
    };
    field.clone().with_data_type(data_type)
}

/// The keys of a JSON object in the order they are written.
struct KeyOrder(Vec<String>);

impl<'de> serde::Deserialize<'de> for KeyOrder {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<KeyOrder, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(KeyOrder(keys))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// Whether a JSON value decodes into `data_type`.
fn fits(value: &Value, data_type: &DataType) -> bool {
    use DataType as D;
    match (value, data_type) {
        (Value::Null, _) => true,
        (_, D::Utf8 | D::LargeUtf8 | D::Utf8View) => !value.is_object() && !value.is_array(),
        (Value::Number(n), D::Int8 | D::Int16 | D::Int32 | D::Int64) => n.is_i64(),
        (Value::Number(n), D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64) => n.is_u64(),
        (Value::Number(_), D::Float16 | D::Float32 | D::Float64 | D::Decimal128(_, _)) => true,
        (Value::Bool(_), D::Boolean) => true,
        (Value::String(_), D::Date32 | D::Date64 | D::Timestamp(_, _)) => true,
        (Value::Array(items), D::List(f) | D::LargeList(f)) => items.iter().all(|v| fits(v, f.data_type())),
        (Value::Object(map), D::Struct(fields)) => map.iter().all(|(k, v)| match fields.iter().find(|f| f.name() == k) {
            Some(f) => fits(v, f.data_type()),
            None => true,
        }),
        (Value::Object(_), D::Map(_, _)) => true,
        _ => false,
    }
}

fn rescue_note(url: &Url, map: Map<String, Value>) -> Option<String> {
    if map.is_empty() {
        return None;
    }
    let mut map = map;
    map.insert("_file".into(), Value::String(url.to_string()));
    Some(Value::Object(map).to_string())
}

fn read_json(bytes: &[u8], url: &Url, data: &SchemaRef, options: &FileOptions) -> Result<Decoded> {
    let mut clean: Vec<Value> = Vec::new();
    let mut rescued: Vec<Option<String>> = Vec::new();
    for (line_number, line) in lines(bytes) {
        let parsed = serde_json::from_slice::<Value>(line);
        let object = match parsed {
            Ok(Value::Object(map)) => map,
            Ok(_) | Err(_) => {
                let problem = match parsed {
                    Err(e) => format!("not JSON ({e})"),
                    Ok(_) => "not a JSON object".to_string(),
                };
                match options.mode {
                    Mode::FailFast => {
                        return Err(SqlError::user(format!("file {url} line {line_number}: malformed record: {problem}")));
                    }
                    Mode::DropMalformed => continue,
                    Mode::Permissive => {
                        let mut note = Map::new();
                        note.insert("_corrupt_record".into(), Value::String(String::from_utf8_lossy(line).into_owned()));
                        clean.push(Value::Object(Map::new()));
                        rescued.push(rescue_note(url, note));
                        continue;
                    }
                }
            }
        };
        let mut keep = Map::new();
        let mut note = Map::new();
        for (key, value) in object {
            let field = data
                .fields()
                .iter()
                .find(|f| f.name() == &key)
                .or_else(|| data.fields().iter().find(|f| f.name().eq_ignore_ascii_case(&key)));
            match field {
                Some(f) if fits(&value, f.data_type()) => {
                    keep.insert(f.name().clone(), value);
                }
                Some(f) => {
                    if options.mode == Mode::FailFast {
                        return Err(SqlError::user(format!(
                            "file {url} line {line_number}: field '{key}' is {value}, which does not fit column {} ({})",
                            f.name(),
                            crate::types::spark_type_name(f.data_type())
                        )));
                    }
                    note.insert(key, value);
                }
                None => {
                    if options.mode == Mode::FailFast {
                        return Err(SqlError::user(format!("file {url} line {line_number}: field '{key}' is not a column of the schema")));
                    }
                    note.insert(key, value);
                }
            }
        }
        if options.mode == Mode::DropMalformed && !note.is_empty() {
            continue;
        }
        clean.push(Value::Object(keep));
        rescued.push(rescue_note(url, note));
    }
    let batch = decode_json_rows(&clean, data).or_else(|_| {
        // A value that passed `fits` but still does not decode (a bad date): one row at a
        // time, rescuing whole rows that fail.
        let mut batches = Vec::with_capacity(clean.len());
        for (i, row) in clean.iter_mut().enumerate() {
            match decode_json_rows(std::slice::from_ref(row), data) {
                Ok(b) => batches.push(b),
                Err(e) => {
                    if options.mode == Mode::FailFast {
                        return Err(SqlError::user(format!("file {url}: record {}: {e}", i + 1)));
                    }
                    let mut note = Map::new();
                    note.insert("_corrupt_record".into(), row.clone());
                    rescued[i] = rescue_note(url, note);
                    batches.push(RecordBatch::new_empty(data.clone()));
                    let nulls: Vec<ArrayRef> = data.fields().iter().map(|f| new_null_array(f.data_type(), 1)).collect();
                    if let Some(last) = batches.last_mut() {
                        *last = RecordBatch::try_new(data.clone(), nulls).map_err(|e| with_file(url, e))?;
                    }
                }
            }
        }
        arrow::compute::concat_batches(data, &batches).map_err(|e| with_file(url, e))
    })?;
    let rescued = options.rescued_column.as_ref().map(|_| rescued);
    Ok(Decoded { batch, rescued })
}

fn decode_json_rows(rows: &[Value], schema: &SchemaRef) -> Result<RecordBatch> {
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
        .with_coerce_primitive(true)
        .with_batch_size(rows.len().max(1))
        .build_decoder()
        .map_err(user)?;
    decoder.serialize(rows).map_err(user)?;
    Ok(decoder.flush().map_err(user)?.unwrap_or_else(|| RecordBatch::new_empty(schema.clone())))
}

fn csv_reader<'a>(bytes: &'a [u8], options: &FileOptions) -> csv::Reader<&'a [u8]> {
    csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(options.delimiter).quote(options.quote).from_reader(bytes)
}

fn infer_csv(bytes: &[u8], options: &FileOptions) -> std::result::Result<Schema, String> {
    let format = arrow::csv::reader::Format::default()
        .with_header(options.header)
        .with_delimiter(options.delimiter)
        .with_quote(options.quote)
        .with_truncated_rows(true);
    let (schema, _) = format.infer_schema(bytes, Some(1000)).map_err(|e| e.to_string())?;
    // Without a header Spark names the columns `_c0`, `_c1`, ...
    let fields = schema.fields().iter().enumerate().map(|(i, f)| {
        let name = if options.header { f.name().clone() } else { format!("_c{i}") };
        let data_type = if options.infer_types { f.data_type().clone() } else { DataType::Utf8 };
        Field::new(name, data_type, true)
    });
    Ok(Schema::new(fields.collect::<Vec<_>>()))
}

fn read_csv(bytes: &[u8], url: &Url, data: &SchemaRef, options: &FileOptions) -> Result<Decoded> {
    let mut reader = csv_reader(bytes, options);
    let mut records = reader.records();
    // Column position in the file for each schema column: by header name, else by position.
    let header: Option<Vec<String>> = if options.header {
        match records.next() {
            Some(Ok(r)) => Some(r.iter().map(str::to_string).collect()),
            Some(Err(e)) => return Err(with_file(url, e)),
            None => Some(Vec::new()),
        }
    } else {
        None
    };
    let positions: Vec<Option<usize>> = data
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match &header {
            Some(h) => h.iter().position(|n| n.eq_ignore_ascii_case(f.name())),
            None => Some(i),
        })
        .collect();
    let width = header.as_ref().map_or(data.fields().len(), Vec::len);
    let mut text: Vec<Vec<Option<String>>> = vec![Vec::new(); data.fields().len()];
    let mut notes: Vec<Map<String, Value>> = Vec::new();
    let mut lines_of: Vec<u64> = Vec::new();
    let mut first_failure: Option<(u64, String)> = None;
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                match options.mode {
                    Mode::FailFast => {
                        return Err(SqlError::user(format!("file {url} line {line}: malformed record: {e}")));
                    }
                    Mode::DropMalformed => continue,
                    Mode::Permissive => {
                        for column in &mut text {
                            column.push(None);
                        }
                        let mut note = Map::new();
                        note.insert("_corrupt_record".into(), Value::String(e.to_string()));
                        notes.push(note);
                        lines_of.push(line);
                        continue;
                    }
                }
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let mut note = Map::new();
        if record.len() > width {
            if options.mode == Mode::FailFast {
                // Reported once every earlier line is known to be fine (values are checked
                // column by column below).
                first_failure.get_or_insert((line, format!("{} fields, but the schema has {width} columns", record.len())));
            }
            for (i, extra) in record.iter().enumerate().skip(width) {
                note.insert(format!("_c{i}"), Value::String(extra.to_string()));
            }
        }
        for (column, position) in positions.iter().enumerate() {
            let value = position.and_then(|p| record.get(p)).filter(|v| !v.is_empty()).map(str::to_string);
            text[column].push(value);
        }
        if options.mode == Mode::DropMalformed && !note.is_empty() {
            for column in &mut text {
                column.pop();
            }
            continue;
        }
        notes.push(note);
        lines_of.push(line);
    }
    // Parse each column into its type; a value that does not parse is rescued (or fails).
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(text.len());
    let mut keep = vec![true; notes.len()];
    for (column, field) in text.into_iter().zip(data.fields()) {
        let strings = StringArray::from(column);
        let parsed = arrow::compute::cast_with_options(&strings, field.data_type(), &CastOptions { safe: true, ..Default::default() })
            .map_err(|e| with_file(url, e))?;
        for row in 0..strings.len() {
            if strings.is_valid(row) && parsed.is_null(row) {
                let value = strings.value(row);
                match options.mode {
                    Mode::FailFast => {
                        let problem = format!(
                            "'{value}' is not a valid {} for column {}",
                            crate::types::spark_type_name(field.data_type()),
                            field.name()
                        );
                        if first_failure.as_ref().is_none_or(|(line, _)| lines_of[row] < *line) {
                            first_failure = Some((lines_of[row], problem));
                        }
                        break;
                    }
                    Mode::DropMalformed => keep[row] = false,
                    Mode::Permissive => {
                        notes[row].insert(field.name().clone(), Value::String(value.to_string()));
                    }
                }
            }
        }
        columns.push(parsed);
    }
    if let Some((line, problem)) = first_failure {
        return Err(SqlError::user(format!("file {url} line {line}: {problem}")));
    }
    let mut batch = RecordBatch::try_new(data.clone(), columns).map_err(|e| with_file(url, e))?;
    if keep.iter().any(|k| !k) {
        let mask = arrow::array::BooleanArray::from(keep.clone());
        batch = arrow::compute::filter_record_batch(&batch, &mask).map_err(|e| with_file(url, e))?;
        notes = notes.into_iter().zip(&keep).filter(|(_, k)| **k).map(|(n, _)| n).collect();
    }
    let rescued = options.rescued_column.as_ref().map(|_| notes.into_iter().map(|n| rescue_note(url, n)).collect());
    Ok(Decoded { batch, rescued })
}

fn parquet_schema(bytes: bytes::Bytes) -> std::result::Result<Schema, String> {
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| e.to_string())?;
    Ok(builder.schema().as_ref().clone())
}

/// A Parquet file's rows, its columns matched to `schema` by name (missing ones NULL).
fn read_parquet(bytes: bytes::Bytes, schema: &SchemaRef) -> std::result::Result<RecordBatch, String> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    let mut batches = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        let mut columns = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let column = match batch.schema().fields().iter().position(|f| f.name().eq_ignore_ascii_case(field.name())) {
                Some(i) => arrow::compute::cast(batch.column(i), field.data_type()).map_err(|e| e.to_string())?,
                None => new_null_array(field.data_type(), batch.num_rows()),
            };
            columns.push(column);
        }
        batches.push(RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?);
    }
    arrow::compute::concat_batches(schema, &batches).map_err(|e| e.to_string())
}
