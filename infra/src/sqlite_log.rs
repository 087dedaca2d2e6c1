//! The embedded store's log read straight from its SQLite file, on connections of its own
//! (rusqlite) and blocking threads: each row's columns are borrowed where SQLite holds them and
//! turned into an event once. Through sqlx a batch was a JSON text the database wrote out
//! (`format` per envelope, `group_concat` over the batch), copied through sqlx's worker and
//! parsed again: a replay reads millions of events, and that was a third of its reading.
//!
//! Each read is one statement, so one snapshot of the WAL: a reader sees whole commits, and the
//! store's single writer makes positions visible in commit order (docs/architecture.md).

use crate::db::Backend;
use crate::event_store::{to_i64, unavailable};
use enkaku_commands::ports::StoreError;
use enkaku_domain::envelope::RecordedEvent;
use rusqlite::{Connection, OpenFlags, Row};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Reads at once, each on a connection of its own: as many as sqlx's read pool has.
const CONNECTIONS: usize = 8;

const BY_STREAM: &str =
    "SELECT position, event_id, stream_id, version, event_type, schema_version, occurred_at, data, metadata
     FROM events WHERE stream_id = ?1 ORDER BY position";
const AFTER: &str =
    "SELECT position, event_id, stream_id, version, event_type, schema_version, occurred_at, data, metadata
     FROM events WHERE position > ?1 ORDER BY position LIMIT ?2";

/// Which events a read asks for.
pub(crate) enum LogQuery {
    Stream(String),
    After { after: u64, limit: usize },
}

impl LogQuery {
    /// Where a failed read looked, for its message.
    fn place(&self) -> String {
        match self {
            Self::Stream(stream_id) => format!("in stream {stream_id}"),
            Self::After { after, .. } => format!("after position {after}"),
        }
    }
}

pub(crate) struct SqliteLog {
    file: PathBuf,
    /// At most [`CONNECTIONS`] reads at once; a caller past them waits, as long as it would
    /// for sqlx's pool, and then fails.
    reads: Arc<Semaphore>,
    /// Connections not in use.
    idle: Mutex<Vec<Connection>>,
}

impl SqliteLog {
    pub(crate) fn new(file: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            file,
            reads: Arc::new(Semaphore::new(CONNECTIONS)),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The events `query` selects, in log order.
    pub(crate) async fn read(self: &Arc<Self>, query: LogQuery) -> Result<Vec<RecordedEvent>, StoreError> {
        let permit = tokio::time::timeout(
            Backend::Sqlite.acquire_timeout(),
            self.reads.clone().acquire_owned(),
        )
        .await
        .map_err(|_| StoreError::Unavailable("timed out waiting to read the event log".into()))?
        .map_err(unavailable)?;
        let log = self.clone();
        tokio::task::spawn_blocking(move || {
            // Held by the thread, not the caller: a caller that gives up frees no slot early.
            let _permit = permit;
            log.read_now(&query)
        })
        .await
        .map_err(unavailable)?
    }

    fn read_now(&self, query: &LogQuery) -> Result<Vec<RecordedEvent>, StoreError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let connection = match idle {
            Some(connection) => connection,
            None => self.connect().map_err(unavailable)?,
        };
        let events = read_rows(&connection, query)?;
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(connection);
        }
        Ok(events)
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.file,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(Backend::Sqlite.acquire_timeout())?;
        Ok(connection)
    }
}

/// SQLite's failures answer "unavailable"; a row that is no event (its JSON edited by hand,
/// say) fails the whole read, named by where it looked.
fn read_rows(connection: &Connection, query: &LogQuery) -> Result<Vec<RecordedEvent>, StoreError> {
    use rusqlite::types::Value;
    let (sql, params) = match query {
        LogQuery::Stream(stream_id) => (BY_STREAM, vec![Value::Text(stream_id.clone())]),
        LogQuery::After { after, limit } => (
            AFTER,
            vec![
                Value::Integer(to_i64(*after)),
                Value::Integer(to_i64(*limit as u64)),
            ],
        ),
    };
    let mut statement = connection.prepare_cached(sql).map_err(unavailable)?;
    let mut rows = statement
        .query(rusqlite::params_from_iter(params))
        .map_err(unavailable)?;
    let mut events = Vec::new();
    while let Some(row) = rows.next().map_err(unavailable)? {
        let event = recorded(row)
            .map_err(|e| StoreError::Unavailable(format!("corrupt event rows {}: {e}", query.place())))?;
        events.push(event);
    }
    Ok(events)
}

/// One stored row as the event it records; a column that does not hold what its event needs
/// is a conversion failure naming the column.
fn recorded(row: &Row) -> rusqlite::Result<RecordedEvent> {
    Ok(RecordedEvent {
        position: unsigned(row, 0)?,
        event_id: parsed(row, 1, |text| text.parse::<uuid::Uuid>())?,
        stream_id: row.get(2)?,
        version: unsigned(row, 3)?,
        event_type: row.get(4)?,
        schema_version: row.get(5)?,
        occurred_at: parsed(row, 6, |text| text.parse::<chrono::DateTime<chrono::Utc>>())?,
        data: parsed(row, 7, |text| serde_json::from_str(text))?,
        metadata: parsed(row, 8, |text| serde_json::from_str(text))?,
    })
}

fn unsigned(row: &Row, column: usize) -> rusqlite::Result<u64> {
    let value: i64 = row.get(column)?;
    u64::try_from(value).map_err(|e| conversion(column, e))
}

/// The text in `column`, read where SQLite holds it, through `parse`.
fn parsed<T, E: std::error::Error + Send + Sync + 'static>(
    row: &Row,
    column: usize,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> rusqlite::Result<T> {
    let text = row.get_ref(column)?.as_str()?;
    parse(text).map_err(|e| conversion(column, e))
}

fn conversion(column: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_reads_at_once_all_answer_on_at_most_its_connections() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::Db::connect(&format!("sqlite://{}/log.db?mode=rwc", dir.path().display()))
            .await
            .unwrap();
        let log = SqliteLog::new(db.file.clone().unwrap());
        let reads: Vec<_> = (0..4 * CONNECTIONS as u64)
            .map(|after| {
                let log = log.clone();
                tokio::spawn(async move { log.read(LogQuery::After { after, limit: 10 }).await })
            })
            .collect();
        for read in reads {
            assert_eq!(read.await.unwrap().unwrap(), Vec::new());
        }
        let kept = log.idle.lock().unwrap().len();
        assert!((1..=CONNECTIONS).contains(&kept), "{kept} connections kept");
    }
}
