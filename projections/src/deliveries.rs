//! The delivery log (送信ボックス): every patient-link delivery of a clinic with where it
//! stands, whatever carried it — kept in the outbox, handed to Twilio or to SMTP, delivered,
//! failed (with the provider's code) or unknown.

use crate::bulk::BulkInsert;
use crate::runner::{Projector, QueryIndex};
use crate::schedule::forget_personal;
use crate::writes::{Value, Writes};
use enkaku_domain::appointment::{DeliveryStatus, Event};
use enkaku_domain::envelope::RecordedEvent;
use enkaku_domain::ids::AppointmentId;
use enkaku_domain::values::Provider;

pub struct DeliveriesProjector;

/// A row's change: the columns an event sets. Every update is guarded by the appointment
/// stream's version, so a repeated or older event changes nothing.
struct Update {
    status: DeliveryStatus,
    provider: Option<Provider>,
    sent_at_ms: Option<i64>,
    settled_at_ms: Option<i64>,
    failure_code: Option<String>,
    /// A carrier's code, to be named by the provider of the row (see [`Provider::code`]):
    /// the provider that took the message is on the row, maybe not yet in this batch.
    carrier_code: Option<String>,
    failure_reason: Option<String>,
}

/// The places of the columns an update sets in the insert of a delivery.
const STATUS: usize = 7;
const PROVIDER: usize = 8;
const SENT_AT: usize = 9;
const SETTLED_AT: usize = 10;
const FAILURE_CODE: usize = 11;
const FAILURE_REASON: usize = 12;
const VERSION: usize = 13;

impl Update {
    /// The update as columns of a buffered insert: those it does not set keep their value.
    fn folded(&self, version: i64) -> Vec<(usize, Value)> {
        let mut columns = vec![
            (STATUS, Value::Word(self.status.as_str())),
            (VERSION, Value::Int(version)),
        ];
        let set = [
            (
                PROVIDER,
                self.provider.map(|p| Value::MaybeText(Some(p.as_str().into()))),
            ),
            (SENT_AT, self.sent_at_ms.map(|at| Value::MaybeInt(Some(at)))),
            (SETTLED_AT, self.settled_at_ms.map(|at| Value::MaybeInt(Some(at)))),
            (
                FAILURE_CODE,
                self.failure_code.clone().map(|code| Value::MaybeText(Some(code))),
            ),
            (
                FAILURE_REASON,
                self.failure_reason
                    .clone()
                    .map(|reason| Value::MaybeText(Some(reason))),
            ),
        ];
        columns.extend(
            set.into_iter()
                .filter_map(|(column, value)| Some((column, value?))),
        );
        columns
    }
}

impl Projector for DeliveriesProjector {
    fn name(&self) -> &'static str {
        "deliveries"
    }

    fn schema(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS delivery_log (
            delivery_id     TEXT    PRIMARY KEY,
            clinic_id       TEXT    NOT NULL,
            appointment_id  TEXT    NOT NULL,
            channel         TEXT    NOT NULL,
            -- NULL once the appointment's personal data was erased.
            destination     TEXT,
            resend          INTEGER NOT NULL,
            requested_at_ms BIGINT  NOT NULL,
            status          TEXT    NOT NULL,
            provider        TEXT,
            sent_at_ms      BIGINT,
            settled_at_ms   BIGINT,
            failure_code    TEXT,
            failure_reason  TEXT,
            version         BIGINT  NOT NULL
        );
        -- Also how an erasure finds an appointment's deliveries.
        CREATE INDEX IF NOT EXISTS delivery_log_by_appointment ON delivery_log (appointment_id, requested_at_ms);"
    }

    fn query_indexes(&self) -> &'static [QueryIndex] {
        &[QueryIndex {
            name: "delivery_log_by_clinic",
            on: "delivery_log (clinic_id, requested_at_ms)",
        }]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["delivery_log"]
    }

    fn shows(&self, event: &Event) -> bool {
        matches!(
            event,
            Event::UrlDeliveryRequested(_)
                | Event::UrlDelivered(_)
                | Event::UrlDeliveryFailed(_)
                | Event::UrlDeliveryOutcomeUnknown(_)
                | Event::UrlDeliveryReported(_)
                | Event::PersonalDataErased(_)
        )
    }

    fn apply(&self, batch: &[(&RecordedEvent, &Event)], writes: &mut Writes) {
        // Keyed by delivery id.
        let mut inserts = BulkInsert::new(
            "INSERT INTO delivery_log (delivery_id, clinic_id, appointment_id, channel, destination,
                                       resend, requested_at_ms, status, provider, sent_at_ms,
                                       settled_at_ms, failure_code, failure_reason, version)",
            14,
            "ON CONFLICT (delivery_id) DO UPDATE
               SET status = excluded.status, provider = excluded.provider, sent_at_ms = excluded.sent_at_ms,
                   settled_at_ms = excluded.settled_at_ms, failure_code = excluded.failure_code,
                   failure_reason = excluded.failure_reason, version = excluded.version
             WHERE delivery_log.version < excluded.version",
        );
        for (recorded, event) in batch {
            let Some(appointment_id) = AppointmentId::from_stream_id(&recorded.stream_id) else {
                continue;
            };
            let version = recorded.version as i64;
            let (delivery_id, update) = match event {
                Event::UrlDeliveryRequested(e) => {
                    let delivery_id = e.delivery_id.to_string();
                    inserts.push(
                        &delivery_id,
                        vec![
                            Value::Text(delivery_id.clone()),
                            Value::Text(recorded.metadata.clinic_id.to_string()),
                            Value::Text(appointment_id.to_string()),
                            Value::Word(e.channel.as_str()),
                            Value::MaybeText(e.personal.known().map(|d| d.address().to_owned())),
                            Value::Int(i64::from(e.resend)),
                            Value::Int(e.requested_at.timestamp_millis()),
                            Value::Word(DeliveryStatus::Pending.as_str()),
                            Value::MaybeText(None),
                            Value::MaybeInt(None),
                            Value::MaybeInt(None),
                            Value::MaybeText(None),
                            Value::MaybeText(None),
                            Value::Int(version),
                        ],
                    );
                    continue;
                }
                Event::UrlDelivered(e) => (
                    e.delivery_id,
                    Update {
                        status: DeliveryStatus::handed_over_to(e.provider),
                        provider: Some(e.provider),
                        sent_at_ms: Some(e.sent_at.timestamp_millis()),
                        settled_at_ms: None,
                        failure_code: None,
                        carrier_code: None,
                        failure_reason: None,
                    },
                ),
                Event::UrlDeliveryFailed(e) => (
                    e.delivery_id,
                    Update {
                        status: DeliveryStatus::Failed,
                        provider: None,
                        sent_at_ms: None,
                        settled_at_ms: Some(e.failed_at.timestamp_millis()),
                        failure_code: e.code.clone(),
                        carrier_code: None,
                        failure_reason: Some(e.reason.clone()),
                    },
                ),
                Event::UrlDeliveryOutcomeUnknown(e) => (
                    e.delivery_id,
                    Update {
                        status: DeliveryStatus::Unknown,
                        provider: None,
                        sent_at_ms: None,
                        settled_at_ms: Some(e.noticed_at.timestamp_millis()),
                        failure_code: None,
                        carrier_code: None,
                        failure_reason: Some(e.reason.clone()),
                    },
                ),
                Event::UrlDeliveryReported(e) => {
                    // The carrier's code, named by the provider that took the message: the
                    // buffered row's, or the written row's (in the update's SQL).
                    let buffered = match inserts.value(&e.delivery_id.to_string(), PROVIDER) {
                        Some(Value::MaybeText(provider)) => Some(provider.clone()),
                        _ => None,
                    };
                    let (failure_code, carrier_code) = match (buffered, e.error_code.as_deref()) {
                        (_, None) => (None, None),
                        (Some(provider), Some(code)) => (Some(provider_named(provider).code(code)), None),
                        (None, Some(code)) => (None, Some(code.to_owned())),
                    };
                    (
                        e.delivery_id,
                        Update {
                            status: e.status.delivery_status(),
                            provider: None,
                            sent_at_ms: None,
                            settled_at_ms: Some(e.reported_at.timestamp_millis()),
                            failure_code,
                            carrier_code,
                            failure_reason: e.status.failure_reason(),
                        },
                    )
                }
                Event::PersonalDataErased(_) => {
                    // Rare, and about deliveries of an appointment: everything goes out first.
                    inserts.flush(writes);
                    forget_personal(
                        writes,
                        "delivery_log",
                        &["destination"],
                        appointment_id.to_string(),
                        version,
                    );
                    continue;
                }
                _ => continue,
            };
            let delivery_id = delivery_id.to_string();
            if inserts.fold(&delivery_id, &update.folded(version)) {
                continue;
            }
            // Columns an event does not set keep their value (COALESCE with the new one). The
            // provider an unnamed carrier's code is named by defaults as `provider_named` does.
            writes.push(
                "UPDATE delivery_log SET status = $2,
                        provider = COALESCE($3, provider),
                        sent_at_ms = COALESCE($4, sent_at_ms),
                        settled_at_ms = COALESCE($5, settled_at_ms),
                        failure_code = COALESCE($6, COALESCE(provider, 'twilio') || ':' || $9, failure_code),
                        failure_reason = COALESCE($7, failure_reason),
                        version = $8
                 WHERE delivery_id = $1 AND version < $8",
                vec![
                    Value::Text(delivery_id),
                    Value::Word(update.status.as_str()),
                    Value::MaybeText(update.provider.map(|p| p.as_str().into())),
                    Value::MaybeInt(update.sent_at_ms),
                    Value::MaybeInt(update.settled_at_ms),
                    Value::MaybeText(update.failure_code),
                    Value::MaybeText(update.failure_reason),
                    Value::Int(version),
                    Value::MaybeText(update.carrier_code),
                ],
            );
        }
        inserts.flush(writes);
    }
}

/// The provider a row names (Twilio when it names none: only Twilio reports codes).
fn provider_named(name: Option<String>) -> Provider {
    name.and_then(|name| name.parse().ok())
        .unwrap_or(Provider::Twilio)
}
