//! The DataFusion session Tarn runs every statement in.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::catalog::CatalogProviderList;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionConfig;
use deltalake::delta_datafusion::planner::DeltaPlanner;

use crate::{EngineError, Result};

/// The memory pool and spill directory statements run with. Clones share them, so every
/// session made from one [`Runtime`] counts against one limit (a server's connections
/// together, not each on its own).
#[derive(Debug, Clone)]
pub struct Runtime {
    env: Arc<RuntimeEnv>,
    memory_limit: Option<usize>,
}

impl Default for Runtime {
    /// No memory limit; spills (never needed without a limit) go to the OS temp directory.
    fn default() -> Self {
        Self { env: Arc::new(RuntimeEnv::default()), memory_limit: None }
    }
}

impl Runtime {
    /// A runtime whose queries together use at most `memory_limit` bytes for the operators
    /// that track memory (sorts, joins, aggregates); those that can spill write to
    /// `spill_dir` (default: the OS temp directory) instead of failing. A query that still
    /// needs more fails with a "Resources exhausted" error naming the largest consumers.
    pub fn new(memory_limit: Option<usize>, spill_dir: Option<PathBuf>) -> Result<Self> {
        let mut builder = RuntimeEnvBuilder::new();
        if let Some(limit) = memory_limit {
            if limit < 1024 * 1024 {
                return Err(EngineError::User(format!(
                    "a memory limit of {limit} bytes is too small to run queries; give at least 1MiB (e.g. 512MiB or 4GiB)"
                )));
            }
            // Fair: concurrent spilling queries each get a share instead of the first one
            // taking everything.
            let pool: Arc<dyn MemoryPool> =
                Arc::new(TrackConsumersPool::new(FairSpillPool::new(limit), NonZeroUsize::new(5).unwrap_or(NonZeroUsize::MIN)));
            builder = builder.with_memory_pool(pool);
        }
        if let Some(dir) = spill_dir {
            std::fs::create_dir_all(&dir)
                .map_err(|e| EngineError::User(format!("cannot create the spill directory {}: {e}", dir.display())))?;
            builder = builder.with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Directories(vec![dir])));
        }
        Ok(Self { env: builder.build_arc()?, memory_limit })
    }

    /// Bytes currently reserved by running queries.
    pub fn reserved_bytes(&self) -> usize {
        self.env.memory_pool.reserved()
    }

    pub fn memory_limit(&self) -> Option<usize> {
        self.memory_limit
    }

    /// Bytes currently written to spill files.
    pub fn spilled_bytes(&self) -> u64 {
        self.env.disk_manager.used_disk_space()
    }
}

/// Knobs for the session; defaults suit an interactive single machine.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub default_catalog: String,
    pub default_schema: String,
    /// Parallelism of scans and joins; `None` means the number of cores.
    pub target_partitions: Option<usize>,
    pub batch_size: usize,
    /// Memory pool and spill files (shared by clones).
    pub runtime: Runtime,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            default_catalog: "main".into(),
            default_schema: "default".into(),
            target_partitions: None,
            batch_size: 8192,
            runtime: Runtime::default(),
        }
    }
}

/// Build a session whose catalogs come from `catalogs` and whose planner understands the
/// Delta-specific plan nodes `deltalake` uses for DML.
pub fn new_session_state(catalogs: Arc<dyn CatalogProviderList>, options: &SessionOptions) -> Result<SessionState> {
    crate::register_storage();
    let mut config = SessionConfig::new()
        .with_default_catalog_and_schema(&options.default_catalog, &options.default_schema)
        .with_create_default_catalog_and_schema(false)
        .with_information_schema(true)
        .with_batch_size(options.batch_size)
        // Delta files are Parquet with statistics: prune row groups and pages by them. Static
        // filters run after decoding, join filters while decoding (`scan_predicates`).
        .set_bool("datafusion.execution.parquet.pushdown_filters", false)
        .set_bool("datafusion.execution.parquet.enable_page_index", true)
        .set_bool("datafusion.execution.parquet.schema_force_view_types", true)
        // delta-rs works around a dynamic-filter panic with dictionary join keys this way.
        .set_usize("datafusion.optimizer.hash_join_inlist_pushdown_max_size", 0)
        .set_usize("datafusion.optimizer.hash_join_inlist_pushdown_max_distinct_values", 0)
        // Spark's semantics where they differ from DataFusion's defaults (see `spark.rs`).
        .set_str("datafusion.sql_parser.default_null_ordering", crate::spark::NULL_ORDERING)
        .set_bool("datafusion.execution.enable_ansi_mode", crate::spark::ANSI)
        .set_bool("datafusion.sql_parser.parse_float_as_decimal", crate::spark::DECIMAL_LITERALS);
    if let Some(partitions) = options.target_partitions {
        config = config.with_target_partitions(partitions);
    }
    let runtime = options.runtime.env.clone();
    // Local files go through Tarn's store too (DataFusion pre-registers a plain one for
    // file://), so local reads see the same wrappers (fault injection in tests) as remote ones.
    if let Ok(root) = url::Url::parse("file:///")
        && let Ok((store, _)) = tarn_storage::store_for_url(&root)
    {
        runtime.register_object_store(&root, store);
    }
    let builder = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_catalog_list(catalogs)
        .with_query_planner(DeltaPlanner::new())
        .with_physical_optimizer_rules(crate::scan_predicates::physical_optimizer_rules());
    let mut state = crate::spark::configure(builder).build();
    crate::spark::register_functions(&mut state)?;
    Ok(state)
}

/// A state made from `base` with another configuration and, optionally, other catalogs: how
/// each statement gets its own. Spark's functions are registered again so that a name
/// DataFusion's function also claims stays Spark's ([`crate::spark::register_functions`]).
pub fn derive_state(base: &SessionState, config: SessionConfig, catalogs: Option<Arc<dyn CatalogProviderList>>) -> Result<SessionState> {
    let mut builder = SessionStateBuilder::new_from_existing(base.clone()).with_config(config);
    if let Some(catalogs) = catalogs {
        builder = builder.with_catalog_list(catalogs);
    }
    let mut state = builder.build();
    crate::spark::register_functions(&mut state)?;
    Ok(state)
}
