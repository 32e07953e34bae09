//! Prometheus metrics for the server: statements, errors, latencies, commits, open result
//! streams and the memory queries hold.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 6] = [0.005, 0.05, 0.5, 5.0, 50.0, f64::INFINITY];

#[derive(Debug, Default)]
pub struct Metrics {
    statements: AtomicU64,
    errors: AtomicU64,
    commits: AtomicU64,
    latency_micros_sum: AtomicU64,
    latency_buckets: [AtomicU64; 6],
    /// Result streams being sent to clients right now.
    open_streams: Arc<AtomicU64>,
    runtime: Option<tarn_sql::Runtime>,
}

/// Counts an open result stream until dropped (finished, failed, or its client went away).
struct OpenStream(Arc<AtomicU64>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Metrics {
    /// Metrics that also report the memory held by queries of `runtime`.
    pub fn new(runtime: tarn_sql::Runtime) -> Self {
        Self { runtime: Some(runtime), ..Self::default() }
    }

    /// `stream`, counted as open until it is dropped; a client that disconnects drops its
    /// stream, which stops the query and frees what it held.
    pub fn track_stream(&self, stream: SendableRecordBatchStream) -> SendableRecordBatchStream {
        self.open_streams.fetch_add(1, Ordering::SeqCst);
        let guard = OpenStream(self.open_streams.clone());
        let schema = stream.schema();
        let counted = stream.map(move |batch| {
            let _alive = &guard;
            batch
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, counted))
    }

    /// Record one request's (or one protocol message's) statements.
    pub fn record(&self, statements: u64, commits: u64, failed: bool, elapsed: Duration) {
        self.statements.fetch_add(statements, Ordering::Relaxed);
        self.commits.fetch_add(commits, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.latency_micros_sum.fetch_add(elapsed.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.latency_buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        let _ = writeln!(out, "# HELP tarn_statements_total SQL statements received (HTTP, Postgres wire, Flight SQL).");
        let _ = writeln!(out, "# TYPE tarn_statements_total counter");
        let _ = writeln!(out, "tarn_statements_total {}", load(&self.statements));
        let _ = writeln!(out, "# HELP tarn_statement_errors_total Requests whose statements failed.");
        let _ = writeln!(out, "# TYPE tarn_statement_errors_total counter");
        let _ = writeln!(out, "tarn_statement_errors_total {}", load(&self.errors));
        let _ = writeln!(out, "# HELP tarn_commits_total Statements that changed a table or the catalog.");
        let _ = writeln!(out, "# TYPE tarn_commits_total counter");
        let _ = writeln!(out, "tarn_commits_total {}", load(&self.commits));
        let _ =
            writeln!(out, "# HELP tarn_request_duration_seconds Time to run a request's statements (until the result starts streaming).");
        let _ = writeln!(out, "# TYPE tarn_request_duration_seconds histogram");
        for (bound, bucket) in BUCKETS.iter().zip(&self.latency_buckets) {
            let le = if bound.is_infinite() { "+Inf".to_string() } else { bound.to_string() };
            let _ = writeln!(out, "tarn_request_duration_seconds_bucket{{le=\"{le}\"}} {}", load(bucket));
        }
        let count = load(&self.latency_buckets[BUCKETS.len() - 1]);
        let _ = writeln!(out, "tarn_request_duration_seconds_sum {}", load(&self.latency_micros_sum) as f64 / 1e6);
        let _ = writeln!(out, "tarn_request_duration_seconds_count {count}");
        let _ = writeln!(out, "# HELP tarn_result_streams_open Query results being streamed to clients now.");
        let _ = writeln!(out, "# TYPE tarn_result_streams_open gauge");
        let _ = writeln!(out, "tarn_result_streams_open {}", self.open_streams.load(Ordering::SeqCst));
        if let Some(runtime) = &self.runtime {
            let _ = writeln!(out, "# HELP tarn_memory_reserved_bytes Memory held by running queries (sorts, joins, aggregates).");
            let _ = writeln!(out, "# TYPE tarn_memory_reserved_bytes gauge");
            let _ = writeln!(out, "tarn_memory_reserved_bytes {}", runtime.reserved_bytes());
            if let Some(limit) = runtime.memory_limit() {
                let _ = writeln!(out, "# HELP tarn_memory_limit_bytes The memory limit of all queries together.");
                let _ = writeln!(out, "# TYPE tarn_memory_limit_bytes gauge");
                let _ = writeln!(out, "tarn_memory_limit_bytes {limit}");
            }
            let _ = writeln!(out, "# HELP tarn_spill_bytes Bytes in spill files now.");
            let _ = writeln!(out, "# TYPE tarn_spill_bytes gauge");
            let _ = writeln!(out, "tarn_spill_bytes {}", runtime.spilled_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_counts_add_up() {
        let m = Metrics::default();
        m.record(2, 1, false, Duration::from_millis(1));
        m.record(1, 0, true, Duration::from_secs(1));
        let text = m.render();
        assert!(text.contains("tarn_statements_total 3\n"), "{text}");
        assert!(text.contains("tarn_statement_errors_total 1\n"), "{text}");
        assert!(text.contains("tarn_commits_total 1\n"), "{text}");
        assert!(text.contains("tarn_request_duration_seconds_bucket{le=\"0.005\"} 1\n"), "{text}");
        assert!(text.contains("tarn_request_duration_seconds_bucket{le=\"5\"} 2\n"), "{text}");
        assert!(text.contains("tarn_request_duration_seconds_count 2\n"), "{text}");
    }

    #[tokio::test]
    async fn open_streams_are_counted_until_dropped() {
        let m = Metrics::new(tarn_sql::Runtime::default());
        let schema = Arc::new(arrow::datatypes::Schema::empty());
        let empty: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::empty()));
        let stream = m.track_stream(empty);
        assert!(m.render().contains("tarn_result_streams_open 1\n"));
        drop(stream);
        let text = m.render();
        assert!(text.contains("tarn_result_streams_open 0\n"), "{text}");
        assert!(text.contains("tarn_memory_reserved_bytes 0\n"), "{text}");
    }
}
