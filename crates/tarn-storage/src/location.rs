//! Turning user-supplied locations (paths or URLs) into normalized directory URLs.

use std::path::Path;

use url::Url;

use crate::{Result, StorageError};

/// Resolve a user-supplied location into an absolute directory URL ending in `/`.
///
/// Accepts URLs with a scheme (`s3://b/p`, `file:///x`) and plain paths; relative paths are
/// resolved against the current directory. Local paths need not exist yet.
pub fn resolve_location(location: &str) -> Result<Url> {
    let invalid = |reason: &str| StorageError::InvalidLocation { location: location.to_string(), reason: reason.to_string() };
    let trimmed = location.trim();
    if trimmed.is_empty() {
        return Err(invalid("the location is empty"));
    }
    let has_scheme =
        trimmed.split_once("://").is_some_and(|(scheme, _)| scheme.len() > 1 && scheme.chars().all(|c| c.is_ascii_alphanumeric()));
    let url = if has_scheme {
        Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?
    } else {
        let path = Path::new(trimmed);
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().map_err(|e| invalid(&format!("cannot read the current directory: {e}")))?.join(path)
        };
        let cleaned = lexically_normalize(&absolute);
        Url::from_directory_path(&cleaned).map_err(|()| invalid("not an absolute path"))?
    };
    Ok(normalize_dir_url(&url))
}

/// Ensure the URL path ends with exactly one `/` and has no empty or `.` segments.
pub fn normalize_dir_url(url: &Url) -> Url {
    let mut out = url.clone();
    let segments: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    let mut path = String::from("/");
    for segment in segments {
        path.push_str(segment);
        path.push('/');
    }
    out.set_path(&path);
    out
}

/// Whether `inner` is `outer` or lies below it (both normalized directory URLs).
pub fn is_within(inner: &Url, outer: &Url) -> bool {
    inner.scheme() == outer.scheme() && inner.host_str() == outer.host_str() && inner.path().starts_with(outer.path())
}

fn lexically_normalize(path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_become_absolute_directory_urls() {
        let url = resolve_location("some/dir/../wh").expect("valid");
        assert_eq!(url.scheme(), "file");
        assert!(url.path().ends_with("/some/wh/"), "{url}");
    }

    #[test]
    fn urls_keep_their_scheme_and_gain_a_trailing_slash() {
        let url = resolve_location("s3://bucket/prefix").expect("valid");
        assert_eq!(url.as_str(), "s3://bucket/prefix/");
    }

    #[test]
    fn containment_is_by_path_segments() {
        let outer = resolve_location("/a/b").expect("valid");
        assert!(is_within(&resolve_location("/a/b/c").expect("valid"), &outer));
        assert!(!is_within(&resolve_location("/a/bc").expect("valid"), &outer));
        assert!(is_within(&outer, &outer));
    }

    #[test]
    fn empty_location_is_rejected() {
        assert!(resolve_location("  ").is_err());
    }
}
