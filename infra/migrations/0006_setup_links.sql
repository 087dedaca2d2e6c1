-- One-time set-up links (choosing a password after an invitation or a forgotten one): only
-- the token's digest is kept. A link is used up, voided by a newer one, or expires.
CREATE TABLE setup_links (
    token_hash     TEXT   PRIMARY KEY,
    staff_id       TEXT   NOT NULL REFERENCES staff (id),
    clinic_id      TEXT   NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    valid_until_ms BIGINT NOT NULL,
    used_at_ms     BIGINT
);
CREATE INDEX setup_links_by_staff ON setup_links (staff_id);
