//! A size-bounded, least-recently-used disk cache of remote data files.
//!
//! Only immutable objects are cached: Delta data files (`*.parquet` outside `_delta_log`) and
//! deletion vectors, whose names are unique per write and never rewritten. Log files, the
//! `_last_checkpoint` pointer and catalog documents always go to the store, so a cached entry
//! can never hide a newer version. A file is fetched whole on its first read and served from
//! disk afterwards; an entry records the object's size and is dropped if the store ever
//! reports another.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use sha2::{Digest, Sha256};

use crate::StorageError;
use crate::options::CacheOptions;

#[derive(Debug, Clone)]
struct Entry {
    size: u64,
    last_modified: DateTime<Utc>,
    e_tag: Option<String>,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Index {
    entries: HashMap<String, Entry>,
    total: u64,
    clock: u64,
}

/// Hits, misses and bytes of a [`DiskCache`] since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub bytes_fetched: u64,
    pub bytes_cached: u64,
    pub files: u64,
}

/// The cache directory and its index (rebuilt from the directory at start).
pub struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
    hits: AtomicU64,
    misses: AtomicU64,
    bytes_fetched: AtomicU64,
}

impl fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DiskCache({}, {} bytes)", self.dir.display(), self.max_bytes)
    }
}

impl DiskCache {
    pub fn open(options: &CacheOptions) -> crate::Result<Self> {
        let io = |source| StorageError::Io { path: options.dir.display().to_string(), source };
        std::fs::create_dir_all(&options.dir).map_err(io)?;
        let mut index = Index::default();
        let mut found: Vec<(String, Entry)> = Vec::new();
        for item in std::fs::read_dir(&options.dir).map_err(io)? {
            let Ok(item) = item else { continue };
            let name = item.file_name().to_string_lossy().into_owned();
            let Ok(meta) = item.metadata() else { continue };
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(item.path());
                continue;
            }
            let modified: DateTime<Utc> = meta.modified().map(DateTime::from).unwrap_or_else(|_| Utc::now());
            found.push((
                name,
                Entry { size: meta.len(), last_modified: modified, e_tag: None, last_used: modified.timestamp_millis().max(0) as u64 },
            ));
        }
        found.sort_by_key(|(_, e)| e.last_used);
        for (name, mut entry) in found {
            index.clock += 1;
            entry.last_used = index.clock;
            index.total += entry.size;
            index.entries.insert(name, entry);
        }
        let cache = Self {
            dir: options.dir.clone(),
            max_bytes: options.max_bytes,
            index: Mutex::new(index),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            bytes_fetched: AtomicU64::new(0),
        };
        cache.evict();
        Ok(cache)
    }

    pub fn stats(&self) -> CacheStats {
        let index = self.lock();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes_fetched: self.bytes_fetched.load(Ordering::Relaxed),
            bytes_cached: index.total,
            files: index.entries.len() as u64,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn name(store: &str, path: &Path) -> String {
        let digest = Sha256::digest(format!("{store}/{path}").as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn lookup(&self, name: &str) -> Option<Entry> {
        let mut index = self.lock();
        index.clock += 1;
        let clock = index.clock;
        let entry = index.entries.get_mut(name)?;
        entry.last_used = clock;
        Some(entry.clone())
    }

    fn read(&self, name: &str, range: Range<u64>) -> std::io::Result<Bytes> {
        let file = std::fs::File::open(self.dir.join(name))?;
        let mut buf = vec![0u8; (range.end - range.start) as usize];
        file.read_exact_at(&mut buf, range.start)?;
        Ok(Bytes::from(buf))
    }

    fn insert(&self, name: &str, data: &Bytes, meta: &ObjectMeta) {
        let size = data.len() as u64;
        if size > self.max_bytes {
            return;
        }
        // One temporary file per insert: two tasks of one process fetching the same object at
        // once must not write into (and rename) each other's half-written copy.
        static INSERTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = INSERTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self.dir.join(format!("{name}.{}.{n}.tmp", std::process::id()));
        let written = std::fs::write(&tmp, data).and_then(|()| std::fs::rename(&tmp, self.dir.join(name)));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!("disk cache: cannot write {}: {e}", self.dir.display());
            return;
        }
        {
            let mut index = self.lock();
            index.clock += 1;
            let entry = Entry { size, last_modified: meta.last_modified, e_tag: meta.e_tag.clone(), last_used: index.clock };
            if let Some(old) = index.entries.insert(name.to_string(), entry) {
                index.total -= old.size;
            }
            index.total += size;
        }
        self.evict();
    }

    fn remove(&self, name: &str) {
        let mut index = self.lock();
        if let Some(old) = index.entries.remove(name) {
            index.total -= old.size;
            let _ = std::fs::remove_file(self.dir.join(name));
        }
    }

    /// Remove least recently used entries until the total fits.
    fn evict(&self) {
        let mut index = self.lock();
        while index.total > self.max_bytes {
            let Some(oldest) = index.entries.iter().min_by_key(|(_, e)| e.last_used).map(|(k, _)| k.clone()) else {
                break;
            };
            if let Some(entry) = index.entries.remove(&oldest) {
                index.total -= entry.size;
                let _ = std::fs::remove_file(self.dir.join(&oldest));
            }
        }
    }
}

/// Whether `path` names an object that is never rewritten.
pub fn is_immutable_data_file(path: &Path) -> bool {
    let text = path.as_ref();
    if text.contains("_delta_log/") || text.starts_with("_delta_log") {
        return false;
    }
    text.ends_with(".parquet") || (text.ends_with(".bin") && text.contains("deletion_vector_"))
}

/// An [`ObjectStore`] that serves immutable data files through a [`DiskCache`].
pub struct CachingStore {
    inner: Arc<dyn ObjectStore>,
    cache: Arc<DiskCache>,
    store_key: String,
}

impl CachingStore {
    pub fn new(inner: Arc<dyn ObjectStore>, cache: Arc<DiskCache>, store_key: String) -> Self {
        Self { inner, cache, store_key }
    }

    fn cacheable(location: &Path, options: &GetOptions) -> bool {
        is_immutable_data_file(location)
            && !options.head
            && options.if_match.is_none()
            && options.if_none_match.is_none()
            && options.if_modified_since.is_none()
            && options.if_unmodified_since.is_none()
            && options.version.is_none()
    }

    /// The cache entry for `location`, fetching the whole object on a miss. `None` if the
    /// object cannot be cached (too big); the fetched bytes are then returned instead.
    async fn ensure(&self, location: &Path) -> Result<(String, Entry, Option<Bytes>)> {
        let name = DiskCache::name(&self.store_key, location);
        if let Some(entry) = self.cache.lookup(&name) {
            self.cache.hits.fetch_add(1, Ordering::Relaxed);
            return Ok((name, entry, None));
        }
        self.cache.misses.fetch_add(1, Ordering::Relaxed);
        let result = self.inner.get_opts(location, GetOptions::default()).await?;
        let meta = result.meta.clone();
        let data = result.bytes().await?;
        self.cache.bytes_fetched.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.cache.insert(&name, &data, &meta);
        let entry = Entry { size: data.len() as u64, last_modified: meta.last_modified, e_tag: meta.e_tag.clone(), last_used: 0 };
        Ok((name, entry, Some(data)))
    }

    fn slice(&self, location: &Path, name: &str, fetched: &Option<Bytes>, range: Range<u64>) -> Result<Bytes> {
        if let Some(data) = fetched {
            return Ok(data.slice(range.start as usize..range.end as usize));
        }
        self.cache.read(name, range).map_err(|e| {
            self.cache.remove(name);
            object_store::Error::Generic { store: "DiskCache", source: format!("cannot read the cached copy of {location}: {e}").into() }
        })
    }
}

fn resolve_range(range: Option<&GetRange>, size: u64, location: &Path) -> Result<Range<u64>> {
    let invalid = |what: String| object_store::Error::Generic {
        store: "DiskCache",
        source: format!("invalid range for {location} ({size} bytes): {what}").into(),
    };
    Ok(match range {
        None => 0..size,
        Some(GetRange::Bounded(r)) => {
            if r.start >= size && size > 0 || r.start > r.end {
                return Err(invalid(format!("{r:?}")));
            }
            r.start..r.end.min(size)
        }
        Some(GetRange::Offset(o)) => {
            if *o > size {
                return Err(invalid(format!("offset {o}")));
            }
            *o..size
        }
        Some(GetRange::Suffix(n)) => size.saturating_sub(*n)..size,
    })
}

impl fmt::Debug for CachingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CachingStore({:?})", self.cache)
    }
}

impl fmt::Display for CachingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CachingStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CachingStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if !Self::cacheable(location, &options) {
            return self.inner.get_opts(location, options).await;
        }
        let (name, entry, fetched) = self.ensure(location).await?;
        let range = resolve_range(options.range.as_ref(), entry.size, location)?;
        let data = self.slice(location, &name, &fetched, range.clone())?;
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream::once(async move { Ok(data) }).boxed()),
            meta: ObjectMeta {
                location: location.clone(),
                last_modified: entry.last_modified,
                size: entry.size,
                e_tag: entry.e_tag,
                version: None,
            },
            range,
            attributes: Default::default(),
        })
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        if !is_immutable_data_file(location) {
            return self.inner.get_ranges(location, ranges).await;
        }
        let (name, entry, fetched) = self.ensure(location).await?;
        ranges
            .iter()
            .map(|r| {
                let range = resolve_range(Some(&GetRange::Bounded(r.clone())), entry.size, location)?;
                self.slice(location, &name, &fetched, range)
            })
            .collect()
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let cache = self.cache.clone();
        let store_key = self.store_key.clone();
        self.inner
            .delete_stream(locations)
            .map(move |deleted| {
                if let Ok(path) = &deleted {
                    cache.remove(&DiskCache::name(&store_key, path));
                }
                deleted
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    fn cache(dir: &std::path::Path, max_bytes: u64) -> Arc<DiskCache> {
        Arc::new(DiskCache::open(&CacheOptions { dir: dir.to_path_buf(), max_bytes }).expect("cache"))
    }

    #[tokio::test]
    async fn data_files_are_served_from_disk_after_the_first_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let file = Path::from("t/part-0001.parquet");
        inner.put(&file, Bytes::from_static(b"0123456789").into()).await.expect("put");
        let cache = cache(dir.path(), 1 << 20);
        let store = CachingStore::new(inner.clone(), cache.clone(), "s3://b".into());
        assert_eq!(store.get_range(&file, 2..5).await.expect("range"), Bytes::from_static(b"234"));
        assert_eq!(
            store.get_ranges(&file, &[0..1, 8..10]).await.expect("ranges"),
            vec![Bytes::from_static(b"0"), Bytes::from_static(b"89")]
        );
        let stats = cache.stats();
        assert_eq!((stats.misses, stats.hits, stats.files), (1, 1, 1));
        // Served from disk even when the store has lost it.
        inner.delete(&file).await.expect("delete");
        assert_eq!(store.get(&file).await.expect("get").bytes().await.expect("bytes").len(), 10);
        // A cache reopened over the same directory knows its files.
        assert_eq!(super::DiskCache::open(&CacheOptions { dir: dir.path().into(), max_bytes: 1 << 20 }).expect("reopen").stats().files, 1);
    }

    #[tokio::test]
    async fn log_files_always_go_to_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let cache = cache(dir.path(), 1 << 20);
        let store = CachingStore::new(inner.clone(), cache.clone(), "s3://b".into());
        let pointer = Path::from("t/_delta_log/_last_checkpoint");
        inner.put(&pointer, Bytes::from_static(b"{\"version\":1}").into()).await.expect("put");
        store.get(&pointer).await.expect("get");
        inner.put(&pointer, Bytes::from_static(b"{\"version\":2}").into()).await.expect("put");
        let now = store.get(&pointer).await.expect("get").bytes().await.expect("bytes");
        assert_eq!(now, Bytes::from_static(b"{\"version\":2}"));
        assert_eq!(cache.stats().files, 0);
        assert!(!is_immutable_data_file(&Path::from("t/_delta_log/00000000000000000010.checkpoint.parquet")));
    }

    #[tokio::test]
    async fn the_least_recently_used_files_are_evicted_beyond_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let cache = cache(dir.path(), 25);
        let store = CachingStore::new(inner.clone(), cache.clone(), "s3://b".into());
        for i in 0..3 {
            inner.put(&Path::from(format!("t/{i}.parquet")), Bytes::from(vec![b'x'; 10]).into()).await.expect("put");
        }
        store.get(&Path::from("t/0.parquet")).await.expect("get 0");
        store.get(&Path::from("t/1.parquet")).await.expect("get 1");
        store.get(&Path::from("t/0.parquet")).await.expect("touch 0");
        store.get(&Path::from("t/2.parquet")).await.expect("get 2");
        let stats = cache.stats();
        assert_eq!(stats.files, 2, "{stats:?}");
        assert!(stats.bytes_cached <= 25);
        // 1 was the least recently used: reading it again is a miss, 0 is still a hit.
        let misses = stats.misses;
        store.get(&Path::from("t/0.parquet")).await.expect("get 0");
        assert_eq!(cache.stats().misses, misses);
        store.get(&Path::from("t/1.parquet")).await.expect("get 1");
        assert_eq!(cache.stats().misses, misses + 1);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 2, "evicted files are deleted");
    }
}
