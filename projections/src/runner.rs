//! Runs projectors: read a batch from the feed, apply it and move each projector's offsets in
//! one transaction, repeat.

use crate::changes::{Change, Changes};
use crate::feed::{Cursor, EventFeed, FeedBatch, FeedEvent, FeedReader, advance, decode};
use crate::offsets::{self, Progress};
use crate::writes::{Placeholders, WriteBehind, Writes};
use async_trait::async_trait;
use enkaku_domain::appointment::Event;
use enkaku_domain::envelope::{RecordedEvent, StoredEvent};
use enkaku_domain::ids::{AppointmentId, ClinicId};
use sqlx::{Any, Transaction};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const BATCH: usize = 512;
/// How long a reader waits for events before the runner looks at its shutdown signal and lag.
const POLL: Duration = Duration::from_secs(1);
/// How often the offsets move when batches hold nothing of the runner's family (the directory
/// runner reads every appointment event of the log and applies none): at most once this
/// long, not one commit per batch; the next save and the end of a catch-up take the rest along.
/// A restart re-reads what was passed over since, to no effect.
const PASSED_OVER_SAVE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error(transparent)]
    Feed(#[from] crate::feed::FeedError),
    /// A [`WriteBehind`] of a backend's own failed.
    #[error("writing the read models failed: {0}")]
    Write(Box<dyn std::error::Error + Send + Sync>),
}

/// Where read-model transactions come from (the infra `Db`, which knows how to take the
/// write lock on each backend).
#[async_trait]
pub trait WriteTransactions: Send + Sync {
    async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error>;
    fn pool(&self) -> &sqlx::AnyPool;
    fn placeholders(&self) -> Placeholders;
}

/// A read model of one family of events: the appointments' (the default) or the set-up's.
pub trait Projector<E = Event>: Send + Sync {
    /// Also the key of its offsets.
    fn name(&self) -> &'static str;
    /// `CREATE … IF NOT EXISTS` statements for its tables, and for the indexes its `apply`
    /// looks rows up by.
    fn schema(&self) -> &'static str;
    /// The indexes only its readers use. A rebuild or a replay creates them once the rows are
    /// in, which costs a fraction of keeping them in order row by row.
    fn query_indexes(&self) -> &'static [QueryIndex] {
        &[]
    }
    /// Its tables, dropped by a rebuild.
    fn tables(&self) -> &'static [&'static str];
    /// Whether `event` can change its rows: a batch announces the read models its events
    /// touched.
    fn shows(&self, event: &E) -> bool;
    /// Plan the writes that fold a batch of events into the rows, reading nothing: what a
    /// write depends on, its SQL reads ([`crate::writes`]). Events of one stream come in
    /// stream order; different streams may interleave in any order. Must be idempotent:
    /// applying an event a second time changes nothing.
    fn apply(&self, batch: &[(&RecordedEvent, &E)], writes: &mut Writes);
}

/// An index of a read model that its projector never looks rows up by.
pub struct QueryIndex {
    pub name: &'static str,
    /// What follows `ON`: the table and the columns.
    pub on: &'static str,
}

pub struct ProjectionRunner<E = Event> {
    /// The consumer name the feed knows this runner by (its Kafka client id).
    name: String,
    db: Arc<dyn WriteTransactions>,
    feed: Arc<dyn EventFeed>,
    projectors: Vec<Arc<dyn Projector<E>>>,
    lag: AtomicU64,
    changes: Changes,
    /// Batches passed over since the offsets last moved: the read models are current up to
    /// them all the same. The next save, or the end of a catch-up, takes them along.
    unsaved: std::sync::Mutex<Progress>,
    saved_at: std::sync::Mutex<Instant>,
}

impl<E: StoredEvent + Send + Sync + 'static> ProjectionRunner<E> {
    pub fn new(
        name: impl Into<String>,
        db: Arc<dyn WriteTransactions>,
        feed: Arc<dyn EventFeed>,
        projectors: Vec<Arc<dyn Projector<E>>>,
    ) -> Self {
        Self {
            name: name.into(),
            db,
            feed,
            projectors,
            lag: AtomicU64::new(0),
            changes: Changes::default(),
            unsaved: std::sync::Mutex::new(Progress::default()),
            saved_at: std::sync::Mutex::new(Instant::now()),
        }
    }

    /// Announce what each batch touched there, once its rows are committed, so a reader
    /// refetching then sees it.
    pub fn announcing_to(mut self, changes: &Changes) -> Self {
        self.changes = changes.clone();
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn feed_name(&self) -> String {
        self.feed.name()
    }

    /// Events in the feed this runner has not applied yet, as of its last look.
    pub fn lag(&self) -> u64 {
        self.lag.load(Ordering::Relaxed)
    }

    /// Create missing read-model tables and indexes.
    pub async fn prepare(&self) -> Result<(), ProjectionError> {
        let mut tx = self.db.begin_write().await?;
        for p in &self.projectors {
            sqlx::raw_sql(p.schema()).execute(&mut *tx).await?;
            for index in p.query_indexes() {
                sqlx::query(&format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {}",
                    index.name, index.on
                ))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Drop the indexes only readers use ([`Projector::query_indexes`]), before folding a long
    /// log into the tables; [`ProjectionRunner::prepare`] creates them again.
    pub async fn drop_query_indexes(&self) -> Result<(), ProjectionError> {
        let mut tx = self.db.begin_write().await?;
        for index in self.projectors.iter().flat_map(|p| p.query_indexes()) {
            sqlx::query(&format!("DROP INDEX IF EXISTS {}", index.name))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Drop every read model and its offsets, so the next catch-up rebuilds it from the
    /// first event.
    pub async fn reset(&self) -> Result<(), ProjectionError> {
        let mut tx = self.db.begin_write().await?;
        for p in &self.projectors {
            for table in p.tables() {
                sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
                    .execute(&mut *tx)
                    .await?;
            }
            offsets::forget(&mut tx, p.name()).await?;
        }
        tx.commit().await?;
        self.prepare().await
    }

    /// Where each of its projectors stands in `feed`.
    async fn cursors(&self, feed: &str) -> Result<Vec<Cursor>, ProjectionError> {
        let mut cursors = Vec::new();
        for p in &self.projectors {
            cursors.push(offsets::load(self.db.pool(), p.name(), feed).await?);
        }
        Ok(cursors)
    }

    async fn open(&self) -> Result<Box<dyn FeedReader>, ProjectionError> {
        let cursors = self.cursors(&self.feed.name()).await?;
        Ok(self.feed.open(&self.name, &offsets::earliest(&cursors)).await?)
    }

    /// Apply everything the feed has now, for every projector; returns events applied
    /// (counting once per projector). `progress` is told each batch's newest position.
    pub async fn catch_up(&self, progress: &(dyn Fn(u64) + Sync)) -> Result<u64, ProjectionError> {
        catch_up_together(self.feed.as_ref(), &self.name, &[self], BATCH, progress).await
    }

    /// Keep every projector up to date until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(e) = self.follow(&mut shutdown).await {
                tracing::warn!(runner = %self.name, error = %e, "projection failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }

    async fn follow(&self, shutdown: &mut watch::Receiver<bool>) -> Result<(), ProjectionError> {
        let mut reader = self.open().await?;
        self.lag.store(reader.lag(), Ordering::Relaxed);
        loop {
            let batch = tokio::select! {
                batch = reader.next_batch(BATCH, POLL) => batch?,
                _ = shutdown.changed() => return Ok(()),
            };
            if !batch.reached.is_empty() {
                self.lag
                    .store(reader.lag() + batch.events.len() as u64, Ordering::Relaxed);
                self.apply(&batch, decode(&batch.events)).await?;
            }
            self.lag.store(reader.lag(), Ordering::Relaxed);
        }
    }

    /// One transaction for every projector, so a batch costs one commit however many read
    /// models there are, and rows never move without their offsets. `decoded` is the batch's
    /// [`decode`].
    async fn apply(&self, batch: &FeedBatch, decoded: Vec<(usize, E)>) -> Result<u64, ProjectionError> {
        let decoded: Vec<(&FeedEvent, E)> = decoded
            .into_iter()
            .map(|(place, event)| (&batch.events[place], event))
            .collect();
        if decoded.is_empty() && self.saved_recently() {
            self.unsaved().absorb(batch);
            return Ok(0);
        }
        let feed = self.feed.name();
        let mut progress = self.unsaved().clone();
        progress.absorb(batch);
        let mut tx = self.db.begin_write().await?;
        let mut done = Vec::new();
        for projector in &self.projectors {
            // Read inside the transaction: another runner may have moved it meanwhile. Two
            // runners applying one batch at once still agree: inserts ignore existing rows,
            // updates are version-guarded and offsets only move forward.
            done.push(offsets::load(&mut *tx, projector.name(), &feed).await?);
        }
        let mut writes = Writes::new(self.db.placeholders());
        let applied = self.plan(&decoded, &progress, &done, &mut writes);
        writes.run(&mut tx).await?;
        tx.commit().await?;
        self.saved();
        if applied > 0 && self.changes.heard() {
            self.announce(&decoded);
        }
        Ok(applied)
    }

    /// Plan each projector's writes for the events of `decoded` it has not applied (it stands
    /// at `done`, one cursor each), and its offsets' move to `progress`; returns events
    /// planned, once per projector.
    fn plan(
        &self,
        decoded: &[(&FeedEvent, E)],
        progress: &Progress,
        done: &[Cursor],
        writes: &mut Writes,
    ) -> u64 {
        let feed = self.feed.name();
        let mut applied = 0;
        for (projector, done) in self.projectors.iter().zip(done) {
            let fresh: Vec<(&RecordedEvent, &E)> = decoded
                .iter()
                .filter(|(fed, _)| fed.offset >= done.get(&fed.partition).copied().unwrap_or(0))
                .map(|(fed, event)| (&fed.event, event))
                .collect();
            projector.apply(&fresh, writes);
            applied += fresh.len() as u64;
            offsets::plan_save(writes, projector.name(), &feed, progress);
        }
        applied
    }

    /// Move every projector's offsets over the batches passed over since they last moved, so
    /// that the end of a catch-up (a replay's file, say) leaves none behind.
    async fn settle(&self) -> Result<(), ProjectionError> {
        let progress = self.unsaved().clone();
        if progress.next.is_empty() {
            return Ok(());
        }
        let feed = self.feed.name();
        let mut tx = self.db.begin_write().await?;
        for projector in &self.projectors {
            offsets::save(&mut tx, projector.name(), &feed, &progress).await?;
        }
        tx.commit().await?;
        self.saved();
        Ok(())
    }

    fn unsaved(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.unsaved.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The offsets moved over everything read so far.
    fn saved(&self) {
        *self.unsaved() = Progress::default();
        *self.saved_at.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn saved_recently(&self) -> bool {
        self.saved_at.lock().unwrap_or_else(|e| e.into_inner()).elapsed() < PASSED_OVER_SAVE
    }

    /// One change per clinic: the read models its events touched and their appointments (a
    /// set-up stream's events touch read models only).
    fn announce(&self, decoded: &[(&FeedEvent, E)]) {
        let mut by_clinic = BTreeMap::<ClinicId, Change>::new();
        for (fed, event) in decoded {
            let appointment_id = AppointmentId::owning_stream(&fed.event.stream_id);
            let touched: Vec<&'static str> = self
                .projectors
                .iter()
                .filter(|p| p.shows(event))
                .map(|p| p.name())
                .collect();
            if touched.is_empty() {
                continue;
            }
            let clinic_id = fed.event.metadata.clinic_id;
            by_clinic
                .entry(clinic_id)
                .or_insert_with(|| Change::new(clinic_id))
                .touch(appointment_id, touched);
        }
        by_clinic
            .into_values()
            .for_each(|change| self.changes.announce(change));
    }

    /// The newest global log position every projector has applied. On the store's log that
    /// means every event up to it; on Kafka, partitions progress separately, so it is only
    /// the newest event applied (the lag is the exact figure there).
    pub async fn position(&self) -> Result<u64, ProjectionError> {
        let feed = self.feed.name();
        let mut lowest = u64::MAX;
        for p in &self.projectors {
            lowest = lowest.min(offsets::last_position(self.db.pool(), p.name(), &feed).await?);
        }
        Ok(if self.projectors.is_empty() {
            0
        } else {
            let passed_over = self.unsaved().last_position.values().copied().max();
            lowest.max(passed_over.unwrap_or(0))
        })
    }
}

/// A batch's events of one runner's family, decoded ([`decode`]) by the task reading ahead:
/// whichever family that is, so that one task serves runners of both.
pub type DecodedBatch = Box<dyn std::any::Any + Send>;

/// A runner as [`catch_up_together`] and [`fold_together`] see it, whichever family of events
/// it folds.
#[async_trait]
pub trait CatchingUp: Sync {
    /// Where each of its projectors stands in `feed`.
    async fn cursors(&self, feed: &str) -> Result<Vec<Cursor>, ProjectionError>;
    /// How its batches are decoded: a plain function, for the task reading ahead.
    fn decoder(&self) -> fn(&FeedBatch) -> DecodedBatch;
    /// Apply `batch`, which `decoded` is the [`CatchingUp::decoder`]'s answer for.
    async fn apply(&self, batch: &FeedBatch, decoded: DecodedBatch) -> Result<u64, ProjectionError>;
    /// Plan what applying `batch` writes, its projectors standing at `done` (one cursor each,
    /// moved over the batch), into `writes`: for a fold that is their one writer.
    fn plan(
        &self,
        batch: &FeedBatch,
        decoded: DecodedBatch,
        done: &mut [Cursor],
        writes: &mut Writes,
    ) -> Result<u64, ProjectionError>;
    /// Save what it passed over without saving: the catch-up is at its end.
    async fn settle(&self) -> Result<(), ProjectionError>;
}

fn downcast<E: 'static>(decoded: DecodedBatch) -> Result<Vec<(usize, E)>, ProjectionError> {
    decoded
        .downcast::<Vec<(usize, E)>>()
        .map(|decoded| *decoded)
        .map_err(|_| crate::feed::FeedError("a batch decoded for another runner".into()).into())
}

fn decode_ahead<E: StoredEvent + Send + 'static>(batch: &FeedBatch) -> DecodedBatch {
    Box::new(decode::<E>(&batch.events))
}

#[async_trait]
impl<E: StoredEvent + Send + Sync + 'static> CatchingUp for ProjectionRunner<E> {
    async fn cursors(&self, feed: &str) -> Result<Vec<Cursor>, ProjectionError> {
        ProjectionRunner::cursors(self, feed).await
    }
    fn decoder(&self) -> fn(&FeedBatch) -> DecodedBatch {
        decode_ahead::<E>
    }
    async fn apply(&self, batch: &FeedBatch, decoded: DecodedBatch) -> Result<u64, ProjectionError> {
        ProjectionRunner::apply(self, batch, downcast(decoded)?).await
    }
    fn plan(
        &self,
        batch: &FeedBatch,
        decoded: DecodedBatch,
        done: &mut [Cursor],
        writes: &mut Writes,
    ) -> Result<u64, ProjectionError> {
        let decoded: Vec<(&FeedEvent, E)> = downcast(decoded)?
            .into_iter()
            .map(|(place, event)| (&batch.events[place], event))
            .collect();
        let planned = ProjectionRunner::plan(self, &decoded, &Progress::of(batch), done, writes);
        for done in done {
            advance(done, &batch.reached);
        }
        Ok(planned)
    }
    async fn settle(&self) -> Result<(), ProjectionError> {
        ProjectionRunner::settle(self).await
    }
}

/// Apply everything `feed` has now to every one of `runners`, reading it once as `consumer` (a
/// rebuild's runners would otherwise each read the whole log), `limit` events a batch, from
/// where the furthest behind of them stands; returns events applied, once per projector.
/// `progress` is told each batch's newest position. Each batch is applied in the runners'
/// transactions, as the live runners do.
pub async fn catch_up_together(
    feed: &dyn EventFeed,
    consumer: &str,
    runners: &[&dyn CatchingUp],
    limit: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, ProjectionError> {
    let name = feed.name();
    let mut cursors = Vec::new();
    for runner in runners {
        cursors.extend(runner.cursors(&name).await?);
    }
    let mut ahead = ReadAhead::start(feed, consumer, runners, &cursors, limit).await?;
    let mut applied = 0;
    while let Some((batch, decoded)) = ahead.next().await? {
        for (runner, decoded) in runners.iter().zip(decoded) {
            applied += runner.apply(&batch, decoded).await?;
        }
        ahead.done_with(batch, progress);
    }
    for runner in runners {
        runner.settle().await?;
    }
    Ok(applied)
}

/// [`catch_up_together`] for a fold that is the one writer of the runners' read models (a
/// rebuild of a stopped server, a replay into a file of its own): each batch's writes are
/// planned here, all runners' in one transaction with their offsets, and written by `writer`
/// while the next batch is planned. Where the runners stand is read once, at the start.
pub async fn fold_together(
    feed: &dyn EventFeed,
    consumer: &str,
    runners: &[&dyn CatchingUp],
    limit: usize,
    mut writer: Box<dyn WriteBehind>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, ProjectionError> {
    let name = feed.name();
    let mut done = Vec::new();
    for runner in runners {
        done.push(runner.cursors(&name).await?);
    }
    let mut ahead = ReadAhead::start(feed, consumer, runners, &done.concat(), limit).await?;
    let mut applied = 0;
    while let Some((batch, decoded)) = ahead.next().await? {
        let mut writes = Writes::new(writer.placeholders());
        for ((runner, decoded), done) in runners.iter().zip(decoded).zip(&mut done) {
            applied += runner.plan(&batch, decoded, done, &mut writes)?;
        }
        writer.write(writes).await?;
        ahead.done_with(batch, progress);
    }
    writer.finish().await?;
    Ok(applied)
}

/// The batches of a catch-up, from the earliest of the runners' `cursors`: each read, its
/// sealed data opened and its events decoded for each runner by a task of its own while the
/// last one is applied (or planned); an applied batch is freed on a thread of its own. So the
/// task applying or planning does nothing else.
struct ReadAhead {
    batches: tokio::sync::mpsc::Receiver<Result<(FeedBatch, Vec<DecodedBatch>), crate::feed::FeedError>>,
    _reading: AbortOnDrop,
}

impl ReadAhead {
    async fn start(
        feed: &dyn EventFeed,
        consumer: &str,
        runners: &[&dyn CatchingUp],
        cursors: &[Cursor],
        limit: usize,
    ) -> Result<Self, ProjectionError> {
        let mut reader = feed.open(consumer, &offsets::earliest(cursors)).await?;
        let decoders: Vec<_> = runners.iter().map(|runner| runner.decoder()).collect();
        let (read, batches) = tokio::sync::mpsc::channel(1);
        let reading = tokio::spawn(async move {
            loop {
                let batch = reader.next_batch(limit, Duration::ZERO).await.map(|batch| {
                    let decoded: Vec<DecodedBatch> = decoders.iter().map(|decode| decode(&batch)).collect();
                    (batch, decoded)
                });
                let last = batch.as_ref().map_or(true, |(b, _)| b.reached.is_empty());
                if read.send(batch).await.is_err() || last {
                    return;
                }
            }
        });
        Ok(Self {
            batches,
            _reading: AbortOnDrop(reading),
        })
    }

    /// The next batch with events, each runner's decoding of it; `None` at the feed's end.
    async fn next(&mut self) -> Result<Option<(FeedBatch, Vec<DecodedBatch>)>, ProjectionError> {
        // The reader ends with an empty batch or an error; anything else is a panic there.
        let (batch, decoded) = self
            .batches
            .recv()
            .await
            .ok_or_else(|| crate::feed::FeedError("the feed's reader stopped".into()))??;
        Ok((!batch.reached.is_empty()).then_some((batch, decoded)))
    }

    /// Tell `progress` how far `batch` went and free it.
    fn done_with(&self, batch: FeedBatch, progress: &(dyn Fn(u64) + Sync)) {
        progress(batch.events.iter().map(|e| e.event.position).max().unwrap_or(0));
        // Thousands of events, each with its own allocations: freed aside, not on this task.
        tokio::task::spawn_blocking(move || drop(batch));
    }
}

/// Stops a task when its owner is done with it, however that ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A projection runner as the server's workers see it, whichever family of events it reads.
#[async_trait]
pub trait RunningProjections: Send + Sync {
    fn name(&self) -> &str;
    fn feed_name(&self) -> String;
    fn lag(&self) -> u64;
    async fn position(&self) -> Result<u64, ProjectionError>;
    async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>);
}

#[async_trait]
impl<E: StoredEvent + Send + Sync + 'static> RunningProjections for ProjectionRunner<E> {
    fn name(&self) -> &str {
        ProjectionRunner::name(self)
    }
    fn feed_name(&self) -> String {
        ProjectionRunner::feed_name(self)
    }
    fn lag(&self) -> u64 {
        ProjectionRunner::lag(self)
    }
    async fn position(&self) -> Result<u64, ProjectionError> {
        ProjectionRunner::position(self).await
    }
    async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        ProjectionRunner::run(self, shutdown).await
    }
}
