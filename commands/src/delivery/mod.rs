//! The URL delivery worker (R14, R15): sends each requested patient link once, through the
//! channel configured for it (Twilio, SMTP, or the embedded outbox), and records what came
//! of it as events.
//!
//! It has two halves. Noting: a reactor on the event feed puts every `UrlDeliveryRequested`
//! into the [`DeliveryQueue`] and nothing more, so the feed never waits for a provider.
//! Sending: [`DeliveryWorker::run_due`] claims the jobs that are due, tries each once, and
//! records handed over, failed or unknown — or, after a transient error, puts the job back
//! with a later time, so a waiting retry never holds up anyone else's message.
//!
//! Every attempt is claimed in the queue before the channel is called. A claim that is never
//! finished (a crash, a hung provider) is taken over once its lease has run out: the outbox
//! simply stores the message again (its rows are keyed by the delivery id), but Twilio and
//! SMTP cannot tell a repeat from a new message, so there the outcome is recorded as unknown
//! (「送信結果不明」) for staff to decide. A delivery recorded as handed over is never sent
//! again.

mod message;
mod queue;
mod retry;

pub use message::{Invitation, SMS_MAX_SEGMENTS, ucs2_segments};
pub use queue::{DeliveryQueue, Job, QueueError};
pub use retry::RetryPolicy;

use crate::capability::{LinkRole, LinkSigner};
use crate::channel::{OutgoingMessage, SendError, UrlSender};
use crate::ports::{ClinicProfile, Directory};
use crate::service::{AppointmentService, CommandContext, CommandError};
use enkaku_domain::DomainError;
use enkaku_domain::appointment::{
    Appointment, DeliveryOutcome, DeliveryReport, Event, Status, UrlDeliveryRequested,
};
use enkaku_domain::envelope::{Actor, RecordedEvent};
use enkaku_domain::ids::{AppointmentId, ClinicId};
use enkaku_domain::values::Channel;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

impl From<QueueError> for CommandError {
    fn from(e: QueueError) -> Self {
        CommandError::Unavailable(e.to_string())
    }
}

/// How long one attempt may take, and so how long its claim lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// An attempt whose channel has not answered by then is recorded as unknown.
    pub attempt: Duration,
}

impl Lease {
    /// A claim older than this was abandoned: its attempt has long been given up on by the
    /// node that made it, if that node is alive at all.
    pub fn expiry(&self) -> Duration {
        self.attempt.saturating_mul(2) + Duration::from_secs(5)
    }
}

impl Default for Lease {
    fn default() -> Self {
        Self {
            attempt: Duration::from_secs(60),
        }
    }
}

/// Jobs tried at once: a slow provider answers one message while others go out.
const PARALLEL_ATTEMPTS: usize = 8;
/// Jobs claimed per pass.
const CLAIM_BATCH: usize = 64;
/// Tries at recording an outcome before the claim is left for the lease to expire.
const RECORD_TRIES: u32 = 3;

pub struct DeliveryWorker {
    pub service: Arc<AppointmentService>,
    pub directory: Arc<dyn Directory>,
    pub sender: Arc<dyn UrlSender>,
    pub queue: Arc<dyn DeliveryQueue>,
    pub links: Arc<LinkSigner>,
    /// Base of the patient URL, e.g. `https://clinic.example.jp`.
    pub public_url: String,
    pub retry: RetryPolicy,
    pub lease: Lease,
}

/// A delivery whose outcome this pass recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settled {
    pub clinic_id: ClinicId,
    pub appointment_id: AppointmentId,
}

impl DeliveryWorker {
    /// The feed's half: schedule a requested delivery. `Ok(true)` when the event was one.
    /// Safe to call again for the same event.
    pub async fn note(&self, recorded: &RecordedEvent, event: &Event) -> Result<bool, CommandError> {
        let Event::UrlDeliveryRequested(UrlDeliveryRequested { delivery_id, .. }) = event else {
            return Ok(false);
        };
        let Some(appointment_id) = AppointmentId::from_stream_id(&recorded.stream_id) else {
            return Ok(false);
        };
        let job = Job {
            delivery_id: *delivery_id,
            clinic_id: recorded.metadata.clinic_id,
            appointment_id,
            request_event_id: recorded.event_id,
            correlation_id: recorded.metadata.correlation_id,
            attempts: 0,
        };
        self.queue.enqueue(&job, self.service.now()).await?;
        Ok(true)
    }

    /// The sending half, one pass: settle abandoned claims, then try every job that is due.
    /// Returns the deliveries whose outcome it recorded.
    pub async fn run_due(&self) -> Result<Vec<Settled>, CommandError> {
        let now = self.service.now();
        let expired_before = now - chrono::Duration::from_std(self.lease.expiry()).unwrap_or_default();
        let abandoned = self
            .queue
            .claim_abandoned(expired_before, now, CLAIM_BATCH)
            .await?;
        let mut outcomes = vec![];
        for job in abandoned {
            outcomes.push(self.settle_abandoned(job).await);
        }
        let due = self.queue.claim_due(now, CLAIM_BATCH).await?;
        let attempts: Vec<_> = futures::stream::iter(due)
            .map(|job| self.attempt(job))
            .buffer_unordered(PARALLEL_ATTEMPTS)
            .collect()
            .await;
        outcomes.extend(attempts);
        // One job's trouble (its claim is left to expire) is no reason to hide the others'.
        let mut settled = vec![];
        for outcome in outcomes {
            match outcome {
                Ok(s) => settled.extend(s),
                Err(e) => tracing::warn!(error = %e, "a delivery could not be settled now"),
            }
        }
        Ok(settled)
    }

    /// When the next waiting job is due, to sleep until then.
    pub async fn next_due(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, CommandError> {
        Ok(self.queue.next_due().await?)
    }

    /// A claim whose attempt never reported back: send again only where a repeat is harmless.
    async fn settle_abandoned(&self, job: Job) -> Result<Option<Settled>, CommandError> {
        let Some(appointment) = self.pending_or_put_back(&job).await? else {
            return Ok(None);
        };
        let destination = &appointment.delivery(job.delivery_id)?.destination;
        if destination
            .known()
            .is_some_and(|d| self.sender.repeat_is_harmless(d))
        {
            self.queue
                .retry_at(
                    job.delivery_id,
                    self.service.now(),
                    "an earlier attempt was interrupted",
                )
                .await?;
            return Ok(None);
        }
        let report = DeliveryReport::Unknown {
            at: self.service.now(),
            reason: "the attempt was interrupted before the provider answered".into(),
        };
        self.record(&job, report).await
    }

    /// The appointment, if the job's delivery is still waiting for an outcome; otherwise the
    /// job is finished here.
    async fn pending(&self, job: &Job) -> Result<Option<Appointment>, CommandError> {
        let found = match self.service.get(job.clinic_id, job.appointment_id).await {
            Ok(at) => Some(at.appointment),
            Err(CommandError::Rejected(DomainError::NotFound)) => None,
            Err(e) => return Err(e),
        };
        let waiting = found.filter(|a| {
            a.delivery(job.delivery_id)
                .is_ok_and(|d| d.outcome == DeliveryOutcome::Pending)
        });
        if waiting.is_none() {
            self.queue.finish(job.delivery_id).await?;
        }
        Ok(waiting)
    }

    /// [`Self::pending`], where a store that cannot be read now puts the job back for later
    /// and a history no retry can read ends the job (it cannot record an outcome either).
    async fn pending_or_put_back(&self, job: &Job) -> Result<Option<Appointment>, CommandError> {
        match self.pending(job).await {
            Ok(found) => Ok(found),
            Err(e @ (CommandError::Unavailable(_) | CommandError::Contended)) => {
                if !self.put_back(job, None, &e.to_string()).await? {
                    self.give_up(job, &e).await?;
                }
                Ok(None)
            }
            Err(e) => {
                self.give_up(job, &e).await?;
                Ok(None)
            }
        }
    }

    /// End a job that cannot be sent or recorded: an operator has to look.
    async fn give_up(&self, job: &Job, error: &CommandError) -> Result<(), CommandError> {
        tracing::error!(delivery_id = %job.delivery_id, appointment_id = %job.appointment_id, error = %error,
            "delivery abandoned: its appointment cannot be read");
        Ok(self.queue.finish(job.delivery_id).await?)
    }

    /// One attempt at a claimed job.
    async fn attempt(&self, job: Job) -> Result<Option<Settled>, CommandError> {
        let Some(appointment) = self.pending_or_put_back(&job).await? else {
            return Ok(None);
        };
        let now = self.service.now();
        if matches!(appointment.status, Status::Cancelled | Status::Ended) {
            let report = DeliveryReport::Failed {
                at: now,
                code: "enkaku:appointment_closed".into(),
                reason: "the appointment was closed before the message went out".into(),
            };
            return self.record(&job, report).await;
        }
        if appointment.is_erased() {
            let report = DeliveryReport::Failed {
                at: now,
                code: "enkaku:appointment_erased".into(),
                reason: "the appointment's personal data was erased before the message went out".into(),
            };
            return self.record(&job, report).await;
        }
        // Composing needs the directory: its outage is a transient error like a provider's.
        let answer = match self.compose(&job, &appointment).await {
            Ok(message) => tokio::time::timeout(self.lease.attempt, self.sender.send(&message))
                .await
                .unwrap_or_else(|_| {
                    Err(SendError::Unknown {
                        reason: format!("no answer within {} s", self.lease.attempt.as_secs()),
                    })
                }),
            Err(e @ CommandError::Unavailable(_)) => Err(SendError::Transient {
                reason: e.to_string(),
                retry_after: None,
            }),
            Err(e) => Err(SendError::Permanent {
                code: "enkaku:unreadable".into(),
                reason: format!("the message could not be composed: {e}"),
            }),
        };
        let at = self.service.now();
        let report = match answer {
            Ok(handed) => DeliveryReport::Sent {
                at,
                provider: handed.provider,
                provider_message_id: handed.provider_message_id,
            },
            Err(SendError::Permanent { code, reason }) => DeliveryReport::Failed { at, code, reason },
            Err(SendError::Unknown { reason }) => DeliveryReport::Unknown { at, reason },
            Err(SendError::Transient { reason, retry_after }) => {
                match self.put_back(&job, retry_after, &reason).await? {
                    true => return Ok(None),
                    false => DeliveryReport::Failed {
                        at,
                        code: "enkaku:retries_exhausted".into(),
                        reason: format!("gave up after {} attempts; the last: {reason}", job.attempts),
                    },
                }
            }
        };
        self.record(&job, report).await
    }

    /// Schedule the job's next attempt; `false` when it has had its last.
    async fn put_back(
        &self,
        job: &Job,
        retry_after: Option<Duration>,
        reason: &str,
    ) -> Result<bool, CommandError> {
        let now = self.service.now();
        let Some(at) = self
            .retry
            .next_attempt(job.attempts, retry_after, now, rand::random())
        else {
            return Ok(false);
        };
        tracing::info!(delivery_id = %job.delivery_id, attempt = job.attempts, retry_at = %at, reason, "delivery will be tried again");
        self.queue.retry_at(job.delivery_id, at, reason).await?;
        Ok(true)
    }

    /// Record the outcome as an event and finish the job. If the store stays down, the claim
    /// is left to expire: the message is not sent again, and the outcome becomes unknown
    /// unless a repeat is harmless.
    async fn record(&self, job: &Job, report: DeliveryReport) -> Result<Option<Settled>, CommandError> {
        let ctx = CommandContext {
            clinic_id: job.clinic_id,
            actor: Actor::System,
            correlation_id: job.correlation_id,
            causation_id: job.request_event_id,
            client_request_id: None,
            if_match: None,
        };
        let mut tries = 0;
        loop {
            tries += 1;
            match self
                .service
                .record_delivery(&ctx, job.appointment_id, job.delivery_id, report.clone())
                .await
            {
                Ok(_) | Err(CommandError::Rejected(DomainError::UnknownDelivery | DomainError::NotFound)) => {
                    break;
                }
                Err(e) if tries < RECORD_TRIES => {
                    tracing::warn!(delivery_id = %job.delivery_id, error = %e, "recording a delivery outcome failed; trying again");
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(tries))).await;
                }
                Err(e) => return Err(e),
            }
        }
        self.queue.finish(job.delivery_id).await?;
        Ok(Some(Settled {
            clinic_id: job.clinic_id,
            appointment_id: job.appointment_id,
        }))
    }

    async fn compose(&self, job: &Job, appointment: &Appointment) -> Result<OutgoingMessage, CommandError> {
        let clinic: ClinicProfile = self
            .directory
            .clinic(appointment.clinic_id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let window = appointment.require_video()?;
        let delivery = appointment.delivery(job.delivery_id)?;
        // The current generation: a request made before a reissue sends the new URL.
        let url = self.links.url(
            &self.public_url,
            LinkRole::Patient,
            job.appointment_id,
            appointment.patient_link_generation,
        );
        let invitation = Invitation {
            clinic_name: &clinic.name,
            clinic_phone: clinic.phone.as_deref(),
            time_zone: clinic.time_zone,
            start_at: appointment.start_at,
            window,
            url: &url,
        };
        let destination = delivery.destination.known().cloned().ok_or(DomainError::Erased)?;
        let content = match delivery.channel {
            Channel::Sms => invitation.sms(),
            Channel::Email => invitation.email(),
        };
        Ok(OutgoingMessage {
            delivery_id: job.delivery_id,
            appointment_id: job.appointment_id,
            clinic_id: appointment.clinic_id,
            destination,
            clinic_name: clinic.name.clone(),
            content,
        })
    }
}
