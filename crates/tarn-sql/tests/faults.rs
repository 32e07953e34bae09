//! Object-store faults under real statements (its own test binary: the fault plan is
//! process-wide). A write that meets an error, a timeout or latency either commits whole or
//! leaves the table at its previous version. (Reads under faults are tested through the
//! binary's `TARN_FAULTS`, in a fresh process: a DataFusion runtime keeps the stores it used.)

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use tarn_sql::{Session, SessionConfig};
use tarn_storage::StorageOptions;
use tarn_storage::faults::FaultPlan;

fn with_faults(plan: &str) {
    let plan: FaultPlan = plan.parse().expect("plan");
    tarn_storage::configure(StorageOptions { faults: Some(plan), ..StorageOptions::default() }).expect("configure");
    tarn_engine::snapshots::clear();
}

fn without_faults() {
    tarn_storage::configure(StorageOptions::default()).expect("configure");
    tarn_engine::snapshots::clear();
}

async fn scalar(session: &mut Session, sql: &str) -> i64 {
    let batches = session.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")).pop().unwrap_or_default();
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_under_faults_commit_whole_or_not_at_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let warehouse = dir.path().join("wh").to_string_lossy().to_string();
    let mut session = Session::open(SessionConfig::new(warehouse.clone())).await.expect("session");
    session.sql("CREATE TABLE f (batch INT, v INT)").await.expect("create");

    // Random errors on data files and commit files, timeouts on commit files, latency on reads.
    with_faults("put@.parquet error p=0.2; put@_delta_log timeout=50ms p=0.2; get latency=2ms p=0.5; seed=11");
    let mut committed = Vec::new();
    let mut failed = 0;
    for batch in 0..40 {
        let sql = format!("INSERT INTO f SELECT {batch}, r FROM range(0, 3) AS t(r)");
        match session.sql(&sql).await {
            Ok(_) => committed.push(batch),
            Err(e) => {
                failed += 1;
                assert!(e.to_string().contains("injected"), "the injected fault is reported: {e}");
            }
        }
    }
    without_faults();
    assert!(failed > 0 && !committed.is_empty(), "{failed} failed, {} committed", committed.len());

    let mut fresh = Session::open(SessionConfig::new(warehouse)).await.expect("session");
    assert_eq!(scalar(&mut fresh, "SELECT count(*) FROM f").await, 3 * committed.len() as i64);
    assert_eq!(
        scalar(&mut fresh, "SELECT count(DISTINCT batch) FROM f").await,
        committed.len() as i64,
        "exactly the statements that reported success committed"
    );
    assert_eq!(
        scalar(&mut fresh, "SELECT count(*) FROM (SELECT batch FROM f GROUP BY batch HAVING count(*) <> 3)").await,
        0,
        "no batch is partly committed"
    );
    let latest = scalar(&mut fresh, "DESCRIBE HISTORY f LIMIT 1").await;
    assert_eq!(latest, committed.len() as i64, "one version per statement that reported success");
}
