//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as Postgres speaks it, verified against the catalog's
//! StoredKey/ServerKey — never a salted password, which pgwire's own SCRAM needs and which
//! would log in as the user if it were ever read. Unknown users get a made-up verifier with a
//! stable salt, so they fail exactly like a wrong password does.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    DefaultServerParameterProvider, LoginInfo, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, ConnectionManager, PgWireConnectionState, PidSecretKeyGenerator, RandomPidSecretKeyGenerator};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tarn_catalog::{Catalog, PasswordSecret};
use tokio::sync::Mutex;

const MECHANISM: &str = "SCRAM-SHA-256";

/// Where one connection's exchange stands.
enum State {
    Initial,
    /// server-first sent; waiting for client-final.
    ServerFirstSent(Box<Exchange>),
    Done,
}

/// What the server-first message committed to, for checking the client-final one.
struct Exchange {
    user: String,
    secret: PasswordSecret,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// The startup handler of one connection.
pub(crate) struct ScramStartup {
    catalog: Catalog,
    parameters: Arc<DefaultServerParameterProvider>,
    connections: Arc<ConnectionManager>,
    pids: RandomPidSecretKeyGenerator,
    state: Mutex<State>,
}

impl ScramStartup {
    pub fn new(catalog: Catalog, parameters: Arc<DefaultServerParameterProvider>, connections: Arc<ConnectionManager>) -> Self {
        ScramStartup { catalog, parameters, connections, pids: RandomPidSecretKeyGenerator::default(), state: Mutex::new(State::Initial) }
    }

    /// The verifier of `user`, or a made-up one (see `super::auth::decoy_secret`).
    async fn secret(&self, user: &str) -> PasswordSecret {
        match self.catalog.password_secret(user).await {
            Ok(Some(secret)) if secret.salt().is_some() => secret,
            Ok(_) => super::auth::decoy_secret(user),
            Err(e) => {
                tracing::error!(error = %e, "reading a password secret failed");
                super::auth::decoy_secret(user)
            }
        }
    }
}

fn bad(message: &str) -> PgWireError {
    PgWireError::InvalidScramMessage(message.to_string())
}

/// `(gs2 header, client-first-message-bare, client nonce)` of a client-first message.
fn parse_client_first(message: &str) -> PgWireResult<(String, String, String)> {
    // gs2-header = cbind-flag "," [authzid] "," ; this server offers no channel binding, so
    // "n" (client does not support it) and "y" (client thinks the server does not) are fine.
    let mut parts = message.splitn(3, ',');
    let flag = parts.next().unwrap_or_default();
    let authzid = parts.next().ok_or_else(|| bad("client-first has no gs2 header"))?;
    let bare = parts.next().ok_or_else(|| bad("client-first has no message"))?;
    if flag != "n" && flag != "y" {
        return Err(bad("channel binding is not offered by this server"));
    }
    let nonce = bare
        .split(',')
        .find_map(|a| a.strip_prefix("r="))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','))
        .ok_or_else(|| bad("client-first has no nonce"))?;
    Ok((format!("{flag},{authzid},"), bare.to_string(), nonce.to_string()))
}

#[async_trait]
impl StartupHandler for ScramStartup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client.send(PgWireBackendMessage::Authentication(Authentication::SASL(vec![MECHANISM.to_string()]))).await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let mut state = self.state.lock().await;
                match std::mem::replace(&mut *state, State::Done) {
                    State::Initial => {
                        let initial = message.into_sasl_initial_response()?;
                        if initial.auth_method != MECHANISM {
                            return Err(PgWireError::UnsupportedSASLAuthMethod(initial.auth_method));
                        }
                        let data = initial.data.ok_or_else(|| bad("empty client-first"))?;
                        let text = std::str::from_utf8(&data).map_err(|_| bad("client-first is not UTF-8"))?;
                        let (gs2_header, client_first_bare, client_nonce) = parse_client_first(text)?;
                        // Postgres takes the user from the startup packet, not the SCRAM message.
                        let user = LoginInfo::from_client_info(client).user().unwrap_or_default().to_string();
                        let secret = self.secret(&user).await;
                        let salt = secret.salt().unwrap_or_default();
                        let nonce = format!("{client_nonce}{}", uuid::Uuid::new_v4().simple());
                        let server_first = format!("r={nonce},s={},i={}", B64.encode(salt), secret.iterations);
                        client
                            .send(PgWireBackendMessage::Authentication(Authentication::SASLContinue(
                                server_first.clone().into_bytes().into(),
                            )))
                            .await?;
                        *state =
                            State::ServerFirstSent(Box::new(Exchange { user, secret, gs2_header, client_first_bare, server_first, nonce }));
                    }
                    State::ServerFirstSent(exchange) => {
                        let Exchange { user, secret, gs2_header, client_first_bare, server_first, nonce } = *exchange;
                        let response = message.into_sasl_response()?;
                        let text = std::str::from_utf8(&response.data).map_err(|_| bad("client-final is not UTF-8"))?;
                        let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(|| bad("client-final has no proof"))?;
                        let mut channel = None;
                        let mut echoed_nonce = None;
                        for attribute in without_proof.split(',') {
                            if let Some(c) = attribute.strip_prefix("c=") {
                                channel = Some(c);
                            } else if let Some(r) = attribute.strip_prefix("r=") {
                                echoed_nonce = Some(r);
                            }
                        }
                        if channel != Some(B64.encode(&gs2_header).as_str()) {
                            return Err(bad("channel binding does not match the client-first message"));
                        }
                        if echoed_nonce != Some(nonce.as_str()) {
                            return Err(bad("the nonce does not match"));
                        }
                        let proof = B64.decode(proof).map_err(|_| bad("the proof is not base64"))?;
                        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                        let logins = &crate::credentials::LOGINS;
                        logins.wait(&user).await;
                        let Some(server_signature) = secret.verify_proof(auth_message.as_bytes(), &proof) else {
                            logins.failed(&user);
                            return Err(PgWireError::InvalidPassword(user));
                        };
                        logins.succeeded(&user);
                        let server_final = format!("v={}", B64.encode(server_signature));
                        client
                            .send(PgWireBackendMessage::Authentication(Authentication::SASLFinal(server_final.into_bytes().into())))
                            .await?;
                        let (pid, secret_key) = self.pids.generate(client);
                        client.set_pid_and_secret_key(pid, secret_key.clone());
                        let (handle, guard) = self.connections.register(pid, secret_key);
                        client.session_extensions().insert(handle);
                        client.session_extensions().insert(guard);
                        finish_authentication(client, self.parameters.as_ref()).await?;
                    }
                    State::Done => return Err(PgWireError::InvalidSASLState),
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_first_messages_parse_as_postgres_clients_send_them() {
        let (header, bare, nonce) = parse_client_first("n,,n=,r=abc").expect("libpq's form");
        assert_eq!((header.as_str(), bare.as_str(), nonce.as_str()), ("n,,", "n=,r=abc", "abc"));
        assert!(parse_client_first("p=tls-server-end-point,,n=,r=abc").is_err(), "no channel binding offered");
        assert!(parse_client_first("n,,n=user").is_err(), "a nonce is required");
        assert!(parse_client_first("garbage").is_err());
    }
}
