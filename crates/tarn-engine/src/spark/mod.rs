//! Spark SQL semantics, decided in one place.
//!
//! Tarn answers SQL as Spark 4 does with ANSI mode on. Where DataFusion's defaults differ, this
//! module is where the session is told so; every protocol plans statements in a session built
//! by [`crate::new_session_state`], so the behaviour is the same everywhere:
//!
//! - **NULL ordering** ([`NULL_ORDERING`]): NULLs sort first ascending and last descending, in
//!   `ORDER BY` and in window `ORDER BY` alike.
//! - **ANSI mode** ([`ANSI`]): arithmetic overflow, division by zero, invalid casts and array
//!   indexes out of range are errors, not NULLs or wrapped values.
//! - **Functions** under Spark's names and with Spark's behaviour: the maintained
//!   `datafusion-spark` crate first ([`datafusion_spark::register_all`], which replaces
//!   DataFusion's function of the same name), then Tarn's own for what it lacks
//!   ([`functions`]).
//! - **Operators** ([`operators`]): `/` divides as doubles unless an operand is a decimal,
//!   `a div b` is integral division, `arr[i]` counts from 0.
//! - **Types** ([`types`]): Spark's type names (`long`, `short`, `byte`, ...).
//! - **Sampling** ([`sample`]): `TABLESAMPLE (n PERCENT | n ROWS | BUCKET x OUT OF y)`.

mod collections;
pub mod functions;
mod operators;
mod sample;
mod types;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

/// `ORDER BY x` puts NULLs first, `ORDER BY x DESC` last (Spark's `NULLS FIRST` / `NULLS LAST`
/// defaults), DataFusion's `nulls_min`.
pub const NULL_ORDERING: &str = "nulls_min";

/// Spark 4's default: `spark.sql.ansi.enabled = true`.
pub const ANSI: bool = true;

/// Planners that give Spark's meaning to operators, types and table samples.
pub fn configure(mut builder: SessionStateBuilder) -> SessionStateBuilder {
    let planners = builder.expr_planners().get_or_insert_with(Vec::new);
    planners.insert(0, Arc::new(datafusion_spark::planner::SparkFunctionPlanner));
    planners.insert(0, Arc::new(operators::SparkOperators));
    builder.with_type_planner(Arc::new(types::SparkTypes)).with_relation_planners(vec![Arc::new(sample::TableSample)])
}

/// Spark's functions, registered over DataFusion's where the names meet.
pub fn register_functions(state: &mut SessionState) -> Result<()> {
    datafusion_spark::register_all(state)?;
    for udf in functions::udfs() {
        state.register_udf(udf)?;
    }
    for udaf in functions::udafs() {
        state.register_udaf(udaf)?;
    }
    drop_shadowed_functions(state)?;
    // Spark's `substr` is its `substring` (DataFusion's own `substr` went with its alias).
    if let Some(substring) = state.scalar_functions().get("substring").cloned() {
        state.register_udf(Arc::new(substring.as_ref().clone().with_aliases(["substr"])))?;
    }
    Ok(())
}

/// DataFusion rebuilds a session's function map from each function's name and aliases
/// (`SessionStateBuilder::new_from_existing`, which every statement goes through), in no fixed
/// order. A name two functions claim — DataFusion's `map_extract` has the alias `element_at`,
/// Spark's `element_at` is another function — would then go to either, statement by
/// statement. So a function that lost one of its names to a Spark function is dropped whole,
/// and every name keeps the function registered last.
fn drop_shadowed_functions(state: &mut SessionState) -> Result<()> {
    let scalars = state.scalar_functions().clone();
    let keep: BTreeMap<String, Arc<ScalarUDF>> = scalars
        .values()
        .filter(|f| owns_all(f.name(), f.aliases(), |n| scalars.get(n).map(|o| o.name())))
        .map(|f| (f.name().to_string(), f.clone()))
        .collect();
    for name in scalars.keys() {
        state.deregister_udf(name)?;
    }
    for function in keep.into_values() {
        state.register_udf(function)?;
    }
    let aggregates = state.aggregate_functions().clone();
    let keep: BTreeMap<String, Arc<AggregateUDF>> = aggregates
        .values()
        .filter(|f| owns_all(f.name(), f.aliases(), |n| aggregates.get(n).map(|o| o.name())))
        .map(|f| (f.name().to_string(), f.clone()))
        .collect();
    for name in aggregates.keys() {
        state.deregister_udaf(name)?;
    }
    for function in keep.into_values() {
        state.register_udaf(function)?;
    }
    Ok(())
}

/// Whether every name of the function `name` (with `aliases`) still leads to it.
fn owns_all<'a>(name: &str, aliases: &[String], owner: impl Fn(&str) -> Option<&'a str>) -> bool {
    std::iter::once(name).chain(aliases.iter().map(String::as_str)).all(|n| owner(n) == Some(name))
}
