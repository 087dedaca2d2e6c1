-- Idempotency keys belong to the staff member who sent them: another member of the same
-- clinic sending the same key makes a different request. Saved answers from now on hold no
-- capability URLs (they are rebuilt on replay). Keys live a day at most, so the old rows are
-- dropped rather than converted: a retry across the upgrade is simply treated as new.
DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    clinic_id       TEXT    NOT NULL,
    staff_id        TEXT    NOT NULL,
    idem_key        TEXT    NOT NULL,
    request_hash    TEXT    NOT NULL,
    appointment_id  TEXT    NOT NULL,
    response_status INTEGER,
    response_body   TEXT,
    locked_at_ms    BIGINT  NOT NULL,
    PRIMARY KEY (clinic_id, staff_id, idem_key)
);
