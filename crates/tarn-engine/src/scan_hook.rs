//! A table provider that hands each scan plan its inner provider makes to a hook: the one place
//! Tarn wraps delta-rs's provider (log statistics on every scan, EXPLAIN's file counts).

use std::borrow::Cow;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::{Constraints, Statistics};
use datafusion::datasource::TableType;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

/// What to do with a scan plan once the inner provider has made it.
pub(crate) trait ScanHook: Debug + Send + Sync + 'static {
    fn on_scan(&self, plan: Arc<dyn ExecutionPlan>) -> DfResult<Arc<dyn ExecutionPlan>>;
}

/// `inner` with `hook` applied to its scans; everything else is `inner`'s.
#[derive(Debug)]
pub(crate) struct HookedProvider<H> {
    inner: Arc<dyn TableProvider>,
    hook: H,
}

impl<H: ScanHook> HookedProvider<H> {
    pub(crate) fn wrap(inner: Arc<dyn TableProvider>, hook: H) -> Arc<dyn TableProvider> {
        Arc::new(Self { inner, hook })
    }
}

#[async_trait]
impl<H: ScanHook> TableProvider for HookedProvider<H> {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        self.inner.get_logical_plan()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.scan(state, projection, filters, limit).await?;
        self.hook.on_scan(crate::limit_barrier::keep_limits(plan)?)
    }

    async fn scan_with_args<'a>(&self, state: &dyn Session, args: ScanArgs<'a>) -> DfResult<ScanResult> {
        let result = self.inner.scan_with_args(state, args).await?;
        Ok(ScanResult::new(self.hook.on_scan(crate::limit_barrier::keep_limits(result.into_inner())?)?))
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }
}
