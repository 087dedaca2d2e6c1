//! The embedded default's outbox: the SMS and e-mails the clinic "sent", for
//! staff to read when no real channel is configured.

use crate::error::{ApiError, Problem};
use crate::extract::Staff;
use crate::state::AppState;
use crate::views::local;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, FixedOffset};
use enkaku_domain::values::Channel;
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
    pub destination: String,
    pub subject: String,
    /// Holds the patient URL.
    pub body: String,
    pub created_at: DateTime<FixedOffset>,
}

#[derive(Serialize, ToSchema)]
pub struct OutboxList {
    pub items: Vec<OutboxMessageView>,
}

/// The clinic's 100 newest outbox messages.
#[utoipa::path(get, path = "/api/v1/outbox", tag = "delivery", responses((status = 200, body = OutboxList), (status = 401, body = Problem)))]
async fn outbox(State(state): State<AppState>, staff: Staff) -> Result<Json<OutboxList>, ApiError> {
    let tz = state.clinic(staff.clinic_id).await?.time_zone;
    let items = state
        .outbox
        .list(staff.clinic_id, 100)
        .await?
        .into_iter()
        .map(|m| OutboxMessageView {
            created_at: local(m.created_at, tz),
            delivery_id: m.delivery_id,
            appointment_id: m.appointment_id,
            channel: m.channel,
            destination: m.destination,
            subject: m.subject,
            body: m.body,
        })
        .collect();
    Ok(Json(OutboxList { items }))
}
