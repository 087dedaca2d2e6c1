-- Two-factor sign-in (TOTP, RFC 6238) for staff, outside the event log: secrets and recovery
-- codes never enter events. Keyed by staff id without a foreign key to `staff`, which becomes
-- a rebuildable read model.
CREATE TABLE two_factor (
    staff_id         TEXT   PRIMARY KEY,
    -- The base32 secret codes are checked against; NULL until an enrolment is confirmed.
    secret           TEXT,
    confirmed_at_ms  BIGINT,
    -- The highest time step (Unix seconds / 30) accepted, so one code never works twice.
    last_step        BIGINT,
    -- An enrolment started and not yet confirmed (a first one, or a new phone): starting
    -- again replaces it; confirming it makes it the secret.
    pending_secret   TEXT,
    pending_since_ms BIGINT
);

-- Recovery codes: only their SHA-256 digests, each usable once.
CREATE TABLE two_factor_recovery_codes (
    staff_id   TEXT   NOT NULL,
    code_hash  TEXT   NOT NULL,
    used_at_ms BIGINT,
    PRIMARY KEY (staff_id, code_hash)
);

-- A session signed in while the clinic requires two-factor and the person has not enrolled
-- yet may only enrol (1); enrolling lifts it on all of that person's sessions.
ALTER TABLE sessions ADD COLUMN enrolment_only INTEGER NOT NULL DEFAULT 0;
