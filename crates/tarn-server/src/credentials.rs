//! Passwords live in the catalog (`Catalog::set_password`); these wrappers give the server's
//! callers (the `tarn` binary, bootstrap) its error type.

use tarn_catalog::Catalog;

use crate::error::{Result, ServerError};

/// Set `user`'s password (for `tarn user create --password-stdin`).
pub async fn set_password(catalog: &Catalog, user: &str, password: &str) -> Result<()> {
    catalog.set_password(user, password).await.map_err(|e| ServerError::Sql(e.into()))
}

/// Whether `password` is `user`'s password.
pub async fn verify_password(catalog: &Catalog, user: &str, password: &str) -> Result<bool> {
    catalog.verify_password(user, password).await.map_err(|e| ServerError::Sql(e.into()))
}

/// `user:password` from an HTTP Basic credential (RFC 7617). The base64 may come padded or
/// not: ADBC's Flight SQL driver, for one, sends it unpadded.
pub(crate) fn decode_basic(encoded: &str) -> Option<(String, String)> {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let decoded = String::from_utf8(LENIENT.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Failed logins per user name, shared by every protocol that takes a password (Postgres SCRAM,
/// Flight SQL's basic auth): after [`FREE_FAILURES`] failures within [`FAILURE_WINDOW`], each
/// further attempt for that user waits a second more (up to [`MAX_DELAY`]) before it is
/// checked, so guessing a password online is slow while a user who mistypes is not held up.
pub(crate) struct LoginThrottle {
    failures: std::sync::Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>,
}

const FREE_FAILURES: u32 = 5;
const FAILURE_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(5);
/// User names remembered at most (names tried are the attacker's choice).
const REMEMBERED: usize = 10_000;

/// The one throttle of the process.
pub(crate) static LOGINS: std::sync::LazyLock<LoginThrottle> =
    std::sync::LazyLock::new(|| LoginThrottle { failures: std::sync::Mutex::new(std::collections::HashMap::new()) });

impl LoginThrottle {
    fn key(user: &str) -> String {
        user.to_ascii_lowercase()
    }

    /// How long an attempt for `user` waits now.
    pub(crate) fn delay(&self, user: &str) -> std::time::Duration {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(&Self::key(user)) {
            Some((count, last)) if last.elapsed() < FAILURE_WINDOW && *count >= FREE_FAILURES => {
                std::time::Duration::from_secs(u64::from(count - FREE_FAILURES + 1)).min(MAX_DELAY)
            }
            _ => std::time::Duration::ZERO,
        }
    }

    /// Wait as [`LoginThrottle::delay`] says.
    pub(crate) async fn wait(&self, user: &str) {
        let delay = self.delay(user);
        if !delay.is_zero() {
            tracing::warn!(user, ?delay, "repeated failed logins; slowing attempts down");
            tokio::time::sleep(delay).await;
        }
    }

    pub(crate) fn failed(&self, user: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= REMEMBERED {
            failures.retain(|_, (_, last)| last.elapsed() < FAILURE_WINDOW);
            if failures.len() >= REMEMBERED {
                failures.clear();
            }
        }
        let entry = failures.entry(Self::key(user)).or_insert((0, std::time::Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            entry.0 = 0;
        }
        entry.0 += 1;
        entry.1 = std::time::Instant::now();
    }

    pub(crate) fn succeeded(&self, user: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&Self::key(user));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_failures_slow_down_that_user_only() {
        let throttle = LoginThrottle { failures: std::sync::Mutex::new(std::collections::HashMap::new()) };
        for _ in 0..FREE_FAILURES {
            assert!(throttle.delay("ada").is_zero());
            throttle.failed("ada");
        }
        assert_eq!(throttle.delay("ADA"), std::time::Duration::from_secs(1));
        for _ in 0..20 {
            throttle.failed("ada");
        }
        assert_eq!(throttle.delay("ada"), MAX_DELAY);
        assert!(throttle.delay("bob").is_zero());
        throttle.succeeded("ada");
        assert!(throttle.delay("ada").is_zero());
    }

    #[test]
    fn basic_credentials_decode_padded_or_not_at_every_length() {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
        for length in 1..=40 {
            let password: String = "s3cret-pässword-0123456789-abcdefghijklmnop".chars().take(length).collect();
            let pair = format!("ada:{password}");
            for encoded in [STANDARD.encode(&pair), STANDARD_NO_PAD.encode(&pair)] {
                assert_eq!(decode_basic(&encoded), Some(("ada".to_string(), password.clone())), "{encoded}");
            }
        }
        assert_eq!(decode_basic("not base64!"), None);
        assert_eq!(decode_basic(&STANDARD.encode("no colon")), None);
    }
}
