//! File URLs for local storage: HMAC-signed, expiring, naming exactly one file of one shared
//! table. The URL carries everything needed to serve it (share, schema, table, the file's path
//! as the log names it, expiry), so serving needs no state beside the signing key; the server
//! still checks on every request that the table is in the share, so removing it from the share
//! (or dropping the share) stops its URLs at once.
//!
//! The URL is `<endpoint>/files/<payload>?X-Amz-Signature=<signature>`: readers such as the
//! Delta kernel (the `delta-sharing` connector's) fetch a file over plain HTTP only when its URL
//! looks pre-signed, which they decide by that query parameter's name; the value is Tarn's
//! HMAC, not an AWS signature.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::{Result, SharingError};

/// The query parameter carrying a file URL's signature.
pub const SIGNATURE_PARAM: &str = "X-Amz-Signature";

/// One file of one shared table, until `expires_at` (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedFile {
    #[serde(rename = "s")]
    pub share: String,
    #[serde(rename = "c")]
    pub schema: String,
    #[serde(rename = "t")]
    pub table: String,
    /// The path as the Delta log names it (decoded; relative to the table, or an absolute URL).
    #[serde(rename = "p")]
    pub path: String,
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// The recipient the URL was handed to: it stops working when the recipient loses the
    /// share (REVOKE, DROP RECIPIENT).
    #[serde(rename = "r")]
    pub recipient: String,
    /// The share's partition filter when the URL was signed (`c=v,...`): a changed filter
    /// ends the URLs signed under the old one.
    #[serde(rename = "f")]
    pub partitions: String,
}

/// Signs and checks file URLs with the warehouse's sharing key.
#[derive(Clone)]
pub struct UrlSigner {
    key: hmac::Key,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner")
    }
}

impl UrlSigner {
    pub fn new(key: &[u8]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, key) }
    }

    /// `<endpoint>/files/<payload>?X-Amz-Signature=<signature>`.
    pub fn url(&self, endpoint: &str, file: &SignedFile) -> Result<String> {
        let payload = serde_json::to_vec(file).map_err(|e| SharingError::Internal(e.to_string()))?;
        let payload = URL_SAFE_NO_PAD.encode(payload);
        let signature = URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, payload.as_bytes()).as_ref());
        Ok(format!("{}/files/{payload}?{SIGNATURE_PARAM}={signature}", endpoint.trim_end_matches('/')))
    }

    /// The file a URL's `payload` and `signature` name, if the signature is ours and the URL
    /// has not expired at `now` (ms). Anything else is refused with 403, saying which.
    pub fn verify(&self, payload: &str, signature: &str, now: i64) -> Result<SignedFile> {
        let tampered =
            || SharingError::Forbidden("the file URL is not valid (its signature does not match); ask the server for a new one".into());
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| tampered())?;
        hmac::verify(&self.key, payload.as_bytes(), &signature).map_err(|_| tampered())?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| tampered())?;
        let file: SignedFile = serde_json::from_slice(&bytes).map_err(|_| tampered())?;
        if file.expires_at <= now {
            return Err(SharingError::Forbidden("the file URL has expired; query the table again for fresh URLs".into()));
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(expires_at: i64) -> SignedFile {
        SignedFile {
            share: "s".into(),
            schema: "x".into(),
            table: "t".into(),
            path: "part-0.parquet".into(),
            expires_at,
            recipient: "r".into(),
            partitions: String::new(),
        }
    }

    fn parts(url: &str) -> (String, String) {
        let (path, signature) = url.split_once("?X-Amz-Signature=").expect("signature");
        let payload = path.rsplit('/').next().expect("payload").to_string();
        (payload, signature.to_string())
    }

    #[test]
    fn a_url_works_for_its_file_until_it_expires() {
        let signer = UrlSigner::new(b"key");
        let url = signer.url("http://h/delta-sharing/", &file(2_000)).expect("url");
        assert!(url.starts_with("http://h/delta-sharing/files/"));
        let (payload, signature) = parts(&url);
        assert_eq!(signer.verify(&payload, &signature, 1_000).expect("valid"), file(2_000));
        let expired = signer.verify(&payload, &signature, 2_000).expect_err("expired");
        assert!(expired.to_string().contains("expired"), "{expired}");
    }

    #[test]
    fn tampered_or_foreign_urls_are_refused() {
        let signer = UrlSigner::new(b"key");
        let (payload, signature) = parts(&signer.url("http://h", &file(2_000)).expect("url"));
        // Another file, same signature.
        let (other, _) = parts(&signer.url("http://h", &SignedFile { path: "../x".into(), ..file(2_000) }).expect("url"));
        for (p, s) in [(other.as_str(), signature.as_str()), (payload.as_str(), "AAAA"), (payload.as_str(), "%%")] {
            let err = signer.verify(p, s, 1_000).expect_err("refused");
            assert_eq!(err.status(), 403);
        }
        // Another key.
        assert_eq!(UrlSigner::new(b"other").verify(&payload, &signature, 1_000).expect_err("refused").status(), 403);
    }
}
