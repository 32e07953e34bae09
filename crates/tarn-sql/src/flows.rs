//! Building blocks for declarative pipelines (`tarn-pipeline`): temporary views that bind a
//! query's inputs to exactly the data one update reads, and a write that commits an update's
//! rows together with its progress — Delta application transactions (`txn` actions) and
//! commitInfo metadata in the same commit — so progress and data can never disagree.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_plan::streaming::PartitionStream;
use deltalake::kernel::Transaction;
use deltalake::operations::write::{SchemaMode, WriteBuilder};
use deltalake::protocol::SaveMode;
use serde_json::{Map, Value};
use tarn_engine::CommitRecord;

use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::session::Session;

/// How a flow writes its rows.
#[derive(Debug, Clone, Default)]
pub struct FlowWrite {
    /// Replace the table's rows (a full refresh) instead of appending.
    pub overwrite: bool,
    /// Columns the data has and the table lacks become new nullable columns.
    pub merge_schema: bool,
    /// With `overwrite`: the table takes the data's columns (a recomputed view whose
    /// definition changed).
    pub overwrite_schema: bool,
    /// Application transactions committed with the rows: `(app id, version)`.
    pub app_transactions: Vec<(String, i64)>,
    /// Extra commitInfo members (e.g. the files an update ingested).
    pub metadata: Map<String, Value>,
}

/// What a flow's commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowCommit {
    pub version: i64,
    pub rows: i64,
}

/// A stream that can be scanned once, as the input of a write.
struct OneShot {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl std::fmt::Debug for OneShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneShot").finish_non_exhaustive()
    }
}

impl PartitionStream for OneShot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.stream.lock().map(|mut s| s.take()).ok().flatten();
        match taken {
            Some(stream) => stream,
            None => {
                let error = datafusion::error::DataFusionError::Internal("a flow's input was read twice".into());
                Box::pin(datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                    self.schema.clone(),
                    futures::stream::once(async move { Err(error) }),
                ))
            }
        }
    }
}

impl Session {
    /// Bind the one-part name `name` to `provider` for this session's statements, shadowing
    /// any table of that name (Spark's temporary views).
    pub fn register_temp_view(&mut self, name: &str, provider: Arc<dyn TableProvider>) {
        self.temp_views.insert(name.to_ascii_lowercase(), TempView::Provider(provider));
    }

    /// Forget every temporary view.
    pub fn clear_temp_views(&mut self) {
        self.temp_views.clear();
    }

    /// A query (checked for privileges) as a view another statement can read through
    /// [`Session::register_temp_view`]; its tables are bound now, at their current versions.
    pub async fn plan_view(&self, sql: &str) -> Result<Arc<dyn TableProvider>> {
        let mut statements = crate::parser::parse_sql(sql)?;
        let (Some(statement), true) = (statements.pop(), statements.is_empty()) else {
            return Err(SqlError::user(format!("expected one query, got: {sql}")));
        };
        let crate::ast::Statement::Query(query) = &statement else {
            return Err(SqlError::user(format!("expected a query, got: {sql}")));
        };
        self.authorize(&statement).await?;
        let (_, plan) = self.plan_statement(query.as_ref().clone()).await?;
        Ok(Arc::new(ViewTable::new(plan, Some(sql.to_string()))))
    }

    /// Table `table` (a name as written in SQL) at its latest version, or `None` if there is
    /// no such table.
    async fn open_if_exists(&self, table: &str) -> Result<Option<deltalake::DeltaTable>> {
        let name = crate::parser::parse_object_name(table)?;
        match self.open_target(&name, None).await {
            Ok(target) => Ok(Some(target.table)),
            Err(SqlError::Catalog(tarn_catalog::CatalogError::TableNotFound { .. })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The latest version of table `table`, or `None` if there is no such table.
    pub async fn table_version(&self, table: &str) -> Result<Option<i64>> {
        Ok(self.open_if_exists(table).await?.and_then(|t| t.version()).map(|v| v as i64))
    }

    /// The version table `table` last recorded for application `app_id` (Delta `txn`);
    /// `None` if it recorded none or there is no such table.
    pub async fn app_transaction(&self, table: &str, app_id: &str) -> Result<Option<i64>> {
        let Some(table) = self.open_if_exists(table).await? else { return Ok(None) };
        Ok(table.snapshot()?.transaction_version(table.log_store().as_ref(), app_id).await?)
    }

    /// Table `table`'s commits from version `since` on (all without it), newest first, with
    /// their whole commitInfo; none if there is no such table. Only those commit files are read.
    pub async fn commit_history(&self, table: &str, since: Option<i64>) -> Result<Vec<CommitRecord>> {
        let Some(table) = self.open_if_exists(table).await? else { return Ok(Vec::new()) };
        let latest = table.version().map_or(-1, |v| v as i64);
        let limit = since.map(|since| usize::try_from(latest - since + 1).unwrap_or(0));
        Ok(tarn_engine::read_commits(&table, limit).await?)
    }

    /// Write `output`'s rows to table `table` in one commit that also records `write`'s
    /// application transactions and metadata. The stream is read once, as the commit is
    /// written: an error from it (e.g. a failed expectation) aborts the commit and leaves the
    /// table as it was.
    pub async fn write_flow(&mut self, table: &str, output: StatementOutput, write: FlowWrite) -> Result<FlowCommit> {
        let name = crate::parser::parse_object_name(table)?;
        let statement = crate::parser::parse_sql(&format!("INSERT INTO {name} SELECT 1"))?
            .pop()
            .ok_or_else(|| SqlError::Internal("the privilege probe did not parse".into()))?;
        self.authorize(&statement).await?;
        let target = self.open_target(&name, None).await?;
        let data_schema = output.schema.clone();
        let input = StreamingTable::try_new(
            data_schema.clone(),
            vec![Arc::new(OneShot { schema: data_schema.clone(), stream: Mutex::new(Some(output.stream)) })],
        )?;
        let plan = LogicalPlanBuilder::scan("flow_input", provider_as_source(Arc::new(input)), None)?.build()?;
        let mut schema: SchemaRef = target.table.snapshot()?.snapshot().arrow_schema();
        let columns: Vec<String> = data_schema.fields().iter().map(|f| f.name().clone()).collect();
        let replace_schema = write.overwrite && write.overwrite_schema;
        if replace_schema {
            schema = data_schema.clone();
        } else if write.merge_schema {
            schema = crate::exec::evolved_schema_of(&schema, &data_schema, &columns);
        }
        let context = format!("writing {}", target.display);
        let plan = crate::exec::align_to_schema_of(plan, &schema, &columns, &context)?;
        let snapshot = target.table.snapshot()?.snapshot().clone();
        let transactions = write.app_transactions.iter().map(|(app, v)| Transaction::new(app, *v)).collect();
        let properties = tarn_engine::commit_properties().with_application_transactions(transactions).with_metadata(write.metadata.clone());
        let file_size = self.target_file_size(snapshot.metadata().configuration());
        let mut builder = WriteBuilder::new(target.table.log_store(), Some(snapshot))
            .with_input_plan(plan)
            .with_target_file_size(file_size)
            .with_session_state(Arc::new(self.base.clone()))
            .with_save_mode(if write.overwrite { SaveMode::Overwrite } else { SaveMode::Append })
            .with_custom_execute_handler(tarn_engine::post_commit_hooks())
            .with_writer_properties(self.writer_properties())
            .with_commit_properties(properties);
        if replace_schema {
            builder = builder.with_schema_mode(SchemaMode::Overwrite);
        } else if write.merge_schema {
            builder = builder.with_schema_mode(SchemaMode::Merge);
        }
        let written = builder.await.map_err(|e| crate::exec::explain_violation_of(e, &target.table, &context))?;
        let rows = crate::exec::rows_added_of(&written).await?;
        Ok(FlowCommit { version: written.version().map_or(-1, |v| v as i64), rows })
    }

    pub(crate) fn temp_view(&self, name: &str) -> Option<TempView> {
        self.temp_views.get(&name.to_ascii_lowercase()).cloned()
    }
}

/// A temporary view: a one-part name only this session sees, shadowing tables of that name.
#[derive(Clone)]
pub(crate) enum TempView {
    /// Bound by a pipeline to data it computed.
    Provider(Arc<dyn TableProvider>),
    /// `CREATE TEMPORARY VIEW`: a query, planned (and its tables checked) each time it is read.
    Query(Box<crate::exec::views::ViewDefinition>),
}

/// Temporary views by lower-cased name.
pub(crate) type TempViews = HashMap<String, TempView>;
