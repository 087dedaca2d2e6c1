//! Events written before personal data was sealed (docs/privacy.md): `enkaku privacy migrate`
//! rewrites them in place, upcast to today's schema with their `personal` member sealed under
//! the appointment's key, or dropped where the appointment was erased. Each rewrite is
//! recorded in `event_rewrites`. It goes through the log in order and skips what is sealed
//! already, so an interrupted run is simply run again.

use crate::db::Db;
use crate::erasure;
use chrono::{DateTime, Utc};
use enkaku_commands::CommandError;
use enkaku_commands::ports::{EventStore, Vault};
use enkaku_commands::sealing::{self, Rewrite};
use enkaku_domain::appointment::Event;
use enkaku_domain::envelope::{RecordedEvent, StoredEvent};
use std::collections::HashMap;

/// Events read (and rewritten in one transaction) at a time.
const BATCH: usize = 500;

/// What a migration did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    pub sealed: u64,
    pub dropped: u64,
}

/// Rewrite every event of the log that still holds personal data in the clear.
pub async fn migrate(db: &Db, store: &dyn EventStore, vault: &dyn Vault) -> Result<Migrated, CommandError> {
    let mut rewrites: HashMap<String, Rewrite> = HashMap::new();
    let mut migrated = Migrated::default();
    let mut after = 0;
    loop {
        let batch = store.read_all(after, BATCH).await?;
        let Some(last) = batch.last() else {
            break;
        };
        after = last.position;
        let old: Vec<&RecordedEvent> = batch.iter().filter(|e| is_old(e)).collect();
        let mut rows = Vec::new();
        for event in old {
            if !rewrites.contains_key(&event.stream_id) {
                let rewrite = rewrite_for(store, vault, &event.stream_id).await?;
                rewrites.insert(event.stream_id.clone(), rewrite);
            }
            rows.extend(rewritten(vault, &rewrites[&event.stream_id], event, &mut migrated).await?);
        }
        save(db, rows).await.map_err(unavailable)?;
    }
    erasure::flush_wal(db).await.map_err(unavailable)?;
    Ok(migrated)
}

/// Rewrite one erased appointment's events that still hold personal data in the clear (an
/// erasure of an appointment from before sealing): the key's destruction cannot reach them.
pub async fn drop_old(
    db: &Db,
    vault: &dyn Vault,
    stream: &[RecordedEvent],
) -> Result<Migrated, CommandError> {
    let mut migrated = Migrated::default();
    let mut rows = Vec::new();
    for event in stream.iter().filter(|e| is_old(e)) {
        rows.extend(rewritten(vault, &Rewrite::Drop, event, &mut migrated).await?);
    }
    save(db, rows).await.map_err(unavailable)?;
    Ok(migrated)
}

/// An appointment's event not sealed: from before sealing, or with nothing personal in it.
fn is_old(event: &RecordedEvent) -> bool {
    Event::in_family(&event.stream_id) && sealing::sealed_member(&event.data).is_none()
}

/// `event` rewritten as `rewrite` says, counted in `migrated`; `None` when it has nothing to
/// rewrite.
async fn rewritten<'a>(
    vault: &dyn Vault,
    rewrite: &Rewrite,
    event: &'a RecordedEvent,
    migrated: &mut Migrated,
) -> Result<Option<Row<'a>>, CommandError> {
    let Some(row) = sealing::rewrite_old(vault, rewrite, event).await? else {
        return Ok(None);
    };
    let dropped = matches!(rewrite, Rewrite::Drop);
    if dropped {
        migrated.dropped += 1;
    } else {
        migrated.sealed += 1;
    }
    Ok(Some((event, row, dropped)))
}

/// How the old events of `stream_id` are rewritten: dropped if it was erased, else sealed
/// with the key its sealed events already use, or a new one.
async fn rewrite_for(
    store: &dyn EventStore,
    vault: &dyn Vault,
    stream_id: &str,
) -> Result<Rewrite, CommandError> {
    let stream = store.read_stream(stream_id).await?;
    if stream.iter().any(|e| Event::erases(&e.event_type)) {
        return Ok(Rewrite::Drop);
    }
    let key = match sealing::keys_of(&stream).first() {
        Some(key) => *key,
        None => vault.new_key().await?,
    };
    Ok(Rewrite::Seal(key))
}

type Row<'a> = (&'a RecordedEvent, (u32, serde_json::Value), bool);

/// Rewrite one batch's events and record each rewrite, in one transaction. The schema version
/// guard leaves an event that a concurrent run rewrote first as it is.
async fn save(db: &Db, rows: Vec<Row<'_>>) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let now = Utc::now().timestamp_millis();
    let mut tx = db.begin_write().await?;
    for (event, (schema_version, data), dropped) in rows {
        let changed = sqlx::query("UPDATE events SET schema_version = $1, data = $2 WHERE position = $3 AND schema_version = $4 AND data = $5")
            .bind(schema_version as i32)
            .bind(data.to_string())
            .bind(event.position as i64)
            .bind(event.schema_version as i32)
            .bind(event.data.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            continue;
        }
        sqlx::query(
            "INSERT INTO event_rewrites (position, event_id, from_schema_version, to_schema_version, personal_data, rewritten_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(event.position as i64)
        .bind(event.event_id.to_string())
        .bind(event.schema_version as i32)
        .bind(schema_version as i32)
        .bind(if dropped { "dropped" } else { "sealed" })
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

fn unavailable(e: sqlx::Error) -> CommandError {
    CommandError::Unavailable(e.to_string())
}

/// When `enkaku privacy migrate` rewrote the event at `position` in place, if it did: what
/// `enkaku audit verify` tells an auditor beside a changed record.
pub async fn rewritten_at(db: &Db, position: u64) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let at: Option<i64> =
        sqlx::query_scalar("SELECT rewritten_at_ms FROM event_rewrites WHERE position = $1")
            .bind(position as i64)
            .fetch_optional(&db.pool)
            .await?;
    Ok(at.and_then(DateTime::from_timestamp_millis))
}
