//! Statements run asynchronously over HTTP: started, polled, cancelled by id.
//!
//! Cancelling aborts the task. A write aborted before its commit leaves only unreferenced data
//! files (reclaimed by VACUUM); the commit itself is atomic, so a table is never half-written.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use tokio::task::AbortHandle;

use crate::ServerError;

/// How many finished statements are remembered for polling.
const REMEMBERED: usize = 256;

#[derive(Clone)]
pub enum Status {
    Running,
    Succeeded { schema: SchemaRef, batches: Arc<Vec<RecordBatch>> },
    Failed { message: String, status: u16 },
    Canceled,
}

struct Entry {
    status: Status,
    abort: Option<AbortHandle>,
    /// The principal that started it: only it can poll or cancel it.
    owner: String,
}

#[derive(Default)]
pub struct Statements {
    entries: Mutex<HashMap<String, Entry>>,
    finished: Mutex<VecDeque<String>>,
}

impl Statements {
    /// Start `work` under `id`, for `owner`.
    pub fn start<F>(self: &Arc<Self>, id: String, owner: &str, work: F)
    where
        F: Future<Output = Result<(SchemaRef, Vec<RecordBatch>), ServerError>> + Send + 'static,
    {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(id.clone(), Entry { status: Status::Running, abort: None, owner: owner.to_string() });
        }
        let registry = self.clone();
        let task_id = id.clone();
        let handle = tokio::spawn(async move {
            let status = match work.await {
                Ok((schema, batches)) => Status::Succeeded { schema, batches: Arc::new(batches) },
                Err(e) => Status::Failed { status: e.status().as_u16(), message: e.to_string() },
            };
            registry.finish(&task_id, status);
        });
        if let Ok(mut entries) = self.entries.lock()
            && let Some(entry) = entries.get_mut(&id)
            && matches!(entry.status, Status::Running)
        {
            entry.abort = Some(handle.abort_handle());
        }
    }

    fn finish(&self, id: &str, status: Status) {
        if let Ok(mut entries) = self.entries.lock()
            && let Some(entry) = entries.get_mut(id)
            && matches!(entry.status, Status::Running)
        {
            entry.status = status;
            entry.abort = None;
        }
        self.remember(id);
    }

    fn remember(&self, id: &str) {
        let evicted = self.finished.lock().ok().and_then(|mut finished| {
            finished.push_back(id.to_string());
            (finished.len() > REMEMBERED).then(|| finished.pop_front()).flatten()
        });
        if let (Some(old), Ok(mut entries)) = (evicted, self.entries.lock()) {
            entries.remove(&old);
        }
    }

    /// The status of `owner`'s statement `id`; another principal's statement is unknown to it.
    pub fn status(&self, id: &str, owner: &str) -> Option<Status> {
        self.entries.lock().ok()?.get(id).filter(|e| e.owner == owner).map(|e| e.status.clone())
    }

    /// Wait until the statement ends or `timeout` passes; return its status then.
    pub async fn wait(&self, id: &str, owner: &str, timeout: Duration) -> Status {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.status(id, owner) {
                Some(Status::Running) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Some(status) => return status,
                None => return Status::Canceled,
            }
        }
    }

    /// Cancel a running statement; a finished one keeps its status.
    pub fn cancel(&self, id: &str, owner: &str) -> Option<Status> {
        let status = {
            let mut entries = self.entries.lock().ok()?;
            let entry = entries.get_mut(id).filter(|e| e.owner == owner)?;
            if matches!(entry.status, Status::Running) {
                if let Some(abort) = entry.abort.take() {
                    abort.abort();
                }
                entry.status = Status::Canceled;
            }
            entry.status.clone()
        };
        if matches!(status, Status::Canceled) {
            self.remember(id);
        }
        Some(status)
    }
}
