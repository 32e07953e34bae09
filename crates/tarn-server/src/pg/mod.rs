//! The Postgres wire protocol (on the `pgwire` crate).
//!
//! Each connection gets its own handlers (the SCRAM exchange keeps per-connection state) and,
//! on first use, its own [`tarn_sql::Session`] in the database — Tarn catalog — it named.
//! `pg_catalog` comes from `datafusion-pg-catalog` over Tarn's catalog (see `catalog`).

mod auth;
mod cancel;
mod catalog;
mod commands;
mod compat;
mod handler;
mod information_schema;
mod scram;
mod session_info;
mod settings;
mod tls;
mod types;

pub(crate) use tls::acceptor as tls_acceptor;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::{DefaultServerParameterProvider, StartupHandler};
use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::{ClientInfo, ConnectionManager, ErrorHandler, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tarn_catalog::Catalog;
use tarn_sql::SessionConfig;
use tokio::net::TcpListener;

use crate::Metrics;
use crate::error::{Result, ServerError};
use handler::PgHandler;

/// What Tarn reports as `server_version`: clients parse the leading Postgres version.
pub(crate) const SERVER_VERSION: &str = concat!("16.6 (Tarn ", env!("CARGO_PKG_VERSION"), ")");

/// Shared by all Postgres connections of a server.
pub(crate) struct PgServer {
    catalog: Catalog,
    session_config: SessionConfig,
    system: Arc<catalog::PgSystemSchemas>,
    connections: Arc<ConnectionManager>,
    cancels: Arc<cancel::CancelRegistry>,
    pub(crate) auth: bool,
    metrics: Arc<Metrics>,
    pub(crate) auditor: crate::audit::Auditor,
    running: AtomicUsize,
}

/// Counts a running statement until dropped (shutdown waits for these).
pub(crate) struct RunningStatement<'a>(&'a AtomicUsize);

impl Drop for RunningStatement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PgServer {
    pub fn new(
        catalog: Catalog,
        session_config: SessionConfig,
        auth: bool,
        metrics: Arc<Metrics>,
        auditor: crate::audit::Auditor,
        tls: bool,
    ) -> Result<Self> {
        Ok(Self {
            system: Arc::new(catalog::PgSystemSchemas::new(catalog.clone(), tls)?),
            catalog,
            session_config,
            connections: Arc::new(ConnectionManager::new()),
            cancels: Arc::new(cancel::CancelRegistry::default()),
            auth,
            metrics,
            auditor,
            running: AtomicUsize::new(0),
        })
    }

    pub(crate) fn track_statement(&self) -> RunningStatement<'_> {
        self.running.fetch_add(1, Ordering::SeqCst);
        RunningStatement(&self.running)
    }
}

/// Accept connections until `shutdown` resolves, then wait (up to a minute) for running
/// statements to finish so no commit is cut off midway.
pub(crate) async fn serve(
    listener: TcpListener,
    server: Arc<PgServer>,
    tls: Option<pgwire::tokio::TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<()> {
    tokio::pin!(shutdown);
    // A bounded number of connections at once (as Postgres' max_connections).
    let gate = crate::limits::Gate::new("postgres");
    loop {
        tokio::select! {
            accepted = gate.admit(&listener) => {
                let (socket, place, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a Postgres connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let handlers = Arc::new(ConnectionHandlers::new(server.clone()));
                let tls = tls.clone();
                tokio::spawn(async move {
                    // A client that sends nothing (not even its startup packet) does not hold
                    // its place: pgwire takes the socket as it is, so wait for the first bytes here.
                    let mut first = [0u8; 1];
                    if !matches!(tokio::time::timeout(crate::limits::FIRST_BYTES_TIMEOUT, socket.peek(&mut first)).await, Ok(Ok(1..))) {
                        tracing::debug!(%peer, "Postgres client sent nothing; closing");
                        return;
                    }
                    if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                        tracing::debug!(%peer, error = %e, "Postgres connection ended with an error");
                    }
                    drop(place);
                });
            }
            () = &mut shutdown => break,
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while server.running.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Bind the Postgres listener.
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| ServerError::Config(format!("cannot listen on {addr} (Postgres): {e}")))
}

/// The handlers of one connection.
struct ConnectionHandlers {
    handler: Arc<PgHandler>,
    startup: Arc<Startup>,
    cancel: Arc<cancel::TarnCancelHandler>,
}

impl ConnectionHandlers {
    fn new(server: Arc<PgServer>) -> Self {
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.server_version = SERVER_VERSION.to_string();
        parameters.search_path = tarn_catalog::DEFAULT_SCHEMA.to_string();
        parameters.is_superuser = false;
        let scram = server.auth.then(|| scram::ScramStartup::new(server.catalog.clone(), Arc::new(parameters), server.connections.clone()));
        Self {
            handler: Arc::new(PgHandler::new(server.clone())),
            startup: Arc::new(Startup { server: server.clone(), scram, no_auth: NoAuth { connections: server.connections.clone() } }),
            cancel: Arc::new(cancel::TarnCancelHandler {
                registry: server.cancels.clone(),
                pgwire: DefaultCancelHandler::new(server.connections.clone()),
            }),
        }
    }
}

impl PgWireServerHandlers for ConnectionHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.handler.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.handler.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(LogErrors)
    }
}

struct LogErrors;

impl ErrorHandler for LogErrors {
    fn on_error<C: ClientInfo>(&self, client: &C, error: &mut PgWireError) {
        tracing::debug!(peer = %client.socket_addr(), %error, "Postgres statement failed");
    }
}

/// Without `--insecure-no-auth`: no password asked.
struct NoAuth {
    connections: Arc<ConnectionManager>,
}

#[async_trait]
impl NoopStartupHandler for NoAuth {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.connections.clone())
    }
}

/// Checks the database (catalog) exists before authenticating, then SCRAM or nothing.
struct Startup {
    server: Arc<PgServer>,
    scram: Option<scram::ScramStartup>,
    no_auth: NoAuth,
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let PgWireFrontendMessage::Startup(startup) = &message {
            let database = startup.parameters.get("database").cloned().unwrap_or_else(|| tarn_catalog::DEFAULT_CATALOG.to_string());
            let exists = self.server.catalog.get_catalog(&database).await.map_err(|e| PgWireError::ApiError(Box::new(e)))?.is_some();
            if !exists {
                // Before authentication nothing about the warehouse is told, not even which
                // catalogs exist.
                return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                    "FATAL".into(),
                    "3D000".into(),
                    format!("database \"{database}\" does not exist; Tarn's databases are its catalogs (SHOW CATALOGS)"),
                ))));
            }
        }
        match &self.scram {
            Some(scram) => scram.on_startup(client, message).await,
            None => self.no_auth.on_startup(client, message).await,
        }
    }
}
