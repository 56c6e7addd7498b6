-- Scan records: the signed summary of every gated scan recorded by
-- `palisade gate --record` (locally or through `POST /v1/compliance/scans`),
-- read back as compliance evidence.
CREATE TABLE scan_records (
    id           BIGSERIAL PRIMARY KEY,
    target       TEXT    NOT NULL,
    recorded_at  TEXT    NOT NULL,
    digest       TEXT    NOT NULL,
    record       TEXT    NOT NULL
);
CREATE INDEX scan_records_by_target ON scan_records (target, id);
