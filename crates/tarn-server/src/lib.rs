//! `tarn serve`: network protocols in front of one shared warehouse.
//!
//! One process serves the HTTP API (`http`, with Delta Sharing under `/delta-sharing/`:
//! `sharing`), the Postgres wire protocol (`pg`) and Arrow Flight SQL (`flight`), each on its
//! own listener, over one opened catalog and one runtime
//! (memory limit, spill directory). Authentication is on by default: bearer tokens for HTTP
//! and Flight SQL, SCRAM-SHA-256 passwords for Postgres (optionally over TLS). Without it
//! (`--insecure-no-auth`) the server refuses to listen on anything but loopback.
//!
//! Architecture invariant: protocols only translate; every statement runs through
//! [`tarn_sql::Session`], so all of them see the same tables and the same rules.

mod audit;
mod credentials;
mod error;
mod flight;
mod http;
mod http_changes;
mod limits;
mod metrics;
mod params;
mod pg;
mod sharing;
mod statements;
mod tokens;

use std::net::SocketAddr;

pub use credentials::{set_password, verify_password};
pub use error::{Result, ServerError};
pub use http::{AppState, router};
pub use metrics::Metrics;

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// What to serve and where.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The warehouse and the runtime (memory limit, spill directory) every connection shares.
    pub session: tarn_sql::SessionConfig,
    /// Where to serve the HTTP API; `None` turns it off.
    pub http_addr: Option<SocketAddr>,
    /// Where to serve the Postgres wire protocol; `None` turns it off.
    pub pg_addr: Option<SocketAddr>,
    /// Where to serve Arrow Flight SQL; `None` turns it off.
    pub flight_addr: Option<SocketAddr>,
    /// TLS for Postgres clients; without it SSL requests are declined.
    pub pg_tls: Option<TlsFiles>,
    /// Require credentials (the default). Off only for local experiments.
    pub auth: bool,
    /// The Delta Sharing endpoint recipients reach (`https://host/delta-sharing`), used in the
    /// file URLs Tarn signs; `None`: each request's `Host` header names it.
    pub sharing_endpoint: Option<String>,
    /// How long the file URLs handed to recipients stay valid.
    pub sharing_url_lifetime: std::time::Duration,
}

/// At first start with authentication, create an admin and print its token once.
async fn bootstrap_admin(catalog: &tarn_catalog::Catalog) -> Result<()> {
    let sql = |e: tarn_catalog::CatalogError| ServerError::Sql(e.into());
    if catalog.list_principals().await.map_err(sql)?.iter().any(|p| p.admin) {
        return Ok(());
    }
    catalog.create_principal("admin", tarn_catalog::PrincipalKind::User, true, true).await.map_err(sql)?;
    let token = catalog.create_token("admin", None).await.map_err(sql)?;
    // The same secret is the admin's first Postgres password, so psql works at once.
    credentials::set_password(catalog, "admin", &token).await?;
    eprintln!("tarn: created the admin user 'admin'; its token, also its Postgres password (shown only now): {token}");
    Ok(())
}

/// Serve until `shutdown` resolves; then stop accepting and let in-flight work finish.
pub async fn serve(config: ServeConfig, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> {
    let listeners = [config.http_addr, config.pg_addr, config.flight_addr];
    if listeners.iter().all(Option::is_none) {
        return Err(ServerError::Config("every listener is turned off; give --http-addr, --pg-addr or --flight-addr".into()));
    }
    if !config.auth
        && let Some(addr) = listeners.iter().flatten().find(|a| !a.ip().is_loopback())
    {
        return Err(ServerError::Config(format!(
            "refusing to listen on {addr} without authentication: --insecure-no-auth is only allowed \
             on loopback addresses (127.0.0.1, ::1)"
        )));
    }
    // Open the warehouse once up front so a bad location fails at start, not on first request.
    let session_config = config.session.clone();
    let pg_tls = match &config.pg_tls {
        Some(files) => Some(pg::tls_acceptor(&files.cert, &files.key)?),
        None => None,
    };
    let session = tarn_sql::Session::open(session_config.clone()).await?;
    let catalog = session.catalog().clone();
    if config.auth {
        bootstrap_admin(&catalog).await?;
    }
    // Password secrets of older warehouses held the salted password (it logs in as the user):
    // rewrite them as SCRAM verifiers before serving anyone.
    let upgraded = catalog.upgrade_password_secrets().await.map_err(|e| ServerError::Sql(e.into()))?;
    if upgraded > 0 {
        tracing::info!(upgraded, "password secrets rewritten as SCRAM verifiers");
    }
    let metrics = std::sync::Arc::new(Metrics::new(session_config.runtime.clone()));
    let (auditor, audit_writer) = audit::start(catalog.clone(), session_config.clone()).await?;

    // Bind everything before serving anything, so a taken port fails the start.
    let http = match config.http_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr).await.map_err(|e| ServerError::Config(format!("cannot listen on {addr} (HTTP): {e}")))?,
        ),
        None => None,
    };
    let pg = match config.pg_addr {
        Some(addr) => Some(pg::bind(addr).await?),
        None => None,
    };
    let flight = match config.flight_addr {
        Some(addr) => Some(flight::bind(addr).await?),
        None => None,
    };

    // Activation links, profiles and file URLs name this server's HTTP address unless an
    // endpoint is configured — never the request's Host header, which the client chooses.
    let mut session_config = session_config;
    if session_config.sharing_endpoint.is_none()
        && let Some(listener) = &http
    {
        let local = local_addr(listener)?;
        if local.ip().is_unspecified() {
            tracing::warn!(%local, "Delta Sharing URLs will name {local}; set [sharing] endpoint (TARN_SHARING_ENDPOINT) to the address recipients reach");
        }
        session_config.sharing_endpoint = Some(format!("http://{local}{}", sharing::PREFIX));
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(listener) = http {
        let local = local_addr(&listener)?;
        tracing::info!(%local, "HTTP API listening");
        eprintln!("tarn: HTTP API listening on http://{local}");
        let provider = tarn_sharing::Provider::new(catalog.clone(), config.sharing_url_lifetime)
            .await
            .map_err(|e| ServerError::Config(format!("cannot start Delta Sharing: {e}")))?;
        let sharing = sharing::SharingState::new(provider, catalog.clone(), auditor.clone(), session_config.sharing_endpoint.clone());
        let app = router(AppState::new(session_config.clone(), catalog.clone(), config.auth, metrics.clone(), auditor.clone()))
            .merge(sharing::routes(sharing));
        tasks.spawn(http::serve(listener, app, stopped()));
    }
    if let Some(listener) = pg {
        let local = local_addr(&listener)?;
        tracing::info!(%local, "Postgres wire protocol listening");
        eprintln!("tarn: Postgres wire protocol listening on {local}");
        if let Some(files) = &config.pg_tls {
            eprintln!("tarn: Postgres clients may use TLS (certificate {})", files.cert.display());
        }
        let server = std::sync::Arc::new(pg::PgServer::new(
            catalog.clone(),
            session_config.clone(),
            config.auth,
            metrics.clone(),
            auditor.clone(),
            pg_tls.is_some(),
        )?);
        tasks.spawn(pg::serve(listener, server, pg_tls.clone(), stopped()));
    }
    if let Some(listener) = flight {
        let local = local_addr(&listener)?;
        tracing::info!(%local, "Flight SQL listening");
        eprintln!("tarn: Flight SQL listening on grpc://{local}");
        let service =
            flight::TarnFlightService::new(catalog.clone(), session_config.clone(), config.auth, metrics.clone(), auditor.clone());
        tasks.spawn(flight::serve(listener, service, stopped()));
    }
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        let result = done.map_err(|e| ServerError::Config(format!("a listener task failed: {e}"))).and_then(|r| r);
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    drop(auditor);
    audit_writer.finish().await;
    eprintln!("tarn: stopped");
    first_error.map_or(Ok(()), Err)
}

fn local_addr(listener: &tokio::net::TcpListener) -> Result<SocketAddr> {
    listener.local_addr().map_err(|e| ServerError::Config(format!("cannot read the listening address: {e}")))
}
