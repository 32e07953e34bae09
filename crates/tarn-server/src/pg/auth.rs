//! Postgres passwords: what SCRAM checks for users the catalog does not know.

use tarn_catalog::PasswordSecret;

/// A verifier no password matches, for a user that does not exist or has no password. Its salt
/// is the same on every attempt, as a real user's is (a fresh one each time would tell who does
/// not exist), and only this process can compute it.
pub(crate) fn decoy_secret(user: &str) -> PasswordSecret {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    PasswordSecret {
        salt_hex: hex(&decoy(user, "salt")[..16]),
        iterations: tarn_catalog::PASSWORD_ITERATIONS,
        stored_key_hex: hex(&decoy(user, "stored")),
        server_key_hex: hex(&decoy(user, "server")),
        salted_password_hex: None,
    }
}

/// SHA-256 over a random per-process key, the purpose and the user name.
fn decoy(user: &str, purpose: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key
    });
    let mut hash = Sha256::new();
    hash.update(key);
    hash.update(purpose.as_bytes());
    hash.update([0]);
    hash.update(user.to_ascii_lowercase().as_bytes());
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoy_is_stable_per_user_and_matches_no_password() {
        assert_eq!(decoy_secret("ghost"), decoy_secret("GHOST"));
        assert_ne!(decoy_secret("ghost").salt_hex, decoy_secret("other").salt_hex);
        assert!(!decoy_secret("ghost").matches("anything"));
    }
}
