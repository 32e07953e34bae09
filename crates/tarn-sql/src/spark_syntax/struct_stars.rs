//! `SELECT s.*` where `s` names no relation of the SELECT's FROM: Spark reads it as the fields
//! of a struct column `s` (`payload.*`, `t.payload.*`, `payload.inner.* EXCEPT (x)`).
//! DataFusion reads every `x.*` as a table's columns ("Invalid qualifier"), so such an item is
//! written as a call of `tarn_engine::spark::struct_wildcards::MARKER` — the struct, then the
//! fields left out — which the engine expands into the struct's fields once types are known.
//!
//! A qualifier that names a relation (its alias, or the table's name or a suffix of it, in any
//! case) keeps its meaning as a table's columns, as in Spark, which tries a table first.

use sqlparser::ast::{Expr, Ident, ObjectNamePart, Select, SelectItem, SelectItemQualifiedWildcardKind, TableFactor};

use super::functions::{call, text};
use crate::error::Result;
use tarn_engine::spark::struct_wildcards::MARKER;

/// Each name a relation of FROM can be qualified by, as its parts.
fn relation_names(factor: &TableFactor, names: &mut Vec<Vec<Ident>>) {
    let alias = match factor {
        TableFactor::Table { alias, .. }
        | TableFactor::Derived { alias, .. }
        | TableFactor::TableFunction { alias, .. }
        | TableFactor::Function { alias, .. }
        | TableFactor::UNNEST { alias, .. }
        | TableFactor::JsonTable { alias, .. }
        | TableFactor::OpenJsonTable { alias, .. }
        | TableFactor::NestedJoin { alias, .. }
        | TableFactor::Pivot { alias, .. }
        | TableFactor::Unpivot { alias, .. }
        | TableFactor::MatchRecognize { alias, .. }
        | TableFactor::XmlTable { alias, .. }
        | TableFactor::SemanticView { alias, .. } => alias,
    };
    if let Some(alias) = alias {
        names.push(vec![alias.name.clone()]);
    }
    match factor {
        TableFactor::Table { name, alias: None, .. } => {
            names.push(name.0.iter().filter_map(ObjectNamePart::as_ident).cloned().collect());
        }
        TableFactor::NestedJoin { table_with_joins, .. } => {
            relation_names(&table_with_joins.relation, names);
            for join in &table_with_joins.joins {
                relation_names(&join.relation, names);
            }
        }
        TableFactor::Pivot { table, alias: None, .. } | TableFactor::Unpivot { table, alias: None, .. } => relation_names(table, names),
        _ => {}
    }
}

/// Whether `qualifier` names one of the relations: one of the two ends the other (`t` for
/// `db.t`, and `db.t` or `main.db.t` for a table written `t`), compared without case.
fn names_a_relation(qualifier: &[Ident], relations: &[Vec<Ident>]) -> bool {
    let ends_with = |long: &[Ident], short: &[Ident]| {
        short.len() <= long.len()
            && short.iter().zip(&long[long.len() - short.len()..]).all(|(a, b)| a.value.eq_ignore_ascii_case(&b.value))
    };
    relations.iter().any(|name| ends_with(name, qualifier) || ends_with(qualifier, name))
}

/// Rewrites the `s.*` items of one SELECT whose `s` is not a relation.
pub(super) fn rewrite(select: &mut Select) -> Result<()> {
    let has_qualified_star = select.projection.iter().any(|item| matches!(item, SelectItem::QualifiedWildcard(..)));
    if !has_qualified_star {
        return Ok(());
    }
    let mut relations = Vec::new();
    for table in &select.from {
        relation_names(&table.relation, &mut relations);
        for join in &table.joins {
            relation_names(&join.relation, &mut relations);
        }
    }
    for item in select.projection.iter_mut() {
        let SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), options) = item else { continue };
        let Some(parts) = name.0.iter().map(|p| p.as_ident().cloned()).collect::<Option<Vec<Ident>>>() else { continue };
        if parts.is_empty() || names_a_relation(&parts, &relations) {
            continue;
        }
        // Only EXCEPT is Spark's; other options stay DataFusion's to refuse.
        if options.opt_ilike.is_some()
            || options.opt_exclude.is_some()
            || options.opt_replace.is_some()
            || options.opt_rename.is_some()
            || options.opt_alias.is_some()
        {
            continue;
        }
        let value = match parts.as_slice() {
            [one] => Expr::Identifier(one.clone()),
            _ => Expr::CompoundIdentifier(parts.clone()),
        };
        let mut args = vec![value];
        if let Some(except) = &options.opt_except {
            args.push(text(&except.first_element.value));
            args.extend(except.additional_elements.iter().map(|i| text(&i.value)));
        }
        *item = SelectItem::UnnamedExpr(call(MARKER, args));
    }
    Ok(())
}
