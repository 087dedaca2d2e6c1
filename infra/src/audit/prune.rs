//! Retention of the access log: its oldest records are removed as one whole range from the
//! first, never a record here and there, and only behind a signed checkpoint of the tree at
//! the range's end, from which `enkaku audit verify` then starts (docs/audit.md).

use super::checkpoint::Checkpoint;
use super::merkle::Ranges;
use super::records::Log;
use super::trail::AuditTrail;
use super::tree::{FoldError, StoredTree};
use crate::db::Db;
use crate::event_store::format_time;
use chrono::{DateTime, Utc};

/// Remove the access log's records from position 1 up to the last one before which every
/// record is older than `before`. Returns the pruning checkpoint, or `None` when there was
/// nothing to remove.
pub async fn prune_access_log(
    trail: &AuditTrail,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Checkpoint>> {
    let log = Log::Access;
    let db = trail.db();
    let head = trail.catch_up(log).await?;
    let (first_kept, newest): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT MIN(position) FROM access_log WHERE at >= $1), (SELECT MAX(position) FROM access_log)",
    )
    .bind(format_time(before))
    .fetch_one(&db.pool)
    .await?;
    let end = match first_kept {
        Some(position) => position as u64 - 1,
        None => newest.unwrap_or(0) as u64,
    }
    .min(head.size);
    let pruned = latest(db, log).await?.map_or(0, |(size, _)| size);
    if end <= pruned {
        return Ok(None);
    }
    let tree = StoredTree::new(db.clone(), log);
    let root = tree
        .hashes(&Ranges::root(end))
        .await?
        .map_err(|node| FoldError::MissingNode { log, node })?;
    let checkpoint = trail.signer().sign(log, end, &root[0], now);
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO audit_prunings (log, size, checkpoint) VALUES ($1, $2, $3)")
        .bind(log.name())
        .bind(end as i64)
        .bind(serde_json::to_string(&checkpoint)?)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM access_log WHERE position <= $1")
        .bind(end as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    super::checkpoint::save(trail.dir(), &checkpoint)?;
    Ok(Some(checkpoint))
}

/// The newest pruning of `log`: its size and its signed checkpoint as stored (JSON).
pub async fn latest(db: &Db, log: Log) -> Result<Option<(u64, String)>, sqlx::Error> {
    let stored: Option<(i64, String)> = sqlx::query_as(
        "SELECT size, checkpoint FROM audit_prunings WHERE log = $1 ORDER BY size DESC LIMIT 1",
    )
    .bind(log.name())
    .fetch_optional(&db.pool)
    .await?;
    Ok(stored.map(|(size, checkpoint)| (size as u64, checkpoint)))
}
