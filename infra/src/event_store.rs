//! The SQL event store, on SQLite or PostgreSQL.
//!
//! **One writer, group commit.** Appends go through a channel to a single writer task. It
//! takes every request waiting in the channel, checks each one's expected version, inserts
//! the ones that hold, and commits them all in *one* transaction — one fsync for many
//! commands — then answers each caller. A request whose expected version is stale gets a
//! conflict and writes nothing; the others in the batch are unaffected.
//!
//! **Gap-free global order.** The writer assigns positions (`MAX(position) + 1`) while holding
//! the database's write lock (SQLite's `BEGIN IMMEDIATE`; on PostgreSQL a transaction-scoped
//! advisory lock, which also serialises writers in other processes). So positions become
//! visible in commit order, and a reader tailing `position > n` never skips an event that
//! commits later with a lower position.

use crate::db::{Backend, Db};
use crate::sqlite_log::{LogQuery, SqliteLog};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use enkaku_commands::ports::{Appended, EventStore, ExpectedVersion, StoreError};
use enkaku_domain::envelope::{EventData, EventMetadata, NewEvent, RecordedEvent};
use enkaku_projections::bulk::value_rows;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};

/// Most appends committed together; bounds the transaction's size and the wait of its last caller.
const MAX_BATCH: usize = 256;
/// Key of the PostgreSQL advisory lock that serialises appends across processes.
const APPEND_LOCK_KEY: i64 = 0x656e_6b61_6b75; // "enkaku"

struct AppendRequest {
    stream_id: String,
    expected: ExpectedVersion,
    events: Vec<Appending>,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// An event on its way into the log, its data written out once: the insert binds that text
/// and the events remembered after the commit keep it. Built by the caller's task, not the
/// writer's, which every append waits on.
struct Appending {
    event_id: uuid::Uuid,
    event_type: String,
    schema_version: u32,
    /// At the stored precision, microseconds: what reading it back gives.
    occurred_at: DateTime<Utc>,
    data: EventData,
    metadata: EventMetadata,
}

impl From<NewEvent> for Appending {
    fn from(e: NewEvent) -> Self {
        Self {
            event_id: e.event_id,
            data: EventData::from(&e.data),
            event_type: e.event_type,
            schema_version: e.schema_version,
            occurred_at: e.occurred_at.trunc_subsecs(6),
            metadata: e.metadata,
        }
    }
}

pub struct SqlEventStore {
    db: Db,
    /// On SQLite, where the log is read from (PostgreSQL's is read through the pool).
    sqlite_log: Option<Arc<SqliteLog>>,
    appends: mpsc::Sender<AppendRequest>,
    head: watch::Receiver<u64>,
    recent: Arc<RecentEvents>,
}

/// The events this process committed last, so tailers that are close behind (projectors, the
/// delivery worker) read them from memory instead of the database. The window never has a
/// gap: a commit that does not follow on from it (another process wrote in between) starts a
/// new window. It only ever answers with events; "nothing newer" always comes from the
/// database, which also sees other processes' commits.
struct RecentEvents {
    window: Mutex<VecDeque<RecordedEvent>>,
}

/// Events kept in memory: a few seconds of traffic at full load.
const RECENT_CAPACITY: usize = 8192;

impl RecentEvents {
    fn remember(&self, committed: Vec<RecordedEvent>) {
        let Some(first) = committed.first().map(|e| e.position) else {
            return;
        };
        let Ok(mut window) = self.window.lock() else {
            return;
        };
        if window.back().is_some_and(|last| last.position + 1 != first) {
            window.clear();
        }
        window.extend(committed);
        let excess = window.len().saturating_sub(RECENT_CAPACITY);
        window.drain(..excess);
    }

    /// Events after `after`, if the window holds the very next one.
    fn after(&self, after: u64, limit: usize) -> Option<Vec<RecordedEvent>> {
        let window = self.window.lock().ok()?;
        let front = window.front()?.position;
        let back = window.back()?.position;
        if front > after + 1 || back <= after {
            return None;
        }
        let skip = (after + 1 - front) as usize;
        Some(window.iter().skip(skip).take(limit).cloned().collect())
    }
}

impl SqlEventStore {
    /// Open the store and start its writer task.
    pub async fn open(db: Db) -> Result<Self, StoreError> {
        let sqlite_log = match (db.backend, &db.file) {
            (Backend::Postgres, _) => None,
            (Backend::Sqlite, Some(file)) => Some(SqliteLog::new(file.clone())),
            (Backend::Sqlite, None) => {
                return Err(StoreError::Unavailable(
                    "the embedded event store needs a database file, not one in memory".into(),
                ));
            }
        };
        let head_position = head_position(&db).await?;
        let (head_tx, head) = watch::channel(head_position);
        let (appends, requests) = mpsc::channel(4 * MAX_BATCH);
        let recent = Arc::new(RecentEvents {
            window: Mutex::new(VecDeque::new()),
        });
        tokio::spawn(writer(db.clone(), requests, head_tx, recent.clone()));
        Ok(Self {
            db,
            sqlite_log,
            appends,
            head,
            recent,
        })
    }
}

#[async_trait]
impl EventStore for SqlEventStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            stream_id: stream_id.to_owned(),
            expected,
            events: events.into_iter().map(Appending::from).collect(),
            reply,
        };
        let gone = || StoreError::Unavailable("the event store writer has stopped".into());
        self.appends.send(request).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        if let Some(log) = &self.sqlite_log {
            return log.read(LogQuery::Stream(stream_id.to_owned())).await;
        }
        let sql = select_as_json("stream_id = $1", "");
        let text: String = sqlx::query_scalar(&sql)
            .bind(stream_id)
            .fetch_one(&self.db.pool)
            .await
            .map_err(unavailable)?;
        parse_events(&text, format_args!("in stream {stream_id}"))
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        if let Some(events) = self.recent.after(after, limit) {
            return Ok(events);
        }
        if let Some(log) = &self.sqlite_log {
            return log.read(LogQuery::After { after, limit }).await;
        }
        let sql = select_as_json("position > $1", "LIMIT $2");
        let text: String = sqlx::query_scalar(&sql)
            .bind(to_i64(after))
            .bind(to_i64(limit as u64))
            .fetch_one(&self.db.pool)
            .await
            .map_err(unavailable)?;
        parse_events(&text, format_args!("after position {after}"))
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }
}

async fn head_position(db: &Db) -> Result<u64, StoreError> {
    let max: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
        .fetch_one(&db.pool)
        .await
        .map_err(unavailable)?;
    Ok(max as u64)
}

async fn writer(
    db: Db,
    mut requests: mpsc::Receiver<AppendRequest>,
    head: watch::Sender<u64>,
    recent: Arc<RecentEvents>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while requests.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let results = match commit_batch(&db, &batch).await {
            Ok((results, last_position)) => {
                head.send_if_modified(|h| {
                    let moved = last_position > *h;
                    *h = (*h).max(last_position);
                    moved
                });
                results
            }
            Err(e) => {
                tracing::error!(error = %e, "event store commit failed");
                batch.iter().map(|_| Err(unavailable(&e))).collect()
            }
        };
        // Remember before answering, so a caller reads its own append from memory too.
        let mut committed = Vec::new();
        for (request, result) in batch.iter_mut().zip(&results) {
            if let Ok(appended) = result {
                committed.extend(recorded(
                    &request.stream_id,
                    appended,
                    std::mem::take(&mut request.events),
                ));
            }
        }
        recent.remember(committed);
        for (request, result) in batch.drain(..).zip(results) {
            // The caller may have given up (client went away); the commit stands anyway.
            let _ = request.reply.send(result);
        }
    }
}

type BatchResults = Vec<Result<Appended, StoreError>>;

/// The stored form of one committed append, given where it ended: exactly what reading it
/// back from the table gives.
fn recorded(stream_id: &str, appended: &Appended, events: Vec<Appending>) -> Vec<RecordedEvent> {
    let count = events.len() as u64;
    events
        .into_iter()
        .zip(1..)
        .map(|(e, n)| RecordedEvent {
            event_id: e.event_id,
            stream_id: stream_id.to_owned(),
            version: appended.version - count + n,
            position: appended.position - count + n,
            event_type: e.event_type,
            schema_version: e.schema_version,
            occurred_at: e.occurred_at,
            data: e.data,
            metadata: e.metadata,
        })
        .collect()
}

/// Check and insert every request of the batch in one transaction, with one query for the
/// streams' versions and one multi-row insert, so a batch costs a handful of round trips
/// however many requests it holds.
async fn commit_batch(db: &Db, batch: &[AppendRequest]) -> Result<(BatchResults, u64), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    if db.backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPEND_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
    }
    let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
        .fetch_one(&mut *tx)
        .await?;
    let mut versions = stream_versions(&mut tx, batch).await?;
    let mut position = head;
    let mut rows = Vec::new();
    let mut results = Vec::with_capacity(batch.len());
    for request in batch {
        // Requests earlier in this batch count: two appends to one stream are checked in turn.
        let current = versions.get(request.stream_id.as_str()).copied().unwrap_or(0);
        if current != request.expected.as_version() {
            results.push(Err(StoreError::Conflict {
                stream_id: request.stream_id.clone(),
                expected: request.expected.as_version(),
                actual: current,
            }));
            continue;
        }
        let mut version = current;
        for event in &request.events {
            position += 1;
            version += 1;
            rows.push((request.stream_id.as_str(), version, position, event));
        }
        versions.insert(&request.stream_id, version);
        results.push(Ok(Appended {
            version,
            position: position as u64,
        }));
    }
    for chunk in rows.chunks(INSERT_CHUNK) {
        insert(&mut tx, chunk).await?;
    }
    tx.commit().await?;
    Ok((results, position as u64))
}

/// Events per INSERT statement: 9 parameters each stays far below every backend's limit.
const INSERT_CHUNK: usize = 400;

/// An event about to be inserted: stream, version, position.
type PendingRow<'a> = (&'a str, u64, i64, &'a Appending);

async fn stream_versions<'a>(
    tx: &mut sqlx::AnyConnection,
    batch: &'a [AppendRequest],
) -> Result<HashMap<&'a str, u64>, sqlx::Error> {
    let streams: Vec<&str> = {
        let mut seen = std::collections::HashSet::new();
        batch
            .iter()
            .map(|r| r.stream_id.as_str())
            .filter(|s| seen.insert(*s))
            .collect()
    };
    let placeholders = (1..=streams.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT stream_id, MAX(version) FROM events WHERE stream_id IN ({placeholders}) GROUP BY stream_id"
    );
    let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
    for stream in &streams {
        query = query.bind(*stream);
    }
    let found = query.fetch_all(tx).await?;
    Ok(streams
        .into_iter()
        .map(|s| {
            let version = found.iter().find(|(id, _)| id == s).map_or(0, |(_, v)| *v as u64);
            (s, version)
        })
        .collect())
}

async fn insert(tx: &mut sqlx::AnyConnection, rows: &[PendingRow<'_>]) -> Result<(), sqlx::Error> {
    let values = value_rows(Backend::of(tx).placeholders(), rows.len(), 9);
    let sql = format!(
        "INSERT INTO events (position, event_id, stream_id, version, event_type, schema_version, occurred_at, data, metadata)
         VALUES {values}"
    );
    let mut query = sqlx::query(&sql);
    for (stream_id, version, position, event) in rows {
        let metadata =
            serde_json::to_string(&event.metadata).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        query = query
            .bind(*position)
            .bind(event.event_id.to_string())
            .bind(*stream_id)
            .bind(to_i64(*version))
            .bind(event.event_type.as_str())
            .bind(event.schema_version as i32)
            .bind(format_time(event.occurred_at))
            .bind(event.data.json())
            .bind(metadata);
    }
    query.execute(tx).await?;
    Ok(())
}

/// Where the log stood at `time`: the last position of the longest prefix whose events all
/// occurred at or before it, taking the log's own order (0 before the first event).
pub async fn position_at(db: &Db, time: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let (first_after, head): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT MIN(position) FROM events WHERE occurred_at > $1), (SELECT MAX(position) FROM events)",
    )
    .bind(format_time(time))
    .fetch_one(&db.pool)
    .await?;
    Ok(match first_after {
        Some(position) => position.saturating_sub(1) as u64,
        None => head.unwrap_or(0) as u64,
    })
}

/// RFC 3339 in UTC with fixed microsecond precision, so the text sorts like the time.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A query of PostgreSQL for the events `filter` selects, the first in log order up to
/// `limit`, as one text: a JSON array of envelopes in their serde form, which the database
/// writes out from the stored columns (`data` and `metadata` are stored JSON and go in as they
/// are). One row for a whole batch rather than a row per event, which sqlx decodes column by
/// column into rows of its own. (SQLite's log is read straight from its file: `sqlite_log`.)
///
/// The array is in no promised order ([`parse_events`] puts it in log order): an ordered
/// aggregate would sort the batch's envelopes again.
fn select_as_json(filter: &str, limit: &str) -> String {
    let envelope = r#"'{"position":' || position || ',"event_id":' || to_json(event_id) || ',"stream_id":' || to_json(stream_id)
               || ',"version":' || version || ',"type":' || to_json(event_type) || ',"schema_version":' || schema_version
               || ',"occurred_at":' || to_json(occurred_at) || ',"data":' || data || ',"metadata":' || metadata || '}'"#;
    format!(
        "SELECT '[' || COALESCE(string_agg(envelope, ','), '') || ']' FROM (
             SELECT {envelope} AS envelope FROM events WHERE {filter} ORDER BY position {limit}
           ) AS batch"
    )
}

/// The events of a [`select_as_json`] answer, in log order; a stored row that is no event (its
/// JSON edited by hand, say) fails the whole read, named by `where_`.
fn parse_events(text: &str, where_: std::fmt::Arguments) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut events: Vec<RecordedEvent> = serde_json::from_str(text)
        .map_err(|e| StoreError::Unavailable(format!("corrupt event rows {where_}: {e}")))?;
    // Stable and linear on the order the database mostly keeps anyway.
    events.sort_by_key(|event| event.position);
    Ok(events)
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}
