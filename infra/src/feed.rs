//! The embedded event feed: the event store's own global log as one partition whose offsets
//! are global positions, woken by the store's commits.

use async_trait::async_trait;
use enkaku_commands::ports::{EventStore, Vault};
use enkaku_commands::sealing;
use enkaku_projections::FeedError;
use enkaku_projections::feed::{Cursor, EventFeed, FeedBatch, FeedEvent, FeedReader};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The feed's name in `feed_offsets`.
pub const LOG_FEED: &str = "log";

pub struct StoreFeed(pub Arc<dyn EventStore>);

#[async_trait]
impl EventFeed for StoreFeed {
    fn name(&self) -> String {
        LOG_FEED.into()
    }

    async fn open(&self, _consumer: &str, from: &Cursor) -> Result<Box<dyn FeedReader>, FeedError> {
        Ok(Box::new(StoreReader::new(&self.0, from, u64::MAX)))
    }
}

/// The store's log up to `until` and no further: what a replay of the past reads.
pub struct PastFeed {
    pub store: Arc<dyn EventStore>,
    pub until: u64,
}

#[async_trait]
impl EventFeed for PastFeed {
    fn name(&self) -> String {
        LOG_FEED.into()
    }

    async fn open(&self, _consumer: &str, from: &Cursor) -> Result<Box<dyn FeedReader>, FeedError> {
        Ok(Box::new(StoreReader::new(&self.store, from, self.until)))
    }
}

struct StoreReader {
    store: Arc<dyn EventStore>,
    head: watch::Receiver<u64>,
    /// The next position to read (positions start at 1).
    next: u64,
    /// The last position to read.
    until: u64,
}

impl StoreReader {
    fn new(store: &Arc<dyn EventStore>, from: &Cursor, until: u64) -> Self {
        Self {
            store: store.clone(),
            head: store.head(),
            next: from.get(&0).copied().unwrap_or(0).max(1),
            until,
        }
    }
}

#[async_trait]
impl FeedReader for StoreReader {
    async fn next_batch(&mut self, limit: usize, wait: Duration) -> Result<FeedBatch, FeedError> {
        if self.next > self.until {
            return Ok(FeedBatch::default());
        }
        let limit = limit.min(usize::try_from(self.until - self.next + 1).unwrap_or(usize::MAX));
        if *self.head.borrow_and_update() < self.next {
            // Another process may append to a shared PostgreSQL store without waking this
            // one, so the wait also ends by time.
            let _ = tokio::time::timeout(wait, self.head.changed()).await;
        }
        let events = self
            .store
            .read_all(self.next - 1, limit)
            .await
            .map_err(|e| FeedError(e.to_string()))?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(FeedBatch::default());
        };
        self.next = last + 1;
        Ok(FeedBatch {
            events: events
                .into_iter()
                .map(|event| FeedEvent {
                    partition: 0,
                    offset: event.position,
                    event,
                })
                .collect(),
            reached: Cursor::from([(0, self.next)]),
        })
    }

    fn lag(&self) -> u64 {
        ((*self.head.borrow()).min(self.until) + 1).saturating_sub(self.next)
    }
}

/// A feed whose events arrive with their personal data opened (SPEC §9), for the projectors
/// and reactors that need it: the read models show it, the delivery worker sends to it. The
/// Kafka relay reads the log without this, so the broker only ever carries it sealed.
pub struct OpeningFeed {
    pub feed: Arc<dyn EventFeed>,
    pub vault: Arc<dyn Vault>,
}

#[async_trait]
impl EventFeed for OpeningFeed {
    fn name(&self) -> String {
        self.feed.name()
    }

    async fn open(&self, consumer: &str, from: &Cursor) -> Result<Box<dyn FeedReader>, FeedError> {
        Ok(Box::new(OpeningReader {
            reader: self.feed.open(consumer, from).await?,
            vault: self.vault.clone(),
        }))
    }
}

struct OpeningReader {
    reader: Box<dyn FeedReader>,
    vault: Arc<dyn Vault>,
}

#[async_trait]
impl FeedReader for OpeningReader {
    async fn next_batch(&mut self, limit: usize, wait: Duration) -> Result<FeedBatch, FeedError> {
        let mut batch = self.reader.next_batch(limit, wait).await?;
        sealing::open(
            self.vault.as_ref(),
            batch.events.iter_mut().map(|fed| &mut fed.event),
        )
        .await
        .map_err(|e| FeedError(e.to_string()))?;
        Ok(batch)
    }

    fn lag(&self) -> u64 {
        self.reader.lag()
    }
}
