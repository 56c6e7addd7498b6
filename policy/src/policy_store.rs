//! The live policy store: the version being served, and how it changes.
//!
//! The current [`PolicyVersion`] sits behind an atomic pointer. A change —
//! the directory changed, SIGHUP, an admin `PUT` — compiles a complete new
//! version off the request path and swaps the pointer in one step, so a
//! request sees either the old version or the new one, never a mix. A bad
//! update is refused with its diagnostics and the old version keeps serving.
//! Changes are serialized, and every activated version is recorded in the
//! store's policy history.
//!
//! # Several replicas
//! On a shared store (PostgreSQL) the history is also how replicas agree:
//! the newest recorded version is the one every replica serves.
//! [`PolicyStore::follow`] adopts a version another replica recorded at once
//! when the store announces it (`LISTEN`/`NOTIFY`) and, as a fallback, at a
//! fixed interval. At startup a replica whose directory bundle is the one
//! last loaded from a directory joins the newest version instead of
//! recording its own, so a restart does not undo an admin-API change made
//! through another replica; a different directory bundle (a new deploy) is
//! recorded and becomes the newest for everyone.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use palisade_store::{PolicyVersionRecord, Store, StoreEvent};
use time::format_description::well_known::Rfc3339;

use crate::bundle::{PolicyBundle, SourceFile};
use crate::error::PolicyError;
use crate::metrics::PolicyMetrics;
use crate::version::{OnEvaluationError, PolicyVersion};

/// What a policy change replaces.
#[derive(Debug, Clone)]
pub enum PolicyUpdate {
    /// Everything, from the policy directory.
    Directory,
    /// The policy and template files (and links), keeping schema and entities.
    Policies {
        /// New policy files.
        policies: Vec<SourceFile>,
        /// New template link files.
        links: Vec<SourceFile>,
    },
    /// The entities, keeping policies and schema.
    Entities(Vec<SourceFile>),
    /// The schema, keeping policies and entities.
    Schema(Option<SourceFile>),
}

/// The live policy store.
pub struct PolicyStore {
    current: ArcSwap<PolicyVersion>,
    dir: Option<PathBuf>,
    store: Arc<dyn Store>,
    metrics: PolicyMetrics,
    on_error: OnEvaluationError,
    change: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for PolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStore")
            .field("dir", &self.dir)
            .field("etag", &self.current().etag())
            .finish()
    }
}

impl PolicyStore {
    /// Loads the bundle in `dir` and serves it. Fails if it is invalid.
    pub async fn open(
        dir: &Path,
        store: Arc<dyn Store>,
        metrics: PolicyMetrics,
        on_error: OnEvaluationError,
    ) -> Result<Self, PolicyError> {
        let owned = dir.to_path_buf();
        let version = tokio::task::spawn_blocking(move || {
            PolicyVersion::compile(PolicyBundle::from_dir(&owned)?, on_error)
        })
        .await
        .map_err(|e| PolicyError::Config(format!("policy compile task failed: {e}")))??;
        let this = Self::serve(version, Some(dir.to_path_buf()), store, metrics, on_error);
        if this.store.is_shared() {
            this.join_shared().await?;
        } else {
            this.record(&this.current(), "startup").await?;
        }
        Ok(this)
    }

    /// Serves an already compiled version (no directory behind it).
    pub fn serve(
        version: PolicyVersion,
        dir: Option<PathBuf>,
        store: Arc<dyn Store>,
        metrics: PolicyMetrics,
        on_error: OnEvaluationError,
    ) -> Self {
        metrics.observe_version(&version);
        Self {
            current: ArcSwap::from_pointee(version),
            dir,
            store,
            metrics,
            on_error,
            change: tokio::sync::Mutex::new(()),
        }
    }

    /// The version being served now.
    pub fn current(&self) -> Arc<PolicyVersion> {
        self.current.load_full()
    }

    /// A cheap borrow of the current version, for the request path.
    pub fn load(&self) -> arc_swap::Guard<Arc<PolicyVersion>> {
        self.current.load()
    }

    /// The directory the store reloads from, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Applies a change. `if_match`, when given, must equal the etag of the
    /// version being served (optimistic concurrency for admin clients).
    /// `source` names the cause in the policy history.
    pub async fn update(
        &self,
        update: PolicyUpdate,
        if_match: Option<&str>,
        source: &str,
    ) -> Result<Arc<PolicyVersion>, PolicyError> {
        let _serial = self.change.lock().await;
        let current = self.current();
        if let Some(expected) = if_match {
            let expected = expected.trim_matches('"');
            if expected != current.etag() && expected != "*" {
                return Err(PolicyError::Conflict {
                    expected: expected.to_owned(),
                    current: current.etag().to_owned(),
                });
            }
        }
        let mut bundle = current.bundle().clone();
        let dir = self.dir.clone();
        let on_error = self.on_error;
        let compiled = tokio::task::spawn_blocking(move || {
            match update {
                PolicyUpdate::Directory => {
                    let dir = dir.ok_or_else(|| {
                        PolicyError::Config("no policy directory to reload from".into())
                    })?;
                    bundle = PolicyBundle::from_dir(&dir)?;
                }
                PolicyUpdate::Policies { policies, links } => {
                    bundle.policies = policies;
                    bundle.links = links;
                }
                PolicyUpdate::Entities(files) => bundle.entities = files,
                PolicyUpdate::Schema(schema) => bundle.schema = schema,
            }
            PolicyVersion::compile(bundle, on_error)
        })
        .await
        .map_err(|e| PolicyError::Config(format!("policy compile task failed: {e}")))?;
        let version = match compiled {
            Ok(v) => Arc::new(v),
            Err(e) => {
                self.metrics.reload(false);
                tracing::warn!(source, error = %e, "policy update refused; previous version keeps serving");
                return Err(e);
            }
        };
        if version.etag() == current.etag() {
            self.metrics.reload(true);
            return Ok(current);
        }
        self.record(&version, source).await?;
        self.current.store(version.clone());
        self.metrics.reload(true);
        self.metrics.observe_version(&version);
        tracing::info!(
            source,
            etag = version.etag(),
            policies = version.policy_count(),
            entities = version.entity_count(),
            "policy version activated"
        );
        Ok(version)
    }

    /// The most recent policy versions (etag, source, time), newest first.
    pub async fn history(&self, limit: u32) -> Result<Vec<serde_json::Value>, PolicyError> {
        Ok(self
            .store
            .policy_versions(limit)
            .await?
            .into_iter()
            .map(|v| serde_json::json!({ "etag": v.etag, "source": v.source, "created_at": v.created_at }))
            .collect())
    }

    async fn record(&self, version: &PolicyVersion, source: &str) -> Result<(), PolicyError> {
        let bundle = serde_json::to_string(version.bundle())
            .map_err(|e| PolicyError::Config(format!("cannot serialize bundle: {e}")))?;
        self.store
            .record_policy_version(&PolicyVersionRecord {
                etag: version.etag().to_owned(),
                source: source.to_owned(),
                created_at: version.loaded_at().format(&Rfc3339).unwrap_or_default(),
                bundle,
            })
            .await?;
        Ok(())
    }

    /// Startup on a shared store: see the module documentation.
    async fn join_shared(&self) -> Result<(), PolicyError> {
        /// Sources of versions loaded from a policy directory.
        const FROM_DIRECTORY: &[&str] = &["startup", "file-change", "sighup"];
        let history = self.store.policy_versions(100).await?;
        let mine = self.current();
        let Some(newest) = history.first() else {
            return self.record(&mine, "startup").await;
        };
        if newest.etag == mine.etag() {
            return Ok(());
        }
        let last_from_directory = history
            .iter()
            .find(|v| FROM_DIRECTORY.contains(&v.source.as_str()));
        if last_from_directory.is_some_and(|v| v.etag == mine.etag()) {
            self.adopt(newest).await
        } else {
            self.record(&mine, "startup").await
        }
    }

    /// Serves a version recorded in the store (by another replica) without
    /// recording it again.
    async fn adopt(&self, record: &PolicyVersionRecord) -> Result<(), PolicyError> {
        let bundle: PolicyBundle = serde_json::from_str(&record.bundle).map_err(|e| {
            PolicyError::Config(format!(
                "stored policy version {} is not a bundle: {e}",
                record.etag
            ))
        })?;
        let on_error = self.on_error;
        let compiled =
            tokio::task::spawn_blocking(move || PolicyVersion::compile(bundle, on_error))
                .await
                .map_err(|e| PolicyError::Config(format!("policy compile task failed: {e}")))?;
        let version = match compiled {
            Ok(v) => Arc::new(v),
            Err(e) => {
                self.metrics.reload(false);
                tracing::warn!(etag = %record.etag, error = %e, "stored policy version refused; previous version keeps serving");
                return Err(e);
            }
        };
        self.current.store(version.clone());
        self.metrics.reload(true);
        self.metrics.observe_version(&version);
        tracing::info!(
            etag = version.etag(),
            source = %record.source,
            "policy version adopted from the shared store"
        );
        Ok(())
    }

    /// Serves the newest version in the store's history if it is not the one
    /// being served (another replica recorded it). Returns whether it changed.
    pub async fn follow_store(&self) -> Result<bool, PolicyError> {
        let _serial = self.change.lock().await;
        let Some(newest) = self.store.policy_versions(1).await?.into_iter().next() else {
            return Ok(false);
        };
        if newest.etag == self.current().etag() {
            return Ok(false);
        }
        self.adopt(&newest).await?;
        Ok(true)
    }

    /// Follows the versions other replicas record: at once when the store
    /// announces one, and every `interval` in any case (a missed
    /// notification costs at most one interval). Runs until the handle is
    /// dropped.
    pub fn follow(self: &Arc<Self>, interval: Duration) -> FollowHandle {
        let mut events = self.store.events();
        let weak = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    event = next_event(&mut events) => {
                        if event == Some(StoreEvent::Revocation) {
                            continue;
                        }
                    }
                }
                let Some(store) = weak.upgrade() else { return };
                if let Err(e) = store.follow_store().await {
                    tracing::warn!(error = %e, "cannot follow the shared policy history");
                }
            }
        });
        FollowHandle { task }
    }

    /// Watches the policy directory and reloads after changes settle
    /// (`debounce` without further events). Runs until the store is dropped.
    pub fn watch(self: &Arc<Self>, debounce: Duration) -> Result<WatchHandle, PolicyError> {
        use notify::{RecursiveMode, Watcher};
        let dir = self
            .dir
            .clone()
            .ok_or_else(|| PolicyError::Config("no policy directory to watch".into()))?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event {
                    if !matches!(event.kind, notify::EventKind::Access(_)) {
                        let _ = tx.send(());
                    }
                }
            })
            .map_err(|e| PolicyError::Config(format!("cannot watch {}: {e}", dir.display())))?;
        watcher
            .watch(&dir, RecursiveMode::Recursive)
            .map_err(|e| PolicyError::Config(format!("cannot watch {}: {e}", dir.display())))?;
        let weak = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            while rx.recv().await.is_some() {
                // Let a burst of writes (an editor's save, a ConfigMap swap) settle.
                loop {
                    match tokio::time::timeout(debounce, rx.recv()).await {
                        Ok(Some(())) => continue,
                        Ok(None) => return,
                        Err(_) => break,
                    }
                }
                let Some(store) = weak.upgrade() else { return };
                let _ = store
                    .update(PolicyUpdate::Directory, None, "file-change")
                    .await;
            }
        });
        Ok(WatchHandle {
            _watcher: watcher,
            task,
        })
    }
}

/// The next store event; `None` for a lagging receiver (events were
/// dropped: re-check). Never resolves without a source of events.
async fn next_event(
    events: &mut Option<tokio::sync::broadcast::Receiver<StoreEvent>>,
) -> Option<StoreEvent> {
    use tokio::sync::broadcast::error::RecvError;
    let Some(rx) = events else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Ok(e) => Some(e),
        Err(RecvError::Lagged(_)) => None,
        Err(RecvError::Closed) => {
            *events = None;
            None
        }
    }
}

/// Keeps [`PolicyStore::follow`] running; dropping it stops following.
#[derive(Debug)]
pub struct FollowHandle {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FollowHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keeps a directory watch alive; dropping it stops watching.
pub struct WatchHandle {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for WatchHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchHandle")
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
