//! A fold's read-model writes on an SQLite file ([`WriteBehind`]): a blocking thread of its
//! own writes each batch's plan in one transaction on a connection of its own (rusqlite), each
//! statement prepared once and kept, its values bound straight from the plan, while the caller
//! plans the next batch. Through sqlx each statement went to its worker thread and back (a
//! wake-up each way), and every value was copied into its arguments first: a replay writes
//! hundreds of thousands of rows.

use enkaku_projections::runner::ProjectionError;
use enkaku_projections::writes::{Placeholders, Statement, Value, WriteBehind, Writes};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::Path;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Statements kept prepared: a fold's, with room for the different lengths of the last
/// insert of each batch.
const PREPARED: usize = 64;

pub struct SqliteWriteBehind {
    /// Batches planned and not yet taken: one, so planning runs one batch ahead.
    queue: mpsc::Sender<Writes>,
    /// `None` once its end was awaited (and reported).
    writing: Option<JoinHandle<rusqlite::Result<()>>>,
}

impl SqliteWriteBehind {
    /// Write into the SQLite `file`, its connection set up by `pragmas` as the pool's are.
    pub fn start(file: &Path, pragmas: &str) -> rusqlite::Result<Self> {
        let mut conn = Connection::open_with_flags(
            file,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch(pragmas)?;
        conn.set_prepared_statement_cache_capacity(PREPARED);
        let (queue, mut batches) = mpsc::channel::<Writes>(1);
        let writing = tokio::task::spawn_blocking(move || {
            while let Some(writes) = batches.blocking_recv() {
                write(&mut conn, &writes)?;
            }
            Ok(())
        });
        Ok(Self {
            queue,
            writing: Some(writing),
        })
    }

    /// How the writing thread ended: its error the first time, later only that it stopped.
    async fn ended(writing: Option<JoinHandle<rusqlite::Result<()>>>) -> Result<(), ProjectionError> {
        let writing = writing.ok_or_else(|| failed("the read-model writer stopped"))?;
        writing.await.map_err(failed)?.map_err(failed)
    }
}

#[async_trait::async_trait]
impl WriteBehind for SqliteWriteBehind {
    fn placeholders(&self) -> Placeholders {
        Placeholders::Bare
    }

    async fn write(&mut self, writes: Writes) -> Result<(), ProjectionError> {
        if self.queue.send(writes).await.is_ok() {
            return Ok(());
        }
        // The thread stopped, on an error: that error.
        Self::ended(self.writing.take())
            .await
            .and(Err(failed("the read-model writer stopped")))
    }

    async fn finish(self: Box<Self>) -> Result<(), ProjectionError> {
        let Self { queue, writing } = *self;
        drop(queue);
        Self::ended(writing).await
    }
}

fn failed(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ProjectionError {
    ProjectionError::Write(error.into())
}

/// One batch's plan, in one transaction.
fn write(conn: &mut Connection, writes: &Writes) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for step in writes.steps() {
        let changed = execute(&tx, &step.statement)?;
        if let Some(then) = step.then.as_ref().filter(|_| changed > 0) {
            for statement in then {
                execute(&tx, statement)?;
            }
        }
    }
    tx.commit()
}

/// Rows changed.
fn execute(conn: &Connection, statement: &Statement) -> rusqlite::Result<usize> {
    let mut prepared = conn.prepare_cached(&statement.sql)?;
    let values = &statement.values;
    for index in 1..=prepared.parameter_count() {
        // `$n` is the n-th value wherever it stands (and may stand twice); a bare `?` the next.
        let place = match prepared.parameter_name(index) {
            Some(name) => name.get(1..).and_then(|number| number.parse::<usize>().ok()),
            None => Some(index),
        };
        let value = place
            .and_then(|place| values.get(place.wrapping_sub(1)))
            .ok_or(rusqlite::Error::InvalidParameterCount(index, values.len()))?;
        match value {
            Value::Text(text) => prepared.raw_bind_parameter(index, text.as_str()),
            Value::Word(word) => prepared.raw_bind_parameter(index, *word),
            Value::MaybeText(text) => prepared.raw_bind_parameter(index, text.as_deref()),
            Value::Int(int) => prepared.raw_bind_parameter(index, int),
            Value::MaybeInt(int) => prepared.raw_bind_parameter(index, int),
            Value::Bytes(bytes) => prepared.raw_bind_parameter(index, bytes.as_slice()),
        }?;
    }
    prepared.raw_execute()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file with a table `t`, and a writer into it.
    fn writing_to_a_table() -> (tempfile::TempDir, Box<dyn WriteBehind>) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rows.db");
        Connection::open(&file)
            .unwrap()
            .execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL, note TEXT)")
            .unwrap();
        let writer = SqliteWriteBehind::start(&file, "").unwrap();
        (dir, Box::new(writer))
    }

    fn rows(file: &Path) -> Vec<(String, i64, Option<String>)> {
        let conn = Connection::open(file).unwrap();
        let mut select = conn.prepare("SELECT id, n, note FROM t ORDER BY id").unwrap();
        select
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[tokio::test]
    async fn numbered_values_bind_by_number_and_followers_run_only_after_a_change() {
        let (dir, mut writer) = writing_to_a_table();
        let file = dir.path().join("rows.db");
        let mut writes = Writes::new(writer.placeholders());
        // Bare placeholders, in order.
        writes.push(
            "INSERT INTO t (id, n, note) VALUES (?, ?, ?), (?, ?, ?)",
            vec![
                Value::Text("a".into()),
                Value::Int(1),
                Value::MaybeText(None),
                Value::Text("b".into()),
                Value::Int(1),
                Value::MaybeText(Some("kept".into())),
            ],
        );
        // Numbered ones out of order, one of them twice.
        writes.push(
            "UPDATE t SET n = $2, note = $3 || $2 WHERE id = $1 AND n < $2",
            vec![Value::Text("a".into()), Value::Int(2), Value::Text("n=".into())],
        );
        let note = |text: &str| {
            vec![Statement::new(
                "UPDATE t SET note = $1 WHERE id = $2",
                vec![Value::MaybeText(Some(text.into())), Value::Text("b".into())],
            )]
        };
        // Changes no row (b is at 1): its follower does not run.
        writes.when_changed(
            "UPDATE t SET n = 3 WHERE id = $1 AND n > 1",
            vec![Value::Text("b".into())],
            note("not run"),
        );
        // Changes b: its follower runs.
        writes.when_changed(
            "UPDATE t SET n = 2 WHERE id = $1 AND n < 2",
            vec![Value::Text("b".into())],
            note("run"),
        );
        writer.write(writes).await.unwrap();
        writer.finish().await.unwrap();
        assert_eq!(
            rows(&file),
            [
                ("a".to_owned(), 2, Some("n=2".to_owned())),
                ("b".to_owned(), 2, Some("run".to_owned())),
            ]
        );
    }

    #[tokio::test]
    async fn a_failed_batch_is_rolled_back_and_its_error_reported() {
        let (dir, mut writer) = writing_to_a_table();
        let file = dir.path().join("rows.db");
        let mut writes = Writes::new(writer.placeholders());
        writes.push(
            "INSERT INTO t (id, n) VALUES ($1, $2)",
            vec![Value::Text("a".into()), Value::Int(1)],
        );
        // NOT NULL violated: the whole batch goes.
        writes.push(
            "INSERT INTO t (id, n) VALUES ($1, $2)",
            vec![Value::Text("b".into()), Value::MaybeInt(None)],
        );
        writer.write(writes).await.unwrap();
        let error = writer.finish().await.unwrap_err();
        assert!(error.to_string().contains("NOT NULL"), "{error}");
        assert!(rows(&file).is_empty());
    }

    #[tokio::test]
    async fn after_a_failed_batch_every_call_fails_and_none_panics() {
        let (_dir, mut writer) = writing_to_a_table();
        let mut writes = Writes::new(writer.placeholders());
        writes.push("INSERT INTO nowhere VALUES (1)", vec![]);
        writer.write(writes).await.unwrap();
        // The queue takes batches until the thread has stopped on the first one.
        let mut answers = Vec::new();
        for _ in 0..3 {
            loop {
                let answer = writer.write(Writes::new(writer.placeholders())).await;
                if let Err(error) = answer {
                    answers.push(error.to_string());
                    break;
                }
            }
        }
        answers.push(writer.finish().await.unwrap_err().to_string());
        assert!(answers[0].contains("no such table: nowhere"), "{answers:?}");
        assert!(answers[1..].iter().all(|a| a.contains("stopped")), "{answers:?}");
    }
}
