//! Word-level helpers: match unquoted words by text, so Tarn's keywords need not be
//! `sqlparser` keywords.

use sqlparser::ast::{Ident, ObjectName};
use sqlparser::tokenizer::Token;

use super::TarnParser;
use crate::error::{Result, SqlError};

impl TarnParser<'_> {
    /// The upper-cased text of the `n`th next token if it is an unquoted word.
    pub(crate) fn peek_word_at(&self, n: usize) -> Option<String> {
        match self.p.peek_nth_token(n).token {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        }
    }

    pub(crate) fn peek_word(&self, word: &str) -> bool {
        self.peek_word_at(0).as_deref() == Some(word)
    }

    /// Consume `word` if it is next.
    pub(crate) fn word(&mut self, word: &str) -> bool {
        if self.peek_word(word) {
            self.p.next_token();
            true
        } else {
            false
        }
    }

    /// Consume all of `words` if they are next, else nothing.
    pub(crate) fn words(&mut self, words: &[&str]) -> bool {
        let all = words.iter().enumerate().all(|(i, w)| self.peek_word_at(i).as_deref() == Some(*w));
        if all {
            for _ in words {
                self.p.next_token();
            }
        }
        all
    }

    pub(crate) fn expect_word(&mut self, word: &str) -> Result<()> {
        if self.word(word) { Ok(()) } else { Err(self.unexpected(word)) }
    }

    pub(crate) fn expect_token(&mut self, token: &Token) -> Result<()> {
        self.p.expect_token(token).map(|_| ()).map_err(SqlError::from_parser)
    }

    pub(crate) fn unexpected(&self, expected: &str) -> SqlError {
        let found = self.p.peek_token();
        let shown = if found.token == Token::EOF { "end of input".to_string() } else { format!("'{}'", found.token) };
        SqlError::Parse(format!("expected {expected}, found {shown} at {}", super::place(found.span.start)))
    }

    pub(crate) fn object_name(&mut self) -> Result<ObjectName> {
        self.p.parse_object_name(false).map_err(SqlError::from_parser)
    }

    pub(crate) fn ident(&mut self) -> Result<Ident> {
        self.p.parse_identifier().map_err(SqlError::from_parser)
    }

    pub(crate) fn string(&mut self) -> Result<String> {
        self.p.parse_literal_string().map_err(SqlError::from_parser)
    }

    pub(crate) fn if_not_exists(&mut self) -> bool {
        self.words(&["IF", "NOT", "EXISTS"])
    }

    pub(crate) fn if_exists(&mut self) -> bool {
        self.words(&["IF", "EXISTS"])
    }

    /// An optional `[AS] alias`, where a bare alias must not be one of `stop` words.
    pub(crate) fn optional_alias(&mut self, stop: &[&str]) -> Result<Option<Ident>> {
        if self.word("AS") {
            return Ok(Some(self.ident()?));
        }
        match self.p.peek_token().token {
            Token::Word(w) => {
                let upper = w.value.to_ascii_uppercase();
                if w.quote_style.is_none() && stop.contains(&upper.as_str()) { Ok(None) } else { Ok(Some(self.ident()?)) }
            }
            _ => Ok(None),
        }
    }

    /// `LIKE 'pattern'` or a bare `'pattern'`.
    pub(crate) fn optional_like(&mut self) -> Result<Option<String>> {
        self.word("LIKE");
        match self.p.peek_token().token {
            Token::SingleQuotedString(_) => Ok(Some(self.string()?)),
            _ => Ok(None),
        }
    }

    /// `(key = value, ...)` as in TBLPROPERTIES, FORMAT_OPTIONS and COPY_OPTIONS.
    pub(crate) fn key_values(&mut self) -> Result<Vec<(String, String)>> {
        self.expect_token(&Token::LParen)?;
        let mut out = Vec::new();
        if self.p.consume_token(&Token::RParen) {
            return Ok(out);
        }
        loop {
            let key = self.property_key()?;
            let _ = self.p.consume_token(&Token::Eq);
            let value = self.property_value()?;
            out.push((key, value));
            if !self.p.consume_token(&Token::Comma) {
                break;
            }
        }
        self.expect_token(&Token::RParen)?;
        Ok(out)
    }

    /// `(key, ...)` as in UNSET TBLPROPERTIES.
    pub(crate) fn keys(&mut self) -> Result<Vec<String>> {
        self.expect_token(&Token::LParen)?;
        let mut out = vec![self.property_key()?];
        while self.p.consume_token(&Token::Comma) {
            out.push(self.property_key()?);
        }
        self.expect_token(&Token::RParen)?;
        Ok(out)
    }

    fn property_key(&mut self) -> Result<String> {
        if let Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) = self.p.peek_token().token {
            self.p.next_token();
            return Ok(s);
        }
        let mut key = self.ident()?.value;
        while self.p.consume_token(&Token::Period) {
            key.push('.');
            key.push_str(&self.ident()?.value);
        }
        Ok(key)
    }

    fn property_value(&mut self) -> Result<String> {
        let token = self.p.next_token();
        match token.token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Ok(s),
            Token::Number(n, _) => Ok(n),
            Token::Word(w) => Ok(w.value),
            Token::Minus => match self.p.next_token().token {
                Token::Number(n, _) => Ok(format!("-{n}")),
                other => Err(SqlError::Parse(format!("expected a number after '-', found '{other}'"))),
            },
            other => Err(SqlError::Parse(format!("expected a property value, found '{other}' at {}", super::place(token.span.start)))),
        }
    }
}
