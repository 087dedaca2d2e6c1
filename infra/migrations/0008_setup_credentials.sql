-- Set-up becomes event-sourced (SPEC §8): clinics, staff, menus and hours are event streams,
-- and the tables the rest of the code reads are a read model of them (`directory_*`, made by
-- the directory projector). What stays outside the log is credentials: the address each
-- staff member signs in with (one per person across every clinic on this store) and their
-- password hash.
CREATE TABLE staff_credentials (
    staff_id      TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL
);
INSERT INTO staff_credentials (staff_id, email, password_hash)
SELECT id, lower(email), password_hash FROM staff;

-- Sessions and set-up links stop pointing at the old `staff` table, which start-up turns into
-- events and then drops (infra/src/legacy.rs). Copied, not recreated: nobody is signed out.
CREATE TABLE sessions_new (
    token_hash    TEXT   PRIMARY KEY,
    staff_id      TEXT   NOT NULL,
    clinic_id     TEXT   NOT NULL,
    csrf_token    TEXT   NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    idle_until_ms BIGINT
);
INSERT INTO sessions_new (token_hash, staff_id, clinic_id, csrf_token, expires_at_ms, idle_until_ms)
SELECT token_hash, staff_id, clinic_id, csrf_token, expires_at_ms, idle_until_ms FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
-- Deactivating a staff member ends their sessions by staff id.
CREATE INDEX sessions_by_staff ON sessions (staff_id);

CREATE TABLE setup_links_new (
    token_hash     TEXT   PRIMARY KEY,
    staff_id       TEXT   NOT NULL,
    clinic_id      TEXT   NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    valid_until_ms BIGINT NOT NULL,
    used_at_ms     BIGINT
);
INSERT INTO setup_links_new (token_hash, staff_id, clinic_id, created_at_ms, valid_until_ms, used_at_ms)
SELECT token_hash, staff_id, clinic_id, created_at_ms, valid_until_ms, used_at_ms FROM setup_links;
DROP TABLE setup_links;
ALTER TABLE setup_links_new RENAME TO setup_links;
CREATE INDEX setup_links_by_staff ON setup_links (staff_id);
