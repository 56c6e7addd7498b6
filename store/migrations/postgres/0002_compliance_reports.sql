-- Compliance report history: every generated report (its JSON export), kept
-- so that `palisade report diff` can compare one with the one before it.
CREATE TABLE compliance_reports (
    id            BIGSERIAL PRIMARY KEY,
    framework     TEXT    NOT NULL,
    generated_at  TEXT    NOT NULL,
    digest        TEXT    NOT NULL,
    report        TEXT    NOT NULL
);
CREATE INDEX compliance_reports_by_framework ON compliance_reports (framework, id);
