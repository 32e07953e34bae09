//! `tarn serve`: network protocols in front of one shared warehouse.
//!
//! This first slice serves the HTTP API with bearer-token authentication. Postgres wire,
//! Flight SQL, passwords, grants and audit are still to come (issue 3). Without authentication
//! (`--insecure-no-auth`) the server refuses to listen on anything but loopback.
//!
//! Architecture invariant: protocols only translate; every statement runs through
//! [`tarn_sql::Session`], so all of them see the same tables and the same rules.

mod error;
mod http;
mod metrics;
mod statements;

use std::net::SocketAddr;

pub use error::{Result, ServerError};
pub use http::{AppState, router};
pub use metrics::Metrics;

/// What to serve and where.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub warehouse: String,
    pub target_partitions: Option<usize>,
    pub http_addr: SocketAddr,
    /// Require a bearer token on the API (the default). Off only for local experiments.
    pub auth: bool,
}

/// At first start with authentication, create an admin and print its token once.
async fn bootstrap_admin(catalog: &tarn_catalog::Catalog) -> Result<()> {
    let sql = |e: tarn_catalog::CatalogError| ServerError::Sql(e.into());
    if catalog.list_principals().await.map_err(sql)?.iter().any(|p| p.admin) {
        return Ok(());
    }
    catalog
        .create_principal("admin", tarn_catalog::PrincipalKind::User, true, true)
        .await
        .map_err(sql)?;
    let token = catalog.create_token("admin", None).await.map_err(sql)?;
    eprintln!("tarn: created the admin user 'admin'; its token (shown only now): {token}");
    Ok(())
}

/// Serve until `shutdown` resolves; then stop accepting and let in-flight requests finish.
pub async fn serve(config: ServeConfig, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> {
    if !config.auth && !config.http_addr.ip().is_loopback() {
        return Err(ServerError::Config(format!(
            "refusing to listen on {} without authentication: --insecure-no-auth is only allowed \
             on loopback addresses (127.0.0.1, ::1)",
            config.http_addr
        )));
    }
    // Open the warehouse once up front so a bad location fails at start, not on first request.
    let session_config = tarn_sql::SessionConfig {
        warehouse: config.warehouse.clone(),
        target_partitions: config.target_partitions,
    };
    let session = tarn_sql::Session::open(session_config.clone()).await?;
    if config.auth {
        bootstrap_admin(session.catalog()).await?;
    }
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .map_err(|e| ServerError::Config(format!("cannot listen on {}: {e}", config.http_addr)))?;
    let local = listener
        .local_addr()
        .map_err(|e| ServerError::Config(format!("cannot read the listening address: {e}")))?;
    tracing::info!(%local, "HTTP API listening");
    eprintln!("tarn: HTTP API listening on http://{local}");
    let app = router(AppState::new(session_config, session.catalog().clone(), config.auth));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| ServerError::Config(format!("HTTP server failed: {e}")))?;
    eprintln!("tarn: stopped");
    Ok(())
}
