//! Where a Parquet scan's predicate is evaluated: two physical optimizer rules.
//!
//! A scan's predicate serves twice: to skip row groups and pages by their statistics (always),
//! and, with *filter pushdown*, as row filters applied while decoding (late materialization:
//! decode the filter columns, then the other columns only for the rows that pass). Row filters
//! pay when they are selective and cost when they are not — each conjunct is decoded and
//! evaluated in turn and the reader works through row selections. Measured on TPC-H SF1 through
//! `tarn serve` (best of 3): with every filter pushed, the plain date/range filters were slower
//! (Q6 0.31 s vs 0.15 s, Q12 0.42 vs 0.25, Q4 0.28 vs 0.17); with none pushed, the scans a hash
//! join filters were much slower (Q17 0.83 vs 0.35, Q18 1.03 vs 0.66): there a *dynamic
//! filter* (the join's build-side keys, filled in while the query runs) drops almost every
//! probe row before its other columns are decoded. Pushing a scan's dynamic filter together
//! with static ones (pushdown is one switch per scan) was the slowest of all for Q21
//! (1.18 s vs 0.70) and Q3 (0.41 vs 0.28).
//!
//! delta-rs turns pushdown on for every Delta scan with a predicate, whatever the session says.
//! [`SessionPushdownChoice`] runs before DataFusion's filter pushdown and gives each Parquet scan
//! the session's `datafusion.execution.parquet.pushdown_filters` instead (Tarn's default:
//! false), so static filters stay in a `FilterExec` above the scan while still pruning by
//! statistics. [`FinishScanPredicates`] runs after all of DataFusion's rules: it drops repeated
//! conjuncts (DataFusion's filter pushdown appends the ones delta-rs already put in the scan) and
//! turns pushdown on for a scan whose predicate is only dynamic filters. Both rules only move
//! work: every filter is still applied.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use datafusion::physical_expr::utils::{conjunction, split_conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::filter_pushdown::FilterPushdown;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::physical_plan::ExecutionPlan;

/// DataFusion's physical optimizer rules with Tarn's two scan-predicate rules in their places.
pub(crate) fn physical_optimizer_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = PhysicalOptimizer::new().rules;
    let pushdown = FilterPushdown::new();
    let first_pushdown = rules.iter().position(|rule| rule.name() == pushdown.name()).unwrap_or(0);
    rules.insert(first_pushdown, Arc::new(SessionPushdownChoice));
    rules.push(Arc::new(FinishScanPredicates));
    rules
}

/// Gives every Parquet scan the session's filter pushdown setting. See the module documentation.
#[derive(Debug, Default)]
pub struct SessionPushdownChoice;

impl PhysicalOptimizerRule for SessionPushdownChoice {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        let pushdown = config.execution.parquet.pushdown_filters;
        rewrite_parquet_scans(plan, |parquet| {
            let current = parquet.table_parquet_options().global.pushdown_filters;
            (current != pushdown).then(|| parquet.clone().with_pushdown_filters(pushdown))
        })
    }

    fn name(&self) -> &str {
        "session_pushdown_choice"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Drops repeated scan conjuncts and decodes a scan's dynamic filters as row filters when it
/// has no other filter. See the module documentation. Runs after DataFusion's own rules (dynamic filters are pushed by the last).
#[derive(Debug, Default)]
pub struct FinishScanPredicates;

impl PhysicalOptimizerRule for FinishScanPredicates {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        rewrite_parquet_scans(plan, |parquet| {
            let predicate = parquet.filter()?;
            let conjuncts = split_conjunction(&predicate);
            let mut kept: Vec<&Arc<dyn PhysicalExpr>> = Vec::with_capacity(conjuncts.len());
            for conjunct in &conjuncts {
                // Two dynamic filters are never repeats: each is filled by its own operator.
                if is_dynamic(conjunct) || !kept.iter().any(|k| k.as_ref() == conjunct.as_ref()) {
                    kept.push(conjunct);
                }
            }
            let decode_dynamic =
                !parquet.table_parquet_options().global.pushdown_filters && !kept.is_empty() && kept.iter().all(|c| is_dynamic(c));
            if kept.len() == conjuncts.len() && !decode_dynamic {
                return None;
            }
            let mut rewritten = parquet.with_predicate(conjunction(kept.into_iter().cloned()));
            if decode_dynamic {
                rewritten = rewritten.with_pushdown_filters(true);
            }
            Some(rewritten)
        })
    }

    fn name(&self) -> &str {
        "finish_scan_predicates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

fn is_dynamic(expr: &Arc<dyn PhysicalExpr>) -> bool {
    expr.downcast_ref::<DynamicFilterPhysicalExpr>().is_some()
}

/// `plan` with every Parquet scan replaced by `rewrite`'s source for it, where it returns one.
fn rewrite_parquet_scans(
    plan: Arc<dyn ExecutionPlan>,
    rewrite: impl Fn(&ParquetSource) -> Option<ParquetSource>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(source) = node.downcast_ref::<DataSourceExec>() else {
            return Ok(Transformed::no(node));
        };
        let Some(config) = source.data_source().downcast_ref::<FileScanConfig>() else {
            return Ok(Transformed::no(node));
        };
        let Some(parquet) = config.file_source.downcast_ref::<ParquetSource>() else {
            return Ok(Transformed::no(node));
        };
        let Some(parquet) = rewrite(parquet) else {
            return Ok(Transformed::no(node));
        };
        let config = FileScanConfigBuilder::from(config.clone()).with_source(Arc::new(parquet)).build();
        Ok(Transformed::yes(DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>))
    })
    .data()
}
