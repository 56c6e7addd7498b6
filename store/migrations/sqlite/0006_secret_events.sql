-- Secrets metadata: every change made to a secret through Palisade (name,
-- version, backend, when, by whom), never its value. The values stay in the
-- secrets backend; this is the inventory replicas and auditors share.
CREATE TABLE secret_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    backend    TEXT    NOT NULL,   -- the backend's description (no credentials)
    name       TEXT    NOT NULL,
    version    TEXT,               -- NULL for a deletion
    operation  TEXT    NOT NULL,   -- 'put' or 'delete'
    at         TEXT    NOT NULL,   -- RFC 3339
    actor      TEXT    NOT NULL
);
CREATE INDEX secret_events_by_name ON secret_events (backend, name, id);
