//! COPY INTO: idempotent bulk loads from CSV, JSON or Parquet files.
//!
//! The files a COPY INTO loaded are recorded in its commit's `commitInfo` (key
//! `tarn.copyInto`), so the record lives in the table's own log, travels with it, and a re-run
//! skips them. All new files load in one commit: a bad row anywhere commits nothing, and the
//! error names the file and the line.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, cast, col, lit};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};
use deltalake::operations::write::WriteBuilder;
use deltalake::protocol::SaveMode;
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use tarn_engine::read_commits;
use url::Url;

use crate::ast::{CopyInto, FileFormat};
use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::session::Session;

use super::util::metrics_output;

const LOADED_KEY: &str = "tarn.copyInto";

pub(crate) async fn copy_into(session: &mut Session, copy: CopyInto) -> Result<StatementOutput> {
    let target = session.open_target(&copy.table, None).await?;
    let option = |opts: &[(String, String)], key: &str| opts.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.clone());
    let force = option(&copy.copy_options, "force").is_some_and(|v| v.eq_ignore_ascii_case("true"));

    let files = list_source_files(&copy).await?;
    if files.is_empty() {
        return Err(SqlError::user(format!("COPY INTO: no files found at '{}'", copy.source)));
    }
    let loaded = if force { HashSet::new() } else { loaded_files(&target.table).await? };
    let new_files: Vec<Url> = files.into_iter().filter(|f| !loaded.contains(f.as_str())).collect();
    let skipped = loaded.len().min(i64::MAX as usize) as i64;
    if new_files.is_empty() {
        return metrics_output(&[("num_affected_rows", 0), ("num_inserted_rows", 0), ("num_skipped_files", skipped)]);
    }

    let merge_schema = option(&copy.copy_options, "mergeSchema").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut schema: SchemaRef = target.table.snapshot()?.snapshot().arrow_schema();
    let ctx = SessionContext::new_with_state(session.base.clone());
    let mut per_file = Vec::with_capacity(new_files.len());
    if merge_schema {
        // Read every file with its own (inferred) schema, widen the table schema by the columns
        // it lacks, then shape each file to the widened schema by column name.
        let mut frames = Vec::with_capacity(new_files.len());
        for url in &new_files {
            frames.push((url.to_string(), read_inferred(&ctx, url, &copy).await?));
        }
        let mut fields: Vec<arrow::datatypes::FieldRef> = schema.fields().iter().cloned().collect();
        for (_, df) in &frames {
            for field in df.schema().fields() {
                if !fields.iter().any(|f| f.name().eq_ignore_ascii_case(field.name())) {
                    let dt = super::write::storable(field.data_type());
                    fields.push(Arc::new(arrow::datatypes::Field::new(field.name(), dt, true)));
                }
            }
        }
        schema = Arc::new(arrow::datatypes::Schema::new(fields));
        for (url, df) in frames {
            per_file.push((url, project_by_name(df, &schema)?));
        }
    } else {
        for url in &new_files {
            let df = read_file(&ctx, url, &copy, &schema).await?;
            per_file.push((url.to_string(), df));
        }
    }

    let progress = ProgressBar::new(per_file.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{spinner} COPY INTO [{bar:30}] {pos}/{len} files {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let source = FileSequence { schema: schema.clone(), files: std::sync::Mutex::new(Some(per_file)), progress: progress.clone() };
    let table = StreamingTable::try_new(schema.clone(), vec![Arc::new(source)])?;
    let plan = ctx.read_table(Arc::new(table))?.into_unoptimized_plan();

    let metadata = serde_json::json!({
        "files": new_files.iter().map(|u| u.to_string()).collect::<Vec<_>>(),
        "source": copy.source,
    });
    let snapshot = target.table.snapshot()?.snapshot().clone();
    let file_size = session.target_file_size(snapshot.metadata().configuration());
    let mut builder = WriteBuilder::new(target.table.log_store(), Some(snapshot))
        .with_input_plan(plan)
        .with_target_file_size(file_size)
        .with_session_state(Arc::new(session.base.clone()))
        .with_save_mode(SaveMode::Append)
        .with_custom_execute_handler(tarn_engine::post_commit_hooks())
        .with_writer_properties(session.writer_properties())
        .with_commit_properties(tarn_engine::commit_properties().with_metadata([(LOADED_KEY.to_string(), metadata)]));
    if merge_schema {
        builder = builder.with_schema_mode(deltalake::operations::write::SchemaMode::Merge);
    }
    let written = builder.await;
    progress.finish_and_clear();
    let table = written.map_err(|e| super::util::explain_violation(e, &target.table, "COPY INTO"))?;
    let rows = super::write::rows_added(&table).await?;
    metrics_output(&[("num_affected_rows", rows), ("num_inserted_rows", rows), ("num_skipped_files", skipped)])
}

/// Files already loaded by earlier COPY INTO commits of this table.
async fn loaded_files(table: &deltalake::DeltaTable) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    for commit in read_commits(table, None).await? {
        if let Some(files) = commit.info.get(LOADED_KEY).and_then(|v| v.get("files")).and_then(|f| f.as_array()) {
            out.extend(files.iter().filter_map(|f| f.as_str().map(str::to_string)));
        }
    }
    Ok(out)
}

/// The files a COPY INTO source names: a file, a directory (all files below it), or a glob;
/// narrowed by `PATTERN` and `FILES`.
async fn list_source_files(copy: &CopyInto) -> Result<Vec<Url>> {
    crate::files::list_files(&copy.source, copy.pattern.as_deref(), &copy.files)
        .await
        .map_err(|e| SqlError::user(format!("COPY INTO: {e}")))
}

fn single_byte(opts: &[(String, String)], keys: &[&str], default: u8) -> Result<u8> {
    for (k, v) in opts {
        if keys.iter().any(|key| k.eq_ignore_ascii_case(key)) {
            let bytes = v.as_bytes();
            if bytes.len() != 1 {
                return Err(SqlError::user(format!("COPY INTO: option '{k}' must be one character, got '{v}'")));
            }
            return Ok(bytes[0]);
        }
    }
    Ok(default)
}

/// A DataFrame reading one file, shaped to the table schema. Files are read with every
/// column nullable (a file's schema always is); the table's NOT NULL columns are checked on
/// the rows, naming the column, as INSERT checks them.
async fn read_file(ctx: &SessionContext, url: &Url, copy: &CopyInto, schema: &SchemaRef) -> Result<DataFrame> {
    let path = url.as_str();
    let opts = &copy.format_options;
    let flag = |key: &str| opts.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).is_some_and(|(_, v)| v.eq_ignore_ascii_case("true"));
    let nullable = arrow::datatypes::Schema::new(
        schema.fields().iter().map(|f| arrow::datatypes::Field::new(f.name(), f.data_type().clone(), true)).collect::<Vec<_>>(),
    );
    let df = match copy.format {
        FileFormat::Csv => {
            // Parse straight into the table's types: a bad value fails naming its line.
            let options = CsvReadOptions::new()
                .has_header(flag("header"))
                .delimiter(single_byte(opts, &["sep", "delimiter"], b',')?)
                .quote(single_byte(opts, &["quote"], b'"')?)
                .file_extension("")
                .schema(&nullable);
            ctx.read_csv(path, options).await?
        }
        FileFormat::Json => ctx.read_json(path, JsonReadOptions::default().file_extension("").schema(&nullable)).await?,
        FileFormat::Parquet => ctx.read_parquet(path, ParquetReadOptions::default().file_extension("")).await?,
    };
    project_by_name(df, schema)
}

/// A DataFrame reading one file with the schema the file itself implies.
async fn read_inferred(ctx: &SessionContext, url: &Url, copy: &CopyInto) -> Result<DataFrame> {
    let path = url.as_str();
    let opts = &copy.format_options;
    let header = opts.iter().any(|(k, v)| k.eq_ignore_ascii_case("header") && v.eq_ignore_ascii_case("true"));
    Ok(match copy.format {
        FileFormat::Csv => {
            let options = CsvReadOptions::new()
                .has_header(header)
                .delimiter(single_byte(opts, &["sep", "delimiter"], b',')?)
                .quote(single_byte(opts, &["quote"], b'"')?)
                .file_extension("");
            ctx.read_csv(path, options).await?
        }
        FileFormat::Json => ctx.read_json(path, JsonReadOptions::default().file_extension("")).await?,
        FileFormat::Parquet => ctx.read_parquet(path, ParquetReadOptions::default().file_extension("")).await?,
    })
}

/// Shape a DataFrame to `schema` by column name (case-insensitive): missing columns are NULL.
fn project_by_name(df: DataFrame, schema: &SchemaRef) -> Result<DataFrame> {
    let available: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
    let exprs: Vec<Expr> = schema
        .fields()
        .iter()
        .map(|f| {
            let value = match available.iter().find(|a| a.eq_ignore_ascii_case(f.name())) {
                Some(a) => cast(col(format!("\"{a}\"")), f.data_type().clone()),
                None => cast(lit(datafusion::common::ScalarValue::Null), f.data_type().clone()),
            };
            super::write::written_value(value, f).alias(f.name())
        })
        .collect();
    Ok(df.select(exprs)?)
}

/// One partition that reads the files in turn, naming the file in any error.
struct FileSequence {
    schema: SchemaRef,
    files: std::sync::Mutex<Option<Vec<(String, DataFrame)>>>,
    progress: ProgressBar,
}

impl fmt::Debug for FileSequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSequence").finish()
    }
}

impl PartitionStream for FileSequence {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let files = self.files.lock().ok().and_then(|mut f| f.take()).unwrap_or_default();
        let progress = self.progress.clone();
        let schema = self.schema.clone();
        let stream = futures::stream::iter(files)
            .then(move |(path, df)| {
                let progress = progress.clone();
                let schema = schema.clone();
                async move {
                    progress.set_message(path.rsplit('/').next().unwrap_or(&path).to_string());
                    let batches = df.execute_stream().await.map_err(|e| with_file(&path, e))?;
                    let file_done = futures::stream::once(async move {
                        progress.inc(1);
                        None::<datafusion::error::Result<arrow::array::RecordBatch>>
                    })
                    .filter_map(|done| async move { done });
                    let rows = batches.map(move |batch| {
                        // Same columns and types; take the table's field metadata and nullability.
                        batch
                            .and_then(|b| b.with_schema(schema.clone()).map_err(|e| DataFusionError::ArrowError(Box::new(e), None)))
                            .map_err(|e| with_file(&path, e))
                    });
                    Ok::<_, DataFusionError>(rows.chain(file_done))
                }
            })
            .try_flatten();
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

fn with_file(path: &str, e: DataFusionError) -> DataFusionError {
    DataFusionError::Execution(format!("COPY INTO: file {path}: {}", crate::error::SqlError::DataFusion(e)))
}
