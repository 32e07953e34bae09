//! Token rewrites that give Spark's query syntax to sqlparser before it parses: `TABLE t` as a
//! query, and pipe set operators whose operand is not parenthesized. As token rewrites, every
//! later pass — name resolution and authorization included — sees an ordinary query.

use std::collections::{HashMap, HashSet};

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Span, Token, TokenWithSpan, Whitespace};

/// `TABLE t` where a query starts (a statement's start, after a `(` that opens a query,
/// `UNION`, `EXCEPT`, `INTERSECT` and their `ALL` / `DISTINCT`) is `SELECT * FROM t`, in Spark and Postgres alike
/// (pipe syntax starts from it: `TABLE t |> WHERE ..`). sqlparser reads it only inside a query,
/// as a name without quotes or catalog, which DataFusion does not plan; as `SELECT * FROM` the
/// name is an ordinary table reference, resolved and authorized as every other.
pub(super) fn table_queries(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    for token in tokens {
        let is_table = matches!(&token.token, Token::Word(w) if w.keyword == Keyword::TABLE && w.quote_style.is_none());
        if is_table {
            let mut before = out.iter().rev().filter(|t| !matches!(t.token, Token::Whitespace(_))).map(|t| &t.token);
            let set_operator = |t: Option<&Token>| matches!(t, Some(Token::Word(w)) if matches!(w.keyword, Keyword::UNION | Keyword::EXCEPT | Keyword::INTERSECT | Keyword::MINUS));
            // After these a `(` opens a query, not a column list or a function's arguments.
            let opens_query = |t: Option<&Token>| {
                set_operator(t)
                    || matches!(t, None | Some(Token::LParen | Token::Comma))
                    || matches!(t, Some(Token::Word(w)) if matches!(w.keyword, Keyword::FROM | Keyword::JOIN | Keyword::IN | Keyword::EXISTS | Keyword::AS | Keyword::ALL | Keyword::DISTINCT))
            };
            let starts_query = match before.next() {
                None | Some(Token::SemiColon) => true,
                Some(Token::LParen) => opens_query(before.next()),
                Some(Token::Word(w)) if matches!(w.keyword, Keyword::ALL | Keyword::DISTINCT) => set_operator(before.next()),
                // Not after a bare `AS`: `SELECT 1 AS table` names a column.
                previous => set_operator(previous),
            };
            if starts_query {
                let span = token.span;
                let with_span = |token: Token| TokenWithSpan { token, span };
                out.push(with_span(Token::make_keyword("SELECT")));
                out.push(with_span(Token::Whitespace(Whitespace::Space)));
                out.push(with_span(Token::Mul));
                out.push(with_span(Token::Whitespace(Whitespace::Space)));
                out.push(with_span(Token::make_keyword("FROM")));
                continue;
            }
        }
        out.push(token);
    }
    out
}

/// Spark's pipe set operators as sqlparser reads them: `|> UNION ALL TABLE t` (a query term
/// without parentheses) gets them, up to the next `|>` at its depth, and `|> EXCEPT` /
/// `INTERSECT` / `MINUS` without a quantifier are `DISTINCT`, Spark's default (`MINUS` is
/// `EXCEPT`).
pub(super) fn pipe_set_operators(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let keyword = |t: &TokenWithSpan| match &t.token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    };
    let significant: Vec<usize> = (0..tokens.len()).filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_))).collect();
    // Where to insert `(` and `)` (before the token at an index, `usize::MAX` for after the
    // last, with how many there), after which operators `DISTINCT` goes, which are `MINUS`.
    // Maps and sets: a statement of many pipe operators stays linear to rewrite.
    let mut open_at: HashMap<usize, usize> = HashMap::new();
    let mut close_at: HashMap<usize, usize> = HashMap::new();
    let mut distinct_after = HashSet::new();
    let mut minus = HashSet::new();
    for (k, &i) in significant.iter().enumerate() {
        if tokens[i].token != Token::VerticalBarRightAngleBracket {
            continue;
        }
        let Some(&op) = significant.get(k + 1) else { continue };
        let Some(op_keyword @ (Keyword::UNION | Keyword::EXCEPT | Keyword::INTERSECT | Keyword::MINUS)) = keyword(&tokens[op]) else {
            continue;
        };
        if op_keyword == Keyword::MINUS {
            minus.insert(op);
        }
        let mut term = k + 2;
        match significant.get(term).and_then(|&t| keyword(&tokens[t])) {
            Some(Keyword::ALL | Keyword::DISTINCT) => term += 1,
            _ => {
                distinct_after.insert(op);
            }
        }
        let Some(&first) = significant.get(term) else { continue };
        if tokens[first].token == Token::LParen {
            continue;
        }
        // The term runs to the next `|>`, `;` or unmatched `)` at its own depth.
        let mut depth = 0i32;
        let mut end = significant.len();
        for (j, &t) in significant.iter().enumerate().skip(term) {
            match tokens[t].token {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => {
                    end = j;
                    break;
                }
                Token::RParen => depth -= 1,
                Token::VerticalBarRightAngleBracket | Token::SemiColon | Token::EOF if depth == 0 => {
                    end = j;
                    break;
                }
                _ => {}
            }
        }
        *open_at.entry(first).or_default() += 1;
        *close_at.entry(significant.get(end).copied().unwrap_or(usize::MAX)).or_default() += 1;
    }
    if open_at.is_empty() && distinct_after.is_empty() && minus.is_empty() {
        return tokens;
    }
    let last_span = tokens.last().map(|t| t.span).unwrap_or(Span::empty());
    let parens = |at: &HashMap<usize, usize>, i: usize, token: Token, span: Span| {
        std::iter::repeat_n(TokenWithSpan { token, span }, at.get(&i).copied().unwrap_or(0))
    };
    let mut out = Vec::with_capacity(tokens.len() + 2 * open_at.len() + distinct_after.len());
    for (i, token) in tokens.into_iter().enumerate() {
        let span = token.span;
        out.extend(parens(&close_at, i, Token::RParen, span));
        out.extend(parens(&open_at, i, Token::LParen, span));
        out.push(if minus.contains(&i) { TokenWithSpan { token: Token::make_keyword("EXCEPT"), span } } else { token });
        if distinct_after.contains(&i) {
            out.push(TokenWithSpan { token: Token::Whitespace(Whitespace::Space), span });
            out.push(TokenWithSpan { token: Token::make_keyword("DISTINCT"), span });
        }
    }
    out.extend(parens(&close_at, usize::MAX, Token::RParen, last_span));
    out
}
