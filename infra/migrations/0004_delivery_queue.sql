-- A clinic's phone number, for patients' questions (the e-mail with their link shows it).
ALTER TABLE clinics ADD COLUMN phone TEXT;

-- The delivery worker's schedule: one row per requested delivery. An attempt claims its row
-- first (state 'sending', claimed_at_ms), so a crash mid-send is noticed, not repeated; a
-- transient error puts it back ('waiting') with the time of the next attempt, so a waiting
-- retry holds up nothing; 'done' once an outcome is recorded. Rows stay: noting the same
-- request again after a restart must find it.
CREATE TABLE delivery_queue (
    delivery_id        TEXT    PRIMARY KEY,
    clinic_id          TEXT    NOT NULL,
    appointment_id     TEXT    NOT NULL,
    request_event_id   TEXT    NOT NULL,
    correlation_id     TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    attempts           BIGINT  NOT NULL,
    due_at_ms          BIGINT  NOT NULL,
    claimed_at_ms      BIGINT,
    last_error         TEXT
);
CREATE INDEX delivery_queue_due ON delivery_queue (state, due_at_ms);
CREATE INDEX delivery_queue_claimed ON delivery_queue (state, claimed_at_ms);
