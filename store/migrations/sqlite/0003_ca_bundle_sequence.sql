-- The SPIFFE trust bundle's sequence number (`spiffe_sequence`). It must only
-- grow, across restarts and across processes sharing the database: it is
-- bumped whenever the bundle's contents (their digest) change. One row.
CREATE TABLE ca_bundle_sequence (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    sequence    INTEGER NOT NULL,
    digest      TEXT    NOT NULL,             -- SHA-256 of the bundle's contents, hex
    updated_at  TEXT    NOT NULL              -- RFC 3339
);
