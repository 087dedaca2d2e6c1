//! What a delivery channel is given and what it answers: the contract between the delivery
//! worker and the outbox, Twilio and SMTP adapters in `infra`.
//!
//! A channel carries words the worker composed; it never writes its own. What it answers
//! decides what happens next: a message handed over is never sent again, a transient error
//! is retried later, a permanent one is recorded as failed, and an unknown outcome (the
//! provider may have taken the message) is left for staff to decide, because neither Twilio
//! nor SMTP can tell a repeated request from a new one.

use async_trait::async_trait;
use enkaku_domain::ids::{AppointmentId, ClinicId, DeliveryId};
use enkaku_domain::values::{Destination, Provider};
use std::time::Duration;

/// What a message says, in the form its channel needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// One text, counted in UCS-2 segments by the composer.
    Sms { text: String },
    /// A multipart e-mail: the same words as plain text and as HTML.
    Email {
        subject: String,
        text: String,
        html: String,
    },
}

/// A message ready for a channel. It holds the patient URL, so it lives only in the
/// channel (and the outbox's own table), never in the event log or a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub delivery_id: DeliveryId,
    pub appointment_id: AppointmentId,
    pub clinic_id: ClinicId,
    pub destination: Destination,
    /// The clinic's name: the display name of an e-mail's `From`.
    pub clinic_name: String,
    pub content: Content,
}

/// The provider took the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandedOver {
    pub provider: Provider,
    /// The provider's id for it (Twilio's `SM…` sid, the e-mail's `Message-ID`), if any.
    pub provider_message_id: Option<String>,
}

/// Why a channel did not (knowingly) take a message. Reasons and codes go into the event
/// log and the staff's screen, so they never quote an address, a number or the message: a
/// provider's own error text often does, and is left out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Nothing was handed over and trying again may work: the provider was unreachable,
    /// busy (HTTP 429, 5xx) or answered SMTP 4xx. `retry_after` when the provider said when.
    #[error("transient: {reason}")]
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Refused for good (an invalid number, a mailbox that does not exist): recorded as
    /// failed, and staff see `code` and `reason`.
    #[error("permanent ({code}): {reason}")]
    Permanent {
        /// `<provider>:<its code>`, e.g. `twilio:21211` or `smtp:550`.
        code: String,
        reason: String,
    },
    /// The request may or may not have been taken (a timeout after it was written, a
    /// connection lost before the answer). Never retried on its own.
    #[error("outcome unknown: {reason}")]
    Unknown { reason: String },
}

/// A delivery channel.
#[async_trait]
pub trait UrlSender: Send + Sync {
    /// Hand one message over. Called at most once per claim of a delivery; only a channel
    /// that says so (`repeat_is_harmless`) is called again for a delivery whose earlier
    /// attempt's outcome was lost in a crash.
    async fn send(&self, message: &OutgoingMessage) -> Result<HandedOver, SendError>;

    /// True when sending the same delivery id to `destination` twice delivers it once (the
    /// outbox keys its rows by it). Real providers cannot promise that.
    fn repeat_is_harmless(&self, _destination: &Destination) -> bool {
        false
    }
}
