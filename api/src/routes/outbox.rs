//! 送信ボックス: every patient link the clinic sent or kept, with where it stands. Where no
//! provider is configured for a channel, the outbox keeps the message for staff to read (and
//! it is listed with its text); messages handed to Twilio or SMTP are listed without it.

use crate::error::{ApiError, Problem};
use crate::extract::Staff;
use crate::state::AppState;
use crate::views::local;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, FixedOffset};
use enkaku_domain::appointment::DeliveryStatus;
use enkaku_domain::values::{Channel, Provider};
use enkaku_projections::queries;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(outbox))
}

#[derive(Serialize, ToSchema)]
pub struct OutboxMessageView {
    pub delivery_id: String,
    pub appointment_id: String,
    #[schema(schema_with = crate::openapi::channel)]
    pub channel: Channel,
    /// Null once the appointment's personal data was erased.
    pub destination: Option<String>,
    pub erased: bool,
    pub resend: bool,
    pub requested_at: DateTime<FixedOffset>,
    /// As an appointment's `delivery.status`: `kept` means the outbox kept it, nothing was
    /// sent.
    #[schema(schema_with = crate::openapi::delivery_status)]
    pub status: DeliveryStatus,
    #[schema(schema_with = crate::openapi::optional_provider)]
    pub provider: Option<Provider>,
    pub sent_at: Option<DateTime<FixedOffset>>,
    /// When the carrier's final word, a failure or an unknown outcome was recorded.
    pub settled_at: Option<DateTime<FixedOffset>>,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
    /// The e-mail's subject, for a message the outbox kept.
    pub subject: Option<String>,
    /// The message, for one the outbox kept. Holds the patient URL.
    pub body: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OutboxList {
    pub items: Vec<OutboxMessageView>,
    /// Who carries each channel now (`outbox`: kept, not sent).
    #[schema(schema_with = crate::openapi::provider)]
    pub sms_provider: Provider,
    #[schema(schema_with = crate::openapi::provider)]
    pub email_provider: Provider,
}

/// The clinic's 100 newest deliveries, newest first.
#[utoipa::path(get, path = "/api/v1/outbox", tag = "delivery", responses((status = 200, body = OutboxList), (status = 401, body = Problem)))]
async fn outbox(State(state): State<AppState>, staff: Staff) -> Result<Json<OutboxList>, ApiError> {
    let tz = state.clinic(staff.clinic_id).await?.time_zone;
    let items = queries::delivery_log(&state.db.pool, staff.clinic_id, 100)
        .await?
        .into_iter()
        .map(|d| OutboxMessageView {
            delivery_id: d.delivery_id.to_string(),
            appointment_id: d.appointment_id.to_string(),
            channel: d.channel,
            destination: d.destination,
            erased: d.erased,
            resend: d.resend,
            requested_at: local(d.requested_at, tz),
            status: d.status,
            provider: d.provider,
            sent_at: d.sent_at.map(|t| local(t, tz)),
            settled_at: d.settled_at.map(|t| local(t, tz)),
            failure_code: d.failure_code,
            failure_reason: d.failure_reason,
            subject: d.subject,
            body: d.body,
        })
        .collect();
    Ok(Json(OutboxList {
        items,
        sms_provider: state.channels.provider(Channel::Sms),
        email_provider: state.channels.provider(Channel::Email),
    }))
}
