//! The embedded event feed: the event store's own global log, woken by its commits.

use async_trait::async_trait;
use enkaku_commands::ports::EventStore;
use enkaku_domain::envelope::RecordedEvent;
use enkaku_projections::{EventFeed, FeedError};
use std::sync::Arc;
use tokio::sync::watch;

pub struct StoreFeed(pub Arc<dyn EventStore>);

#[async_trait]
impl EventFeed for StoreFeed {
    async fn read_after(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, FeedError> {
        self.0
            .read_all(after, limit)
            .await
            .map_err(|e| FeedError(e.to_string()))
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.0.head()
    }
}
