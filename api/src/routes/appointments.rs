//! Appointments: both creation flows, reading, editing, sending and the call (R3–R20).

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, Staff, appointment_id};
use crate::state::AppState;
use crate::views::AppointmentView;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use enkaku_commands::capability::{Capability, LinkRole};
use enkaku_commands::{AppointmentAt, CommandContext, CommandError, NewBooking, NewVideoUrl};
use enkaku_domain::DomainError;
use enkaku_domain::appointment::EditVideoCall;
use enkaku_domain::envelope::{Actor, RecordedEvent};
use enkaku_domain::ids::{AppointmentId, MenuId, StaffId};
use enkaku_domain::menu::{ConsultationMode, VisitType};
use enkaku_domain::values::{Channel, ChartNumber, Memo, PatientName, Title};
use enkaku_infra::idempotency::{Claim, KeyOwner};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_appointment))
        .routes(routes!(create_video_call))
        .routes(routes!(get_appointment, edit_appointment))
        .routes(routes!(send_url))
        .routes(routes!(resend_url))
        .routes(routes!(cancel))
        .routes(routes!(start_call))
        .routes(routes!(end_call))
        .routes(routes!(reissue_patient_url))
        .routes(routes!(events))
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
}

/// ビデオ通話URL作成 (R8): `start_at`, or `start_now: true` for the current time.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVideoCallRequest {
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
        })
    }
}

impl CreateVideoCallRequest {
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
// Responses
// ---------------------------------------------------------------------------------------------

/// The appointment's JSON, with times in its clinic's time zone.
async fn body_of(state: &AppState, at: &AppointmentAt) -> Result<String, ApiError> {
    let clinic = state.clinic(at.appointment.clinic_id).await?;
    let view = AppointmentView::new(at, clinic.time_zone, &state.links, &state.public_url);
    serde_json::to_string(&view).map_err(ApiError::internal)
}

/// An appointment with its `ETag: "<version>"`.
async fn respond(state: &AppState, status: StatusCode, at: &AppointmentAt) -> Result<Response, ApiError> {
    Ok(with_etag(status, body_of(state, at).await?, at.version))
}

fn with_etag(status: StatusCode, body: String, version: u64) -> Response {
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// `If-Match: "<version>"` → that version; `*` or no header → none. Another entity tag
/// cannot match a version, so it fails as a stale one would (412); a value that is not an
/// entity tag at all is a malformed request (400).
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    let (weak, tag) = match text.strip_prefix("W/") {
        Some(tag) => (true, tag),
        None => (false, text),
    };
    // RFC 9110 §8.8.3: an entity tag is an opaque string in double quotes.
    let opaque = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|t| t.bytes().all(|b| b == 0x21 || (0x23..=0x7e).contains(&b)))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_if_match",
                "If-Match must be * or one entity tag, such as \"3\"",
            )
        })?;
    // If-Match compares strongly (RFC 9110 §13.1.1): a weak tag never matches, nor does a
    // tag that is not a number. Both become version 0, the version of no appointment, so
    // the service answers 412 once it has found the appointment (and 404 when it has not).
    Ok(Some(if weak { 0 } else { opaque.parse().unwrap_or(0) }))
}

fn context(staff: &Staff, headers: &HeaderMap) -> Result<CommandContext, ApiError> {
    Ok(CommandContext {
        clinic_id: staff.clinic_id,
        actor: Actor::Staff(staff.staff_id),
        correlation_id: staff.request_id,
        causation_id: staff.request_id,
        client_request_id: staff.client_request_id.clone(),
        if_match: if_match(headers)?,
    })
}

// ---------------------------------------------------------------------------------------------
// Idempotent creation
// ---------------------------------------------------------------------------------------------

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Run a creation once per `Idempotency-Key` (IETF draft): a retry with the same key and
/// body gets the first answer and appends nothing; a different body gets 422; a retry while
/// the first still runs gets 409.
async fn create_once<F, Fut>(
    state: &AppState,
    staff: &Staff,
    headers: &HeaderMap,
    request: &impl Serialize,
    path: &str,
    create: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(AppointmentId) -> Fut,
    Fut: Future<Output = Result<AppointmentAt, CommandError>>,
{
    let fresh_id = AppointmentId(state.service.new_id());
    let Some(key) = headers.get(IDEMPOTENCY_KEY) else {
        let at = create(fresh_id).await?;
        return respond(state, StatusCode::CREATED, &at).await;
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
        })?;
    let request_hash = request_hash(path, request)?;
    let now = state.service.now();
    // A key is one staff member's: a colleague's equal key is another request.
    let owner = KeyOwner {
        clinic: staff.clinic_id,
        staff: staff.staff_id,
    };
    let claim = state
        .idempotency
        .claim(owner, key, &request_hash, fresh_id, now)
        .await?;
    let (id, resumed) = match claim {
        Claim::Fresh(id) => (id, false),
        Claim::Resume(id) => (id, true),
        Claim::Replay { id, status, body } => {
            let (body, version) = replayed_answer(state, id, &body)?;
            return Ok(with_etag(
                StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED),
                body,
                version,
            ));
        }
        Claim::InProgress => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still being processed",
            ));
        }
        Claim::Mismatch => {
            return Err(ApiError::invalid(
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            ));
        }
    };
    let outcome = match create(id).await {
        // The first attempt got as far as the append before it died: that is our result.
        Err(CommandError::Rejected(DomainError::AlreadyExists)) if resumed => {
            state.service.get(staff.clinic_id, id).await
        }
        other => other,
    };
    match outcome {
        Ok(at) => {
            let body = body_of(state, &at).await?;
            state
                .idempotency
                .complete(owner, key, 201, &saved_answer(&body)?)
                .await?;
            Ok(with_etag(StatusCode::CREATED, body, at.version))
        }
        Err(e) => {
            state.idempotency.release(owner, key).await?;
            Err(e.into())
        }
    }
}

/// The capability URLs of an appointment's JSON, which a saved answer must not hold: they
/// would sit in the database in plaintext for a day, opening the call to whoever reads it.
const CAPABILITY_FIELDS: [(&str, LinkRole); 2] = [
    ("clinic_url", LinkRole::Clinic),
    ("patient_url", LinkRole::Patient),
];

/// The answer to save with an Idempotency-Key: the created appointment without its URLs.
fn saved_answer(body: &str) -> Result<String, ApiError> {
    let mut answer: Value = serde_json::from_str(body).map_err(ApiError::internal)?;
    if let Some(video) = answer.get_mut("video").and_then(Value::as_object_mut) {
        for (field, _) in CAPABILITY_FIELDS {
            video.remove(field);
        }
    }
    serde_json::to_string(&answer).map_err(ApiError::internal)
}

/// A saved answer with its URLs derived again, as they were first given (a created
/// appointment's patient URL is always of generation 0), and the version for its ETag.
fn replayed_answer(state: &AppState, id: AppointmentId, saved: &str) -> Result<(String, u64), ApiError> {
    let mut answer: Value = serde_json::from_str(saved).map_err(ApiError::internal)?;
    let version = answer.get("version").and_then(Value::as_u64).unwrap_or(0);
    if let Some(video) = answer.get_mut("video").and_then(Value::as_object_mut) {
        for (field, role) in CAPABILITY_FIELDS {
            video.insert(
                field.into(),
                state.links.url(&state.public_url, role, id, 0).into(),
            );
        }
    }
    Ok((
        serde_json::to_string(&answer).map_err(ApiError::internal)?,
        version,
    ))
}

/// What makes two requests "the same" for an Idempotency-Key: the path and the parsed body.
pub fn request_hash(path: &str, request: &impl Serialize) -> Result<String, ApiError> {
    let mut hasher = Sha256::new();
    hasher.update(path.as_bytes());
    hasher.update(serde_json::to_vec(request).map_err(ApiError::internal)?);
    Ok(hex::encode(hasher.finalize()))
}

/// Run a creation in a task of its own, so it finishes (and completes or releases its
/// Idempotency-Key claim) even when the client goes away or the request times out; otherwise
/// a retry would find the key locked with nothing running.
async fn to_completion(
    work: impl Future<Output = Result<Response, ApiError>> + Send + 'static,
) -> Result<Response, ApiError> {
    tokio::spawn(work).await.map_err(ApiError::internal)?
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// CreateAppointment: 非会員 in-clinic booking (R3–R6).
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
    let ctx = context(&staff, &headers)?;
    to_completion(async move {
        create_once(&state, &staff, &headers, &request, "/api/v1/appointments", |id| {
            state.service.create_appointment(&ctx, id, input)
        })
        .await
    })
    .await
}

/// CreateVideoUrl: ビデオ通話URL作成 (R8–R9).
#[utoipa::path(post, path = "/api/v1/video-calls", tag = "appointments",
    request_body = CreateVideoCallRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe creation")),
    responses((status = 201, body = AppointmentView), (status = 422, body = Problem)))]
async fn create_video_call(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateVideoCallRequest>,
) -> Result<Response, ApiError> {
    let input = request.parse()?;
    let ctx = context(&staff, &headers)?;
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
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let at = state.service.get(staff.clinic_id, appointment_id(&id)?).await?;
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
    ApiPath(id): ApiPath<String>,
    ApiJson(mut body): ApiJson<serde_json::Map<String, Value>>,
) -> Result<Response, ApiError> {
    let id = appointment_id(&id)?;
    // Any start in the body, even the current one, is the decider's to refuse (R10).
    let requested_start = body.remove("start_at").is_some() | body.remove("start_now").is_some();
    if let Some(field) = body.keys().find(|k| !matches!(k.as_str(), "title" | "doctor_id")) {
        return Err(ApiError::invalid(
            "validation_failed",
            format!("{field}: cannot be edited"),
        ));
    }
    let request: EditRequest = serde_json::from_value(Value::Object(body))
        .map_err(|e| ApiError::invalid("validation_failed", e.to_string()))?;
    let edit = EditVideoCall {
        title: request.title.as_deref().map(Title::parse).transpose()?,
        doctor_id: request.doctor_id.map(StaffId),
        requested_start,
    };
    let at = state
        .service
        .edit_video_call(&context(&staff, &headers)?, id, edit)
        .await?;
    respond(&state, StatusCode::OK, &at).await
}

async fn deliver(
    state: AppState,
    staff: Staff,
    headers: HeaderMap,
    id: String,
    request: SendUrlRequest,
    resend: bool,
) -> Result<Response, ApiError> {
    let id = appointment_id(&id)?;
    let destination = state
        .service
        .check_destination(request.channel, &request.destination)?;
    let at = state
        .service
        .send_url(&context(&staff, &headers)?, id, destination, resend)
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
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<SendUrlRequest>,
) -> Result<Response, ApiError> {
    deliver(state, staff, headers, id, request, false).await
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
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<SendUrlRequest>,
) -> Result<Response, ApiError> {
    deliver(state, staff, headers, id, request, true).await
}

/// CancelCall (R11): only the clinic cancels; the patient is not notified.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/cancel", tag = "appointments",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = AppointmentView), (status = 409, body = Problem)))]
async fn cancel(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    // An unknown id is not found, whatever If-Match says.
    let id = appointment_id(&id)?;
    let at = state.service.cancel(&context(&staff, &headers)?, id).await?;
    respond(&state, StatusCode::OK, &at).await
}

/// CallStarted (R18): only inside the validity window and not after a cancel (else 409).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/start-call", tag = "appointments",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = AppointmentView), (status = 409, body = Problem)))]
async fn start_call(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    // An unknown id is not found, whatever If-Match says.
    let id = appointment_id(&id)?;
    let at = state.service.start_call(&context(&staff, &headers)?, id).await?;
    respond(&state, StatusCode::OK, &at).await
}

/// CallEnded (R20).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/end-call", tag = "appointments",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = AppointmentView), (status = 409, body = Problem)))]
async fn end_call(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    // An unknown id is not found, whatever If-Match says.
    let id = appointment_id(&id)?;
    let at = state.service.end_call(&context(&staff, &headers)?, id).await?;
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
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let at = state
        .service
        .reissue_patient_url(&context(&staff, &headers)?, appointment_id(&id)?)
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
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<EventList>, ApiError> {
    let items = state
        .service
        .history(staff.clinic_id, appointment_id(&id)?)
        .await?;
    Ok(axum::Json(EventList { items }))
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
    let Some(Capability {
        role: LinkRole::Clinic,
        id,
        ..
    }) = state.links.verify(&token)
    else {
        return Err(ApiError::not_found());
    };
    let at = state.service.get(staff.clinic_id, id).await?;
    respond(&state, StatusCode::OK, &at).await
}

/// Check a destination exactly as send-url and resend-url will (R14): the send form enables
/// its button on 200, and on a 422 shows an error next to the field.
#[utoipa::path(post, path = "/api/v1/destinations/check", tag = "appointments",
    request_body = SendUrlRequest,
    responses((status = 200, body = CheckedDestination), (status = 422, body = Problem)))]
async fn check_destination(
    State(state): State<AppState>,
    _staff: Staff,
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
