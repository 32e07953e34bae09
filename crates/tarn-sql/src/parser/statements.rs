//! One parse function per statement family.

use sqlparser::ast::{Expr, Ident};
use sqlparser::tokenizer::Token;

use super::TarnParser;
use crate::ast::*;
use crate::error::{Result, SqlError};

impl TarnParser<'_> {
    pub(crate) fn parse_statement(&mut self) -> Result<Statement> {
        let first = self.peek_word_at(0).unwrap_or_default();
        match first.as_str() {
            "CREATE" => self.parse_create(),
            "DROP" => self.parse_drop(),
            "SHOW" => self.parse_show(),
            "USE" => self.parse_use(),
            "INSERT" => self.parse_insert(),
            "UPDATE" => self.parse_update(),
            "DELETE" => self.parse_delete(),
            "MERGE" => self.parse_merge(),
            "TRUNCATE" => {
                self.p.next_token();
                self.word("TABLE");
                Ok(Statement::Truncate { table: self.object_name()? })
            }
            "DESCRIBE" | "DESC" => self.parse_describe(),
            "RESTORE" => self.parse_restore(),
            "OPTIMIZE" => self.parse_optimize(),
            "VACUUM" => self.parse_vacuum(),
            "CACHE" => {
                self.p.next_token();
                let lazy = self.word("LAZY");
                self.expect_word("TABLE")?;
                Ok(Statement::CacheTable { table: self.object_name()?, lazy })
            }
            "UNCACHE" => {
                self.p.next_token();
                self.expect_word("TABLE")?;
                let if_exists = self.if_exists();
                Ok(Statement::UncacheTable { table: self.object_name()?, if_exists })
            }
            "CLEAR" if self.peek_word_at(1).as_deref() == Some("CACHE") => {
                self.p.next_token();
                self.p.next_token();
                Ok(Statement::ClearCache)
            }
            "ALTER" => self.parse_alter(),
            "COMMENT" if self.peek_word_at(1).as_deref() == Some("ON") => self.parse_comment_on(),
            "COPY" if self.peek_word_at(1).as_deref() == Some("INTO") => self.parse_copy_into(),
            "SET" if matches!(self.peek_word_at(1).as_deref(), Some("VAR" | "VARIABLE")) => self.parse_set_variables(),
            "SET" => self.parse_set(),
            "DECLARE" => self.parse_declare(),
            "GRANT" => self.parse_grant(false),
            "REVOKE" => self.parse_grant(true),
            _ => self.parse_passthrough(),
        }
    }

    /// Queries and EXPLAIN go to DataFusion as `sqlparser` statements.
    fn parse_passthrough(&mut self) -> Result<Statement> {
        let start = self.p.peek_token();
        let stmt = self.p.parse_statement().map_err(SqlError::from_parser)?;
        match stmt {
            sqlparser::ast::Statement::Query(_) => Ok(Statement::Query(Box::new(stmt))),
            // EXPLAIN [ANALYZE] of a query only: DataFusion would plan (and ANALYZE run) its
            // own INSERT, DELETE, COPY or CREATE under it, around Tarn's checks and commits.
            sqlparser::ast::Statement::Explain { ref statement, .. } => match statement.as_ref() {
                sqlparser::ast::Statement::Query(_) => Ok(Statement::Query(Box::new(stmt))),
                other => Err(SqlError::Unsupported(format!(
                    "EXPLAIN of '{}' (at {}) is not supported: Tarn explains queries",
                    truncate(&other.to_string(), 60),
                    super::place(start.span.start)
                ))),
            },
            other => Err(SqlError::Unsupported(format!(
                "statement '{}' (at {}) is not supported by Tarn; see the SQL reference in the README",
                truncate(&other.to_string(), 60),
                super::place(start.span.start)
            ))),
        }
    }

    fn parse_create(&mut self) -> Result<Statement> {
        self.expect_word("CREATE")?;
        let or_replace = self.words(&["OR", "REPLACE"]);
        let global = self.word("GLOBAL");
        if self.word("TEMPORARY") || self.word("TEMP") {
            if self.peek_word("FUNCTION") {
                return self.function(or_replace, true);
            }
            return self.view(or_replace, true);
        }
        if self.peek_word("FUNCTION") {
            return self.function(or_replace, false);
        }
        if global {
            return Err(self.unexpected("TEMPORARY VIEW after CREATE GLOBAL"));
        }
        if self.peek_word("VIEW") {
            return self.view(or_replace, false);
        }
        if self.word("CATALOG") {
            let if_not_exists = self.if_not_exists();
            let name = self.ident()?;
            let comment = if self.word("COMMENT") { Some(self.string()?) } else { None };
            return Ok(Statement::CreateCatalog { name, if_not_exists, comment });
        }
        if self.word("SCHEMA") || self.word("DATABASE") {
            let if_not_exists = self.if_not_exists();
            let name = self.object_name()?;
            let comment = if self.word("COMMENT") { Some(self.string()?) } else { None };
            return Ok(Statement::CreateSchema { name, if_not_exists, comment });
        }
        if self.peek_word("SHARE") || self.peek_word("RECIPIENT") {
            let share = self.word("SHARE");
            self.word("RECIPIENT");
            let if_not_exists = self.if_not_exists();
            let name = self.ident()?;
            let comment = if self.word("COMMENT") { Some(self.string()?) } else { None };
            return Ok(if share {
                Statement::CreateShare { name, if_not_exists, comment }
            } else {
                Statement::CreateRecipient { name, if_not_exists, comment }
            });
        }
        if self.word("USER") {
            let if_not_exists = self.if_not_exists();
            let name = self.ident()?;
            self.word("WITH");
            let mut password = None;
            let mut admin = false;
            loop {
                if self.word("PASSWORD") {
                    password = Some(self.string()?);
                } else if self.word("ADMIN") || self.word("SUPERUSER") {
                    admin = true;
                } else {
                    break;
                }
            }
            return Ok(Statement::CreateUser { name, if_not_exists, password, admin });
        }
        self.word("EXTERNAL");
        if !self.word("TABLE") {
            return Err(self.unexpected("CATALOG, SCHEMA, TABLE, VIEW, FUNCTION, USER, SHARE or RECIPIENT after CREATE"));
        }
        let if_not_exists = self.if_not_exists();
        let name = self.object_name()?;
        if self.peek_word("SHALLOW") || self.peek_word("DEEP") || self.peek_word("CLONE") {
            return self.parse_clone(or_replace, if_not_exists, name);
        }
        let mut table = CreateTable {
            or_replace,
            if_not_exists,
            name,
            columns: Vec::new(),
            using: None,
            partitioned_by: Vec::new(),
            location: None,
            comment: None,
            properties: Vec::new(),
            query: None,
            like: None,
        };
        if self.word("LIKE") {
            table.like = Some(self.object_name()?);
        } else if self.p.peek_token().token == Token::LParen {
            self.expect_token(&Token::LParen)?;
            loop {
                table.columns.push(self.column_spec()?);
                if !self.p.consume_token(&Token::Comma) {
                    break;
                }
            }
            self.expect_token(&Token::RParen)?;
        }
        loop {
            if self.word("USING") {
                table.using = Some(self.ident()?.value);
            } else if self.words(&["PARTITIONED", "BY"]) {
                self.expect_token(&Token::LParen)?;
                loop {
                    table.partitioned_by.push(self.ident()?);
                    if !self.p.consume_token(&Token::Comma) {
                        break;
                    }
                }
                self.expect_token(&Token::RParen)?;
            } else if self.word("LOCATION") {
                table.location = Some(self.string()?);
            } else if self.word("COMMENT") {
                table.comment = Some(self.string()?);
            } else if self.word("TBLPROPERTIES") {
                table.properties.extend(self.key_values()?);
            } else if self.word("AS") && table.like.is_none() {
                table.query = Some(self.query()?);
                break;
            } else {
                break;
            }
        }
        Ok(Statement::CreateTable(Box::new(table)))
    }

    fn parse_clone(&mut self, or_replace: bool, if_not_exists: bool, name: sqlparser::ast::ObjectName) -> Result<Statement> {
        let depth = if self.word("SHALLOW") {
            CloneDepth::Shallow
        } else {
            // DEEP is the default in Databricks.
            self.word("DEEP");
            CloneDepth::Deep
        };
        self.expect_word("CLONE")?;
        let source = self.object_name()?;
        let source_version = self.optional_version_spec()?;
        let mut clone =
            CreateClone { or_replace, if_not_exists, name, depth, source, source_version, location: None, properties: Vec::new() };
        loop {
            if self.word("LOCATION") {
                clone.location = Some(self.string()?);
            } else if self.word("TBLPROPERTIES") {
                clone.properties.extend(self.key_values()?);
            } else {
                break;
            }
        }
        Ok(Statement::CreateClone(Box::new(clone)))
    }

    pub(crate) fn optional_version_spec(&mut self) -> Result<Option<VersionSpec>> {
        if self.words(&["VERSION", "AS", "OF"]) {
            Ok(Some(VersionSpec::Version(self.expr()?)))
        } else if self.words(&["TIMESTAMP", "AS", "OF"]) {
            Ok(Some(VersionSpec::Timestamp(self.expr()?)))
        } else {
            Ok(None)
        }
    }

    pub(crate) fn column_spec(&mut self) -> Result<ColumnSpec> {
        let name = self.ident()?;
        let data_type = self.p.parse_data_type().map_err(SqlError::from_parser)?;
        let collation = if self.word("COLLATE") { Some(self.ident()?.value) } else { None };
        let mut spec = ColumnSpec { name, data_type, not_null: false, comment: None, collation, generated: None };
        loop {
            if self.word("GENERATED") {
                let always = self.word("ALWAYS");
                if !always {
                    self.expect_word("BY")?;
                    self.expect_word("DEFAULT")?;
                }
                self.expect_word("AS")?;
                if self.peek_word("IDENTITY") {
                    return Err(SqlError::Unsupported(format!(
                        "identity columns ('{}' GENERATED .. AS IDENTITY) are not supported by Tarn yet: delta-rs does not \
                         assign their values; use a generated column or write the values",
                        spec.name.value
                    )));
                }
                if !always {
                    return Err(self.unexpected("IDENTITY after GENERATED BY DEFAULT AS"));
                }
                self.expect_token(&Token::LParen)?;
                spec.generated = Some(Box::new(self.expr()?));
                self.expect_token(&Token::RParen)?;
            } else if self.word("DEFAULT") {
                return Err(SqlError::Unsupported(format!(
                    "column DEFAULT values ('{}' DEFAULT ..) are not supported by Tarn yet",
                    spec.name.value
                )));
            } else if self.words(&["NOT", "NULL"]) {
                spec.not_null = true;
            } else if self.word("NULL") {
                spec.not_null = false;
            } else if self.word("COMMENT") {
                spec.comment = Some(self.string()?);
            } else {
                break;
            }
        }
        Ok(spec)
    }

    fn expr(&mut self) -> Result<Expr> {
        self.p.parse_expr().map_err(SqlError::from_parser)
    }

    /// After `CREATE [OR REPLACE] [TEMPORARY]`: `VIEW [IF NOT EXISTS] v [(a [COMMENT ..], ..)]
    /// [COMMENT ..] [TBLPROPERTIES (..)] AS query`. A temporary view's name has one part.
    fn view(&mut self, or_replace: bool, temporary: bool) -> Result<Statement> {
        self.expect_word("VIEW")?;
        let if_not_exists = self.if_not_exists();
        if or_replace && if_not_exists {
            return Err(SqlError::Parse("CREATE OR REPLACE VIEW IF NOT EXISTS: use one of OR REPLACE and IF NOT EXISTS".into()));
        }
        let name = if temporary { sqlparser::ast::ObjectName::from(vec![self.ident()?]) } else { self.object_name()? };
        let mut columns = Vec::new();
        if self.p.consume_token(&Token::LParen) {
            loop {
                let column = self.ident()?;
                let comment = if self.word("COMMENT") { Some(self.string()?) } else { None };
                columns.push((column, comment));
                if !self.p.consume_token(&Token::Comma) {
                    break;
                }
            }
            self.p.expect_token(&Token::RParen).map_err(SqlError::from_parser)?;
        }
        let mut comment = None;
        let mut schema_mode = None;
        let mut default_collation = None;
        loop {
            if self.word("COMMENT") {
                comment = Some(self.string()?);
            } else if self.peek_word("WITH") {
                schema_mode = Some(self.view_schema_mode()?);
            } else if self.word("DEFAULT") {
                self.expect_word("COLLATION")?;
                default_collation = Some(self.ident()?.value);
            } else if self.word("TBLPROPERTIES") {
                self.p.expect_token(&Token::LParen).map_err(SqlError::from_parser)?;
                let mut depth = 1;
                while depth > 0 {
                    match self.p.next_token().token {
                        Token::LParen => depth += 1,
                        Token::RParen => depth -= 1,
                        Token::EOF => return Err(self.unexpected("')' closing TBLPROPERTIES")),
                        _ => {}
                    }
                }
            } else {
                break;
            }
        }
        self.expect_word("AS")?;
        let query = self.query()?;
        if temporary {
            let name = name.0.into_iter().next().and_then(|p| p.as_ident().cloned()).ok_or_else(|| self.unexpected("a view name"))?;
            let columns = columns.into_iter().map(|(c, _)| c).collect();
            return Ok(Statement::CreateTempView { name, columns, query, or_replace, if_not_exists, schema_mode, default_collation });
        }
        Ok(Statement::CreateView { name, columns, comment, query, or_replace, if_not_exists, schema_mode, default_collation })
    }

    /// `WITH SCHEMA { BINDING | COMPENSATION | [TYPE] EVOLUTION }`.
    fn view_schema_mode(&mut self) -> Result<ViewSchemaMode> {
        self.expect_word("WITH")?;
        self.expect_word("SCHEMA")?;
        if self.word("BINDING") {
            Ok(ViewSchemaMode::Binding)
        } else if self.word("COMPENSATION") {
            Ok(ViewSchemaMode::Compensation)
        } else if self.word("TYPE") {
            self.expect_word("EVOLUTION")?;
            Ok(ViewSchemaMode::TypeEvolution)
        } else if self.word("EVOLUTION") {
            Ok(ViewSchemaMode::Evolution)
        } else {
            Err(self.unexpected("BINDING, COMPENSATION, TYPE EVOLUTION or EVOLUTION after WITH SCHEMA"))
        }
    }

    fn parse_drop(&mut self) -> Result<Statement> {
        self.expect_word("DROP")?;
        let temporary = self.word("TEMPORARY") || self.word("TEMP");
        if temporary && (self.word("VARIABLE") || self.word("VAR")) {
            let if_exists = self.if_exists();
            return Ok(Statement::DropVariable { name: self.object_name()?, if_exists });
        }
        if temporary || self.peek_word("FUNCTION") {
            self.expect_word("FUNCTION")?;
            let if_exists = self.if_exists();
            return Ok(Statement::DropFunction { name: self.object_name()?, temporary, if_exists });
        }
        if self.word("VIEW") {
            let if_exists = self.if_exists();
            let name = self.object_name()?;
            // Postgres' CASCADE / RESTRICT (dbt sends CASCADE): Tarn keeps no dependencies
            // between views (a view over a dropped one fails when read, as in Spark).
            let _ = self.word("CASCADE") || self.word("RESTRICT");
            return Ok(Statement::DropView { name, if_exists });
        }
        if self.word("SCHEMA") || self.word("DATABASE") {
            let if_exists = self.if_exists();
            let name = self.object_name()?;
            let cascade = self.word("CASCADE");
            if !cascade {
                self.word("RESTRICT");
            }
            return Ok(Statement::DropSchema { name, if_exists, cascade });
        }
        if self.word("TABLE") {
            let if_exists = self.if_exists();
            let name = self.object_name()?;
            // Spark's PURGE; Postgres' CASCADE / RESTRICT (dbt sends CASCADE). Tarn keeps no
            // dependencies on a table (a view over it fails when read, as in Spark; no foreign
            // keys), so all mean a plain drop.
            let _ = self.word("PURGE") || self.word("CASCADE") || self.word("RESTRICT");
            return Ok(Statement::DropTable { name, if_exists });
        }
        if self.word("USER") {
            let if_exists = self.if_exists();
            return Ok(Statement::DropUser { name: self.ident()?, if_exists });
        }
        if self.word("SHARE") {
            let if_exists = self.if_exists();
            return Ok(Statement::DropShare { name: self.ident()?, if_exists });
        }
        if self.word("RECIPIENT") {
            let if_exists = self.if_exists();
            return Ok(Statement::DropRecipient { name: self.ident()?, if_exists });
        }
        Err(self.unexpected("SCHEMA, TABLE, VIEW, FUNCTION, USER, SHARE or RECIPIENT after DROP"))
    }

    fn parse_show(&mut self) -> Result<Statement> {
        self.expect_word("SHOW")?;
        if self.word("CATALOGS") {
            return Ok(Statement::ShowCatalogs { like: self.optional_like()? });
        }
        if self.word("SCHEMAS") || self.word("DATABASES") {
            let catalog = if self.word("IN") || self.word("FROM") { Some(self.object_name()?) } else { None };
            return Ok(Statement::ShowSchemas { catalog, like: self.optional_like()? });
        }
        if self.word("TABLES") {
            let schema = if self.word("IN") || self.word("FROM") { Some(self.object_name()?) } else { None };
            return Ok(Statement::ShowTables { schema, like: self.optional_like()?, extended: false });
        }
        if self.words(&["TABLE", "EXTENDED"]) {
            let schema = if self.word("IN") || self.word("FROM") { Some(self.object_name()?) } else { None };
            let Some(like) = self.optional_like()? else {
                return Err(self.unexpected("LIKE 'pattern' after SHOW TABLE EXTENDED"));
            };
            if self.peek_word("PARTITION") {
                return Err(SqlError::Unsupported(
                    "SHOW TABLE EXTENDED .. PARTITION (..) is not supported; SHOW PARTITIONS lists a table's partitions".into(),
                ));
            }
            return Ok(Statement::ShowTables { schema, like: Some(like), extended: true });
        }
        let scope = if self.peek_word_at(1).as_deref() == Some("FUNCTIONS") {
            match self.peek_word_at(0).as_deref() {
                Some("USER") => Some(FunctionScope::User),
                Some("SYSTEM") => Some(FunctionScope::System),
                Some("ALL") => Some(FunctionScope::All),
                _ => None,
            }
        } else {
            None
        };
        if scope.is_some() {
            self.p.next_token();
        }
        if self.word("FUNCTIONS") {
            let schema = if self.word("IN") || self.word("FROM") { Some(self.object_name()?) } else { None };
            let like = if self.peek_word("LIKE") {
                self.optional_like()?
            } else if matches!(self.p.peek_token().token, Token::SingleQuotedString(_) | Token::DoubleQuotedString(_)) {
                Some(self.string()?)
            } else {
                None
            };
            return Ok(Statement::ShowFunctions { scope: scope.unwrap_or(FunctionScope::All), schema, like });
        }
        if self.word("VIEWS") {
            let schema = if self.word("IN") || self.word("FROM") { Some(self.object_name()?) } else { None };
            return Ok(Statement::ShowViews { schema, like: self.optional_like()? });
        }
        if self.words(&["CREATE", "TABLE"]) {
            return Ok(Statement::ShowCreateTable { table: self.object_name()? });
        }
        if self.word("PARTITIONS") {
            let table = self.object_name()?;
            let filter = if self.word("PARTITION") { self.partition_spec()? } else { Vec::new() };
            return Ok(Statement::ShowPartitions { table, filter });
        }
        if self.word("TBLPROPERTIES") {
            return Ok(Statement::ShowTblProperties { table: self.object_name()? });
        }
        if self.word("COLUMNS") {
            if !(self.word("IN") || self.word("FROM")) {
                return Err(self.unexpected("IN after SHOW COLUMNS"));
            }
            return Ok(Statement::ShowColumns { table: self.object_name()? });
        }
        if self.word("USERS") {
            return Ok(Statement::ShowUsers);
        }
        if self.word("SHARES") {
            return Ok(Statement::ShowShares);
        }
        if self.word("RECIPIENTS") {
            return Ok(Statement::ShowRecipients);
        }
        if self.words(&["ALL", "IN", "SHARE"]) {
            return Ok(Statement::ShowAllInShare { share: self.ident()? });
        }
        if self.words(&["GRANTS", "ON", "SHARE"]) || self.words(&["GRANT", "ON", "SHARE"]) {
            return Ok(Statement::ShowShareGrants { share: Some(self.ident()?), recipient: None });
        }
        if self.words(&["GRANTS", "TO", "RECIPIENT"]) || self.words(&["GRANT", "TO", "RECIPIENT"]) {
            return Ok(Statement::ShowShareGrants { share: None, recipient: Some(self.ident()?) });
        }
        if self.word("GRANTS") || self.word("GRANT") {
            if self.word("TO") {
                return Ok(Statement::ShowGrants { principal: Some(self.ident()?), on: None });
            }
            let principal = if self.peek_word("ON") { None } else { Some(self.ident()?) };
            let on = if self.word("ON") { Some(self.securable()?) } else { None };
            if principal.is_none() && on.is_none() {
                return Err(self.unexpected("ON securable or TO principal after SHOW GRANTS"));
            }
            return Ok(Statement::ShowGrants { principal, on });
        }
        Err(self.unexpected(
            "CATALOGS, SCHEMAS, TABLES, COLUMNS, TBLPROPERTIES, CREATE TABLE, GRANTS, USERS, SHARES, RECIPIENTS or ALL IN SHARE after SHOW",
        ))
    }

    fn parse_use(&mut self) -> Result<Statement> {
        self.expect_word("USE")?;
        let target = if self.word("CATALOG") {
            UseTarget::Catalog
        } else {
            if !self.word("SCHEMA") {
                self.word("DATABASE");
            }
            UseTarget::Schema
        };
        Ok(Statement::Use { target, name: self.object_name()? })
    }

    fn parse_insert(&mut self) -> Result<Statement> {
        self.expect_word("INSERT")?;
        let overwrite = if self.word("OVERWRITE") {
            true
        } else {
            self.expect_word("INTO")?;
            false
        };
        self.word("TABLE");
        let table = self.object_name()?;
        let mut columns = Vec::new();
        let starts_query = |s: &Self| matches!(s.peek_word_at(1).as_deref(), Some("SELECT" | "WITH" | "VALUES" | "FROM"));
        if self.p.peek_token().token == Token::LParen && !starts_query(self) {
            self.expect_token(&Token::LParen)?;
            loop {
                columns.push(self.ident()?);
                if !self.p.consume_token(&Token::Comma) {
                    break;
                }
            }
            self.expect_token(&Token::RParen)?;
        }
        let replace_where = if self.words(&["REPLACE", "WHERE"]) { Some(self.expr()?) } else { None };
        let query = self.query()?;
        Ok(Statement::Insert(Box::new(Insert { table, overwrite, columns, replace_where, query })))
    }

    /// A query after `AS` or `INSERT INTO t`; Spark also takes `VALUES (..), (..) AS t(a, b)`
    /// there, which is `SELECT * FROM (VALUES ..) AS t(a, b)`.
    pub(crate) fn query(&mut self) -> Result<Box<sqlparser::ast::Query>> {
        let query = self.p.parse_query().map_err(SqlError::from_parser)?;
        if !matches!(*query.body, sqlparser::ast::SetExpr::Values(_)) || query.order_by.is_some() || query.limit_clause.is_some() {
            return Ok(query);
        }
        let Some(alias) = self.p.maybe_parse_table_alias().map_err(SqlError::from_parser)? else {
            return Ok(query);
        };
        let alias = sqlparser::ast::TableAlias { explicit: true, ..alias };
        let text = format!("SELECT * FROM ({}) {alias}", super::sql_text(query.as_ref()));
        let dialect = super::dialect();
        let mut parser = sqlparser::parser::Parser::new(&dialect).try_with_sql(&text).map_err(SqlError::from_parser)?;
        let wrapped = parser.parse_query().map_err(SqlError::from_parser)?;
        if parser.peek_token().token != Token::EOF {
            return Err(SqlError::Internal(format!("VALUES with a table alias did not read back: {text}")));
        }
        Ok(wrapped)
    }

    fn assignments(&mut self) -> Result<Vec<(Ident, Expr)>> {
        let mut out = Vec::new();
        loop {
            let mut column = self.ident()?;
            while self.p.consume_token(&Token::Period) {
                column = self.ident()?;
            }
            self.expect_token(&Token::Eq)?;
            out.push((column, self.expr()?));
            if !self.p.consume_token(&Token::Comma) {
                break;
            }
        }
        Ok(out)
    }

    fn parse_update(&mut self) -> Result<Statement> {
        self.expect_word("UPDATE")?;
        let table = self.object_name()?;
        let alias = self.optional_alias(&["SET"])?;
        self.expect_word("SET")?;
        let assignments = self.assignments()?;
        let predicate = if self.word("WHERE") { Some(self.expr()?) } else { None };
        Ok(Statement::Update(Box::new(Update { table, alias, assignments, predicate })))
    }

    fn parse_delete(&mut self) -> Result<Statement> {
        self.expect_word("DELETE")?;
        self.expect_word("FROM")?;
        let table = self.object_name()?;
        let alias = self.optional_alias(&["WHERE"])?;
        let predicate = if self.word("WHERE") { Some(self.expr()?) } else { None };
        Ok(Statement::Delete(Box::new(Delete { table, alias, predicate })))
    }

    fn parse_merge(&mut self) -> Result<Statement> {
        self.expect_word("MERGE")?;
        self.expect_word("INTO")?;
        let target = self.object_name()?;
        let target_alias = self.optional_alias(&["USING"])?;
        self.expect_word("USING")?;
        let source = self.p.parse_table_factor().map_err(SqlError::from_parser)?;
        self.expect_word("ON")?;
        let on = self.expr()?;
        let mut clauses = Vec::new();
        while self.word("WHEN") {
            let kind = if self.word("MATCHED") {
                0
            } else {
                self.expect_word("NOT")?;
                self.expect_word("MATCHED")?;
                if self.words(&["BY", "SOURCE"]) {
                    2
                } else {
                    self.words(&["BY", "TARGET"]);
                    1
                }
            };
            let condition = if self.word("AND") { Some(self.expr()?) } else { None };
            self.expect_word("THEN")?;
            clauses.push(match kind {
                1 => MergeClause::NotMatched { condition, action: self.insert_action()? },
                0 => MergeClause::Matched { condition, action: self.matched_action()? },
                _ => MergeClause::NotMatchedBySource { condition, action: self.matched_action()? },
            });
        }
        if clauses.is_empty() {
            return Err(self.unexpected("WHEN [NOT] MATCHED ... THEN ..."));
        }
        Ok(Statement::Merge(Box::new(Merge { target, target_alias, source, on, clauses })))
    }

    fn matched_action(&mut self) -> Result<MatchedAction> {
        if self.word("DELETE") {
            return Ok(MatchedAction::Delete);
        }
        self.expect_word("UPDATE")?;
        self.expect_word("SET")?;
        if self.p.consume_token(&Token::Mul) {
            return Ok(MatchedAction::UpdateAll);
        }
        Ok(MatchedAction::Update(self.assignments()?))
    }

    fn insert_action(&mut self) -> Result<InsertAction> {
        self.expect_word("INSERT")?;
        if self.p.consume_token(&Token::Mul) {
            return Ok(InsertAction::All);
        }
        let mut columns = Vec::new();
        if self.p.consume_token(&Token::LParen) {
            loop {
                let mut column = self.ident()?;
                while self.p.consume_token(&Token::Period) {
                    column = self.ident()?;
                }
                columns.push(column);
                if !self.p.consume_token(&Token::Comma) {
                    break;
                }
            }
            self.expect_token(&Token::RParen)?;
        }
        self.expect_word("VALUES")?;
        self.expect_token(&Token::LParen)?;
        let mut values = vec![self.expr()?];
        while self.p.consume_token(&Token::Comma) {
            values.push(self.expr()?);
        }
        self.expect_token(&Token::RParen)?;
        Ok(InsertAction::Values { columns, values })
    }

    fn parse_describe(&mut self) -> Result<Statement> {
        self.p.next_token();
        if self.word("HISTORY") {
            let table = self.object_name()?;
            let limit = if self.word("LIMIT") { Some(self.p.parse_literal_uint().map_err(SqlError::from_parser)?) } else { None };
            return Ok(Statement::DescribeHistory { table, limit });
        }
        if self.word("DETAIL") {
            return Ok(Statement::DescribeDetail { table: self.object_name()? });
        }
        if self.word("FUNCTION") {
            let extended = self.word("EXTENDED");
            return Ok(Statement::DescribeFunction { name: self.object_name()?, extended });
        }
        // `DESCRIBE SCHEMA | DATABASE | CATALOG [EXTENDED] name`: a namespace.
        let schema = self.word("SCHEMA") || self.word("DATABASE");
        if schema || self.word("CATALOG") {
            let extended = self.word("EXTENDED");
            return Ok(Statement::DescribeNamespace { catalog: !schema, name: self.object_name()?, extended });
        }
        // `DESCRIBE QUERY <query>` / `DESCRIBE <query>`: a query's columns.
        let starts_query = |t: &Token| match t {
            Token::LParen => true,
            Token::Word(w) if w.quote_style.is_none() => {
                ["SELECT", "WITH", "VALUES", "FROM", "TABLE"].iter().any(|k| w.value.eq_ignore_ascii_case(k))
            }
            _ => false,
        };
        let explicit = self.word("QUERY");
        let next = self.p.peek_token().token;
        let is_table_keyword = matches!(&next, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("TABLE"));
        // `DESCRIBE TABLE t` describes a table; `DESCRIBE QUERY TABLE t` and `DESC (..)` a query.
        if explicit || (starts_query(&next) && !is_table_keyword) {
            let query = self.p.parse_query().map_err(SqlError::from_parser)?;
            return Ok(Statement::DescribeQuery { query });
        }
        self.word("TABLE");
        let extended = self.word("EXTENDED") || self.word("FORMATTED");
        let table = self.object_name()?;
        // `DESCRIBE t col`: a column of the table (not `PARTITION (..)`, which Tarn refuses).
        let column = match self.p.peek_token().token {
            Token::Word(w) if !w.value.eq_ignore_ascii_case("PARTITION") => {
                Some(self.p.parse_identifier().map_err(SqlError::from_parser)?.value)
            }
            _ => None,
        };
        Ok(Statement::DescribeTable { table, extended, column })
    }

    fn parse_restore(&mut self) -> Result<Statement> {
        self.expect_word("RESTORE")?;
        self.word("TABLE");
        let table = self.object_name()?;
        self.word("TO");
        match self.optional_version_spec()? {
            Some(to) => Ok(Statement::Restore { table, to }),
            None => Err(self.unexpected("VERSION AS OF or TIMESTAMP AS OF")),
        }
    }

    fn parse_optimize(&mut self) -> Result<Statement> {
        self.expect_word("OPTIMIZE")?;
        let table = self.object_name()?;
        let predicate = if self.word("WHERE") { Some(self.expr()?) } else { None };
        let mut zorder_by = Vec::new();
        if self.words(&["ZORDER", "BY"]) {
            let parenthesized = self.p.consume_token(&Token::LParen);
            loop {
                zorder_by.push(self.ident()?);
                if !self.p.consume_token(&Token::Comma) {
                    break;
                }
            }
            if parenthesized {
                self.expect_token(&Token::RParen)?;
            }
        }
        Ok(Statement::Optimize { table, predicate, zorder_by })
    }

    fn parse_vacuum(&mut self) -> Result<Statement> {
        self.expect_word("VACUUM")?;
        let table = self.object_name()?;
        let mut retain_hours = None;
        let mut dry_run = false;
        loop {
            if self.word("RETAIN") {
                let token = self.p.next_token();
                let Token::Number(n, _) = &token.token else {
                    return Err(SqlError::Parse(format!("expected a number of hours after RETAIN, found '{}'", token.token)));
                };
                let hours: f64 = n.parse().map_err(|_| SqlError::Parse(format!("'{n}' is not a number of hours")))?;
                self.expect_word("HOURS")?;
                retain_hours = Some(hours);
            } else if self.words(&["DRY", "RUN"]) {
                dry_run = true;
            } else {
                break;
            }
        }
        Ok(Statement::Vacuum { table, retain_hours, dry_run })
    }

    /// `CATALOG name`, `SCHEMA name`, `TABLE name`, `ANY FILE`, or a bare table name.
    fn securable(&mut self) -> Result<SecurableName> {
        if self.word("CATALOG") {
            return Ok(SecurableName::Catalog(self.ident()?));
        }
        if self.word("SCHEMA") || self.word("DATABASE") {
            return Ok(SecurableName::Schema(self.object_name()?));
        }
        if self.words(&["ANY", "FILE"]) {
            return Ok(SecurableName::AnyFile);
        }
        if self.word("FUNCTION") {
            return Ok(SecurableName::Function(self.object_name()?));
        }
        // Views are tables for privileges, as in Unity Catalog.
        if !self.word("TABLE") {
            self.word("VIEW");
        }
        Ok(SecurableName::Table(self.object_name()?))
    }

    /// `GRANT privilege[, ...] ON securable TO principal` (or REVOKE ... FROM).
    fn parse_grant(&mut self, revoke: bool) -> Result<Statement> {
        self.expect_word(if revoke { "REVOKE" } else { "GRANT" })?;
        let mut privileges = Vec::new();
        loop {
            let mut words = Vec::new();
            while let Some(w) = self.peek_word_at(0) {
                if w == "ON" || self.p.peek_token().token == Token::Comma {
                    break;
                }
                self.p.next_token();
                words.push(w);
            }
            let text = words.join(" ");
            let privilege = tarn_catalog::Privilege::parse(&text).ok_or_else(|| {
                SqlError::Parse(format!(
                    "unknown privilege '{text}'; use USE CATALOG, USE SCHEMA, CREATE SCHEMA, CREATE TABLE, SELECT, MODIFY or ALL PRIVILEGES"
                ))
            })?;
            privileges.push(privilege);
            if !self.p.consume_token(&Token::Comma) {
                break;
            }
        }
        self.expect_word("ON")?;
        if self.word("SHARE") {
            let share = self.ident()?;
            if privileges != [tarn_catalog::Privilege::Select] {
                return Err(SqlError::Parse("a share can be granted only with SELECT (GRANT SELECT ON SHARE s TO RECIPIENT r)".into()));
            }
            self.expect_word(if revoke { "FROM" } else { "TO" })?;
            self.expect_word("RECIPIENT")?;
            return Ok(Statement::GrantShare { share, recipient: self.ident()?, grant: !revoke });
        }
        let on = self.securable()?;
        self.expect_word(if revoke { "FROM" } else { "TO" })?;
        let principal = self.ident()?;
        Ok(if revoke { Statement::Revoke { privileges, on, principal } } else { Statement::Grant { privileges, on, principal } })
    }

    fn parse_alter(&mut self) -> Result<Statement> {
        self.expect_word("ALTER")?;
        if self.word("SHARE") {
            return self.parse_alter_share();
        }
        if self.word("RECIPIENT") {
            let name = self.ident()?;
            self.expect_word("ROTATE")?;
            self.expect_word("TOKEN")?;
            let (mut expire_existing_in, mut expires_in) = (None, None);
            loop {
                if self.words(&["EXPIRE", "EXISTING"]) {
                    self.word("TOKENS");
                    self.expect_word("IN")?;
                    expire_existing_in = Some(self.duration_seconds()?);
                } else if self.words(&["EXPIRES", "IN"]) {
                    expires_in = Some(self.duration_seconds()?);
                } else {
                    break;
                }
            }
            return Ok(Statement::RotateRecipientToken { name, expire_existing_in, expires_in });
        }
        if self.word("USER") {
            let name = self.ident()?;
            self.word("WITH");
            self.expect_word("PASSWORD")?;
            return Ok(Statement::AlterUserPassword { name, password: self.string()? });
        }
        if self.peek_word("CATALOG") || self.peek_word("SCHEMA") || self.peek_word("DATABASE") {
            let on = self.securable()?;
            self.word("SET");
            self.expect_word("OWNER")?;
            self.expect_word("TO")?;
            return Ok(Statement::SetOwner { on, principal: self.ident()? });
        }
        if self.word("VIEW") {
            let view = self.object_name()?;
            if self.word("AS") {
                return Ok(Statement::AlterViewAs { name: view, query: self.query()? });
            }
            if self.words(&["RENAME", "TO"]) {
                return Ok(Statement::RenameView { name: view, to: self.object_name()? });
            }
            if self.peek_word("WITH") {
                return Ok(Statement::AlterViewSchemaMode { name: view, mode: self.view_schema_mode()? });
            }
            self.word("SET");
            self.expect_word("OWNER")?;
            self.expect_word("TO")?;
            return Ok(Statement::SetOwner { on: SecurableName::Table(view), principal: self.ident()? });
        }
        self.expect_word("TABLE")?;
        let table = self.object_name()?;
        if self.peek_word("OWNER") || (self.peek_word("SET") && self.peek_word_at(1).as_deref() == Some("OWNER")) {
            self.word("SET");
            self.expect_word("OWNER")?;
            self.expect_word("TO")?;
            return Ok(Statement::SetOwner { on: SecurableName::Table(table), principal: self.ident()? });
        }
        let op = if self.word("ADD") {
            if self.word("CONSTRAINT") {
                let name = self.ident()?;
                self.expect_word("CHECK")?;
                self.expect_token(&Token::LParen)?;
                let check = Box::new(self.expr()?);
                self.expect_token(&Token::RParen)?;
                AlterOp::AddConstraint { name, check }
            } else {
                if !self.word("COLUMNS") {
                    self.expect_word("COLUMN")?;
                }
                let parenthesized = self.p.consume_token(&Token::LParen);
                let mut columns = vec![self.column_spec()?];
                while self.p.consume_token(&Token::Comma) {
                    columns.push(self.column_spec()?);
                }
                if parenthesized {
                    self.expect_token(&Token::RParen)?;
                }
                AlterOp::AddColumns(columns)
            }
        } else if self.words(&["DROP", "CONSTRAINT"]) {
            let if_exists = self.if_exists();
            AlterOp::DropConstraint { name: self.ident()?, if_exists }
        } else if self.words(&["SET", "TBLPROPERTIES"]) {
            AlterOp::SetProperties(self.key_values()?)
        } else if self.words(&["UNSET", "TBLPROPERTIES"]) {
            let if_exists = self.if_exists();
            AlterOp::UnsetProperties { keys: self.keys()?, if_exists }
        } else if self.words(&["RENAME", "TO"]) {
            AlterOp::RenameTo(self.object_name()?)
        } else if self.words(&["RENAME", "COLUMN"]) {
            let from = self.ident()?;
            self.expect_word("TO")?;
            AlterOp::RenameColumn { from, to: self.ident()? }
        } else if self.peek_word("DROP") && matches!(self.peek_word_at(1).as_deref(), Some("COLUMN" | "COLUMNS")) {
            self.p.next_token();
            self.p.next_token();
            let if_exists = self.if_exists();
            let parenthesized = self.p.consume_token(&Token::LParen);
            let mut columns = vec![self.ident()?];
            while self.p.consume_token(&Token::Comma) {
                columns.push(self.ident()?);
            }
            if parenthesized {
                self.expect_token(&Token::RParen)?;
            }
            AlterOp::DropColumns { columns, if_exists }
        } else if self.peek_word("ALTER") || self.peek_word("CHANGE") {
            self.alter_column()?
        } else {
            return Err(self.unexpected(
                "ADD COLUMNS, DROP COLUMNS, RENAME COLUMN, ALTER COLUMN, ADD CONSTRAINT, DROP CONSTRAINT, SET TBLPROPERTIES, \
                 UNSET TBLPROPERTIES or RENAME TO",
            ));
        };
        Ok(Statement::AlterTable { table, op })
    }

    /// After `ALTER TABLE t`: `ALTER | CHANGE [COLUMN] c` and Spark's changes (`TYPE t`,
    /// `COMMENT '..'`, `SET | DROP NOT NULL`, `FIRST`, `AFTER x`, `SET DEFAULT e`, `DROP
    /// DEFAULT`), or Hive's `CHANGE [COLUMN] c new_name type [COMMENT '..'] [FIRST | AFTER x]`.
    fn alter_column(&mut self) -> Result<AlterOp> {
        let hive = self.word("CHANGE");
        if !hive {
            self.expect_word("ALTER")?;
        }
        self.word("COLUMN");
        let column = self.ident()?;
        let mut changes = Vec::new();
        let spark_change = ["TYPE", "COMMENT", "SET", "DROP", "FIRST", "AFTER"].iter().any(|w| self.peek_word(w));
        if hive && !spark_change {
            changes.push(ColumnChange::Rename(self.ident()?));
            changes.push(ColumnChange::Type(self.p.parse_data_type().map_err(SqlError::from_parser)?));
        }
        loop {
            if self.word("TYPE") {
                changes.push(ColumnChange::Type(self.p.parse_data_type().map_err(SqlError::from_parser)?));
            } else if self.word("COMMENT") {
                changes.push(ColumnChange::Comment(Some(self.string()?)));
            } else if self.words(&["SET", "NOT", "NULL"]) {
                changes.push(ColumnChange::SetNotNull);
            } else if self.words(&["DROP", "NOT", "NULL"]) {
                changes.push(ColumnChange::DropNotNull);
            } else if self.words(&["SET", "DEFAULT"]) {
                changes.push(ColumnChange::SetDefault(Box::new(self.expr()?)));
            } else if self.words(&["DROP", "DEFAULT"]) {
                changes.push(ColumnChange::DropDefault);
            } else if self.word("FIRST") {
                changes.push(ColumnChange::Position(None));
            } else if self.word("AFTER") {
                changes.push(ColumnChange::Position(Some(self.ident()?)));
            } else {
                break;
            }
        }
        if changes.is_empty() {
            return Err(self.unexpected("TYPE, COMMENT, SET NOT NULL, DROP NOT NULL, SET DEFAULT, DROP DEFAULT, FIRST or AFTER"));
        }
        Ok(AlterOp::AlterColumn { column, changes })
    }

    /// `COMMENT ON CATALOG | SCHEMA | DATABASE | TABLE | VIEW | COLUMN name IS 'text' | NULL`. A
    /// table's or a column's comment is an ALTER TABLE (the same privileges and checks).
    fn parse_comment_on(&mut self) -> Result<Statement> {
        self.expect_word("COMMENT")?;
        self.expect_word("ON")?;
        let kind = self.peek_word_at(0).unwrap_or_default();
        if !matches!(kind.as_str(), "CATALOG" | "SCHEMA" | "DATABASE" | "TABLE" | "VIEW" | "COLUMN") {
            return Err(self.unexpected("CATALOG, SCHEMA, TABLE, VIEW or COLUMN after COMMENT ON"));
        }
        self.p.next_token();
        let name = self.object_name()?;
        self.expect_word("IS")?;
        let comment = if self.word("NULL") { None } else { Some(self.string()?) };
        Ok(match kind.as_str() {
            "CATALOG" | "SCHEMA" | "DATABASE" => Statement::CommentOnNamespace { catalog: kind == "CATALOG", name, comment },
            "TABLE" | "VIEW" => Statement::AlterTable { table: name, op: AlterOp::SetComment(comment) },
            _ => {
                let mut parts = name.0;
                let column = match parts.pop().and_then(|p| p.as_ident().cloned()) {
                    Some(column) if !parts.is_empty() => column,
                    _ => return Err(SqlError::Parse("COMMENT ON COLUMN needs table.column".into())),
                };
                let op = AlterOp::AlterColumn { column, changes: vec![ColumnChange::Comment(comment)] };
                Statement::AlterTable { table: sqlparser::ast::ObjectName(parts), op }
            }
        })
    }

    fn parse_copy_into(&mut self) -> Result<Statement> {
        self.expect_word("COPY")?;
        self.expect_word("INTO")?;
        let table = self.object_name()?;
        self.expect_word("FROM")?;
        let source = self.string()?;
        let mut copy = CopyInto {
            table,
            source,
            format: FileFormat::Csv,
            pattern: None,
            files: Vec::new(),
            format_options: Vec::new(),
            copy_options: Vec::new(),
        };
        let mut saw_format = false;
        loop {
            if self.word("FILEFORMAT") {
                self.expect_token(&Token::Eq)?;
                let name = self.ident()?.value.to_ascii_uppercase();
                copy.format = match name.as_str() {
                    "CSV" => FileFormat::Csv,
                    "JSON" => FileFormat::Json,
                    "PARQUET" => FileFormat::Parquet,
                    other => {
                        return Err(SqlError::Parse(format!("unknown FILEFORMAT '{other}'; use CSV, JSON or PARQUET")));
                    }
                };
                saw_format = true;
            } else if self.word("PATTERN") {
                self.expect_token(&Token::Eq)?;
                copy.pattern = Some(self.string()?);
            } else if self.word("FILES") {
                self.expect_token(&Token::Eq)?;
                self.expect_token(&Token::LParen)?;
                loop {
                    copy.files.push(self.string()?);
                    if !self.p.consume_token(&Token::Comma) {
                        break;
                    }
                }
                self.expect_token(&Token::RParen)?;
            } else if self.word("FORMAT_OPTIONS") {
                copy.format_options.extend(self.key_values()?);
            } else if self.word("COPY_OPTIONS") {
                copy.copy_options.extend(self.key_values()?);
            } else {
                break;
            }
        }
        if !saw_format {
            return Err(self.unexpected("FILEFORMAT = CSV | JSON | PARQUET"));
        }
        Ok(Statement::CopyInto(Box::new(copy)))
    }

    fn parse_set(&mut self) -> Result<Statement> {
        self.expect_word("SET")?;
        let mut key = String::new();
        loop {
            let token = self.p.next_token();
            match token.token {
                Token::Eq => break,
                Token::EOF | Token::SemiColon => {
                    return Err(SqlError::Parse("expected SET key = value".into()));
                }
                other => key.push_str(&other.to_string()),
            }
        }
        let mut value = String::new();
        while !matches!(self.p.peek_token().token, Token::EOF | Token::SemiColon) {
            match self.p.next_token().token {
                Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => value.push_str(&s),
                other => value.push_str(&other.to_string()),
            }
        }
        Ok(Statement::Set { key: key.trim().to_string(), value: value.trim().to_string(), echo: self.spark })
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}...", s.chars().take(n).collect::<String>()) }
}

impl TarnParser<'_> {
    /// `ALTER SHARE s ADD [TABLE] t [COMMENT '..'] [PARTITION (c = v, ...)] [AS schema.name]
    /// [WITH | WITHOUT HISTORY]` or `ALTER SHARE s REMOVE [TABLE] t`.
    fn parse_alter_share(&mut self) -> Result<Statement> {
        let share = self.ident()?;
        if self.word("REMOVE") {
            self.word("TABLE");
            return Ok(Statement::AlterShareRemove { share, table: self.object_name()? });
        }
        if !self.word("ADD") {
            return Err(self.unexpected("ADD TABLE or REMOVE TABLE after ALTER SHARE name"));
        }
        self.word("TABLE");
        let mut add = ShareTable { share, table: self.object_name()?, alias: None, history: false, partitions: Vec::new(), comment: None };
        loop {
            if self.word("COMMENT") {
                add.comment = Some(self.string()?);
            } else if self.word("AS") {
                add.alias = Some(self.object_name()?);
            } else if self.words(&["WITH", "HISTORY"]) {
                add.history = true;
            } else if self.words(&["WITHOUT", "HISTORY"]) {
                add.history = false;
            } else if self.word("PARTITION") {
                add.partitions.extend(self.partition_spec()?);
            } else {
                break;
            }
        }
        Ok(Statement::AlterShareAdd(Box::new(add)))
    }

    /// After `PARTITION`: `(column = literal, ..)`, each value as its text.
    fn partition_spec(&mut self) -> Result<Vec<(Ident, String)>> {
        self.expect_token(&Token::LParen)?;
        let mut values = Vec::new();
        loop {
            let column = self.ident()?;
            self.expect_token(&Token::Eq)?;
            let token = self.p.next_token();
            let value = match token.token {
                Token::SingleQuotedString(s) => s,
                Token::Number(n, _) => n,
                other => {
                    return Err(SqlError::Parse(format!(
                        "expected a literal partition value after '{column} =', found '{other}' at {}",
                        super::place(token.span.start)
                    )));
                }
            };
            values.push((column, value));
            if !self.p.consume_token(&Token::Comma) {
                break;
            }
        }
        self.expect_token(&Token::RParen)?;
        Ok(values)
    }

    /// `n SECONDS | MINUTES | HOURS | DAYS` as seconds.
    fn duration_seconds(&mut self) -> Result<i64> {
        let token = self.p.next_token();
        let n: i64 = match &token.token {
            Token::Number(n, _) => n.parse().map_err(|_| SqlError::Parse(format!("'{n}' is not a whole number")))?,
            other => {
                return Err(SqlError::Parse(format!("expected a number, found '{other}' at {}", super::place(token.span.start))));
            }
        };
        let unit = self.peek_word_at(0).unwrap_or_default();
        let scale = match unit.trim_end_matches('S') {
            "SECOND" => 1,
            "MINUTE" => 60,
            "HOUR" => 3600,
            "DAY" => 86_400,
            _ => return Err(self.unexpected("SECONDS, MINUTES, HOURS or DAYS")),
        };
        self.p.next_token();
        n.checked_mul(scale).ok_or_else(|| SqlError::Parse(format!("{n} {unit} is too long")))
    }
}
