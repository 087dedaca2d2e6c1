//! The access log: one append-only record per sign-in, sign-out, and staff read or change.
//!
//! **Durable before the answer.** [`AccessLog::record`] returns once the record is committed.
//! Records go through a channel to one writer task that commits everything waiting in one
//! transaction (group commit, as the event store does), so a burst of reads costs a handful
//! of fsyncs. Positions are assigned under the write lock (SQLite's `BEGIN IMMEDIATE`; on
//! PostgreSQL an advisory lock, so several processes interleave), without gaps, in commit
//! order: the Merkle tree over the log folds them in that order.
//!
//! **Nothing personal.** A record names staff and appointments by id, the route by its
//! pattern, the client by address; a sign-in attempt keeps the address given only as a keyed
//! hash (HMAC under a server key), which tells repeated attempts apart — an address no one
//! has included — without being reversible by whoever reads the log.

use crate::db::{Backend, Db};
use crate::event_store::format_time;
use chrono::{DateTime, Utc};
use enkaku_domain::ids::{AppointmentId, ClinicId, StaffId};
use enkaku_projections::bulk::value_rows;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

const MAX_BATCH: usize = 512;
/// Key of the PostgreSQL advisory lock that serialises access-log writers across processes.
const ACCESS_LOCK_KEY: i64 = 0x656e_6b61_6b76;
/// Records per page of [`AccessLog::list`] at most.
pub const MAX_PAGE: usize = 500;

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    SignIn,
    SignOut,
    /// A staff member read something (a GET).
    Read,
    /// A staff member asked for a change (any other method).
    Change,
    /// A set-up link was opened or used.
    SetupLink,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::SignOut => "sign_out",
            Self::Read => "read",
            Self::Change => "change",
            Self::SetupLink => "setup_link",
        }
    }
}

/// How it went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done (1xx such as a WebSocket's upgrade, 2xx, 3xx).
    Success,
    /// Refused: not signed in, not allowed, not found (401, 403, 404).
    Denied,
    /// Not done for another reason: bad input, a conflict, an outage.
    Failure,
}

impl Outcome {
    pub fn of_status(status: u16) -> Self {
        match status {
            100..=399 => Self::Success,
            401 | 403 | 404 => Self::Denied,
            _ => Self::Failure,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Failure => "failure",
        }
    }
}

/// One record to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRecord {
    pub at: DateTime<Utc>,
    pub clinic_id: Option<ClinicId>,
    pub staff_id: Option<StaffId>,
    pub action: Action,
    /// The route's pattern with its method, e.g. `GET /api/v1/appointments/{id}`.
    pub resource: String,
    pub appointment_id: Option<AppointmentId>,
    pub outcome: Outcome,
    /// The server's id for the request (never the client's).
    pub request_id: String,
    /// The client's address.
    pub client: String,
    /// Sign-ins only: the keyed hash of the address given.
    pub subject_hmac: Option<String>,
}

/// A stored record, as the API and `enkaku audit access` show it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoredAccess {
    pub position: u64,
    pub at: String,
    pub clinic_id: Option<String>,
    pub staff_id: Option<String>,
    pub action: String,
    pub resource: String,
    pub appointment_id: Option<String>,
    pub outcome: String,
    pub request_id: String,
    pub client: String,
    pub subject_hmac: Option<String>,
}

/// Which records to list: all filters optional; `after` is the paging cursor (a position).
#[derive(Clone, Debug, Default)]
pub struct AccessFilter {
    /// `None`: every clinic, and the records without one (operators only).
    pub clinic_id: Option<ClinicId>,
    pub staff_id: Option<StaffId>,
    pub appointment_id: Option<AppointmentId>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub after: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("the access log cannot be written: {0}")]
pub struct AccessLogUnavailable(String);

type Request = (AccessRecord, oneshot::Sender<Result<(), AccessLogUnavailable>>);

#[derive(Clone)]
pub struct AccessLog {
    db: Db,
    writes: mpsc::Sender<Request>,
}

impl AccessLog {
    /// Start the writer task.
    pub fn open(db: Db) -> Self {
        let (writes, requests) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(writer(db.clone(), requests));
        Self { db, writes }
    }

    /// Write `record`; returns once it is committed.
    pub async fn record(&self, record: AccessRecord) -> Result<(), AccessLogUnavailable> {
        let (reply, answer) = oneshot::channel();
        let gone = || AccessLogUnavailable("the writer has stopped".into());
        self.writes.send((record, reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Up to `limit` records matching `filter`, oldest first.
    pub async fn list(&self, filter: &AccessFilter, limit: usize) -> Result<Vec<StoredAccess>, sqlx::Error> {
        let mut conditions = vec!["position > $1".to_owned()];
        let mut texts = Vec::new();
        let mut condition = |column: &str, op: &str, value: String| {
            texts.push(value);
            conditions.push(format!("{column} {op} ${}", texts.len() + 1));
        };
        if let Some(clinic) = filter.clinic_id {
            condition("clinic_id", "=", clinic.to_string());
        }
        if let Some(staff) = filter.staff_id {
            condition("staff_id", "=", staff.to_string());
        }
        if let Some(appointment) = filter.appointment_id {
            condition("appointment_id", "=", appointment.to_string());
        }
        if let Some(since) = filter.since {
            condition("at", ">=", format_time(since));
        }
        if let Some(until) = filter.until {
            condition("at", "<", format_time(until));
        }
        let sql = format!(
            "SELECT position, at, clinic_id, staff_id, action, resource, appointment_id, outcome, request_id, client, subject_hmac
             FROM access_log WHERE {} ORDER BY position LIMIT {}",
            conditions.join(" AND "),
            // One past a page, for callers that look whether another page follows.
            limit.min(MAX_PAGE + 1)
        );
        let mut query = sqlx::query(&sql).bind(i64::try_from(filter.after).unwrap_or(i64::MAX));
        for text in texts {
            query = query.bind(text);
        }
        let rows = query.fetch_all(&self.db.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(StoredAccess {
                    position: row.try_get::<i64, _>("position")? as u64,
                    at: row.try_get("at")?,
                    clinic_id: row.try_get("clinic_id")?,
                    staff_id: row.try_get("staff_id")?,
                    action: row.try_get("action")?,
                    resource: row.try_get("resource")?,
                    appointment_id: row.try_get("appointment_id")?,
                    outcome: row.try_get("outcome")?,
                    request_id: row.try_get("request_id")?,
                    client: row.try_get("client")?,
                    subject_hmac: row.try_get("subject_hmac")?,
                })
            })
            .collect()
    }
}

async fn writer(db: Db, mut requests: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while requests.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let result = commit(&db, &batch).await.map_err(|e| {
            tracing::error!(error = %e, "access log commit failed");
            e.to_string()
        });
        for (_, reply) in batch.drain(..) {
            let _ = reply.send(result.clone().map_err(AccessLogUnavailable));
        }
    }
}

/// Columns per row of the multi-row INSERT.
const COLUMNS: usize = 11;

async fn commit(db: &Db, batch: &[Request]) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    if db.backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ACCESS_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
    }
    let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM access_log")
        .fetch_one(&mut *tx)
        .await?;
    // 11 parameters a row: 80 rows stay below every backend's limit.
    for (chunk_start, chunk) in (0..).step_by(80).zip(batch.chunks(80)) {
        let values = value_rows(db.backend.placeholders(), chunk.len(), COLUMNS);
        let sql = format!(
            "INSERT INTO access_log (position, at, clinic_id, staff_id, action, resource, appointment_id, outcome, request_id, client, subject_hmac)
             VALUES {values}"
        );
        let mut query = sqlx::query(&sql);
        for (offset, (record, _)) in chunk.iter().enumerate() {
            query = query
                .bind(head + chunk_start + offset as i64 + 1)
                .bind(format_time(record.at))
                .bind(record.clinic_id.map(|id| id.to_string()))
                .bind(record.staff_id.map(|id| id.to_string()))
                .bind(record.action.as_str())
                .bind(record.resource.clone())
                .bind(record.appointment_id.map(|id| id.to_string()))
                .bind(record.outcome.as_str())
                .bind(record.request_id.clone())
                .bind(record.client.clone())
                .bind(record.subject_hmac.clone());
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await
}
