//! Expectations, applied as a flow's rows stream into its commit.
//!
//! The flow's query is wrapped so each rule's condition is an extra boolean column; this
//! stream counts each rule's passes and failures (`DROP ROW` rules first; the others judge
//! only the rows those keep), drops `DROP ROW` and `QUARANTINE` failures
//! (keeping the latter aside), fails on a `FAIL UPDATE` failure — which aborts the commit the
//! stream feeds — and removes the rule columns.

use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use arrow::compute::{and, filter_record_batch, is_not_null};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use tarn_sql::StatementOutput;

use crate::definition::{Action, Expectation};
use crate::error::PipelineError;

/// The column a rule's condition is evaluated into.
pub fn rule_column(i: usize) -> String {
    format!("__tarn_expect_{i}")
}

/// The column of `<table>_quarantine` naming the rules a row failed.
pub const QUARANTINE_RULES: &str = "_rule";

/// Wrap `query` (SQL) so each expectation is a column after the query's own.
pub fn with_rule_columns(query: &str, expectations: &[Expectation]) -> String {
    if expectations.is_empty() {
        return query.to_string();
    }
    let rules: Vec<String> = expectations.iter().enumerate().map(|(i, e)| format!("({}) AS {}", e.condition, rule_column(i))).collect();
    format!("SELECT __tarn_rows.*, {} FROM ({query}) AS __tarn_rows", rules.join(", "))
}

/// Per-rule counts of one update.
#[derive(Debug, Clone, Default)]
pub struct RuleCount {
    pub name: String,
    pub action: Option<Action>,
    pub passed: u64,
    pub failed: u64,
}

/// What a flow's stream saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub rows_in: u64,
    pub rows_out: u64,
    pub dropped: u64,
    pub rules: Vec<RuleCount>,
    pub quarantined: Vec<RecordBatch>,
    /// The `FAIL UPDATE` violation that stopped the stream.
    pub failure: Option<PipelineError>,
}

impl Tally {
    pub fn quarantined_rows(&self) -> u64 {
        self.quarantined.iter().map(|b| b.num_rows() as u64).sum()
    }
}

pub type SharedTally = Arc<Mutex<Tally>>;

fn row_text(batch: &RecordBatch, row: usize) -> String {
    let options = arrow::util::display::FormatOptions::default().with_null("NULL");
    let mut parts = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.name().starts_with("__tarn_expect_") {
            continue;
        }
        let value = arrow::util::display::ArrayFormatter::try_new(column.as_ref(), &options)
            .map(|f| f.value(row).to_string())
            .unwrap_or_else(|_| "?".into());
        parts.push(format!("{}={value}", field.name()));
    }
    format!("{{{}}}", parts.join(", "))
}

/// Applies `expectations` to `output` (whose last columns are the rule columns), counting into
/// `tally`. `dataset` names the dataset in a failure's message.
pub fn apply(output: StatementOutput, expectations: Vec<Expectation>, dataset: String, tally: SharedTally) -> StatementOutput {
    let n_rules = expectations.len();
    let full = output.schema.clone();
    let n_data = full.fields().len() - n_rules;
    let data_schema: SchemaRef = Arc::new(Schema::new(full.fields()[..n_data].to_vec()));
    if let Ok(mut t) = tally.lock() {
        t.rules = expectations.iter().map(|e| RuleCount { name: e.name.clone(), action: Some(e.action), passed: 0, failed: 0 }).collect();
    }
    let quarantine_schema: SchemaRef = {
        let mut fields: Vec<Field> = data_schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        fields.push(Field::new(QUARANTINE_RULES, DataType::Utf8, false));
        Arc::new(Schema::new(fields))
    };
    let out_schema = data_schema.clone();
    let stream = output.stream.map(move |item| {
        let batch = item?;
        let rows = batch.num_rows();
        let mut keep = BooleanArray::from(vec![true; rows]);
        let mut quarantine_rules: Vec<Vec<&str>> = vec![Vec::new(); rows];
        let mut any_quarantine = false;
        let mut t = tally.lock().map_err(|_| DataFusionError::Internal("expectation counters poisoned".into()))?;
        t.rows_in += rows as u64;
        // DROP ROW rules first: the rows they drop never reach the table, so the other rules
        // judge (and count) only the rows that remain.
        let mut passes = Vec::with_capacity(expectations.len());
        for (i, e) in expectations.iter().enumerate() {
            let column = batch.column(n_data + i);
            let Some(values) = column.as_any().downcast_ref::<BooleanArray>() else {
                return Err(DataFusionError::Plan(format!(
                    "expectation '{}' of {dataset}: the condition ({}) is not true or false but {}",
                    e.name,
                    e.condition,
                    column.data_type()
                )));
            };
            // A row passes only when the condition is true; false and NULL violate.
            passes.push(and(&is_not_null(values)?, values)?);
        }
        for (i, e) in expectations.iter().enumerate() {
            if e.action == Action::Drop {
                let passed = passes[i].true_count() as u64;
                t.rules[i].passed += passed;
                t.rules[i].failed += rows as u64 - passed;
                keep = and(&keep, &passes[i])?;
            }
        }
        let survivors = keep.clone();
        for (i, e) in expectations.iter().enumerate() {
            if e.action == Action::Drop {
                continue;
            }
            let pass = &passes[i];
            let considered = survivors.true_count() as u64;
            let passed = and(&survivors, pass)?.true_count() as u64;
            let failed = considered - passed;
            t.rules[i].passed += passed;
            t.rules[i].failed += failed;
            if failed == 0 {
                continue;
            }
            match e.action {
                Action::Warn | Action::Drop => {}
                Action::Fail => {
                    let row = (0..rows).find(|&r| survivors.value(r) && !pass.value(r)).unwrap_or(0);
                    let failure = PipelineError::ExpectationFailed {
                        dataset: dataset.clone(),
                        rule: e.name.clone(),
                        failed,
                        example: row_text(&batch, row),
                    };
                    let message = failure.to_string();
                    t.failure = Some(failure);
                    return Err(DataFusionError::Execution(message));
                }
                Action::Quarantine => {
                    any_quarantine = true;
                    for (r, rules) in quarantine_rules.iter_mut().enumerate() {
                        if survivors.value(r) && !pass.value(r) {
                            rules.push(&e.name);
                        }
                    }
                    keep = and(&keep, pass)?;
                }
            }
        }
        let data = RecordBatch::try_new(data_schema.clone(), batch.columns()[..n_data].to_vec())?;
        if any_quarantine {
            let mask = BooleanArray::from(quarantine_rules.iter().map(|r| !r.is_empty()).collect::<Vec<_>>());
            let names = StringArray::from(quarantine_rules.iter().map(|r| r.join(",")).collect::<Vec<_>>());
            let mut columns: Vec<ArrayRef> = data.columns().to_vec();
            columns.push(Arc::new(names));
            let all = RecordBatch::try_new(quarantine_schema.clone(), columns)?;
            let moved = filter_record_batch(&all, &mask)?;
            t.quarantined.push(moved);
        }
        let kept = filter_record_batch(&data, &keep)?;
        let quarantined_here = if any_quarantine { t.quarantined.last().map_or(0, |b| b.num_rows() as u64) } else { 0 };
        t.dropped += (rows - kept.num_rows()) as u64 - quarantined_here;
        t.rows_out += kept.num_rows() as u64;
        Ok(kept)
    });
    StatementOutput { schema: out_schema.clone(), stream: Box::pin(RecordBatchStreamAdapter::new(out_schema, stream)) }
}
