//! The analyzer rule that gives collated strings their meaning in a plan.
//!
//! Each expression's collation is resolved with Spark's precedence ([`collation_of`]): a
//! `COLLATE` is explicit, a column's collation (binary when it has none) implicit, a literal's
//! the default. Explicit beats implicit beats default; two different explicit collations are
//! an error; two different implicit ones make the result indeterminate, an error only where
//! the collation matters (Spark's `INDETERMINATE_COLLATION_IN_EXPRESSION`).
//!
//! Where the resolved collation is not binary, what compares is rewritten onto keys
//! ([`super::key`]): comparisons, `IN`, `BETWEEN`, joins' equality keys, `GROUP BY` (the group's
//! first value is what it shows, as Spark), `DISTINCT`, `ORDER BY`, window partitions and
//! orders, `count(DISTINCT ..)`, `min` / `max`. Functions that search strings take Tarn's
//! collation-aware versions ([`super::functions`]). Anything else that would compare collated
//! strings is refused with an error naming it — never answered as if the strings were binary.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::metadata::FieldMetadata;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, Result, ScalarValue, plan_err};
use datafusion::logical_expr::expr::{AggregateFunction, Alias, BinaryExpr, InList, Like, ScalarFunction, Sort, WindowFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    Aggregate, Between, Distinct, Expr, ExprSchemable, Join, LogicalPlan, LogicalPlanBuilder, Operator, Projection, Union, lit,
};
use datafusion::optimizer::AnalyzerRule;

use super::key::{COLLATE, COLLATION_KEY, key_expr};
use super::{Collation, METADATA_KEY, is_string};
use crate::spark::char_varchar::is_comparison;

/// How strongly an expression holds its collation (Spark's collation strength).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    Default,
    Implicit,
    Explicit,
}

/// An expression's resolved collation; `None` is indeterminate (two implicit ones met).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    collation: Option<Collation>,
    strength: Strength,
}

impl Resolved {
    const DEFAULT: Resolved = Resolved { collation: Some(Collation::BINARY), strength: Strength::Default };

    fn implicit(collation: Option<Collation>) -> Resolved {
        Resolved { collation: Some(collation.unwrap_or(Collation::BINARY)), strength: Strength::Implicit }
    }

    /// Binary: nothing to rewrite.
    fn is_binary(&self) -> bool {
        self.collation.as_ref().is_some_and(Collation::is_binary)
    }
}

/// The collation an operation on these inputs uses (Spark's `CollationTypeCoercion`).
fn combine(inputs: &[Resolved], what: &dyn Fn() -> String) -> Result<Resolved> {
    let strongest = inputs.iter().map(|r| r.strength).max().unwrap_or(Strength::Default);
    // Among defaults, a view's DEFAULT COLLATION (on its literals) is what Spark gives every
    // default-collated string in the view; the binary default is only the absence of one.
    let defaulted = strongest == Strength::Default && inputs.iter().any(|r| !r.is_binary());
    let mut chosen: Option<&Resolved> = None;
    for input in inputs.iter().filter(|r| r.strength == strongest && !(defaulted && r.is_binary())) {
        match chosen {
            None => chosen = Some(input),
            Some(first) if first.collation == input.collation => {}
            Some(first) => {
                if strongest == Strength::Explicit {
                    let name = |r: &Resolved| r.collation.as_ref().map_or("null".to_string(), Collation::name);
                    return plan_err!(
                        "[COLLATION_MISMATCH.EXPLICIT] Could not determine which collation to use for {}: explicit \
                         collations {} and {} differ; COLLATE one side to the other's collation",
                        what(),
                        name(first),
                        name(input)
                    );
                }
                return Ok(Resolved { collation: None, strength: Strength::Implicit });
            }
        }
    }
    Ok(chosen.cloned().unwrap_or(Resolved::DEFAULT))
}

/// The collation `name` of a `collate(.., 'name')` call.
fn collate_argument(args: &[Expr]) -> Result<Collation> {
    let value = match args.get(1) {
        Some(Expr::Literal(value, _)) => Some(value),
        _ => None,
    };
    match super::key::constant_name(value) {
        Some(name) => Collation::parse(name).or_else(|e| plan_err!("{e}")),
        None => plan_err!("COLLATE takes a collation name, e.g. 'a' COLLATE UTF8_LCASE"),
    }
}

fn string_typed(expr: &Expr, schema: &DFSchema) -> bool {
    expr.get_type(schema).is_ok_and(|t| is_string(&t))
}

/// The collation of a string-typed expression; `None` for other types.
pub(crate) fn collation_of(expr: &Expr, schema: &DFSchema) -> Result<Option<Resolved>> {
    if !string_typed(expr, schema) {
        return Ok(None);
    }
    let field_collation = || expr.to_field(schema).ok().and_then(|(_, f)| Collation::of_field(&f));
    Ok(Some(match expr {
        Expr::Column(_) | Expr::OuterReferenceColumn(..) | Expr::ScalarSubquery(_) => {
            if expr.to_field(schema).is_ok_and(|(_, f)| Collation::indeterminate_field(&f)) {
                Resolved { collation: None, strength: Strength::Implicit }
            } else {
                Resolved::implicit(field_collation())
            }
        }
        Expr::Literal(..) | Expr::Placeholder(_) | Expr::ScalarVariable(..) => Resolved::DEFAULT,
        Expr::Alias(Alias { expr, .. }) => return collation_of(expr, schema),
        Expr::Cast(c) => return Ok(collation_of(&c.expr, schema)?.or(Some(Resolved::DEFAULT))),
        Expr::TryCast(c) => return Ok(collation_of(&c.expr, schema)?.or(Some(Resolved::DEFAULT))),
        Expr::ScalarFunction(f) if f.name() == COLLATE => {
            // A third argument: a view's DEFAULT COLLATION on a literal, as weak as a literal.
            let strength = if f.args.len() == 3 { Strength::Default } else { Strength::Explicit };
            Resolved { collation: Some(collate_argument(&f.args)?), strength }
        }
        Expr::ScalarFunction(f) if f.name() == COLLATION_KEY => Resolved::DEFAULT,
        Expr::ScalarFunction(f) => combined(&f.args, schema, &|| f.name().to_string())?,
        Expr::AggregateFunction(f) => combined(&f.params.args, schema, &|| f.func.name().to_string())?,
        Expr::WindowFunction(f) => combined(&f.params.args, schema, &|| f.fun.name().to_string())?,
        Expr::Case(case) => {
            let branches: Vec<Expr> =
                case.when_then_expr.iter().map(|(_, t)| t.as_ref().clone()).chain(case.else_expr.as_deref().cloned()).collect();
            combined(&branches, schema, &|| "CASE".to_string())?
        }
        Expr::BinaryExpr(b) => combined(&[b.left.as_ref().clone(), b.right.as_ref().clone()], schema, &|| b.op.to_string())?,
        _ => match field_collation() {
            Some(c) => Resolved::implicit(Some(c)),
            None => Resolved::DEFAULT,
        },
    }))
}

/// The collation of an array's string elements: an array built from collated strings, or a
/// column whose element field carries one. `None` when there is none to know of.
fn element_collation(expr: &Expr, schema: &DFSchema) -> Result<Option<Resolved>> {
    use datafusion::arrow::datatypes::DataType;
    let Ok(data_type) = expr.get_type(schema) else { return Ok(None) };
    let element = match &data_type {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => f,
        _ => return Ok(None),
    };
    if !is_string(element.data_type()) {
        return Ok(None);
    }
    Ok(match expr {
        Expr::ScalarFunction(f) if matches!(f.name(), "make_array" | "array") => Some(combined(&f.args, schema, &|| "array".to_string())?),
        Expr::Alias(a) => element_collation(&a.expr, schema)?,
        Expr::Cast(c) => element_collation(&c.expr, schema)?,
        _ => Collation::of_field(element).map(|c| Resolved::implicit(Some(c))),
    })
}

/// The first argument that is an array of strings compared under a collation that is not binary.
fn collated_array_argument(args: &[Expr], schema: &DFSchema) -> Result<Option<Resolved>> {
    for arg in args {
        if let Some(resolved) = element_collation(arg, schema)?
            && !resolved.is_binary()
        {
            return Ok(Some(resolved));
        }
    }
    Ok(None)
}

/// The combined collation of the string-typed expressions among `args`.
fn combined(args: &[Expr], schema: &DFSchema, what: &dyn Fn() -> String) -> Result<Resolved> {
    let resolved: Vec<Resolved> = args.iter().map(|a| collation_of(a, schema)).collect::<Result<Vec<_>>>()?.into_iter().flatten().collect();
    combine(&resolved, what)
}

/// The collation to compare under; `None` when it is binary (nothing to do).
fn comparing(args: &[&Expr], schema: &DFSchema, what: &dyn Fn() -> String) -> Result<Option<Collation>> {
    let owned: Vec<Expr> = args.iter().map(|e| (*e).clone()).collect();
    let resolved = combined(&owned, schema, what)?;
    match resolved.collation {
        None => plan_err!(
            "[INDETERMINATE_COLLATION_IN_EXPRESSION] {} compares strings of different implicit collations; \
             COLLATE one of them to choose",
            what()
        ),
        Some(c) if c.is_binary() => Ok(None),
        Some(c) => Ok(Some(c)),
    }
}

fn keyed(expr: &Expr, collation: &Collation) -> Expr {
    key_expr(expr.clone(), collation)
}

/// Functions whose answer does not depend on how strings compare; a string result keeps its
/// inputs' collation.
const COLLATION_FREE: &[&str] = &[
    "upper",
    "lower",
    "ucase",
    "lcase",
    "initcap",
    "length",
    "len",
    "char_length",
    "character_length",
    "octet_length",
    "bit_length",
    "levenshtein",
    "substr",
    "substring",
    "left",
    "right",
    "concat",
    "concat_ws",
    "repeat",
    "reverse",
    "ascii",
    "chr",
    "char",
    "base64",
    "unbase64",
    "encode",
    "decode",
    "to_binary",
    "md5",
    "sha",
    "sha1",
    "sha2",
    "crc32",
    "lpad",
    "rpad",
    "soundex",
    "overlay",
    "format_string",
    "printf",
    "elt",
    "coalesce",
    "nvl",
    "nvl2",
    "ifnull",
    "is_valid_utf8",
    "make_valid_utf8",
    "validate_utf8",
    "try_validate_utf8",
    "sentences",
    "space",
    "hex",
    "typeof",
    "collate",
    "collation",
    "collation_key",
    "get_field",
    "named_struct",
    "struct",
    "array",
    "make_array",
    "to_date",
    "to_timestamp",
    "try_to_timestamp",
    "date_format",
    "to_char",
    "format_number",
    "cast",
    "try_cast",
    "char_varchar_write",
    "not_null_write",
    "nullable",
    "isnull",
    "isnotnull",
    "nullifzero",
    "btrim_default",
    "quote",
    "luhn_check",
    "bin",
    "string",
    "spark_cast",
    "to_json",
    "if",
];

/// Aggregates whose answer does not depend on how strings compare.
const COLLATION_FREE_AGGREGATES: &[&str] = &[
    "count",
    "first_value",
    "last_value",
    "first",
    "last",
    "any_value",
    "array_agg",
    "collect_list",
    "string_agg",
    "listagg",
    "approx_count_distinct",
];

fn refuse(what: &str, collation: &Option<Collation>) -> Result<Transformed<Expr>> {
    let name = collation.as_ref().map_or("an indeterminate collation".to_string(), |c| format!("collation {}", c.name()));
    plan_err!("{what} on strings with {name} is not supported yet; COLLATE the strings UTF8_BINARY to compare them as bytes")
}

/// Rewrites one expression (its children already rewritten) for its collation.
fn rewrite_expr(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    match &expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_comparison(op) => {
            if let Some(array) = collated_array_argument(&[left.as_ref().clone(), right.as_ref().clone()], schema)? {
                return refuse(&format!("{op} of arrays"), &array.collation);
            }
            if !string_typed(left, schema) || !string_typed(right, schema) {
                return Ok(Transformed::no(expr));
            }
            match comparing(&[left, right], schema, &|| format!("{expr}"))? {
                Some(c) => {
                    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(Box::new(keyed(left, &c)), *op, Box::new(keyed(right, &c))))))
                }
                None => Ok(Transformed::no(expr)),
            }
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if matches!(
                op,
                Operator::LikeMatch
                    | Operator::ILikeMatch
                    | Operator::NotLikeMatch
                    | Operator::NotILikeMatch
                    | Operator::RegexMatch
                    | Operator::RegexIMatch
                    | Operator::RegexNotMatch
                    | Operator::RegexNotIMatch
            ) =>
        {
            let resolved = combined(&[left.as_ref().clone(), right.as_ref().clone()], schema, &|| op.to_string())?;
            if resolved.is_binary() { Ok(Transformed::no(expr)) } else { refuse(&format!("{op}"), &resolved.collation) }
        }
        Expr::Like(Like { expr: value, pattern, .. }) | Expr::SimilarTo(Like { expr: value, pattern, .. }) => {
            let resolved = combined(&[value.as_ref().clone(), pattern.as_ref().clone()], schema, &|| "LIKE".to_string())?;
            if resolved.is_binary() { Ok(Transformed::no(expr)) } else { refuse("LIKE", &resolved.collation) }
        }
        Expr::InList(InList { expr: value, list, negated }) if string_typed(value, schema) => {
            let all: Vec<&Expr> = std::iter::once(value.as_ref()).chain(list.iter()).collect();
            match comparing(&all, schema, &|| "IN".to_string())? {
                Some(c) => Ok(Transformed::yes(Expr::InList(InList::new(
                    Box::new(keyed(value, &c)),
                    list.iter().map(|e| keyed(e, &c)).collect(),
                    *negated,
                )))),
                None => Ok(Transformed::no(expr)),
            }
        }
        Expr::Between(Between { expr: value, negated, low, high }) if string_typed(value, schema) => {
            match comparing(&[value, low, high], schema, &|| "BETWEEN".to_string())? {
                Some(c) => Ok(Transformed::yes(Expr::Between(Between::new(
                    Box::new(keyed(value, &c)),
                    *negated,
                    Box::new(keyed(low, &c)),
                    Box::new(keyed(high, &c)),
                )))),
                None => Ok(Transformed::no(expr)),
            }
        }
        Expr::InSubquery(s) if string_typed(&s.expr, schema) => {
            // `x IN (SELECT y ..)` compares x with each y: both sides go onto keys, the
            // subquery's column through a projection over it.
            let inner_plan = Arc::clone(&s.subquery.subquery);
            let Some((qualifier, field)) = inner_plan.schema().iter().next() else { return Ok(Transformed::no(expr)) };
            if !is_string(field.data_type()) {
                return Ok(Transformed::no(expr));
            }
            let inner = Resolved::implicit(Collation::of_field(field));
            let outer = collation_of(&s.expr, schema)?.unwrap_or(Resolved::DEFAULT);
            let resolved = combine(&[outer, inner], &|| "IN (subquery)".to_string())?;
            let collation = match resolved.collation {
                None => {
                    return plan_err!(
                        "[INDETERMINATE_COLLATION_IN_EXPRESSION] IN (subquery) compares strings of different implicit \
                         collations; COLLATE one of them to choose"
                    );
                }
                Some(c) if c.is_binary() => return Ok(Transformed::no(expr)),
                Some(c) => c,
            };
            let column = Expr::Column(Column::from((qualifier, field)));
            let keyed_plan =
                LogicalPlanBuilder::from(inner_plan).project(vec![keyed(&column, &collation).alias("__collation_key")])?.build()?;
            let mut subquery = s.subquery.clone();
            subquery.subquery = Arc::new(keyed_plan);
            Ok(Transformed::yes(Expr::InSubquery(datafusion::logical_expr::expr::InSubquery::new(
                Box::new(keyed(&s.expr, &collation)),
                subquery,
                s.negated,
            ))))
        }
        Expr::ScalarFunction(f) => rewrite_function(f, &expr, schema),
        Expr::AggregateFunction(f) => rewrite_aggregate(f, &expr, schema),
        Expr::WindowFunction(w) => rewrite_window(w, &expr, schema),
        _ => Ok(Transformed::no(expr)),
    }
}

fn rewrite_function(f: &ScalarFunction, expr: &Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let name = f.name();
    if name == "collation" {
        let resolved = match f.args.first() {
            Some(arg) => collation_of(arg, schema)?,
            None => None,
        };
        return match resolved {
            Some(Resolved { collation: Some(c), .. }) => Ok(Transformed::yes(lit(format!("SYSTEM.BUILTIN.{}", c.name())))),
            Some(Resolved { collation: None, .. }) => refuse("collation()", &None),
            None => plan_err!("collation() takes a string"),
        };
    }
    if !matches!(name, "make_array" | "array")
        && let Some(array) = collated_array_argument(&f.args, schema)?
    {
        return refuse(&format!("{name}() of an array"), &array.collation);
    }
    let strings: Vec<&Expr> = f.args.iter().filter(|a| string_typed(a, schema)).collect();
    if strings.is_empty() {
        return Ok(Transformed::no(expr.clone()));
    }
    // Collation-free functions keep their inputs' collation (resolved where it is used).
    if COLLATION_FREE.contains(&name) || (matches!(name, "trim" | "ltrim" | "rtrim" | "btrim") && f.args.len() == 1) {
        // Two different explicit collations are an error even here.
        combined(&f.args, schema, &|| format!("{expr}"))?;
        return Ok(Transformed::no(expr.clone()));
    }
    let resolved = combined(&f.args, schema, &|| format!("{expr}"))?;
    if resolved.is_binary() {
        return Ok(Transformed::no(expr.clone()));
    }
    if name == "nullif" && f.args.len() == 2 {
        let c = comparing(&[&f.args[0], &f.args[1]], schema, &|| "nullif".to_string())?;
        if let Some(c) = c {
            let equal = keyed(&f.args[0], &c).eq(keyed(&f.args[1], &c));
            let null = Expr::Literal(ScalarValue::try_from(f.args[0].get_type(schema)?)?, None);
            return Ok(Transformed::yes(datafusion::logical_expr::when(equal, null).otherwise(f.args[0].clone())?));
        }
    }
    match (&resolved.collation, super::functions::collation_aware(name)) {
        (Some(c), Some(aware)) if aware.supports(c) => Ok(Transformed::yes(aware.call(f.args.clone(), c))),
        (collation, _) => refuse(&format!("{name}()"), collation),
    }
}

fn rewrite_aggregate(f: &AggregateFunction, expr: &Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let name = f.func.name();
    let mut params = f.params.clone();
    let mut changed = false;
    for sort in params.order_by.iter_mut() {
        if let Some(c) = comparing(&[&sort.expr], schema, &|| format!("{name}(.. ORDER BY {})", sort.expr))? {
            sort.expr = keyed(&sort.expr, &c);
            changed = true;
        }
    }
    let strings: Vec<&Expr> = params.args.iter().filter(|a| string_typed(a, schema)).collect();
    if !strings.is_empty() {
        let resolved = combined(&params.args, schema, &|| name.to_string())?;
        if !resolved.is_binary() {
            let lowered = name.to_ascii_lowercase();
            match (lowered.as_str(), &resolved.collation) {
                ("count", Some(c)) if params.distinct => {
                    params.args = params.args.iter().map(|a| if string_typed(a, schema) { keyed(a, c) } else { a.clone() }).collect();
                    changed = true;
                }
                ("min" | "max", Some(c)) if params.args.len() == 1 => {
                    // The value whose key is the least (greatest); NULLs only when every value is.
                    let value = params.args[0].clone();
                    let order = Sort::new(keyed(&value, c), lowered == "min", false);
                    let first = datafusion::functions_aggregate::first_last::first_value_udaf();
                    let call = Expr::AggregateFunction(AggregateFunction::new_udf(
                        first,
                        vec![value],
                        false,
                        params.filter.clone(),
                        vec![order],
                        None,
                    ));
                    return Ok(Transformed::yes(call));
                }
                (_, _) if COLLATION_FREE_AGGREGATES.contains(&lowered.as_str()) && !params.distinct => {}
                (_, collation) => return refuse(&format!("{name}()"), collation),
            }
        }
    }
    if changed {
        Ok(Transformed::yes(Expr::AggregateFunction(AggregateFunction { func: Arc::clone(&f.func), params })))
    } else {
        Ok(Transformed::no(expr.clone()))
    }
}

fn rewrite_window(w: &WindowFunction, expr: &Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let mut w = w.clone();
    let mut changed = false;
    for p in w.params.partition_by.iter_mut() {
        if let Some(c) = comparing(&[p], schema, &|| format!("PARTITION BY {p}"))? {
            *p = keyed(p, &c);
            changed = true;
        }
    }
    for sort in w.params.order_by.iter_mut() {
        if let Some(c) = comparing(&[&sort.expr], schema, &|| format!("ORDER BY {}", sort.expr))? {
            sort.expr = keyed(&sort.expr, &c);
            changed = true;
        }
    }
    let name = w.fun.name().to_ascii_lowercase();
    let ranking = matches!(
        name.as_str(),
        "row_number" | "rank" | "dense_rank" | "percent_rank" | "cume_dist" | "ntile" | "lag" | "lead" | "nth_value"
    );
    if !ranking && !COLLATION_FREE_AGGREGATES.contains(&name.as_str()) {
        let resolved = combined(&w.params.args, schema, &|| name.clone())?;
        if !resolved.is_binary() {
            return refuse(&format!("{name}() OVER"), &resolved.collation);
        }
    }
    if changed { Ok(Transformed::yes(Expr::WindowFunction(Box::new(w)))) } else { Ok(Transformed::no(expr.clone())) }
}

/// Field metadata naming `collation`, for an alias that keeps a computed column's collation.
fn metadata_for(collation: &Collation, name: &str) -> FieldMetadata {
    FieldMetadata::from(BTreeMap::from([(METADATA_KEY.to_string(), collation.metadata_value(name))]))
}

/// `expr` (producing `field`) with its collation on its field, when the field lacks it; `None`
/// when nothing is to add.
fn tagged(expr: &Expr, field: &datafusion::arrow::datatypes::Field, input_schema: &DFSchema) -> Result<Option<Expr>> {
    let wanted = match collation_of(expr, input_schema)? {
        Some(Resolved { collation: Some(c), .. }) if !c.is_binary() => Some(c),
        Some(Resolved { collation: None, .. }) => None,
        _ => return Ok(None),
    };
    let present = if Collation::indeterminate_field(field) { None } else { Collation::of_field(field) };
    let indeterminate = wanted.is_none();
    if present == wanted && (!indeterminate || Collation::indeterminate_field(field)) {
        return Ok(None);
    }
    let (relation, name, inner) = match expr {
        Expr::Alias(a) => (a.relation.clone(), a.name.clone(), a.expr.as_ref().clone()),
        other => (None, field.name().clone(), other.clone()),
    };
    let metadata = match &wanted {
        Some(c) => metadata_for(c, &name),
        None => FieldMetadata::from(BTreeMap::from([(
            METADATA_KEY.to_string(),
            serde_json::json!({ name.as_str(): super::INDETERMINATE }).to_string(),
        )])),
    };
    Ok(Some(Expr::Alias(Alias::new(inner, relation, name).with_metadata(Some(metadata)))))
}

/// Computed string columns carry their collation on their field, so what reads them above (a
/// subquery's consumer, a HAVING over `max(l)`) compares as they would.
fn keep_collations(projection: Projection) -> Result<Transformed<LogicalPlan>> {
    let input_schema = Arc::clone(projection.input.schema());
    let mut changed = false;
    let mut exprs = Vec::with_capacity(projection.expr.len());
    for (expr, (_, field)) in projection.expr.into_iter().zip(projection.schema.iter()) {
        match tagged(&expr, field, &input_schema)? {
            Some(t) => {
                changed = true;
                exprs.push(t);
            }
            None => exprs.push(expr),
        }
    }
    if !changed {
        return Ok(Transformed::no(LogicalPlan::Projection(Projection::try_new_with_schema(exprs, projection.input, projection.schema)?)));
    }
    Ok(Transformed::yes(LogicalPlan::Projection(Projection::try_new(exprs, projection.input)?)))
}

/// An aggregate's results (`max(l)`, `first(l)`) carry their collation, as a projection's do.
fn keep_aggregate_collations(aggregate: Aggregate) -> Result<Transformed<Aggregate>> {
    let input_schema = Arc::clone(aggregate.input.schema());
    // Grouping sets add a grouping id column after the groups; the results come last.
    let groups_width = aggregate.schema.fields().len() - aggregate.aggr_expr.len();
    let mut changed = false;
    let mut aggr_expr = Vec::with_capacity(aggregate.aggr_expr.len());
    for (j, expr) in aggregate.aggr_expr.iter().enumerate() {
        let field = aggregate.schema.field(groups_width + j);
        match tagged(expr, field, &input_schema)? {
            Some(t) => {
                changed = true;
                aggr_expr.push(t);
            }
            None => aggr_expr.push(expr.clone()),
        }
    }
    if !changed {
        return Ok(Transformed::no(aggregate));
    }
    Ok(Transformed::yes(Aggregate::try_new(aggregate.input, aggregate.group_expr, aggr_expr)?))
}

/// `GROUP BY` a collated string groups on its key and shows the group's first value.
fn group_by_keys(aggregate: Aggregate) -> Result<Transformed<LogicalPlan>> {
    let input_schema = Arc::clone(aggregate.input.schema());
    let mut collated = Vec::new();
    for (i, g) in aggregate.group_expr.iter().enumerate() {
        if let Expr::GroupingSet(set) = g {
            for e in set.distinct_expr() {
                if comparing(&[e], &input_schema, &|| format!("GROUP BY {e}"))?.is_some() {
                    return plan_err!("GROUPING SETS / ROLLUP / CUBE on collated strings is not supported yet; COLLATE them UTF8_BINARY");
                }
            }
            continue;
        }
        if let Some(c) = comparing(&[g], &input_schema, &|| format!("GROUP BY {g}"))? {
            collated.push((i, c));
        }
    }
    if collated.is_empty() {
        return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
    }
    let original_schema = Arc::clone(&aggregate.schema);
    let groups = aggregate.group_expr.len();
    let mut group_expr = aggregate.group_expr.clone();
    let mut aggr_expr = aggregate.aggr_expr.clone();
    for (n, (i, c)) in collated.iter().enumerate() {
        let value = group_expr[*i].clone();
        let value = match value {
            Expr::Alias(a) => *a.expr,
            other => other,
        };
        group_expr[*i] = keyed(&value, c).alias(format!("__collation_key_{n}"));
        let first = datafusion::functions_aggregate::first_last::first_value_udaf();
        aggr_expr.push(
            Expr::AggregateFunction(AggregateFunction::new_udf(first, vec![value], false, None, vec![], None))
                .alias(format!("__collation_group_{n}")),
        );
    }
    let extra_from = aggregate.aggr_expr.len();
    let rewritten = LogicalPlan::Aggregate(Aggregate::try_new(aggregate.input, group_expr, aggr_expr)?);
    let new_schema = Arc::clone(rewritten.schema());
    let new_groups = new_schema.fields().len() - (extra_from + collated.len());
    if new_groups != groups {
        return plan_err!("GROUP BY on collated strings: unexpected grouping columns");
    }
    let mut projection = Vec::with_capacity(original_schema.fields().len());
    for (i, (qualifier, field)) in original_schema.iter().enumerate() {
        let source = if let Some(n) = collated.iter().position(|(g, _)| *g == i) { groups + extra_from + n } else { i };
        let (q, f) = new_schema.qualified_field(source);
        let mut out = Alias::new(Expr::Column(Column::from((q, f))), qualifier.cloned(), field.name());
        if let Some((_, c)) = collated.iter().find(|(g, _)| *g == i) {
            out = out.with_metadata(Some(metadata_for(c, field.name())));
        }
        projection.push(Expr::Alias(out));
    }
    Ok(Transformed::yes(LogicalPlanBuilder::from(rewritten).project(projection)?.build()?))
}

/// A join's equality keys compare under their collation.
fn join_keys(mut join: Join) -> Result<Transformed<LogicalPlan>> {
    let schema = merge_schema(&[join.left.as_ref(), join.right.as_ref()]);
    let mut changed = false;
    for (l, r) in join.on.iter_mut() {
        if !string_typed(l, &schema) {
            continue;
        }
        if let Some(c) = comparing(&[l, r], &schema, &|| format!("JOIN ON {l} = {r}"))? {
            *l = keyed(l, &c);
            *r = keyed(r, &c);
            changed = true;
        }
    }
    Ok(Transformed::new_transformed(LogicalPlan::Join(join), changed))
}

/// Every input of a UNION gives each column the same collation.
fn union_collations(union: &Union) -> Result<()> {
    let Some(first) = union.inputs.first() else { return Ok(()) };
    for input in &union.inputs[1..] {
        for (i, (a, b)) in first.schema().fields().iter().zip(input.schema().fields().iter()).enumerate() {
            let (x, y) = (Collation::of_field(a), Collation::of_field(b));
            if x != y && is_string(a.data_type()) && is_string(b.data_type()) {
                let name = |c: &Option<Collation>| format!("STRING COLLATE {}", c.as_ref().unwrap_or(&Collation::BINARY).name());
                return plan_err!(
                    "[INCOMPATIBLE_COLUMN_TYPE] column {} of a set operation is \"{}\" on one side and \"{}\" on the other; \
                     COLLATE both sides to one collation",
                    i + 1,
                    name(&x),
                    name(&y)
                );
            }
        }
    }
    Ok(())
}

fn rewrite_node(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    // DISTINCT is a grouping on every column.
    let node = match node {
        LogicalPlan::Distinct(Distinct::All(input)) if input.schema().fields().iter().any(|f| Collation::of_field(f).is_some()) => {
            let columns: Vec<Expr> = input.schema().columns().into_iter().map(Expr::Column).collect();
            LogicalPlanBuilder::from(input).aggregate(columns, Vec::<Expr>::new())?.build()?
        }
        LogicalPlan::Distinct(Distinct::On(ref on)) if on.input.schema().fields().iter().any(|f| Collation::of_field(f).is_some()) => {
            return plan_err!("DISTINCT ON over collated strings is not supported yet");
        }
        other => other,
    };
    if let LogicalPlan::Union(union) = &node {
        union_collations(union)?;
    }
    let schema = merge_schema(&node.inputs());
    let names = NamePreserver::new(&node);
    let node = node.map_expressions(|expr| {
        let saved = names.save(&expr);
        let rewritten = expr.transform_up(|e| rewrite_expr(e, &schema))?;
        Ok(rewritten.update_data(|e| saved.restore(e)))
    })?;
    let node = node.transform_data(|plan| match plan {
        LogicalPlan::Sort(mut sort) => {
            let schema = Arc::clone(sort.input.schema());
            let mut changed = false;
            for s in sort.expr.iter_mut() {
                if let Some(c) = comparing(&[&s.expr], &schema, &|| format!("ORDER BY {}", s.expr))? {
                    s.expr = keyed(&s.expr, &c);
                    changed = true;
                }
            }
            Ok(Transformed::new_transformed(LogicalPlan::Sort(sort), changed))
        }
        LogicalPlan::Join(join) => join_keys(join),
        LogicalPlan::Aggregate(aggregate) => {
            let tagged = keep_aggregate_collations(aggregate)?;
            let changed = tagged.transformed;
            let grouped = group_by_keys(tagged.data)?;
            Ok(Transformed::new_transformed(grouped.data, changed || grouped.transformed))
        }
        LogicalPlan::Projection(projection) => keep_collations(projection),
        other => Ok(Transformed::no(other)),
    })?;
    if node.transformed { node.map_data(|plan| plan.recompute_schema()) } else { Ok(node) }
}

/// Whether a plan has anything collated in it: a collated field or a `collate(..)` call.
fn has_collations(plan: &LogicalPlan) -> Result<bool> {
    let mut found = false;
    plan.apply_with_subqueries(|node| {
        if node.schema().fields().iter().any(|f| f.metadata().contains_key(METADATA_KEY))
            || node.inputs().iter().any(|i| i.schema().fields().iter().any(|f| f.metadata().contains_key(METADATA_KEY)))
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        node.apply_expressions(|e| {
            e.apply(|inner| {
                if let Expr::ScalarFunction(f) = inner
                    && matches!(f.name(), COLLATE | "collation")
                {
                    found = true;
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })?;
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    })?;
    Ok(found)
}

/// Gives collated strings their meaning; see the module's documentation.
#[derive(Debug, Default)]
pub(crate) struct Collations;

impl AnalyzerRule for Collations {
    fn name(&self) -> &str {
        "spark_collations"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        if !has_collations(&plan)? {
            return Ok(plan);
        }
        plan.transform_up_with_subqueries(rewrite_node).data()
    }
}
