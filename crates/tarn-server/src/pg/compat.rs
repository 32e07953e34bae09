//! Fragments of real clients' catalog queries that DataFusion cannot plan, replaced by
//! equivalents it can (in addition to `datafusion-pg-catalog`'s own list). Matching ignores
//! whitespace differences; a query without a known fragment is left exactly as sent.

/// (fragment as the client sends it, replacement)
const REPLACEMENTS: &[(&str, &str)] = &[
    // psql `\d+`: table options plus TOAST options. pg_class has no reloptions (Tarn tables
    // have no storage options) and
    // DataFusion has no ARRAY(subquery) constructor.
    (
        "pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ')",
        "''",
    ),
    // pgjdbc's getPrimaryKeys (DBeaver, DataGrip, Metabase): index keys expanded with
    // information_schema._pg_expandarray, a set-returning function read through composite
    // field access. Tarn tables have no indexes (pg_index is empty), so the join it feeds has
    // no rows either way; plain columns keep the query's shape.
    ("(information_schema._pg_expandarray(i.indkey)).n", "CAST(NULL AS INT)"),
    ("information_schema._pg_expandarray(i.indkey)", "CAST(NULL AS INT)"),
    ("(result.KEYS).x", "result.KEYS"),
    // pgjdbc's getIndexInfo: pg_index.indoption is an int2vector (text here) it subscripts;
    // as a typed empty array the (index-less, so row-less) query plans.
    ("i.indoption AS I_INDOPTION", "CAST(NULL AS SMALLINT[]) AS I_INDOPTION"),
    // pgjdbc's getImportedKeys / getExportedKeys / getCrossReference: foreign-key columns by
    // subscripting pg_constraint's int2vectors. Tarn has no foreign keys (the query keeps
    // only contype = 'f'), so typed NULLs give the same empty answer.
    ("pka.attnum = con.confkey[pos.n]", "pka.attnum = CAST(NULL AS SMALLINT)"),
    ("fka.attnum = con.conkey[pos.n]", "fka.attnum = CAST(NULL AS SMALLINT)"),
    // pgjdbc's getTypeInfo: a correlated scalar subquery DataFusion only plans when
    // aggregated; as EXISTS it is the same filter (a WHERE treats NULL as false).
    (
        "(SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid)",
        "EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c')",
    ),
    // pgjdbc's type lookups (and DBeaver's): pg_type.typinput holds function names here, not
    // regproc oids, so compare names.
    ("typinput='pg_catalog.array_in'::regproc", "typinput='array_in'"),
    ("typinput = 'pg_catalog.array_in'::regproc", "typinput = 'array_in'"),
];

fn collapse(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `sql` with known unplannable fragments replaced.
pub(crate) fn rewrite(sql: &str) -> std::borrow::Cow<'_, str> {
    let collapsed = collapse(sql);
    let mut out = collapsed.clone();
    for (from, to) in REPLACEMENTS {
        out = out.replace(&collapse(from), to);
    }
    if out == collapsed { std::borrow::Cow::Borrowed(sql) } else { std::borrow::Cow::Owned(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_known_fragments_only() {
        let psql = "SELECT c.relchecks, pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x\n from pg_catalog.unnest(tc.reloptions) x), ', ')\nFROM pg_catalog.pg_class c";
        assert_eq!(
            rewrite(psql),
            "SELECT c.relchecks, '' FROM pg_catalog.pg_class c"
        );
        let user = "SELECT  'two  spaces'";
        assert_eq!(rewrite(user), user);
    }
}
