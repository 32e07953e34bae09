//! String functions that search, under `UTF8_LCASE`: a match is where the lower-cased code
//! points of the text equal those of what is sought (Spark's `CollationAwareUTF8String`), and
//! positions and pieces are those of the original text.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanBuilder, Int32Builder, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::{as_int64_array, as_string_array};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit};

use super::key::lower_code_points;
use super::{Collation, Kind};

/// What a collation-aware function does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Search {
    /// `contains(text, sought)`
    Contains,
    /// `startswith(text, sought)`
    StartsWith,
    /// `endswith(text, sought)`
    EndsWith,
    /// `instr(text, sought)`: 1-based position, 0 when absent.
    Instr,
    /// `locate(sought, text[, from])`.
    Locate,
    /// `replace(text, sought, replacement)`
    Replace,
    /// `split_part(text, delimiter, n)`
    SplitPart,
    /// `substring_index(text, delimiter, count)`
    SubstringIndex,
    /// `find_in_set(item, list)`
    FindInSet,
    /// `btrim` / `ltrim` / `rtrim(text, characters)`: whether to trim the start, the end.
    Trim { start: bool, end: bool },
    /// `translate(text, from, to)`: each character found in `from` becomes the one at the same
    /// place in `to` (or goes, when `to` is shorter); the first place of a repeated one counts.
    Translate,
}

impl Search {
    fn name(&self) -> &'static str {
        match self {
            Search::Contains => "contains",
            Search::StartsWith => "startswith",
            Search::EndsWith => "endswith",
            Search::Instr => "instr",
            Search::Locate => "locate",
            Search::Replace => "replace",
            Search::SplitPart => "split_part",
            Search::SubstringIndex => "substring_index",
            Search::FindInSet => "find_in_set",
            Search::Trim { start: true, end: true } => "btrim",
            Search::Trim { start: true, end: false } => "ltrim",
            Search::Trim { .. } => "rtrim",
            Search::Translate => "translate",
        }
    }

    /// Whether Tarn knows this function's answer under `collation`.
    pub(crate) fn supports(&self, collation: &Collation) -> bool {
        collation.kind == Kind::Lcase && !collation.rtrim
    }

    /// The collation-aware call, `collated_<name>(args.., 'COLLATION')`.
    pub(crate) fn call(&self, mut args: Vec<Expr>, collation: &Collation) -> Expr {
        args.push(lit(collation.name()));
        let udf = Arc::new(ScalarUDF::new_from_impl(Collated::new(*self)));
        Expr::ScalarFunction(ScalarFunction::new_udf(udf, args))
    }
}

/// The collation-aware version of the function called `name` (DataFusion's or Spark's name).
pub(crate) fn collation_aware(name: &str) -> Option<Search> {
    Some(match name {
        "contains" => Search::Contains,
        "starts_with" | "startswith" => Search::StartsWith,
        "ends_with" | "endswith" => Search::EndsWith,
        "strpos" | "instr" => Search::Instr,
        "locate" => Search::Locate,
        "replace" => Search::Replace,
        "split_part" => Search::SplitPart,
        "substr_index" | "substring_index" => Search::SubstringIndex,
        "find_in_set" => Search::FindInSet,
        "btrim" | "trim" => Search::Trim { start: true, end: true },
        "ltrim" => Search::Trim { start: true, end: false },
        "rtrim" => Search::Trim { start: false, end: true },
        "translate" => Search::Translate,
        _ => return None,
    })
}

/// Where `sought` (already lower-cased) matches `text` from char `start`: the char just past
/// the match, when the lower-cased chars of `text` from `start` begin with exactly `sought`.
fn match_at(text: &[char], start: usize, sought: &str, fold: bool) -> Option<usize> {
    let mut rest = sought;
    let mut at = start;
    while !rest.is_empty() {
        let c = *text.get(at)?;
        let mut lowered = [0u8; 16];
        let mut n = 0;
        if fold {
            for l in c.to_lowercase() {
                n += l.encode_utf8(&mut lowered[n..]).len();
            }
        } else {
            n = c.encode_utf8(&mut lowered).len();
        }
        let piece = std::str::from_utf8(&lowered[..n]).ok()?;
        rest = rest.strip_prefix(piece)?;
        at += 1;
    }
    Some(at)
}

/// The first match of `sought` in `text` at or after char `from`: (start, end) in chars.
fn find(text: &[char], sought: &str, from: usize, fold: bool) -> Option<(usize, usize)> {
    (from..=text.len()).find_map(|i| match_at(text, i, sought, fold).map(|end| (i, end)))
}

fn all_matches(text: &[char], sought: &str, fold: bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some((s, e)) = find(text, sought, from, fold) {
        out.push((s, e));
        from = if e > s { e } else { s + 1 };
        if sought.is_empty() || from > text.len() {
            break;
        }
    }
    out
}

fn piece(text: &[char], from: usize, to: usize) -> String {
    text[from..to].iter().collect()
}

fn split(text: &[char], delimiter: &str, fold: bool) -> Vec<String> {
    let mut parts = Vec::new();
    let mut last = 0;
    for (s, e) in all_matches(text, delimiter, fold) {
        parts.push(piece(text, last, s));
        last = e;
    }
    parts.push(piece(text, last, text.len()));
    parts
}

/// `s` as matching compares it: lower-cased code points under `UTF8_LCASE`, else itself.
fn folded(s: &str, fold: bool) -> String {
    if fold { lower_code_points(s) } else { s.to_string() }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Collated {
    search: Search,
    name: String,
    /// The last argument names the collation (`UTF8_LCASE`); without it, strings match as bytes.
    collated: bool,
    signature: Signature,
}

impl Collated {
    fn new(search: Search) -> Self {
        Collated {
            search,
            name: format!("collated_{}", search.name()),
            collated: true,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

/// Spark's `substring_index(str, delim, count)` on bytes: delimiters may overlap, as Spark finds
/// the next one a character after the last began (DataFusion's `substring_index('aaaaaaaa',
/// 'aaaa', 2)` is `aaaa`; Spark's is `a`).
pub(crate) fn substring_index() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Collated {
        search: Search::SubstringIndex,
        name: "substring_index".to_string(),
        collated: false,
        signature: Signature::variadic_any(Volatility::Immutable),
    }))
}

/// `out` (text) as the first argument's string type.
fn cast_like(out: &ArrayRef, first: &DataType) -> Result<ArrayRef> {
    if super::is_string(first) { Ok(datafusion::arrow::compute::cast(out, first)?) } else { Ok(Arc::clone(out)) }
}

fn strings(array: &ArrayRef) -> Result<ArrayRef> {
    Ok(datafusion::arrow::compute::cast(array, &DataType::Utf8)?)
}

fn integers(array: &ArrayRef) -> Result<ArrayRef> {
    Ok(datafusion::arrow::compute::cast(array, &DataType::Int64)?)
}

impl ScalarUDFImpl for Collated {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(match self.search {
            Search::Contains | Search::StartsWith | Search::EndsWith => DataType::Boolean,
            Search::Instr | Search::Locate | Search::FindInSet => DataType::Int32,
            Search::Replace | Search::SplitPart | Search::SubstringIndex | Search::Trim { .. } | Search::Translate => {
                args.first().filter(|t| super::is_string(t)).cloned().unwrap_or(DataType::Utf8)
            }
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let fold = self.collated;
        let values = if self.collated { &args.args[..args.args.len() - 1] } else { &args.args[..] };
        let arrays: Vec<ArrayRef> = values.iter().map(|v| v.to_array(rows)).collect::<Result<_>>()?;
        let text_at = |i: usize| -> Result<ArrayRef> { strings(&arrays[i]) };
        let out: ArrayRef = match self.search {
            Search::Contains | Search::StartsWith | Search::EndsWith => {
                let (text, sought) = (text_at(0)?, text_at(1)?);
                let (text, sought) = (as_string_array(&text)?, as_string_array(&sought)?);
                let mut out = BooleanBuilder::with_capacity(rows);
                for (t, s) in text.iter().zip(sought.iter()) {
                    let (Some(t), Some(s)) = (t, s) else {
                        out.append_null();
                        continue;
                    };
                    let t: Vec<char> = t.chars().collect();
                    let s = folded(s, fold);
                    out.append_value(match self.search {
                        Search::Contains => find(&t, &s, 0, fold).is_some(),
                        Search::StartsWith => match_at(&t, 0, &s, fold).is_some(),
                        _ => (0..=t.len()).any(|i| match_at(&t, i, &s, fold) == Some(t.len())),
                    });
                }
                std::sync::Arc::new(out.finish())
            }
            Search::Instr | Search::Locate => {
                let (text, sought) = if self.search == Search::Instr { (text_at(0)?, text_at(1)?) } else { (text_at(1)?, text_at(0)?) };
                let (text, sought) = (as_string_array(&text)?, as_string_array(&sought)?);
                let from = if self.search == Search::Locate && arrays.len() > 2 { Some(integers(&arrays[2])?) } else { None };
                let from = from.as_ref().map(|f| as_int64_array(f)).transpose()?;
                let mut out = Int32Builder::with_capacity(rows);
                for i in 0..rows {
                    let start = match from {
                        // A NULL start finds nothing (Hive's rule, as Spark's and Tarn's `locate`).
                        Some(f) if f.is_null(i) => {
                            out.append_value(0);
                            continue;
                        }
                        Some(f) => f.value(i),
                        None => 1,
                    };
                    if text.is_null(i) || sought.is_null(i) {
                        out.append_null();
                        continue;
                    }
                    let t: Vec<char> = text.value(i).chars().collect();
                    let s = folded(sought.value(i), fold);
                    // Spark's locate: a start below 1, or past the text, finds nothing.
                    if start < 1 || (start as usize) > t.len() + 1 {
                        out.append_value(0);
                        continue;
                    }
                    let at = find(&t, &s, start as usize - 1, fold).map_or(0, |(s, _)| s as i32 + 1);
                    out.append_value(at);
                }
                std::sync::Arc::new(out.finish())
            }
            Search::FindInSet => {
                let (item, list) = (text_at(0)?, text_at(1)?);
                let (item, list) = (as_string_array(&item)?, as_string_array(&list)?);
                let mut out = Int32Builder::with_capacity(rows);
                for (item, list) in item.iter().zip(list.iter()) {
                    let (Some(item), Some(list)) = (item, list) else {
                        out.append_null();
                        continue;
                    };
                    if item.contains(',') {
                        out.append_value(0);
                        continue;
                    }
                    let wanted = folded(item, fold);
                    let at = list.split(',').position(|e| folded(e, fold) == wanted).map_or(0, |p| p as i32 + 1);
                    out.append_value(at);
                }
                std::sync::Arc::new(out.finish())
            }
            Search::Translate => {
                let (text, from, to) = (text_at(0)?, text_at(1)?, text_at(2)?);
                let (text, from, to) = (as_string_array(&text)?, as_string_array(&from)?, as_string_array(&to)?);
                let mut out = StringBuilder::with_capacity(rows, text.value_data().len());
                for i in 0..rows {
                    if text.is_null(i) || from.is_null(i) || to.is_null(i) {
                        out.append_null();
                        continue;
                    }
                    let replacements: Vec<char> = to.value(i).chars().collect();
                    let mut map: Vec<(String, Option<char>)> = Vec::new();
                    for (k, ch) in from.value(i).chars().enumerate() {
                        let key = folded(&ch.to_string(), fold);
                        if !map.iter().any(|(seen, _)| *seen == key) {
                            map.push((key, replacements.get(k).copied()));
                        }
                    }
                    let mut result = String::with_capacity(text.value(i).len());
                    for ch in text.value(i).chars() {
                        let key = folded(&ch.to_string(), fold);
                        match map.iter().find(|(seen, _)| *seen == key) {
                            Some((_, Some(replacement))) => result.push(*replacement),
                            Some((_, None)) => {}
                            None => result.push(ch),
                        }
                    }
                    out.append_value(result);
                }
                let out: ArrayRef = std::sync::Arc::new(out.finish());
                cast_like(&out, arrays[0].data_type())?
            }
            Search::Trim { start, end } => {
                let (text, characters) = (text_at(0)?, text_at(1)?);
                let (text, characters) = (as_string_array(&text)?, as_string_array(&characters)?);
                let mut out = StringBuilder::with_capacity(rows, text.value_data().len());
                for (t, c) in text.iter().zip(characters.iter()) {
                    let (Some(t), Some(c)) = (t, c) else {
                        out.append_null();
                        continue;
                    };
                    let set: Vec<String> = c.chars().map(|ch| folded(&ch.to_string(), fold)).collect();
                    let trimmed = |ch: &char| set.contains(&folded(&ch.to_string(), fold));
                    let chars: Vec<char> = t.chars().collect();
                    let mut from = 0;
                    let mut to = chars.len();
                    if start {
                        while from < to && trimmed(&chars[from]) {
                            from += 1;
                        }
                    }
                    if end {
                        while to > from && trimmed(&chars[to - 1]) {
                            to -= 1;
                        }
                    }
                    out.append_value(piece(&chars, from, to));
                }
                let out: ArrayRef = std::sync::Arc::new(out.finish());
                cast_like(&out, arrays[0].data_type())?
            }
            Search::Replace | Search::SplitPart | Search::SubstringIndex => {
                let (text, sought) = (text_at(0)?, text_at(1)?);
                let (text, sought) = (as_string_array(&text)?, as_string_array(&sought)?);
                let third = match self.search {
                    Search::Replace => text_at(2)?,
                    _ => integers(&arrays[2])?,
                };
                let mut out = StringBuilder::with_capacity(rows, text.value_data().len());
                for i in 0..rows {
                    if text.is_null(i) || sought.is_null(i) || third.is_null(i) {
                        out.append_null();
                        continue;
                    }
                    let t: Vec<char> = text.value(i).chars().collect();
                    let s = folded(sought.value(i), fold);
                    match self.search {
                        Search::Replace => {
                            let replacement = as_string_array(&third)?.value(i);
                            if s.is_empty() {
                                out.append_value(text.value(i));
                                continue;
                            }
                            let mut result = String::new();
                            let mut last = 0;
                            for (a, b) in all_matches(&t, &s, fold) {
                                result.push_str(&piece(&t, last, a));
                                result.push_str(replacement);
                                last = b;
                            }
                            result.push_str(&piece(&t, last, t.len()));
                            out.append_value(result);
                        }
                        Search::SplitPart => {
                            let n = as_int64_array(&third)?.value(i);
                            if n == 0 {
                                return exec_err!("[INVALID_INDEX_OF_ZERO] split_part: the part number must not be 0");
                            }
                            let parts = if s.is_empty() { vec![text.value(i).to_string()] } else { split(&t, &s, fold) };
                            let index = if n > 0 { n.checked_sub(1) } else { (parts.len() as i64).checked_add(n) };
                            let part = index.and_then(|k| usize::try_from(k).ok()).and_then(|k| parts.get(k));
                            out.append_value(part.map_or("", String::as_str));
                        }
                        _ => {
                            let count = as_int64_array(&third)?.value(i);
                            if s.is_empty() || count == 0 {
                                out.append_value("");
                                continue;
                            }
                            // Spark looks for the next delimiter one character after the last
                            // one began (matches may overlap), from either end.
                            let matches: Vec<(usize, usize)> =
                                (0..t.len()).filter_map(|i| match_at(&t, i, &s, fold).map(|e| (i, e))).collect();
                            let result = if count > 0 {
                                match matches.get(count as usize - 1) {
                                    Some((start, _)) => piece(&t, 0, *start),
                                    None => text.value(i).to_string(),
                                }
                            } else {
                                let back = count.unsigned_abs() as usize;
                                match matches.len().checked_sub(back).and_then(|k| matches.get(k)) {
                                    Some((_, end)) => piece(&t, *end, t.len()),
                                    None => text.value(i).to_string(),
                                }
                            };
                            out.append_value(result);
                        }
                    }
                }
                let out: ArrayRef = std::sync::Arc::new(out.finish());
                cast_like(&out, arrays[0].data_type())?
            }
        };
        super::super::answer(values, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn lower_case_matches_keep_the_original_positions() {
        assert_eq!(find(&chars("aaAaAAaA"), "aaa", 0, true), Some((0, 3)));
        assert_eq!(find(&chars("aaAaAAaA"), "aaa", 0, false), None);
        assert_eq!(find(&chars("xİo"), &lower_code_points("i̇o"), 0, true), Some((1, 3)));
        // Half of İ's lower case is no match.
        assert_eq!(find(&chars("İo"), "io", 0, true), None);
        assert_eq!(split(&chars("aBcAbC"), "b", true), vec!["a", "cA", "C"]);
        assert_eq!(all_matches(&chars("AAAA"), "aa", true), vec![(0, 2), (2, 4)]);
    }
}
