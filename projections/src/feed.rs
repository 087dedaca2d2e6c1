//! The event feed projectors and reactors read from: the event store's own global log in the
//! embedded default, a Kafka topic in production. A feed is split into partitions, each in
//! order; a consumer remembers, per partition, the next offset it has not yet applied.
//!
//! The store's log is one partition whose offsets are global positions. A Kafka topic has
//! several, keyed by stream, so one appointment's events stay in order while different
//! appointments' events may interleave differently than in the log. Read models therefore
//! rely on per-stream order only (every row carries the stream version it reflects).

use async_trait::async_trait;
use enkaku_domain::envelope::{RecordedEvent, StoredEvent};
use std::collections::BTreeMap;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("event feed unavailable: {0}")]
pub struct FeedError(pub String);

/// Partition → the next offset to read.
pub type Cursor = BTreeMap<i32, u64>;

/// Move `cursor` to where a batch `reached`, partition by partition, never back: a consumer
/// that stood ahead of the batch (it passed it over) stays where it was.
pub fn advance(cursor: &mut Cursor, reached: &Cursor) {
    for (&partition, &next) in reached {
        let at = cursor.entry(partition).or_default();
        *at = (*at).max(next);
    }
}

/// One event as a feed delivered it.
#[derive(Clone, Debug)]
pub struct FeedEvent {
    pub partition: i32,
    pub offset: u64,
    pub event: RecordedEvent,
}

#[derive(Debug, Default)]
pub struct FeedBatch {
    /// In order within each partition.
    pub events: Vec<FeedEvent>,
    /// Where each partition read in this batch continues, past any message skipped as
    /// unreadable.
    pub reached: Cursor,
}

#[async_trait]
pub trait EventFeed: Send + Sync {
    /// Names the offsets' space, e.g. `log` or `kafka:enkaku.appointments.v1`; checkpoints
    /// are kept per feed, so switching feeds never mixes offsets.
    fn name(&self) -> String;

    /// A reader for `consumer` that starts at `from` (partitions missing there start at
    /// their beginning).
    async fn open(&self, consumer: &str, from: &Cursor) -> Result<Box<dyn FeedReader>, FeedError>;
}

#[async_trait]
pub trait FeedReader: Send {
    /// Up to `limit` events, waiting at most `wait` for the first one. Cancel-safe.
    async fn next_batch(&mut self, limit: usize, wait: Duration) -> Result<FeedBatch, FeedError>;

    /// Events in the feed not yet returned by this reader, as far as it knows.
    fn lag(&self) -> u64;
}

/// The events of family `E` in a batch that this build can read, decoded once for every
/// consumer of it, each with its place in `events`. The other family's events are passed
/// over; one of `E`'s that this build cannot read (from a newer build) is logged and left out:
/// not ours to show or act on.
pub fn decode<E: StoredEvent>(events: &[FeedEvent]) -> Vec<(usize, E)> {
    events
        .iter()
        .enumerate()
        .filter(|(_, fed)| E::in_family(&fed.event.stream_id))
        .filter_map(|(place, fed)| {
            let e = &fed.event;
            match E::decode(&e.event_type, e.schema_version, &e.data) {
                Ok(event) => Some((place, event)),
                Err(error) => {
                    tracing::warn!(position = e.position, %error, "event skipped: this build cannot read it");
                    None
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{Cursor, advance};

    #[test]
    fn a_cursor_moves_forward_to_a_batch_and_never_back() {
        let mut cursor = Cursor::from([(0, 1_000), (1, 5)]);
        advance(&mut cursor, &Cursor::from([(0, 500), (1, 9), (2, 3)]));
        assert_eq!(cursor, Cursor::from([(0, 1_000), (1, 9), (2, 3)]));
    }
}
