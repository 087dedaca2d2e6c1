//! Reactors: handlers that act on events outside the read models (send the patient URL, tell
//! the media relay a call started), on the same feeds as the projectors.
//!
//! Their offsets are saved after acting, not with the act, so delivery is at-least-once: a
//! reactor must make acting twice on one event harmless.

use crate::feed::{EventFeed, FeedEvent, FeedReader, decode};
use crate::offsets::{self, Progress};
use crate::runner::{ProjectionError, WriteTransactions};
use async_trait::async_trait;
use enkaku_domain::appointment::Event;
use enkaku_domain::envelope::RecordedEvent;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Offsets are saved after a batch that acted, and otherwise at most this often: re-reading
/// events that needed nothing costs little after a crash, while a commit per batch would
/// cost the store a disk flush each time.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// The reactor cannot go on now (its channel is down); the runner retries from its last
/// saved place after a pause.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RetryLater(pub String);

#[async_trait]
pub trait Reactor: Send + Sync {
    /// Also the key of its offsets and its Kafka client id.
    fn name(&self) -> &str;
    /// The most events handed to one `react`.
    fn batch_size(&self) -> usize {
        256
    }
    /// Act on a batch of decoded events (in order per partition; events this build cannot
    /// read are left out). `Ok(true)` when acting again after a crash would be costly (a
    /// message to a patient), so the place is saved at once; otherwise it is saved at most
    /// once a second. On `Err` the whole batch comes again.
    async fn react(&self, batch: &[(&RecordedEvent, &Event)]) -> Result<bool, RetryLater>;
}

/// A consumer that passes the feed's records on as they are stored, whether or not this
/// build can read them (the Kafka publisher). Otherwise run like a reactor.
#[async_trait]
pub trait Relay: Send + Sync {
    /// Also the key of its offsets.
    fn name(&self) -> &str;
    /// The most records handed to one `relay`.
    fn batch_size(&self) -> usize;
    /// Pass a batch on; `Ok` and `Err` mean what they mean for `Reactor::react`.
    async fn relay(&self, batch: &[FeedEvent]) -> Result<bool, RetryLater>;
}

/// What a `ReactorRunner` hands its batches to.
enum Consumer {
    Reactor(Arc<dyn Reactor>),
    Relay(Arc<dyn Relay>),
}

impl Consumer {
    fn name(&self) -> &str {
        match self {
            Self::Reactor(r) => r.name(),
            Self::Relay(r) => r.name(),
        }
    }

    fn batch_size(&self) -> usize {
        match self {
            Self::Reactor(r) => r.batch_size(),
            Self::Relay(r) => r.batch_size(),
        }
    }

    async fn take(&self, batch: &[FeedEvent]) -> Result<bool, RetryLater> {
        match self {
            Self::Reactor(r) => {
                let decoded = decode::<Event>(batch);
                let events: Vec<(&RecordedEvent, &Event)> = decoded
                    .iter()
                    .map(|(place, event)| (&batch[*place].event, event))
                    .collect();
                r.react(&events).await
            }
            Self::Relay(r) => r.relay(batch).await,
        }
    }
}

pub struct ReactorRunner {
    db: Arc<dyn WriteTransactions>,
    feed: Arc<dyn EventFeed>,
    reactor: Consumer,
    lag: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    #[error(transparent)]
    Retry(#[from] RetryLater),
}

impl From<sqlx::Error> for StepError {
    fn from(e: sqlx::Error) -> Self {
        Self::Projection(e.into())
    }
}

impl From<crate::feed::FeedError> for StepError {
    fn from(e: crate::feed::FeedError) -> Self {
        Self::Projection(e.into())
    }
}

impl ReactorRunner {
    pub fn new(db: Arc<dyn WriteTransactions>, feed: Arc<dyn EventFeed>, reactor: Arc<dyn Reactor>) -> Self {
        Self::with(db, feed, Consumer::Reactor(reactor))
    }

    pub fn relaying(db: Arc<dyn WriteTransactions>, feed: Arc<dyn EventFeed>, relay: Arc<dyn Relay>) -> Self {
        Self::with(db, feed, Consumer::Relay(relay))
    }

    fn with(db: Arc<dyn WriteTransactions>, feed: Arc<dyn EventFeed>, reactor: Consumer) -> Self {
        Self {
            db,
            feed,
            reactor,
            lag: AtomicU64::new(0),
        }
    }

    pub fn name(&self) -> &str {
        self.reactor.name()
    }

    pub fn feed_name(&self) -> String {
        self.feed.name()
    }

    /// Events in the feed this reactor has not handled yet, as of its last look.
    pub fn lag(&self) -> u64 {
        self.lag.load(Ordering::Relaxed)
    }

    async fn open(&self) -> Result<Box<dyn FeedReader>, ProjectionError> {
        let from = offsets::load(self.db.pool(), self.reactor.name(), &self.feed.name()).await?;
        Ok(self.feed.open(self.reactor.name(), &from).await?)
    }

    async fn save(&self, progress: &Progress) -> Result<(), ProjectionError> {
        if progress.next.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        offsets::save(&mut tx, self.reactor.name(), &self.feed.name(), progress).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Save `unsaved` now if `urgent`, otherwise once `SAVE_EVERY` has passed since the last
    /// save.
    async fn save_when(
        &self,
        unsaved: &mut Progress,
        saved_at: &mut Instant,
        urgent: bool,
    ) -> Result<(), ProjectionError> {
        if unsaved.next.is_empty() || !(urgent || saved_at.elapsed() >= SAVE_EVERY) {
            return Ok(());
        }
        self.save(unsaved).await?;
        *unsaved = Progress::default();
        *saved_at = Instant::now();
        Ok(())
    }

    /// React to everything the feed has now and save the place reached; returns whether any
    /// event was acted on.
    pub async fn catch_up(&self) -> Result<bool, RetryLater> {
        let run = async {
            let mut reader = self.open().await?;
            let mut acted = false;
            loop {
                let batch = reader
                    .next_batch(self.reactor.batch_size(), Duration::ZERO)
                    .await?;
                if batch.reached.is_empty() {
                    return Ok::<_, StepError>(acted);
                }
                acted |= self.reactor.take(&batch.events).await?;
                self.save(&Progress::of(&batch)).await?;
            }
        };
        run.await.map_err(|e| match e {
            StepError::Retry(e) => e,
            StepError::Projection(e) => RetryLater(e.to_string()),
        })
    }

    /// React until `shutdown` turns true; failures are logged and retried after a pause.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(e) = self.follow(&mut shutdown).await {
                tracing::warn!(reactor = self.name(), error = %e, "reactor stopped; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }

    async fn follow(&self, shutdown: &mut watch::Receiver<bool>) -> Result<(), StepError> {
        let mut reader = self.open().await?;
        self.lag.store(reader.lag(), Ordering::Relaxed);
        let size = self.reactor.batch_size();
        let mut unsaved = Progress::default();
        let mut saved_at = Instant::now();
        let mut prefetched = None;
        loop {
            let batch = match prefetched.take() {
                Some(batch) => batch,
                None => tokio::select! {
                    batch = reader.next_batch(size, SAVE_EVERY) => batch?,
                    _ = shutdown.changed() => return Ok(self.save(&unsaved).await?),
                },
            };
            if batch.reached.is_empty() {
                self.save_when(&mut unsaved, &mut saved_at, false).await?;
                self.lag.store(reader.lag(), Ordering::Relaxed);
                continue;
            }
            // Counted as behind until handled: the publisher may wait long for a broker.
            self.lag
                .store(reader.lag() + batch.events.len() as u64, Ordering::Relaxed);
            // Read (and decode) the next batch on another thread while this one is handled:
            // the publisher encodes and waits for the broker's acknowledgements meanwhile.
            let read_ahead = tokio::spawn(async move {
                let next = reader.next_batch(size, Duration::ZERO).await;
                (reader, next)
            });
            let acted = self.reactor.take(&batch.events).await;
            let next;
            (reader, next) = read_ahead
                .await
                .map_err(|e| ProjectionError::Feed(crate::feed::FeedError(e.to_string())))?;
            let acted = match acted {
                Ok(acted) => acted,
                Err(e) => {
                    // Keep what earlier batches did; this one (and the one read ahead) come
                    // again from the saved place.
                    self.save(&unsaved).await?;
                    return Err(e.into());
                }
            };
            unsaved.absorb(&batch);
            self.save_when(&mut unsaved, &mut saved_at, acted).await?;
            prefetched = Some(next?);
            self.lag.store(reader.lag(), Ordering::Relaxed);
        }
    }
}
