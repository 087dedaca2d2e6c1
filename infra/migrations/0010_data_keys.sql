-- The data keys that seal patients' personal data in events (SPEC §9), one per appointment,
-- outside the event log. Each is kept wrapped (encrypted) by the master key `master_key_id`
-- names. Destroying a key, which erases the appointment's personal data, empties `wrapped`
-- and keeps the row, so an erased appointment is told apart from a key that never existed.
CREATE TABLE data_keys (
    key_id          TEXT   PRIMARY KEY,
    master_key_id   TEXT   NOT NULL,
    -- base64 of the 24-byte nonce and the sealed 32-byte key with its tag; NULL once destroyed.
    wrapped         TEXT,
    created_at_ms   BIGINT NOT NULL,
    destroyed_at_ms BIGINT
);

-- Every stored event `enkaku privacy migrate` rewrote: events written before sealing, their
-- personal data sealed (or dropped, where the appointment was erased). The log is otherwise
-- append-only; this says where and when it was not.
CREATE TABLE event_rewrites (
    position            BIGINT  PRIMARY KEY,
    event_id            TEXT    NOT NULL,
    from_schema_version INTEGER NOT NULL,
    to_schema_version   INTEGER NOT NULL,
    personal_data       TEXT    NOT NULL,
    rewritten_at_ms     BIGINT  NOT NULL
);

-- The read models that hold personal data get nullable columns for erased appointments:
-- they are rebuilt from the log (the runner recreates them and starts from the first event).
DROP TABLE IF EXISTS schedule_entries;
DROP TABLE IF EXISTS reception_entries;
DROP TABLE IF EXISTS patient_search_terms;
DROP TABLE IF EXISTS patient_search;
DROP TABLE IF EXISTS delivery_log;
DELETE FROM feed_offsets WHERE consumer IN ('schedule', 'reception', 'patient_search', 'deliveries');
