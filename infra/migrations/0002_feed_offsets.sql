-- Where each consumer of an event feed got to, per feed and partition: projectors (saved in
-- the same transaction as their rows), reactors such as URL delivery, and the Kafka
-- publisher (which reads the store's log, feed `log`, partition 0). `next_offset` is the
-- first offset not yet handled; `last_position` the newest global log position handled.
CREATE TABLE feed_offsets (
    consumer      TEXT    NOT NULL,
    feed          TEXT    NOT NULL,
    part          INTEGER NOT NULL,
    next_offset   BIGINT  NOT NULL,
    last_position BIGINT  NOT NULL,
    PRIMARY KEY (consumer, feed, part)
);

-- Replaced by feed_offsets. The delivery worker keeps its place (re-reading would hand its
-- messages to the channel again); read models are rebuilt, which is idempotent.
INSERT INTO feed_offsets (consumer, feed, part, next_offset, last_position)
SELECT name, 'log', 0, position + 1, position FROM worker_checkpoints;
DROP TABLE worker_checkpoints;
DROP TABLE IF EXISTS projection_checkpoints;
