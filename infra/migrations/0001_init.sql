-- One schema for SQLite and PostgreSQL: only types both understand (BIGINT, INTEGER, TEXT).
-- Times outside the event payloads are Unix milliseconds; ids are UUID text.

-- The event store. `position` is the global order, assigned by the single writer under a
-- lock, so positions become visible in commit order (see event_store.rs).
CREATE TABLE events (
    position       BIGINT  PRIMARY KEY,
    event_id       TEXT    NOT NULL UNIQUE,
    stream_id      TEXT    NOT NULL,
    version        BIGINT  NOT NULL,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    occurred_at    TEXT    NOT NULL,
    data           TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    UNIQUE (stream_id, version)
);

-- Clinic set-up (R1): reference data, seeded for the demo.
CREATE TABLE clinics (
    id           TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    time_zone    TEXT    NOT NULL,
    slot_minutes INTEGER NOT NULL
);

-- Opening hours per weekday (0 = Monday); several ranges a day are allowed.
CREATE TABLE clinic_hours (
    clinic_id  TEXT    NOT NULL REFERENCES clinics (id),
    weekday    INTEGER NOT NULL,
    opens_min  INTEGER NOT NULL,
    closes_min INTEGER NOT NULL,
    PRIMARY KEY (clinic_id, weekday, opens_min)
);

CREATE TABLE staff (
    id            TEXT PRIMARY KEY,
    clinic_id     TEXT NOT NULL REFERENCES clinics (id),
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL
);

CREATE TABLE menus (
    id                   TEXT    PRIMARY KEY,
    clinic_id            TEXT    NOT NULL REFERENCES clinics (id),
    name                 TEXT    NOT NULL,
    modes                TEXT    NOT NULL,
    duration_first_min   INTEGER NOT NULL,
    duration_revisit_min INTEGER NOT NULL,
    booking_fee_yen      INTEGER NOT NULL,
    sort_order           INTEGER NOT NULL
);

-- Staff sessions: only a hash of the token is kept.
CREATE TABLE sessions (
    token_hash    TEXT   PRIMARY KEY,
    staff_id      TEXT   NOT NULL REFERENCES staff (id),
    clinic_id     TEXT   NOT NULL,
    csrf_token    TEXT   NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

-- Idempotency-Key records for POST creations.
CREATE TABLE idempotency_keys (
    clinic_id       TEXT    NOT NULL,
    idem_key        TEXT    NOT NULL,
    request_hash    TEXT    NOT NULL,
    appointment_id  TEXT    NOT NULL,
    response_status INTEGER,
    response_body   TEXT,
    locked_at_ms    BIGINT  NOT NULL,
    PRIMARY KEY (clinic_id, idem_key)
);

-- The embedded delivery channel: messages staff can read in the UI instead of SMS/e-mail.
CREATE TABLE outbox_messages (
    delivery_id    TEXT   PRIMARY KEY,
    clinic_id      TEXT   NOT NULL,
    appointment_id TEXT   NOT NULL,
    channel        TEXT   NOT NULL,
    destination    TEXT   NOT NULL,
    subject        TEXT   NOT NULL,
    body           TEXT   NOT NULL,
    created_at_ms  BIGINT NOT NULL
);
CREATE INDEX outbox_messages_by_clinic ON outbox_messages (clinic_id, created_at_ms);

-- How far log-tailing workers (URL delivery) got.
CREATE TABLE worker_checkpoints (
    name     TEXT   PRIMARY KEY,
    position BIGINT NOT NULL
);
