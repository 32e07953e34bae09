//! An S3-compatible server for Tarn's tests: `s3s-fs` (files under a root directory, one
//! directory per bucket) behind `s3s`'s S3 protocol layer (SigV4, XML, multipart), on loopback.
//!
//! One thing is added: s3s-fs 0.14 checks `If-None-Match: *` and then writes, without a lock,
//! so two concurrent creates of one key can both succeed — exactly the race Delta's commit
//! protocol relies on a store to prevent. Writes of one key are serialised here, which makes
//! the check atomic as it is on AWS S3. `--no-conditional-writes` instead imitates a store that
//! ignores `If-None-Match` (Tarn must refuse such a store): the header is signed, so it stays,
//! and the existing object is removed first, so the write overwrites it.
//!
//! Prints `listening on http://ADDR` once it accepts connections.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Parser;
use futures::future::BoxFuture;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};

#[derive(Debug, Parser)]
struct Options {
    /// Directory holding the buckets (each bucket is a subdirectory).
    #[arg(long)]
    root: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// 0 picks a free port.
    #[arg(long, default_value_t = 0)]
    port: u16,
    #[arg(long, default_value = "tarn-test")]
    access_key: String,
    #[arg(long, default_value = "tarn-test-secret")]
    secret_key: String,
    /// Buckets to create at start.
    #[arg(long = "bucket")]
    buckets: Vec<String>,
    /// Ignore If-None-Match / If-Match on writes, like stores without conditional writes.
    #[arg(long)]
    no_conditional_writes: bool,
}

#[derive(Clone)]
struct SerializedWrites {
    inner: S3Service,
    root: PathBuf,
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    ignore_conditions: bool,
}

impl Service<http::Request<Incoming>> for SerializedWrites {
    type Response = <S3Service as Service<http::Request<Incoming>>>::Response;
    type Error = <S3Service as Service<http::Request<Incoming>>>::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let writes = matches!(*request.method(), http::Method::PUT | http::Method::POST);
        let overwrite = (writes && self.ignore_conditions && request.headers().contains_key(http::header::IF_NONE_MATCH))
            .then(|| self.root.join(request.uri().path().trim_start_matches('/')));
        let lock = writes.then(|| {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(request.uri().path().to_string()).or_default().clone()
        });
        let inner = self.inner.clone();
        Box::pin(async move {
            let _guard = match lock {
                Some(lock) => Some(lock.lock_owned().await),
                None => None,
            };
            if let Some(existing) = overwrite {
                let _ = std::fs::remove_file(existing);
            }
            Service::call(&inner, request).await
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse();
    std::fs::create_dir_all(&options.root)?;
    for bucket in &options.buckets {
        std::fs::create_dir_all(options.root.join(bucket))?;
    }
    let fs = s3s_fs::FileSystem::new(&options.root).map_err(|e| format!("cannot serve {}: {e:?}", options.root.display()))?;
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(options.access_key.clone(), options.secret_key.clone()));
    let service = SerializedWrites {
        inner: builder.build(),
        root: options.root.clone(),
        locks: Arc::default(),
        ignore_conditions: options.no_conditional_writes,
    };
    let listener = tokio::net::TcpListener::bind((options.host.as_str(), options.port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let http = ConnBuilder::new(TokioExecutor::new());
    loop {
        let (socket, _) = listener.accept().await?;
        // Without it, small responses wait for the client's delayed ACK (~40 ms each).
        socket.set_nodelay(true)?;
        let connection = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}
