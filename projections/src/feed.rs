//! The ordered event feed projectors read from. The embedded default reads the event store's
//! global log; a Kafka-backed feed can take its place.

use async_trait::async_trait;
use enkaku_domain::envelope::RecordedEvent;
use thiserror::Error;
use tokio::sync::watch;

#[derive(Debug, Error)]
#[error("event feed unavailable: {0}")]
pub struct FeedError(pub String);

#[async_trait]
pub trait EventFeed: Send + Sync {
    /// Up to `limit` events with a position greater than `after`, in position order, with no
    /// gaps: an event is never delivered after one with a higher position.
    async fn read_after(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, FeedError>;

    /// The newest position known to the feed; changes wake waiting projectors.
    fn head(&self) -> watch::Receiver<u64>;
}
