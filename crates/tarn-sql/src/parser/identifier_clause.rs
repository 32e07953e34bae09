//! Spark's `IDENTIFIER('name')` clause: a name given as a constant string — `IDENTIFIER('s.' ||
//! 't')` wherever a table, column, function, schema or view name may stand. Resolved on the
//! token stream before parsing, so every later pass (name resolution, authorization) sees an
//! ordinary name and nothing of the string can become SQL: each part becomes one identifier
//! token whatever its text (`IDENTIFIER('x; DROP TABLE t')` names the object "x; DROP TABLE t").

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan, Word};

use crate::error::{Result, SqlError};

fn is_identifier_keyword(token: &Token) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("IDENTIFIER"))
}

fn is_space(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_))
}

/// Replaces every `IDENTIFIER ( 'a' [|| 'b' ...] )` with the name the text spells.
pub(super) fn resolve(tokens: Vec<TokenWithSpan>) -> Result<Vec<TokenWithSpan>> {
    if !tokens.iter().any(|t| is_identifier_keyword(&t.token)) {
        return Ok(tokens);
    }
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        let open = is_identifier_keyword(&token.token).then(|| (i + 1..tokens.len()).find(|&j| !is_space(&tokens[j].token))).flatten();
        match open {
            Some(open) if tokens[open].token == Token::LParen => {
                let (text, close) = constant_text(&tokens, open + 1)?;
                for (n, part) in split_name(&text)?.into_iter().enumerate() {
                    if n > 0 {
                        out.push(TokenWithSpan::new(Token::Period, token.span));
                    }
                    out.push(TokenWithSpan::new(Token::Word(identifier_word(part)), token.span));
                }
                i = close + 1;
            }
            _ => {
                out.push(token.clone());
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The text of `'a' [|| 'b' ...] )` from `start`, and where its `)` is.
fn constant_text(tokens: &[TokenWithSpan], start: usize) -> Result<(String, usize)> {
    let not_constant = || {
        SqlError::Parse(
            "[NOT_A_CONSTANT_STRING] IDENTIFIER takes a constant string: a literal, or literals joined with ||, e.g. IDENTIFIER('s.' || 't')"
                .into(),
        )
    };
    let mut text = String::new();
    let mut expect_string = true;
    for (at, token) in tokens.iter().enumerate().skip(start) {
        match &token.token {
            Token::Whitespace(_) => {}
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) if expect_string => {
                text.push_str(s);
                expect_string = false;
            }
            Token::StringConcat if !expect_string => expect_string = true,
            Token::RParen if !expect_string => return Ok((text, at)),
            _ => return Err(not_constant()),
        }
    }
    Err(not_constant())
}

/// A multi-part name as Spark reads one: parts separated by `.`, each plain or in backquotes
/// (a doubled backquote inside stands for one).
fn split_name(text: &str) -> Result<Vec<String>> {
    let invalid = || {
        SqlError::Parse(format!("[INVALID_IDENTIFIER] '{text}' is not a name; quote a part with backquotes, e.g. IDENTIFIER('`my table`')"))
    };
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut part = String::new();
        if chars.next_if_eq(&'`').is_some() {
            loop {
                match chars.next() {
                    Some('`') if chars.next_if_eq(&'`').is_some() => part.push('`'),
                    Some('`') => break,
                    Some(c) => part.push(c),
                    None => return Err(invalid()),
                }
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
        } else {
            while let Some(c) = chars.next_if(|c| *c != '.') {
                part.push(c);
            }
            let plain = part.trim_end();
            if plain.is_empty() || plain.chars().any(|c| !(c.is_alphanumeric() || c == '_')) {
                return Err(invalid());
            }
            part = plain.to_string();
        }
        parts.push(part);
        match chars.next() {
            None => return Ok(parts),
            Some('.') => {}
            Some(_) => return Err(invalid()),
        }
    }
}

/// One name part as a token that is never a keyword: plain names as written (so they fold case
/// as any unquoted name), others in backquotes.
fn identifier_word(part: String) -> Word {
    let plain = !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_');
    Word { value: part, quote_style: if plain { None } else { Some('`') }, keyword: Keyword::NoKeyword }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_on_dots_outside_backquotes() {
        assert_eq!(split_name("s.t").unwrap(), vec!["s", "t"]);
        assert_eq!(split_name("`s`.`a.b`").unwrap(), vec!["s", "a.b"]);
        assert_eq!(split_name("`c 1`").unwrap(), vec!["c 1"]);
        assert_eq!(split_name("``").unwrap(), vec![""]);
        assert_eq!(split_name("`a``b`").unwrap(), vec!["a`b"]);
        assert!(split_name("a b").is_err());
        assert!(split_name("").is_err());
        assert!(split_name("s.").is_err());
        assert!(split_name("x; DROP TABLE t").is_err());
        assert!(split_name("`open").is_err());
    }
}
