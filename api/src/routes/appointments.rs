//! Appointments: both creation flows, reading, editing, sending and the call (R3–R20): the
//! requests and their handlers. Creations run once per key through `crate::idempotency`;
//! answers carry their version through `crate::versioning`.

use crate::error::{ApiError, Problem};
use crate::extract::{
    Admin, AnyStaff, ApiJson, ApiPath, AppointmentPath, Doctor, Staff, UncheckedAppointmentPath,
};
use crate::idempotency::{create_once, to_completion};
use crate::state::AppState;
use crate::versioning::respond;
use crate::views::{AppointmentView, local};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, FixedOffset, Utc};
use enkaku_commands::{NewBooking, NewVideoUrl};
use enkaku_domain::DomainError;
use enkaku_domain::ErrorCode;
use enkaku_domain::appointment::{EditVideoUrl, ErasureReason};
use enkaku_domain::envelope::RecordedEvent;
use enkaku_domain::ids::{MenuId, StaffId};
use enkaku_domain::menu::{ConsultationMode, VisitType};
use enkaku_domain::values::{Channel, ChartNumber, Memo, PatientName, Title};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_appointment))
        .routes(routes!(create_video_url))
        .routes(routes!(get_appointment, edit_appointment))
        .routes(routes!(send_url))
        .routes(routes!(resend_url))
        .routes(routes!(cancel))
        .routes(routes!(start_call))
        .routes(routes!(end_call))
        .routes(routes!(reissue_patient_url))
        .routes(routes!(erase))
        .routes(routes!(events))
        .routes(routes!(presence))
        .routes(routes!(call_link))
        .routes(routes!(check_destination))
}

// ---------------------------------------------------------------------------------------------
// Requests, parsed into domain types at the edge
// ---------------------------------------------------------------------------------------------

/// 非会員 in-clinic booking (R3).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppointmentRequest {
    pub doctor_id: Uuid,
    pub start_at: DateTime<Utc>,
    #[schema(min_length = 1, max_length = 100)]
    pub patient_name: String,
    #[schema(max_length = 32, pattern = "^[A-Za-z0-9_-]*$")]
    pub chart_number: Option<String>,
    pub menu_id: Uuid,
    #[schema(schema_with = crate::openapi::visit_type)]
    pub visit_type: VisitType,
    #[schema(schema_with = crate::openapi::mode)]
    pub mode: ConsultationMode,
    #[schema(max_length = 1000)]
    pub memo: Option<String>,
    /// Book even outside the doctor's hours that day, or on a closed day (SPEC §8): without
    /// it, such a booking gets 422 `outside_hours` for staff to confirm.
    // Left out of the request's Idempotency-Key hash when false, so keys saved before the
    // field existed still match their retries.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_outside_hours: bool,
}

/// ビデオ通話URL作成 (R8): `start_at`, or `start_now: true` for the current time.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVideoUrlRequest {
    pub doctor_id: Uuid,
    pub start_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub start_now: bool,
    #[schema(max_length = 100)]
    pub title: Option<String>,
}

/// Edit a video-URL appointment (R10). `start_at` is refused: cancel and create again.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EditRequest {
    #[schema(max_length = 100)]
    pub title: Option<String>,
    pub doctor_id: Option<Uuid>,
}

/// Where to send the patient URL (R14, R15).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendUrlRequest {
    #[schema(schema_with = crate::openapi::channel)]
    pub channel: Channel,
    pub destination: String,
}

/// A destination as send-url would store it.
#[derive(Serialize, ToSchema)]
pub struct CheckedDestination {
    #[schema(schema_with = crate::openapi::channel)]
    pub channel: Channel,
    /// Normalised: E.164 for phone numbers.
    pub destination: String,
}

/// Since when each side has had the call open; null while it has not.
#[derive(Serialize, ToSchema)]
pub struct PresenceView {
    pub clinic_since: Option<DateTime<FixedOffset>>,
    pub patient_since: Option<DateTime<FixedOffset>>,
}

#[derive(Serialize, ToSchema)]
pub struct EventList {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<RecordedEvent>,
}

fn optional<T>(
    raw: Option<&str>,
    parse: impl Fn(&str) -> Result<T, DomainError>,
) -> Result<Option<T>, DomainError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => parse(text).map(Some),
    }
}

impl CreateAppointmentRequest {
    fn parse(&self) -> Result<NewBooking, DomainError> {
        Ok(NewBooking {
            doctor_id: StaffId(self.doctor_id),
            start_at: self.start_at,
            patient_name: PatientName::parse(&self.patient_name)?,
            chart_number: optional(self.chart_number.as_deref(), ChartNumber::parse)?,
            menu_id: MenuId(self.menu_id),
            visit_type: self.visit_type,
            mode: self.mode,
            memo: optional(self.memo.as_deref(), Memo::parse)?,
            allow_outside_hours: self.allow_outside_hours,
        })
    }
}

impl CreateVideoUrlRequest {
    fn parse(&self) -> Result<NewVideoUrl, DomainError> {
        let start_at = match (self.start_at, self.start_now) {
            (Some(_), true) => {
                return Err(DomainError::invalid(
                    "start_at",
                    "give start_at or start_now, not both",
                ));
            }
            (None, false) => {
                return Err(DomainError::invalid(
                    "start_at",
                    "is required unless start_now is true",
                ));
            }
            (start_at, _) => start_at,
        };
        Ok(NewVideoUrl {
            doctor_id: StaffId(self.doctor_id),
            start_at,
            title: optional(self.title.as_deref(), Title::parse)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// CreateAppointment: 非会員 in-clinic booking (R3–R6). A booking that does not fit within
/// one opening range of the doctor's hours that day (a closed day has none) gets 422
/// `outside_hours` unless `allow_outside_hours` is true.
#[utoipa::path(post, path = "/api/v1/appointments", tag = "appointments",
    request_body = CreateAppointmentRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe creation")),
    responses((status = 201, body = AppointmentView), (status = 422, body = Problem), (status = 409, body = Problem)))]
async fn create_appointment(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateAppointmentRequest>,
) -> Result<Response, ApiError> {
    let input = request.parse()?;
    let ctx = staff.context(&headers)?;
    to_completion(async move {
        create_once(&state, &staff, &headers, &request, "/api/v1/appointments", |id| {
            state.service.create_appointment(&ctx, id, input)
        })
        .await
    })
    .await
}

/// CreateVideoUrl: ビデオ通話URL作成 (R8–R9). Never refused for the doctor's hours.
#[utoipa::path(post, path = "/api/v1/video-calls", tag = "appointments",
    request_body = CreateVideoUrlRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe creation")),
    responses((status = 201, body = AppointmentView), (status = 422, body = Problem)))]
async fn create_video_url(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateVideoUrlRequest>,
) -> Result<Response, ApiError> {
    let input = request.parse()?;
    let ctx = staff.context(&headers)?;
    to_completion(async move {
        create_once(&state, &staff, &headers, &request, "/api/v1/video-calls", |id| {
            state.service.create_video_url(&ctx, id, input)
        })
        .await
    })
    .await
}

/// One appointment, with its URLs and deliveries (R16).
#[utoipa::path(get, path = "/api/v1/appointments/{id}", tag = "appointments",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = AppointmentView, headers(("ETag" = String))), (status = 404, body = Problem)))]
async fn get_appointment(
    State(state): State<AppState>,
    staff: Staff,
    AppointmentPath(id): AppointmentPath,
) -> Result<Response, ApiError> {
    let at = state.service.get(staff.clinic_id, id).await?;
    respond(&state, StatusCode::OK, &at).await
}

/// Edit title or doctor of a video URL (R10); a start time in the body is refused.
#[utoipa::path(patch, path = "/api/v1/appointments/{id}", tag = "appointments",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    request_body = EditRequest,
    responses((status = 200, body = AppointmentView), (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn edit_appointment(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    path: UncheckedAppointmentPath,
    ApiJson(mut body): ApiJson<serde_json::Map<String, Value>>,
) -> Result<Response, ApiError> {
    let id = path.id()?;
    // Any start in the body, even the current one, is the decider's to refuse (R10).
    let requested_start = body.remove("start_at").is_some() | body.remove("start_now").is_some();
    if let Some(field) = body.keys().find(|k| !matches!(k.as_str(), "title" | "doctor_id")) {
        return Err(ApiError::invalid(
            ErrorCode::ValidationFailed,
            format!("{field}: cannot be edited"),
        ));
    }
    let request: EditRequest = serde_json::from_value(Value::Object(body))
        .map_err(|e| ApiError::invalid(ErrorCode::ValidationFailed, e.to_string()))?;
    let edit = EditVideoUrl {
        title: request.title.as_deref().map(Title::parse).transpose()?,
        doctor_id: request.doctor_id.map(StaffId),
        requested_start,
    };
    let at = state
        .service
        .edit_video_url(&staff.context(&headers)?, id, edit)
        .await?;
    respond(&state, StatusCode::OK, &at).await
}

async fn deliver(
    state: AppState,
    staff: Staff,
    headers: HeaderMap,
    path: UncheckedAppointmentPath,
    request: SendUrlRequest,
    resend: bool,
) -> Result<Response, ApiError> {
    let id = path.id()?;
    let destination = state
        .service
        .check_destination(request.channel, &request.destination)?;
    let at = state
        .service
        .send_url(&staff.context(&headers)?, id, destination, resend)
        .await?;
    respond(&state, StatusCode::ACCEPTED, &at).await
}

/// First send of the patient URL by SMS or e-mail (R14). Delivery happens in the background.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/send-url", tag = "appointments",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = SendUrlRequest,
    responses((status = 202, body = AppointmentView), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem, description = "`send_limited`: too many sends of this URL within the hour", headers(("Retry-After" = u64, description = "seconds")))))]
async fn send_url(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    path: UncheckedAppointmentPath,
    ApiJson(request): ApiJson<SendUrlRequest>,
) -> Result<Response, ApiError> {
    deliver(state, staff, headers, path, request, false).await
}

/// ResendUrl: send again, to the same or a corrected destination (R15).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/resend-url", tag = "appointments",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = SendUrlRequest,
    responses((status = 202, body = AppointmentView), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem, description = "`send_limited`: too many sends of this URL within the hour", headers(("Retry-After" = u64, description = "seconds")))))]
async fn resend_url(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    path: UncheckedAppointmentPath,
    ApiJson(request): ApiJson<SendUrlRequest>,
) -> Result<Response, ApiError> {
    deliver(state, staff, headers, path, request, true).await
}

/// CancelCall (R11): only the clinic cancels; the patient is not notified.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/cancel", tag = "appointments",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = AppointmentView), (status = 409, body = Problem)))]
async fn cancel(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    // Extracted before If-Match is read: a malformed id is not found, whatever If-Match says.
    AppointmentPath(id): AppointmentPath,
) -> Result<Response, ApiError> {
    let at = state.service.cancel(&staff.context(&headers)?, id).await?;
    respond(&state, StatusCode::OK, &at).await
}

/// PersonalDataErased (SPEC §9), administrators only: the appointment's personal data (name,
/// chart number, memo, title, where the URL went) is erased for good — its data key is
/// destroyed, the read models, the outbox and saved answers forget it — while its history
/// stays. Not during a call (409 `call_in_progress`); erasing again changes nothing.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/erase", tag = "appointments",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = AppointmentView), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn erase(
    State(state): State<AppState>,
    Admin(staff): Admin,
    headers: HeaderMap,
    // Extracted before If-Match is read: a malformed id is not found, whatever If-Match says.
    AppointmentPath(id): AppointmentPath,
) -> Result<Response, ApiError> {
    let at = state
        .service
        .erase(&staff.context(&headers)?, id, ErasureReason::Requested)
        .await?;
    state.erased(id).await?;
    respond(&state, StatusCode::OK, &at).await
}

/// CallStarted (R18): only inside the validity window and not after a cancel (else 409); only
/// doctors start calls.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/start-call", tag = "appointments",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = AppointmentView), (status = 409, body = Problem)))]
async fn start_call(
    State(state): State<AppState>,
    Doctor(staff): Doctor,
    headers: HeaderMap,
    // Extracted before If-Match is read: a malformed id is not found, whatever If-Match says.
    AppointmentPath(id): AppointmentPath,
) -> Result<Response, ApiError> {
    let at = state.service.start_call(&staff.context(&headers)?, id).await?;
    respond(&state, StatusCode::OK, &at).await
}

/// CallEnded (R20); only doctors end calls.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/end-call", tag = "appointments",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = AppointmentView), (status = 409, body = Problem)))]
async fn end_call(
    State(state): State<AppState>,
    Doctor(staff): Doctor,
    headers: HeaderMap,
    // Extracted before If-Match is read: a malformed id is not found, whatever If-Match says.
    AppointmentPath(id): AppointmentPath,
) -> Result<Response, ApiError> {
    let at = state.service.end_call(&staff.context(&headers)?, id).await?;
    respond(&state, StatusCode::OK, &at).await
}

/// 「患者用URLを再発行」: revoke the patient URL (sent to a wrong address, say) and issue a
/// new one, answered in `video.patient_url`; the old one's look-up says `revoked`. Send the
/// new one with resend-url. The clinic URL does not change. Refused (409) for in-person,
/// cancelled or ended appointments, during the call and after the validity window.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/reissue-patient-url", tag = "appointments",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = AppointmentView, headers(("ETag" = String))), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem)))]
async fn reissue_patient_url(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    path: UncheckedAppointmentPath,
) -> Result<Response, ApiError> {
    let at = state
        .service
        .reissue_patient_url(&staff.context(&headers)?, path.id()?)
        .await?;
    respond(&state, StatusCode::OK, &at).await
}

/// The appointment's event history, oldest first (auditors).
#[utoipa::path(get, path = "/api/v1/appointments/{id}/events", tag = "audit",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = EventList), (status = 404, body = Problem)))]
async fn events(
    State(state): State<AppState>,
    staff: Staff,
    AppointmentPath(id): AppointmentPath,
) -> Result<axum::Json<EventList>, ApiError> {
    let items = state.service.history(staff.clinic_id, id).await?;
    Ok(axum::Json(EventList { items }))
}

/// Who has the appointment's call open now, and since when (「患者さんが入室しました
/// (10:02〜)」). Kept apart from the appointment: joining and leaving never change its
/// version.
#[utoipa::path(get, path = "/api/v1/appointments/{id}/presence", tag = "appointments",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PresenceView), (status = 404, body = Problem)))]
async fn presence(
    State(state): State<AppState>,
    staff: Staff,
    AppointmentPath(id): AppointmentPath,
) -> Result<axum::Json<PresenceView>, ApiError> {
    let presence = state.service.presence(staff.clinic_id, id).await?;
    let tz = state.clinic(staff.clinic_id).await?.time_zone;
    Ok(axum::Json(PresenceView {
        clinic_since: presence.clinic_since.map(|at| local(at, tz)),
        patient_since: presence.patient_since.map(|at| local(at, tz)),
    }))
}

/// The appointment a clinic URL (`/call/{token}`) opens, for the call screen. Staff of the
/// appointment's clinic only: the link alone is not enough.
#[utoipa::path(get, path = "/api/v1/call-links/{token}", tag = "appointments",
    params(("token" = String, Path)),
    responses((status = 200, body = AppointmentView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn call_link(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(token): ApiPath<String>,
) -> Result<Response, ApiError> {
    let at = state.clinic_link(&staff, &token).await?;
    respond(&state, StatusCode::OK, &at).await
}

/// Check a destination exactly as send-url and resend-url will (R14): the send form enables
/// its button on 200, and on a 422 shows an error next to the field. It changes nothing, so
/// every role may ask.
#[utoipa::path(post, path = "/api/v1/destinations/check", tag = "appointments",
    request_body = SendUrlRequest,
    responses((status = 200, body = CheckedDestination), (status = 422, body = Problem)))]
async fn check_destination(
    State(state): State<AppState>,
    _staff: AnyStaff,
    ApiJson(request): ApiJson<SendUrlRequest>,
) -> Result<axum::Json<CheckedDestination>, ApiError> {
    let destination = state
        .service
        .check_destination(request.channel, &request.destination)?;
    Ok(axum::Json(CheckedDestination {
        channel: destination.channel(),
        destination: destination.address().to_owned(),
    }))
}
