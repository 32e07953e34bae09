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
    Csv,
    Json,
    Parquet,
}

impl std::str::FromStr for OutputFormat {
    type Err = CliError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Self::Table),
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            "parquet" => Ok(Self::Parquet),
            other => Err(CliError::Usage(format!("unknown format '{other}'; use table, csv, json or parquet"))),
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
        Ok(Self { format, out, parquet_path: output.map(str::to_string), parquet: None })
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
            OutputFormat::Csv => {
                let mut rows = 0;
                let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(&mut self.out);
                while let Some(batch) = output.stream.next().await {
                    let batch = batch.map_err(tarn_sql::SqlError::from)?;
                    rows += batch.num_rows();
                    writer.write(&batch)?;
                }
                if rows == 0 {
                    // Still print the header line.
                    writer.write(&RecordBatch::new_empty(output.schema.clone()))?;
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
                    sample.extend(format_rows(&batch)?);
                }
                None => {
                    done = true;
                    break;
                }
            }
        }
        let schema: SchemaRef = output.schema.clone();
        let headers: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in &sample {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.lines().map(|l| l.chars().count()).max().unwrap_or(0));
            }
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
                            let c = parts.get(k).copied().unwrap_or("");
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
    let options = FormatOptions::default().with_null("NULL");
    let formatters: Vec<ArrayFormatter<'_>> =
        batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options)).collect::<std::result::Result<_, _>>()?;
    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        // A single column cannot push others off screen: show it whole.
        rows.push(
            formatters.iter().map(|f| if formatters.len() == 1 { f.value(i).to_string() } else { clip(f.value(i).to_string()) }).collect(),
        );
    }
    Ok(rows)
}
