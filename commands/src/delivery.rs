//! The URL delivery worker: reacts to `UrlDeliveryRequested`, hands the message to a
//! channel (the embedded outbox, SMS or SMTP), and records the outcome as an event.
//!
//! It tails the global log from a checkpoint. A crash between sending and saving the
//! checkpoint means the message is handed over again on restart, so senders must treat the
//! delivery id as an idempotency key (the outbox does).

use crate::capability::{LinkRole, LinkSigner};
use crate::ports::{Directory, EventStore, StoreError};
use crate::service::{AppointmentService, CommandContext, CommandError};
use async_trait::async_trait;
use enkaku_domain::DomainError;
use enkaku_domain::appointment::{DeliveryReport, Event, Status};
use enkaku_domain::envelope::{Actor, RecordedEvent};
use enkaku_domain::ids::{AppointmentId, ClinicId, DeliveryId};
use enkaku_domain::values::Destination;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A message ready for a channel. It holds the patient URL, so it lives only in the
/// channel's own store, never in the event log.
#[derive(Clone, Debug, PartialEq)]
pub struct OutgoingMessage {
    pub delivery_id: DeliveryId,
    pub appointment_id: AppointmentId,
    pub clinic_id: ClinicId,
    pub destination: Destination,
    pub subject: String,
    pub body: String,
}

/// Why a channel did not take a message.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The channel could not be reached: the worker tries again later.
    #[error("channel unavailable: {0}")]
    Unavailable(String),
    /// The channel refused this message for good; recorded as a failed delivery that staff
    /// see. The reason goes into the event log, so it must not quote the address.
    #[error("refused: {0}")]
    Refused(String),
}

/// A delivery channel. `send` must be idempotent per `delivery_id`.
#[async_trait]
pub trait UrlSender: Send + Sync {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), SendError>;
}

/// Where a log-tailing worker remembers how far it got.
#[async_trait]
pub trait Checkpoints: Send + Sync {
    async fn load(&self, name: &str) -> Result<u64, StoreError>;
    async fn save(&self, name: &str, position: u64) -> Result<(), StoreError>;
}

const CHECKPOINT: &str = "url_delivery";
const BATCH: usize = 256;
const SAVE_EVERY: Duration = Duration::from_secs(1);

pub struct DeliveryWorker {
    pub store: Arc<dyn EventStore>,
    pub service: Arc<AppointmentService>,
    pub directory: Arc<dyn Directory>,
    pub sender: Arc<dyn UrlSender>,
    pub checkpoints: Arc<dyn Checkpoints>,
    pub links: Arc<LinkSigner>,
    /// Base of the patient URL, e.g. `https://clinic.example.jp`.
    pub public_url: String,
}

impl DeliveryWorker {
    /// Work until `shutdown` turns true; errors are logged and retried after a pause.
    ///
    /// The checkpoint is saved after a batch that delivered something, at most once a second
    /// otherwise, and at shutdown: re-reading events without deliveries after a crash costs
    /// nothing, while a commit per batch would cost the store a disk flush each time.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut head = self.store.head();
        let mut saved = None;
        let mut position = 0;
        let mut saved_at = Instant::now();
        loop {
            if saved.is_none() {
                match self.checkpoints.load(CHECKPOINT).await {
                    Ok(p) => (position, saved) = (p, Some(p)),
                    Err(e) => tracing::warn!(error = %e, "cannot read the delivery checkpoint"),
                }
            }
            if saved.is_some() {
                match self.catch_up(position).await {
                    Ok((reached, delivered)) => {
                        position = reached;
                        if saved != Some(position) && (delivered || saved_at.elapsed() >= SAVE_EVERY) {
                            saved = self.save(position).await.or(saved);
                            saved_at = Instant::now();
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "url delivery worker failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            tokio::select! {
                _ = head.changed() => {}
                _ = shutdown.changed() => {}
                // A safety net for a missed wake-up (another process appended) and for the
                // once-a-second save.
                _ = tokio::time::sleep(SAVE_EVERY) => {}
            }
            if *shutdown.borrow() {
                if saved.is_some() && saved != Some(position) {
                    self.save(position).await;
                }
                return;
            }
        }
    }

    async fn save(&self, position: u64) -> Option<u64> {
        match self.checkpoints.save(CHECKPOINT, position).await {
            Ok(()) => Some(position),
            Err(e) => {
                tracing::warn!(error = %e, "cannot save the delivery checkpoint");
                None
            }
        }
    }

    /// Handle every event after `position`; returns the position reached and whether any
    /// delivery was handled.
    pub async fn catch_up(&self, mut position: u64) -> Result<(u64, bool), CommandError> {
        let mut delivered = false;
        loop {
            let batch = self.store.read_all(position, BATCH).await?;
            let Some(last) = batch.last() else {
                return Ok((position, delivered));
            };
            let last_position = last.position;
            for recorded in batch.iter().filter(|e| e.event_type == "UrlDeliveryRequested") {
                match self.deliver(recorded).await {
                    Ok(()) => delivered = true,
                    // Transient: stop here and try this request again later.
                    Err(e @ (CommandError::Unavailable(_) | CommandError::Contended)) => return Err(e),
                    // Permanent (an unreadable or inconsistent appointment): retrying cannot
                    // help, and it must not hold up every later delivery.
                    Err(e) => {
                        tracing::error!(event_id = %recorded.event_id, error = %e, "delivery skipped");
                    }
                }
            }
            position = last_position;
        }
    }

    async fn deliver(&self, recorded: &RecordedEvent) -> Result<(), CommandError> {
        let Ok(Event::UrlDeliveryRequested(request)) =
            Event::decode(&recorded.event_type, recorded.schema_version, &recorded.data)
        else {
            tracing::error!(event_id = %recorded.event_id, "undecodable delivery request skipped");
            return Ok(());
        };
        let Some(appointment_id) = AppointmentId::from_stream_id(&recorded.stream_id) else {
            return Ok(());
        };
        let clinic_id = recorded.metadata.clinic_id;
        let current = self.service.get(clinic_id, appointment_id).await?;
        let report = if matches!(current.appointment.status, Status::Cancelled | Status::Ended) {
            DeliveryReport::Failed {
                at: self.service.now(),
                reason: "the appointment was closed before the message went out".into(),
            }
        } else {
            let message = self
                .compose(appointment_id, &current.appointment, &request)
                .await?;
            match self.sender.send(&message).await {
                Ok(()) => DeliveryReport::Sent {
                    at: self.service.now(),
                },
                Err(SendError::Refused(reason)) => DeliveryReport::Failed {
                    at: self.service.now(),
                    reason,
                },
                // Not recorded: the checkpoint stays before this request, so it is tried again.
                Err(SendError::Unavailable(e)) => return Err(CommandError::Unavailable(e)),
            }
        };
        let ctx = CommandContext {
            clinic_id,
            actor: Actor::System,
            correlation_id: recorded.metadata.correlation_id,
            causation_id: recorded.event_id,
            if_match: None,
        };
        match self
            .service
            .record_delivery(&ctx, appointment_id, request.delivery_id, report)
            .await
        {
            Ok(_) | Err(CommandError::Rejected(DomainError::UnknownDelivery)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn compose(
        &self,
        appointment_id: AppointmentId,
        appointment: &enkaku_domain::appointment::Appointment,
        request: &enkaku_domain::appointment::UrlDeliveryRequested,
    ) -> Result<OutgoingMessage, CommandError> {
        let clinic = self
            .directory
            .clinic(appointment.clinic_id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let url = self
            .links
            .url(&self.public_url, LinkRole::Patient, appointment_id);
        let local = |t: chrono::DateTime<chrono::Utc>| {
            t.with_timezone(&clinic.time_zone)
                .format("%Y/%m/%d %H:%M")
                .to_string()
        };
        let validity = appointment
            .video
            .map(|w| format!("{}〜{}", local(w.valid_from), local(w.valid_until)))
            .unwrap_or_default();
        Ok(OutgoingMessage {
            delivery_id: request.delivery_id,
            appointment_id,
            clinic_id: appointment.clinic_id,
            destination: request.destination.clone(),
            subject: format!("【{}】ビデオ通話のご案内", clinic.name),
            body: format!(
                "{}からオンライン診療のビデオ通話のご案内です。\n診察時間になりましたら、以下のURLを開いてください。\n{}\n有効期間: {}",
                clinic.name, url, validity
            ),
        })
    }
}
