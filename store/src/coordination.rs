//! Coordination between replicas that share one database.
//!
//! Two things cross process boundaries: *events* (another replica recorded a
//! policy version or revoked a certificate: re-read it now instead of at the
//! next periodic check) and *singleton locks* (a job such as retention or
//! CRL generation runs on one replica at a time). The embedded SQLite store
//! has one process and neither: it sends no events and its locks are
//! always granted. PostgreSQL uses `LISTEN`/`NOTIFY` and advisory locks.

use sqlx::pool::PoolConnection;
use sqlx::Postgres;

/// A change made through another handle on the same database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreEvent {
    /// A policy version was recorded.
    PolicyVersion,
    /// A certificate was revoked.
    Revocation,
    /// Events may have been missed (the listener reconnected): re-check all.
    Resync,
}

impl StoreEvent {
    /// The `NOTIFY` payload naming this event.
    pub(crate) fn payload(self) -> &'static str {
        match self {
            StoreEvent::PolicyVersion => "policy",
            StoreEvent::Revocation => "revocation",
            StoreEvent::Resync => "resync",
        }
    }

    /// The event a `NOTIFY` payload names (anything unknown: re-check all).
    pub(crate) fn from_payload(payload: &str) -> Self {
        match payload {
            "policy" => StoreEvent::PolicyVersion,
            "revocation" => StoreEvent::Revocation,
            _ => StoreEvent::Resync,
        }
    }
}

/// Held while a singleton job runs; dropping it lets another replica in.
///
/// On PostgreSQL it owns the connection holding the session advisory lock.
/// [`SingletonGuard::release`] unlocks and returns the connection to the
/// pool; a guard dropped without it closes the connection, which releases
/// the lock too (and so does a replica that dies holding it).
#[derive(Debug)]
pub struct SingletonGuard {
    held: Option<(PoolConnection<Postgres>, i64)>,
}

impl SingletonGuard {
    /// A guard with nothing to release (one process: no other replica).
    pub(crate) fn local() -> Self {
        Self { held: None }
    }

    pub(crate) fn postgres(conn: PoolConnection<Postgres>, key: i64) -> Self {
        Self {
            held: Some((conn, key)),
        }
    }

    /// Unlocks, keeping the connection for reuse.
    pub async fn release(mut self) {
        if let Some((mut conn, key)) = self.held.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                drop(conn.detach());
            }
        }
    }
}

impl Drop for SingletonGuard {
    fn drop(&mut self) {
        if let Some((conn, _)) = self.held.take() {
            // Closing the session releases its advisory locks.
            drop(conn.detach());
        }
    }
}

/// The advisory lock key of a named job: stable across replicas and builds
/// (FNV-1a, not the std hasher, whose output may change between releases).
pub(crate) fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"palisade:".iter().chain(name.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}
