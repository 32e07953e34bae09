//! `CREATE FUNCTION`: Spark / Databricks SQL functions.

use sqlparser::tokenizer::Token;

use super::TarnParser;
use crate::ast::*;
use crate::error::{Result, SqlError};

impl TarnParser<'_> {
    /// After `CREATE [OR REPLACE] [TEMPORARY]`: `FUNCTION [IF NOT EXISTS] name (params)
    /// RETURNS type | TABLE (columns) [characteristics] RETURN body`.
    pub(crate) fn function(&mut self, or_replace: bool, temporary: bool) -> Result<Statement> {
        self.expect_word("FUNCTION")?;
        let if_not_exists = self.if_not_exists();
        if or_replace && if_not_exists {
            return Err(SqlError::Parse("CREATE OR REPLACE FUNCTION IF NOT EXISTS: use one of OR REPLACE and IF NOT EXISTS".into()));
        }
        let name = self.object_name()?;
        self.expect_token(&Token::LParen)?;
        let mut params = Vec::new();
        if !self.p.consume_token(&Token::RParen) {
            loop {
                params.push(self.function_param()?);
                if !self.p.consume_token(&Token::Comma) {
                    break;
                }
            }
            self.expect_token(&Token::RParen)?;
        }
        self.expect_word("RETURNS")?;
        let returns = if self.peek_word("TABLE") && self.peek_token_at(1) == Token::LParen {
            self.p.next_token();
            self.expect_token(&Token::LParen)?;
            let mut columns = Vec::new();
            if !self.p.consume_token(&Token::RParen) {
                loop {
                    let column = self.column_spec()?;
                    if self.peek_word("DEFAULT") {
                        return Err(SqlError::Parse(format!(
                            "a table function's result column '{}' cannot have a DEFAULT; defaults belong to parameters",
                            column.name
                        )));
                    }
                    columns.push(column);
                    if !self.p.consume_token(&Token::Comma) {
                        break;
                    }
                }
                self.expect_token(&Token::RParen)?;
            }
            FunctionReturnSpec::Table(columns)
        } else {
            FunctionReturnSpec::Scalar(self.p.parse_data_type().map_err(SqlError::from_parser)?)
        };
        let mut comment = None;
        let mut deterministic = true;
        loop {
            if self.word("COMMENT") {
                comment = Some(self.string()?);
            } else if self.word("LANGUAGE") {
                if !self.word("SQL") {
                    return Err(self.unexpected("SQL after LANGUAGE (Tarn's functions are SQL functions)"));
                }
            } else if self.word("DETERMINISTIC") {
                deterministic = true;
            } else if self.words(&["NOT", "DETERMINISTIC"]) {
                deterministic = false;
            } else if self.words(&["CONTAINS", "SQL"]) || self.words(&["READS", "SQL", "DATA"]) {
            } else if self.words(&["SQL", "SECURITY"]) {
                if !self.word("DEFINER") && !self.word("INVOKER") {
                    return Err(self.unexpected("DEFINER or INVOKER after SQL SECURITY"));
                }
            } else {
                break;
            }
        }
        self.expect_word("RETURN")?;
        let body = if self.starts_query() {
            FunctionBody::Query(self.query()?)
        } else {
            FunctionBody::Expr(Box::new(self.p.parse_expr().map_err(SqlError::from_parser)?))
        };
        Ok(Statement::CreateFunction(Box::new(CreateFunction {
            name,
            or_replace,
            temporary,
            if_not_exists,
            params,
            returns,
            comment,
            deterministic,
            body,
        })))
    }

    /// `DECLARE [OR REPLACE] [VARIABLE | VAR] name [type] [DEFAULT expr | = expr]`.
    pub(crate) fn parse_declare(&mut self) -> Result<Statement> {
        self.expect_word("DECLARE")?;
        let or_replace = self.words(&["OR", "REPLACE"]);
        let _ = self.word("VARIABLE") || self.word("VAR");
        let name = self.object_name()?;
        let ends = |s: &Self| matches!(s.p.peek_token().token, Token::EOF | Token::SemiColon | Token::Eq) || s.peek_word("DEFAULT");
        let data_type = if ends(self) { None } else { Some(self.p.parse_data_type().map_err(SqlError::from_parser)?) };
        let default = if self.word("DEFAULT") || self.p.consume_token(&Token::Eq) {
            Some(self.p.parse_expr().map_err(SqlError::from_parser)?)
        } else {
            None
        };
        if data_type.is_none() && default.is_none() {
            return Err(SqlError::Parse(format!("DECLARE {name}: give the variable a type or a DEFAULT value")));
        }
        Ok(Statement::DeclareVariable { name, or_replace, data_type, default })
    }

    /// `SET VAR[IABLE] v = expr [, w = expr]` or `SET VAR[IABLE] (v, w) = (query)`.
    pub(crate) fn parse_set_variables(&mut self) -> Result<Statement> {
        self.expect_word("SET")?;
        let _ = self.word("VARIABLE") || self.word("VAR");
        if self.p.consume_token(&Token::LParen) {
            let mut targets = vec![self.object_name()?];
            while self.p.consume_token(&Token::Comma) {
                targets.push(self.object_name()?);
            }
            self.expect_token(&Token::RParen)?;
            self.expect_token(&Token::Eq)?;
            let query = self.query()?;
            return Ok(Statement::SetVariables { targets, values: VariableValues::Query(query) });
        }
        let mut targets = Vec::new();
        let mut values = Vec::new();
        loop {
            targets.push(self.object_name()?);
            self.expect_token(&Token::Eq)?;
            values.push(self.p.parse_expr().map_err(SqlError::from_parser)?);
            if !self.p.consume_token(&Token::Comma) {
                break;
            }
        }
        Ok(Statement::SetVariables { targets, values: VariableValues::Exprs(values) })
    }

    fn peek_token_at(&self, n: usize) -> Token {
        self.p.peek_nth_token(n).token
    }

    /// Whether a query (not an expression) starts here.
    fn starts_query(&self) -> bool {
        ["SELECT", "WITH", "VALUES", "FROM", "TABLE"].iter().any(|w| self.peek_word(w))
    }

    /// `name type [NOT NULL] [DEFAULT expr] [COMMENT '..']`.
    fn function_param(&mut self) -> Result<FunctionParamSpec> {
        let name = self.ident()?;
        let data_type = self.p.parse_data_type().map_err(SqlError::from_parser)?;
        let mut param = FunctionParamSpec { name, data_type, default: None, comment: None };
        loop {
            if self.words(&["NOT", "NULL"]) {
                return Err(SqlError::Parse(format!(
                    "parameter '{}' cannot be NOT NULL: a function's parameters are nullable (check for NULL in the body)",
                    param.name
                )));
            } else if self.word("GENERATED") {
                return Err(SqlError::Parse(format!("parameter '{}' cannot be GENERATED: only table columns are generated", param.name)));
            } else if self.word("DEFAULT") {
                param.default = Some(self.p.parse_expr().map_err(SqlError::from_parser)?);
            } else if self.word("COMMENT") {
                param.comment = Some(self.string()?);
            } else {
                return Ok(param);
            }
        }
    }
}
