//! The property Tarn's S3 tests rely on: of many concurrent creates of one key, exactly one
//! succeeds — and with `--no-conditional-writes`, that the server really ignores them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

struct Server {
    child: Child,
    endpoint: String,
    _root: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Server {
    let root = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tarn-s3-test-server"))
        .args(["--root", root.path().to_str().expect("utf8"), "--bucket", "test-bucket"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
    let endpoint = line.trim().strip_prefix("listening on ").expect("address line").to_string();
    Server { child, endpoint, _root: root }
}

fn store(server: &Server) -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(&server.endpoint)
            .with_bucket_name("test-bucket")
            .with_region("us-east-1")
            .with_access_key_id("tarn-test")
            .with_secret_access_key("tarn-test-secret")
            .with_allow_http(true)
            .build()
            .expect("store"),
    )
}

async fn racing_creates(store: Arc<dyn ObjectStore>, key: &str, writers: usize) -> usize {
    let tasks: Vec<_> = (0..writers)
        .map(|i| {
            let store = store.clone();
            let path = Path::from(key);
            tokio::spawn(async move {
                let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
                match store.put_opts(&path, PutPayload::from(format!("writer {i}")), options).await {
                    Ok(_) => true,
                    Err(object_store::Error::AlreadyExists { .. }) => false,
                    Err(e) => panic!("create failed for another reason than an existing object: {e}"),
                }
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.expect("task"));
    }
    won
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_many_concurrent_creates_wins() {
    let server = start(&[]);
    let store = store(&server);
    for round in 0..20 {
        let won = racing_creates(store.clone(), &format!("_delta_log/{round:020}.json"), 8).await;
        assert_eq!(won, 1, "round {round}: {won} creates of one key succeeded");
    }
    let body = store.get(&Path::from("_delta_log/00000000000000000000.json")).await.expect("get");
    assert!(body.bytes().await.expect("bytes").starts_with(b"writer "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_conditional_writes_every_create_succeeds() {
    let server = start(&["--no-conditional-writes"]);
    assert_eq!(racing_creates(store(&server), "k", 4).await, 4);
}
