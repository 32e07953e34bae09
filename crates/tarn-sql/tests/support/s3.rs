//! Starts the S3-compatible test server (`tests/s3-server`, built by `cargo test --workspace`)
//! on loopback and points the storage layer at it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub const BUCKET: &str = "tarn-test";

pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, for tests that talk to the server directly.
    #[allow(dead_code)]
    pub endpoint: String,
    _root: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/debug/deps/<test> → target/debug/tarn-s3-test-server
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let binary = dir.join("tarn-s3-test-server");
    assert!(binary.is_file(), "{} is missing: run the tests with `cargo test --workspace`, which builds it", binary.display());
    binary
}

impl S3Server {
    /// Start a server with one bucket and configure this process's stores for it (its
    /// endpoint, credentials, plain HTTP, and a disk cache in `cache_dir` if given).
    pub fn start(cache_dir: Option<PathBuf>) -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(server_binary())
            .args(["--root", root.path().to_str().expect("utf8"), "--bucket", BUCKET])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the S3 test server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
        let endpoint = line.trim().strip_prefix("listening on ").expect("address line").to_string();
        tarn_storage::configure(tarn_storage::StorageOptions {
            s3: tarn_storage::S3Options {
                endpoint: Some(endpoint.clone()),
                region: Some("us-east-1".into()),
                allow_http: Some(true),
                path_style: Some(true),
                access_key_id: Some("tarn-test".into()),
                secret_access_key: Some("tarn-test-secret".into()),
                ..Default::default()
            },
            cache: cache_dir.map(|dir| tarn_storage::CacheOptions { dir, max_bytes: 1 << 30 }),
            ..Default::default()
        })
        .expect("configure storage");
        Self { child, endpoint, _root: root }
    }

    /// A fresh warehouse URL in the bucket.
    pub fn warehouse(&self, name: &str) -> String {
        format!("s3://{BUCKET}/{name}-{}/", uuid_like())
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{:x}{:x}", nanos, std::process::id())
}
