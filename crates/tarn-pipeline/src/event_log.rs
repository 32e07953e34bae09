//! The pipeline's event log: a Delta table in the pipeline's schema, one row per dataset per
//! update (`flow_progress`) and one per expectation per dataset per update (`expectation`).
//! Query it with SQL; `tarn pipeline status` reads it.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::physical_plan::memory::MemoryStream;
use tarn_sql::{FlowWrite, Session, StatementOutput};

use crate::error::Result;
use crate::update::DatasetReport;

const COLUMNS: &[(&str, &str)] = &[
    ("timestamp", "TIMESTAMP"),
    ("pipeline", "STRING"),
    ("update_id", "STRING"),
    ("event_type", "STRING"),
    ("dataset", "STRING"),
    ("dataset_type", "STRING"),
    ("refresh", "STRING"),
    ("status", "STRING"),
    ("message", "STRING"),
    ("rows_in", "BIGINT"),
    ("rows_out", "BIGINT"),
    ("rows_dropped", "BIGINT"),
    ("rows_quarantined", "BIGINT"),
    ("expectation", "STRING"),
    ("action", "STRING"),
    ("passed", "BIGINT"),
    ("failed", "BIGINT"),
    ("version", "BIGINT"),
    ("duration_ms", "BIGINT"),
];

fn schema() -> SchemaRef {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|(name, ty)| {
                let dt = match *ty {
                    "TIMESTAMP" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    "BIGINT" => DataType::Int64,
                    _ => DataType::Utf8,
                };
                Field::new(*name, dt, true)
            })
            .collect::<Vec<_>>(),
    ))
}

#[derive(Default)]
struct Rows {
    timestamp: Vec<Option<i64>>,
    text: Vec<Vec<Option<String>>>,
    numbers: Vec<Vec<Option<i64>>>,
}

/// Create the event log table if it does not exist.
pub async fn ensure(session: &mut Session, table: &str) -> Result<()> {
    let columns: Vec<String> = COLUMNS.iter().map(|(n, t)| format!("`{n}` {t}")).collect();
    session.sql(&format!("CREATE TABLE IF NOT EXISTS {table} ({}) COMMENT 'Tarn pipeline event log'", columns.join(", "))).await?;
    Ok(())
}

/// Append one update's events.
pub async fn append(session: &mut Session, table: &str, pipeline: &str, update_id: &str, reports: &[DatasetReport]) -> Result<()> {
    ensure(session, table).await?;
    let text_columns: Vec<&str> = COLUMNS.iter().filter(|(_, t)| *t == "STRING").map(|(n, _)| *n).collect();
    let number_columns: Vec<&str> = COLUMNS.iter().filter(|(_, t)| *t == "BIGINT").map(|(n, _)| *n).collect();
    let mut rows = Rows { text: vec![Vec::new(); text_columns.len()], numbers: vec![Vec::new(); number_columns.len()], ..Rows::default() };
    let mut push = |at: i64, text: &[(&str, Option<String>)], numbers: &[(&str, Option<i64>)]| {
        rows.timestamp.push(Some(at));
        for (i, name) in text_columns.iter().enumerate() {
            rows.text[i].push(text.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.clone()));
        }
        for (i, name) in number_columns.iter().enumerate() {
            rows.numbers[i].push(numbers.iter().find(|(n, _)| n == name).and_then(|(_, v)| *v));
        }
    };
    for r in reports {
        let common = |event: &str| {
            vec![
                ("pipeline", Some(pipeline.to_string())),
                ("update_id", Some(update_id.to_string())),
                ("event_type", Some(event.to_string())),
                ("dataset", Some(r.name.clone())),
                ("dataset_type", Some(r.kind.label().to_string())),
            ]
        };
        let mut text = common("flow_progress");
        text.extend([
            ("refresh", Some(r.refresh.label().to_string())),
            ("status", Some(r.status.label().to_string())),
            ("message", Some(r.message.clone())),
        ]);
        push(
            r.finished_at,
            &text,
            &[
                ("rows_in", Some(r.rows_in as i64)),
                ("rows_out", Some(r.rows_out as i64)),
                ("rows_dropped", Some(r.dropped as i64)),
                ("rows_quarantined", Some(r.quarantined as i64)),
                ("version", r.version),
                ("duration_ms", Some(r.duration_ms)),
            ],
        );
        for rule in &r.rules {
            let mut text = common("expectation");
            text.extend([
                ("expectation", Some(rule.name.clone())),
                ("action", rule.action.map(|a| a.label().to_string())),
                ("status", Some(r.status.label().to_string())),
            ]);
            push(r.finished_at, &text, &[("passed", Some(rule.passed as i64)), ("failed", Some(rule.failed as i64))]);
        }
    }
    let schema = schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(COLUMNS.len());
    let (mut t, mut n) = (0, 0);
    for (_, ty) in COLUMNS {
        match *ty {
            "TIMESTAMP" => columns.push(Arc::new(TimestampMicrosecondArray::from(rows.timestamp.clone()).with_timezone("UTC"))),
            "BIGINT" => {
                columns.push(Arc::new(Int64Array::from(rows.numbers[n].clone())));
                n += 1;
            }
            _ => {
                columns.push(Arc::new(StringArray::from(rows.text[t].clone())));
                t += 1;
            }
        }
    }
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let stream = MemoryStream::try_new(vec![batch], schema.clone(), None)?;
    session.write_flow(table, StatementOutput { schema, stream: Box::pin(stream) }, FlowWrite::default()).await?;
    Ok(())
}
