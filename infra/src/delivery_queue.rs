//! The delivery worker's schedule in SQL (`delivery_queue`), for SQLite and PostgreSQL.
//!
//! A claim is one conditional `UPDATE … RETURNING`: of several nodes polling at once, each
//! row goes to the one whose update finds it still `waiting` (PostgreSQL re-checks the
//! condition on the row it waited for; SQLite has one writer at a time).

use crate::db::Db;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use enkaku_commands::delivery::{DeliveryQueue, Job, QueueError};
use enkaku_domain::ids::{AppointmentId, ClinicId, DeliveryId};
use sqlx::FromRow;
use uuid::Uuid;

#[derive(Clone)]
pub struct SqlDeliveryQueue {
    db: Db,
}

impl SqlDeliveryQueue {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[derive(FromRow)]
struct JobRow {
    delivery_id: String,
    clinic_id: String,
    appointment_id: String,
    request_event_id: String,
    correlation_id: String,
    attempts: i64,
}

const RETURNING: &str =
    "RETURNING delivery_id, clinic_id, appointment_id, request_event_id, correlation_id, attempts";

fn uuid(text: &str) -> Result<Uuid, QueueError> {
    text.parse()
        .map_err(|_| QueueError(format!("delivery_queue row with a bad id: {text}")))
}

impl TryFrom<JobRow> for Job {
    type Error = QueueError;

    fn try_from(row: JobRow) -> Result<Self, QueueError> {
        Ok(Job {
            delivery_id: DeliveryId(uuid(&row.delivery_id)?),
            clinic_id: ClinicId(uuid(&row.clinic_id)?),
            appointment_id: AppointmentId(uuid(&row.appointment_id)?),
            request_event_id: uuid(&row.request_event_id)?,
            correlation_id: uuid(&row.correlation_id)?,
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
        })
    }
}

fn unavailable(e: sqlx::Error) -> QueueError {
    QueueError(e.to_string())
}

fn jobs(rows: Vec<JobRow>) -> Result<Vec<Job>, QueueError> {
    rows.into_iter().map(Job::try_from).collect()
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl DeliveryQueue for SqlDeliveryQueue {
    async fn enqueue(&self, job: &Job, due: DateTime<Utc>) -> Result<(), QueueError> {
        sqlx::query(
            "INSERT INTO delivery_queue (delivery_id, clinic_id, appointment_id, request_event_id,
                                         correlation_id, state, attempts, due_at_ms)
             VALUES ($1, $2, $3, $4, $5, 'waiting', 0, $6)
             ON CONFLICT (delivery_id) DO NOTHING",
        )
        .bind(job.delivery_id.to_string())
        .bind(job.clinic_id.to_string())
        .bind(job.appointment_id.to_string())
        .bind(job.request_event_id.to_string())
        .bind(job.correlation_id.to_string())
        .bind(due.timestamp_millis())
        .execute(self.db.writer())
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn claim_due(&self, now: DateTime<Utc>, n: usize) -> Result<Vec<Job>, QueueError> {
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "UPDATE delivery_queue SET state = 'sending', claimed_at_ms = $1, attempts = attempts + 1
             WHERE delivery_id IN (SELECT delivery_id FROM delivery_queue
                                   WHERE state = 'waiting' AND due_at_ms <= $1
                                   ORDER BY due_at_ms LIMIT $2)
               AND state = 'waiting'
             {RETURNING}"
        ))
        .bind(now.timestamp_millis())
        .bind(limit(n))
        .fetch_all(self.db.writer())
        .await
        .map_err(unavailable)?;
        jobs(rows)
    }

    async fn claim_abandoned(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<Job>, QueueError> {
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "UPDATE delivery_queue SET claimed_at_ms = $2
             WHERE delivery_id IN (SELECT delivery_id FROM delivery_queue
                                   WHERE state = 'sending' AND claimed_at_ms < $1
                                   ORDER BY claimed_at_ms LIMIT $3)
               AND state = 'sending' AND claimed_at_ms < $1
             {RETURNING}"
        ))
        .bind(before.timestamp_millis())
        .bind(now.timestamp_millis())
        .bind(limit(n))
        .fetch_all(self.db.writer())
        .await
        .map_err(unavailable)?;
        jobs(rows)
    }

    async fn retry_at(&self, id: DeliveryId, at: DateTime<Utc>, error: &str) -> Result<(), QueueError> {
        sqlx::query(
            "UPDATE delivery_queue SET state = 'waiting', due_at_ms = $2, claimed_at_ms = NULL, last_error = $3
             WHERE delivery_id = $1",
        )
        .bind(id.to_string())
        .bind(at.timestamp_millis())
        .bind(error)
        .execute(self.db.writer())
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn finish(&self, id: DeliveryId) -> Result<(), QueueError> {
        sqlx::query("UPDATE delivery_queue SET state = 'done', claimed_at_ms = NULL WHERE delivery_id = $1")
            .bind(id.to_string())
            .execute(self.db.writer())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, QueueError> {
        let due: Option<i64> =
            sqlx::query_scalar("SELECT MIN(due_at_ms) FROM delivery_queue WHERE state = 'waiting'")
                .fetch_one(&self.db.pool)
                .await
                .map_err(unavailable)?;
        Ok(due.and_then(DateTime::from_timestamp_millis))
    }
}
