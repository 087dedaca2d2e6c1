//! Consumers' places in a feed (table `feed_offsets`, created by the infra migrations).

use crate::feed::{Cursor, FeedBatch};
use crate::writes::{Placeholders, Value, Writes};
use sqlx::{Any, AnyConnection};
use std::collections::BTreeMap;

/// Where `consumer` stands in `feed`: partition → next offset.
pub async fn load<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    consumer: &str,
    feed: &str,
) -> Result<Cursor, sqlx::Error> {
    let rows: Vec<(i32, i64)> =
        sqlx::query_as("SELECT part, next_offset FROM feed_offsets WHERE consumer = $1 AND feed = $2")
            .bind(consumer)
            .bind(feed)
            .fetch_all(executor)
            .await?;
    Ok(rows.into_iter().map(|(p, next)| (p, next as u64)).collect())
}

/// The newest global log position `consumer` has handled in `feed`, over all partitions.
pub async fn last_position<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    consumer: &str,
    feed: &str,
) -> Result<u64, sqlx::Error> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT MAX(last_position) FROM feed_offsets WHERE consumer = $1 AND feed = $2")
            .bind(consumer)
            .bind(feed)
            .fetch_one(executor)
            .await?;
    Ok(last.unwrap_or(0) as u64)
}

/// How far a consumer got over one or more batches.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    pub next: Cursor,
    /// Partition → the newest global log position seen in it.
    pub last_position: BTreeMap<i32, u64>,
}

impl Progress {
    pub fn absorb(&mut self, batch: &FeedBatch) {
        self.next.extend(&batch.reached);
        for e in &batch.events {
            let last = self.last_position.entry(e.partition).or_default();
            *last = (*last).max(e.event.position);
        }
    }

    pub fn of(batch: &FeedBatch) -> Self {
        let mut progress = Self::default();
        progress.absorb(batch);
        progress
    }
}

/// Move `consumer` to `progress`. Offsets only move forward, so a slower second runner
/// cannot drag a checkpoint back.
pub async fn save(
    conn: &mut AnyConnection,
    consumer: &str,
    feed: &str,
    progress: &Progress,
) -> Result<(), sqlx::Error> {
    let mut writes = Writes::new(Placeholders::Numbered);
    plan_save(&mut writes, consumer, feed, progress);
    writes.run(conn).await
}

/// [`save`], as statements of `writes`.
pub fn plan_save(writes: &mut Writes, consumer: &str, feed: &str, progress: &Progress) {
    for (&part, &next) in &progress.next {
        let last_position = progress.last_position.get(&part).copied().unwrap_or(0);
        writes.push(
            "INSERT INTO feed_offsets (consumer, feed, part, next_offset, last_position)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (consumer, feed, part) DO UPDATE
             SET next_offset = excluded.next_offset,
                 last_position = CASE WHEN excluded.last_position > feed_offsets.last_position
                                      THEN excluded.last_position ELSE feed_offsets.last_position END
             WHERE feed_offsets.next_offset < excluded.next_offset",
            vec![
                Value::Text(consumer.to_owned()),
                Value::Text(feed.to_owned()),
                Value::Int(i64::from(part)),
                Value::Int(next as i64),
                Value::Int(last_position as i64),
            ],
        );
    }
}

/// Forget `consumer`'s place in every feed.
pub async fn forget(conn: &mut AnyConnection, consumer: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM feed_offsets WHERE consumer = $1")
        .bind(consumer)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Per partition, the lowest of several cursors: where a reader serving them all starts.
pub fn earliest<'a>(cursors: impl IntoIterator<Item = &'a Cursor>) -> Cursor {
    let cursors: Vec<&Cursor> = cursors.into_iter().collect();
    let mut start = Cursor::new();
    for cursor in &cursors {
        for &part in cursor.keys() {
            // A partition some cursor has never read must start at its beginning.
            let lowest = cursors.iter().map(|c| c.get(&part).copied().unwrap_or(0)).min();
            start.insert(part, lowest.unwrap_or(0));
        }
    }
    start
}
