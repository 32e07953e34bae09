//! Spark's typed numeric literals: `1L` (BIGINT), `6S` (SMALLINT), `2Y` (TINYINT), `1.0D`
//! (DOUBLE), `1.5F` (FLOAT), `100.00BD` / `20E2BD` (DECIMAL with the literal's own precision and
//! scale). sqlparser reads them as a number followed by a word (`1.0D`) or as one word (`25Y`,
//! where identifiers may start with a digit); both become `<number>::<type>` tokens
//! before parsing. A suffix only counts when it touches the number: `1.0 d` stays an alias.
//! A number with an exponent and no suffix (`1.5E2`) is a DOUBLE, as in Spark (plain decimals
//! like `1.5` are DECIMALs: the session parses them so).

use sqlparser::tokenizer::{Token, TokenWithSpan, Word};

/// The SQL type a suffix stands for, given the number's text.
fn suffix_type(number: &str, suffix: &str) -> Option<Vec<Token>> {
    let word = |w: &str| Token::make_word(w, None);
    let simple = |t: &str| Some(vec![word(t)]);
    match suffix.to_ascii_uppercase().as_str() {
        "L" if is_integer(number) => simple("BIGINT"),
        "S" if is_integer(number) => simple("SMALLINT"),
        "Y" if is_integer(number) => simple("TINYINT"),
        "D" => simple("DOUBLE"),
        "F" => simple("FLOAT"),
        "BD" => {
            let (precision, scale) = decimal_shape(number)?;
            Some(vec![
                word("DECIMAL"),
                Token::LParen,
                Token::Number(precision.to_string(), false),
                Token::Comma,
                Token::Number(scale.to_string(), false),
                Token::RParen,
            ])
        }
        _ => None,
    }
}

fn is_integer(number: &str) -> bool {
    !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
}

/// Java's `BigDecimal` precision and scale of a literal, as Spark types `..BD` literals:
/// `100.00` is DECIMAL(5,2), `20E2` DECIMAL(4,0), `0.001` DECIMAL(3,3).
fn decimal_shape(number: &str) -> Option<(u32, u32)> {
    let lower = number.to_ascii_lowercase();
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, e.parse::<i64>().ok()?),
        None => (lower.as_str(), 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !(int.bytes().all(|b| b.is_ascii_digit()) && frac.bytes().all(|b| b.is_ascii_digit())) || int.len() + frac.len() == 0 {
        return None;
    }
    let digits = format!("{int}{frac}");
    let significant = digits.trim_start_matches('0');
    let precision = significant.len().max(1) as i64;
    let scale = frac.len() as i64 - exponent;
    let (precision, scale) = if scale < 0 { (precision - scale, 0) } else { (precision.max(scale), scale) };
    (precision <= 38).then_some((precision as u32, scale as u32))
}

/// `25Y` or `1.5D` read as one word (identifiers may start with a digit): the number and the
/// suffix.
fn split_word(word: &Word) -> Option<(&str, &str)> {
    if word.quote_style.is_some() || !word.value.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let value = word.value.as_str();
    ["BD", "L", "S", "Y", "D", "F"].iter().find_map(|suffix| {
        let cut = value.len().checked_sub(suffix.len())?;
        let (number, end) = (value.get(..cut)?, value.get(cut..)?);
        (end.eq_ignore_ascii_case(suffix) && is_number(number)).then_some((number, end))
    })
}

/// Digits with an optional fraction and exponent (`1`, `1.5`, `20E2`, `1.5e-3`).
fn is_number(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let (mantissa, exponent) = lower.split_once('e').unwrap_or((&lower, "0"));
    let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !exponent.is_empty()
        && exponent.bytes().all(|b| b.is_ascii_digit())
}

/// `<number>::<type>`: the `::` form marks the cast as a typed literal's, which Spark names
/// by the number alone (`1L` is column `1`; see `column_names`).
fn cast_tokens(number: &str, target: Vec<Token>, like: &TokenWithSpan) -> Vec<TokenWithSpan> {
    let mut tokens = vec![Token::Number(number.to_string(), false), Token::DoubleColon];
    tokens.extend(target);
    tokens.into_iter().map(|t| TokenWithSpan::new(t, like.span)).collect()
}

/// The units of Spark's multi-unit interval literals.
const INTERVAL_UNITS: [&str; 9] = ["YEAR", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND", "MILLISECOND", "MICROSECOND"];

fn is_interval_unit(word: &Word) -> bool {
    let upper = word.value.to_ascii_uppercase();
    let singular = upper.strip_suffix('S').unwrap_or(&upper);
    word.quote_style.is_none() && INTERVAL_UNITS.contains(&singular)
}

/// Spark's `INTERVAL 10 YEAR 20 MONTH` / `INTERVAL 1 DAY 2 HOURS 3.5 SECONDS` (several
/// value-unit pairs, each value a number, optionally negative) becomes the one interval string
/// `INTERVAL '10 YEAR 20 MONTH'`, which DataFusion reads with all its units. One pair
/// (`INTERVAL 3 DAYS`) is left to the parser.
fn multi_unit_intervals(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant = |i: usize| !matches!(tokens[i].token, Token::Whitespace(_));
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let is_interval = matches!(&tokens[i].token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("INTERVAL"));
        if !is_interval {
            out.push(tokens[i].clone());
            i += 1;
            continue;
        }
        // Collect `[-] number unit` pairs after the keyword.
        let mut parts: Vec<String> = Vec::new();
        let mut j = i + 1;
        let mut end = j;
        loop {
            let mut k = j;
            while k < tokens.len() && !significant(k) {
                k += 1;
            }
            let negative = k < tokens.len() && tokens[k].token == Token::Minus;
            if negative {
                k += 1;
            }
            let Some(Token::Number(number, false)) = tokens.get(k).map(|t| &t.token) else { break };
            let mut u = k + 1;
            while u < tokens.len() && !significant(u) {
                u += 1;
            }
            let Some(Token::Word(unit)) = tokens.get(u).map(|t| &t.token) else { break };
            if !is_interval_unit(unit) {
                break;
            }
            parts.push(format!("{}{number} {}", if negative { "-" } else { "" }, unit.value.to_ascii_lowercase()));
            j = u + 1;
            end = j;
        }
        if parts.len() < 2 {
            out.push(tokens[i].clone());
            i += 1;
            continue;
        }
        out.push(tokens[i].clone());
        out.push(TokenWithSpan::new(Token::Whitespace(sqlparser::tokenizer::Whitespace::Space), tokens[i].span));
        out.push(TokenWithSpan::new(Token::SingleQuotedString(parts.join(" ")), tokens[i].span));
        i = end;
    }
    out
}

/// Rewrites typed literals in a token stream (whitespace tokens included).
pub fn rewrite(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let tokens = multi_unit_intervals(tokens);
    let mut out = Vec::with_capacity(tokens.len());
    let mut iter = tokens.into_iter().peekable();
    while let Some(token) = iter.next() {
        match &token.token {
            Token::Number(number, false) => {
                if let Some(TokenWithSpan { token: Token::Word(w), .. }) = iter.peek()
                    && w.quote_style.is_none()
                    && let Some(target) = suffix_type(number, &w.value)
                {
                    let number = number.clone();
                    iter.next();
                    out.extend(cast_tokens(&number, target, &token));
                    continue;
                }
                if number.contains(['e', 'E']) {
                    // Through text: the exponent may be beyond any DECIMAL. The `::` form marks
                    // it as a literal, as `cast_tokens` does.
                    let tokens = [Token::SingleQuotedString(number.clone()), Token::DoubleColon, Token::make_word("DOUBLE", None)];
                    out.extend(tokens.into_iter().map(|t| TokenWithSpan::new(t, token.span)));
                    continue;
                }
                out.push(token);
            }
            // `TIMESTAMP_NTZ '..'` / `TIMESTAMP_LTZ '..'`: typed literals, a cast of the text.
            Token::Word(w)
                if w.quote_style.is_none()
                    && (w.value.eq_ignore_ascii_case("TIMESTAMP_NTZ") || w.value.eq_ignore_ascii_case("TIMESTAMP_LTZ"))
                    && matches!(iter.peek().map(|t| &t.token), Some(Token::SingleQuotedString(_) | Token::DoubleQuotedString(_))) =>
            {
                let kind = w.value.to_ascii_uppercase();
                let text = match iter.next().map(|t| t.token) {
                    Some(Token::SingleQuotedString(s) | Token::DoubleQuotedString(s)) => Token::SingleQuotedString(s),
                    _ => continue,
                };
                // `'..'::TIMESTAMP_NTZ`: the `::` form marks it as a literal (see `cast_tokens`).
                let tokens = [text, Token::DoubleColon, Token::make_word(&kind, None)];
                out.extend(tokens.into_iter().map(|t| TokenWithSpan::new(t, token.span)));
            }
            Token::Word(w) => match split_word(w).and_then(|(n, s)| Some((n, suffix_type(n, s)?))) {
                Some((number, target)) => {
                    let number = number.to_string();
                    out.extend(cast_tokens(&number, target, &token));
                }
                None => out.push(token),
            },
            _ => out.push(token),
        }
    }
    out
}

/// The start of the one word `STRING COLLATE c` becomes after a cast's `AS` (or `::`): a
/// custom type that prints as written (so a view's stored text reads, and parses, the same),
/// which `spark_syntax` turns into `collate(CAST(x AS STRING), 'c')`.
const STRING_COLLATE_TYPE: &str = "STRING COLLATE ";

/// The collation of a custom type made by [`collated_string_types`].
pub(crate) fn string_collate_type(name: &sqlparser::ast::ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [sqlparser::ast::ObjectNamePart::Identifier(word)] if word.quote_style.is_none() => {
            word.value.strip_prefix(STRING_COLLATE_TYPE).map(str::to_string)
        }
        _ => None,
    }
}

/// `TRIM(BOTH FROM s)` / `LEADING` / `TRAILING` with no characters named: Spark trims spaces,
/// which is `TRIM(BOTH ' ' FROM s)` (sqlparser needs the characters).
pub(crate) fn trim_without_characters(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let is_word = |t: &Token, w: &str| matches!(t, Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w));
    let significant: Vec<usize> = (0..tokens.len()).filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_))).collect();
    let mut insert_before = vec![false; tokens.len()];
    for window in significant.windows(4) {
        let [trim, open, side, from] = [window[0], window[1], window[2], window[3]];
        if is_word(&tokens[trim].token, "TRIM")
            && tokens[open].token == Token::LParen
            && ["BOTH", "LEADING", "TRAILING"].iter().any(|w| is_word(&tokens[side].token, w))
            && is_word(&tokens[from].token, "FROM")
        {
            insert_before[from] = true;
        }
    }
    if !insert_before.contains(&true) {
        return tokens;
    }
    let mut out = Vec::with_capacity(tokens.len() + 8);
    for (token, insert) in tokens.into_iter().zip(insert_before) {
        if insert {
            out.push(TokenWithSpan::new(Token::SingleQuotedString(" ".into()), token.span));
            out.push(TokenWithSpan::new(Token::Whitespace(sqlparser::tokenizer::Whitespace::Space), token.span));
        }
        out.push(token);
    }
    out
}

/// `CAST(x AS STRING COLLATE c)` / `x::STRING COLLATE c`: sqlparser has no collation in a
/// type, so the three words become one custom type (one pass over the tokens; a column
/// definition's `STRING COLLATE c`, not after `AS` or `::`, is the DDL parser's).
pub(crate) fn collated_string_types(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let is_word = |t: &TokenWithSpan, w: &str| matches!(&t.token, Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w));
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let after_cast = out
            .iter()
            .rev()
            .find(|t| !matches!(t.token, Token::Whitespace(_)))
            .is_some_and(|t| is_word(t, "AS") || t.token == Token::DoubleColon);
        // The next three tokens that are not whitespace.
        let mut next = tokens[i..].iter().enumerate().filter(|(_, t)| !matches!(t.token, Token::Whitespace(_))).take(3);
        if after_cast
            && is_word(&tokens[i], "STRING")
            && let (Some(_), Some((_, collate)), Some((last, name))) = (next.next(), next.next(), next.next())
            && is_word(collate, "COLLATE")
            && let Token::Word(name) = &name.token
        {
            let span = tokens[i].span;
            let with = |token: Token| TokenWithSpan { token, span };
            out.push(with(Token::make_word(&format!("{STRING_COLLATE_TYPE}{}", name.value), None)));
            i += last + 1;
            continue;
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    out
}

/// Spark's string literals, from the raw text the tokenizer kept (`with_unescape(false)`):
/// `\uXXXX` (a UTF-16 unit; a surrogate pair is one character), `\NNN` (three octal digits),
/// `\0 \b \n \r \t \Z`, `\%` and `\_` kept with their backslash (for LIKE), any other `\c` is
/// `c`, and a doubled quote is one (sqlparser's reading, which Spark lacks). sqlparser's own
/// unescaping read `'\u20AC'` as `u20AC` and `'\101'` as `101`: different strings, silently.
/// Quoted identifiers get their doubled quotes back to one as the tokenizer would have.
pub(crate) fn spark_strings(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    tokens
        .into_iter()
        .map(|mut t| {
            t.token = match t.token {
                Token::SingleQuotedString(s) => Token::SingleQuotedString(unescape(&s, '\'')),
                Token::DoubleQuotedString(s) => Token::DoubleQuotedString(unescape(&s, '"')),
                Token::Word(mut w) => {
                    if let Some(q) = w.quote_style {
                        let doubled: String = [q, q].iter().collect();
                        if w.value.contains(&doubled) {
                            w.value = w.value.replace(&doubled, &q.to_string());
                        }
                    }
                    Token::Word(w)
                }
                other => other,
            };
            t
        })
        .collect()
}

fn unescape(raw: &str, quote: char) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::with_capacity(raw.len());
    // UTF-16 units from `\u` escapes, decoded together so a surrogate pair is one character.
    let mut units: Vec<u16> = Vec::new();
    let flush = |units: &mut Vec<u16>, out: &mut String| {
        out.extend(char::decode_utf16(units.drain(..)).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)));
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let next = chars[i + 1];
            let hex: String = chars.iter().skip(i + 2).take(4).collect();
            if next == 'u' && hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit()) {
                units.push(u16::from_str_radix(&hex, 16).unwrap_or(0xFFFD));
                i += 6;
                continue;
            }
            flush(&mut units, &mut out);
            let octal: String = chars.iter().skip(i + 1).take(3).collect();
            if octal.len() == 3 && ('0'..='3').contains(&next) && octal.chars().all(|o| ('0'..='7').contains(&o)) {
                out.push(char::from(u8::from_str_radix(&octal, 8).unwrap_or(0)));
                i += 4;
                continue;
            }
            match next {
                '0' => out.push('\0'),
                'b' => out.push('\u{8}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'Z' => out.push('\u{1a}'),
                '%' | '_' => {
                    out.push('\\');
                    out.push(next);
                }
                other => out.push(other),
            }
            i += 2;
            continue;
        }
        flush(&mut units, &mut out);
        if c == quote && chars.get(i + 1) == Some(&quote) {
            out.push(quote);
            i += 2;
            continue;
        }
        out.push(c);
        i += 1;
    }
    flush(&mut units, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn spark_escapes() {
        assert_eq!(unescape(r"\u20AC", '\''), "€");
        assert_eq!(unescape(r"\uD83D\uDE00", '\''), "😀");
        assert_eq!(unescape(r"\101\t", '\''), "A\t");
        assert_eq!(unescape(r"it\'s it''s", '\''), "it's it's");
        assert_eq!(unescape(r"\%\_\\\q", '\''), r"\%\_\q");
        assert_eq!(unescape(r"\u12", '\''), "u12");
    }

    use super::*;

    #[test]
    fn decimal_literals_have_java_bigdecimal_shape() {
        assert_eq!(decimal_shape("100.00"), Some((5, 2)));
        assert_eq!(decimal_shape("20E2"), Some((4, 0)));
        assert_eq!(decimal_shape("0.001"), Some((3, 3)));
        assert_eq!(decimal_shape("1"), Some((1, 0)));
        assert_eq!(decimal_shape("1.5e-3"), Some((4, 4)));
    }
}
