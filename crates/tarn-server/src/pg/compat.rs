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
