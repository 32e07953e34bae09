use super::*;
use crate::ast::*;

fn one(sql: &str) -> Statement {
    let mut all = parse_sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(all.len(), 1, "{sql}");
    all.remove(0)
}

#[test]
fn create_table_with_every_clause() {
    let Statement::CreateTable(t) = one("CREATE TABLE IF NOT EXISTS s.t (id BIGINT NOT NULL COMMENT 'key', name STRING) USING DELTA \
         PARTITIONED BY (name) LOCATION '/tmp/x' COMMENT 'c' TBLPROPERTIES ('delta.appendOnly' = 'true', a.b = 1)")
    else {
        panic!("not a create table")
    };
    assert!(t.if_not_exists);
    assert_eq!(t.columns.len(), 2);
    assert!(t.columns[0].not_null);
    assert_eq!(t.columns[0].comment.as_deref(), Some("key"));
    assert_eq!(t.partitioned_by[0].value, "name");
    assert_eq!(t.location.as_deref(), Some("/tmp/x"));
    assert_eq!(t.properties, vec![("delta.appendOnly".into(), "true".into()), ("a.b".into(), "1".into())]);
}

#[test]
fn ctas_and_clone() {
    assert!(matches!(one("CREATE OR REPLACE TABLE t AS SELECT 1 AS a"), Statement::CreateTable(t) if t.or_replace && t.query.is_some()));
    let Statement::CreateClone(c) = one("CREATE TABLE t2 SHALLOW CLONE t1 VERSION AS OF 3") else { panic!("not a clone") };
    assert_eq!(c.depth, CloneDepth::Shallow);
    assert!(matches!(c.source_version, Some(VersionSpec::Version(_))));
}

#[test]
fn merge_with_all_clause_kinds() {
    let Statement::Merge(m) = one("MERGE INTO t AS tgt USING (SELECT * FROM s) src ON tgt.id = src.id \
         WHEN MATCHED AND src.op = 'd' THEN DELETE \
         WHEN MATCHED THEN UPDATE SET * \
         WHEN NOT MATCHED THEN INSERT * \
         WHEN NOT MATCHED BY SOURCE THEN UPDATE SET tgt.flag = true")
    else {
        panic!("not a merge")
    };
    assert_eq!(m.target_alias.as_ref().map(|a| a.value.as_str()), Some("tgt"));
    assert_eq!(m.clauses.len(), 4);
    assert!(matches!(m.clauses[3], MergeClause::NotMatchedBySource { action: MatchedAction::Update(_), .. }));
}

#[test]
fn maintenance_statements() {
    assert!(matches!(one("VACUUM t RETAIN 0 HOURS DRY RUN"), Statement::Vacuum { retain_hours: Some(h), dry_run: true, .. } if h == 0.0));
    assert!(
        matches!(one("OPTIMIZE t WHERE p = 1 ZORDER BY (a, b)"), Statement::Optimize { zorder_by, predicate: Some(_), .. } if zorder_by.len() == 2)
    );
    assert!(matches!(one("RESTORE TABLE t TO TIMESTAMP AS OF '2024-01-01'"), Statement::Restore { to: VersionSpec::Timestamp(_), .. }));
    assert!(matches!(one("DESCRIBE HISTORY t LIMIT 2"), Statement::DescribeHistory { limit: Some(2), .. }));
}

#[test]
fn insert_forms() {
    assert!(matches!(one("INSERT INTO t (a, b) VALUES (1, 2)"), Statement::Insert(i) if i.columns.len() == 2));
    assert!(matches!(one("INSERT INTO t (SELECT 1)"), Statement::Insert(i) if i.columns.is_empty()));
    assert!(matches!(one("INSERT OVERWRITE TABLE t SELECT 1"), Statement::Insert(i) if i.overwrite));
    assert!(matches!(one("INSERT INTO t REPLACE WHERE d = 1 SELECT 1"), Statement::Insert(i) if i.replace_where.is_some()));
}

#[test]
fn scripts_split_on_semicolons() {
    assert_eq!(parse_sql("SELECT 1; ; SELECT 2;").expect("parses").len(), 2);
    assert_eq!(split_statements("SELECT ';'; SELECT 2"), vec!["SELECT ';'", "SELECT 2"]);
}

#[test]
fn syntax_errors_say_where() {
    let err = parse_sql("CREATE TABLE t (a INT").expect_err("unterminated");
    assert!(err.to_string().starts_with("syntax error"), "{err}");
    assert!(
        matches!(one("CREATE VIEW s.v (a COMMENT 'x') COMMENT 'y' AS SELECT 1"), Statement::CreateView { columns, comment: Some(_), .. } if columns.len() == 1)
    );
    assert!(matches!(one("CREATE OR REPLACE TEMP VIEW v AS VALUES (1) AS t(a)"), Statement::CreateTempView { or_replace: true, .. }));
    assert!(matches!(
        one("CREATE VIEW v (a) WITH SCHEMA TYPE EVOLUTION DEFAULT COLLATION UTF8_LCASE AS SELECT 1"),
        Statement::CreateView { schema_mode: Some(ViewSchemaMode::TypeEvolution), default_collation: Some(c), .. } if c == "UTF8_LCASE"
    ));
    assert!(matches!(one("ALTER VIEW v WITH SCHEMA BINDING"), Statement::AlterViewSchemaMode { mode: ViewSchemaMode::Binding, .. }));
    let err = parse_sql("CREATE VIEW v WITH SCHEMA LOOSE AS SELECT 1").expect_err("no such mode");
    assert!(err.to_string().contains("TYPE EVOLUTION"), "{err}");
    let err = parse_sql("CREATE TEMPORARY VIEW s.v AS SELECT 1").expect_err("a temporary view has one part");
    assert!(err.to_string().starts_with("syntax error"), "{err}");
    let err = parse_sql("CREATE FUNCTION f() RETURN 1").expect_err("a function declares what it returns");
    assert!(err.to_string().contains("RETURNS"), "{err}");
    let err = parse_sql("CREATE PROCEDURE p() AS SELECT 1").expect_err("procedures");
    assert!(err.to_string().contains("CATALOG, SCHEMA, TABLE, VIEW, FUNCTION, USER, SHARE or RECIPIENT"), "{err}");
    let err = parse_sql("COMMIT").expect_err("transactions");
    assert!(err.to_string().contains("not supported"), "{err}");
}

#[test]
fn sharing_statements_parse() {
    use crate::ast::Statement as S;
    let parsed = parse_sql(
        "ALTER SHARE s ADD TABLE main.sales.orders COMMENT 'c' PARTITION (region = 'eu', year = 2024) AS shop.orders WITH HISTORY",
    )
    .expect("parses");
    let S::AlterShareAdd(add) = &parsed[0] else { panic!("{parsed:?}") };
    assert_eq!(add.table.to_string(), "main.sales.orders");
    assert_eq!(add.alias.as_ref().map(|a| a.to_string()).as_deref(), Some("shop.orders"));
    assert!(add.history);
    let partitions: Vec<(String, String)> = add.partitions.iter().map(|(c, v)| (c.value.clone(), v.clone())).collect();
    assert_eq!(partitions, vec![("region".into(), "eu".into()), ("year".into(), "2024".into())]);
    assert_eq!(add.comment.as_deref(), Some("c"));

    let parsed = parse_sql("ALTER RECIPIENT r ROTATE TOKEN EXPIRE EXISTING TOKENS IN 2 HOURS EXPIRES IN 30 DAYS").expect("parses");
    assert!(matches!(&parsed[0], S::RotateRecipientToken { expire_existing_in: Some(7200), expires_in: Some(2_592_000), .. }));
    let parsed = parse_sql("REVOKE SELECT ON SHARE s FROM RECIPIENT r; SHOW GRANTS TO RECIPIENT r; SHOW ALL IN SHARE s").expect("parses");
    assert!(matches!(&parsed[0], S::GrantShare { grant: false, .. }));
    assert!(matches!(&parsed[1], S::ShowShareGrants { share: None, recipient: Some(_) }));
    assert!(matches!(&parsed[2], S::ShowAllInShare { .. }));
    let err = parse_sql("GRANT SELECT ON SHARE s TO r").expect_err("RECIPIENT keyword");
    assert!(err.to_string().contains("expected RECIPIENT"), "{err}");
    let err = parse_sql("ALTER SHARE s RENAME TO t").expect_err("unknown action");
    assert!(err.to_string().contains("ADD TABLE or REMOVE TABLE"), "{err}");
}

#[test]
fn table_queries_and_pipe_set_operators() {
    let query = |sql: &str| match one(sql) {
        Statement::Query(q) => q.to_string(),
        _ => panic!("{sql}: not a query"),
    };
    assert_eq!(query("TABLE t"), "SELECT * FROM t");
    assert_eq!(query("TABLE `c`.s.t |> WHERE a = 1"), "SELECT * FROM `c`.s.t |> WHERE a = 1");
    assert_eq!(query("SELECT 1 UNION ALL TABLE t"), "SELECT 1 UNION ALL SELECT * FROM t");
    assert_eq!(query("TABLE t |> UNION ALL TABLE u |> WHERE a = 1"), "SELECT * FROM t |> UNION ALL (SELECT * FROM u) |> WHERE a = 1");
    assert_eq!(query("TABLE t |> MINUS SELECT 1"), "SELECT * FROM t |> EXCEPT DISTINCT (SELECT 1)");
    // TABLE elsewhere keeps its meaning.
    assert_eq!(query("SELECT 1 AS table"), "SELECT 1 AS table");
    assert_eq!(query("WITH x AS (TABLE t) SELECT * FROM x"), "WITH x AS (SELECT * FROM t) SELECT * FROM x");
    assert!(matches!(one("CREATE TABLE x (table INT)"), Statement::CreateTable(_)));
    assert!(matches!(one("DROP TABLE x"), Statement::DropTable { .. }));
}

#[test]
fn values_rows_of_one_value_need_no_parentheses() {
    let query = |sql: &str| match one(sql) {
        Statement::Query(q) => q.to_string(),
        _ => panic!("{sql}: not a query"),
    };
    assert_eq!(query("SELECT * FROM (VALUES 1, 2) AS v(a)"), "SELECT * FROM (VALUES (1), (2)) AS v (a)");
    assert_eq!(query("SELECT * FROM VALUES 1 t(a)"), "SELECT * FROM (VALUES (1)) t (a)");
    assert_eq!(
        query("SELECT * FROM VALUES array(1, 2), map('a', 1) AS t(x)"),
        "SELECT * FROM (VALUES (array(1, 2)), (map('a', 1))) AS t (x)"
    );
    assert_eq!(query("VALUES (1, 2), (3, 4)"), "VALUES (1, 2), (3, 4)");
}

#[test]
fn create_function_reads_spark_definitions() {
    let Statement::CreateFunction(f) = one(
        "CREATE OR REPLACE FUNCTION s.f(a INT, b STRING DEFAULT 'x' COMMENT 'b') RETURNS INT COMMENT 'c' LANGUAGE SQL DETERMINISTIC RETURN a + 1",
    ) else {
        panic!("not a function")
    };
    assert!(f.or_replace && !f.temporary && f.params.len() == 2 && f.params[1].default.is_some());
    assert!(matches!(f.body, FunctionBody::Expr(_)));
    let Statement::CreateFunction(t) = one("CREATE TEMPORARY FUNCTION t(x INT) RETURNS TABLE (a INT, b STRING) RETURN SELECT x, 'y'")
    else {
        panic!("not a function")
    };
    assert!(t.temporary && matches!(&t.returns, FunctionReturnSpec::Table(c) if c.len() == 2) && matches!(t.body, FunctionBody::Query(_)));
    assert!(parse_sql("CREATE FUNCTION f(a INT NOT NULL) RETURNS INT RETURN a").is_err());
    assert!(matches!(one("DROP TEMPORARY FUNCTION IF EXISTS t"), Statement::DropFunction { temporary: true, if_exists: true, .. }));
    assert!(matches!(one("SHOW USER FUNCTIONS LIKE 'f*'"), Statement::ShowFunctions { scope: FunctionScope::User, .. }));
    assert!(matches!(one("DESCRIBE FUNCTION EXTENDED f"), Statement::DescribeFunction { extended: true, .. }));
}
