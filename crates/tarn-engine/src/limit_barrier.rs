//! Keeps a `LIMIT` above a scan that would lose it.
//!
//! DataFusion's `LimitPushdown` pushes a limit through every operator that says it
//! `supports_limit_pushdown`, down to that operator's inputs. A leaf that says so has no inputs,
//! so the limit vanishes: delta-rs 1.1's metadata-only scan (`DeltaScanMetaExec`, which
//! answers `SELECT 'x' FROM t` from the log's row counts) does, and `SELECT 'x' FROM t LIMIT 1`
//! returned a row per row of the table. [`keep_limits`] puts such a leaf under a
//! [`LimitBarrier`], which passes nothing through, so the limit stays above it.

use std::fmt;
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties};

/// `plan` with every leaf that would swallow a limit under a [`LimitBarrier`].
pub(crate) fn keep_limits(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    // Top down, not into a barrier already there (providers may be wrapped more than once).
    plan.transform_down(|node| {
        if node.name() == "LimitBarrier" {
            Ok(Transformed::new(node, false, TreeNodeRecursion::Jump))
        } else if node.children().is_empty() && node.supports_limit_pushdown() && node.fetch().is_none() {
            Ok(Transformed::new(Arc::new(LimitBarrier { input: node }) as Arc<dyn ExecutionPlan>, true, TreeNodeRecursion::Jump))
        } else {
            Ok(Transformed::no(node))
        }
    })
    .data()
}

/// Its input, unchanged, except that no limit is pushed through it.
#[derive(Debug)]
pub(crate) struct LimitBarrier {
    input: Arc<dyn ExecutionPlan>,
}

impl DisplayAs for LimitBarrier {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "LimitBarrier")
    }
}

impl ExecutionPlan for LimitBarrier {
    fn name(&self) -> &str {
        "LimitBarrier"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }
    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }
    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(LimitBarrier { input })),
            _ => datafusion::common::internal_err!("LimitBarrier takes one input"),
        }
    }
    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}
