//! What a statement returns: a schema and a stream of record batches.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Schema, SchemaRef};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

use crate::error::{Result, SqlError};

/// The result of one statement. Rows are streamed: nothing is collected before the first
/// batch is available to the caller.
pub struct StatementOutput {
    pub schema: SchemaRef,
    pub stream: SendableRecordBatchStream,
}

impl std::fmt::Debug for StatementOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatementOutput").field("schema", &self.schema).finish()
    }
}

impl StatementOutput {
    /// A statement that returns no rows (DDL).
    pub fn empty() -> Self {
        Self::from_batches(Arc::new(Schema::empty()), vec![])
    }

    pub fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        let stream = futures::stream::iter(batches.into_iter().map(Ok));
        Self { schema: schema.clone(), stream: Box::pin(RecordBatchStreamAdapter::new(schema, stream)) }
    }

    /// One batch from named columns.
    pub fn from_columns(columns: Vec<(&str, ArrayRef)>) -> Result<Self> {
        let batch = RecordBatch::try_from_iter(columns.into_iter().map(|(n, a)| (n.to_string(), a)))
            .map_err(|e| SqlError::Internal(e.to_string()))?;
        Ok(Self::from_batches(batch.schema(), vec![batch]))
    }

    pub fn from_stream(stream: SendableRecordBatchStream) -> Self {
        Self { schema: stream.schema(), stream }
    }

    /// Whether this is a statement that returns no result set at all.
    pub fn is_empty_schema(&self) -> bool {
        self.schema.fields().is_empty()
    }

    /// Collect all rows (for tests and small results).
    pub async fn collect(mut self) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        while let Some(batch) = self.stream.next().await {
            out.push(batch?);
        }
        Ok(out)
    }
}
