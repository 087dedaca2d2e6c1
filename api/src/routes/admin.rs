//! Clinic administration (SPEC §8), for the clinic's administrators only (`Admin`): so far, a
//! new one-time set-up URL for a staff member who forgot their password. The rest of the
//! `/api/v1/admin/…` surface follows with the event-sourced set-up.

use crate::error::{ApiError, Problem};
use crate::extract::{Admin, ApiPath};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use enkaku_domain::ids::StaffId;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(new_setup_url))
}

/// A set-up URL, shown once to the administrator who asked for it.
#[derive(Serialize, ToSchema)]
pub struct SetupUrlView {
    pub setup_url: String,
    pub valid_until: DateTime<Utc>,
}

/// A new one-time set-up URL for a staff member of this clinic (a forgotten password): valid
/// 24 h, and the person's older links stop working. Their password and sessions stay until
/// the link is used. Another clinic's staff → 404.
#[utoipa::path(post, path = "/api/v1/admin/staff/{id}/setup-url", tag = "administration",
    params(("id" = Uuid, Path)),
    responses((status = 201, body = SetupUrlView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn new_setup_url(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let staff = StaffId(id);
    let record = state.directory.staff(staff).await?;
    if record.is_none_or(|r| r.clinic_id != admin.clinic_id) {
        return Err(ApiError::not_found());
    }
    let link = state
        .setup_links
        .issue(staff, admin.clinic_id, Utc::now())
        .await?;
    tracing::info!(staff_id = %staff, by = %admin.staff_id, "set-up link issued");
    Ok((
        StatusCode::CREATED,
        // The URL is a credential until used: no cache keeps it.
        [(header::CACHE_CONTROL, "no-store")],
        Json(SetupUrlView {
            setup_url: format!("{}/setup/{}", state.public_url, link.token),
            valid_until: link.valid_until,
        }),
    ))
}
