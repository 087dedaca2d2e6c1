//! The event store conformance suite: every adapter must pass the same tests. Each test body
//! is written once and instantiated per backend by `conformance!`.

use enkaku_commands::ports::{EventStore, ExpectedVersion, StoreError};
use enkaku_domain::envelope::{Actor, EventMetadata, NewEvent};
use enkaku_domain::ids::ClinicId;
use enkaku_infra::Db;
use enkaku_infra::event_store::SqlEventStore;
use enkaku_tests::{Backend, TestStore};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

async fn open(backend: Backend) -> (Arc<SqlEventStore>, TestStore) {
    let store = TestStore::new(backend).await;
    std::fs::create_dir_all(store.dir.path()).unwrap();
    let db = Db::connect(&store.database_url()).await.expect("connect");
    (
        Arc::new(SqlEventStore::open(db).await.expect("open store")),
        store,
    )
}

/// A second store on the same database, as another process would open it.
async fn another_process(store: &TestStore) -> SqlEventStore {
    let db = Db::connect(&store.database_url()).await.expect("connect");
    SqlEventStore::open(db).await.expect("open store")
}

fn event(n: u64) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "TestHappened".into(),
        schema_version: 1,
        occurred_at: chrono::Utc::now(),
        data: serde_json::json!({ "n": n }),
        metadata: EventMetadata {
            clinic_id: ClinicId(Uuid::from_u128(1)),
            actor: Actor::System,
            correlation_id: Uuid::now_v7(),
            causation_id: Uuid::now_v7(),
            client_request_id: None,
        },
    }
}

fn stream() -> String {
    format!("test-{}", Uuid::now_v7())
}

/// A store holding one new stream, of events 1 and 2.
async fn open_with_a_stream(backend: Backend) -> (Arc<SqlEventStore>, TestStore, String) {
    let (store, keep) = open(backend).await;
    let s = stream();
    store
        .append(&s, ExpectedVersion::NoStream, vec![event(1), event(2)])
        .await
        .unwrap();
    (store, keep, s)
}

async fn appends_and_reads_a_stream(backend: Backend) {
    let (store, _keep) = open(backend).await;
    let s = stream();
    let first = store
        .append(&s, ExpectedVersion::NoStream, vec![event(1), event(2)])
        .await
        .unwrap();
    assert_eq!(first.version, 2);
    let second = store
        .append(&s, ExpectedVersion::Exact(2), vec![event(3)])
        .await
        .unwrap();
    assert_eq!(second.version, 3);
    assert!(second.position > first.position);
    let read = store.read_stream(&s).await.unwrap();
    assert_eq!(read.iter().map(|e| e.version).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(
        read.iter()
            .map(|e| e.data.to_value()["n"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(read.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(read[2].position, second.position);
    assert_eq!(read[0].metadata.actor, Actor::System);
    assert!(store.read_stream("no-such-stream").await.unwrap().is_empty());
}

async fn a_stale_expected_version_writes_nothing(backend: Backend) {
    let (store, _keep, s) = open_with_a_stream(backend).await;
    for stale in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Exact(1),
        ExpectedVersion::Exact(3),
    ] {
        let err = store
            .append(&s, stale, vec![event(9), event(10)])
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict { actual: 2, .. }),
            "{stale:?} gave {err:?}"
        );
    }
    assert_eq!(store.read_stream(&s).await.unwrap().len(), 2);
    assert_eq!(store.read_all(0, 100).await.unwrap().len(), 2);
}

async fn a_multi_event_append_is_all_or_nothing(backend: Backend) {
    let (store, _keep) = open(backend).await;
    let s = stream();
    let events: Vec<_> = (1..=5).map(event).collect();
    let appended = store.append(&s, ExpectedVersion::NoStream, events).await.unwrap();
    let read = store.read_stream(&s).await.unwrap();
    assert_eq!(read.len(), 5);
    // One append occupies consecutive positions: nothing interleaves inside it.
    assert!(read.windows(2).all(|w| w[1].position == w[0].position + 1));
    assert_eq!(read[4].position, appended.position);
}

async fn the_global_log_reads_from_a_position(backend: Backend) {
    let (store, _keep) = open(backend).await;
    let (a, b) = (stream(), stream());
    store
        .append(&a, ExpectedVersion::NoStream, vec![event(1)])
        .await
        .unwrap();
    let middle = store
        .append(&b, ExpectedVersion::NoStream, vec![event(2)])
        .await
        .unwrap();
    store
        .append(&a, ExpectedVersion::Exact(1), vec![event(3)])
        .await
        .unwrap();
    let all = store.read_all(0, 100).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|e| e.data.to_value()["n"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let after = store.read_all(middle.position, 100).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].data.to_value()["n"], 3);
    assert_eq!(store.read_all(0, 2).await.unwrap().len(), 2);
    assert_eq!(*store.head().borrow(), all[2].position);
}

async fn racing_creators_of_one_stream_get_exactly_one_winner(backend: Backend) {
    let (store, _keep) = open(backend).await;
    let s = stream();
    let attempts = (0..16).map(|n| {
        let store = store.clone();
        let s = s.clone();
        tokio::spawn(async move { store.append(&s, ExpectedVersion::NoStream, vec![event(n)]).await })
    });
    let results = futures::future::join_all(attempts).await;
    let won = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let lost = results
        .iter()
        .filter(|r| matches!(r, Ok(Err(StoreError::Conflict { .. }))))
        .count();
    assert_eq!((won, lost), (1, 15));
    assert_eq!(store.read_stream(&s).await.unwrap().len(), 1);
}

/// Many writers append (some to a shared stream, retrying on conflict) while a reader tails
/// the global log by position. Half the writers go through a second store on the same
/// database, as a second process would. The reader must see every event exactly once, each
/// stream's events in version order, and must never skip an event that commits late.
async fn a_tailing_reader_sees_every_event_once_in_order(backend: Backend) {
    let (store, keep) = open(backend).await;
    let second_process = Arc::new(another_process(&keep).await);
    const WRITERS: u64 = 8;
    const APPENDS: u64 = 40;
    let shared = stream();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = if w % 2 == 0 {
                store.clone()
            } else {
                second_process.clone()
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let own = stream();
                for i in 0..APPENDS {
                    let batch = vec![event(w * 1000 + i), event(w * 1000 + i)];
                    let expected = ExpectedVersion::from_version(i * 2);
                    store.append(&own, expected, batch).await.expect("own stream");
                    if i % 4 == 0 {
                        // Read-decide-append on a contended stream, as command handlers do.
                        loop {
                            let version = store.read_stream(&shared).await.unwrap().len() as u64;
                            match store
                                .append(&shared, ExpectedVersion::from_version(version), vec![event(w)])
                                .await
                            {
                                Ok(_) => break,
                                Err(StoreError::Conflict { .. }) => continue,
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let total = (WRITERS * APPENDS * 2 + WRITERS * APPENDS / 4) as usize;

    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut head = store.head();
            let mut seen = Vec::with_capacity(total);
            let mut after = 0;
            while seen.len() < total {
                let batch = store.read_all(after, 37).await.unwrap();
                if batch.is_empty() {
                    let _ = tokio::time::timeout(Duration::from_millis(100), head.changed()).await;
                    continue;
                }
                after = batch.last().unwrap().position;
                seen.extend(batch);
            }
            seen
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    let seen = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the reader saw every event (none skipped)")
        .unwrap();

    assert_eq!(seen.len(), total);
    let ids: HashSet<_> = seen.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), total, "no event seen twice");
    assert!(
        seen.windows(2).all(|w| w[0].position < w[1].position),
        "positions increase"
    );
    let mut versions: HashMap<&str, u64> = HashMap::new();
    for e in &seen {
        let last = versions.entry(e.stream_id.as_str()).or_insert(0);
        assert_eq!(e.version, *last + 1, "stream {} seen out of order", e.stream_id);
        *last = e.version;
    }
    // Nothing committed that the reader did not see.
    assert_eq!(store.read_all(after_all(&seen), 10).await.unwrap().len(), 0);
}

fn after_all(seen: &[enkaku_domain::envelope::RecordedEvent]) -> u64 {
    seen.last().map_or(0, |e| e.position)
}

/// Appends survive closing and reopening the store (the durable part of the contract;
/// the SIGKILL test in recovery.rs checks it against a killed process).
async fn appends_survive_reopening(backend: Backend) {
    let (store, keep, s) = open_with_a_stream(backend).await;
    drop(store);
    let reopened = another_process(&keep).await;
    assert_eq!(reopened.read_stream(&s).await.unwrap().len(), 2);
    let next = reopened
        .append(&s, ExpectedVersion::Exact(2), vec![event(3)])
        .await
        .unwrap();
    assert_eq!(next.version, 3);
}

/// A tailer close behind the writer is served from memory; what it gets must be exactly what
/// a reader in another process gets from the table.
async fn recent_events_read_exactly_as_stored(backend: Backend) {
    let (store, keep, s) = open_with_a_stream(backend).await;
    store
        .append(&s, ExpectedVersion::Exact(2), vec![event(3)])
        .await
        .unwrap();
    let other_process = another_process(&keep).await;
    assert_eq!(
        store.read_all(0, 10).await.unwrap(),
        other_process.read_all(0, 10).await.unwrap()
    );
    assert_eq!(
        store.read_all(1, 10).await.unwrap(),
        other_process.read_all(1, 10).await.unwrap()
    );
    // Both processes append. Either may answer from memory with a prefix, but tailing to the
    // end yields exactly what a reader of the table sees: nothing skipped, nothing changed.
    other_process
        .append(&s, ExpectedVersion::Exact(3), vec![event(4)])
        .await
        .unwrap();
    store
        .append(&s, ExpectedVersion::Exact(4), vec![event(5)])
        .await
        .unwrap();
    let table = another_process(&keep).await;
    for reader in [&*store, &other_process] {
        for after in [0, 3] {
            assert_eq!(
                tail(reader, after).await,
                table.read_all(after, 10).await.unwrap()
            );
        }
    }
}

async fn stored_text_reads_back_exactly_whatever_it_holds(backend: Backend) {
    let (store, keep) = open(backend).await;
    let s = format!("test-\"quoted\\{}", Uuid::now_v7());
    let mut odd = event(1);
    odd.event_type = "Test\"Happened\\\u{1}患者".into();
    odd.data = serde_json::json!({ "text": "a\"b\\c\n\u{2028}山田", "n": u64::MAX, "x": 0.5 });
    odd.metadata.client_request_id = Some("req-\"1\"".into());
    store
        .append(&s, ExpectedVersion::NoStream, vec![odd])
        .await
        .unwrap();
    // The writer answers from memory: exactly what was appended.
    let appended = store.read_all(0, 10).await.unwrap();
    assert_eq!(appended.len(), 1);
    let reader = another_process(&keep).await;
    assert_eq!(reader.read_all(0, 10).await.unwrap(), appended);
    assert_eq!(reader.read_stream(&s).await.unwrap(), appended);
    assert!(reader.read_stream("test-none").await.unwrap().is_empty());
}

async fn a_row_whose_stored_json_was_broken_fails_the_read_and_names_where(backend: Backend) {
    let (_store, keep, s) = open_with_a_stream(backend).await;
    let db = Db::connect(&keep.database_url()).await.expect("connect");
    sqlx::query("UPDATE events SET data = '{\"n\":' WHERE position = 2")
        .execute(&db.pool)
        .await
        .unwrap();
    let reader = another_process(&keep).await;
    let failed = |result: Result<_, StoreError>| match result {
        Err(StoreError::Unavailable(message)) => message,
        other => panic!("expected a failed read, got {other:?}"),
    };
    assert!(failed(reader.read_all(0, 10).await).contains("corrupt event rows after position 0"));
    assert!(failed(reader.read_stream(&s).await).contains(&format!("corrupt event rows in stream {s}")));
    // What comes before the broken row still reads.
    assert_eq!(reader.read_all(0, 1).await.unwrap().len(), 1);
}

/// Read the global log from `after` until a read comes back empty.
async fn tail(store: &SqlEventStore, mut after: u64) -> Vec<enkaku_domain::envelope::RecordedEvent> {
    let mut seen = vec![];
    loop {
        let batch = store.read_all(after, 2).await.unwrap();
        let Some(last) = batch.last() else { return seen };
        after = last.position;
        seen.extend(batch);
    }
}

macro_rules! conformance {
    ($backend:ident, $value:expr) => {
        mod $backend {
            use super::*;
            conformance!(@tests $value;
                appends_and_reads_a_stream,
                a_stale_expected_version_writes_nothing,
                a_multi_event_append_is_all_or_nothing,
                the_global_log_reads_from_a_position,
                racing_creators_of_one_stream_get_exactly_one_winner,
                a_tailing_reader_sees_every_event_once_in_order,
                appends_survive_reopening,
                recent_events_read_exactly_as_stored,
                stored_text_reads_back_exactly_whatever_it_holds,
                a_row_whose_stored_json_was_broken_fails_the_read_and_names_where
            );
        }
    };
    (@tests $value:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                super::$name($value).await
            }
        )*
    };
}

conformance!(sqlite, Backend::Sqlite);
conformance!(postgres, Backend::Postgres);
