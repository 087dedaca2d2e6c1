//! Clinic administration (SPEC §8), for the clinic's administrators only (`Admin`): the staff
//! (invite, change, deactivate, a new set-up URL) and the clinic's profile. Every change is a
//! set-up command, recorded as events with the administrator as actor; edits take `If-Match`
//! with the clinic stream's version, which every answer carries as its `ETag`.

use crate::error::{ApiError, Problem};
use crate::extract::{Admin, ApiJson, ApiPath};
use crate::state::AppState;
use crate::versioning::with_etag;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use enkaku_commands::Versioned;
use enkaku_domain::ids::StaffId;
use enkaku_domain::setup::clinic::{
    self, ChangeClinicProfile, ChangeStaff, Clinic, NewStaff, Role, StaffMember,
};
use enkaku_domain::setup::null_as_cleared;
use enkaku_domain::values::{ClinicName, EmailAddress, IanaTimeZone, PhoneNumber, StaffName};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(staff_list, invite))
        .routes(routes!(change_staff))
        .routes(routes!(new_setup_url))
        .routes(routes!(clinic_profile, change_clinic_profile))
}

/// A staff member as administrators see them.
#[derive(Serialize, ToSchema)]
pub struct AdminStaffView {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    #[schema(schema_with = crate::openapi::role)]
    pub role: Role,
    pub admin: bool,
    /// A deactivated member cannot sign in and is nobody's doctor in charge.
    pub active: bool,
    /// The clinic's version (staff are part of the clinic): what `If-Match` names.
    pub version: u64,
}

impl AdminStaffView {
    fn new(member: &StaffMember, version: u64) -> Self {
        Self {
            id: member.id.as_uuid(),
            name: member.name.to_string(),
            email: member.email.to_string(),
            role: member.role,
            admin: member.admin,
            active: member.active,
            version,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AdminStaffList {
    pub items: Vec<AdminStaffView>,
}

/// A new member of staff, with the URL where they choose their password: shown once.
#[derive(Serialize, ToSchema)]
pub struct InvitedStaffView {
    #[serde(flatten)]
    pub staff: AdminStaffView,
    pub setup_url: String,
    pub valid_until: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// 1 to 100 characters.
    pub name: String,
    /// The address they sign in with; nobody else on this server has it.
    pub email: String,
    #[schema(schema_with = crate::openapi::role)]
    pub role: Role,
    /// Administers the clinic's set-up; false when absent.
    #[serde(default)]
    pub admin: bool,
}

/// Only what is given changes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStaffRequest {
    pub name: Option<String>,
    #[schema(schema_with = crate::openapi::optional_role)]
    pub role: Option<Role>,
    pub admin: Option<bool>,
    /// `false` deactivates them and ends their sessions at once; `true` lets them back in.
    pub active: Option<bool>,
}

/// A set-up URL, shown once to the administrator who asked for it.
#[derive(Serialize, ToSchema)]
pub struct SetupUrlView {
    pub setup_url: String,
    pub valid_until: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ClinicProfileView {
    pub id: Uuid,
    pub name: String,
    /// Shown to patients with their link, for questions; null when none.
    pub phone: Option<String>,
    /// IANA time zone: the clinic's local days and hours.
    pub time_zone: String,
    /// The clinic's version: what `If-Match` names.
    pub version: u64,
}

impl ClinicProfileView {
    fn new(clinic: &Versioned<Clinic>) -> Self {
        let c = &clinic.value;
        Self {
            id: c.id.as_uuid(),
            name: c.name.to_string(),
            phone: c.phone.as_ref().map(|p| p.to_string()),
            time_zone: c.time_zone.to_string(),
            version: clinic.version,
        }
    }
}

/// Only what is given changes; `phone: null` removes the number.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeClinicRequest {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_as_cleared")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// A new time zone keeps every appointment's instant; only its local time shown moves.
    pub time_zone: Option<String>,
}

pub(crate) fn json_with_etag(
    status: StatusCode,
    body: &impl Serialize,
    version: u64,
) -> Result<Response, ApiError> {
    Ok(with_etag(
        status,
        serde_json::to_string(body).map_err(ApiError::internal)?,
        version,
    ))
}

/// `id` on the roster of the clinic `clinic` shows, as an answer.
fn member_view(clinic: &Versioned<Clinic>, id: StaffId) -> Result<AdminStaffView, ApiError> {
    let member = clinic.value.member(id).ok_or_else(ApiError::not_found)?;
    Ok(AdminStaffView::new(member, clinic.version))
}

/// Every staff member of the clinic, active or not, in the order they joined.
#[utoipa::path(get, path = "/api/v1/admin/staff", tag = "administration",
    responses((status = 200, body = AdminStaffList, headers(("ETag" = String))), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
async fn staff_list(State(state): State<AppState>, Admin(admin): Admin) -> Result<Response, ApiError> {
    let clinic = state.setup.clinic_state(admin.clinic_id).await?;
    let items = clinic
        .value
        .staff
        .iter()
        .map(|m| AdminStaffView::new(m, clinic.version))
        .collect();
    json_with_etag(StatusCode::OK, &AdminStaffList { items }, clinic.version)
}

/// Invite a member of staff. The answer carries their one-time set-up URL (valid 24 h), shown
/// only here: give it to them, and they choose a password there. An address another member
/// of any clinic on this server has → 409 `email_taken`.
#[utoipa::path(post, path = "/api/v1/admin/staff", tag = "administration",
    request_body = InviteRequest,
    responses((status = 201, body = InvitedStaffView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn invite(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    ApiJson(request): ApiJson<InviteRequest>,
) -> Result<Response, ApiError> {
    let staff = NewStaff {
        staff_id: StaffId(Uuid::now_v7()),
        name: StaffName::parse(&request.name)?,
        email: EmailAddress::parse_field("email", &request.email)?,
        role: request.role,
    };
    let (id, email) = (staff.staff_id, staff.email.clone());
    let command = clinic::Command::InviteStaff {
        staff,
        admin: request.admin,
    };
    let ctx = admin.context(&headers)?;
    let clinic = state
        .credentials
        .claiming(id, &email, state.setup.clinic(&ctx, command))
        .await?;
    state.directory_changed(admin.clinic_id, Some(id)).await?;
    let link = state.setup_links.issue(id, admin.clinic_id, Utc::now()).await?;
    tracing::info!(staff_id = %id, by = %admin.staff_id, "staff member invited");
    let body = InvitedStaffView {
        staff: member_view(&clinic, id)?,
        setup_url: format!("{}/setup/{}", state.public_url, link.token),
        valid_until: link.valid_until,
    };
    let mut response = json_with_etag(StatusCode::CREATED, &body, clinic.version)?;
    // The URL is a credential until used: no cache keeps it.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// Change a member's name, role or administrator flag, or deactivate (`active: false`) or
/// reactivate them. Deactivation ends their sessions and unused set-up links at once, on
/// every node; their appointments stay. The last active administrator cannot be demoted or
/// deactivated (409 `last_admin`). `If-Match` names the version the list showed.
#[utoipa::path(patch, path = "/api/v1/admin/staff/{id}", tag = "administration",
    request_body = ChangeStaffRequest,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = AdminStaffView, headers(("ETag" = String))), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn change_staff(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<ChangeStaffRequest>,
) -> Result<Response, ApiError> {
    let staff_id = StaffId(id);
    let change = clinic::Command::ChangeStaff(ChangeStaff {
        staff_id,
        name: request.name.as_deref().map(StaffName::parse).transpose()?,
        role: request.role,
        admin: request.admin,
    });
    let mut ctx = admin.context(&headers)?;
    let mut clinic = state.setup.clinic(&ctx, change).await?;
    // `If-Match` guards the request's first command; the second follows on its outcome.
    ctx.if_match = None;
    match request.active {
        Some(false) => {
            let command = clinic::Command::DeactivateStaff { staff_id };
            clinic = state.setup.clinic(&ctx, command).await?;
            let ended = state.credentials.end_access(staff_id, Utc::now()).await?;
            state.sessions.forget(ended);
            tracing::info!(staff_id = %staff_id, by = %admin.staff_id, "staff member deactivated");
        }
        Some(true) => {
            let command = clinic::Command::ReactivateStaff { staff_id };
            clinic = state.setup.clinic(&ctx, command).await?;
        }
        None => {}
    }
    state.directory_changed(admin.clinic_id, Some(staff_id)).await?;
    json_with_etag(StatusCode::OK, &member_view(&clinic, staff_id)?, clinic.version)
}

/// A new one-time set-up URL for a staff member of this clinic (a forgotten password): valid
/// 24 h, and the person's older links stop working. Their password and sessions stay until
/// the link is used. Another clinic's staff → 404; a deactivated member → 409
/// `staff_inactive`.
#[utoipa::path(post, path = "/api/v1/admin/staff/{id}/setup-url", tag = "administration",
    params(("id" = Uuid, Path)),
    responses((status = 201, body = SetupUrlView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn new_setup_url(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let staff = StaffId(id);
    let clinic = state.setup.clinic_state(admin.clinic_id).await?;
    let member = clinic.value.member(staff).ok_or_else(ApiError::not_found)?;
    if !member.active {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            enkaku_domain::ErrorCode::StaffInactive,
            "this staff member is deactivated: reactivate them first",
        ));
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

/// The clinic's profile: name, the phone number patients are given, time zone.
#[utoipa::path(get, path = "/api/v1/admin/clinic", tag = "administration",
    responses((status = 200, body = ClinicProfileView, headers(("ETag" = String))), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
async fn clinic_profile(State(state): State<AppState>, Admin(admin): Admin) -> Result<Response, ApiError> {
    let clinic = state.setup.clinic_state(admin.clinic_id).await?;
    json_with_etag(StatusCode::OK, &ClinicProfileView::new(&clinic), clinic.version)
}

/// Change the clinic's profile. A new time zone keeps every appointment's instant: only the
/// local time shown for it moves.
#[utoipa::path(patch, path = "/api/v1/admin/clinic", tag = "administration",
    request_body = ChangeClinicRequest,
    params(("If-Match" = Option<String>, Header)),
    responses((status = 200, body = ClinicProfileView, headers(("ETag" = String))), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn change_clinic_profile(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    ApiJson(request): ApiJson<ChangeClinicRequest>,
) -> Result<Response, ApiError> {
    let change = ChangeClinicProfile {
        name: request.name.as_deref().map(ClinicName::parse).transpose()?,
        phone: request
            .phone
            .map(|phone| phone.as_deref().map(PhoneNumber::parse).transpose())
            .transpose()?,
        time_zone: request
            .time_zone
            .as_deref()
            .map(IanaTimeZone::parse)
            .transpose()?,
    };
    let ctx = admin.context(&headers)?;
    let clinic = state
        .setup
        .clinic(&ctx, clinic::Command::ChangeClinicProfile(change))
        .await?;
    state.directory_changed(admin.clinic_id, None).await?;
    json_with_etag(StatusCode::OK, &ClinicProfileView::new(&clinic), clinic.version)
}
