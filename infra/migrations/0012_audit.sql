-- The access log (docs/audit.md): who signed in, out, read or changed what, one append-only
-- row each. Never patient data or tokens: a failed sign-in for an address no one has keeps a
-- keyed hash of it (`subject_hmac`), and `resource` is the route's pattern, not its path.
-- `position` is assigned like the event log's: by one writer under the write lock, gap-free.
CREATE TABLE access_log (
    position       BIGINT PRIMARY KEY,
    at             TEXT   NOT NULL,
    clinic_id      TEXT,
    staff_id       TEXT,
    action         TEXT   NOT NULL,
    resource       TEXT   NOT NULL,
    appointment_id TEXT,
    outcome        TEXT   NOT NULL,
    request_id     TEXT   NOT NULL,
    client         TEXT   NOT NULL,
    subject_hmac   TEXT
);
CREATE INDEX access_log_by_clinic ON access_log (clinic_id, position);

-- The Merkle trees over the event log and the access log (RFC 9162): the hash of every
-- perfect subtree (`level` 0: a leaf, the hash of one stored record), written once when its
-- last leaf is folded in and never changed. Derived from the logs: `audit verify` recomputes
-- it, and a store without it is folded again from the first record.
CREATE TABLE audit_nodes (
    log   TEXT    NOT NULL,
    level INTEGER NOT NULL,
    idx   BIGINT  NOT NULL,
    hash  TEXT    NOT NULL,
    PRIMARY KEY (log, level, idx)
);
