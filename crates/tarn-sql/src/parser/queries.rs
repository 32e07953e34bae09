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
        if is_table && starts_query(&out) {
            push_select_star_from(&mut out, token.span);
            continue;
        }
        out.push(token);
    }
    out
}

/// `SELECT * FROM ` before a relation that starts a query (`TABLE t`, `VALUES .. t(c)`).
fn push_select_star_from(out: &mut Vec<TokenWithSpan>, span: Span) {
    let words = [Token::make_keyword("SELECT"), Token::Mul, Token::make_keyword("FROM")];
    for word in words {
        out.push(TokenWithSpan { token: word, span });
        out.push(TokenWithSpan { token: Token::Whitespace(Whitespace::Space), span });
    }
}

/// Whether a query starts after `before` (the tokens so far): at a statement's start, after a
/// `(` that opens a query, or after a set operator (and its `ALL` / `DISTINCT`).
fn starts_query(before: &[TokenWithSpan]) -> bool {
    let mut before = before.iter().rev().filter(|t| !matches!(t.token, Token::Whitespace(_))).map(|t| &t.token);
    let set_operator = |t: Option<&Token>| matches!(t, Some(Token::Word(w)) if matches!(w.keyword, Keyword::UNION | Keyword::EXCEPT | Keyword::INTERSECT | Keyword::MINUS));
    // After these a `(` opens a query, not a column list or a function's arguments.
    let opens_query = |t: Option<&Token>| {
        set_operator(t)
            || matches!(t, None | Some(Token::LParen | Token::Comma))
            || matches!(t, Some(Token::Word(w)) if matches!(w.keyword, Keyword::FROM | Keyword::JOIN | Keyword::IN | Keyword::EXISTS | Keyword::AS | Keyword::ALL | Keyword::DISTINCT))
    };
    let describe = |t: Option<&Token>| matches!(t, Some(Token::Word(w)) if matches!(w.keyword, Keyword::DESC | Keyword::DESCRIBE));
    let statement_start = |t: Option<&Token>| matches!(t, None | Some(Token::SemiColon));
    match before.next() {
        None | Some(Token::SemiColon) => true,
        // `DESCRIBE QUERY <query>` at a statement's start (`DESCRIBE TABLE t` is no query).
        Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("QUERY") => {
            describe(before.next()) && statement_start(before.next())
        }
        Some(Token::LParen) => opens_query(before.next()),
        Some(Token::Word(w)) if matches!(w.keyword, Keyword::ALL | Keyword::DISTINCT) => set_operator(before.next()),
        // Not after a bare `AS`: `SELECT 1 AS table` names a column.
        previous => set_operator(previous),
    }
}

/// Spark's file reads in FROM: ``parquet.`/path` `` is `read_files('/path', format => 'parquet')`,
/// ``csv.`/path` `` reads CSV as Spark does (no header, `_c0`.. as STRING) and ``json.`/path` ``
/// JSON as Spark does (columns and struct fields sorted by name),
/// so it is authorized and read as every `read_files` is (SELECT ON ANY FILE). Only right after
/// `FROM` or `JOIN`, where a name is a relation, never a column.
pub(super) fn file_relations(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant = |t: &&TokenWithSpan| !matches!(t.token, Token::Whitespace(_));
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let after_from = matches!(out.iter().rev().find(significant).map(|t| &t.token),
            Some(Token::Word(w)) if matches!(w.keyword, Keyword::FROM | Keyword::JOIN));
        let format = match &tokens[i].token {
            Token::Word(w) if w.quote_style.is_none() && after_from => {
                Some(w.value.to_ascii_lowercase()).filter(|f| matches!(f.as_str(), "parquet" | "csv" | "json"))
            }
            _ => None,
        };
        if let Some(format) = format
            && tokens.get(i + 1).map(|t| &t.token) == Some(&Token::Period)
            && let Some(Token::Word(path)) = tokens.get(i + 2).map(|t| &t.token)
            && path.quote_style == Some('`')
        {
            let span = tokens[i].span;
            let mut call = vec![Token::make_word("read_files", None), Token::LParen, Token::SingleQuotedString(path.value.clone())];
            // Spark reads ``csv.`path` `` without a header, every column a STRING, nothing rescued.
            let mut options = vec![("format", format.clone())];
            // Spark's JSON source orders what it infers by name and has no rescued column.
            match format.as_str() {
                "csv" => options.extend([("inferColumnTypes", "false".to_string()), ("rescuedDataColumn", String::new())]),
                "json" => options.extend([("columnOrder", "name".to_string()), ("rescuedDataColumn", String::new())]),
                _ => {}
            }
            for (name, value) in options {
                call.extend([Token::Comma, Token::make_word(name, None), Token::RArrow, Token::SingleQuotedString(value)]);
            }
            call.push(Token::RParen);
            out.extend(call.into_iter().map(|token| TokenWithSpan { token, span }));
            i += 3;
            continue;
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    out
}

/// Delta's time travel in a table name: `t@v3` is `t VERSION AS OF 3` and
/// `t@yyyyMMddHHmmssSSS` is `t TIMESTAMP AS OF 'yyyy-MM-dd HH:mm:ss.SSS'`. The `@` must follow
/// the name with no space; anything else after an `@` is left for the parser to judge.
pub(super) fn time_travel_suffixes(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let after_name = matches!(out.last().map(|t: &TokenWithSpan| &t.token), Some(Token::Word(_)));
        if tokens[i].token == Token::AtSign
            && after_name
            && let Some(next) = tokens.get(i + 1)
            && let Some(clause) = time_travel_clause(&next.token)
        {
            let span = tokens[i].span;
            for token in clause {
                out.push(TokenWithSpan { token: Token::Whitespace(Whitespace::Space), span });
                out.push(TokenWithSpan { token, span });
            }
            i += 2;
            continue;
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    out
}

/// The `VERSION AS OF n` / `TIMESTAMP AS OF '..'` tokens that `@<token>` stands for.
fn time_travel_clause(token: &Token) -> Option<Vec<Token>> {
    let as_of = |kind: &str, value: Token| vec![Token::make_keyword(kind), Token::make_keyword("AS"), Token::make_keyword("OF"), value];
    match token {
        Token::Word(w) if w.quote_style.is_none() => {
            let digits = w.value.strip_prefix(['v', 'V'])?;
            (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| as_of("VERSION", Token::Number(digits.to_string(), false)))
        }
        Token::Number(n, false) if n.len() == 17 && n.bytes().all(|b| b.is_ascii_digit()) => {
            let text = format!("{}-{}-{} {}:{}:{}.{}", &n[0..4], &n[4..6], &n[6..8], &n[8..10], &n[10..12], &n[12..14], &n[14..17]);
            Some(as_of("TIMESTAMP", Token::SingleQuotedString(text)))
        }
        _ => None,
    }
}

/// `VALUES (0), (1) tab(col)` (or `AS tab(col)`) where a query starts — a statement, a
/// subquery, a pipe's source — is Spark's inline table as a query: `SELECT * FROM VALUES ..
/// tab(col)`, which sqlparser reads (it takes no alias after a VALUES query).
pub(super) fn aliased_values(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    for (i, token) in tokens.iter().enumerate() {
        let is_values = matches!(&token.token, Token::Word(w) if w.keyword == Keyword::VALUES && w.quote_style.is_none());
        // VALUES right after any `(` starts a query: it is no expression.
        let after_paren = out.iter().rev().find(|t| !matches!(t.token, Token::Whitespace(_))).is_some_and(|t| t.token == Token::LParen);
        if is_values && (after_paren || starts_query(&out) || after_describe(&out)) && alias_follows_rows(&tokens[i + 1..]) {
            push_select_star_from(&mut out, token.span);
        }
        out.push(token.clone());
    }
    out
}

/// Whether the tokens so far are `DESC` / `DESCRIBE` at a statement's start (`DESC VALUES ..`).
fn after_describe(before: &[TokenWithSpan]) -> bool {
    let mut before = before.iter().rev().filter(|t| !matches!(t.token, Token::Whitespace(_))).map(|t| &t.token);
    matches!(before.next(), Some(Token::Word(w)) if matches!(w.keyword, Keyword::DESC | Keyword::DESCRIBE))
        && matches!(before.next(), None | Some(Token::SemiColon))
}

/// Whether `rest` (after `VALUES`) is rows `(..), (..)` followed by a table alias.
fn alias_follows_rows(rest: &[TokenWithSpan]) -> bool {
    let mut tokens = rest.iter().filter(|t| !matches!(t.token, Token::Whitespace(_))).map(|t| &t.token).peekable();
    loop {
        if tokens.next() != Some(&Token::LParen) {
            return false;
        }
        let mut depth = 1;
        for token in tokens.by_ref() {
            match token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                break;
            }
        }
        if tokens.peek() == Some(&&Token::Comma) {
            tokens.next();
            continue;
        }
        return match tokens.next() {
            Some(Token::Word(w)) if w.keyword == Keyword::AS => true,
            Some(Token::Word(w)) => w.keyword == Keyword::NoKeyword || w.quote_style.is_some(),
            _ => false,
        };
    }
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

/// Spark's `VALUES 1, 2` — rows of one value without parentheses, also in a derived table
/// `(VALUES 1) AS t(a)` — as sqlparser reads rows: `VALUES (1), (2)`. A row ends at a comma at
/// its depth; the list ends at a `)` or `;` closing it, a keyword that continues the query
/// (`AS`, `ORDER`, `UNION`, ...), or an alias right after a value (`VALUES 1 t(a)`).
pub(super) fn bare_values(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant: Vec<usize> = (0..tokens.len()).filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_))).collect();
    let word = |i: usize| match &tokens[i].token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    };
    let ends_list = |k: Keyword| {
        matches!(
            k,
            Keyword::AS
                | Keyword::ORDER
                | Keyword::LIMIT
                | Keyword::OFFSET
                | Keyword::UNION
                | Keyword::EXCEPT
                | Keyword::INTERSECT
                | Keyword::MINUS
                | Keyword::WHERE
                | Keyword::GROUP
                | Keyword::HAVING
                | Keyword::WINDOW
                | Keyword::JOIN
                | Keyword::INNER
                | Keyword::LEFT
                | Keyword::RIGHT
                | Keyword::FULL
                | Keyword::CROSS
                | Keyword::NATURAL
                | Keyword::ON
                | Keyword::USING
        )
    };
    let ends_value = |t: &Token| {
        matches!(t, Token::Number(..) | Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) | Token::RParen | Token::RBracket)
            || matches!(t, Token::Word(w) if matches!(w.keyword, Keyword::NULL | Keyword::TRUE | Keyword::FALSE))
    };
    // (position in `tokens`, token to insert before it)
    let mut inserts: Vec<(usize, Token)> = Vec::new();
    for (n, &i) in significant.iter().enumerate() {
        if word(i) != Some(Keyword::VALUES) {
            continue;
        }
        let Some(&first) = significant.get(n + 1) else { continue };
        if matches!(tokens[first].token, Token::LParen | Token::SemiColon | Token::EOF) || word(first) == Some(Keyword::ROW) {
            continue;
        }
        let mut depth = 0usize;
        let mut row_start = first;
        let mut previous = first;
        let mut m = n + 1;
        loop {
            let Some(&j) = significant.get(m) else {
                inserts.push((row_start, Token::LParen));
                inserts.push((previous + 1, Token::RParen));
                break;
            };
            let token = &tokens[j].token;
            let at_end = depth == 0
                && j != row_start
                && (matches!(token, Token::RParen | Token::SemiColon | Token::EOF)
                    || word(j).is_some_and(ends_list)
                    || (word(j) == Some(Keyword::NoKeyword) && ends_value(&tokens[previous].token)));
            if at_end {
                inserts.push((row_start, Token::LParen));
                inserts.push((previous + 1, Token::RParen));
                break;
            }
            match token {
                Token::LParen | Token::LBracket => depth += 1,
                Token::RParen | Token::RBracket => depth = depth.saturating_sub(1),
                Token::Comma if depth == 0 => {
                    inserts.push((row_start, Token::LParen));
                    inserts.push((previous + 1, Token::RParen));
                    if let Some(&next) = significant.get(m + 1) {
                        row_start = next;
                    }
                }
                _ => {}
            }
            previous = j;
            m += 1;
        }
    }
    if inserts.is_empty() {
        return tokens;
    }
    let mut by_position: HashMap<usize, Vec<Token>> = HashMap::new();
    for (position, token) in inserts {
        by_position.entry(position).or_default().push(token);
    }
    let mut out = Vec::with_capacity(tokens.len() + by_position.len() * 2);
    for (i, token) in tokens.into_iter().enumerate() {
        if let Some(inserted) = by_position.remove(&i) {
            // A `)` closing one row comes before the `(` opening the next at the same place.
            let mut inserted = inserted;
            inserted.sort_by_key(|t| !matches!(t, Token::RParen));
            out.extend(inserted.into_iter().map(|t| TokenWithSpan { token: t, span: token.span }));
        }
        out.push(token);
    }
    for (_, inserted) in by_position {
        out.extend(inserted.into_iter().map(|t| TokenWithSpan { token: t, span: Span::empty() }));
    }
    out
}

/// `WITH a AS (..) INSERT INTO t SELECT .. FROM a` (Spark's order) is `INSERT INTO t WITH a AS
/// (..) SELECT .. FROM a`: the common table expressions move to the query that reads them,
/// where Tarn's INSERT takes them (merged ahead of the query's own `WITH` if it has one). Only
/// a statement whose top level, after its CTEs, is an INSERT moves; anything else is left.
pub(super) fn ctes_before_insert(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant = |t: &TokenWithSpan| !matches!(t.token, Token::Whitespace(_));
    let word = |t: &TokenWithSpan, k: Keyword| matches!(&t.token, Token::Word(w) if w.keyword == k && w.quote_style.is_none());
    let mut out = Vec::with_capacity(tokens.len());
    let mut start = 0;
    while start < tokens.len() {
        // One statement: up to a top-level `;`.
        let mut depth = 0i32;
        let mut end = start;
        while end < tokens.len() {
            match tokens[end].token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                Token::SemiColon if depth == 0 => break,
                _ => {}
            }
            end += 1;
        }
        let statement = &tokens[start..end];
        match moved_ctes(statement, &significant, &word) {
            Some(rewritten) => out.extend(rewritten),
            None => out.extend_from_slice(statement),
        }
        if end < tokens.len() {
            out.push(tokens[end].clone());
        }
        start = end + 1;
    }
    out
}

fn moved_ctes(
    statement: &[TokenWithSpan],
    significant: &dyn Fn(&TokenWithSpan) -> bool,
    word: &dyn Fn(&TokenWithSpan, Keyword) -> bool,
) -> Option<Vec<TokenWithSpan>> {
    let positions: Vec<usize> = (0..statement.len()).filter(|&i| significant(&statement[i])).collect();
    let at = |n: usize| positions.get(n).map(|&i| &statement[i]);
    if !at(0).is_some_and(|t| word(t, Keyword::WITH)) {
        return None;
    }
    // The top-level INSERT after the CTE list: `name AS (..)` pairs separated by commas.
    let mut depth = 0i32;
    let mut insert = None;
    for (n, &i) in positions.iter().enumerate().skip(1) {
        match statement[i].token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ if depth == 0 && word(&statement[i], Keyword::INSERT) => {
                insert = Some(n);
                break;
            }
            // Another statement shape at the top level (a query): nothing to move.
            _ if depth == 0
                && (word(&statement[i], Keyword::SELECT) || word(&statement[i], Keyword::FROM) || word(&statement[i], Keyword::VALUES)) =>
            {
                return None;
            }
            _ => {}
        }
    }
    let insert = insert?;
    // `INSERT INTO|OVERWRITE [TABLE] name [(columns)]`, then the query.
    let mut n = insert + 1;
    if at(n).is_some_and(|t| word(t, Keyword::INTO) || word(t, Keyword::OVERWRITE)) {
        n += 1;
    }
    if at(n).is_some_and(|t| word(t, Keyword::TABLE)) {
        n += 1;
    }
    // The table's name: words joined by dots.
    if !matches!(at(n)?.token, Token::Word(_)) {
        return None;
    }
    n += 1;
    while at(n).is_some_and(|t| t.token == Token::Period) && at(n + 1).is_some_and(|t| matches!(t.token, Token::Word(_))) {
        n += 2;
    }
    let query_start = |t: &TokenWithSpan| {
        word(t, Keyword::SELECT) || word(t, Keyword::VALUES) || word(t, Keyword::WITH) || word(t, Keyword::FROM) || word(t, Keyword::TABLE)
    };
    if at(n)?.token == Token::LParen && !at(n + 1).is_some_and(query_start) {
        // A column list.
        let mut depth = 0i32;
        loop {
            match at(n)?.token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                _ => {}
            }
            n += 1;
            if depth == 0 {
                break;
            }
        }
    }
    let query = at(n)?;
    let parenthesized = query.token == Token::LParen && at(n + 1).is_some_and(query_start);
    if !query_start(query) && !parenthesized {
        return None;
    }
    let (insert_at, query_at) = (positions[insert], positions[n]);
    let mut rewritten: Vec<TokenWithSpan> = statement[insert_at..query_at].to_vec();
    // `WITH a AS (..) ` then the query; its own `WITH` becomes a comma after ours.
    rewritten.extend_from_slice(&statement[..insert_at]);
    if word(query, Keyword::WITH) {
        rewritten.push(TokenWithSpan { token: Token::Comma, span: query.span });
        rewritten.extend_from_slice(&statement[query_at + 1..]);
    } else {
        rewritten.push(TokenWithSpan { token: Token::Whitespace(Whitespace::Space), span: Span::empty() });
        rewritten.extend_from_slice(&statement[query_at..]);
    }
    Some(rewritten)
}
