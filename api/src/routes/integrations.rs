//! Integrations (docs/integrators.md): administrators issue and revoke the credentials of the
//! systems that consume the clinic's events; with one, such a system fetches the data keys of
//! the clinic's appointments, to open the personal data the events carry sealed.

use crate::error::{ApiError, Problem};
use crate::extract::{Admin, ApiJson, ApiPath, AppointmentPath};
use crate::state::AppState;
use crate::views::local;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, FixedOffset, Utc};
use enkaku_commands::CommandError;
use enkaku_commands::sealing;
use enkaku_domain::ErrorCode;
use enkaku_domain::appointment::Event;
use enkaku_domain::personal::SEAL_ALGORITHM;
use enkaku_domain::values::StaffName;
use enkaku_infra::integrations::Integration;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, issue))
        .routes(routes!(revoke))
        .routes(routes!(appointment_keys))
}

#[derive(Serialize, ToSchema)]
pub struct IntegrationView {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<FixedOffset>,
    /// When it was revoked; null while it works.
    pub revoked_at: Option<DateTime<FixedOffset>>,
}

impl IntegrationView {
    fn new(i: Integration, tz: chrono_tz::Tz) -> Self {
        Self {
            id: i.id,
            name: i.name,
            created_at: local(i.created_at, tz),
            revoked_at: i.revoked_at.map(|t| local(t, tz)),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct IntegrationList {
    pub items: Vec<IntegrationView>,
}

#[derive(Deserialize, ToSchema)]
pub struct IssueRequest {
    /// What it is for, 1 to 100 characters (「電子カルテ連携」).
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct IssuedIntegration {
    #[serde(flatten)]
    pub integration: IntegrationView,
    /// The bearer token the integrator sends. Shown this once: only its digest is kept.
    pub token: String,
}

/// The clinic's integration credentials, newest first, revoked ones included.
#[utoipa::path(get, path = "/api/v1/admin/integrations", tag = "administration",
    responses((status = 200, body = IntegrationList), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list(State(state): State<AppState>, Admin(admin): Admin) -> Result<Json<IntegrationList>, ApiError> {
    let tz = state.clinic(admin.clinic_id).await?.time_zone;
    let items = state.integrations.list(admin.clinic_id).await?;
    Ok(Json(IntegrationList {
        items: items.into_iter().map(|i| IntegrationView::new(i, tz)).collect(),
    }))
}

/// A new integration credential; its token is in this answer only.
#[utoipa::path(post, path = "/api/v1/admin/integrations", tag = "administration",
    request_body = IssueRequest,
    responses((status = 201, body = IssuedIntegration), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn issue(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(request): ApiJson<IssueRequest>,
) -> Result<impl IntoResponse, ApiError> {
    // Named like a person: the same rules as a staff member's name.
    let name = StaffName::parse(&request.name)?;
    let tz = state.clinic(admin.clinic_id).await?.time_zone;
    let (integration, token) = state
        .integrations
        .issue(admin.clinic_id, name.as_str(), admin.staff_id, Utc::now())
        .await?;
    tracing::info!(integration_id = %integration.id, by = %admin.staff_id, "integration credential issued");
    Ok((
        StatusCode::CREATED,
        // The token is a credential: no cache keeps it.
        [(header::CACHE_CONTROL, "no-store")],
        Json(IssuedIntegration {
            integration: IntegrationView::new(integration, tz),
            token,
        }),
    ))
}

/// Revoke an integration credential: from now on its token opens nothing. Another clinic's
/// → 404.
#[utoipa::path(delete, path = "/api/v1/admin/integrations/{id}", tag = "administration",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revoke(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    if !state.integrations.revoke(admin.clinic_id, id, Utc::now()).await? {
        return Err(ApiError::not_found());
    }
    tracing::info!(integration_id = %id, by = %admin.staff_id, "integration credential revoked");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct DataKeyView {
    pub key_id: Uuid,
    /// Always `XChaCha20-Poly1305`.
    pub alg: &'static str,
    /// The 32-byte key, base64 (standard alphabet, padded).
    pub key: String,
}

#[derive(Serialize, ToSchema)]
pub struct AppointmentKeys {
    pub appointment_id: Uuid,
    /// Every key the appointment's events are sealed with (one, unless some were written
    /// before sealing and sealed since).
    pub keys: Vec<DataKeyView>,
}

/// The data keys of one of the credential's clinic's appointments, for an integrator: what
/// opens the `personal` member of its events. Authenticated by an integration credential's
/// token (`Authorization: Bearer …`), not a staff session. Another clinic's appointment, or
/// none → 404; an erased one → 410 `appointment_erased`: its keys are gone for good, and what
/// the integrator holds of it must go too.
#[utoipa::path(get, path = "/api/v1/integration/appointments/{id}/keys", tag = "integration",
    security(("integration" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = AppointmentKeys), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 410, body = Problem), (status = 429, body = Problem)))]
async fn appointment_keys(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    AppointmentPath(id): AppointmentPath,
) -> Result<impl IntoResponse, ApiError> {
    state.link_limiter.check(peer, &headers)?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(ApiError::unauthorized)?;
    let clinic = state
        .integrations
        .clinic_of(token)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let stream = state
        .store
        .read_stream(&id.stream_id())
        .await
        .map_err(CommandError::from)?;
    if stream.first().is_none_or(|e| e.metadata.clinic_id != clinic) {
        return Err(ApiError::not_found());
    }
    if stream.iter().any(|e| Event::erases(&e.event_type)) {
        return Err(ApiError::new(
            StatusCode::GONE,
            ErrorCode::AppointmentErased,
            "this appointment's personal data was erased: its keys are gone, and so must be every copy of it",
        ));
    }
    let mut keys = Vec::new();
    for key_id in sealing::keys_of(&stream) {
        if let Some(key) = state.vault.export(key_id).await.map_err(CommandError::from)? {
            keys.push(DataKeyView {
                key_id,
                alg: SEAL_ALGORITHM,
                key: BASE64.encode(key),
            });
        }
    }
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(AppointmentKeys {
            appointment_id: id.as_uuid(),
            keys,
        }),
    ))
}
