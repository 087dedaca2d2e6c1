//! Providers calling back: Twilio's status callback for the SMS it was handed.
//!
//! No login: the request is Twilio's if `X-Twilio-Signature` is the HMAC of the URL and the
//! form with the account's auth token; anything else gets 403 and changes nothing. The URL
//! names the delivery (`?clinic=…&appointment=…&delivery=…`, set when the message was sent),
//! so nothing is looked up before the signature is checked. Per-address rate limits and a
//! small body limit bound what an unsigned flood costs.

use crate::error::{ApiError, Problem};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use enkaku_commands::CommandContext;
use enkaku_domain::ErrorCode;
use enkaku_domain::appointment::{CarrierReport, CarrierStatus};
use enkaku_domain::envelope::Actor;
use enkaku_domain::ids::{AppointmentId, ClinicId, DeliveryId};
use enkaku_domain::values::Provider;
use serde::Deserialize;
use std::net::SocketAddr;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The path Twilio is given as `StatusCallback` (under the public URL).
pub const TWILIO_STATUS_PATH: &str = "/webhooks/twilio/status";

/// A status callback's form is a dozen short fields: anything much larger is not one.
pub const WEBHOOK_BODY_LIMIT: usize = 16 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(twilio_status))
}

/// Which delivery a callback is about: set by enkaku in the callback URL it gave Twilio.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackTarget {
    clinic: Uuid,
    appointment: Uuid,
    delivery: Uuid,
}

fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::InvalidSignature,
        "the request is not signed by the SMS provider",
    )
}

/// The carrier's final word from `MessageStatus`; other statuses (queued, sent, …) are
/// steps on the way and change nothing.
fn final_status(status: &str) -> Option<CarrierStatus> {
    match status {
        "delivered" => Some(CarrierStatus::Delivered),
        "undelivered" => Some(CarrierStatus::Undelivered),
        "failed" => Some(CarrierStatus::Failed),
        _ => None,
    }
}

/// Twilio's status callback: a signed form with `MessageSid`, `MessageStatus` and, for a
/// failure, `ErrorCode`. `delivered`, `undelivered` and `failed` are recorded for the
/// delivery (staff see 「配信済み」 or 「配信失敗」); other statuses are acknowledged and
/// ignored. Without a signature 403; with one, 404 while the callback is off (no auth token
/// configured).
#[utoipa::path(post, path = "/webhooks/twilio/status", security(()), tag = "delivery",
    params(CallbackTarget, ("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the URL and form")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 204, description = "Recorded, or nothing to record"), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 413, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
async fn twilio_status(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    // Unsigned is refused before anything else, whether or not callbacks are on.
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(forbidden)?;
    let Some(auth_token) = state.twilio_auth_token.as_deref() else {
        return Err(ApiError::not_found());
    };
    state.webhook_limiter.check(peer, &headers)?;
    if body.len() > WEBHOOK_BODY_LIMIT {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BodyTooLarge,
            "a status callback is far smaller",
        ));
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| forbidden())?;
    let query = query.unwrap_or_default();
    let url = if query.is_empty() {
        format!("{}{TWILIO_STATUS_PATH}", state.public_url)
    } else {
        format!("{}{TWILIO_STATUS_PATH}?{query}", state.public_url)
    };
    if !enkaku_infra::twilio::signature_matches(auth_token, &url, &form, signature) {
        return Err(forbidden());
    }
    let target: CallbackTarget = serde_urlencoded::from_str(&query).map_err(|_| {
        ApiError::invalid(
            ErrorCode::ValidationFailed,
            "the callback URL does not name a delivery",
        )
    })?;
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let Some(status) = field("MessageStatus").and_then(final_status) else {
        return Ok(StatusCode::NO_CONTENT);
    };
    let message_sid = field("MessageSid")
        .filter(|sid| !sid.is_empty() && sid.len() <= 64)
        .ok_or_else(|| ApiError::invalid(ErrorCode::ValidationFailed, "MessageSid is missing"))?;
    // Twilio's error codes are numbers; anything else is not quoted into the log of events.
    let error_code = field("ErrorCode")
        .filter(|code| !code.is_empty() && code.len() <= 10 && code.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned);
    // The server's own request id (the client's was set aside before this runs).
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(Uuid::now_v7);
    let ctx = CommandContext {
        clinic_id: ClinicId(target.clinic),
        actor: Actor::System,
        correlation_id: request_id,
        causation_id: request_id,
        client_request_id: None,
        if_match: None,
    };
    let report = CarrierReport {
        delivery_id: DeliveryId(target.delivery),
        provider: Provider::Twilio,
        provider_message_id: message_sid.to_owned(),
        status,
        error_code,
        at: state.service.now(),
    };
    state
        .service
        .record_carrier_status(&ctx, AppointmentId(target.appointment), report)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
