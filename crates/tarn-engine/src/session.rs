//! The DataFusion session Tarn runs every statement in.

use std::sync::Arc;

use datafusion::catalog::CatalogProviderList;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;
use deltalake::delta_datafusion::planner::DeltaPlanner;

use crate::Result;

/// Knobs for the session; defaults suit an interactive single machine.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub default_catalog: String,
    pub default_schema: String,
    /// Parallelism of scans and joins; `None` means the number of cores.
    pub target_partitions: Option<usize>,
    pub batch_size: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            default_catalog: "main".into(),
            default_schema: "default".into(),
            target_partitions: None,
            batch_size: 8192,
        }
    }
}

/// Build a session whose catalogs come from `catalogs` and whose planner understands the
/// Delta-specific plan nodes `deltalake` uses for DML.
pub fn new_session_state(catalogs: Arc<dyn CatalogProviderList>, options: &SessionOptions) -> Result<SessionState> {
    let mut config = SessionConfig::new()
        .with_default_catalog_and_schema(&options.default_catalog, &options.default_schema)
        .with_create_default_catalog_and_schema(false)
        .with_information_schema(true)
        .with_batch_size(options.batch_size)
        // Delta files are Parquet with statistics: let DataFusion prune pages and push filters.
        .set_bool("datafusion.execution.parquet.pushdown_filters", true)
        .set_bool("datafusion.execution.parquet.enable_page_index", true)
        .set_bool("datafusion.execution.parquet.schema_force_view_types", true)
        // delta-rs works around a dynamic-filter panic with dictionary join keys this way.
        .set_usize("datafusion.optimizer.hash_join_inlist_pushdown_max_size", 0)
        .set_usize("datafusion.optimizer.hash_join_inlist_pushdown_max_distinct_values", 0);
    if let Some(partitions) = options.target_partitions {
        config = config.with_target_partitions(partitions);
    }
    let runtime = RuntimeEnvBuilder::new().build_arc()?;
    let mut state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_catalog_list(catalogs)
        .with_query_planner(DeltaPlanner::new())
        .build();
    // Spark's array(a, b, ...) is DataFusion's make_array.
    let array = datafusion::functions_nested::make_array::make_array_udf().as_ref().clone().with_aliases(["array"]);
    datafusion::execution::FunctionRegistry::register_udf(&mut state, Arc::new(array))?;
    Ok(state)
}
