//! Reading text with a Spark datetime pattern, as Spark 3+ reads it (`to_timestamp(s, fmt)`,
//! `to_date(s, fmt)`, `unix_timestamp(s, fmt)`): Java's `DateTimeFormatter` rules as Spark
//! configures them (case-insensitive, strict, `y` as the proleptic year).
//!
//! chrono's `strptime`, which Tarn used before, has none of what Spark patterns rely on:
//! optional sections (`HH:mm[:ss[.SSS]]`), a fraction of 1 to n digits for `S`×n, missing fields
//! taking defaults (`to_timestamp('16', 'dd')` is 1970-01-16), zone names (`zzz`: `PST`), or
//! adjacent numbers without separators (`yyyyMMdd`).
//!
//! A pattern compiles once per distinct text into [`Piece`]s; [`parse`] then walks the input,
//! trying each optional section and skipping it when it does not match, and resolves the
//! fields: year 1970, month and day 1, time 0 where absent; a day of the year must agree with
//! a month and day also given; a field given twice must agree; `h` without `a` is AM.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use datafusion::arrow::array::timezone::Tz;

/// One part of a compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(String),
    Field(char, usize),
    Optional(Vec<Piece>),
}

/// `pattern` as pieces; an error names what Spark refuses.
pub(crate) fn compile(pattern: &str) -> Result<Vec<Piece>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let pieces = compile_section(&chars, &mut i, pattern, 0)?;
    if i < chars.len() {
        return Err(format!("the datetime pattern '{pattern}' closes an optional section (]) it did not open"));
    }
    Ok(pieces)
}

fn compile_section(chars: &[char], i: &mut usize, pattern: &str, depth: usize) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let push_text = |pieces: &mut Vec<Piece>, c: char| match pieces.last_mut() {
        Some(Piece::Text(text)) => text.push(c),
        _ => pieces.push(Piece::Text(c.to_string())),
    };
    while *i < chars.len() {
        let c = chars[*i];
        match c {
            '\'' => {
                *i += 1;
                if chars.get(*i) == Some(&'\'') {
                    push_text(&mut pieces, '\'');
                    *i += 1;
                    continue;
                }
                loop {
                    match chars.get(*i) {
                        None => return Err(format!("the datetime pattern '{pattern}' has an unclosed quote")),
                        Some('\'') if chars.get(*i + 1) == Some(&'\'') => {
                            push_text(&mut pieces, '\'');
                            *i += 2;
                        }
                        Some('\'') => {
                            *i += 1;
                            break;
                        }
                        Some(&q) => {
                            push_text(&mut pieces, q);
                            *i += 1;
                        }
                    }
                }
            }
            '[' => {
                if depth >= 8 {
                    return Err(format!("the datetime pattern '{pattern}' nests optional sections too deeply"));
                }
                *i += 1;
                let inner = compile_section(chars, i, pattern, depth + 1)?;
                if chars.get(*i) != Some(&']') {
                    return Err(format!("the datetime pattern '{pattern}' has an unclosed optional section ([)"));
                }
                *i += 1;
                pieces.push(Piece::Optional(inner));
            }
            ']' if depth > 0 => return Ok(pieces),
            '{' | '}' | '#' | ']' => return Err(format!("the datetime pattern '{pattern}' uses the reserved character '{c}'")),
            c if c.is_ascii_alphabetic() => {
                let run = chars[*i..].iter().take_while(|&&x| x == c).count();
                check_letters(c, run, pattern)?;
                pieces.push(Piece::Field(c, run));
                *i += run;
            }
            c => {
                push_text(&mut pieces, c);
                *i += 1;
            }
        }
    }
    Ok(pieces)
}

/// Spark's refusals (`DateTimeFormatterHelper`) and Java's limits on letter counts.
fn check_letters(c: char, run: usize, pattern: &str) -> Result<(), String> {
    let refused = || {
        Err(format!(
            "[INCONSISTENT_BEHAVIOR_CROSS_VERSION.DATETIME_PATTERN_RECOGNITION] the datetime pattern '{pattern}' uses '{}', which Spark 3+ does not recognize",
            c.to_string().repeat(run)
        ))
    };
    let too_many = || Err(format!("the datetime pattern '{pattern}' has too many '{c}' letters ({run})"));
    match (c, run) {
        ('Y' | 'W' | 'w' | 'u' | 'e' | 'c', _) => Err(format!(
            "the datetime pattern '{pattern}' uses '{c}': week-based patterns are not supported since Spark 3.0; use EXTRACT instead"
        )),
        ('A' | 'n' | 'N' | 'p', _) => Err(format!("the datetime pattern '{pattern}' uses '{c}', which Spark does not support")),
        ('G' | 'M' | 'L' | 'E' | 'Q' | 'q', 5..) | ('y', 7..) => refused(),
        ('y' | 'G' | 'M' | 'L' | 'E' | 'z' | 'O' | 'X' | 'x' | 'Z', _) => match (c, run) {
            ('z', 5..) | ('O', 2 | 3 | 5..) | ('X' | 'x' | 'Z', 6..) => too_many(),
            _ => Ok(()),
        },
        ('d' | 'H' | 'h' | 'K' | 'k' | 'm' | 's', 3..) | ('D', 4..) | ('a', 2..) | ('S', 10..) => too_many(),
        ('V', 2) => Ok(()),
        ('V', _) => Err(format!("the datetime pattern '{pattern}' uses 'V' {run} times; zone ids are 'VV'")),
        ('d' | 'D' | 'H' | 'h' | 'K' | 'k' | 'm' | 's' | 'S' | 'a', _) => Ok(()),
        _ => Err(format!("the datetime pattern '{pattern}' uses '{}', which Tarn does not support", c.to_string().repeat(run))),
    }
}

/// A zone named in the text.
#[derive(Debug, Clone)]
pub(crate) enum Zone {
    Offset(i32),
    /// A region, by its id.
    Named(String, Tz),
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Zone::Offset(a), Zone::Offset(b)) => a == b,
            (Zone::Named(a, _), Zone::Named(b, _)) => a == b,
            _ => false,
        }
    }
}

/// What the text said: a wall-clock time, and the zone it was in when the text named one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parsed {
    pub local: NaiveDateTime,
    pub zone: Option<Zone>,
}

impl Parsed {
    /// The UTC time, reading a time without a zone in `default` (`None`: UTC).
    pub(crate) fn utc(&self, default: Option<&Tz>) -> Option<NaiveDateTime> {
        let in_zone = |tz: &Tz| tz.from_local_datetime(&self.local).earliest().map(|t| t.naive_utc());
        match (&self.zone, default) {
            (Some(Zone::Offset(seconds)), _) => self.local.checked_sub_signed(chrono::TimeDelta::seconds((*seconds).into())),
            (Some(Zone::Named(_, tz)), _) | (None, Some(tz)) => in_zone(tz),
            (None, None) => Some(self.local),
        }
    }
}

/// Where reading failed (a character index), or why the fields do not make a time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    At(usize),
    Invalid(String),
}

#[derive(Debug, Clone, Default)]
struct Fields {
    year: Option<i64>,
    /// `G`: true for BC.
    bc: Option<bool>,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    day_of_week: Option<i64>,
    hour: Option<i64>,
    /// The hour within AM / PM, 0 to 11 (`h` 12 is 0).
    hour_of_ampm: Option<i64>,
    pm: Option<bool>,
    minute: Option<i64>,
    second: Option<i64>,
    nano: Option<i64>,
    zone: Option<Zone>,
}

/// Sets a field, failing when the text gave it a different value already.
fn set<T: PartialEq>(slot: &mut Option<T>, value: T) -> bool {
    match slot {
        Some(old) if *old != value => false,
        _ => {
            *slot = Some(value);
            true
        }
    }
}

/// Reads `text` with the compiled `pattern`, the whole text.
pub(crate) fn parse(pattern: &[Piece], text: &str) -> Result<Parsed, Failure> {
    let input: Vec<char> = text.chars().collect();
    let mut fields = Fields::default();
    let end = parse_pieces(pattern, &input, 0, &mut fields).map_err(Failure::At)?;
    if end != input.len() {
        return Err(Failure::At(end));
    }
    resolve(&fields)
}

/// The position after `pieces` read from `pos`, or the position where reading failed.
fn parse_pieces(pieces: &[Piece], input: &[char], mut pos: usize, fields: &mut Fields) -> Result<usize, usize> {
    for (index, piece) in pieces.iter().enumerate() {
        pos = match piece {
            Piece::Text(expected) => {
                let mut at = pos;
                for e in expected.chars() {
                    match input.get(at) {
                        Some(c) if c.to_lowercase().eq(e.to_lowercase()) => at += 1,
                        _ => return Err(at),
                    }
                }
                at
            }
            Piece::Optional(inner) => {
                let mut attempt = fields.clone();
                match parse_pieces(inner, input, pos, &mut attempt) {
                    Ok(after) => {
                        *fields = attempt;
                        after
                    }
                    Err(_) => pos,
                }
            }
            Piece::Field(letter, count) => parse_field(*letter, *count, input, pos, fields, reserved_after(&pieces[index + 1..]))?,
        };
    }
    Ok(pos)
}

/// Java's adjacent value parsing: the digits that fixed-width numeric fields right after a
/// variable-width one need (`yyyyMMdd`: the year leaves 4 digits to MM and dd).
fn reserved_after(rest: &[Piece]) -> usize {
    let mut reserved = 0;
    for piece in rest {
        match piece {
            Piece::Field(c, n) => match fixed_width(*c, *n) {
                Some(width) => reserved += width,
                None => break,
            },
            _ => break,
        }
    }
    reserved
}

fn fixed_width(letter: char, count: usize) -> Option<usize> {
    match (letter, count) {
        ('y', 2) => Some(2),
        ('M' | 'L' | 'd' | 'H' | 'h' | 'K' | 'k' | 'm' | 's', 2) => Some(2),
        ('D', 3) => Some(3),
        _ => None,
    }
}

/// (minimum, maximum) digits of a numeric field, or `None` for text fields.
fn digit_widths(letter: char, count: usize) -> Option<(usize, usize)> {
    Some(match (letter, count) {
        ('y', 1) => (1, 19),
        ('y', 2) => (2, 2),
        ('y', n) => (n, 19),
        ('M' | 'L', 1) | ('d' | 'H' | 'h' | 'K' | 'k' | 'm' | 's', 1) => (1, 2),
        ('M' | 'L', 2) | ('d' | 'H' | 'h' | 'K' | 'k' | 'm' | 's', 2) => (2, 2),
        ('D', 1) => (1, 3),
        ('D', 2) => (2, 3),
        ('D', _) => (3, 3),
        _ => return None,
    })
}

const MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// The index of the first of `names` (or its 3-letter form when `short`) that `input` starts
/// with at `pos`, and the position after it.
fn match_name(names: &[&str], short: bool, input: &[char], pos: usize) -> Option<(usize, usize)> {
    names.iter().enumerate().find_map(|(i, name)| {
        let name: String = if short { name.chars().take(3).collect() } else { name.to_string() };
        starts_with_ignore_case(input, pos, &name).then(|| (i, pos + name.chars().count()))
    })
}

fn starts_with_ignore_case(input: &[char], pos: usize, word: &str) -> bool {
    let mut at = pos;
    for w in word.chars() {
        match input.get(at) {
            Some(c) if c.eq_ignore_ascii_case(&w) => at += 1,
            _ => return false,
        }
    }
    true
}

fn parse_field(letter: char, count: usize, input: &[char], pos: usize, fields: &mut Fields, reserved: usize) -> Result<usize, usize> {
    if let Some((min, max)) = digit_widths(letter, count) {
        return parse_number(letter, count, min, max, input, pos, fields, reserved);
    }
    let fail = Err(pos);
    match letter {
        'M' | 'L' => {
            let Some((month, end)) = match_name(&MONTHS, count == 3, input, pos) else { return fail };
            if set(&mut fields.month, month as i64 + 1) { Ok(end) } else { fail }
        }
        'E' => {
            let Some((day, end)) = match_name(&DAYS, count <= 3, input, pos) else { return fail };
            if set(&mut fields.day_of_week, day as i64 + 1) { Ok(end) } else { fail }
        }
        'a' => {
            let Some((i, end)) = match_name(&["AM", "PM"], false, input, pos) else { return fail };
            if set(&mut fields.pm, i == 1) { Ok(end) } else { fail }
        }
        'G' => {
            let names: &[&str] = if count == 4 { &["Before Christ", "Anno Domini"] } else { &["BC", "AD"] };
            let Some((i, end)) = match_name(names, false, input, pos) else { return fail };
            if set(&mut fields.bc, i == 0) { Ok(end) } else { fail }
        }
        'S' => {
            let digits = input[pos..].iter().take(count).take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return fail;
            }
            let text: String = input[pos..pos + digits].iter().collect();
            let nano = text.parse::<i64>().map_err(|_| pos)? * 10_i64.pow(9 - digits as u32);
            if set(&mut fields.nano, nano) { Ok(pos + digits) } else { fail }
        }
        'X' | 'x' | 'Z' | 'O' => {
            let Some((seconds, end)) = parse_offset(letter, count, input, pos) else { return fail };
            if set(&mut fields.zone, Zone::Offset(seconds)) { Ok(end) } else { fail }
        }
        'z' | 'V' => {
            let Some((zone, end)) = parse_zone(input, pos) else { return fail };
            if set(&mut fields.zone, zone) { Ok(end) } else { fail }
        }
        _ => fail,
    }
}

#[allow(clippy::too_many_arguments)]
fn parse_number(
    letter: char,
    count: usize,
    min: usize,
    max: usize,
    input: &[char],
    pos: usize,
    fields: &mut Fields,
    reserved: usize,
) -> Result<usize, usize> {
    let mut at = pos;
    // A year may be signed: `-0015`, or `+99999` beyond the pattern's width.
    let mut negative = false;
    let mut plus = false;
    if letter == 'y' && count != 2 {
        match input.get(at) {
            Some('-') => {
                negative = true;
                at += 1;
            }
            Some('+') => {
                plus = true;
                at += 1;
            }
            _ => {}
        }
    }
    let available = input[at..].iter().take_while(|c| c.is_ascii_digit()).count();
    let take = if min == max { min } else { available.saturating_sub(reserved).min(max) };
    if take < min || take > available {
        return Err(at);
    }
    // Java's EXCEEDS_PAD (`yyyy`): more digits than the letters need a sign, and a '+' only
    // comes with more digits.
    if letter == 'y' && count >= 4 && ((take > count && !plus && !negative) || (plus && take <= count)) {
        return Err(pos);
    }
    let text: String = input[at..at + take].iter().collect();
    let Ok(mut value) = text.parse::<i64>() else { return Err(at) };
    if negative {
        value = -value;
    }
    let ok = match letter {
        'y' if count == 2 => set(&mut fields.year, 2000 + value),
        'y' => set(&mut fields.year, value),
        'M' | 'L' => (1..=12).contains(&value) && set(&mut fields.month, value),
        'd' => (1..=31).contains(&value) && set(&mut fields.day, value),
        'D' => (1..=366).contains(&value) && set(&mut fields.day_of_year, value),
        'H' => (0..=23).contains(&value) && set(&mut fields.hour, value),
        'k' => (1..=24).contains(&value) && set(&mut fields.hour, value % 24),
        'h' => (1..=12).contains(&value) && set(&mut fields.hour_of_ampm, value % 12),
        'K' => (0..=11).contains(&value) && set(&mut fields.hour_of_ampm, value),
        'm' => (0..=59).contains(&value) && set(&mut fields.minute, value),
        's' => (0..=59).contains(&value) && set(&mut fields.second, value),
        _ => false,
    };
    if ok { Ok(at + take) } else { Err(pos) }
}

/// Digits at `pos`: exactly `n`.
fn fixed_digits(input: &[char], pos: usize, n: usize) -> Option<i32> {
    let text: String = input.get(pos..pos + n)?.iter().collect();
    text.chars().all(|c| c.is_ascii_digit()).then(|| text.parse().ok())?
}

/// `+HH`, `+HHmm`, `+HH:mm`, `+HHmmss`, `+HH:mm:ss` (which of them the letters allow), `Z` for
/// zero where `X` / `ZZZZZ` allow it, `GMT+8` / `GMT+08:00` for `O` / `ZZZZ`.
fn parse_offset(letter: char, count: usize, input: &[char], pos: usize) -> Option<(i32, usize)> {
    let zulu_allowed = letter == 'X' || (letter == 'Z' && count == 5);
    if zulu_allowed && matches!(input.get(pos), Some('Z' | 'z')) {
        return Some((0, pos + 1));
    }
    let mut at = pos;
    let localized = letter == 'O' || (letter == 'Z' && count == 4);
    if localized {
        if !starts_with_ignore_case(input, at, "GMT") {
            return None;
        }
        at += 3;
        if !matches!(input.get(at), Some('+' | '-')) {
            return Some((0, at));
        }
    }
    let sign = match input.get(at)? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    at += 1;
    // Hours: one or two digits where localized, else two.
    let (hours, after) = if localized && fixed_digits(input, at + 1, 1).is_none() {
        (fixed_digits(input, at, 1)?, at + 1)
    } else {
        (fixed_digits(input, at, 2)?, at + 2)
    };
    at = after;
    let colon = localized || (letter != 'Z' && count % 2 == 1 && count > 1) || (letter == 'Z' && count == 5);
    let with_minutes = !(letter == 'X' || letter == 'x') || count > 1;
    let mut minutes = 0;
    let mut seconds = 0;
    let read_part = |at: &mut usize| -> Option<i32> {
        if colon {
            if input.get(*at) != Some(&':') {
                return None;
            }
            *at += 1;
        }
        let v = fixed_digits(input, *at, 2)?;
        *at += 2;
        Some(v)
    };
    if with_minutes {
        let mut probe = at;
        match read_part(&mut probe) {
            Some(m) => {
                minutes = m;
                at = probe;
                if count >= 4 || localized {
                    let mut probe = at;
                    if let Some(s) = read_part(&mut probe) {
                        seconds = s;
                        at = probe;
                    }
                }
            }
            // `X` / `x` alone: minutes optional; `XX` etc. need them.
            None if !localized && count > 1 && letter != 'Z' => return None,
            None if letter == 'Z' && count < 4 => return None,
            None => {}
        }
    } else {
        // `X`: +HH, or +HHmm.
        if let Some(m) = fixed_digits(input, at, 2) {
            minutes = m;
            at += 2;
        }
    }
    if hours > 18 || minutes > 59 || seconds > 59 {
        return None;
    }
    Some((sign * (hours * 3600 + minutes * 60 + seconds), at))
}

/// Java's short zone names, read as the region they stand for (so `PST` in July is PDT).
const ZONE_NAMES: [(&str, &str); 22] = [
    ("PST", "America/Los_Angeles"),
    ("PDT", "America/Los_Angeles"),
    ("MST", "America/Denver"),
    ("MDT", "America/Denver"),
    ("CST", "America/Chicago"),
    ("CDT", "America/Chicago"),
    ("EST", "America/New_York"),
    ("EDT", "America/New_York"),
    ("AKST", "America/Anchorage"),
    ("AKDT", "America/Anchorage"),
    ("HST", "Pacific/Honolulu"),
    ("CET", "CET"),
    ("CEST", "CET"),
    ("EET", "EET"),
    ("EEST", "EET"),
    ("WET", "WET"),
    ("BST", "Europe/London"),
    ("IST", "Asia/Kolkata"),
    ("JST", "Asia/Tokyo"),
    ("KST", "Asia/Seoul"),
    ("AEST", "Australia/Sydney"),
    ("AEDT", "Australia/Sydney"),
];

/// A zone at `pos`: a region id (`America/Los_Angeles`), `UTC` / `GMT` / `UT` / `Z` with an
/// optional offset (`UTC+08:00`), a bare offset, or a short name (`PST`). The longest that
/// reads as a zone wins.
pub(crate) fn parse_zone(input: &[char], pos: usize) -> Option<(Zone, usize)> {
    // Zone ids are short (the longest region id has 32 characters): looking at most this far
    // keeps a long run of letters from costing time quadratic in its length.
    const LONGEST_ZONE: usize = 64;
    let run = input[pos..]
        .iter()
        .take(LONGEST_ZONE)
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '+' | '-' | ':'))
        .count();
    for len in (1..=run).rev() {
        let word: String = input[pos..pos + len].iter().collect();
        if let Some(zone) = zone_named(&word) {
            return Some((zone, pos + len));
        }
    }
    None
}

/// The zone a whole word names.
pub(crate) fn zone_named(word: &str) -> Option<Zone> {
    let upper = word.to_ascii_uppercase();
    for prefix in ["UTC", "GMT", "UT"] {
        if let Some(rest) = upper.strip_prefix(prefix) {
            if rest.is_empty() {
                return Some(Zone::Offset(0));
            }
            if rest.starts_with(['+', '-']) {
                return offset_text(rest).map(Zone::Offset);
            }
        }
    }
    if upper == "Z" {
        return Some(Zone::Offset(0));
    }
    if word.starts_with(['+', '-']) {
        return offset_text(word).map(Zone::Offset);
    }
    if let Some((_, region)) = ZONE_NAMES.iter().find(|(name, _)| *name == upper) {
        return region.parse::<Tz>().ok().map(|tz| Zone::Named(region.to_string(), tz));
    }
    // Region ids, case as written (chrono-tz's names are case-sensitive).
    if word.contains('/') || word.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
        return word.parse::<Tz>().ok().map(|tz| Zone::Named(word.to_string(), tz));
    }
    None
}

/// `+8`, `+08`, `+0800`, `+08:00`, `+08:00:00`, `+080000` as seconds.
fn offset_text(text: &str) -> Option<i32> {
    let sign = if text.starts_with('-') { -1 } else { 1 };
    let body = &text[1..];
    let digits: String = body.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let parts: Vec<&str> = body.split(':').collect();
    let (h, m, s) = if parts.len() > 1 {
        let n = |i: usize| parts.get(i).map_or(Some(0), |p| if p.len() == 2 || i == 0 { p.parse::<i32>().ok() } else { None });
        (n(0)?, n(1)?, n(2)?)
    } else {
        match digits.len() {
            1 | 2 => (digits.parse().ok()?, 0, 0),
            4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?, 0),
            6 => (digits[..2].parse().ok()?, digits[2..4].parse().ok()?, digits[4..].parse().ok()?),
            _ => return None,
        }
    };
    if h > 18 || m > 59 || s > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60 + s))
}

fn resolve(fields: &Fields) -> Result<Parsed, Failure> {
    let invalid = |what: String| Err(Failure::Invalid(what));
    let mut year = fields.year.unwrap_or(1970);
    if fields.bc == Some(true) {
        year = 1 - year;
    }
    let Ok(year) = i32::try_from(year) else { return invalid(format!("the year {year} is out of range")) };
    let date = match fields.day_of_year {
        Some(day_of_year) => {
            let Some(date) = NaiveDate::from_yo_opt(year, day_of_year as u32) else {
                return invalid(format!("the day of the year {day_of_year} is not in {year}"));
            };
            use chrono::Datelike;
            if fields.month.is_some_and(|m| m != i64::from(date.month())) || fields.day.is_some_and(|d| d != i64::from(date.day())) {
                return invalid(format!("the day of the year {day_of_year} disagrees with the month or day given"));
            }
            date
        }
        None => {
            let (month, day) = (fields.month.unwrap_or(1), fields.day.unwrap_or(1));
            match NaiveDate::from_ymd_opt(year, month as u32, day as u32) {
                Some(date) => date,
                None => return invalid(format!("the date {year}-{month:02}-{day:02} does not exist")),
            }
        }
    };
    if let Some(day_of_week) = fields.day_of_week {
        use chrono::Datelike;
        if i64::from(date.weekday().number_from_monday()) != day_of_week {
            return invalid(format!("{date} is not a {}", DAYS[(day_of_week - 1) as usize]));
        }
    }
    let hour = match (fields.hour, fields.hour_of_ampm) {
        (Some(hour), Some(of_ampm)) if hour % 12 != of_ampm => return invalid("the hours given disagree".into()),
        (Some(hour), _) => {
            if fields.pm.is_some_and(|pm| pm != (hour >= 12)) {
                return invalid("the hour disagrees with AM / PM".into());
            }
            hour
        }
        (None, Some(of_ampm)) => of_ampm + if fields.pm == Some(true) { 12 } else { 0 },
        (None, None) => 0,
    };
    let Some(time) = NaiveTime::from_hms_nano_opt(
        hour as u32,
        fields.minute.unwrap_or(0) as u32,
        fields.second.unwrap_or(0) as u32,
        fields.nano.unwrap_or(0) as u32,
    ) else {
        return invalid("the time does not exist".into());
    };
    Ok(Parsed { local: date.and_time(time), zone: fields.zone.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, pattern: &str) -> Option<String> {
        let pieces = compile(pattern).unwrap();
        parse(&pieces, text).ok().map(|p| p.local.format("%Y-%m-%d %H:%M:%S%.f").to_string())
    }

    #[test]
    fn optional_sections_and_short_fractions() {
        assert_eq!(read("2019-10-06 10:11:12.1", "yyyy-MM-dd HH:mm:ss.SSSSSS[zzz]").as_deref(), Some("2019-10-06 10:11:12.100"));
        assert_eq!(read("2019-10-06 10:11", "yyyy-MM-dd HH:mm[:ss.SSSSSS]").as_deref(), Some("2019-10-06 10:11:00"));
        assert_eq!(read("2019-10-06 10:11:12", "yyyy-MM-dd HH:mm:ss[.SSSSSS]").as_deref(), Some("2019-10-06 10:11:12"));
        assert_eq!(read("2019-10-06 10:11:12.1234567PST", "yyyy-MM-dd HH:mm:ss.SSSSSS[zzz]"), None);
        assert_eq!(read("2019-10-06 10:11:12.", "yyyy-MM-dd HH:mm:ss.SSSSSS[zzz]"), None);
    }

    #[test]
    fn missing_fields_take_defaults() {
        assert_eq!(read("16", "dd").as_deref(), Some("1970-01-16 00:00:00"));
        assert_eq!(read("2019 40", "yyyy mm").as_deref(), Some("2019-01-01 00:40:00"));
        assert_eq!(read("2019 10:10:10", "yyyy hh:mm:ss").as_deref(), Some("2019-01-01 10:10:10"));
        assert_eq!(read("02-29", "MM-dd"), None);
    }

    #[test]
    fn adjacent_numbers_and_quotes() {
        assert_eq!(read("20100309", "yyyyMMdd").as_deref(), Some("2010-03-09 00:00:00"));
        assert_eq!(read("12.1234019-10-06S10:11", "ss.SSSSy-MM-dd'S'HH:mm").as_deref(), Some("0019-10-06 10:11:12.123400"));
        assert_eq!(read("12.1232019-10-06S10:11", "ss.SSSSyyyy-MM-dd'S'HH:mm"), None);
        assert_eq!(read("2019-10-06T10:11:12'12", "yyyy-MM-dd'T'HH:mm:ss''SSSS").as_deref(), Some("2019-10-06 10:11:12.120"));
    }

    #[test]
    fn a_field_given_twice_must_agree() {
        let p = "SSSSSS yyyy-MM-dd HH:mm:ss.SSSSSS[zzz]";
        assert!(read("123456 2019-10-06 10:11:12.123456PST", p).is_some());
        assert_eq!(read("223456 2019-10-06 10:11:12.123456PST", p), None);
    }

    #[test]
    fn zones_and_offsets() {
        let pieces = compile("yyyy-MM-dd HH:mm:ss z").unwrap();
        let parsed = parse(&pieces, "2019-07-01 10:00:00 PST").unwrap();
        assert_eq!(parsed.utc(None).unwrap().to_string(), "2019-07-01 17:00:00");
        let pieces = compile("yyyy-MM-dd HH:mmXXX").unwrap();
        assert_eq!(parse(&pieces, "2019-07-01 10:00+02:00").unwrap().utc(None).unwrap().to_string(), "2019-07-01 08:00:00");
        assert_eq!(zone_named("UTC+080000"), Some(Zone::Offset(8 * 3600)));
    }

    /// A zone is looked for in the first 64 characters only: a megabyte of letters is no zone
    /// (and reading it took time quadratic in its length before the bound).
    #[test]
    fn a_long_run_of_letters_is_no_zone() {
        let text = format!("2019-10-06 {}", "A".repeat(1_000_000));
        let pieces = compile("yyyy-MM-dd z").unwrap();
        assert_eq!(parse(&pieces, &text), Err(Failure::At(11)));
        let zone_then_letters: Vec<char> = format!("Europe/Paris{}", "b".repeat(100)).chars().collect();
        assert_eq!(parse_zone(&zone_then_letters, 0).map(|(_, end)| end), Some(12));
    }

    #[test]
    fn spark_refusals() {
        assert!(compile("dd MM yyyy EEEEE").is_err());
        assert!(compile("YYYY-ww").is_err());
        assert!(compile("yyyy-MM-dd GGGGG").is_err());
    }
}
