//! Arrow types Postgres clients cannot receive as themselves — maps, arrays of arrays or of
//! maps, 256-bit decimals — are sent as text (Arrow's rendering, e.g. `{k: 1}`, `[[1, 2]]`);
//! one-byte integers are widened to `int2`, the smallest Postgres integer (arrow-pg would
//! write them as one byte in binary format, which clients misread); every other type keeps
//! its Postgres type (see `arrow_pg::datatypes::into_pg_type`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use tarn_sql::StatementOutput;

/// The type a column is sent as, when it is not its own.
fn wire_type(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::Int8 | DataType::UInt8 => Some(DataType::Int16),
        DataType::UInt16 => Some(DataType::Int32),
        DataType::UInt32 => Some(DataType::Int64),
        other if arrow_pg::datatypes::into_pg_type(other).is_err() => Some(DataType::Utf8),
        _ => None,
    }
}

/// `schema` in the types its columns are sent as; the same `Arc` when nothing changes.
pub(crate) fn wire_schema(schema: &SchemaRef) -> SchemaRef {
    if schema.fields().iter().all(|f| wire_type(f.data_type()).is_none()) {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match wire_type(f.data_type()) {
            Some(t) => Field::new(f.name(), t, f.is_nullable()),
            None => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// A column rendered as text; NULLs stay NULL.
fn as_text(array: &ArrayRef) -> Result<ArrayRef, DataFusionError> {
    let formatter = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())?;
    let text: StringArray = (0..array.len()).map(|i| (!array.is_null(i)).then(|| formatter.value(i).to_string())).collect();
    Ok(Arc::new(text))
}

fn convert(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, DataFusionError> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| match field.data_type() {
            t if t == column.data_type() => Ok(column.clone()),
            DataType::Utf8 => as_text(column),
            t => Ok(arrow::compute::cast(column, t)?),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// `output` with its columns in types Postgres clients can receive.
pub(crate) fn wire_output(output: StatementOutput) -> StatementOutput {
    let schema = wire_schema(&output.schema);
    if Arc::ptr_eq(&schema, &output.schema) {
        return output;
    }
    let target = schema.clone();
    let stream = output.stream.map(move |batch| batch.and_then(|b| convert(b, &target)));
    StatementOutput { schema: schema.clone(), stream: Box::pin(RecordBatchStreamAdapter::new(schema, stream)) }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int8Array, Int16Array, Int32Array, Int32Builder, MapBuilder, StringBuilder};

    use super::*;

    #[test]
    fn maps_become_text_and_other_columns_stay() {
        let mut maps = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
        maps.keys().append_value("k");
        maps.values().append_value(1);
        maps.append(true).expect("append");
        maps.append(false).expect("append null");
        let maps = Arc::new(maps.finish()) as ArrayRef;
        let ids = Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef;
        let tiny = Arc::new(Int8Array::from(vec![3, -4])) as ArrayRef;
        let batch = RecordBatch::try_from_iter([("id", ids), ("m", maps), ("tiny", tiny)]).expect("batch");
        let schema = wire_schema(&batch.schema());
        assert_eq!(schema.field(0).data_type(), &DataType::Int32);
        assert_eq!(schema.field(1).data_type(), &DataType::Utf8);
        assert_eq!(schema.field(2).data_type(), &DataType::Int16);
        let out = convert(batch, &schema).expect("convert");
        let tiny = out.column(2).as_any().downcast_ref::<Int16Array>().expect("int2");
        assert_eq!(tiny.values(), &[3, -4]);
        let text = out.column(1).as_any().downcast_ref::<StringArray>().expect("text");
        assert_eq!(text.value(0), "{k: 1}");
        assert!(text.is_null(1));
    }
}
