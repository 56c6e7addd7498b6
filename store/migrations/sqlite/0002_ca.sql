-- The internal CA: its issuers (root and intermediates, private keys sealed),
-- the certificate ledger, one-time join tokens and CRL numbering.
CREATE TABLE ca_issuers (
    id          TEXT    PRIMARY KEY,          -- SHA-256 of the certificate, hex
    kind        TEXT    NOT NULL,             -- root | intermediate
    status      TEXT    NOT NULL,             -- active | retiring | retired
    cert_pem    TEXT    NOT NULL,
    sealed_key  TEXT,                         -- envelope JSON; NULL when kept offline
    parent_id   TEXT,
    not_after   TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);

-- Every certificate ever issued. A row is written (status 'reserved', with the
-- to-be-signed certificate) before signing and completed (status 'issued',
-- with the signed certificate) before the certificate is handed out. The
-- serial is the primary key: it is never reused.
CREATE TABLE ca_certificates (
    serial          TEXT    PRIMARY KEY,      -- lowercase hex
    issuer_id       TEXT    NOT NULL,
    spiffe_id       TEXT    NOT NULL,
    sans            TEXT    NOT NULL,         -- JSON array of DNS/IP SANs
    public_key_hash TEXT    NOT NULL,         -- SHA-256 of the SubjectPublicKeyInfo, hex
    not_before      TEXT    NOT NULL,         -- RFC 3339
    not_after       TEXT    NOT NULL,
    requester       TEXT    NOT NULL,
    status          TEXT    NOT NULL,         -- reserved | issued | revoked
    tbs_der         BLOB    NOT NULL,
    cert_der        BLOB,
    revoked_at      TEXT,
    revocation_reason TEXT,
    created_at      TEXT    NOT NULL
);
CREATE INDEX ca_certificates_spiffe_id ON ca_certificates (spiffe_id);
CREATE INDEX ca_certificates_not_after ON ca_certificates (not_after);
CREATE INDEX ca_certificates_status ON ca_certificates (status);

CREATE TABLE ca_join_tokens (
    token_hash  TEXT    PRIMARY KEY,          -- SHA-256 of the token, hex
    spiffe_id   TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    used_at     TEXT
);

CREATE TABLE ca_crl_numbers (
    number      INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer_id   TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);
