//! Printing results as they stream: an aligned table, CSV (RFC 4180), JSON lines, or Parquet.

use std::fs::File;
use std::io::Write;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use tarn_sql::StatementOutput;

use crate::{CliError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    /// One `column = value` line per column, a blank line between rows (psql's `\x`,
    /// DuckDB's `.mode line`): for wide rows.
    Line,
    Csv,
    Json,
    Parquet,
}

impl std::str::FromStr for OutputFormat {
    type Err = CliError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Self::Table),
            "line" | "vertical" => Ok(Self::Line),
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            "parquet" => Ok(Self::Parquet),
            other => Err(CliError::Usage(format!("unknown format '{other}'; use table, line, csv, json or parquet"))),
        }
    }
}

/// Writes statement results to one destination, batch by batch.
pub struct ResultPrinter {
    format: OutputFormat,
    out: Box<dyn Write + Send>,
    parquet_path: Option<String>,
    /// Parquet gets one file; results of several statements must share a schema.
    parquet: Option<ArrowWriter<File>>,
    /// The terminal's width when the table goes to one: wide tables are narrowed to fit it.
    terminal_width: Option<usize>,
}

const TABLE_SAMPLE_ROWS: usize = 1000;
/// Table cells wider than this are cut with an ellipsis (use csv or json for full values).
const TABLE_MAX_CELL: usize = 80;

impl ResultPrinter {
    pub fn new(format: OutputFormat, output: Option<&str>) -> Result<Self> {
        if format == OutputFormat::Parquet && output.is_none() {
            return Err(CliError::Usage("--format parquet needs an output file: add -o FILE".into()));
        }
        let out: Box<dyn Write + Send> = match (format, output) {
            (OutputFormat::Parquet, _) | (_, None) => Box::new(std::io::stdout()),
            (_, Some(path)) => {
                Box::new(File::create(path).map_err(|source| CliError::Io { context: format!("cannot create {path}"), source })?)
            }
        };
        let terminal_width = match output {
            None if std::io::IsTerminal::is_terminal(&std::io::stdout()) => {
                terminal_size::terminal_size().map(|(terminal_size::Width(w), _)| usize::from(w))
            }
            _ => None,
        };
        Ok(Self { format, out, parquet_path: output.map(str::to_string), parquet: None, terminal_width })
    }

    /// Print one statement's result, returning the number of rows.
    pub async fn print(&mut self, mut output: StatementOutput) -> Result<usize> {
        if output.is_empty_schema() {
            // DDL: drain (there is nothing to show).
            while let Some(batch) = output.stream.next().await {
                batch.map_err(tarn_sql::SqlError::from)?;
            }
            return Ok(0);
        }
        match self.format {
            OutputFormat::Table => self.print_table(output).await,
            OutputFormat::Line => self.print_lines(output).await,
            OutputFormat::Csv => {
                let mut rows = 0;
                let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(&mut self.out);
                while let Some(batch) = output.stream.next().await {
                    let batch = batch.map_err(tarn_sql::SqlError::from)?;
                    rows += batch.num_rows();
                    writer.write(&nested_as_json(&batch)?)?;
                }
                if rows == 0 {
                    // Still print the header line.
                    writer.write(&nested_as_json(&RecordBatch::new_empty(output.schema.clone()))?)?;
                }
                drop(writer);
                self.flush()?;
                Ok(rows)
            }
            OutputFormat::Json => {
                let mut rows = 0;
                let mut writer = arrow::json::LineDelimitedWriter::new(&mut self.out);
                while let Some(batch) = output.stream.next().await {
                    let batch = batch.map_err(tarn_sql::SqlError::from)?;
                    rows += batch.num_rows();
                    writer.write(&batch)?;
                }
                writer.finish()?;
                drop(writer);
                self.flush()?;
                Ok(rows)
            }
            OutputFormat::Parquet => {
                let mut rows = 0;
                if self.parquet.is_none() {
                    let path = self.parquet_path.clone().unwrap_or_default();
                    let file = File::create(&path).map_err(|source| CliError::Io { context: format!("cannot create {path}"), source })?;
                    self.parquet = Some(ArrowWriter::try_new(file, output.schema.clone(), None)?);
                }
                while let Some(batch) = output.stream.next().await {
                    let batch = batch.map_err(tarn_sql::SqlError::from)?;
                    rows += batch.num_rows();
                    if let Some(w) = self.parquet.as_mut() {
                        w.write(&batch)?;
                    }
                }
                Ok(rows)
            }
        }
    }

    async fn print_table(&mut self, mut output: StatementOutput) -> Result<usize> {
        // Widths come from the first rows; later rows stream out without waiting for the end.
        let mut sample: Vec<Vec<String>> = Vec::new();
        let mut done = false;
        while sample.len() < TABLE_SAMPLE_ROWS {
            match output.stream.next().await {
                Some(batch) => {
                    let batch = batch.map_err(tarn_sql::SqlError::from)?;
                    sample.extend(format_cells(&batch, false)?);
                }
                None => {
                    done = true;
                    break;
                }
            }
        }
        let schema: SchemaRef = output.schema.clone();
        let headers: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let widths_of = |sample: &[Vec<String>]| {
            let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
            for row in sample {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.lines().map(|l| l.chars().count()).max().unwrap_or(0));
                }
            }
            widths
        };
        let whole = shown_whole(&schema);
        if let (Some(available), false, true, [row]) = (self.terminal_width, whole, done, sample.as_slice()) {
            // One row too wide for the terminal (an activation link, DESCRIBE DETAIL) is shown
            // name = value, whole, as psql's `\x auto` does, rather than with cut cells.
            if widths_of(&sample).iter().map(|w| w + 3).sum::<usize>() + 1 > available {
                let width = headers.iter().map(|h| h.chars().count()).max().unwrap_or(0);
                let text: String = headers.iter().zip(row).map(|(name, value)| format!("{name:>width$} = {value}\n")).collect();
                self.write_str(&text)?;
                return Ok(1);
            }
        }
        let sample: Vec<Vec<String>> =
            if whole { sample } else { sample.into_iter().map(|row| row.into_iter().map(clip).collect()).collect() };
        let mut widths = widths_of(&sample);
        if let Some(available) = self.terminal_width.filter(|_| !whole) {
            fit_columns(&mut widths, available);
        }
        let rule = format!("+{}+", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+"));
        // A cell with line breaks spans several physical lines of its row.
        let line = |cells: &[String]| {
            let split: Vec<Vec<&str>> = cells.iter().map(|c| c.split('\n').collect()).collect();
            let height = split.iter().map(Vec::len).max().unwrap_or(1);
            (0..height)
                .map(|k| {
                    let padded: Vec<String> = split
                        .iter()
                        .zip(&widths)
                        .map(|(parts, w)| {
                            let c = cut(parts.get(k).copied().unwrap_or(""), *w);
                            format!(" {c}{} ", " ".repeat(w.saturating_sub(c.chars().count())))
                        })
                        .collect();
                    format!("|{}|", padded.join("|"))
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let mut text = String::new();
        text.push_str(&rule);
        text.push('\n');
        text.push_str(&line(&headers));
        text.push('\n');
        text.push_str(&rule);
        text.push('\n');
        let mut rows = sample.len();
        for row in sample {
            text.push_str(&line(&row));
            text.push('\n');
        }
        self.write_str(&text)?;
        if !done {
            while let Some(batch) = output.stream.next().await {
                let batch = batch.map_err(tarn_sql::SqlError::from)?;
                let mut chunk = String::new();
                for row in format_rows(&batch)? {
                    chunk.push_str(&line(&row));
                    chunk.push('\n');
                    rows += 1;
                }
                self.write_str(&chunk)?;
            }
        }
        self.write_str(&format!("{rule}\n"))?;
        Ok(rows)
    }

    async fn print_lines(&mut self, mut output: StatementOutput) -> Result<usize> {
        let names: Vec<String> = output.schema.fields().iter().map(|f| f.name().clone()).collect();
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        let mut rows = 0;
        while let Some(batch) = output.stream.next().await {
            let batch = batch.map_err(tarn_sql::SqlError::from)?;
            let mut chunk = String::new();
            for row in format_cells(&batch, false)? {
                if rows > 0 {
                    chunk.push('\n');
                }
                for (name, value) in names.iter().zip(row) {
                    chunk.push_str(&format!("{name:>width$} = {value}\n"));
                }
                rows += 1;
            }
            self.write_str(&chunk)?;
        }
        Ok(rows)
    }

    fn write_str(&mut self, s: &str) -> Result<()> {
        self.out.write_all(s.as_bytes()).map_err(|e| CliError::Output(e.to_string()))?;
        self.flush()
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| CliError::Output(e.to_string()))
    }

    /// Finish the output (closes a Parquet file).
    pub fn finish(&mut self) -> Result<()> {
        if let Some(writer) = self.parquet.take() {
            writer.close()?;
        }
        self.flush()
    }
}

/// The narrowest a column is made to fit the terminal.
const MIN_FITTED_WIDTH: usize = 8;

/// Narrow the widest columns until the table (with its `| ` borders) fits `available`
/// characters, none below [`MIN_FITTED_WIDTH`] (a table with very many columns still runs over).
fn fit_columns(widths: &mut [usize], available: usize) {
    let borders = 3 * widths.len() + 1;
    while widths.iter().sum::<usize>() + borders > available {
        let Some(widest) = widths.iter_mut().filter(|w| **w > MIN_FITTED_WIDTH).max_by_key(|w| **w) else { break };
        *widest -= 1;
    }
}

/// `text` cut to `width` characters, the last one an ellipsis when anything was cut.
fn cut(text: &str, width: usize) -> std::borrow::Cow<'_, str> {
    if text.chars().count() <= width {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    std::borrow::Cow::Owned(out)
}

/// Cut each line of a cell to the table's maximum cell width.
fn clip(cell: String) -> String {
    if cell.lines().all(|l| l.chars().count() <= TABLE_MAX_CELL) {
        return cell;
    }
    cell.split('\n')
        .map(|line| {
            if line.chars().count() <= TABLE_MAX_CELL {
                line.to_string()
            } else {
                let mut cut: String = line.chars().take(TABLE_MAX_CELL - 1).collect();
                cut.push('…');
                cut
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn format_rows(batch: &RecordBatch) -> Result<Vec<Vec<String>>> {
    format_cells(batch, !shown_whole(&batch.schema()))
}

/// A single column cannot push others off screen, and a plan is read whole: their cells are
/// never cut (the terminal wraps them).
fn shown_whole(schema: &SchemaRef) -> bool {
    schema.fields().len() == 1 || schema.fields().iter().map(|f| f.name().as_str()).eq(["plan_type", "plan"])
}

/// Every cell of `batch` as text (NULL as `NULL`), cut to the table's cell width if `clipped`.
fn format_cells(batch: &RecordBatch, clipped: bool) -> Result<Vec<Vec<String>>> {
    let options = FormatOptions::default().with_null("NULL");
    let formatters: Vec<ArrayFormatter<'_>> =
        batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options)).collect::<std::result::Result<_, _>>()?;
    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        rows.push(formatters.iter().map(|f| if clipped { clip(f.value(i).to_string()) } else { f.value(i).to_string() }).collect());
    }
    Ok(rows)
}

/// `batch` with every array, struct and map column as JSON text — a CSV cell holds one value,
/// and JSON is how DuckDB and Spark write nested values to CSV. Other columns are unchanged.
fn nested_as_json(batch: &RecordBatch) -> Result<RecordBatch> {
    use arrow::array::{ArrayRef, StringBuilder};
    use arrow::datatypes::{DataType, Field, Schema};
    let nested = |t: &DataType| t.is_nested();
    if !batch.schema().fields().iter().any(|f| nested(f.data_type())) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !nested(field.data_type()) {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
            continue;
        }
        // arrow-json writes the column as one object per row: {"v": <value>}, or {} for NULL.
        let single = RecordBatch::try_new(
            std::sync::Arc::new(Schema::new(vec![Field::new("v", field.data_type().clone(), true)])),
            vec![column.clone()],
        )?;
        let mut text = Vec::new();
        let mut writer = arrow::json::LineDelimitedWriter::new(&mut text);
        writer.write(&single)?;
        writer.finish()?;
        drop(writer);
        let mut out = StringBuilder::new();
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<serde_json::Value>(line).ok().and_then(|mut row| row.get_mut("v").map(std::mem::take)) {
                Some(value) => out.append_value(value.to_string()),
                None => out.append_null(),
            }
        }
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(std::sync::Arc::new(out.finish()));
    }
    Ok(RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)?)
}

#[cfg(test)]
mod fit_tests {
    use super::*;

    #[test]
    fn wide_tables_narrow_their_widest_columns_to_fit_the_terminal() {
        let mut widths = vec![4, 120, 60];
        fit_columns(&mut widths, 80);
        assert_eq!(widths.iter().sum::<usize>() + 3 * 3 + 1, 80);
        assert_eq!(widths[0], 4, "a narrow column keeps its width");
        assert!(widths[1].abs_diff(widths[2]) <= 1, "{widths:?}");
        let mut many = vec![20; 30];
        fit_columns(&mut many, 80);
        assert!(many.iter().all(|w| *w == MIN_FITTED_WIDTH), "{many:?}");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}

#[cfg(test)]
mod csv_tests {
    use std::sync::Arc;

    use arrow::array::{Array, Int32Array, ListBuilder, StringBuilder, StructArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn nested_values_become_json_text_in_csv() {
        let mut names = ListBuilder::new(StringBuilder::new());
        names.values().append_value("a");
        names.values().append_value("b,\"c\"");
        names.append(true);
        names.append(false);
        let names = Arc::new(names.finish());
        let ids: Arc<dyn Array> = Arc::new(Int32Array::from(vec![1, 2]));
        let pair = Arc::new(StructArray::from(vec![(Arc::new(Field::new("k", DataType::Int32, true)), ids.clone())]));
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("names", names.data_type().clone(), true),
            Field::new("pair", pair.data_type().clone(), true),
        ]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![ids, names, pair]).expect("batch");
        let mut csv = Vec::new();
        let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(&mut csv);
        writer.write(&nested_as_json(&batch).expect("json")).expect("csv");
        drop(writer);
        let text = String::from_utf8(csv).expect("utf8");
        assert_eq!(text, "id,names,pair\n1,\"[\"\"a\"\",\"\"b,\\\"\"c\\\"\"\"\"]\",\"{\"\"k\"\":1}\"\n2,,\"{\"\"k\"\":2}\"\n");
    }
}
