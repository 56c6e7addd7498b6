//! The decision log: every decision, append-only, hash-chained, GDPR-aware.
//!
//! # How the chain works
//! Record `n` is stored as canonical JSON (sorted keys) together with
//! `prev_hash` (the hash of record `n-1`, or of the retention checkpoint, or 64
//! zeros for the first record) and `hash = sha256(prev_hash || "\n" || record)`.
//! Changing, removing or reordering any record breaks the chain at that point,
//! and [`verify`] reports the first broken record.
//!
//! # Several writers
//! Replicas sharing one PostgreSQL store write one chain, not one each: the
//! store serializes appends (a transaction-level advisory lock) and refuses
//! a batch that does not continue the stored head. A writer that loses the
//! race re-reads the head and chains its batch again from there, so the log
//! stays one gapless sequence that [`verify`] checks end to end, whichever
//! replica wrote each record. Retention runs on one replica at a time.
//!
//! # Retention
//! [`prune`] deletes records older than the retention period and, in the same
//! transaction, stores a *checkpoint*: the sequence number and hash of the last
//! deleted record, signed with the log's Ed25519 key. Verification then starts
//! from the checkpoint (after checking its signature), so what remains still
//! verifies end to end.
//!
//! # Masking
//! Named fields (dotted paths into the record, `*` for any key or element, such
//! as `context.email` or `attributes.principal.*`) are replaced before the
//! record is written: by a keyed hash (HMAC-SHA256 under the log's masking key,
//! so equal values still correlate) or by a fixed redaction marker.
//!
//! # Latency
//! Requests only push an entry onto a bounded queue. One writer task drains it
//! in batches, masks, chains and appends each batch in a single transaction.
//! When the queue is full the entry is dropped and counted, or — with
//! [`Overflow::Deny`] — the request is denied.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use palisade_store::{ChainedRecord, Checkpoint, Store, StoreError};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch, Mutex};
use zeroize::Zeroizing;

use crate::error::PolicyError;
use crate::metrics::{Api, PolicyMetrics};

/// `prev_hash` of the first record of a log.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const TIME_FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

/// What happens to a decision when the log's queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overflow {
    /// Answer the request, drop the log entry, count it.
    #[default]
    Drop,
    /// Deny the request: nothing is allowed that is not logged.
    Deny,
}

/// How a masked field is replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaskMode {
    /// A keyed hash: `hmac-sha256:<hex>`; equal inputs give equal outputs.
    #[default]
    Hash,
    /// The fixed string `[redacted]`.
    Redact,
}

/// Decision log settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionLogConfig {
    /// Record decisions at all.
    pub enabled: bool,
    /// Entries that may wait for the writer.
    pub queue_capacity: usize,
    /// Most entries written in one transaction.
    pub batch_max: usize,
    /// Group commit: after a wake-up with fewer than `batch_max` entries,
    /// wait this many milliseconds for more before writing (0: write at once).
    /// Entries are acknowledged when queued, so this delays only the write.
    pub linger_ms: u64,
    /// What to do when the queue is full.
    pub on_overflow: Overflow,
    /// Record fields to mask, as dotted paths (`context.email`, `principal`).
    pub mask_fields: Vec<String>,
    /// How to mask them.
    pub mask_mode: MaskMode,
    /// Delete records older than this many seconds (none: keep forever).
    pub retention_seconds: Option<u64>,
}

impl Default for DecisionLogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            queue_capacity: 65_536,
            batch_max: 2_048,
            linger_ms: 2,
            on_overflow: Overflow::Drop,
            mask_fields: Vec::new(),
            mask_mode: MaskMode::Hash,
            retention_seconds: None,
        }
    }
}

/// One decision, as the request path hands it to the log.
#[derive(Debug, Clone)]
pub struct DecisionEntry {
    /// When it was decided.
    pub time: SystemTime,
    /// The caller's `X-Request-ID`, or one Palisade made up.
    pub request_id: Arc<str>,
    /// Which API decided.
    pub api: Api,
    /// Principal uid, in Cedar syntax.
    pub principal: String,
    /// Action uid, in Cedar syntax.
    pub action: String,
    /// Resource uid, in Cedar syntax.
    pub resource: String,
    /// The context as given, if any.
    pub context: Option<Value>,
    /// Request-scoped attributes (AuthZEN properties, Cedar-native entities).
    pub attributes: Option<Value>,
    /// The decision.
    pub allowed: bool,
    /// Determining policies.
    pub reasons: Vec<String>,
    /// Errors.
    pub errors: Vec<String>,
    /// Etag of the policy version that decided.
    pub policy_version: Arc<str>,
    /// Time spent deciding, in microseconds.
    pub latency_us: u64,
}

/// The stored form of an entry, a JSON object. The chain hashes the exact
/// text that is stored, so verification never depends on re-serializing.
fn record_value(seq: i64, time: &str, e: DecisionEntry) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("seq".into(), seq.into());
    m.insert("time".into(), time.into());
    m.insert("request_id".into(), e.request_id.as_ref().into());
    m.insert("api".into(), e.api.as_str().into());
    m.insert("principal".into(), e.principal.into());
    m.insert("action".into(), e.action.into());
    m.insert("resource".into(), e.resource.into());
    m.insert(
        "decision".into(),
        if e.allowed { "allow" } else { "deny" }.into(),
    );
    m.insert("reasons".into(), e.reasons.into());
    m.insert("errors".into(), e.errors.into());
    m.insert("policy_version".into(), e.policy_version.as_ref().into());
    m.insert("latency_us".into(), e.latency_us.into());
    if let Some(c) = e.context {
        m.insert("context".into(), c);
    }
    if let Some(a) = e.attributes {
        m.insert("attributes".into(), a);
    }
    Value::Object(m)
}

/// The decision log's keys: an Ed25519 key that signs retention checkpoints,
/// and the HMAC key for masked fields. Both live in the data directory,
/// mode 0600, and are never logged.
pub struct AuditKeys {
    signing: Ed25519KeyPair,
    mask: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for AuditKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKeys")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

const SIGNING_FILE: &str = "decision-log-signing.pk8";
const MASK_FILE: &str = "decision-log-mask.key";

impl AuditKeys {
    /// Loads the keys from `dir`, creating them on first use.
    pub fn load_or_create(dir: &Path) -> Result<Self, PolicyError> {
        let rng = ring::rand::SystemRandom::new();
        let signing_path = dir.join(SIGNING_FILE);
        let pkcs8 = match std::fs::read(&signing_path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let doc = Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(|_| PolicyError::Config("cannot generate signing key".into()))?;
                let bytes = Zeroizing::new(doc.as_ref().to_vec());
                write_private(&signing_path, &bytes)?;
                bytes
            }
            Err(e) => return Err(PolicyError::io(&signing_path, e)),
        };
        let signing = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|e| {
            PolicyError::Config(format!(
                "{} is not an Ed25519 PKCS#8 key: {e}",
                signing_path.display()
            ))
        })?;
        let mask_path = dir.join(MASK_FILE);
        let mask = match std::fs::read(&mask_path) {
            Ok(b) if b.len() >= 32 => Zeroizing::new(b),
            Ok(_) => {
                return Err(PolicyError::Config(format!(
                    "{} must hold at least 32 bytes",
                    mask_path.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = Zeroizing::new(vec![0u8; 32]);
                ring::rand::SecureRandom::fill(&rng, &mut key)
                    .map_err(|_| PolicyError::Config("cannot generate masking key".into()))?;
                write_private(&mask_path, &key)?;
                key
            }
            Err(e) => return Err(PolicyError::io(&mask_path, e)),
        };
        Ok(Self { signing, mask })
    }

    /// The public half of the signing key.
    pub fn public_key(&self) -> &[u8] {
        self.signing.public_key().as_ref()
    }

    /// A short id of the signing key: the first 8 bytes of its SHA-256, hex.
    pub fn key_id(&self) -> String {
        key_id(self.public_key())
    }

    /// Signs `message` with the Ed25519 key. The key is the platform's own
    /// signing key: besides checkpoints it signs recorded scan summaries and
    /// compliance evidence bundles (each with its own domain-separated message).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.signing.sign(message).as_ref().to_vec()
    }

    fn mask(&self, mode: MaskMode, v: &Value) -> Value {
        match mode {
            MaskMode::Redact => Value::String("[redacted]".into()),
            MaskMode::Hash => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.mask)
                    .expect("HMAC takes any key length");
                mac.update(v.to_string().as_bytes());
                let out = mac.finalize().into_bytes();
                Value::String(format!("hmac-sha256:{}", hex::encode(&out[..16])))
            }
        }
    }
}

fn key_id(public_key: &[u8]) -> String {
    hex::encode(&Sha256::digest(public_key)[..8])
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PolicyError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(|e| PolicyError::io(path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| PolicyError::io(path, e))
}

fn checkpoint_message(seq: i64, hash: &str, created_at: &str) -> String {
    format!("palisade-decision-log-checkpoint\n{seq}\n{hash}\n{created_at}")
}

/// `sha256(prev_hash || "\n" || record)`, hex.
pub fn chain_hash(prev_hash: &str, record: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(record.as_bytes());
    hex::encode(h.finalize())
}

/// Whether the log took an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Queued for writing (or logging is off).
    Queued,
    /// The queue was full; the entry was dropped and counted.
    Dropped,
    /// The queue was full and the log fails closed: deny the request.
    Refused,
}

/// The handle the request path uses to log decisions.
pub struct DecisionLog {
    tx: Option<mpsc::Sender<DecisionEntry>>,
    on_overflow: Overflow,
    metrics: PolicyMetrics,
    stop: watch::Sender<bool>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for DecisionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionLog")
            .field("enabled", &self.tx.is_some())
            .field("on_overflow", &self.on_overflow)
            .finish()
    }
}

impl DecisionLog {
    /// Starts the writer task; the chain continues from the store's head.
    pub async fn start(
        store: Arc<dyn Store>,
        keys: Arc<AuditKeys>,
        config: &DecisionLogConfig,
        metrics: PolicyMetrics,
    ) -> Result<Self, PolicyError> {
        let (stop, stop_rx) = watch::channel(false);
        if !config.enabled {
            return Ok(Self {
                tx: None,
                on_overflow: config.on_overflow,
                metrics,
                stop,
                writer: Mutex::new(None),
            });
        }
        let head = store.chain_head().await?;
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let writer = Writer {
            store,
            keys,
            metrics: metrics.clone(),
            mask_fields: config
                .mask_fields
                .iter()
                .map(|f| f.split('.').map(str::to_owned).collect())
                .collect(),
            mask_mode: config.mask_mode,
            batch_max: config.batch_max.max(1),
            linger: Duration::from_millis(config.linger_ms.min(1_000)),
            next_seq: head.as_ref().map_or(1, |h| h.seq + 1),
            prev_hash: head.map_or_else(|| GENESIS_HASH.to_owned(), |h| h.hash),
        };
        let task = tokio::spawn(writer.run(rx, stop_rx));
        Ok(Self {
            tx: Some(tx),
            on_overflow: config.on_overflow,
            metrics,
            stop,
            writer: Mutex::new(Some(task)),
        })
    }

    /// Queues an entry without waiting.
    pub fn submit(&self, entry: DecisionEntry) -> Admission {
        let Some(tx) = &self.tx else {
            return Admission::Queued;
        };
        match tx.try_send(entry) {
            Ok(()) => Admission::Queued,
            Err(_) => match self.on_overflow {
                Overflow::Drop => {
                    self.metrics.log_dropped();
                    Admission::Dropped
                }
                Overflow::Deny => {
                    self.metrics.log_denied();
                    Admission::Refused
                }
            },
        }
    }

    /// Whether a full queue denies requests.
    pub fn fails_closed(&self) -> bool {
        self.on_overflow == Overflow::Deny
    }

    /// Entries waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.tx
            .as_ref()
            .map_or(0, |tx| tx.max_capacity() - tx.capacity())
    }

    /// Writes everything queued so far and stops the writer.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.writer.lock().await.take() {
            let _ = task.await;
        }
    }
}

struct Writer {
    store: Arc<dyn Store>,
    keys: Arc<AuditKeys>,
    metrics: PolicyMetrics,
    mask_fields: Vec<Vec<String>>,
    mask_mode: MaskMode,
    batch_max: usize,
    linger: Duration,
    next_seq: i64,
    prev_hash: String,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<DecisionEntry>, mut stop: watch::Receiver<bool>) {
        let mut entries = Vec::with_capacity(self.batch_max);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut entries, self.batch_max) => {
                    if n == 0 {
                        return;
                    }
                    if entries.len() < self.batch_max && !self.linger.is_zero() {
                        // Group commit: one transaction for what arrives meanwhile.
                        tokio::time::sleep(self.linger).await;
                        while entries.len() < self.batch_max {
                            match rx.try_recv() {
                                Ok(e) => entries.push(e),
                                Err(_) => break,
                            }
                        }
                    }
                    self.write(&mut entries).await;
                }
                _ = stop.changed() => {
                    while let Ok(e) = rx.try_recv() {
                        entries.push(e);
                        if entries.len() >= self.batch_max {
                            self.write(&mut entries).await;
                        }
                    }
                    self.write(&mut entries).await;
                    return;
                }
            }
            self.metrics.log_queue_depth(rx.len());
        }
    }

    async fn write(&mut self, entries: &mut Vec<DecisionEntry>) {
        if entries.is_empty() {
            return;
        }
        let mut backoff = Duration::from_millis(50);
        loop {
            let (records, seq, prev) = self.chain(entries);
            match self.store.append_decisions(&records).await {
                Ok(()) => {
                    self.metrics.log_written(records.len());
                    self.prev_hash = prev;
                    self.next_seq = seq;
                    break;
                }
                // Another replica appended first (shared store): continue
                // from the stored head and chain the batch again.
                Err(StoreError::OutOfOrder { .. }) => match self.store.chain_head().await {
                    Ok(head) => {
                        self.next_seq = head.as_ref().map_or(1, |h| h.seq + 1);
                        self.prev_hash = head.map_or_else(|| GENESIS_HASH.to_owned(), |h| h.hash);
                    }
                    Err(e) => {
                        self.metrics.log_write_error();
                        tracing::error!(error = %e, "cannot read the decision log head; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                },
                Err(e) => {
                    // A commit whose acknowledgement was lost: the head is ours.
                    if let Ok(Some(head)) = self.store.chain_head().await {
                        if head.seq == seq - 1 && head.hash == prev {
                            self.metrics.log_written(records.len());
                            self.prev_hash = prev;
                            self.next_seq = seq;
                            break;
                        }
                    }
                    self.metrics.log_write_error();
                    tracing::error!(error = %e, records = records.len(), "decision log write failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        entries.clear();
    }

    /// Chains `entries` onto the head this writer knows; returns the
    /// records, the next sequence number and the last hash.
    fn chain(&self, entries: &[DecisionEntry]) -> (Vec<ChainedRecord>, i64, String) {
        let mut records = Vec::with_capacity(entries.len());
        let mut prev = self.prev_hash.clone();
        let mut seq = self.next_seq;
        for entry in entries {
            let time = OffsetDateTime::from(entry.time)
                .format(TIME_FORMAT)
                .unwrap_or_default();
            let record = self.stored_text(seq, &time, entry);
            let hash = chain_hash(&prev, &record);
            records.push(ChainedRecord {
                seq,
                time,
                record,
                prev_hash: std::mem::replace(&mut prev, hash.clone()),
                hash,
            });
            seq += 1;
        }
        (records, seq, prev)
    }
}

impl Writer {
    /// The stored text of one entry, masked. The usual case — masks only
    /// inside `context` and `attributes` — serializes a borrowed struct
    /// directly; masks on other fields go through a `Value`. Both give the
    /// same text for the same entry.
    fn stored_text(&self, seq: i64, time: &str, entry: &DecisionEntry) -> String {
        if self.mask_fields.is_empty() {
            return serde_json::to_string(&StoredRecord::of(seq, time, entry))
                .expect("a record of strings and JSON values serializes");
        }
        let mut entry = entry.clone();
        let mask = |v: &Value| self.keys.mask(self.mask_mode, v);
        if !self.mask_fields.iter().all(|p| {
            matches!(
                p.first().map(String::as_str),
                Some("context" | "attributes")
            )
        }) {
            let mut value = record_value(seq, time, entry);
            for path in &self.mask_fields {
                mask_path(&mut value, path, &mask);
            }
            return value.to_string();
        }
        for path in &self.mask_fields {
            let (head, rest) = path.split_first().expect("checked above");
            let target = if head == "context" {
                entry.context.as_mut()
            } else {
                entry.attributes.as_mut()
            };
            if let Some(v) = target {
                mask_path(v, rest, &mask);
            }
        }
        serde_json::to_string(&StoredRecord::of(seq, time, &entry))
            .expect("a record of strings and JSON values serializes")
    }
}

/// The stored form of an entry, field for field as [`record_value`] builds it.
#[derive(Serialize)]
struct StoredRecord<'a> {
    seq: i64,
    time: &'a str,
    request_id: &'a str,
    api: &'static str,
    principal: &'a str,
    action: &'a str,
    resource: &'a str,
    decision: &'static str,
    reasons: &'a [String],
    errors: &'a [String],
    policy_version: &'a str,
    latency_us: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<&'a Value>,
}

impl<'a> StoredRecord<'a> {
    fn of(seq: i64, time: &'a str, e: &'a DecisionEntry) -> Self {
        Self {
            seq,
            time,
            request_id: &e.request_id,
            api: e.api.as_str(),
            principal: &e.principal,
            action: &e.action,
            resource: &e.resource,
            decision: if e.allowed { "allow" } else { "deny" },
            reasons: &e.reasons,
            errors: &e.errors,
            policy_version: &e.policy_version,
            latency_us: e.latency_us,
            context: e.context.as_ref(),
            attributes: e.attributes.as_ref(),
        }
    }
}

fn mask_path(v: &mut Value, path: &[String], mask: &dyn Fn(&Value) -> Value) {
    let Some((head, rest)) = path.split_first() else {
        *v = mask(v);
        return;
    };
    match v {
        Value::Object(map) => {
            if head == "*" {
                map.values_mut().for_each(|c| mask_path(c, rest, mask));
            } else if let Some(c) = map.get_mut(head) {
                mask_path(c, rest, mask);
            }
        }
        Value::Array(items) if head == "*" => {
            items.iter_mut().for_each(|c| mask_path(c, rest, mask));
        }
        _ => {}
    }
}

/// Where and why a chain stops verifying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenRecord {
    /// The first record that does not verify.
    pub seq: i64,
    /// Why.
    pub reason: String,
}

/// The result of [`verify`].
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// First and last sequence numbers seen.
    pub first_seq: Option<i64>,
    /// Last sequence number seen.
    pub last_seq: Option<i64>,
    /// The retention checkpoint the chain starts from, if any.
    pub checkpoint: Option<Checkpoint>,
    /// The first broken record, if any.
    pub broken: Option<BrokenRecord>,
}

impl VerifyReport {
    /// Whether the whole chain verified.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Verifies the whole decision log: the checkpoint's signature (against
/// `public_key`), then every record's sequence, link and hash.
pub async fn verify(store: &dyn Store, public_key: &[u8]) -> Result<VerifyReport, StoreError> {
    let checkpoint = store.latest_checkpoint().await?;
    let mut report = VerifyReport {
        records: 0,
        first_seq: None,
        last_seq: None,
        checkpoint: checkpoint.clone(),
        broken: None,
    };
    let (mut prev, mut expected) = match &checkpoint {
        Some(cp) => {
            let msg = checkpoint_message(cp.seq, &cp.hash, &cp.created_at);
            let sig_ok = hex::decode(&cp.signature).is_ok_and(|sig| {
                UnparsedPublicKey::new(&ED25519, public_key)
                    .verify(msg.as_bytes(), &sig)
                    .is_ok()
            });
            if !sig_ok || cp.key_id != key_id(public_key) {
                report.broken = Some(BrokenRecord {
                    seq: cp.seq,
                    reason: "retention checkpoint signature does not verify with this key".into(),
                });
                return Ok(report);
            }
            (cp.hash.clone(), cp.seq + 1)
        }
        None => (GENESIS_HASH.to_owned(), 1),
    };
    let mut after = expected - 1;
    loop {
        let page = store.decisions_after(after, 5_000).await?;
        if page.is_empty() {
            break;
        }
        for r in &page {
            report.first_seq.get_or_insert(r.seq);
            report.last_seq = Some(r.seq);
            let problem = if r.seq != expected {
                Some(format!(
                    "expected record {expected}, found {}: records are missing",
                    r.seq
                ))
            } else if r.prev_hash != prev {
                Some("prev_hash does not match the previous record's hash".to_owned())
            } else if chain_hash(&prev, &r.record) != r.hash {
                Some("record content does not match its hash: it was altered".to_owned())
            } else if serde_json::from_str::<Value>(&r.record)
                .ok()
                .and_then(|v| v.get("seq").and_then(Value::as_i64))
                != Some(r.seq)
            {
                Some("record's own sequence number differs from its position".to_owned())
            } else {
                None
            };
            if let Some(reason) = problem {
                report.broken = Some(BrokenRecord { seq: r.seq, reason });
                return Ok(report);
            }
            report.records += 1;
            prev = r.hash.clone();
            expected += 1;
        }
        after = page.last().map_or(after, |r| r.seq);
    }
    Ok(report)
}

/// Deletes records older than `retention`, leaving a signed checkpoint.
/// Returns the checkpoint and how many records were deleted, or `None` when
/// nothing was old enough.
pub async fn prune(
    store: &dyn Store,
    keys: &AuditKeys,
    retention: Duration,
) -> Result<Option<(Checkpoint, u64)>, StoreError> {
    let cutoff = OffsetDateTime::now_utc() - retention;
    let cutoff = cutoff.format(TIME_FORMAT).unwrap_or_default();
    let Some(head) = store.last_decision_before(&cutoff).await? else {
        return Ok(None);
    };
    let created_at = OffsetDateTime::now_utc()
        .format(TIME_FORMAT)
        .unwrap_or_default();
    let signature = keys
        .signing
        .sign(checkpoint_message(head.seq, &head.hash, &created_at).as_bytes());
    let checkpoint = Checkpoint {
        seq: head.seq,
        hash: head.hash,
        created_at,
        key_id: keys.key_id(),
        signature: hex::encode(signature.as_ref()),
    };
    let deleted = store.prune_decisions(&checkpoint).await?;
    Ok(Some((checkpoint, deleted)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(principal: &str, email: &str) -> DecisionEntry {
        DecisionEntry {
            time: SystemTime::now(),
            request_id: "req".into(),
            api: Api::Authzen,
            principal: principal.into(),
            action: "Action::\"read\"".into(),
            resource: "Doc::\"1\"".into(),
            context: Some(serde_json::json!({ "email": email, "ip": "10.0.0.1" })),
            attributes: None,
            allowed: true,
            reasons: vec!["p".into()],
            errors: vec![],
            policy_version: "v".into(),
            latency_us: 3,
        }
    }

    async fn setup(
        config: DecisionLogConfig,
    ) -> (
        tempfile::TempDir,
        Arc<dyn Store>,
        Arc<AuditKeys>,
        DecisionLog,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = palisade_store::open(&url).await.unwrap();
        let keys = Arc::new(AuditKeys::load_or_create(dir.path()).unwrap());
        let log = DecisionLog::start(store.clone(), keys.clone(), &config, PolicyMetrics::new())
            .await
            .unwrap();
        (dir, store, keys, log)
    }

    #[tokio::test]
    async fn masks_with_a_keyed_hash_that_still_correlates() {
        let config = DecisionLogConfig {
            mask_fields: vec!["context.email".into(), "principal".into()],
            ..Default::default()
        };
        let (_d, store, keys, log) = setup(config).await;
        log.submit(entry("User::\"alice\"", "a@example.com"));
        log.submit(entry("User::\"alice\"", "a@example.com"));
        log.submit(entry("User::\"bob\"", "b@example.com"));
        log.shutdown().await;
        let rows = store.decisions_after(0, 10).await.unwrap();
        assert_eq!(rows.len(), 3);
        let v: Vec<Value> = rows
            .iter()
            .map(|r| serde_json::from_str(&r.record).unwrap())
            .collect();
        for r in &rows {
            assert!(
                !r.record.contains("a@example.com") && !r.record.contains("alice"),
                "{}",
                r.record
            );
        }
        assert_eq!(v[0]["context"]["email"], v[1]["context"]["email"]);
        assert_ne!(v[0]["context"]["email"], v[2]["context"]["email"]);
        assert_eq!(v[0]["context"]["ip"], "10.0.0.1");
        assert!(v[0]["principal"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:"));
        assert!(verify(store.as_ref(), keys.public_key())
            .await
            .unwrap()
            .is_intact());
    }

    #[test]
    fn the_direct_record_form_is_the_value_form() {
        let mut e = entry("User::\"alice\"", "a@example.com");
        e.attributes = Some(serde_json::json!({ "subject": { "dept": "x\"y" } }));
        e.errors = vec!["boom".into()];
        let direct = serde_json::to_string(&StoredRecord::of(7, "t", &e)).unwrap();
        assert_eq!(direct, record_value(7, "t", e).to_string());
    }

    #[tokio::test]
    async fn masks_inside_context_and_attributes() {
        let config = DecisionLogConfig {
            mask_fields: vec!["context.email".into(), "attributes.*.ssn".into()],
            ..Default::default()
        };
        let (_d, store, keys, log) = setup(config).await;
        let mut e = entry("User::\"alice\"", "a@example.com");
        e.attributes =
            Some(serde_json::json!({ "subject": { "ssn": "123-45-6789", "dept": "eng" } }));
        log.submit(e);
        log.submit(entry("User::\"alice\"", "a@example.com"));
        log.shutdown().await;
        let rows = store.decisions_after(0, 10).await.unwrap();
        let v: Vec<Value> = rows
            .iter()
            .map(|r| serde_json::from_str(&r.record).unwrap())
            .collect();
        assert!(!rows[0].record.contains("a@example.com") && !rows[0].record.contains("123-45"));
        assert_eq!(v[0]["principal"], "User::\"alice\"");
        assert_eq!(v[0]["context"]["ip"], "10.0.0.1");
        assert_eq!(v[0]["context"]["email"], v[1]["context"]["email"]);
        assert_eq!(v[0]["attributes"]["subject"]["dept"], "eng");
        assert!(v[0]["attributes"]["subject"]["ssn"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:"));
        assert!(verify(store.as_ref(), keys.public_key())
            .await
            .unwrap()
            .is_intact());
    }

    #[tokio::test]
    async fn chain_continues_across_restarts_and_detects_tampering() {
        let (dir, store, keys, log) = setup(DecisionLogConfig::default()).await;
        for _ in 0..10 {
            log.submit(entry("User::\"a\"", "x"));
        }
        log.shutdown().await;
        let log = DecisionLog::start(
            store.clone(),
            keys.clone(),
            &DecisionLogConfig::default(),
            PolicyMetrics::new(),
        )
        .await
        .unwrap();
        for _ in 0..5 {
            log.submit(entry("User::\"b\"", "y"));
        }
        log.shutdown().await;
        let report = verify(store.as_ref(), keys.public_key()).await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.records, report.last_seq), (15, Some(15)));

        // Alter record 7 behind the log's back.
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let pool = sqlx_pool(&url).await;
        sqlx::query("UPDATE decision_log SET record = replace(record, '\"allow\"', '\"deny\"') WHERE seq = 7")
            .execute(&pool)
            .await
            .unwrap();
        let report = verify(store.as_ref(), keys.public_key()).await.unwrap();
        assert_eq!(report.broken.unwrap().seq, 7);
    }

    async fn sqlx_pool(url: &str) -> sqlx::SqlitePool {
        sqlx::SqlitePool::connect(url).await.unwrap()
    }

    #[tokio::test]
    async fn retention_prunes_and_what_remains_verifies() {
        let (_d, store, keys, log) = setup(DecisionLogConfig::default()).await;
        for _ in 0..4 {
            log.submit(entry("User::\"a\"", "x"));
        }
        log.shutdown().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let log = DecisionLog::start(
            store.clone(),
            keys.clone(),
            &DecisionLogConfig::default(),
            PolicyMetrics::new(),
        )
        .await
        .unwrap();
        // Everything so far is older than 10 ms.
        let (cp, deleted) = prune(store.as_ref(), &keys, Duration::from_millis(10))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((cp.seq, deleted), (4, 4));
        for _ in 0..3 {
            log.submit(entry("User::\"a\"", "x"));
        }
        log.shutdown().await;
        let report = verify(store.as_ref(), keys.public_key()).await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.first_seq, report.records), (Some(5), 3));
        // A checkpoint checked with another key does not verify.
        let other = tempfile::tempdir().unwrap();
        let other = AuditKeys::load_or_create(other.path()).unwrap();
        let report = verify(store.as_ref(), other.public_key()).await.unwrap();
        assert_eq!(report.broken.unwrap().seq, 4);
    }

    #[tokio::test]
    async fn full_queue_drops_or_refuses() {
        for (overflow, expected) in [
            (Overflow::Drop, Admission::Dropped),
            (Overflow::Deny, Admission::Refused),
        ] {
            let config = DecisionLogConfig {
                queue_capacity: 1,
                on_overflow: overflow,
                ..Default::default()
            };
            let (_d, _store, _keys, log) = setup(config).await;
            // No await between submits: the writer cannot drain in between
            // on this single-threaded test runtime.
            let results: Vec<_> = (0..3)
                .map(|_| log.submit(entry("User::\"a\"", "x")))
                .collect();
            assert_eq!(results[0], Admission::Queued);
            assert_eq!(results[2], expected);
            log.shutdown().await;
        }
    }
}
