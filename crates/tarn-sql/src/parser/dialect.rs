//! The dialect Tarn parses: sqlparser's Databricks dialect plus what Spark SQL writes that it
//! lacks (`MAP<key, value>` column types, interval strings with their unit inside). It reports itself as Databricks, so every
//! dialect-specific rule of sqlparser applies exactly as for Databricks.

use std::any::TypeId;

use sqlparser::ast::{BinaryOperator, Expr};
use sqlparser::dialect::{DatabricksDialect, Dialect, Precedence};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};

/// Databricks SQL as Tarn reads it.
#[derive(Debug, Default, Clone, Copy)]
pub struct TarnDialect;

const DATABRICKS: DatabricksDialect = DatabricksDialect {};

impl Dialect for TarnDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<DatabricksDialect>()
    }

    /// Spark's abbreviated `EXTRACT` fields (`y`, `qtr`, `secs`): planned by Tarn's Spark extract.
    fn allow_extract_custom(&self) -> bool {
        true
    }

    /// Spark reads backslash escapes in string literals (`'\\d'` is `\d`, `'\t'` a tab,
    /// `'It\'s'`), as with `spark.sql.parser.escapedStringLiterals` off, its default. Text Tarn
    /// prints back to SQL escapes its backslashes again (`parser::sql_text`).
    fn supports_string_literal_backslash_escape(&self) -> bool {
        true
    }

    /// `\%` and `\_` keep their backslash: they are LIKE's escaped wildcards, as in Spark.
    fn ignores_wildcard_escapes(&self) -> bool {
        true
    }

    /// Spark's `a << n` and `a >> n` (`shiftleft` / `shiftright`).
    fn supports_bitwise_shift_operators(&self) -> bool {
        true
    }

    /// Spark binds shifts tighter than `&` and looser than `+` / `-` (`1 & 2 >> 1` is
    /// `1 & (2 >> 1)`); everything else as sqlparser ranks it.
    fn get_next_precedence(&self, parser: &sqlparser::parser::Parser) -> Option<Result<u8, sqlparser::parser::ParserError>> {
        match parser.peek_token().token {
            sqlparser::tokenizer::Token::ShiftLeft | sqlparser::tokenizer::Token::ShiftRight => Some(Ok((self
                .prec_value(sqlparser::dialect::Precedence::PlusMinus)
                + self.prec_value(sqlparser::dialect::Precedence::Ampersand))
                / 2)),
            _ => None,
        }
    }

    /// Spark's `MAP<STRING, INT>` (see the Spark SQL data types reference).
    fn supports_map_literal_with_angle_brackets(&self) -> bool {
        true
    }

    // Everything else exactly as Databricks.
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        DATABRICKS.is_delimited_identifier_start(ch)
    }
    fn is_identifier_start(&self, ch: char) -> bool {
        DATABRICKS.is_identifier_start(ch)
    }
    fn is_identifier_part(&self, ch: char) -> bool {
        DATABRICKS.is_identifier_part(ch)
    }
    fn supports_numeric_prefix(&self) -> bool {
        DATABRICKS.supports_numeric_prefix()
    }
    fn supports_filter_during_aggregation(&self) -> bool {
        DATABRICKS.supports_filter_during_aggregation()
    }
    fn supports_group_by_expr(&self) -> bool {
        DATABRICKS.supports_group_by_expr()
    }
    fn supports_table_versioning(&self) -> bool {
        DATABRICKS.supports_table_versioning()
    }
    fn supports_lambda_functions(&self) -> bool {
        DATABRICKS.supports_lambda_functions()
    }
    fn supports_select_wildcard_except(&self) -> bool {
        DATABRICKS.supports_select_wildcard_except()
    }
    /// Spark 4's pipe syntax: `FROM t |> WHERE .. |> AGGREGATE .. GROUP BY ..`.
    fn supports_pipe_operator(&self) -> bool {
        true
    }
    /// `FROM t SELECT a` (Hive's order) and `FROM t` alone, which pipe syntax starts from.
    fn supports_from_first_select(&self) -> bool {
        true
    }
    /// Unlike sqlparser's Databricks dialect, `INTERVAL '68 days'` (unit inside the string, as
    /// Spark's interval strings, Postgres and DuckDB write it) parses; `INTERVAL '3' DAY` still does.
    fn require_interval_qualifier(&self) -> bool {
        false
    }
    fn supports_struct_literal(&self) -> bool {
        DATABRICKS.supports_struct_literal()
    }
    fn supports_nested_comments(&self) -> bool {
        DATABRICKS.supports_nested_comments()
    }
    fn supports_group_by_with_modifier(&self) -> bool {
        DATABRICKS.supports_group_by_with_modifier()
    }
    fn supports_values_as_table_factor(&self) -> bool {
        DATABRICKS.supports_values_as_table_factor()
    }
    fn supports_optimize_table(&self) -> bool {
        DATABRICKS.supports_optimize_table()
    }
    fn supports_bang_not_operator(&self) -> bool {
        DATABRICKS.supports_bang_not_operator()
    }
    fn supports_cte_without_as(&self) -> bool {
        DATABRICKS.supports_cte_without_as()
    }
    fn supports_select_item_multi_column_alias(&self) -> bool {
        DATABRICKS.supports_select_item_multi_column_alias()
    }
    /// Spark's `FROM t TABLESAMPLE (10 PERCENT) s`.
    fn supports_table_sample_before_alias(&self) -> bool {
        true
    }
    /// Spark's `CAST(x AS LONG)`.
    fn supports_long_type_as_bigint(&self) -> bool {
        true
    }
    /// Spark's `a DIV b` (integral division), binding as tightly as `*` and `/`.
    /// `TRIM(a, b)` reads (Spark's `TRIM(trimStr, str)`, put in Spark's order by `spark_syntax`).
    fn supports_comma_separated_trim(&self) -> bool {
        true
    }

    fn parse_infix(&self, parser: &mut Parser, expr: &Expr, _precedence: u8) -> Option<Result<Expr, ParserError>> {
        if !parser.parse_keyword(Keyword::DIV) {
            return None;
        }
        let precedence = self.prec_value(Precedence::MulDivModOp);
        Some(parser.parse_subexpr(precedence).map(|right| Expr::BinaryOp {
            left: Box::new(expr.clone()),
            op: BinaryOperator::MyIntegerDivide,
            right: Box::new(right),
        }))
    }
}

#[cfg(test)]
mod tests {
    use sqlparser::parser::Parser;

    use super::*;

    #[test]
    fn reads_map_types_and_stays_databricks() {
        let sql = "CREATE TABLE t (m MAP<STRING, ARRAY<INT>>, s STRUCT<a: INT>)";
        assert!(Parser::parse_sql(&DatabricksDialect {}, sql).is_err());
        assert!(Parser::parse_sql(&TarnDialect, sql).is_ok());
        // Databricks-only syntax still parses (time travel, backticks).
        assert!(Parser::parse_sql(&TarnDialect, "SELECT * FROM `t` VERSION AS OF 1").is_ok());
        for interval in ["INTERVAL '68 days'", "INTERVAL '3' MONTH", "INTERVAL 3 DAYS", "INTERVAL '1 day 2 hours'"] {
            assert!(Parser::parse_sql(&TarnDialect, &format!("SELECT DATE '1998-12-01' - {interval}")).is_ok(), "{interval}");
        }
    }
}
