//! The URL delivery worker: reacts to `UrlDeliveryRequested`, hands the message to a
//! channel (the embedded outbox, SMS or SMTP), and records the outcome as an event.
//!
//! It runs as a reactor on the event feed (the store's log or Kafka). A crash between
//! sending and recording the outcome means the message is handed over again on restart, so
//! senders must treat the delivery id as an idempotency key (the outbox does).

use crate::capability::{LinkRole, LinkSigner};
use crate::channel::{Content, OutgoingMessage, SendError, UrlSender};
use crate::ports::Directory;
use crate::service::{AppointmentService, CommandContext, CommandError};
use enkaku_domain::DomainError;
use enkaku_domain::appointment::{DeliveryOutcome, DeliveryReport, Event, Status, UrlDeliveryRequested};
use enkaku_domain::envelope::{Actor, RecordedEvent};
use enkaku_domain::ids::AppointmentId;
use std::sync::Arc;

pub struct DeliveryWorker {
    pub service: Arc<AppointmentService>,
    pub directory: Arc<dyn Directory>,
    pub sender: Arc<dyn UrlSender>,
    pub links: Arc<LinkSigner>,
    /// Base of the patient URL, e.g. `https://clinic.example.jp`.
    pub public_url: String,
}

impl DeliveryWorker {
    /// Act on one event of the feed: hand a `UrlDeliveryRequested` to the channel and record
    /// the outcome. `Ok(true)` when it handled a delivery. An `Err` is transient (channel or
    /// store down): the caller tries the same event again later.
    ///
    /// Safe to call twice for one event: a delivery whose outcome is recorded is not sent
    /// again, and channels dedupe by delivery id for a crash between sending and recording.
    pub async fn handle(&self, recorded: &RecordedEvent, event: &Event) -> Result<bool, CommandError> {
        let Event::UrlDeliveryRequested(request) = event else {
            return Ok(false);
        };
        match self.deliver(recorded, request).await {
            Ok(handled) => Ok(handled),
            Err(e @ (CommandError::Unavailable(_) | CommandError::Contended)) => Err(e),
            // Permanent (an unreadable or inconsistent appointment): retrying cannot help,
            // and it must not hold up every later delivery.
            Err(e) => {
                tracing::error!(event_id = %recorded.event_id, error = %e, "delivery skipped");
                Ok(false)
            }
        }
    }

    /// `Ok(false)` when there was nothing (left) to deliver.
    async fn deliver(
        &self,
        recorded: &RecordedEvent,
        request: &UrlDeliveryRequested,
    ) -> Result<bool, CommandError> {
        let Some(appointment_id) = AppointmentId::from_stream_id(&recorded.stream_id) else {
            return Ok(false);
        };
        let clinic_id = recorded.metadata.clinic_id;
        let current = self.service.get(clinic_id, appointment_id).await?;
        let still_pending = current
            .appointment
            .deliveries
            .iter()
            .any(|d| d.id == request.delivery_id && d.outcome == DeliveryOutcome::Pending);
        if !still_pending {
            return Ok(false); // handled before this event was read again
        }
        let report = if matches!(current.appointment.status, Status::Cancelled | Status::Ended) {
            DeliveryReport::Failed {
                at: self.service.now(),
                reason: "the appointment was closed before the message went out".into(),
            }
        } else {
            let message = self
                .compose(appointment_id, &current.appointment, request)
                .await?;
            match self.sender.send(&message).await {
                Ok(_) => DeliveryReport::Sent {
                    at: self.service.now(),
                },
                Err(SendError::Permanent { reason, .. } | SendError::Unknown { reason }) => {
                    DeliveryReport::Failed {
                        at: self.service.now(),
                        reason,
                    }
                }
                // Not recorded: the checkpoint stays before this request, so it is tried again.
                Err(SendError::Transient { reason, .. }) => return Err(CommandError::Unavailable(reason)),
            }
        };
        let ctx = CommandContext {
            clinic_id,
            actor: Actor::System,
            correlation_id: recorded.metadata.correlation_id,
            causation_id: recorded.event_id,
            client_request_id: None,
            if_match: None,
        };
        match self
            .service
            .record_delivery(&ctx, appointment_id, request.delivery_id, report)
            .await
        {
            Ok(_) => Ok(true),
            Err(CommandError::Rejected(DomainError::UnknownDelivery)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn compose(
        &self,
        appointment_id: AppointmentId,
        appointment: &enkaku_domain::appointment::Appointment,
        request: &UrlDeliveryRequested,
    ) -> Result<OutgoingMessage, CommandError> {
        let clinic = self
            .directory
            .clinic(appointment.clinic_id)
            .await?
            .ok_or(DomainError::NotFound)?;
        // The current generation: a request made before a reissue sends the new URL.
        let url = self.links.url(
            &self.public_url,
            LinkRole::Patient,
            appointment_id,
            appointment.patient_link_generation,
        );
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
            clinic_name: clinic.name.clone(),
            content: Content::Email {
                subject: format!("【{}】ビデオ通話のご案内", clinic.name),
                text: format!(
                    "{}からオンライン診療のビデオ通話のご案内です。\n診察時間になりましたら、以下のURLを開いてください。\n{}\n有効期間: {}",
                    clinic.name, url, validity
                ),
                html: String::new(),
            },
        })
    }
}
