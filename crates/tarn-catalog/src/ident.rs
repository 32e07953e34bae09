//! Names: validation and three-level table identifiers.

use std::fmt;

use crate::{CatalogError, Result};

/// Names that cannot be used for catalogs or schemas because they mean something else.
const RESERVED: &[&str] = &["information_schema", "delta", "system", "_tarn_catalog"];

/// Check that `name` is a usable catalog, schema or table name and return it normalized
/// (names are case-insensitive, stored lower-case, as in Unity Catalog).
pub fn validate_name(kind: &str, name: &str) -> Result<String> {
    let invalid = |reason: &str| CatalogError::InvalidName { name: name.to_string(), reason: format!("{kind} names {reason}") };
    if name.is_empty() {
        return Err(invalid("cannot be empty"));
    }
    if name.len() > 255 {
        return Err(invalid("are at most 255 characters"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid("may contain only letters, digits and underscores"));
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(invalid("cannot start with a digit"));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED.contains(&lower.as_str()) || lower.starts_with("_tarn") || lower.starts_with("_delta") {
        return Err(CatalogError::InvalidName {
            name: name.to_string(),
            reason: format!("'{lower}' is reserved; choose another {kind} name"),
        });
    }
    Ok(lower)
}

/// A fully qualified table name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableIdent {
    pub catalog: String,
    pub schema: String,
    pub table: String,
}

impl TableIdent {
    pub fn new(catalog: impl Into<String>, schema: impl Into<String>, table: impl Into<String>) -> Self {
        Self { catalog: catalog.into(), schema: schema.into(), table: table.into() }
    }

    /// Validate and normalize all three parts.
    pub fn validated(catalog: &str, schema: &str, table: &str) -> Result<Self> {
        Ok(Self::new(validate_name("catalog", catalog)?, validate_name("schema", schema)?, validate_name("table", table)?))
    }
}

impl fmt::Display for TableIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.catalog, self.schema, self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercased() {
        assert_eq!(validate_name("table", "Sales_2024").expect("valid"), "sales_2024");
    }

    #[test]
    fn bad_names_are_rejected_with_a_reason() {
        for bad in ["", "a-b", "a b", "a/b", "..", "1abc", "information_schema", "_delta_log"] {
            let err = validate_name("schema", bad).expect_err(bad);
            assert!(matches!(err, CatalogError::InvalidName { .. }), "{bad}: {err}");
        }
    }
}
