//! Prometheus metrics for the server: statements, errors, latencies, commits.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 6] = [0.005, 0.05, 0.5, 5.0, 50.0, f64::INFINITY];

#[derive(Debug, Default)]
pub struct Metrics {
    statements: AtomicU64,
    errors: AtomicU64,
    commits: AtomicU64,
    latency_micros_sum: AtomicU64,
    latency_buckets: [AtomicU64; 6],
}

impl Metrics {
    /// Record one request's (or one protocol message's) statements.
    pub fn record(&self, statements: u64, commits: u64, failed: bool, elapsed: Duration) {
        self.statements.fetch_add(statements, Ordering::Relaxed);
        self.commits.fetch_add(commits, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.latency_micros_sum
            .fetch_add(elapsed.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
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
        let _ = writeln!(out, "# HELP tarn_request_duration_seconds Time to run a request's statements (until the result starts streaming).");
        let _ = writeln!(out, "# TYPE tarn_request_duration_seconds histogram");
        for (bound, bucket) in BUCKETS.iter().zip(&self.latency_buckets) {
            let le = if bound.is_infinite() { "+Inf".to_string() } else { bound.to_string() };
            let _ = writeln!(out, "tarn_request_duration_seconds_bucket{{le=\"{le}\"}} {}", load(bucket));
        }
        let count = load(&self.latency_buckets[BUCKETS.len() - 1]);
        let _ = writeln!(out, "tarn_request_duration_seconds_sum {}", load(&self.latency_micros_sum) as f64 / 1e6);
        let _ = writeln!(out, "tarn_request_duration_seconds_count {count}");
        out
    }
}

/// Whether a statement changes a table or the catalog (counted as a commit in the metrics).
pub(crate) fn is_write(statement: &tarn_sql::ast::Statement) -> bool {
    use tarn_sql::ast::Statement as S;
    !matches!(
        statement,
        S::Query(_)
            | S::Set { .. }
            | S::Use { .. }
            | S::ShowCatalogs { .. }
            | S::ShowSchemas { .. }
            | S::ShowTables { .. }
            | S::ShowCreateTable { .. }
            | S::ShowTblProperties { .. }
            | S::ShowColumns { .. }
            | S::DescribeHistory { .. }
            | S::DescribeDetail { .. }
            | S::DescribeTable { .. }
    )
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
}
