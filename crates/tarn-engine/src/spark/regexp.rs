//! Spark's `regexp_extract(s, pattern [, group])`, `regexp_extract_all(s, pattern [, group])`,
//! `regexp_substr(s, pattern)` and `regexp_replace(s, pattern, replacement [, position])`
//! (every match replaced, from `position`; DataFusion's replaces the first unless told 'g',
//! as Postgres does — a text fourth argument is still read as Postgres's flags), on the `regex` crate (the engine DataFusion's own regexp
//! functions use). Group 1 by default; a group that took no part in a match is `''`, no match
//! is `''` (`regexp_extract`), `[]` (`_all`) or NULL (`regexp_substr`), as in Spark. A group
//! number the pattern does not have is an error. Java's lookaround and backreferences are not
//! in this engine: such a pattern is an error, never another match.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListBuilder, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use regex::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Extract,
    ExtractAll,
    Substr,
    /// `split(str, regex[, limit])`.
    Split,
}

/// Spark's `regexp_replace`, with DataFusion's (Postgres's) for a text fourth argument.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpReplace {
    postgres: Arc<ScalarUDF>,
    signature: Signature,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpFunction {
    kind: Kind,
    signature: Signature,
}

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    let mut udfs: Vec<Arc<ScalarUDF>> = [Kind::Extract, Kind::ExtractAll, Kind::Substr, Kind::Split]
        .into_iter()
        .map(|kind| Arc::new(ScalarUDF::new_from_impl(RegexpFunction { kind, signature: Signature::user_defined(Volatility::Immutable) })))
        .collect();
    udfs.push(Arc::new(ScalarUDF::new_from_impl(RegexpReplace {
        postgres: datafusion::functions::regex::regexp_replace(),
        signature: Signature::user_defined(Volatility::Immutable),
    })));
    udfs
}

impl ScalarUDFImpl for RegexpReplace {
    fn name(&self) -> &str {
        "regexp_replace"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if !(3..=4).contains(&args.len()) {
            return plan_err!("[WRONG_NUM_ARGS] regexp_replace takes 3 or 4 arguments, not {}", args.len());
        }
        if let Some(bad) = args[..3].iter().find(|t| !is_text(t)) {
            return plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] regexp_replace takes text, not {bad}");
        }
        let mut types = vec![DataType::Utf8; 3];
        match args.get(3) {
            Some(t) if t.is_integer() => types.push(DataType::Int32),
            Some(t) if is_text(t) => types.push(DataType::Utf8),
            Some(t) => return plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] regexp_replace's position is an INT, not {t}"),
            None => {}
        }
        Ok(types)
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.args.get(3).is_some_and(|a| a.data_type() == DataType::Utf8) {
            return self.postgres.invoke_with_args(args);
        }
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args.args.iter().map(|a| a.to_array(rows)).collect::<Result<_>>()?;
        let (texts, patterns, replacements) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>(), arrays[2].as_string::<i32>());
        let positions = arrays.get(3).map(|a| a.as_primitive::<Int32Type>());
        let mut compiled = Patterns { last: None };
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            if texts.is_null(i) || patterns.is_null(i) || replacements.is_null(i) || positions.is_some_and(|p| p.is_null(i)) {
                out.push(None);
                continue;
            }
            let position = positions.map_or(1, |p| p.value(i));
            if position < 1 {
                return exec_err!("[INVALID_PARAMETER_VALUE.REGEX_POSITION] regexp_replace's position must be 1 or more, got {position}");
            }
            let text = texts.value(i);
            // The characters before `position` are kept as they are.
            let start = text.char_indices().nth(position as usize - 1).map_or(text.len() + 1, |(b, _)| b);
            if start > text.len() {
                out.push(Some(text.to_string()));
                continue;
            }
            let regex = compiled.get(patterns.value(i))?;
            let replacement = rust_replacement(replacements.value(i))?;
            let (head, tail) = text.split_at(start);
            out.push(Some(format!("{head}{}", regex.replace_all(tail, replacement.as_str()))));
        }
        super::answer(&args.args, Arc::new(StringArray::from(out)))
    }
}

/// A Java replacement string (`$1` a group, `\$` a dollar) in the regex crate's syntax.
fn rust_replacement(java: &str) -> Result<String> {
    let mut out = String::with_capacity(java.len() + 4);
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => return exec_err!("[INVALID_PARAMETER_VALUE] the replacement '{java}' ends with a backslash"),
            },
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    return exec_err!(
                        "[INVALID_PARAMETER_VALUE] the replacement '{java}' has a '$' not followed by a group number; write \\$ for a dollar sign"
                    );
                }
                out.push_str(&format!("${{{digits}}}"));
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null)
}

/// Patterns compiled once each for a batch (a literal pattern once for all its rows).
struct Patterns {
    last: Option<(String, Regex)>,
}

impl Patterns {
    fn get(&mut self, pattern: &str) -> Result<&Regex> {
        if self.last.as_ref().is_none_or(|(p, _)| p != pattern) {
            let regex = match Regex::new(pattern) {
                Ok(r) => r,
                Err(e) => return exec_err!("[INVALID_PARAMETER_VALUE.PATTERN] the regular expression '{pattern}' is invalid: {e}"),
            };
            self.last = Some((pattern.to_string(), regex));
        }
        Ok(&self.last.as_ref().expect("set above").1)
    }
}

impl ScalarUDFImpl for RegexpFunction {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Extract => "regexp_extract",
            Kind::ExtractAll => "regexp_extract_all",
            Kind::Substr => "regexp_substr",
            Kind::Split => "split",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let most = if self.kind == Kind::Substr { 2 } else { 3 };
        if args.len() < 2 || args.len() > most {
            return plan_err!(
                "[WRONG_NUM_ARGS] {} takes {} arguments, not {}",
                self.name(),
                if most == 2 { "2" } else { "2 or 3" },
                args.len()
            );
        }
        if let Some(bad) = args[..2].iter().find(|t| !is_text(t)) {
            return plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] {} takes text, not {bad}", self.name());
        }
        let mut types = vec![DataType::Utf8, DataType::Utf8];
        if let Some(group) = args.get(2) {
            if !group.is_integer() && !group.is_null() {
                let what = if self.kind == Kind::Split { "limit" } else { "group index" };
                return plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] {}'s {what} is an INT, not {group}", self.name());
            }
            types.push(DataType::Int32);
        }
        Ok(types)
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::ExtractAll | Kind::Split => DataType::new_list(DataType::Utf8, true),
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args.args.iter().map(|a| a.to_array(rows)).collect::<Result<_>>()?;
        let (texts, patterns) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>());
        let groups = arrays.get(2).map(|a| a.as_primitive::<Int32Type>());
        let mut compiled = Patterns { last: None };
        let result: ArrayRef = match self.kind {
            Kind::ExtractAll => {
                let mut out = ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new("item", DataType::Utf8, true)));
                for i in 0..rows {
                    if texts.is_null(i) || patterns.is_null(i) || groups.is_some_and(|g| g.is_null(i)) {
                        out.append_null();
                        continue;
                    }
                    let regex = compiled.get(patterns.value(i))?;
                    let group = group_index(self.name(), regex, groups.map_or(1, |g| g.value(i)))?;
                    for value in java_matches(regex, texts.value(i), group) {
                        out.values().append_value(value);
                    }
                    out.append(true);
                }
                Arc::new(out.finish())
            }
            Kind::Split => {
                let mut out = ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new("item", DataType::Utf8, true)));
                for i in 0..rows {
                    if texts.is_null(i) || patterns.is_null(i) || groups.is_some_and(|g| g.is_null(i)) {
                        out.append_null();
                        continue;
                    }
                    let limit = groups.map_or(-1, |g| g.value(i));
                    let pattern = patterns.value(i);
                    let parts = if pattern.is_empty() {
                        split_characters(texts.value(i), limit)
                    } else {
                        java_split(compiled.get(pattern)?, texts.value(i), limit)
                    };
                    for part in parts {
                        out.values().append_value(part);
                    }
                    out.append(true);
                }
                Arc::new(out.finish())
            }
            kind => {
                let mut out = Vec::with_capacity(rows);
                for i in 0..rows {
                    if texts.is_null(i) || patterns.is_null(i) || groups.is_some_and(|g| g.is_null(i)) {
                        out.push(None);
                        continue;
                    }
                    let regex = compiled.get(patterns.value(i))?;
                    out.push(if kind == Kind::Substr {
                        regex.find(texts.value(i)).map(|m| m.as_str().to_string())
                    } else {
                        let group = group_index(self.name(), regex, groups.map_or(1, |g| g.value(i)))?;
                        Some(regex.captures(texts.value(i)).and_then(|c| c.get(group).map(|m| m.as_str().to_string())).unwrap_or_default())
                    });
                }
                Arc::new(StringArray::from(out))
            }
        };
        super::answer(&args.args, result)
    }
}

/// `text` split around the matches of `regex` as Java's `String.split(regex, limit)` does with
/// Spark's limit (below 1: no limit, trailing empty strings kept): a match at the very start
/// that is empty gives no leading empty string; with `limit` n > 0 there are at most n parts,
/// the last the rest of the text.
fn java_split<'t>(regex: &Regex, text: &'t str, limit: i32) -> Vec<&'t str> {
    let mut parts = Vec::new();
    let mut at = 0;
    for found in regex.find_iter(text) {
        if limit > 0 && parts.len() as i64 == i64::from(limit) - 1 {
            break;
        }
        if found.start() == 0 && found.end() == 0 {
            continue;
        }
        parts.push(&text[at..found.start()]);
        at = found.end();
    }
    parts.push(&text[at..]);
    parts
}

/// `split(text, '')`: one part per character (Spark's own rule for the empty pattern), at most
/// `limit` parts when it is positive, the last the rest of the text.
fn split_characters(text: &str, limit: i32) -> Vec<&str> {
    if text.is_empty() {
        return vec![text];
    }
    let count = text.chars().count();
    let parts = if limit > 0 && (limit as usize) < count { limit as usize } else { count };
    let mut out = Vec::with_capacity(parts);
    let mut boundaries = text.char_indices().map(|(i, _)| i).skip(1);
    let mut at = 0;
    for _ in 0..parts - 1 {
        let next = boundaries.next().unwrap_or(text.len());
        out.push(&text[at..next]);
        at = next;
    }
    out.push(&text[at..]);
    out
}

/// Group `group` of every match, found as Java's `Matcher.find` loop finds them: an empty match
/// right after a non-empty one counts (`(\d+)?` over `1a` is `1`, `''`, `''`), unlike the
/// regex crate's own iterator.
fn java_matches<'t>(regex: &Regex, text: &'t str, group: usize) -> Vec<&'t str> {
    let mut out = Vec::new();
    let mut at = 0;
    while at <= text.len() {
        let Some(captures) = regex.captures_at(text, at) else { break };
        let whole = captures.get(0).expect("group 0 is the match");
        out.push(captures.get(group).map_or("", |m| m.as_str()));
        at = if whole.end() > whole.start() {
            whole.end()
        } else {
            // Past the empty match by one character.
            whole.end() + text[whole.end()..].chars().next().map_or(1, char::len_utf8)
        };
    }
    out
}

/// The group index, checked against the pattern's groups as Spark checks it.
fn group_index(name: &str, regex: &Regex, index: i32) -> Result<usize> {
    let groups = regex.captures_len() - 1;
    match usize::try_from(index) {
        Ok(i) if i <= groups => Ok(i),
        _ => exec_err!(
            "[INVALID_PARAMETER_VALUE.REGEX_GROUP_INDEX] {name}'s group index must be between 0 and {groups} (the pattern's groups), got {index}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_are_found_as_java_finds_them() {
        let optional_digits = Regex::new(r"(\d+)?").unwrap();
        assert_eq!(java_matches(&optional_digits, "1a 2b 14m", 1), ["1", "", "", "2", "", "", "14", "", ""]);
        assert_eq!(java_matches(&optional_digits, "a 2b 14m", 1), ["", "", "2", "", "", "14", "", ""]);
        assert_eq!(java_matches(&Regex::new(r"\d+").unwrap(), "1a 2b 14m", 0), ["1", "2", "14"]);
    }

    #[test]
    fn java_replacements_read_as_the_regex_crate_does() {
        assert_eq!(rust_replacement("x$1y").unwrap(), "x${1}y");
        assert_eq!(rust_replacement("cost: \\$5").unwrap(), "cost: $$5");
        assert!(rust_replacement("a$").is_err());
    }
}
