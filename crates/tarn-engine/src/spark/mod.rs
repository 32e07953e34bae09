//! Spark SQL semantics, decided in one place.
//!
//! Tarn answers SQL as Spark 4 does with ANSI mode on. Where DataFusion's defaults differ, this
//! module is where the session is told so; every protocol plans statements in a session built
//! by [`crate::new_session_state`], so the behaviour is the same everywhere:
//!
//! - **NULL ordering** ([`NULL_ORDERING`]): NULLs sort first ascending and last descending, in
//!   `ORDER BY` and in window `ORDER BY` alike.
//! - **ANSI mode** ([`ANSI`]): division by zero, invalid casts, array indexes out of range and
//!   integer overflow in `+ - *` ([`checked`]) are errors, not NULLs or wrapped numbers.
//! - **Functions** under Spark's names and with Spark's behaviour: the maintained
//!   `datafusion-spark` crate first ([`datafusion_spark::register_all`], which replaces
//!   DataFusion's function of the same name), then Tarn's own for what it lacks
//!   ([`functions`]).
//! - **`sum`** ([`sum`]): a BIGINT or DECIMAL sum out of range is an error.
//! - **`EXCEPT ALL` / `INTERSECT ALL`** ([`multiplicity`]): Spark's multiplicities.
//! - **Operators** ([`operators`]): `/` divides as doubles unless an operand is a decimal
//!   (then with Spark's result precision and scale, [`decimal`]),
//!   `a div b` is integral division, `arr[i]` counts from 0.
//! - **Types** ([`types`]): Spark's type names (`long`, `short`, `byte`, ...).
//! - **Sampling** ([`sample`]): `TABLESAMPLE (n PERCENT | n ROWS | BUCKET x OUT OF y)`.
//! - **`range`** ([`range`]): Spark's column `id`.
//! - **`PIVOT` / `UNPIVOT`** ([`pivot`]).
//! - **Generators** ([`generators`]): `explode`, `posexplode`, `inline` (and `_outer`), `stack`,
//!   `json_tuple` as relations, in `FROM` and `LATERAL`.
//! - **`EXTRACT`** ([`extract`]): Spark's field names, intervals, seconds with their fraction.
//! - **Casts** ([`casts`]): a timestamp as text is `2020-01-02 02:30:00[.fraction]`.
//! - **Subqueries** ([`subqueries`]): `(SELECT x)` without `FROM` is the value `x`;
//!   [`decorrelate`] unnests the correlated subqueries DataFusion's rules leave.
//! - **Collations** ([`collations`]): `STRING COLLATE UTF8_LCASE`, `'a' COLLATE UNICODE_CI`.
//! - **Datetime patterns** ([`datetime`]): `date_format`, `to_date`, `to_timestamp` read Spark's
//!   `yyyy-MM-dd`-style patterns.

mod avg;
mod bround;
mod casts;
pub mod char_varchar;
mod checked;
mod co_moments;
pub mod collations;
mod collections;
mod common_types;
mod datetime;
mod datetime_parse;
mod decimal;
mod decorrelate;
mod exists_offset;
mod extract;
mod function_wildcards;
pub mod functions;
pub mod generators;
mod grouping_sets;
mod implicit_args;
pub mod int_literals;
mod json;
mod lateral;
mod listagg;
mod logarithms;
mod make_timestamp;
mod math;
mod mode;
mod moments;
mod months_between;
mod moving_frames;
mod multiplicity;
pub mod not_null;
mod operators;
mod pivot;
mod random;
mod range;
mod regexp;
mod sample;
mod sequence;
mod strings;
pub mod struct_wildcards;
mod subqueries;
mod sum;
mod text_dates;
mod text_numbers;
mod text_timestamps;
mod to_char;
mod tries;
mod try_rows;
pub mod types;
mod units;
mod variance;

/// The function `EXCEPT ALL` / `INTERSECT ALL` mark each side's rows with (see `multiplicity`).
pub use multiplicity::MARKER as SET_MULTIPLICITY_MARKER;

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::common::{Result, ScalarValue};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::ColumnarValue;

/// `ORDER BY x` puts NULLs first, `ORDER BY x DESC` last (Spark's `NULLS FIRST` / `NULLS LAST`
/// defaults), DataFusion's `nulls_min`.
pub const NULL_ORDERING: &str = "nulls_min";

/// `1.5` is a DECIMAL(2,1), as in Spark (`1.5D` / `1.5E0` are doubles): `0.1 + 0.2` is `0.3`.
pub const DECIMAL_LITERALS: bool = true;

/// Spark 4's default: `spark.sql.ansi.enabled = true`.
pub const ANSI: bool = true;

/// A function's result: a scalar when every argument was one, else the array.
pub(crate) fn answer(args: &[ColumnarValue], array: ArrayRef) -> Result<ColumnarValue> {
    if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?))
    } else {
        Ok(ColumnarValue::Array(array))
    }
}

/// Planners that give Spark's meaning to operators, types and table samples.
pub fn configure(mut builder: SessionStateBuilder) -> SessionStateBuilder {
    let planners = builder.expr_planners().get_or_insert_with(Vec::new);
    planners.insert(0, Arc::new(datafusion_spark::planner::SparkFunctionPlanner));
    planners.insert(0, Arc::new(extract::SparkExtract));
    planners.insert(0, Arc::new(operators::SparkOperators));
    // `(SELECT x)` unwraps right after the first simplification, before the subquery rules.
    let mut rules = datafusion::optimizer::Optimizer::new().rules;
    let at = rules.iter().position(|r| r.name() == "simplify_expressions").map_or(0, |i| i + 1);
    rules.insert(at, Arc::new(subqueries::InlineOneRowSubqueries));
    // Subqueries over a scalar aggregate are unnested before DataFusion's decorrelation, what
    // it leaves right after it.
    let at = rules.iter().position(|r| r.name() == "decorrelate_predicate_subquery").unwrap_or(0);
    rules.insert(at, Arc::new(decorrelate::DecorrelateGeneral::new(decorrelate::Scope::ScalarAggregates)));
    // An EXISTS whose subquery has an OFFSET leaves the filter before DataFusion's rule drops it.
    let at = rules.iter().position(|r| r.name() == "decorrelate_predicate_subquery").unwrap_or(0);
    rules.insert(at, Arc::new(exists_offset::ExistsWithOffset));
    let at = rules.iter().position(|r| r.name() == "decorrelate_lateral_join").map_or(rules.len(), |i| i + 1);
    rules.insert(at, Arc::new(decorrelate::DecorrelateGeneral::new(decorrelate::Scope::Remaining)));
    // Tarn's analyzer rules, set once (a state derived from another already has them): Spark's
    // common types of CASE branches and UNION columns before DataFusion coerces them, the rest after.
    let mut analyzer = builder.analyzer().take().unwrap_or_default();
    let ours: [Arc<dyn datafusion::optimizer::AnalyzerRule + Send + Sync>; 5] = [
        Arc::new(casts::SparkCasts),
        Arc::new(char_varchar::CharComparisons),
        Arc::new(multiplicity::SetMultiplicity),
        Arc::new(grouping_sets::EmptyInputGroupingSets),
        // Last: it rewrites what the others produce (EXCEPT ALL's aggregates, ...) onto keys.
        Arc::new(collations::rule::Collations),
    ];
    let before: Arc<dyn datafusion::optimizer::AnalyzerRule + Send + Sync> = Arc::new(common_types::SparkCommonTypes);
    let first: Arc<dyn datafusion::optimizer::AnalyzerRule + Send + Sync> = Arc::new(function_wildcards::FunctionWildcards);
    let struct_stars: Arc<dyn datafusion::optimizer::AnalyzerRule + Send + Sync> = Arc::new(struct_wildcards::StructWildcards);
    let names: Vec<String> = ours.iter().chain([&before, &first, &struct_stars]).map(|r| r.name().to_string()).collect();
    analyzer.rules.retain(|r| !names.iter().any(|n| n == r.name()));
    let at = analyzer.rules.iter().position(|r| r.name() == "type_coercion").unwrap_or(0);
    analyzer.rules.insert(at, before);
    // First of all: every other rule sees a function's `*` as the columns it stands for.
    analyzer.rules.insert(0, first);
    // And `s.*` over a struct column is its fields, before any rule reads the select list.
    analyzer.rules.insert(0, struct_stars);
    analyzer.rules.extend(ours);
    *builder.analyzer() = Some(analyzer);
    builder.with_optimizer_rules(rules).with_type_planner(Arc::new(types::SparkTypes)).with_relation_planners(vec![
        Arc::new(sample::TableSample),
        Arc::new(generators::Generators),
        Arc::new(pivot::Pivots),
        Arc::new(struct_wildcards::StructStarSubqueries),
    ])
}

/// Spark's functions, registered over DataFusion's where the names meet.
///
/// DataFusion rebuilds a session's function map from each function's name and aliases in no
/// fixed order (`SessionStateBuilder::new_from_existing`): a name two functions claim —
/// DataFusion's `map_extract` has the alias `element_at`, Spark's `element_at` is another
/// function — could then go to either. So every state derived from another
/// ([`crate::derive_state`]) calls this again, and Spark's functions take their names back.
pub fn register_functions(state: &mut SessionState) -> Result<()> {
    let postgres_database = state.scalar_functions().get("current_database").is_some_and(|f| f.name() != "current_schema");
    datafusion_spark::register_all(state)?;
    for udf in functions::session_names(postgres_database) {
        state.register_udf(udf)?;
    }
    let dated = datetime::functions(state.config_options());
    let formatting = to_char::functions(&dated);
    for udf in functions::guarded()
        .into_iter()
        .chain(implicit_args::functions())
        .chain(logarithms::functions())
        .chain(dated)
        .chain(formatting)
        .chain(functions::udfs())
    {
        state.register_udf(udf)?;
    }
    // Spark's `localtimestamp()`: the statement's start as a timestamp without time zone,
    // which is what `now()` gives in a session without one.
    if let Some(now) = state.scalar_functions().get("now").cloned() {
        state.register_udf(Arc::new(now.as_ref().clone().with_aliases(["localtimestamp"])))?;
    }
    // Spark's `substr` is its `substring`.
    if let Some(substring) = state.scalar_functions().get("substring").cloned() {
        state.register_udf(Arc::new(substring.as_ref().clone().with_aliases(["substr"])))?;
    }
    // Spark's `avg` over DataFusion's (datafusion-spark's reads decimals as doubles).
    state.register_udaf(avg::avg())?;
    state.register_udaf(avg::try_avg())?;
    state.register_udf(multiplicity::marker())?;
    state.register_udf(char_varchar::write_check_udf())?;
    state.register_udf(not_null::not_null_check_udf())?;
    state.register_udaf(sum::udaf())?;
    state.register_udaf(listagg::udaf())?;
    state.register_udaf(mode::udaf())?;
    for udaf in moments::udafs().into_iter().chain(co_moments::udafs()) {
        state.register_udaf(udaf)?;
    }
    // Spark's `every` is `bool_and`, its `some` / `any` are `bool_or`, `variance` is the
    // sample variance, `std` the sample standard deviation (aliases are added to DataFusion's).
    for (udaf, aliases) in [
        (datafusion::functions_aggregate::bool_and_or::bool_and_udaf(), vec!["every"]),
        (datafusion::functions_aggregate::bool_and_or::bool_or_udaf(), vec!["some", "any"]),
        (datafusion::functions_aggregate::variance::var_samp_udaf(), vec!["variance"]),
        (datafusion::functions_aggregate::stddev::stddev_udaf(), vec!["std"]),
    ] {
        state.register_udaf(Arc::new(udaf.as_ref().clone().with_aliases(aliases)))?;
    }
    // Spark's `first(x)` / `last(x)` are DataFusion's `first_value` / `last_value`.
    // (Neither has aliases of its own to keep.)
    for (udaf, alias) in [
        (datafusion::functions_aggregate::first_last::first_value_udaf(), "first"),
        (datafusion::functions_aggregate::first_last::last_value_udaf(), "last"),
    ] {
        state.register_udaf(Arc::new(udaf.as_ref().clone().with_aliases([alias])))?;
    }
    for (udwf, alias) in [
        (datafusion::functions_window::nth_value::first_value_udwf(), "first"),
        (datafusion::functions_window::nth_value::last_value_udwf(), "last"),
    ] {
        state.register_udwf(Arc::new(udwf.as_ref().clone().with_aliases([alias])))?;
    }
    for udf in collations::key::functions() {
        state.register_udf(udf)?;
    }
    state.register_udf(collations::functions::substring_index())?;
    state.register_udf(struct_wildcards::marker())?;
    // Spark's names of DataFusion's functions.
    for (name, aliases) in [("signum", vec!["sign"]), ("starts_with", vec!["startswith"]), ("ends_with", vec!["endswith"])] {
        if let Some(udf) = state.scalar_functions().get(name).cloned() {
            state.register_udf(Arc::new(udf.as_ref().clone().with_aliases(aliases)))?;
        }
    }
    for (name, aliases) in [("approx_distinct", vec!["approx_count_distinct"]), ("percentile_cont", vec!["percentile"])] {
        if let Some(udaf) = state.aggregate_functions().get(name).cloned() {
            state.register_udaf(Arc::new(udaf.as_ref().clone().with_aliases(aliases)))?;
        }
    }
    for (name, alias) in [("array_transform", "transform"), ("array_filter", "filter"), ("array_any_match", "exists")] {
        if let Some(function) = state.higher_order_functions().get(name).cloned() {
            let named = function.as_ref().clone().with_aliases([alias]);
            datafusion::execution::FunctionRegistry::register_higher_order_function(state, Arc::new(named))?;
        }
    }
    // (After every other registration of these names.) Functions over numbers read text as a number, as Spark's implicit casts do.
    for name in ["pmod", "abs"] {
        if let Some(udf) = state.scalar_functions().get(name).cloned() {
            state.register_udf(text_numbers::scalar(udf))?;
        }
    }
    for name in ["stddev", "stddev_pop", "var_samp", "var_pop"] {
        if let Some(udaf) = state.aggregate_functions().get(name).cloned() {
            state.register_udaf(variance::spark_arithmetic(udaf))?;
        }
    }
    // Moving frames over floats are recomputed per frame, as Spark computes them.
    for name in ["sum", "avg", "stddev", "stddev_pop", "var_samp", "var_pop"] {
        if let Some(udaf) = state.aggregate_functions().get(name).cloned() {
            state.register_udaf(moving_frames::recompute_moving_frames(udaf))?;
        }
    }
    for name in ["sum", "stddev", "stddev_pop", "var_samp", "var_pop"] {
        if let Some(udaf) = state.aggregate_functions().get(name).cloned() {
            state.register_udaf(text_numbers::aggregate(udaf))?;
        }
    }
    state.register_udtf("range", Arc::new(range::SparkRange));
    Ok(())
}
