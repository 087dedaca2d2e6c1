//! `Idempotency-Key` records for POST creations (IETF draft semantics).
//!
//! The first request with a key claims it and fixes the new appointment's id. The command
//! then creates the stream with "no stream yet" as its expected version, so even after a
//! crash between the append and the saved response, a retry resumes on the same id and can
//! never create a second appointment.
//!
//! A key belongs to one staff member ([`KeyOwner`]): two people who happen to send the same
//! key make two requests. The saved answer is stored as the caller gives it; the API stores
//! it without the capability URLs (see `api/src/routes/appointments.rs`).

use crate::db::Db;
use chrono::{DateTime, Duration, Utc};
use enkaku_domain::ids::{AppointmentId, ClinicId, StaffId};

/// Whose key it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyOwner {
    pub clinic: ClinicId,
    pub staff: StaffId,
}

/// What to do with a request that carries a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// First time: run the command for this appointment id.
    Fresh(AppointmentId),
    /// A previous attempt stopped without answering (crash): run again on the same id.
    Resume(AppointmentId),
    /// Done before: answer as then (the saved body, for the appointment `id`).
    Replay {
        id: AppointmentId,
        status: u16,
        body: String,
    },
    /// The first request with this key is still running.
    InProgress,
    /// The key was used with a different request body.
    Mismatch,
}

#[derive(Clone)]
pub struct IdempotencyStore {
    db: Db,
    /// After this long a claim without a response is taken to have died with its process.
    lease: Duration,
}

type Row = (String, String, Option<i32>, Option<String>, i64);

impl IdempotencyStore {
    pub fn new(db: Db, lease: Duration) -> Self {
        Self { db, lease }
    }

    pub async fn claim(
        &self,
        owner: KeyOwner,
        key: &str,
        request_hash: &str,
        fresh_id: AppointmentId,
        now: DateTime<Utc>,
    ) -> Result<Claim, sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (clinic_id, staff_id, idem_key, request_hash, appointment_id, locked_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (clinic_id, staff_id, idem_key) DO NOTHING",
        )
        .bind(owner.clinic.to_string())
        .bind(owner.staff.to_string())
        .bind(key)
        .bind(request_hash)
        .bind(fresh_id.to_string())
        .bind(now.timestamp_millis())
        .execute(self.db.writer())
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Claim::Fresh(fresh_id));
        }
        let (hash, id, status, body, locked_at): Row = sqlx::query_as(
            "SELECT request_hash, appointment_id, response_status, response_body, locked_at_ms
             FROM idempotency_keys WHERE clinic_id = $1 AND staff_id = $2 AND idem_key = $3",
        )
        .bind(owner.clinic.to_string())
        .bind(owner.staff.to_string())
        .bind(key)
        .fetch_one(&self.db.pool)
        .await?;
        if hash != request_hash {
            return Ok(Claim::Mismatch);
        }
        let id = id.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        if let (Some(status), Some(body)) = (status, body) {
            return Ok(Claim::Replay {
                id,
                status: status as u16,
                body,
            });
        }
        if now.timestamp_millis() - locked_at < self.lease.num_milliseconds() {
            return Ok(Claim::InProgress);
        }
        // Take over the abandoned claim, unless another retry just did.
        let taken = sqlx::query(
            "UPDATE idempotency_keys SET locked_at_ms = $4
             WHERE clinic_id = $1 AND staff_id = $2 AND idem_key = $3 AND locked_at_ms = $5
               AND response_status IS NULL",
        )
        .bind(owner.clinic.to_string())
        .bind(owner.staff.to_string())
        .bind(key)
        .bind(now.timestamp_millis())
        .bind(locked_at)
        .execute(self.db.writer())
        .await?
        .rows_affected();
        Ok(if taken == 1 {
            Claim::Resume(id)
        } else {
            Claim::InProgress
        })
    }

    /// Remember the answer, so retries get it.
    pub async fn complete(
        &self,
        owner: KeyOwner,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE idempotency_keys SET response_status = $4, response_body = $5
             WHERE clinic_id = $1 AND staff_id = $2 AND idem_key = $3",
        )
        .bind(owner.clinic.to_string())
        .bind(owner.staff.to_string())
        .bind(key)
        .bind(i32::from(status))
        .bind(body)
        .execute(self.db.writer())
        .await
        .map(|_| ())
    }

    /// Forget keys claimed before `cutoff`. Their saved answers hold the appointment as created
    /// (patient name included), so they are kept only as long as a client may sensibly retry.
    pub async fn purge_claimed_before(&self, cutoff: DateTime<Utc>) -> Result<u64, sqlx::Error> {
        sqlx::query("DELETE FROM idempotency_keys WHERE locked_at_ms < $1")
            .bind(cutoff.timestamp_millis())
            .execute(self.db.writer())
            .await
            .map(|r| r.rows_affected())
    }

    /// Forget a claim whose request failed on our side (5xx), so a retry starts afresh.
    pub async fn release(&self, owner: KeyOwner, key: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "DELETE FROM idempotency_keys
             WHERE clinic_id = $1 AND staff_id = $2 AND idem_key = $3 AND response_status IS NULL",
        )
        .bind(owner.clinic.to_string())
        .bind(owner.staff.to_string())
        .bind(key)
        .execute(self.db.writer())
        .await
        .map(|_| ())
    }
}
