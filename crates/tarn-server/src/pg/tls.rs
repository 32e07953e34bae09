//! TLS for the Postgres listener: a PEM certificate chain and key, loaded once at start.
//!
//! With TLS configured, an `SSLRequest` is answered `S` and the connection upgraded (also
//! Postgres 17's direct TLS); without it the answer is `N` and clients that allow it go on in
//! plain text (`sslmode=prefer`), while `sslmode=require` clients stop with a clear message.

use std::path::Path;
use std::sync::Arc;

use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Result, ServerError};

/// Build the acceptor from `cert` (chain, leaf first) and `key` (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let config_error = |what: String| ServerError::Config(what);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| config_error(format!("cannot read the TLS certificate {}: {e}", cert.display())))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| config_error(format!("the TLS certificate {} is not valid PEM: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(config_error(format!(
            "the TLS certificate file {} holds no certificate (expected PEM '-----BEGIN CERTIFICATE-----')",
            cert.display()
        )));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| config_error(format!("cannot read a private key from {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Internal(format!("TLS protocol versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| config_error(format!("the TLS certificate and key do not fit together: {e}")))?;
    // Postgres 17 clients negotiating TLS directly insist on this ALPN protocol.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
