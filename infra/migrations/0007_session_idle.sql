-- A staff session also ends when it goes unused (the idle timeout): this is when, moved
-- forward as it is used. NULL (sessions from before) counts as its absolute expiry.
ALTER TABLE sessions ADD COLUMN idle_until_ms BIGINT;
