-- Where a log's oldest records were pruned (docs/audit.md): records 1..size are gone, and the
-- signed checkpoint of the tree at `size` (JSON) is where `enkaku audit verify` starts. The
-- tree's nodes stay: they hold hashes, nothing personal, and prove old checkpoints.
CREATE TABLE audit_prunings (
    log        TEXT   NOT NULL,
    size       BIGINT NOT NULL,
    checkpoint TEXT   NOT NULL,
    PRIMARY KEY (log, size)
);
