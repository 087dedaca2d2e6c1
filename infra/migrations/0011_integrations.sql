-- Credentials a clinic's administrators issue to integrators (an EMR that matches by chart
-- number): a bearer token shown once, kept as its SHA-256 digest. With it an integrator fetches
-- the data keys of the clinic's appointments, to open the personal data of the events it
-- receives (docs/integrators.md). Revoked ones stay, for the record.
CREATE TABLE integration_credentials (
    id            TEXT   PRIMARY KEY,
    clinic_id     TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    token_hash    TEXT   NOT NULL UNIQUE,
    created_by    TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX integration_credentials_by_clinic ON integration_credentials (clinic_id, created_at_ms);
