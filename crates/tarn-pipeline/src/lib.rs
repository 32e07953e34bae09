//! Declarative pipelines: a folder of `.sql` files defining streaming tables and materialized
//! views (Spark Declarative Pipelines / Delta Live Tables SQL), and an optional `pipeline.toml`.
//!
//! [`Pipeline::load`] parses the files ([`definition`]) and orders the datasets by what their
//! queries read ([`graph`]); [`Pipeline::update`] refreshes every dataset in that order
//! ([`update`]): streaming tables append what is new in their streaming inputs, exactly once;
//! materialized views refresh from their source's new rows where the query allows it
//! ([`shape`]), else recompute. Expectations ([`expectations`]) check rows on the way in.
//! Each update's counts go to the event log ([`event_log`]).
//!
//! Everything runs through a `tarn_sql::Session`: the pipeline is SQL plus progress kept in
//! the tables' own Delta commits, nothing on the side.

pub mod config;
pub mod definition;
mod error;
pub mod event_log;
pub mod expectations;
pub mod graph;
pub mod shape;
pub mod update;

use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use tarn_sql::Session;

pub use config::PipelineConfig;
pub use error::{PipelineError, Result};
pub use graph::Graph;
pub use update::{DatasetReport, Refresh, Status};

use update::{DatasetUpdate, quote_name};

/// Which datasets an update recomputes from scratch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FullRefresh {
    #[default]
    None,
    All,
    Only(Vec<String>),
}

#[derive(Debug, Clone, Default)]
pub struct UpdateOptions {
    pub full_refresh: FullRefresh,
}

/// What one update of the whole pipeline did.
#[derive(Debug)]
pub struct UpdateReport {
    pub update_id: String,
    pub datasets: Vec<DatasetReport>,
    /// Each failed dataset's error.
    pub errors: Vec<(String, PipelineError)>,
}

impl UpdateReport {
    pub fn failed(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The update as an error, if a dataset failed.
    pub fn into_result(self) -> Result<Self> {
        if self.errors.is_empty() {
            return Ok(self);
        }
        let names: Vec<&str> = self.errors.iter().map(|(n, _)| n.as_str()).collect();
        Err(PipelineError::UpdateFailed { failed: self.errors.len(), total: self.datasets.len(), names: names.join(", ") })
    }
}

/// A loaded pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub dir: PathBuf,
    pub config: PipelineConfig,
    pub graph: Graph,
}

impl Pipeline {
    /// Parse every `*.sql` file in `dir` (in name order) and build the dependency graph.
    pub fn load(dir: &Path) -> Result<Self> {
        let io = |source| PipelineError::Io { path: dir.display().to_string(), source };
        let absolute = dir.canonicalize().map_err(io)?;
        let config = PipelineConfig::load(&absolute)?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(&absolute)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql") && p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(PipelineError::Definition(format!(
                "{} holds no .sql files; a pipeline is a folder of CREATE OR REFRESH STREAMING TABLE / MATERIALIZED VIEW definitions",
                dir.display()
            )));
        }
        let mut datasets = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).map_err(|source| PipelineError::Io { path: file.display().to_string(), source })?;
            let shown = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            datasets.extend(definition::parse_file(&shown, &text, &absolute)?);
        }
        if datasets.is_empty() {
            return Err(PipelineError::Definition(format!("{}: the .sql files define no datasets", dir.display())));
        }
        let graph = Graph::build(datasets, &config)?;
        Ok(Pipeline { dir: absolute, config, graph })
    }

    fn tables(&self) -> Vec<String> {
        self.graph.datasets.iter().map(|d| self.config.qualified(&d.name)).collect()
    }

    pub fn event_log(&self) -> String {
        self.config.qualified(&self.config.event_log)
    }

    /// Create the pipeline's catalog and schema if needed.
    async fn prepare(&self, session: &mut Session) -> Result<()> {
        if self.config.catalog != "main" {
            session.sql(&format!("CREATE CATALOG IF NOT EXISTS {}", quote_name(&self.config.catalog))).await?;
        }
        session
            .sql(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote_name(&format!("{}.{}", self.config.catalog, self.config.schema))))
            .await?;
        Ok(())
    }

    fn refresh_set(&self, full: &FullRefresh) -> Result<Vec<bool>> {
        let n = self.graph.datasets.len();
        match full {
            FullRefresh::None => Ok(vec![false; n]),
            FullRefresh::All => Ok(vec![true; n]),
            FullRefresh::Only(names) => {
                let mut set = vec![false; n];
                for name in names {
                    let Some(i) = self.graph.index_of(name) else {
                        let all: Vec<&str> = self.graph.datasets.iter().map(|d| d.name.as_str()).collect();
                        let close =
                            all.iter().copied().max_by(|a, b| strsim::jaro_winkler(name, a).total_cmp(&strsim::jaro_winkler(name, b)));
                        return Err(PipelineError::Definition(format!(
                            "--full-refresh {name}: no such dataset in this pipeline{} (datasets: {})",
                            close.map(|c| format!("; did you mean {c}?")).unwrap_or_default(),
                            all.join(", ")
                        )));
                    };
                    set[i] = true;
                }
                Ok(set)
            }
        }
    }

    /// One update of every dataset, in dependency order. A dataset that fails is reported
    /// (and its downstream datasets skipped); the others still run.
    pub async fn update(&self, session: &mut Session, options: &UpdateOptions) -> Result<UpdateReport> {
        self.prepare(session).await?;
        let full = self.refresh_set(&options.full_refresh)?;
        let update_id = uuid::Uuid::new_v4().to_string();
        let tables = self.tables();
        let n = self.graph.datasets.len();
        let progress = indicatif::ProgressBar::new(n as u64);
        progress.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let mut reports: Vec<DatasetReport> = Vec::with_capacity(n);
        let mut errors = Vec::new();
        let planned: Vec<Option<SchemaRef>> = vec![None; n];
        #[allow(clippy::needless_range_loop)] // `i` indexes the graph, `full` and `reports` alike
        for i in 0..n {
            let dataset = &self.graph.datasets[i];
            progress.set_message(format!("{} ({})", dataset.name, dataset.kind.label()));
            let mut report = DatasetReport::new(dataset);
            let mut blocked = None;
            for j in self.graph.upstream(i) {
                if reports[j].status == Status::Failed
                    || (reports[j].status == Status::Skipped && reports[j].message.starts_with("upstream"))
                {
                    blocked = Some(format!("upstream {} did not update", reports[j].name));
                } else if session.table_version(&tables[j]).await?.is_none() {
                    blocked = Some(format!("upstream {} has no data yet", reports[j].name));
                }
            }
            if let Some(reason) = blocked {
                report.message = reason;
                report.finished_at = chrono::Utc::now().timestamp_micros();
                tracing::info!(dataset = %dataset.name, "skipped: {}", report.message);
                reports.push(report);
                progress.inc(1);
                continue;
            }
            let mut job = DatasetUpdate {
                session,
                config: &self.config,
                dataset,
                resolved: &self.graph.resolved[i],
                dataset_tables: &tables,
                full_refresh: full[i],
                dry_run: false,
                planned: &planned,
                update_id: &update_id,
            };
            match job.run(&mut report).await {
                Ok(_) => tracing::info!(
                    dataset = %dataset.name,
                    refresh = report.refresh.label(),
                    rows_out = report.rows_out,
                    "{}: {}",
                    report.status.label(),
                    report.message
                ),
                Err(e) => {
                    report.status = Status::Failed;
                    report.message = e.to_string();
                    // Reported to the caller (the report and its errors); a log line would say it again.
                    tracing::debug!(dataset = %dataset.name, "failed: {e}");
                    errors.push((dataset.name.clone(), e));
                }
            }
            reports.push(report);
            progress.inc(1);
        }
        progress.finish_and_clear();
        event_log::append(session, &self.event_log(), &self.config.name, &update_id, &reports).await?;
        Ok(UpdateReport { update_id, datasets: reports, errors })
    }

    /// Plan every dataset without writing: definitions, references, columns and expectation
    /// types are checked. Returns each dataset's columns.
    pub async fn validate(&self, session: &mut Session) -> Result<Vec<(String, SchemaRef)>> {
        let tables = self.tables();
        let n = self.graph.datasets.len();
        let mut planned: Vec<Option<SchemaRef>> = vec![None; n];
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let dataset = &self.graph.datasets[i];
            let mut report = DatasetReport::new(dataset);
            let schema = {
                let mut job = DatasetUpdate {
                    session: &mut *session,
                    config: &self.config,
                    dataset,
                    resolved: &self.graph.resolved[i],
                    dataset_tables: &tables,
                    full_refresh: false,
                    dry_run: true,
                    planned: &planned,
                    update_id: "validate",
                };
                job.run(&mut report).await.map_err(|e| PipelineError::Dataset { dataset: dataset.name.clone(), source: Box::new(e) })?
            };
            let schema = schema.ok_or_else(|| PipelineError::Internal(format!("{} planned no columns", dataset.name)))?;
            planned[i] = Some(schema.clone());
            out.push((dataset.name.clone(), schema));
        }
        Ok(out)
    }

    /// Updates until `stop` resolves, one every `trigger_interval_ms` (each picks up only new
    /// input). `on_update` sees each update's report. A failed update is reported and the
    /// next one tries again.
    pub async fn run_continuous(
        &self,
        session: &mut Session,
        options: &UpdateOptions,
        interval: Option<Duration>,
        stop: impl std::future::Future<Output = ()>,
        mut on_update: impl FnMut(&UpdateReport),
    ) -> Result<()> {
        let interval = interval.unwrap_or(Duration::from_millis(self.config.trigger_interval_ms));
        tokio::pin!(stop);
        let mut options = options.clone();
        loop {
            let report = self.update(session, &options).await?;
            on_update(&report);
            options.full_refresh = FullRefresh::None; // only the first update refreshes in full
            tokio::select! {
                _ = &mut stop => return Ok(()),
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// The last `limit` updates from the event log: one result with a row per dataset per
    /// update, one with the expectations' counts.
    pub async fn status(&self, session: &mut Session, limit: usize) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>)> {
        let log = quote_name(&self.event_log());
        if session.table_version(&self.event_log()).await?.is_none() {
            return Err(PipelineError::Definition(format!(
                "pipeline {} has not run yet (no event log {}); run it with `tarn pipeline run {}`",
                self.config.name,
                self.event_log(),
                self.dir.display()
            )));
        }
        let updates = session
            .sql(&format!(
                "SELECT update_id FROM {log} WHERE event_type = 'flow_progress' GROUP BY update_id ORDER BY max(timestamp) DESC LIMIT {limit}"
            ))
            .await?;
        let mut ids = Vec::new();
        for batch in updates.into_iter().flatten() {
            let column = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
            if let Some(strings) = column.as_any().downcast_ref::<arrow::array::StringArray>() {
                ids.extend(strings.iter().flatten().map(tarn_sql::string_literal));
            }
        }
        if ids.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let list = ids.join(", ");
        let flows = session
            .sql(&format!(
                "SELECT timestamp, update_id, dataset, refresh, status, rows_in, rows_out, rows_dropped, rows_quarantined, version, message \
                 FROM {log} WHERE event_type = 'flow_progress' AND update_id IN ({list}) ORDER BY timestamp DESC, dataset"
            ))
            .await?;
        let rules = session
            .sql(&format!(
                "SELECT timestamp, update_id, dataset, expectation, action, passed, failed \
                 FROM {log} WHERE event_type = 'expectation' AND update_id IN ({list}) ORDER BY timestamp DESC, dataset, expectation"
            ))
            .await?;
        Ok((flows.into_iter().flatten().collect(), rules.into_iter().flatten().collect()))
    }
}
