//! One update of one dataset.
//!
//! Every input is bound (as a temporary view named by its placeholder) to exactly the data
//! this update reads: a streaming input to what is new since the progress recorded in the
//! dataset's own last commit, a batch input to its current version, pinned. The rows are then
//! written in one commit that also records the new progress — Delta `txn` actions
//! (`tarn.pipeline.source:<table>` → the source version read, `tarn.pipeline.update` → the
//! update's sequence number) and, for files, the names of the files ingested in the commit's
//! `tarn.pipeline` commitInfo member. A crash before that commit leaves the progress where
//! it was, so the next update reads the same input again: nothing lost, nothing twice.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use serde_json::{Value, json};
use tarn_sql::{FlowWrite, Session, StatementOutput};

use crate::config::PipelineConfig;
use crate::definition::{Action, Dataset, DatasetKind, Input, Source};
use crate::error::{PipelineError, Result};
use crate::expectations::{self, QUARANTINE_RULES, RuleCount, SharedTally, Tally};
use crate::graph::Resolved;
use crate::shape::{Combine, Shape};

pub const UPDATE_APP: &str = "tarn.pipeline.update";
pub const DEFINITION_APP: &str = "tarn.pipeline.definition";
const COMMIT_INFO_KEY: &str = "tarn.pipeline";

fn source_app(table: &str) -> String {
    format!("tarn.pipeline.source:{table}")
}

/// How a dataset was refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    Incremental,
    Full,
    None,
}

impl Refresh {
    pub fn label(self) -> &'static str {
        match self {
            Refresh::Incremental => "incremental",
            Refresh::Full => "full",
            Refresh::None => "none",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Completed,
    /// Nothing to do (no new input, or an upstream dataset failed or has no data yet).
    Skipped,
    Failed,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// What one dataset's update did.
#[derive(Debug, Clone)]
pub struct DatasetReport {
    pub name: String,
    pub kind: DatasetKind,
    pub refresh: Refresh,
    pub status: Status,
    /// Why this refresh (e.g. why not incremental), or what failed.
    pub message: String,
    pub rows_in: u64,
    pub rows_out: u64,
    pub dropped: u64,
    pub quarantined: u64,
    pub rules: Vec<RuleCount>,
    /// The dataset's version after the update.
    pub version: Option<i64>,
    pub finished_at: i64,
    pub duration_ms: i64,
}

impl DatasetReport {
    pub fn new(dataset: &Dataset) -> Self {
        DatasetReport {
            name: dataset.name.clone(),
            kind: dataset.kind,
            refresh: Refresh::None,
            status: Status::Skipped,
            message: String::new(),
            rows_in: 0,
            rows_out: 0,
            dropped: 0,
            quarantined: 0,
            rules: Vec::new(),
            version: None,
            finished_at: 0,
            duration_ms: 0,
        }
    }
}

/// Backtick-quote a dotted name.
pub fn quote_name(name: &str) -> String {
    name.split('.').map(|p| format!("`{}`", p.replace('`', "``"))).collect::<Vec<_>>().join(".")
}

fn quote_column(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn string_literal(text: &str) -> String {
    tarn_sql::string_literal(text)
}

/// Everything an update of one dataset needs.
pub struct DatasetUpdate<'a> {
    pub session: &'a mut Session,
    pub config: &'a PipelineConfig,
    pub dataset: &'a Dataset,
    pub resolved: &'a [Resolved],
    /// Full names of the pipeline's datasets, by index.
    pub dataset_tables: &'a [String],
    pub full_refresh: bool,
    /// Plan only: bind inputs to empty data of the right columns, write nothing.
    pub dry_run: bool,
    /// Columns of upstream datasets (for a dry run, where they may not exist yet).
    pub planned: &'a [Option<SchemaRef>],
    pub update_id: &'a str,
}

/// Operations after which a table only gained rows.
fn appends_only(operation: &str, parameters: &serde_json::Map<String, Value>) -> bool {
    match operation {
        "WRITE" => parameters.get("mode").and_then(Value::as_str).is_none_or(|m| m.eq_ignore_ascii_case("append")),
        "STREAMING UPDATE"
        | "OPTIMIZE"
        | "VACUUM START"
        | "VACUUM END"
        | "SET TBLPROPERTIES"
        | "ADD COLUMN"
        | "ADD CONSTRAINT"
        | "DROP CONSTRAINT"
        | "UPDATE TABLE METADATA"
        | "ADD FEATURE"
        | "UPDATE FIELD METADATA"
        | "CONVERT" => true,
        _ => false,
    }
}

struct Bound {
    provider: Arc<dyn TableProvider>,
    /// For streaming inputs: whether there is anything new.
    new_data: bool,
}

impl DatasetUpdate<'_> {
    fn target(&self) -> String {
        self.config.qualified(&self.dataset.name)
    }

    fn input_table(&self, resolved: &Resolved) -> Option<String> {
        match resolved {
            Resolved::Dataset(i) => Some(self.dataset_tables[*i].clone()),
            Resolved::External(name) => Some(name.clone()),
            Resolved::Files(_) => None,
        }
    }

    /// The first commit (from `from`, through `to`) of `table` that did more than add rows.
    async fn first_rewrite(&self, table: &str, from: i64, to: i64) -> Result<Option<String>> {
        for commit in self.session.commit_history(table, Some(from)).await? {
            if commit.version > to {
                continue;
            }
            let operation = commit.operation.clone().unwrap_or_default();
            if !appends_only(&operation, &commit.operation_parameters) {
                return Ok(Some(format!("{operation} at version {}", commit.version)));
            }
        }
        Ok(None)
    }

    /// Files under `key` this dataset already ingested: every pipeline commit's list, back to
    /// (and including) its last full refresh.
    async fn files_seen(&self, key: &str) -> Result<HashSet<String>> {
        let mut seen = HashSet::new();
        for commit in self.session.commit_history(&self.target(), None).await? {
            let Some(info) = commit.info.get(COMMIT_INFO_KEY) else { continue };
            if let Some(files) = info.get("files").and_then(|f| f.get(key)).and_then(Value::as_array) {
                seen.extend(files.iter().filter_map(Value::as_str).map(str::to_string));
            }
            if info.get("reset").and_then(Value::as_bool) == Some(true) {
                break;
            }
        }
        Ok(seen)
    }

    async fn columns_of(&self, table: &str, version: i64) -> Result<SchemaRef> {
        let view = self.session.plan_view(&format!("SELECT * FROM {} VERSION AS OF {version}", quote_name(table))).await?;
        Ok(view.schema())
    }

    /// Bind one table input: all of it at `version`, or (streaming, incremental) its rows added
    /// after `last`.
    async fn bind_table(&mut self, input: &Input, table: &str, stream: bool, progress: &mut Vec<(String, i64)>) -> Result<Bound> {
        if self.dry_run {
            let schema = match self.resolved_schema(input) {
                Some(s) => s,
                None => {
                    let version = self.require_version(table).await?;
                    self.columns_of(table, version).await?
                }
            };
            return Ok(Bound { provider: Arc::new(MemTable::try_new(schema, vec![vec![]])?), new_data: true });
        }
        let version = self.require_version(table).await?;
        let whole = format!("SELECT * FROM {} VERSION AS OF {version}", quote_name(table));
        let last = if stream && !self.full_refresh { self.app_transaction(&source_app(table)).await? } else { None };
        if stream || self.dataset.kind == DatasetKind::MaterializedView {
            progress.push((source_app(table), version));
        }
        match last {
            Some(last) if last >= version => {
                let schema = self.columns_of(table, version).await?;
                Ok(Bound { provider: Arc::new(MemTable::try_new(schema, vec![vec![]])?), new_data: false })
            }
            Some(last) => Ok(Bound { provider: self.new_rows(table, last, version).await?, new_data: true }),
            None => Ok(Bound { provider: self.session.plan_view(&whole).await?, new_data: true }),
        }
    }

    /// The rows `table` gained after version `last`, through `version` (from its change data
    /// feed); an error if it did more than gain rows.
    async fn new_rows(&self, table: &str, last: i64, version: i64) -> Result<Arc<dyn TableProvider>> {
        if let Some(rewrite) = self.first_rewrite(table, last + 1, version).await? {
            return Err(PipelineError::Definition(format!(
                "{} streams from {table}, which changed existing rows since the last update ({rewrite}); a streaming \
                 table reads only appended rows — refresh it from scratch with --full-refresh {}",
                self.dataset.name, self.dataset.name
            )));
        }
        let schema = self.columns_of(table, version).await?;
        let columns: Vec<String> = schema.fields().iter().map(|f| quote_column(f.name())).collect();
        let sql = format!(
            "SELECT {} FROM table_changes({}, {}, {version}) WHERE _change_type = 'insert'",
            columns.join(", "),
            string_literal(table),
            last + 1
        );
        Ok(self.session.plan_view(&sql).await?)
    }

    fn resolved_schema(&self, input: &Input) -> Option<SchemaRef> {
        let position = self.dataset.inputs.iter().position(|i| i.placeholder == input.placeholder)?;
        match &self.resolved[position] {
            Resolved::Dataset(i) => self.planned.get(*i).cloned().flatten(),
            _ => None,
        }
    }

    async fn require_version(&self, table: &str) -> Result<i64> {
        self.session.table_version(table).await?.ok_or_else(|| {
            PipelineError::Definition(format!(
                "{}: {} reads {table}, which is neither a dataset of this pipeline nor a table in the warehouse",
                self.dataset.at, self.dataset.name
            ))
        })
    }

    async fn app_transaction(&self, app: &str) -> Result<Option<i64>> {
        Ok(self.session.app_transaction(&self.target(), app).await?)
    }

    /// Bind `STREAM read_files(...)`: the files not ingested yet.
    async fn bind_files(
        &mut self,
        args: &[sqlparser::ast::FunctionArg],
        key: &str,
        files: &mut serde_json::Map<String, Value>,
    ) -> Result<Bound> {
        let source = self.session.file_source(args).await?;
        let listed = source.list().await?;
        if listed.is_empty() && !self.dry_run {
            return Err(PipelineError::Definition(format!(
                "{}: {key} found no files at '{}'; check the path (relative paths are relative to the pipeline's folder)",
                self.dataset.at, source.location
            )));
        }
        let seen = if self.full_refresh || self.dry_run { HashSet::new() } else { self.files_seen(key).await? };
        let new: Vec<url::Url> = listed.iter().filter(|u| !seen.contains(u.as_str())).cloned().collect();
        let sample: Vec<url::Url> = if new.is_empty() { listed.iter().rev().take(1).cloned().collect() } else { new.clone() };
        if sample.is_empty() {
            return Err(PipelineError::Definition(format!("{}: {key}: no files to infer columns from", self.dataset.at)));
        }
        let schema = source.output_schema(&source.infer(&sample).await?);
        let mut batches = Vec::with_capacity(new.len());
        if !self.dry_run {
            for url in &new {
                batches.push(source.read(url, &schema).await?);
            }
        }
        files.insert(key.to_string(), Value::Array(new.iter().map(|u| Value::String(u.to_string())).collect()));
        Ok(Bound { provider: Arc::new(MemTable::try_new(schema, vec![batches])?), new_data: !new.is_empty() })
    }

    /// The query with declared column types applied.
    fn query_sql(&self) -> String {
        let query = tarn_sql::sql_text(&self.dataset.query);
        if self.dataset.columns.is_empty() {
            return query;
        }
        let casts: Vec<String> = self
            .dataset
            .columns
            .iter()
            .map(|c| format!("CAST({} AS {}) AS {}", quote_column(&c.name), c.data_type, quote_column(&c.name)))
            .collect();
        format!("SELECT {} FROM ({query}) AS __tarn_declared", casts.join(", "))
    }

    async fn run_query(&mut self, sql: &str) -> Result<StatementOutput> {
        let mut statements = tarn_sql::parse_sql(sql)?;
        let statement = statements.pop().ok_or_else(|| PipelineError::Internal(format!("no statement in {sql}")))?;
        Ok(self.session.execute(statement).await?)
    }

    /// Create the dataset's table (columns of `schema`) if it does not exist.
    async fn ensure_table(
        &mut self,
        table: &str,
        schema: &SchemaRef,
        comment: Option<&str>,
        partitioned_by: &[String],
        properties: &[(String, String)],
    ) -> Result<()> {
        if self.session.table_version(table).await?.is_some() {
            return Ok(());
        }
        let columns: Vec<String> =
            schema.fields().iter().map(|f| format!("{} {}", quote_column(f.name()), tarn_sql::spark_type_name(f.data_type()))).collect();
        let mut sql = format!("CREATE TABLE IF NOT EXISTS {} ({})", quote_name(table), columns.join(", "));
        if !partitioned_by.is_empty() {
            sql.push_str(&format!(" PARTITIONED BY ({})", partitioned_by.iter().map(|c| quote_column(c)).collect::<Vec<_>>().join(", ")));
        }
        if let Some(comment) = comment {
            sql.push_str(&format!(" COMMENT {}", string_literal(comment)));
        }
        if !properties.is_empty() {
            let props: Vec<String> = properties.iter().map(|(k, v)| format!("{} = {}", string_literal(k), string_literal(v))).collect();
            sql.push_str(&format!(" TBLPROPERTIES ({})", props.join(", ")));
        }
        self.session.sql(&sql).await?;
        Ok(())
    }

    /// Run the update. `report` is filled in as far as it got, also on error.
    pub async fn run(&mut self, report: &mut DatasetReport) -> Result<Option<SchemaRef>> {
        let started = Instant::now();
        let result = match self.dataset.kind {
            DatasetKind::StreamingTable => self.streaming(report).await,
            DatasetKind::MaterializedView => self.materialized(report).await,
        };
        self.session.clear_temp_views();
        report.duration_ms = started.elapsed().as_millis() as i64;
        report.finished_at = chrono::Utc::now().timestamp_micros();
        if !self.dry_run && report.status != Status::Failed {
            report.version = self.session.table_version(&self.target()).await.ok().flatten();
        }
        result
    }

    async fn bind_all(&mut self, progress: &mut Vec<(String, i64)>, files: &mut serde_json::Map<String, Value>) -> Result<bool> {
        let mut any_new = false;
        let inputs = self.dataset.inputs.clone();
        for (input, resolved) in inputs.iter().zip(self.resolved.to_vec()) {
            let bound = match (&input.source, self.input_table(&resolved)) {
                (Source::Files { args, call }, _) => self.bind_files(args, call, files).await?,
                (Source::Table { stream, .. }, Some(table)) => {
                    let stream = *stream && self.dataset.kind == DatasetKind::StreamingTable;
                    let bound = self.bind_table(input, &table, stream, progress).await?;
                    if !stream {
                        // A static input changes nothing by itself in a streaming table.
                        Bound { new_data: self.dataset.kind == DatasetKind::MaterializedView && bound.new_data, ..bound }
                    } else {
                        bound
                    }
                }
                (Source::Table { name, .. }, None) => return Err(PipelineError::Internal(format!("{name} resolved to files"))),
            };
            any_new |= bound.new_data;
            self.session.register_temp_view(&input.placeholder, bound.provider);
        }
        Ok(any_new)
    }

    async fn next_update_seq(&self) -> Result<i64> {
        Ok(self.app_transaction(UPDATE_APP).await?.unwrap_or(0) + 1)
    }

    async fn streaming(&mut self, report: &mut DatasetReport) -> Result<Option<SchemaRef>> {
        if self.dataset.streams().next().is_none() {
            return Err(PipelineError::Definition(format!(
                "{}: streaming table {} reads no stream; read an input with STREAM(table) or STREAM read_files(...), or \
                 make it a MATERIALIZED VIEW",
                self.dataset.at, self.dataset.name
            )));
        }
        let target = self.target();
        let exists = !self.dry_run && self.session.table_version(&target).await?.is_some();
        self.full_refresh |= !exists;
        let mut progress = Vec::new();
        let mut files = serde_json::Map::new();
        let any_new = self.bind_all(&mut progress, &mut files).await?;
        let sql = self.query_sql();
        if self.dry_run {
            return self.plan_only(&sql).await;
        }
        if !any_new && !self.full_refresh {
            report.status = Status::Skipped;
            report.message = "no new input".into();
            return Ok(None);
        }
        report.refresh = if self.full_refresh { Refresh::Full } else { Refresh::Incremental };
        report.message = if !exists {
            "first update".into()
        } else if self.full_refresh {
            "full refresh requested".into()
        } else {
            "new input".into()
        };
        let seq = self.next_update_seq().await?;
        let data_schema = self.session.plan_view(&sql).await?.schema();
        self.ensure_table(&target, &data_schema, self.dataset.comment.as_deref(), &self.dataset.partitioned_by, &self.table_properties())
            .await?;
        let mut transactions = vec![(UPDATE_APP.to_string(), seq)];
        transactions.extend(progress);
        let metadata = json!({ "update_id": self.update_id, "update": seq, "reset": self.full_refresh, "files": files });
        let write = FlowWrite {
            overwrite: self.full_refresh,
            merge_schema: true,
            overwrite_schema: false,
            app_transactions: transactions,
            metadata: [(COMMIT_INFO_KEY.to_string(), metadata)].into_iter().collect(),
        };
        self.write_with_expectations(&sql, &target, seq, write, report).await?;
        Ok(Some(data_schema))
    }

    fn table_properties(&self) -> Vec<(String, String)> {
        let mut properties = self.dataset.properties.clone();
        if !properties.iter().any(|(k, _)| k.eq_ignore_ascii_case("delta.enableExpiredLogCleanup"))
            && self.dataset.kind == DatasetKind::StreamingTable
        {
            // Which files a streaming table ingested is in its commits; keep them.
            properties.push(("delta.enableExpiredLogCleanup".into(), "false".into()));
        }
        properties
    }

    /// Plan (for `validate`): the query and its expectations, nothing written.
    async fn plan_only(&mut self, sql: &str) -> Result<Option<SchemaRef>> {
        let schema = self.session.plan_view(sql).await?.schema();
        if !self.dataset.expectations.is_empty() {
            let checked = self.session.plan_view(&expectations::with_rule_columns(sql, &self.dataset.expectations)).await?.schema();
            for (i, e) in self.dataset.expectations.iter().enumerate() {
                let field = checked.field(schema.fields().len() + i);
                if field.data_type() != &arrow::datatypes::DataType::Boolean {
                    return Err(PipelineError::Definition(format!(
                        "{}: expectation '{}' ({}) is {} , not true or false",
                        self.dataset.at,
                        e.name,
                        e.condition,
                        field.data_type()
                    )));
                }
            }
        }
        Ok(Some(schema))
    }

    /// Write the query's rows through the expectations: quarantined rows first (exactly once,
    /// by the update's sequence number), then the dataset's commit.
    async fn write_with_expectations(
        &mut self,
        sql: &str,
        target: &str,
        seq: i64,
        write: FlowWrite,
        report: &mut DatasetReport,
    ) -> Result<()> {
        let rules = self.dataset.expectations.clone();
        let checked_sql = expectations::with_rule_columns(sql, &rules);
        if rules.iter().any(|e| e.action == Action::Quarantine) {
            let tally: SharedTally = Arc::new(Mutex::new(Tally::default()));
            let output = self.run_query(&checked_sql).await?;
            let mut stream = expectations::apply(output, rules.clone(), self.dataset.name.clone(), tally.clone()).stream;
            use futures::StreamExt;
            while let Some(batch) = stream.next().await {
                if let Err(e) = batch {
                    return Err(take_failure(&tally).unwrap_or_else(|| PipelineError::from(e)));
                }
            }
            let quarantined = std::mem::take(&mut tally.lock().map_err(|_| PipelineError::Internal("poisoned".into()))?.quarantined);
            self.write_quarantine(target, seq, quarantined).await?;
        }
        let tally: SharedTally = Arc::new(Mutex::new(Tally::default()));
        let output = self.run_query(&checked_sql).await?;
        let output = expectations::apply(output, rules, self.dataset.name.clone(), tally.clone());
        let result = self.session.write_flow(target, output, write).await;
        {
            let t = tally.lock().map_err(|_| PipelineError::Internal("poisoned".into()))?;
            report.rows_in = t.rows_in;
            report.rows_out = t.rows_out;
            report.dropped = t.dropped;
            report.quarantined = t.quarantined_rows();
            report.rules = t.rules.clone();
        }
        match result {
            Ok(_) => {
                report.status = Status::Completed;
                Ok(())
            }
            Err(e) => Err(take_failure(&tally).unwrap_or_else(|| e.into())),
        }
    }

    async fn write_quarantine(&mut self, target: &str, seq: i64, batches: Vec<arrow::array::RecordBatch>) -> Result<()> {
        let table = format!("{target}_quarantine");
        let Some(schema) = batches.first().map(|b| b.schema()) else { return Ok(()) };
        if batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(());
        }
        self.ensure_table(
            &table,
            &schema,
            Some(&format!("rows of {target} that failed a QUARANTINE expectation ({QUARANTINE_RULES} names the rules)")),
            &[],
            &[],
        )
        .await?;
        let app = format!("{UPDATE_APP}:{target}");
        if self.session.app_transaction(&table, &app).await?.is_some_and(|done| done >= seq) {
            return Ok(()); // this update's quarantined rows were committed before a crash
        }
        let stream = datafusion::physical_plan::memory::MemoryStream::try_new(batches, schema.clone(), None)?;
        let write = FlowWrite { merge_schema: true, app_transactions: vec![(app, seq)], ..FlowWrite::default() };
        self.session.write_flow(&table, StatementOutput { schema, stream: Box::pin(stream) }, write).await?;
        Ok(())
    }

    async fn materialized(&mut self, report: &mut DatasetReport) -> Result<Option<SchemaRef>> {
        let target = self.target();
        let sql = self.query_sql();
        if self.dry_run {
            let mut progress = Vec::new();
            let mut files = serde_json::Map::new();
            self.bind_all(&mut progress, &mut files).await?;
            return self.plan_only(&sql).await;
        }
        let exists = self.session.table_version(&target).await?.is_some();
        let plan = if exists && !self.full_refresh {
            self.incremental_plan().await?
        } else {
            Err(if exists { "full refresh requested".into() } else { "first update".into() })
        };
        match plan {
            Ok(Some((table, last, version, shape))) => self.refresh_incrementally(&target, &table, last, version, shape, report).await,
            Ok(None) => {
                report.status = Status::Skipped;
                report.message = "up to date: its inputs have not changed".into();
                Ok(None)
            }
            Err(reason) => {
                report.refresh = Refresh::Full;
                report.message = reason;
                self.recompute(&target, &sql, report).await
            }
        }
    }

    /// `Ok(Some(..))`: refresh from the new rows of this one input; `Ok(None)`: nothing changed;
    /// `Err(reason)`: recompute.
    async fn incremental_plan(&mut self) -> Result<Result<Option<(String, i64, i64, Shape)>, String>> {
        let fingerprint = self.app_transaction(DEFINITION_APP).await?;
        if fingerprint != Some(self.dataset.fingerprint) {
            return Ok(Err("the definition changed since the last refresh".into()));
        }
        // Unchanged inputs mean nothing to do, whatever the query.
        let mut changed = false;
        let mut tables = Vec::new();
        for resolved in self.resolved {
            match self.input_table(resolved) {
                Some(table) => {
                    let version = self.require_version(&table).await?;
                    let last = self.app_transaction(&source_app(&table)).await?;
                    changed |= last != Some(version);
                    tables.push((table, last, version));
                }
                None => changed = true, // files read in batch: always re-read
            }
        }
        if !changed {
            return Ok(Ok(None));
        }
        if !self.dataset.expectations.is_empty() || !self.dataset.columns.is_empty() {
            return Ok(Err("it has expectations or declared columns".into()));
        }
        let [(table, Some(last), version)] = tables.as_slice() else {
            return Ok(Err("it does not read exactly one table".into()));
        };
        if self.resolved.len() != 1 || matches!(self.resolved[0], Resolved::Files(_)) || self.dataset.calls_table_functions {
            return Ok(Err("it reads files or a change feed".into()));
        }
        let aggregates: HashSet<String> = self.session.state().aggregate_functions().keys().map(|k| k.to_ascii_lowercase()).collect();
        let shape = match crate::shape::analyze(&self.dataset.query, &aggregates) {
            Ok(shape) => shape,
            Err(reason) => return Ok(Err(reason)),
        };
        if let Some(rewrite) = self.first_rewrite(table, last + 1, *version).await? {
            return Ok(Err(format!("{table} changed existing rows ({rewrite})")));
        }
        Ok(Ok(Some((table.clone(), *last, *version, shape))))
    }

    async fn refresh_incrementally(
        &mut self,
        target: &str,
        table: &str,
        last: i64,
        version: i64,
        shape: Shape,
        report: &mut DatasetReport,
    ) -> Result<Option<SchemaRef>> {
        report.refresh = Refresh::Incremental;
        report.message = format!("{table} only gained rows (versions {}..={version})", last + 1);
        let placeholder = self.dataset.inputs[0].placeholder.clone();
        let delta = self.new_rows(table, last, version).await?;
        self.session.register_temp_view(&placeholder, delta);
        let sql = self.query_sql();
        let seq = self.next_update_seq().await?;
        let transactions =
            vec![(UPDATE_APP.to_string(), seq), (DEFINITION_APP.to_string(), self.dataset.fingerprint), (source_app(table), version)];
        let metadata = [(COMMIT_INFO_KEY.to_string(), json!({ "update_id": self.update_id, "update": seq, "refresh": "incremental" }))]
            .into_iter()
            .collect();
        let current_version = self.require_version(target).await?;
        let stored = self.columns_of(target, current_version).await?;
        let (output_sql, overwrite) = match shape {
            Shape::Rows => (sql, false),
            Shape::Aggregate(combines) => {
                if combines.len() != stored.fields().len() {
                    return Err(PipelineError::Internal(format!(
                        "{target} has {} columns, its query {}",
                        stored.fields().len(),
                        combines.len()
                    )));
                }
                let new_groups = self.session.plan_view(&sql).await?;
                self.session.register_temp_view("__tarn_new_groups", new_groups);
                let current =
                    self.session.plan_view(&format!("SELECT * FROM {} VERSION AS OF {current_version}", quote_name(target))).await?;
                self.session.register_temp_view("__tarn_stored_groups", current);
                let mut select = Vec::new();
                let mut keys = Vec::new();
                for (field, combine) in stored.fields().iter().zip(&combines) {
                    let c = quote_column(field.name());
                    select.push(match combine {
                        Combine::Key => {
                            keys.push(c.clone());
                            c
                        }
                        Combine::Sum => format!("sum({c}) AS {c}"),
                        Combine::Min => format!("min({c}) AS {c}"),
                        Combine::Max => format!("max({c}) AS {c}"),
                    });
                }
                let group_by = if keys.is_empty() { String::new() } else { format!(" GROUP BY {}", keys.join(", ")) };
                (
                    format!(
                        "SELECT {} FROM (SELECT * FROM __tarn_stored_groups UNION ALL SELECT * FROM __tarn_new_groups) AS __tarn_groups{group_by}",
                        select.join(", ")
                    ),
                    true,
                )
            }
        };
        let write = FlowWrite { overwrite, merge_schema: false, overwrite_schema: false, app_transactions: transactions, metadata };
        self.write_with_expectations(&output_sql, target, seq, write, report).await?;
        Ok(Some(stored))
    }

    async fn recompute(&mut self, target: &str, sql: &str, report: &mut DatasetReport) -> Result<Option<SchemaRef>> {
        self.full_refresh = true;
        let mut progress = Vec::new();
        let mut files = serde_json::Map::new();
        self.bind_all(&mut progress, &mut files).await?;
        let seq = self.next_update_seq().await?;
        let schema = self.session.plan_view(sql).await?.schema();
        self.ensure_table(target, &schema, self.dataset.comment.as_deref(), &self.dataset.partitioned_by, &self.dataset.properties).await?;
        let mut transactions = vec![(UPDATE_APP.to_string(), seq), (DEFINITION_APP.to_string(), self.dataset.fingerprint)];
        transactions.extend(progress);
        let metadata =
            [(COMMIT_INFO_KEY.to_string(), json!({ "update_id": self.update_id, "update": seq, "refresh": "full" }))].into_iter().collect();
        let write = FlowWrite { overwrite: true, merge_schema: false, overwrite_schema: true, app_transactions: transactions, metadata };
        self.write_with_expectations(sql, target, seq, write, report).await?;
        Ok(Some(schema))
    }
}

fn take_failure(tally: &SharedTally) -> Option<PipelineError> {
    tally.lock().ok().and_then(|mut t| t.failure.take())
}
