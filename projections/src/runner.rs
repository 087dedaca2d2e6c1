//! Runs projectors: read a batch from the feed, apply it and move the checkpoint in one
//! transaction, repeat; sleep until the feed's head moves.

use crate::feed::EventFeed;
use async_trait::async_trait;
use enkaku_domain::appointment::Event;
use enkaku_domain::envelope::RecordedEvent;
use sqlx::{Any, AnyConnection, Transaction};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const BATCH: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error(transparent)]
    Feed(#[from] crate::feed::FeedError),
}

/// Where read-model transactions come from (the infra `Db`, which knows how to take the
/// write lock on each backend).
#[async_trait]
pub trait WriteTransactions: Send + Sync {
    async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error>;
    fn pool(&self) -> &sqlx::AnyPool;
}

#[async_trait]
pub trait Projector: Send + Sync {
    /// Also the key of its checkpoint.
    fn name(&self) -> &'static str;
    /// `CREATE … IF NOT EXISTS` statements for its tables.
    fn schema(&self) -> &'static str;
    /// Its tables, dropped by a rebuild.
    fn tables(&self) -> &'static [&'static str];
    /// Fold a batch of events, in order, into the rows. Must be idempotent: applying an
    /// event a second time changes nothing.
    async fn apply(
        &self,
        tx: &mut AnyConnection,
        batch: &[(&RecordedEvent, Event)],
    ) -> Result<(), sqlx::Error>;
}

const CHECKPOINT_SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS projection_checkpoints (name TEXT PRIMARY KEY, position BIGINT NOT NULL)";

pub struct ProjectionRunner {
    db: Arc<dyn WriteTransactions>,
    feed: Arc<dyn EventFeed>,
    projectors: Vec<Arc<dyn Projector>>,
}

impl ProjectionRunner {
    pub fn new(
        db: Arc<dyn WriteTransactions>,
        feed: Arc<dyn EventFeed>,
        projectors: Vec<Arc<dyn Projector>>,
    ) -> Self {
        Self { db, feed, projectors }
    }

    /// Create missing read-model tables.
    pub async fn prepare(&self) -> Result<(), ProjectionError> {
        let mut tx = self.db.begin_write().await?;
        sqlx::raw_sql(CHECKPOINT_SCHEMA).execute(&mut *tx).await?;
        for p in &self.projectors {
            sqlx::raw_sql(p.schema()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Drop every read model and its checkpoint, so the next catch-up rebuilds it from the
    /// first event.
    pub async fn reset(&self) -> Result<(), ProjectionError> {
        self.prepare().await?;
        let mut tx = self.db.begin_write().await?;
        for p in &self.projectors {
            for table in p.tables() {
                sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM projection_checkpoints WHERE name = $1")
                .bind(p.name())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.prepare().await
    }

    /// Apply everything the feed has now, for every projector; returns events applied
    /// (counting once per projector). All projectors move in one transaction per batch, so
    /// a batch costs one commit however many read models there are. `progress` is told each
    /// batch's last position.
    pub async fn catch_up(&self, progress: &(dyn Fn(u64) + Sync)) -> Result<u64, ProjectionError> {
        let mut applied = 0;
        loop {
            let from = self.position().await?;
            let batch = self.feed.read_after(from, BATCH).await?;
            let Some(last) = batch.last().map(|e| e.position) else {
                return Ok(applied);
            };
            let decoded: Vec<(&RecordedEvent, Event)> = batch
                .iter()
                .filter_map(|recorded| {
                    match Event::decode(&recorded.event_type, recorded.schema_version, &recorded.data) {
                        Ok(event) => Some((recorded, event)),
                        // Not an appointment event (or one from a newer build): not ours to show.
                        Err(e) => {
                            tracing::warn!(position = recorded.position, error = %e, "event skipped by projection");
                            None
                        }
                    }
                })
                .collect();
            let mut tx = self.db.begin_write().await?;
            for projector in &self.projectors {
                // Re-read inside the transaction: another runner may have moved it meanwhile.
                // Two runners applying one batch at once still agree: inserts ignore existing
                // rows, updates are version-guarded and checkpoints only move forward.
                let done = checkpoint(&mut *tx, projector.name()).await?;
                let start = decoded.partition_point(|(recorded, _)| recorded.position <= done);
                projector.apply(&mut tx, &decoded[start..]).await?;
                applied += batch.iter().filter(|e| e.position > done).count() as u64;
                sqlx::query(
                    "INSERT INTO projection_checkpoints (name, position) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET position = excluded.position
                     WHERE projection_checkpoints.position < excluded.position",
                )
                .bind(projector.name())
                .bind(last as i64)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            progress(last);
        }
    }

    /// Keep every projector up to date until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut head = self.feed.head();
        loop {
            if let Err(e) = self.catch_up(&|_| {}).await {
                tracing::warn!(error = %e, "projection failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            tokio::select! {
                _ = head.changed() => {}
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// The lowest checkpoint of all projectors: every event up to it is visible everywhere.
    pub async fn position(&self) -> Result<u64, ProjectionError> {
        let mut lowest = u64::MAX;
        for p in &self.projectors {
            lowest = lowest.min(checkpoint(self.db.pool(), p.name()).await?);
        }
        Ok(if self.projectors.is_empty() { 0 } else { lowest })
    }
}

async fn checkpoint<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    name: &str,
) -> Result<u64, sqlx::Error> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(executor)
            .await?;
    Ok(position.unwrap_or(0) as u64)
}
