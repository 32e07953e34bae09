//! How Tarn writes the Parquet data files of its tables.
//!
//! delta-rs writes with the `parquet` crate's defaults, whose row groups hold up to 1,048,576
//! rows. A row group is the unit a scan is split into (DataFusion hands each one to the
//! partition whose byte range holds its middle) and the finest unit file statistics describe
//! outside the page index, so files of one or two big row groups were read by one core while
//! the other waited (TPC-H `partsupp` at SF 1 is 800,000 rows: one row group), and a range
//! filter could skip only whole million-row blocks. Row groups of [`ROW_GROUP_ROWS`] rows keep
//! every core busy on a single file and give pruning finer steps, for a few per cent more
//! metadata. Dictionaries and page-level statistics (the page index) stay as delta-rs writes them.

use std::str::FromStr;

use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::{EngineError, Result};

/// Rows per row group in the data files Tarn writes.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// What a write's data files look like; the same for every file of one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFileOptions {
    /// The Parquet codec (Spark's `spark.sql.parquet.compression.codec`).
    pub compression: Compression,
}

impl Default for DataFileOptions {
    fn default() -> Self {
        Self { compression: Compression::SNAPPY }
    }
}

impl DataFileOptions {
    /// Writer properties for every data file a write, MERGE, UPDATE, DELETE or OPTIMIZE makes.
    pub fn writer_properties(&self) -> WriterProperties {
        WriterProperties::builder()
            .set_created_by(format!("tarn {} (delta-rs)", env!("CARGO_PKG_VERSION")))
            .set_compression(self.compression)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build()
    }
}

/// A Parquet codec by the names Spark and the `parquet` crate use: `snappy`, `zstd`,
/// `zstd(LEVEL)`, `gzip`, `gzip(LEVEL)`, `lz4_raw`, `brotli`, `uncompressed` (or `none`).
pub fn parse_compression(name: &str) -> Result<Compression> {
    let name = name.trim().to_ascii_lowercase();
    let codec = match name.as_str() {
        "none" | "uncompressed" => Ok(Compression::UNCOMPRESSED),
        // Spark's plain names take the codec's default level.
        "zstd" => Ok(Compression::ZSTD(Default::default())),
        "gzip" => Ok(Compression::GZIP(Default::default())),
        "brotli" => Ok(Compression::BROTLI(Default::default())),
        // Parquet's LZ4 codec is deprecated (readers disagree on its framing); LZ4_RAW is the one to use.
        "lz4" | "lzo" => Err(()),
        other => Compression::from_str(other).map_err(|_| ()),
    };
    codec.map_err(|()| {
        EngineError::User(format!(
            "'{name}' is not a Parquet compression codec Tarn writes; use snappy, zstd, zstd(LEVEL 1-22), \
             gzip, lz4_raw, brotli or uncompressed"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_parse_by_spark_and_parquet_names() {
        assert_eq!(parse_compression("SNAPPY").ok(), Some(Compression::SNAPPY));
        assert_eq!(parse_compression("none").ok(), Some(Compression::UNCOMPRESSED));
        assert!(matches!(parse_compression("zstd"), Ok(Compression::ZSTD(_))));
        assert!(matches!(parse_compression("zstd(9)"), Ok(Compression::ZSTD(level)) if level.compression_level() == 9));
        assert_eq!(parse_compression("lz4_raw").ok(), Some(Compression::LZ4_RAW));
        for bad in ["lz4", "lzo", "zstd(99)", "fast"] {
            let err = parse_compression(bad).expect_err(bad).to_string();
            assert!(err.contains("not a Parquet compression codec"), "{err}");
        }
    }

    #[test]
    fn row_groups_are_bounded() {
        let props = DataFileOptions::default().writer_properties();
        assert_eq!(props.max_row_group_row_count(), Some(ROW_GROUP_ROWS));
    }
}
