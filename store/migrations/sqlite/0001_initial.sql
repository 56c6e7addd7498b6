-- Palisade's embedded store: the decision log (hash-chained, append-only),
-- the checkpoints left where retention cut the chain, and every policy version.
CREATE TABLE decision_log (
    seq        INTEGER PRIMARY KEY,
    time       TEXT    NOT NULL,
    record     TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
);
CREATE INDEX decision_log_time ON decision_log (time);

CREATE TABLE decision_log_checkpoints (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    seq         INTEGER NOT NULL,
    hash        TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    key_id      TEXT    NOT NULL,
    signature   TEXT    NOT NULL
);

CREATE TABLE policy_versions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    etag        TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    bundle      TEXT    NOT NULL
);
