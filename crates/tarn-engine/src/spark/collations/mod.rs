//! Spark's collated strings: `STRING COLLATE UTF8_LCASE`, `'a' COLLATE UNICODE_CI`.
//!
//! A collation says how strings compare; it never changes what is stored. Tarn keeps a
//! column's collation where Delta keeps it, in the field's metadata under `__COLLATIONS`
//! (`{"name": "spark.UTF8_LCASE"}`), so Spark sees the column's collation and every other Delta
//! reader sees a string. Inside a plan the same metadata rides on Arrow fields; what decides an
//! expression's collation is [`rule::collation_of`].
//!
//! - **Names** ([`Collation::parse`]): `UTF8_BINARY` (the default: bytes), `UTF8_LCASE` (code
//!   points lower-cased, as Spark's), `UNICODE` and ICU locales (`en`, `sv`, `de_CI_AI`) with
//!   `_CI` / `_AI` for case / accent insensitivity, and `_RTRIM` (trailing spaces ignored).
//! - **Keys** ([`key`]): every comparison, grouping, join, sort and set operation on a
//!   collated string is made on the string's key under its collation: the string itself
//!   (binary), its lower-cased code points (`UTF8_LCASE`), or its ICU sort key (`icu_collator`).
//! - **Planning** ([`rule::Collations`]): an analyzer rule resolves each expression's collation
//!   with Spark's precedence (explicit `COLLATE` over a column's implicit one over a literal's
//!   default; two different explicit or implicit ones are an error), rewrites what compares
//!   onto keys, and refuses what it does not know to be correct under a collation.
//!
//! Delta's `collations` writer feature is not declared: delta-rs 1.1 refuses to write tables
//! that declare writer features it does not know. The schema metadata is the feature's own.

pub(crate) mod functions;
pub(crate) mod key;
pub(crate) mod rule;

use std::collections::HashMap;
use std::fmt;

use datafusion::arrow::datatypes::{DataType, Field};

/// The field metadata key Delta keeps collations under.
pub const METADATA_KEY: &str = "__COLLATIONS";

/// The identifier Tarn marks an indeterminate collation with inside a plan (never stored).
pub const INDETERMINATE: &str = "spark.INDETERMINATE";

/// How strings compare.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Collation {
    pub kind: Kind,
    /// Trailing spaces are ignored (`_RTRIM`).
    pub rtrim: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Kind {
    /// UTF-8 bytes, the default.
    Binary,
    /// Code points lower-cased one by one (Spark's `UTF8_LCASE`), then as bytes.
    Lcase,
    /// ICU's collation of a locale (`""` is the root locale, Spark's `UNICODE`).
    Icu { locale: String, case_insensitive: bool, accent_insensitive: bool },
}

impl Collation {
    pub const BINARY: Collation = Collation { kind: Kind::Binary, rtrim: false };

    /// Comparing as bytes: the default, nothing to rewrite.
    pub fn is_binary(&self) -> bool {
        self.kind == Kind::Binary && !self.rtrim
    }

    /// A collation by its SQL name, any case: `utf8_lcase`, `UNICODE_CI_AI`, `en_ci`, `sv`.
    pub fn parse(name: &str) -> Result<Collation, String> {
        let invalid = || {
            format!(
                "[COLLATION_INVALID_NAME] The value {name} does not represent a correct collation name; \
                 use UTF8_BINARY, UTF8_LCASE, UNICODE or an ICU locale (en, de, sv, ...), optionally with _CI, _AI, _RTRIM"
            )
        };
        let upper = name.trim().to_ascii_uppercase();
        let (rest, rtrim) = match upper.strip_suffix("_RTRIM") {
            Some(rest) => (rest.to_string(), true),
            None => (upper.clone(), false),
        };
        match rest.as_str() {
            "UTF8_BINARY" => return Ok(Collation { kind: Kind::Binary, rtrim }),
            "UTF8_LCASE" => return Ok(Collation { kind: Kind::Lcase, rtrim }),
            _ => {}
        }
        let mut parts = rest.split('_');
        let language = parts.next().ok_or_else(invalid)?;
        let mut locale = if language == "UNICODE" {
            String::new()
        } else if (2..=3).contains(&language.len()) && language.chars().all(|c| c.is_ascii_alphabetic()) {
            language.to_ascii_lowercase()
        } else {
            return Err(invalid());
        };
        let (mut case, mut accent) = (None, None);
        for part in parts {
            let slot = match part {
                "CI" | "CS" => &mut case,
                "AI" | "AS" => &mut accent,
                // A script (`Cyrl`) or a region (`US`) of the locale, before any specifier.
                _ if !locale.is_empty() && case.is_none() && accent.is_none() && part.chars().all(|c| c.is_ascii_alphanumeric()) => {
                    let subtag = match part.len() {
                        4 => format!("{}{}", &part[..1], part[1..].to_ascii_lowercase()),
                        2 | 3 => part.to_string(),
                        _ => return Err(invalid()),
                    };
                    locale.push('_');
                    locale.push_str(&subtag);
                    continue;
                }
                _ => return Err(invalid()),
            };
            if slot.replace(part == "CI" || part == "AI").is_some() {
                return Err(invalid());
            }
        }
        if !locale.is_empty() {
            let tag = locale.replace('_', "-");
            if tag.parse::<icu_locale_core::Locale>().is_err() {
                return Err(invalid());
            }
        }
        Ok(Collation {
            kind: Kind::Icu { locale, case_insensitive: case.unwrap_or(false), accent_insensitive: accent.unwrap_or(false) },
            rtrim,
        })
    }

    /// The name as Spark prints it: `UTF8_LCASE`, `UNICODE_CI`, `sr_CI_AI`, `en_RTRIM`.
    pub fn name(&self) -> String {
        let mut out = match &self.kind {
            Kind::Binary => "UTF8_BINARY".to_string(),
            Kind::Lcase => "UTF8_LCASE".to_string(),
            Kind::Icu { locale, case_insensitive, accent_insensitive } => {
                let mut s = if locale.is_empty() { "UNICODE".to_string() } else { locale.clone() };
                if *case_insensitive {
                    s.push_str("_CI");
                }
                if *accent_insensitive {
                    s.push_str("_AI");
                }
                s
            }
        };
        if self.rtrim {
            out.push_str("_RTRIM");
        }
        out
    }

    /// The identifier Delta stores in `__COLLATIONS`: `spark.UTF8_LCASE`, `icu.UNICODE_CI`.
    pub fn delta_identifier(&self) -> String {
        let provider = if matches!(self.kind, Kind::Icu { .. }) { "icu" } else { "spark" };
        format!("{provider}.{}", self.name())
    }

    fn from_delta_identifier(identifier: &str) -> Option<Collation> {
        let mut parts = identifier.splitn(3, '.');
        let (_provider, name) = (parts.next()?, parts.next()?);
        Collation::parse(name).ok()
    }

    /// The collation a string field carries in its metadata; `None` for a field without one
    /// (binary) and for fields that are not strings.
    pub fn of_field(field: &Field) -> Option<Collation> {
        if !is_string(field.data_type()) {
            return None;
        }
        let map: HashMap<String, String> = serde_json::from_str(field.metadata().get(METADATA_KEY)?).ok()?;
        let identifier = map.get(field.name()).or_else(|| map.iter().find(|(k, _)| !k.contains('.')).map(|(_, v)| v))?;
        Collation::from_delta_identifier(identifier).filter(|c| !c.is_binary())
    }

    /// Whether a field holds strings of an indeterminate collation (two implicit ones met in a
    /// computed column): comparing them is an error.
    pub fn indeterminate_field(field: &Field) -> bool {
        field.metadata().get(METADATA_KEY).is_some_and(|v| v.contains(INDETERMINATE))
    }

    /// `field` with this collation in its metadata (or without one, for binary).
    pub fn on_field(&self, field: Field) -> Field {
        let mut metadata = field.metadata().clone();
        if self.is_binary() {
            metadata.remove(METADATA_KEY);
        } else {
            metadata.insert(METADATA_KEY.to_string(), self.metadata_value(field.name()));
        }
        field.with_metadata(metadata)
    }

    /// The `__COLLATIONS` value for a field named `name`.
    pub fn metadata_value(&self, name: &str) -> String {
        serde_json::json!({ name: self.delta_identifier() }).to_string()
    }
}

impl fmt::Display for Collation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Whether values of this type are strings (the only type that has collations).
pub fn is_string(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

/// Whether an analyzed expression compares or searches strings under a collation other than
/// binary (it holds a collation key or a collation-aware function): such an expression means
/// something else to an engine that does not know collations.
pub fn compares_collated(expr: &datafusion::logical_expr::Expr) -> bool {
    use datafusion::common::tree_node::TreeNode;
    let mut found = false;
    let _ = expr.apply(|e| {
        if let datafusion::logical_expr::Expr::ScalarFunction(f) = e
            && (f.name() == key::COLLATION_KEY || f.name().starts_with("collated_"))
        {
            found = true;
            return Ok(datafusion::common::tree_node::TreeNodeRecursion::Stop);
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    found
}

/// A string type as Spark prints it: `string`, or `string collate UTF8_LCASE`.
pub fn type_name(field: &Field) -> Option<String> {
    Collation::of_field(field).map(|c| format!("string collate {}", c.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_any_case_and_print_as_spark() {
        for (given, printed) in [
            ("utf8_lcase", "UTF8_LCASE"),
            ("UTF8_BINARY", "UTF8_BINARY"),
            ("unicode_ci_ai", "UNICODE_CI_AI"),
            ("unicode_ai_ci", "UNICODE_CI_AI"),
            ("SR_AI_CI", "sr_CI_AI"),
            ("en_ci", "en_CI"),
            ("utf8_lcase_rtrim", "UTF8_LCASE_RTRIM"),
            ("unicode_rtrim", "UNICODE_RTRIM"),
            ("sr_cyrl_ci", "sr_Cyrl_CI"),
        ] {
            assert_eq!(Collation::parse(given).map(|c| c.name()).as_deref(), Ok(printed), "{given}");
        }
        for bad in ["utf8", "unicode_ci_ci", "x_y_z_w", "", "en_ci_xyzzyx"] {
            assert!(Collation::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fields_carry_collations_as_delta_stores_them() {
        let lcase = Collation::parse("utf8_lcase").unwrap();
        let field = lcase.on_field(Field::new("c", DataType::Utf8, true));
        assert_eq!(field.metadata().get(METADATA_KEY).map(String::as_str), Some(r#"{"c":"spark.UTF8_LCASE"}"#));
        assert_eq!(Collation::of_field(&field), Some(lcase));
        // Renamed by an alias, the field keeps its collation.
        assert!(Collation::of_field(&field.clone().with_name("d")).is_some());
        assert_eq!(Collation::of_field(&Field::new("c", DataType::Utf8, true)), None);
    }
}
