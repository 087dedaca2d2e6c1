//! The delivery worker's schedule: which requested deliveries are due, and who is trying one
//! right now. Rows, not events: when to try again is the worker's business, not part of
//! the appointment's history; the outcomes are events.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use enkaku_domain::ids::{AppointmentId, ClinicId, DeliveryId};
use uuid::Uuid;

/// One requested delivery as the worker schedules it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub delivery_id: DeliveryId,
    pub clinic_id: ClinicId,
    pub appointment_id: AppointmentId,
    /// The `UrlDeliveryRequested` event: what the recorded outcome was caused by.
    pub request_event_id: Uuid,
    pub correlation_id: Uuid,
    /// Attempts claimed so far, this one included (0 before the first claim).
    pub attempts: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("delivery queue unavailable: {0}")]
pub struct QueueError(pub String);

/// Every adapter keeps these promises (the delivery tests check them on SQLite and
/// PostgreSQL): a job is enqueued once however often it is noted; a due job is claimed by
/// one caller only, even with several nodes polling; and a claim stays until it is finished
/// or put back, so a crash mid-send leaves it claimed for [`DeliveryQueue::claim_abandoned`].
#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// Schedule a requested delivery for `due`; a job already known is left as it is.
    async fn enqueue(&self, job: &Job, due: DateTime<Utc>) -> Result<(), QueueError>;

    /// Claim up to `limit` jobs due at `now`, the longest-waiting first, counting the attempt.
    async fn claim_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Job>, QueueError>;

    /// Take over up to `limit` claims made before `before` and never finished: whoever made
    /// them crashed or gave up mid-send. They are claimed again at `now` for the caller.
    async fn claim_abandoned(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Job>, QueueError>;

    /// Put a claimed job back, due at `at`, noting why the attempt did not go through.
    async fn retry_at(&self, id: DeliveryId, at: DateTime<Utc>, error: &str) -> Result<(), QueueError>;

    /// The job's outcome is recorded (or there was nothing to send): never claim it again.
    async fn finish(&self, id: DeliveryId) -> Result<(), QueueError>;

    /// When the next waiting job is due, if any.
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, QueueError>;
}
