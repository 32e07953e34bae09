//! A physical optimizer rule that removes repeated conjuncts from Parquet scan predicates.
//!
//! delta-rs puts a query's filters into its Parquet scan and reports them to DataFusion as
//! inexact, so DataFusion keeps a `FilterExec` above the scan, and its filter pushdown then
//! pushes the same conjuncts into the scan a second time (DataFusion's Parquet source appends
//! pushed filters without looking at what it already has). With filter pushdown every conjunct
//! is a row filter of its own, decoded and evaluated in turn, so TPC-H Q6 decoded its filter
//! columns three times as often as it needed to. `a AND a` is `a`, so dropping the repeats is
//! always safe; dynamic filters (from joins and TopK, filled in while the query runs) are kept
//! as they are.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use datafusion::physical_expr::utils::{conjunction, split_conjunction};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

/// See the module documentation. Runs after DataFusion's own rules (filter pushdown included).
#[derive(Debug, Default)]
pub struct DedupScanPredicates;

impl PhysicalOptimizerRule for DedupScanPredicates {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            Ok(match deduplicated(&node) {
                Some(scan) => Transformed::yes(scan),
                None => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "dedup_scan_predicates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `node` with its Parquet predicate's repeated conjuncts removed; `None` if it has none.
fn deduplicated(node: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    let source = node.downcast_ref::<DataSourceExec>()?;
    let config = source.data_source().downcast_ref::<FileScanConfig>()?;
    let parquet = config.file_source.downcast_ref::<ParquetSource>()?;
    let predicate = parquet.filter()?;
    let conjuncts = split_conjunction(&predicate);
    let mut kept: Vec<&Arc<dyn PhysicalExpr>> = Vec::with_capacity(conjuncts.len());
    for conjunct in &conjuncts {
        let dynamic = conjunct.downcast_ref::<DynamicFilterPhysicalExpr>().is_some();
        if dynamic || !kept.iter().any(|k| k.as_ref() == conjunct.as_ref()) {
            kept.push(conjunct);
        }
    }
    if kept.len() == conjuncts.len() {
        return None;
    }
    let predicate = conjunction(kept.into_iter().cloned());
    let config = FileScanConfigBuilder::from(config.clone())
        .with_source(Arc::new(parquet.with_predicate(predicate)))
        .build();
    Some(DataSourceExec::from_data_source(config))
}
