-- Scan records: the signed summary of every gated scan recorded by
-- `palisade gate --record` (locally or through `POST /v1/compliance/scans`),
-- read back as compliance evidence.
CREATE TABLE scan_records (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    target       TEXT    NOT NULL,              -- what was scanned
    recorded_at  TEXT    NOT NULL,              -- RFC 3339
    digest       TEXT    NOT NULL,              -- SHA-256 of `record`, hex
    record       TEXT    NOT NULL               -- the signed record, JSON
);
CREATE INDEX scan_records_by_target ON scan_records (target, id);
