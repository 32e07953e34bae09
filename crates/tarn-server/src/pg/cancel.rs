//! `CancelRequest`: stop the statement running on another connection.
//!
//! pgwire cancels a statement while it is being planned and executed; but a query's rows
//! stream after that, so each connection also has a signal its result streams watch. A
//! cancel bumps the signal; a stream started before the bump ends with SQLSTATE 57014.
//! A cancel for a connection with nothing running is ignored, as in Postgres.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, StreamExt, stream};
use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::error::PgWireResult;
use pgwire::messages::cancel::CancelRequest;
use tokio::sync::watch;

use super::handler::pg_error;

type Key = (i32, Bytes);

/// Cancel signals of all connections, by (process id, secret key).
#[derive(Default)]
pub(crate) struct CancelRegistry {
    signals: Mutex<HashMap<Key, watch::Sender<u64>>>,
}

impl CancelRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, watch::Sender<u64>>> {
        self.signals.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register a connection; the guard removes it when the connection ends.
    pub fn register(self: &Arc<Self>, pid: i32, secret: Bytes) -> (watch::Receiver<u64>, CancelGuard) {
        let (tx, rx) = watch::channel(0);
        self.lock().insert((pid, secret.clone()), tx);
        (rx, CancelGuard { registry: self.clone(), key: (pid, secret) })
    }

    fn cancel(&self, pid: i32, secret: Bytes) {
        if let Some(tx) = self.lock().get(&(pid, secret)) {
            tx.send_modify(|generation| *generation += 1);
        }
    }
}

pub(crate) struct CancelGuard {
    registry: Arc<CancelRegistry>,
    key: Key,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.key);
    }
}

/// Ends `rows` with a "canceled" error as soon as `signal` changes.
pub(crate) fn cancellable<T: Send + 'static>(
    rows: impl Stream<Item = PgWireResult<T>> + Send + 'static,
    mut signal: watch::Receiver<u64>,
) -> impl Stream<Item = PgWireResult<T>> + Send + 'static {
    signal.mark_unchanged();
    let canceled = Arc::new(AtomicBool::new(false));
    let flag = canceled.clone();
    let stop = async move {
        if signal.changed().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
        } else {
            // The connection is gone; nothing will cancel this stream.
            std::future::pending::<()>().await;
        }
    };
    rows.take_until(stop).chain(
        stream::once(
            async move { canceled.load(Ordering::SeqCst).then(|| Err(pg_error("57014", "canceling statement due to user request"))) },
        )
        .filter_map(|e| async move { e }),
    )
}

/// Cancels both the running statement (pgwire) and its result stream (Tarn).
pub(crate) struct TarnCancelHandler {
    pub registry: Arc<CancelRegistry>,
    pub pgwire: DefaultCancelHandler,
}

#[async_trait]
impl CancelHandler for TarnCancelHandler {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.registry.cancel(request.pid, request.secret_key.to_bytes());
        self.pgwire.on_cancel_request(request).await;
    }
}
