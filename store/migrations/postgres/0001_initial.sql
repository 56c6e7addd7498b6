-- Palisade on a shared PostgreSQL: the same tables as the embedded SQLite
-- store (store/migrations/sqlite/), in PostgreSQL types. Timestamps stay
-- RFC 3339 text so that both backends compare and return them alike.

-- The decision log (hash-chained, append-only; one chain for every replica:
-- appends are serialized by a transaction-level advisory lock), the
-- checkpoints left where retention cut it, and every policy version.
CREATE TABLE decision_log (
    seq        BIGINT  PRIMARY KEY,
    time       TEXT    NOT NULL,
    record     TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
);
CREATE INDEX decision_log_time ON decision_log (time);

CREATE TABLE decision_log_checkpoints (
    id          BIGSERIAL PRIMARY KEY,
    seq         BIGINT  NOT NULL,
    hash        TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    key_id      TEXT    NOT NULL,
    signature   TEXT    NOT NULL
);

CREATE TABLE policy_versions (
    id          BIGSERIAL PRIMARY KEY,
    etag        TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    bundle      TEXT    NOT NULL
);

-- The internal CA: issuers (private keys sealed), the certificate ledger,
-- one-time join tokens, CRL numbering and the trust bundle's sequence.
CREATE TABLE ca_issuers (
    id          TEXT    PRIMARY KEY,          -- SHA-256 of the certificate, hex
    ord         BIGSERIAL,                    -- insertion order (SQLite's rowid)
    kind        TEXT    NOT NULL,             -- root | intermediate
    status      TEXT    NOT NULL,             -- active | retiring | retired
    cert_pem    TEXT    NOT NULL,
    sealed_key  TEXT,                         -- envelope JSON; NULL when kept offline
    parent_id   TEXT,
    not_after   TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);

-- Every certificate ever issued, written (reserved) before signing. The
-- serial is the primary key: replicas draw random serials, and the database
-- refuses a serial that any replica already reserved.
CREATE TABLE ca_certificates (
    serial          TEXT    PRIMARY KEY,      -- lowercase hex
    issuer_id       TEXT    NOT NULL,
    spiffe_id       TEXT    NOT NULL,
    sans            TEXT    NOT NULL,         -- JSON array of DNS/IP SANs
    public_key_hash TEXT    NOT NULL,
    not_before      TEXT    NOT NULL,
    not_after       TEXT    NOT NULL,
    requester       TEXT    NOT NULL,
    status          TEXT    NOT NULL,         -- reserved | issued | revoked
    tbs_der         BYTEA   NOT NULL,
    cert_der        BYTEA,
    revoked_at      TEXT,
    revocation_reason TEXT,
    created_at      TEXT    NOT NULL
);
CREATE INDEX ca_certificates_spiffe_id ON ca_certificates (spiffe_id);
CREATE INDEX ca_certificates_not_after ON ca_certificates (not_after);
CREATE INDEX ca_certificates_status ON ca_certificates (status);

CREATE TABLE ca_join_tokens (
    token_hash  TEXT    PRIMARY KEY,
    spiffe_id   TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    used_at     TEXT
);

CREATE TABLE ca_crl_numbers (
    number      BIGSERIAL PRIMARY KEY,
    issuer_id   TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);

CREATE TABLE ca_bundle_sequence (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    sequence    BIGINT  NOT NULL,
    digest      TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
