//! Bounds on how deeply a statement can nest, checked on its tokens before it is parsed.
//!
//! `sqlparser` bounds its recursive descent (parentheses, subqueries, unary operators) but
//! builds chains of infix operators — `1+1+...+1`, `a OR b OR ...`, `x::int::int`, `UNION`
//! after `UNION` — in a loop, as a tree as deep as the chain is long. Everything after the
//! parser (visitors, planning, optimizing, even dropping the tree) walks that tree
//! recursively, and a few thousand levels overflow a thread's stack, which aborts the whole
//! process. So the depth a statement can reach is bounded from its tokens, before any tree
//! exists: within one parenthesised group, every infix operator since the last comma can add a
//! level, and the groups that are open add up. Like DuckDB's `max_expression_depth`, a
//! statement past the bound is refused with an error that says how to write it instead.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::Token;

use crate::error::{Result, SqlError};

/// The deepest expression or set-operation nesting a statement may reach.
pub const MAX_DEPTH: usize = 1000;

/// Whether `token` can join two operands into one deeper node.
fn is_infix(token: &Token) -> bool {
    match token {
        Token::Word(w) => matches!(
            w.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::XOR
                | Keyword::IS
                | Keyword::IN
                | Keyword::NOT
                | Keyword::LIKE
                | Keyword::ILIKE
                | Keyword::RLIKE
                | Keyword::REGEXP
                | Keyword::SIMILAR
                | Keyword::BETWEEN
                | Keyword::DIV
                | Keyword::COLLATE
                | Keyword::AT
                | Keyword::UNION
                | Keyword::EXCEPT
                | Keyword::INTERSECT
                | Keyword::MINUS
                | Keyword::JOIN
        ),
        Token::Whitespace(_)
        | Token::Number(..)
        | Token::Char(_)
        | Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::NationalStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::HexStringLiteral(_)
        | Token::Comma
        | Token::LParen
        | Token::RParen
        | Token::LBracket
        | Token::RBracket
        | Token::LBrace
        | Token::RBrace
        | Token::Period
        | Token::SemiColon
        | Token::Colon
        | Token::Placeholder(_)
        | Token::EOF => false,
        // Every other symbol is an operator: arithmetic, comparison, `::`, `||`, JSON arrows...
        _ => true,
    }
}

/// Refuse a statement whose tokens allow a tree deeper than [`MAX_DEPTH`].
pub(crate) fn check_depth(tokens: &[Token]) -> Result<()> {
    // Operators since the last comma, per open parenthesis/bracket group; their sum bounds
    // the depth of the expression being parsed at this point.
    let mut groups: Vec<usize> = vec![0];
    let mut depth = 0usize;
    for token in tokens {
        match token {
            Token::LParen | Token::LBracket | Token::LBrace => {
                groups.push(0);
                depth += 1;
            }
            // An unbalanced closer is the parser's error to report, not a level.
            Token::RParen | Token::RBracket | Token::RBrace if groups.len() > 1 => {
                depth -= groups.pop().unwrap_or(0) + 1;
            }
            Token::Comma => {
                if let Some(last) = groups.last_mut() {
                    depth -= *last;
                    *last = 0;
                }
            }
            Token::SemiColon => {
                groups = vec![0];
                depth = 0;
            }
            other if is_infix(other) => {
                if let Some(last) = groups.last_mut() {
                    *last += 1;
                    depth += 1;
                }
            }
            _ => {}
        }
        if depth > MAX_DEPTH {
            return Err(SqlError::user(format!(
                "the statement nests too deeply: more than {MAX_DEPTH} operators or levels in one expression \
                 (a chain like a OR b OR ... or 1 + 1 + ...); use IN (...), a VALUES list or a join instead"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(sql: &str) -> Result<()> {
        let tokens = sqlparser::tokenizer::Tokenizer::new(&sqlparser::dialect::GenericDialect {}, sql).tokenize().expect("tokenizes");
        check_depth(&tokens)
    }

    #[test]
    fn long_operator_chains_are_refused() {
        let sum = vec!["1"; 2000].join("+");
        assert!(check(&format!("SELECT {sum}")).is_err());
        let ors = (0..2000).map(|i| format!("a = {i}")).collect::<Vec<_>>().join(" OR ");
        assert!(check(&format!("SELECT * FROM t WHERE {ors}")).is_err());
        let unions = vec!["SELECT 1"; 1200].join(" UNION ALL ");
        assert!(check(&unions).is_err());
        let nested = format!("SELECT {}1{}", "(1+".repeat(600), ")".repeat(600));
        assert!(check(&nested).is_err());
    }

    #[test]
    fn wide_statements_are_fine() {
        let values = (0..20_000).map(|i| format!("({i}, 'x' || {i})")).collect::<Vec<_>>().join(", ");
        assert!(check(&format!("INSERT INTO t VALUES {values}")).is_ok());
        let columns = (0..5000).map(|i| format!("c{i} + 1")).collect::<Vec<_>>().join(", ");
        assert!(check(&format!("SELECT {columns} FROM t")).is_ok());
        let sum = vec!["1"; 900].join("+");
        assert!(check(&format!("SELECT {sum}")).is_ok());
        // Separate statements do not add up.
        let script = vec!["SELECT 1 + 1 + 1"; 2000].join(";\n");
        assert!(check(&script).is_ok());
    }
}
