-- Compliance report history: every generated report (its JSON export), kept
-- so that `palisade report diff` can compare one with the one before it.
CREATE TABLE compliance_reports (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    framework     TEXT    NOT NULL,
    generated_at  TEXT    NOT NULL,             -- RFC 3339
    digest        TEXT    NOT NULL,             -- SHA-256 of `report`, hex
    report        TEXT    NOT NULL              -- the JSON export
);
CREATE INDEX compliance_reports_by_framework ON compliance_reports (framework, id);
