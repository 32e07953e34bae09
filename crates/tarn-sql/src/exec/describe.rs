//! DESCRIBE HISTORY / DETAIL / TABLE, SHOW CREATE TABLE, SHOW TBLPROPERTIES, SHOW COLUMNS.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, Int64Array, ListBuilder, StringArray, StringBuilder, TimestampMillisecondArray,
};
use sqlparser::ast::ObjectName;
use tarn_engine::read_commits;

use crate::error::Result;
use crate::output::StatementOutput;
use crate::resolve::Target;
use crate::session::Session;

fn ts_array(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from(values).with_timezone("UTC"))
}

fn strings<I: IntoIterator<Item = Option<String>>>(values: I) -> ArrayRef {
    Arc::new(StringArray::from_iter(values))
}

pub(crate) async fn history(session: &mut Session, table: &ObjectName, limit: Option<u64>) -> Result<StatementOutput> {
    let target = session.open_target(table, None).await?;
    let commits = read_commits(&target.table, limit.map(|l| l as usize)).await?;
    let json = |m: &serde_json::Map<String, serde_json::Value>| Some(serde_json::Value::Object(m.clone()).to_string());
    StatementOutput::from_columns(vec![
        ("version", Arc::new(Int64Array::from_iter_values(commits.iter().map(|c| c.version))) as ArrayRef),
        ("timestamp", ts_array(commits.iter().map(|c| Some(c.timestamp)).collect())),
        ("operation", strings(commits.iter().map(|c| c.operation.clone()))),
        ("operationParameters", strings(commits.iter().map(|c| json(&c.operation_parameters)))),
        ("readVersion", Arc::new(Int64Array::from_iter(commits.iter().map(|c| c.read_version))) as ArrayRef),
        ("isBlindAppend", Arc::new(BooleanArray::from_iter(commits.iter().map(|c| c.is_blind_append))) as ArrayRef),
        ("operationMetrics", strings(commits.iter().map(|c| json(&c.operation_metrics)))),
        ("userMetadata", strings(commits.iter().map(|c| c.user_metadata.clone()))),
        ("engineInfo", strings(commits.iter().map(|c| c.engine_info.clone()))),
    ])
}

struct Detail {
    num_files: i64,
    size: i64,
    last_modified: Option<i64>,
}

fn file_detail(target: &Target) -> Result<Detail> {
    let state = target.table.snapshot()?;
    let mut detail = Detail { num_files: 0, size: 0, last_modified: None };
    for file in state.log_data().iter() {
        detail.num_files += 1;
        detail.size += file.size();
        detail.last_modified = detail.last_modified.max(Some(file.modification_time()));
    }
    Ok(detail)
}

pub(crate) async fn detail(session: &mut Session, table: &ObjectName) -> Result<StatementOutput> {
    let target = session.open_target(table, None).await?;
    let state = target.table.snapshot()?;
    let snapshot = state.snapshot();
    let metadata = snapshot.metadata();
    let protocol = snapshot.protocol();
    let files = file_detail(&target)?;
    let mut partitions = ListBuilder::new(StringBuilder::new());
    for p in metadata.partition_columns() {
        partitions.values().append_value(p);
    }
    partitions.append(true);
    let mut properties: Vec<_> = metadata.configuration().iter().collect();
    properties.sort();
    let properties =
        serde_json::Value::Object(properties.into_iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect());
    let mut features: Vec<String> = protocol.writer_features().map(|f| f.iter().map(|f| f.to_string()).collect()).unwrap_or_default();
    features.sort();
    let name = target.entry.as_ref().map(|e| e.ident().to_string());
    StatementOutput::from_columns(vec![
        ("format", strings([Some("delta".to_string())])),
        ("id", strings([Some(metadata.id().to_string())])),
        ("name", strings([name])),
        ("description", strings([metadata.description().map(str::to_string)])),
        ("location", strings([Some(target.url().to_string())])),
        ("createdAt", ts_array(vec![metadata.created_time()])),
        ("lastModified", ts_array(vec![files.last_modified])),
        ("partitionColumns", Arc::new(partitions.finish()) as ArrayRef),
        ("numFiles", Arc::new(Int64Array::from(vec![files.num_files])) as ArrayRef),
        ("sizeInBytes", Arc::new(Int64Array::from(vec![files.size])) as ArrayRef),
        ("properties", strings([Some(properties.to_string())])),
        ("minReaderVersion", Arc::new(Int32Array::from(vec![protocol.min_reader_version()])) as ArrayRef),
        ("minWriterVersion", Arc::new(Int32Array::from(vec![protocol.min_writer_version()])) as ArrayRef),
        ("tableFeatures", strings([Some(features.join(","))])),
        ("version", Arc::new(Int64Array::from(vec![state.version() as i64])) as ArrayRef),
    ])
}

pub(crate) async fn describe_table(session: &mut Session, table: &ObjectName, extended: bool) -> Result<StatementOutput> {
    if let Some(view) = Box::pin(super::views::described_view(session, table)).await? {
        let mut rows = view.columns;
        // A temporary view has no details in Spark: it is not in any catalog.
        if extended && !view.details.is_empty() {
            rows.push((String::new(), String::new(), None));
            rows.push(("# Detailed Table Information".into(), String::new(), None));
            rows.extend(view.details);
        }
        return column_rows(&rows);
    }
    let target = session.open_target(table, None).await?;
    let state = target.table.snapshot()?;
    let snapshot = state.snapshot();
    let schema = snapshot.arrow_schema();
    let metadata = snapshot.metadata();
    let mut rows: Vec<(String, String, Option<String>)> = schema
        .fields()
        .iter()
        .map(|f| {
            let mut ty = crate::types::field_type_name(f);
            if !f.is_nullable() {
                ty.push_str(" not null");
            }
            (f.name().clone(), ty, f.metadata().get("comment").cloned())
        })
        .collect();
    let partitions = metadata.partition_columns();
    if !partitions.is_empty() {
        rows.push(("# Partition Information".into(), String::new(), None));
        rows.push(("# col_name".into(), "data_type".into(), Some("comment".into())));
        for p in partitions {
            if let Ok(f) = schema.field_with_name(p) {
                rows.push((p.clone(), crate::types::field_type_name(f), None));
            }
        }
    }
    if extended {
        rows.push((String::new(), String::new(), None));
        rows.push(("# Detailed Table Information".into(), String::new(), None));
        if let Some(entry) = &target.entry {
            rows.push(("Catalog".into(), entry.catalog.clone(), None));
            rows.push(("Database".into(), entry.schema.clone(), None));
            rows.push(("Table".into(), entry.name.clone(), None));
            rows.push(("Type".into(), format!("{:?}", entry.kind).to_uppercase(), None));
        }
        rows.push(("Location".into(), target.url().to_string(), None));
        rows.push(("Provider".into(), "delta".into(), None));
        if let Some(d) = metadata.description() {
            rows.push(("Comment".into(), d.to_string(), None));
        }
        rows.push(("Version".into(), state.version().to_string(), None));
        let mut props: Vec<_> = metadata.configuration().iter().map(|(k, v)| format!("{k}={v}")).collect();
        props.sort();
        rows.push(("Table Properties".into(), format!("[{}]", props.join(",")), None));
    }
    column_rows(&rows)
}

/// The `information` text `SHOW TABLE EXTENDED` gives a table or view, in Spark's form: one
/// `Key: value` line per detail, then the schema as a tree.
pub(crate) async fn information(session: &mut Session, name: &ObjectName, temporary: bool) -> Result<String> {
    let output = Box::pin(describe_table(session, name, true)).await?;
    let mut lines: Vec<String> = Vec::new();
    let mut details = false;
    for batch in output.collect().await? {
        let keys = batch.column(0).as_string::<i32>();
        let values = batch.column(1).as_string::<i32>();
        for row in 0..batch.num_rows() {
            let (key, value) = (keys.value(row), values.value(row));
            if key == "# Detailed Table Information" {
                details = true;
            } else if details && !key.is_empty() {
                lines.push(format!("{key}: {value}"));
            }
        }
    }
    if temporary {
        lines.push(format!("Table: {name}"));
        lines.push("Type: VIEW".into());
    }
    let schema = match super::views::view_schema(session, name).await? {
        Some(schema) => schema,
        None => session.open_target(name, None).await?.table.snapshot()?.snapshot().arrow_schema(),
    };
    lines.push("Schema: root".into());
    for field in schema.fields() {
        lines.push(format!(" |-- {}: {} (nullable = {})", field.name(), crate::types::field_type_name(field), field.is_nullable()));
    }
    Ok(lines.join("\n") + "\n")
}

/// Spark's `col_name` / `data_type` / `comment` result of a DESCRIBE.
fn column_rows(rows: &[(String, String, Option<String>)]) -> Result<StatementOutput> {
    StatementOutput::from_columns(vec![
        ("col_name", strings(rows.iter().map(|r| Some(r.0.clone())))),
        ("data_type", strings(rows.iter().map(|r| Some(r.1.clone())))),
        ("comment", strings(rows.iter().map(|r| r.2.clone()))),
    ])
}

/// `DESCRIBE [QUERY] <query>`: Spark's `col_name` / `data_type` / `comment` rows for the
/// columns the query would return. The query is planned (so it is checked and authorized as a
/// query is) but never run; a column read straight from a table keeps that column's comment.
pub(crate) async fn describe_query(session: &mut Session, query: &sqlparser::ast::Query) -> Result<StatementOutput> {
    let (_, plan) = session.plan_query(query).await?;
    let rows: Vec<(String, String, Option<String>)> = plan
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), crate::types::field_type_name(f), f.metadata().get("comment").cloned()))
        .collect();
    column_rows(&rows)
}

/// `DESCRIBE [EXTENDED] t col`: Spark's `info_name` / `info_value` rows for one column — its
/// name, type and comment, and with EXTENDED the statistics rows (NULL: Tarn computes no column
/// statistics). The column is found case-insensitively; an unknown one is an error.
pub(crate) async fn describe_column(session: &mut Session, table: &ObjectName, column: &str, extended: bool) -> Result<StatementOutput> {
    let described = describe_table(session, table, false).await?.collect().await?;
    let mut found = None;
    for batch in &described {
        let names = batch.column(0).as_string::<i32>();
        let types = batch.column(1).as_string::<i32>();
        let comments = batch.column(2).as_string::<i32>();
        for row in 0..batch.num_rows() {
            if names.is_valid(row) && names.value(row).eq_ignore_ascii_case(column) && found.is_none() {
                let data_type = types.value(row).trim_end_matches(" not null").to_string();
                let comment = comments.is_valid(row).then(|| comments.value(row).to_string());
                found = Some((names.value(row).to_string(), data_type, comment));
            }
        }
    }
    let Some((name, data_type, comment)) = found else {
        return Err(crate::error::SqlError::user(format!(
            "[COLUMN_NOT_FOUND] the column `{column}` is not in {table}; DESCRIBE {table} lists its columns"
        )));
    };
    let mut rows: Vec<(&str, String)> =
        vec![("col_name", name), ("data_type", data_type), ("comment", comment.unwrap_or_else(|| "NULL".into()))];
    if extended {
        for statistic in ["min", "max", "num_nulls", "distinct_count", "avg_col_len", "max_col_len", "histogram"] {
            rows.push((statistic, "NULL".into()));
        }
    }
    StatementOutput::from_columns(vec![
        ("info_name", strings(rows.iter().map(|r| Some(r.0.to_string())))),
        ("info_value", strings(rows.iter().map(|r| Some(r.1.clone())))),
    ])
}

fn quote(s: &str) -> String {
    crate::parser::string_literal(s)
}

pub(crate) async fn show_create_table(session: &mut Session, table: &ObjectName) -> Result<StatementOutput> {
    if let Some(view) = Box::pin(super::views::described_view(session, table)).await? {
        return StatementOutput::from_columns(vec![("createtab_stmt", strings([Some(view.ddl)]))]);
    }
    let target = session.open_target(table, None).await?;
    let state = target.table.snapshot()?;
    let snapshot = state.snapshot();
    let schema = snapshot.arrow_schema();
    let metadata = snapshot.metadata();
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            let mut c = format!("  `{}` {}", f.name(), crate::types::field_type_name(f).to_uppercase());
            if !f.is_nullable() {
                c.push_str(" NOT NULL");
            }
            if let Some(comment) = f.metadata().get("comment") {
                c.push_str(&format!(" COMMENT {}", quote(comment)));
            }
            c
        })
        .collect();
    let name = target.display.clone();
    let mut ddl = format!("CREATE TABLE {name} (\n{})\nUSING delta", columns.join(",\n"));
    let partitions = metadata.partition_columns();
    if !partitions.is_empty() {
        ddl.push_str(&format!("\nPARTITIONED BY ({})", partitions.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")));
    }
    if target.entry.as_ref().is_some_and(|e| e.kind == tarn_catalog::TableKind::External) {
        ddl.push_str(&format!("\nLOCATION {}", quote(target.url().as_str())));
    }
    if let Some(d) = metadata.description() {
        ddl.push_str(&format!("\nCOMMENT {}", quote(d)));
    }
    let mut props: Vec<_> = metadata.configuration().iter().collect();
    props.sort();
    if !props.is_empty() {
        let rendered: Vec<String> = props.iter().map(|(k, v)| format!("  {} = {}", quote(k), quote(v))).collect();
        ddl.push_str(&format!("\nTBLPROPERTIES (\n{})", rendered.join(",\n")));
    }
    StatementOutput::from_columns(vec![("createtab_stmt", strings([Some(ddl)]))])
}

pub(crate) async fn show_tblproperties(session: &mut Session, table: &ObjectName) -> Result<StatementOutput> {
    let target = session.open_target(table, None).await?;
    let state = target.table.snapshot()?;
    let snapshot = state.snapshot();
    let mut props: Vec<(String, String)> = snapshot.metadata().configuration().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let protocol = snapshot.protocol();
    props.push(("delta.minReaderVersion".into(), protocol.min_reader_version().to_string()));
    props.push(("delta.minWriterVersion".into(), protocol.min_writer_version().to_string()));
    props.sort();
    StatementOutput::from_columns(vec![
        ("key", strings(props.iter().map(|p| Some(p.0.clone())))),
        ("value", strings(props.iter().map(|p| Some(p.1.clone())))),
    ])
}

pub(crate) async fn show_columns(session: &mut Session, table: &ObjectName) -> Result<StatementOutput> {
    let target = session.open_target(table, None).await?;
    let schema = target.table.snapshot()?.snapshot().arrow_schema();
    StatementOutput::from_columns(vec![("col_name", strings(schema.fields().iter().map(|f| Some(f.name().clone()))))])
}
