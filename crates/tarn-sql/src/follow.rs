//! Following a table: its changes as an endless stream, commit by commit, for subscribers
//! (`tarn stream`, Flight `DoGet`, the HTTP changes endpoint).
//!
//! Each new commit's changes are read with `table_changes('t', v, v)` through the session —
//! so privileges and the change data feed's own checks apply — and are sent whole before the
//! next commit's. A subscriber that remembers the last `_commit_version` it saw and resumes
//! after it gets every later change exactly once.

use std::collections::VecDeque;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::session::Session;

/// Where a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowFrom {
    /// With this version (included).
    Version(i64),
    /// With the first commit after this version (to resume after the last one seen).
    After(i64),
    /// With the next commit (only changes from now on).
    Now,
}

/// How often to look for new commits.
pub const DEFAULT_POLL: Duration = Duration::from_millis(100);

fn quote(text: &str) -> String {
    crate::parser::string_literal(text)
}

struct Follower {
    session: Session,
    table: String,
    /// The table's log, to look for the next commit cheaply (one read of one file).
    log: deltalake::logstore::LogStoreRef,
    next: i64,
    poll: Duration,
    pending: VecDeque<RecordBatch>,
}

impl Follower {
    /// Whether version `v` has been committed.
    async fn committed(&self, v: i64) -> Result<bool> {
        Ok(self.log.read_commit_entry(v as u64).await?.is_some())
    }

    async fn changes_of(&mut self, version: i64) -> Result<Vec<RecordBatch>> {
        let sql = format!("SELECT * FROM table_changes({}, {version}, {version})", quote(&self.table));
        let mut out = Vec::new();
        for statement in crate::parser::parse_sql(&sql)? {
            out.extend(self.session.execute(statement).await?.collect().await?);
        }
        Ok(out)
    }

    /// The next batch of changes, waiting for new commits as long as it takes.
    async fn next_batch(&mut self) -> Result<RecordBatch> {
        loop {
            if let Some(batch) = self.pending.pop_front() {
                return Ok(batch);
            }
            if !self.committed(self.next).await? {
                tokio::time::sleep(self.poll).await;
                continue;
            }
            let version = self.next;
            let batches = self.changes_of(version).await?;
            self.next = version + 1;
            self.pending.extend(batches.into_iter().filter(|b| b.num_rows() > 0));
        }
    }
}

impl Session {
    /// The changes of table `table` (a name as written in SQL) from `from` on, forever: a
    /// stream with `table_changes`' columns that ends only with an error.
    pub async fn follow_changes(self, table: &str, from: FollowFrom, poll: Duration) -> Result<StatementOutput> {
        let name = crate::parser::parse_object_name(table)?;
        // Privileges first: nothing about a table one cannot read (not even its versions).
        self.require_read(&name).await?;
        let target = self.open_target(&name, None).await?;
        let latest = target.table.version().map_or(-1, |v| v as i64);
        if !tarn_engine::records_changes(&target.table) {
            return Err(SqlError::user(format!(
                "{} does not record changes, so there is nothing to follow; turn the change data feed on with \
                 ALTER TABLE {table} SET TBLPROPERTIES ('{}' = 'true')",
                target.display,
                tarn_engine::CHANGE_DATA_FEED
            )));
        }
        let next = match from {
            FollowFrom::Version(v) => v,
            FollowFrom::After(v) => v + 1,
            FollowFrom::Now => latest + 1,
        };
        if next < 0 {
            return Err(SqlError::user(format!("versions start at 0; cannot follow from {next}")));
        }
        if next > latest + 1 {
            return Err(SqlError::user(format!(
                "version {next} is after the latest version {latest} of {} and its next commit; \
                 follow from a version up to {}",
                target.display,
                latest + 1
            )));
        }
        // The columns, by describing one commit's changes (also checks privileges and that
        // the table records its changes).
        let probe = format!("SELECT * FROM table_changes({}, {}, {})", quote(table), latest.max(0), latest.max(0));
        let statement =
            crate::parser::parse_sql(&probe)?.pop().ok_or_else(|| SqlError::Internal("the probe query did not parse".into()))?;
        self.authorize(&statement).await?;
        let schema: SchemaRef =
            self.describe_statement(&statement).await?.schema.ok_or_else(|| SqlError::Internal("table_changes has no columns".into()))?;
        let follower =
            Follower { session: self, table: table.to_string(), log: target.table.log_store(), next, poll, pending: VecDeque::new() };
        let stream = futures::stream::unfold(follower, |mut f| async move {
            let item = f.next_batch().await.map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)));
            Some((item, f))
        })
        .boxed();
        Ok(StatementOutput { schema: schema.clone(), stream: Box::pin(RecordBatchStreamAdapter::new(schema, stream)) })
    }
}
