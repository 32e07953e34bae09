//! The one place object stores are built: every URL Tarn touches (the warehouse, a table,
//! files to load) gets its store here, configured from [`StorageOptions`] and shared per
//! bucket, so connection pools and the disk cache are shared too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use url::Url;

use crate::cache::{CachingStore, DiskCache};
use crate::faults::FaultyStore;
use crate::options::{AwsProfile, StorageOptions};
use crate::{Result, StorageError};

struct Registry {
    options: StorageOptions,
    cache: Option<Arc<DiskCache>>,
    stores: HashMap<String, Arc<dyn ObjectStore>>,
}

fn registry() -> &'static RwLock<Option<Registry>> {
    static REGISTRY: OnceLock<RwLock<Option<Registry>>> = OnceLock::new();
    REGISTRY.get_or_init(|| RwLock::new(None))
}

/// Set the process's storage options. Stores built before are dropped, so the next lookup
/// builds them with the new options.
pub fn configure(options: StorageOptions) -> Result<()> {
    let cache = match &options.cache {
        Some(cache) => Some(Arc::new(DiskCache::open(cache)?)),
        None => None,
    };
    let mut guard = registry().write().unwrap_or_else(|p| p.into_inner());
    *guard = Some(Registry { options, cache, stores: HashMap::new() });
    Ok(())
}

/// The disk cache in force, if any.
pub fn disk_cache() -> Option<Arc<DiskCache>> {
    let guard = registry().read().unwrap_or_else(|p| p.into_inner());
    guard.as_ref().and_then(|r| r.cache.clone())
}

/// The store holding `url` (rooted at the bucket, or at `/` for local disk) and the path of
/// `url` inside it.
pub fn store_for_url(url: &Url) -> Result<(Arc<dyn ObjectStore>, Path)> {
    let key = store_key(url);
    let path = path_in_store(url)?;
    {
        let guard = registry().read().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = guard.as_ref().and_then(|r| r.stores.get(&key)) {
            return Ok((store.clone(), path));
        }
    }
    let mut guard = registry().write().unwrap_or_else(|p| p.into_inner());
    let registry = guard.get_or_insert_with(|| Registry { options: StorageOptions::default(), cache: None, stores: HashMap::new() });
    if let Some(store) = registry.stores.get(&key) {
        return Ok((store.clone(), path));
    }
    let store = build_store(url, &registry.options, registry.cache.clone())?;
    registry.stores.insert(key, store.clone());
    Ok((store, path))
}

/// Stores are shared per scheme and authority (bucket, container, host).
fn store_key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.authority())
}

fn path_in_store(url: &Url) -> Result<Path> {
    if url.scheme() == "file" {
        let file = url
            .to_file_path()
            .map_err(|()| StorageError::InvalidLocation { location: url.to_string(), reason: "not a local path".into() })?;
        return Path::from_absolute_path(&file)
            .map_err(|e| StorageError::InvalidLocation { location: url.to_string(), reason: e.to_string() });
    }
    Path::from_url_path(url.path()).map_err(|e| StorageError::InvalidLocation { location: url.to_string(), reason: e.to_string() })
}

fn build_store(url: &Url, options: &StorageOptions, cache: Option<Arc<DiskCache>>) -> Result<Arc<dyn ObjectStore>> {
    let remote = !matches!(url.scheme(), "file" | "memory");
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "file" => Arc::new(LocalFileSystem::new()),
        "memory" => Arc::new(InMemory::new()),
        "s3" | "s3a" => Arc::new(s3_builder(url, options).build()?),
        "gs" => {
            let mut builder = GoogleCloudStorageBuilder::from_env().with_url(url.as_str());
            for (key, value) in &options.extra {
                if let Ok(key) = key.parse() {
                    builder = builder.with_config(key, value);
                }
            }
            Arc::new(builder.build()?)
        }
        "az" | "adl" | "azure" | "abfs" | "abfss" => {
            let mut builder = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
            for (key, value) in &options.extra {
                if let Ok(key) = key.parse() {
                    builder = builder.with_config(key, value);
                }
            }
            Arc::new(builder.build()?)
        }
        other => {
            return Err(StorageError::InvalidLocation {
                location: url.to_string(),
                reason: format!("unsupported scheme '{other}'; use a path, file://, s3://, gs:// or az://"),
            });
        }
    };
    let store = match (remote, cache) {
        (true, Some(cache)) => Arc::new(CachingStore::new(store, cache, store_key(url))) as Arc<dyn ObjectStore>,
        _ => store,
    };
    Ok(match &options.faults {
        Some(plan) => Arc::new(FaultyStore::new(store, plan.clone())),
        None => store,
    })
}

/// S3: Tarn's settings first, then the environment (object_store's `AWS_*` keys), then the
/// AWS profile for what is still missing.
fn s3_builder(url: &Url, options: &StorageOptions) -> AmazonS3Builder {
    use object_store::aws::AmazonS3ConfigKey as Key;
    let s3 = &options.s3;
    let mut builder = AmazonS3Builder::from_env().with_url(url.as_str());
    let profile_name = s3.profile.clone().or_else(|| std::env::var("AWS_PROFILE").ok()).unwrap_or_else(|| "default".into());
    let profile = profile_cache(&profile_name);
    let missing = |b: &AmazonS3Builder, key: Key| b.get_config_value(&key).is_none();
    if let Some(endpoint) = s3.endpoint.clone().or_else(|| profile.endpoint_url.clone())
        && (s3.endpoint.is_some() || missing(&builder, Key::Endpoint))
    {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = s3.region.clone().or_else(|| profile.region.clone())
        && (s3.region.is_some() || missing(&builder, Key::Region))
    {
        builder = builder.with_region(region);
    }
    if let Some(allow) = s3.allow_http {
        builder = builder.with_allow_http(allow);
    } else if builder.get_config_value(&Key::Endpoint).is_some_and(|e| e.starts_with("http://")) {
        builder = builder.with_allow_http(true);
    }
    // object_store defaults to path-style requests, which S3-compatible servers need.
    if let Some(path_style) = s3.path_style {
        builder = builder.with_virtual_hosted_style_request(!path_style);
    }
    let key = s3.access_key_id.clone().or_else(|| profile.access_key_id.clone());
    let secret = s3.secret_access_key.clone().or_else(|| profile.secret_access_key.clone());
    if let (Some(key), Some(secret)) = (key, secret)
        && (s3.access_key_id.is_some() || missing(&builder, Key::AccessKeyId))
    {
        builder = builder.with_access_key_id(key).with_secret_access_key(secret);
        if let Some(token) = s3.session_token.clone().or_else(|| profile.session_token.clone()) {
            builder = builder.with_token(token);
        }
    }
    builder
}

fn profile_cache(name: &str) -> Arc<AwsProfile> {
    static PROFILES: OnceLock<Mutex<HashMap<String, Arc<AwsProfile>>>> = OnceLock::new();
    let mut profiles = PROFILES.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    profiles.entry(name.to_string()).or_insert_with(|| Arc::new(AwsProfile::load(name))).clone()
}

/// A pre-signed `GET` URL for the object at `url`, valid for `expires_in`, where its store can
/// sign one (S3 and S3-compatible stores); `None` for local disk and stores that cannot.
pub async fn presigned_get_url(url: &Url, expires_in: std::time::Duration) -> Result<Option<Url>> {
    use object_store::signer::Signer;
    if !matches!(url.scheme(), "s3" | "s3a") {
        return Ok(None);
    }
    let options = {
        let guard = registry().read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|r| r.options.clone()).unwrap_or_default()
    };
    let signer = s3_builder(url, &options).build()?;
    let path = path_in_store(url)?;
    Ok(Some(signer.signed_url(http::Method::GET, &path, expires_in).await?))
}
