//! A fault-injecting object store for tests: errors, timeouts and latency at chosen (the
//! n-th matching call) or random (seeded, with a probability) operations.
//!
//! A plan is written as rules separated by `;`, each `OP[@PATH] FAULT [TRIGGER]`:
//! `put@_delta_log error p=0.3; get latency=20ms; list timeout=1s nth=2; seed=7`.
//! OP is put, get, list, delete, copy, rename or any; PATH a substring of the object path;
//! FAULT is `error`, `timeout=DUR` (waits, then fails) or `latency=DUR` (waits, then goes
//! on); TRIGGER is `every` (default), `p=0.25` or `nth=N` (only the N-th matching call).
//! A failed call never reaches the inner store, so it changed nothing.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload,
    PutResult, RenameOptions, Result,
};

/// A kind of object-store call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Put,
    Get,
    List,
    Delete,
    Copy,
    Rename,
}

/// What happens to a call a rule hits.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    Error,
    Timeout(Duration),
    Latency(Duration),
}

/// Which matching calls a rule hits.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Every,
    Probability(f64),
    Nth(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// `None` matches every operation.
    pub operation: Option<Operation>,
    pub path_contains: Option<String>,
    pub fault: Fault,
    pub trigger: Trigger,
}

/// The rules and the seed of the random triggers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultPlan {
    pub rules: Vec<FaultRule>,
    pub seed: u64,
}

impl std::str::FromStr for FaultPlan {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let mut plan = FaultPlan { rules: Vec::new(), seed: 1 };
        for item in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some(seed) = item.strip_prefix("seed=") {
                plan.seed = seed.trim().parse().map_err(|_| format!("fault plan: bad seed '{seed}'"))?;
                continue;
            }
            plan.rules.push(parse_rule(item)?);
        }
        Ok(plan)
    }
}

fn parse_rule(item: &str) -> std::result::Result<FaultRule, String> {
    let bad = |what: &str| format!("fault rule '{item}': {what}; write OP[@PATH] FAULT [TRIGGER], e.g. 'put@_delta_log error p=0.3'");
    let mut words = item.split_whitespace();
    let target = words.next().ok_or_else(|| bad("empty"))?;
    let (op, path) = match target.split_once('@') {
        Some((op, path)) => (op, Some(path.to_string())),
        None => (target, None),
    };
    let operation = match op {
        "put" => Some(Operation::Put),
        "get" => Some(Operation::Get),
        "list" => Some(Operation::List),
        "delete" => Some(Operation::Delete),
        "copy" => Some(Operation::Copy),
        "rename" => Some(Operation::Rename),
        "any" => None,
        other => return Err(bad(&format!("unknown operation '{other}'"))),
    };
    let fault_word = words.next().ok_or_else(|| bad("no fault"))?;
    let fault = match fault_word.split_once('=') {
        None if fault_word == "error" => Fault::Error,
        Some(("timeout", d)) => Fault::Timeout(parse_duration(d).ok_or_else(|| bad("bad duration"))?),
        Some(("latency", d)) => Fault::Latency(parse_duration(d).ok_or_else(|| bad("bad duration"))?),
        _ => return Err(bad(&format!("unknown fault '{fault_word}'"))),
    };
    let trigger = match words.next() {
        None | Some("every") => Trigger::Every,
        Some(word) => match word.split_once('=') {
            Some(("p", p)) => Trigger::Probability(p.parse().map_err(|_| bad("bad probability"))?),
            Some(("nth", n)) => Trigger::Nth(n.parse().map_err(|_| bad("bad count"))?),
            _ => return Err(bad(&format!("unknown trigger '{word}'"))),
        },
    };
    if words.next().is_some() {
        return Err(bad("too many words"));
    }
    Ok(FaultRule { operation, path_contains: path, fault, trigger })
}

fn parse_duration(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    text.strip_suffix('s')?.parse::<f64>().ok().map(Duration::from_secs_f64)
}

/// An [`ObjectStore`] that applies a [`FaultPlan`] before delegating.
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    plan: FaultPlan,
    counts: Vec<AtomicU64>,
    rng: Mutex<u64>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>, plan: FaultPlan) -> Self {
        let counts = plan.rules.iter().map(|_| AtomicU64::new(0)).collect();
        let seed = plan.seed.max(1);
        Self { inner, plan, counts, rng: Mutex::new(seed) }
    }

    /// The faults that hit this call, in rule order.
    fn decide(&self, operation: Operation, path: &str) -> Vec<Fault> {
        let mut hits = Vec::new();
        for (rule, count) in self.plan.rules.iter().zip(&self.counts) {
            let matches = rule.operation.is_none_or(|op| op == operation) && rule.path_contains.as_deref().is_none_or(|p| path.contains(p));
            if !matches {
                continue;
            }
            let n = count.fetch_add(1, Ordering::Relaxed) + 1;
            let hit = match rule.trigger {
                Trigger::Every => true,
                Trigger::Nth(k) => n == k,
                Trigger::Probability(p) => self.next_unit() < p,
            };
            if hit {
                hits.push(rule.fault.clone());
            }
        }
        hits
    }

    /// xorshift64*: reproducible for a seed, no dependency.
    fn next_unit(&self) -> f64 {
        let mut state = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let mut x = *state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    async fn inject(&self, operation: Operation, path: &Path) -> Result<()> {
        for fault in self.decide(operation, path.as_ref()) {
            match fault {
                Fault::Latency(d) => tokio::time::sleep(d).await,
                Fault::Timeout(d) => {
                    tokio::time::sleep(d).await;
                    return Err(injected(operation, path, "timeout"));
                }
                Fault::Error => return Err(injected(operation, path, "error")),
            }
        }
        Ok(())
    }
}

fn injected(operation: Operation, path: &Path, what: &str) -> object_store::Error {
    object_store::Error::Generic { store: "FaultyStore", source: format!("injected {what} on {operation:?} {path}").into() }
}

impl fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({:?})", self.plan)
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.inject(Operation::Put, location).await?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.inject(Operation::Put, location).await?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inject(Operation::Get, location).await?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inject(Operation::Get, location).await?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let faults: Vec<Fault> = self.decide(Operation::Delete, "");
        if faults.iter().any(|f| matches!(f, Fault::Error | Fault::Timeout(_))) {
            return stream::once(async { Err(injected(Operation::Delete, &Path::default(), "error")) }).boxed();
        }
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let path = prefix.cloned().unwrap_or_default();
        // Only the first fault decided for a listing applies.
        match self.decide(Operation::List, path.as_ref()).into_iter().next() {
            Some(Fault::Error | Fault::Timeout(_)) => stream::once(async move { Err(injected(Operation::List, &path, "error")) }).boxed(),
            Some(Fault::Latency(d)) => {
                let inner = self.inner.list(prefix);
                stream::once(tokio::time::sleep(d)).flat_map(move |()| stream::empty()).chain(inner).boxed()
            }
            None => self.inner.list(prefix),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inject(Operation::List, &prefix.cloned().unwrap_or_default()).await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inject(Operation::Copy, to).await?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inject(Operation::Rename, to).await?;
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    #[test]
    fn plans_parse_rules_and_seed() {
        let plan: FaultPlan = "put@_delta_log error p=0.3; get latency=20ms; list timeout=1.5s nth=2; seed=7".parse().expect("plan");
        assert_eq!(plan.seed, 7);
        assert_eq!(plan.rules.len(), 3);
        assert_eq!(plan.rules[0].path_contains.as_deref(), Some("_delta_log"));
        assert_eq!(plan.rules[0].trigger, Trigger::Probability(0.3));
        assert_eq!(plan.rules[1].fault, Fault::Latency(Duration::from_millis(20)));
        assert_eq!(plan.rules[2].fault, Fault::Timeout(Duration::from_millis(1500)));
        assert!("put explode".parse::<FaultPlan>().expect_err("bad fault").contains("unknown fault"));
    }

    #[tokio::test]
    async fn the_nth_call_fails_and_changes_nothing() {
        let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let store = FaultyStore::new(inner.clone(), "put@data error nth=2".parse().expect("plan"));
        store.put(&Path::from("data/1"), Bytes::from_static(b"a").into()).await.expect("first put");
        assert!(store.put(&Path::from("data/2"), Bytes::from_static(b"b").into()).await.is_err());
        store.put(&Path::from("data/3"), Bytes::from_static(b"c").into()).await.expect("third put");
        store.put(&Path::from("other/2"), Bytes::from_static(b"d").into()).await.expect("other path");
        assert!(inner.head(&Path::from("data/2")).await.is_err(), "the failed put wrote nothing");
        assert!(inner.head(&Path::from("data/3")).await.is_ok());
    }

    #[test]
    fn random_triggers_follow_the_seed() {
        let run = |seed: u64| {
            let store = FaultyStore::new(
                Arc::new(InMemory::new()),
                FaultPlan {
                    rules: vec![FaultRule {
                        operation: None,
                        path_contains: None,
                        fault: Fault::Error,
                        trigger: Trigger::Probability(0.5),
                    }],
                    seed,
                },
            );
            (0..64).map(|_| store.decide(Operation::Get, "x").len()).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        let hits: usize = run(3).iter().sum();
        assert!((16..=48).contains(&hits), "about half of 64 calls fail, got {hits}");
    }
}
