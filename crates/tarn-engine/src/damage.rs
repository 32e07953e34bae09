//! Naming what is wrong when a table's log cannot be read.
//!
//! delta-rs reports a damaged log as a JSON or "gap" error without saying which file; a user
//! needs the file. This walks the part of `_delta_log` a reader replays (the commits after the
//! newest checkpoint) and names the first commit file that is missing, empty or not JSON.

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use url::Url;

fn version_of(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
}

/// What is wrong with the log of the table at `url`, if a damaged file explains it.
pub(crate) async fn diagnose(url: &Url) -> Option<String> {
    let (store, prefix) = tarn_storage::store_for_url(url).ok()?;
    let log = prefix.clone().join("_delta_log");
    let files: Vec<_> = store.list(Some(&log)).try_collect().await.ok()?;
    let mut commits = Vec::new();
    let mut checkpoint = None;
    for meta in &files {
        let name = meta.location.filename().unwrap_or_default();
        if let Some(v) = version_of(name, ".json") {
            commits.push((v, meta.location.clone()));
        } else if let Some(v) = name.split_once(".checkpoint").and_then(|(digits, _)| version_of(&format!("{digits}.x"), ".x")) {
            checkpoint = checkpoint.max(Some(v));
        }
    }
    commits.sort_by_key(|(v, _)| *v);
    let replayed: Vec<_> = commits.iter().filter(|(v, _)| checkpoint.is_none_or(|c| *v > c)).collect();
    for (expected, (version, path)) in (checkpoint.map_or(0, |c| c + 1)..).zip(replayed.iter()) {
        if *version != expected {
            return Some(format!(
                "commit file _delta_log/{expected:020}.json is missing (the log goes from version {} to {version})",
                expected.saturating_sub(1)
            ));
        }
        let bytes = match store.get(path).await {
            Ok(got) => got.bytes().await.ok()?,
            Err(e) => return Some(format!("cannot read {path}: {e}")),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Some(format!("{path} is empty"));
        }
        for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(line) {
                return Some(format!("{path} line {} is not valid JSON ({e}); the file is truncated or corrupt", n + 1));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::version_of;

    #[test]
    fn only_twenty_digit_names_are_versions() {
        assert_eq!(version_of("00000000000000000012.json", ".json"), Some(12));
        assert_eq!(version_of("12.json", ".json"), None);
        assert_eq!(version_of("_last_checkpoint", ".json"), None);
    }
}
