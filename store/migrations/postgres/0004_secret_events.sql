-- Secrets metadata: every change made to a secret through Palisade (name,
-- version, backend, when, by whom), never its value.
CREATE TABLE secret_events (
    id         BIGSERIAL PRIMARY KEY,
    backend    TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    version    TEXT,
    operation  TEXT    NOT NULL,
    at         TEXT    NOT NULL,
    actor      TEXT    NOT NULL
);
CREATE INDEX secret_events_by_name ON secret_events (backend, name, id);
