//! Staff login, logout and "who am I".

use crate::access::Identified;
use crate::error::{ApiError, Problem};
use crate::extract::{AnySession, AnyStaff, ApiJson, CSRF_COOKIE, SESSION_COOKIE, Staff};
use crate::routes::two_factor::{self, TwoFactorView};
use crate::state::AppState;
use axum::Json;
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use enkaku_domain::ErrorCode;
use enkaku_infra::directory::Role;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// No control characters (what `char::is_control` refuses: C0, DEL, C1).
    #[schema(max_length = 254, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub email: String,
    /// No control characters, like `email`.
    #[schema(max_length = 1024, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub password: String,
    /// For a person who enrolled in two-factor sign-in: the 6-digit code their authenticator
    /// app shows, or one of their recovery codes. Without it, a right password gets 401
    /// `two_factor_required`.
    #[serde(default)]
    #[schema(max_length = 64, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub code: Option<String>,
}

impl LoginRequest {
    /// Bounded, and free of control characters: the address is looked up in the database
    /// (PostgreSQL text cannot hold NUL) and the password is hashed at a cost per byte.
    fn validate(&self) -> Result<(), ApiError> {
        let check = |field: &'static str, value: &str, max_chars: usize| {
            let reason = if value.chars().count() > max_chars {
                format!("must be at most {max_chars} characters")
            } else if value.chars().any(char::is_control) {
                "must not contain control characters".to_owned()
            } else {
                return Ok(());
            };
            Err(
                ApiError::invalid(ErrorCode::ValidationFailed, format!("{field} {reason}"))
                    .on_field(Some(field)),
            )
        };
        check("email", &self.email, 254)?;
        check("password", &self.password, 1024)?;
        self.code
            .as_deref()
            .map_or(Ok(()), |code| check("code", code, 64))
    }
}

#[derive(Serialize, ToSchema)]
pub struct StaffView {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    #[schema(schema_with = crate::openapi::role)]
    pub role: Role,
    /// Administers the clinic's set-up (SPEC §8), whatever the role.
    pub admin: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ClinicView {
    pub id: Uuid,
    pub name: String,
    pub time_zone: String,
    /// The phone number patients are given for questions.
    pub phone: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for `Authorization: Bearer …`; also set as an HttpOnly cookie.
    pub token: String,
    /// Echo in `X-CSRF-Token` on changes authenticated by the cookie.
    pub csrf_token: String,
    pub staff: StaffView,
    pub clinic: ClinicView,
}

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub staff: StaffView,
    pub clinic: ClinicView,
    pub two_factor: TwoFactorView,
}

async fn who(
    state: &AppState,
    staff_id: enkaku_domain::ids::StaffId,
) -> Result<(StaffView, ClinicView), ApiError> {
    let record = state
        .directory
        .staff(staff_id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let clinic = state.clinic(record.clinic_id).await?;
    Ok((
        StaffView {
            id: record.id.as_uuid(),
            name: record.name,
            email: record.email,
            role: record.role,
            admin: record.admin,
        },
        ClinicView {
            id: clinic.id.as_uuid(),
            name: clinic.name,
            time_zone: clinic.time_zone.name().to_owned(),
            phone: clinic.phone,
        },
    ))
}

/// Staff login; rate-limited per client address, overall and per account (a device that
/// signed in before is exempt from other people's failures), with bounded password checks.
/// A person who enrolled in two-factor sign-in also gives a `code`; a wrong one counts as a
/// failed login. See docs/security.md, "Login" and "Two-factor sign-in".
#[utoipa::path(post, path = "/api/v1/login", security(()), tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse),
        (status = 401, body = Problem, description = "`invalid_credentials` (e-mail address or password), `two_factor_required` (the password was right; send it again with `code`) or `invalid_two_factor_code`"),
        (status = 422, body = Problem),
        (status = 429, body = Problem, description = "`rate_limited` (this address), `too_many_logins` (the whole server) or `too_many_failures` (this e-mail address); `Retry-After` says when to come back"),
        (status = 503, body = Problem, description = "`busy`: too many password checks at once; `Retry-After` says when to come back")))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    Extension(identified): Extension<Identified>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    request.validate()?;
    let admitted = state.login.admit(peer, &headers, &jar, &request.email)?;
    let bad = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidCredentials,
            "e-mail address or password is wrong",
        )
    };
    // A deactivated member is refused like a wrong password, after the same work.
    let record = state
        .directory
        .staff_by_email(&request.email)
        .await?
        .filter(|r| r.active);
    // Every attempt past the limits is in the access log, under the address's keyed hash.
    identified.sign_in(
        state.access.subject_hmac(&request.email),
        record.as_ref().map(|r| (r.clinic_id, r.id)),
    );
    let hash = record.as_ref().map(|r| r.password_hash.clone());
    let ok = state.login.checks.verify(request.password, hash).await?;
    let Some(record) = record.filter(|_| ok) else {
        return Err(bad());
    };
    // Only now, with the password right: a wrong one never tells whether the person enrolled.
    let enrolment_only =
        two_factor::second_factor(&state, record.id, record.clinic_id, request.code.as_deref()).await?;
    let jar = state.login.succeeded(admitted, jar, state.secure_cookies);
    let session = state
        .sessions
        .issue_scoped(record.id, record.clinic_id, state.service.now(), enrolment_only)
        .await?;
    let (staff, clinic) = who(&state, record.id).await?;
    // Browser-session cookies: they end when the browser closes (shared clinic PCs), and the
    // server ends the session after its TTL in any case.
    let session_cookie = Cookie::build((SESSION_COOKIE, session.token.clone()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.secure_cookies)
        .path("/")
        .build();
    let csrf_cookie = Cookie::build((CSRF_COOKIE, session.csrf_token.clone()))
        .http_only(false)
        .same_site(SameSite::Strict)
        .secure(state.secure_cookies)
        .path("/")
        .build();
    tracing::info!(staff_id = %record.id, clinic_id = %record.clinic_id, enrolment_only, "staff logged in");
    Ok((
        jar.add(session_cookie).add(csrf_cookie),
        Json(LoginResponse {
            token: session.token,
            csrf_token: session.csrf_token,
            staff,
            clinic,
        }),
    ))
}

/// End the session (every role may).
#[utoipa::path(post, path = "/api/v1/logout", tag = "auth", responses((status = 204), (status = 401, body = Problem)))]
async fn logout(
    State(state): State<AppState>,
    _staff: AnySession,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<impl IntoResponse, ApiError> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(token) = bearer.or(jar.get(SESSION_COOKIE).map(|c| c.value())) {
        state.sessions.revoke(token.trim()).await?;
    }
    let jar = jar
        .remove(Cookie::build(SESSION_COOKIE).path("/"))
        .remove(Cookie::build(CSRF_COOKIE).path("/"));
    Ok((jar, StatusCode::NO_CONTENT))
}

/// The logged-in staff member (with their `role` and `admin` flag), their clinic, and whether
/// they enrolled in two-factor sign-in and the clinic requires it (then a person not enrolled
/// is sent to enrol: their session may do nothing else).
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, body = MeResponse), (status = 401, body = Problem)))]
async fn me(
    State(state): State<AppState>,
    AnySession(staff): AnySession,
) -> Result<Json<MeResponse>, ApiError> {
    let two_factor = two_factor::status(&state, staff.staff_id, staff.clinic_id).await?;
    let (staff, clinic) = who(&state, staff.staff_id).await?;
    Ok(Json(MeResponse {
        staff,
        clinic,
        two_factor,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    /// The password used now.
    #[schema(max_length = 1024)]
    pub current_password: String,
    /// 10 to 256 characters.
    #[schema(min_length = 10, max_length = 256)]
    pub new_password: String,
}

/// Change one's own password (every role may): the current one is required, and a wrong one
/// counts against the account's login-failure budget. The person's other sessions end; this
/// one stays. 204; wrong current password → 403 `invalid_credentials`.
#[utoipa::path(post, path = "/api/v1/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem, description = "`rate_limited` or `too_many_failures`; `Retry-After` says when to come back"),
        (status = 503, body = Problem, description = "`busy`: too many password checks at once")))]
async fn change_password(
    State(state): State<AppState>,
    AnyStaff(staff): AnyStaff,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(request): ApiJson<PasswordChange>,
) -> Result<impl IntoResponse, ApiError> {
    check_current_password_length(&request.current_password)?;
    crate::routes::setup_links::check_new_password("new_password", &request.new_password)?;
    let jar = check_current_password(
        &state,
        &staff,
        Caller {
            peer,
            headers: &headers,
            jar,
        },
        request.current_password,
    )
    .await?;
    let hash = state.login.checks.hash(request.new_password).await?;
    let ended = state
        .directory
        .change_password(staff.staff_id, &hash, staff.session.digest())
        .await?;
    state.sessions.forget(ended);
    tracing::info!(staff_id = %staff.staff_id, "staff changed their password");
    Ok((jar, StatusCode::NO_CONTENT))
}

/// Where a request that re-checks a password comes from: what login's limits look at.
pub(crate) struct Caller<'a> {
    pub peer: SocketAddr,
    pub headers: &'a HeaderMap,
    pub jar: CookieJar,
}

/// Check the signed-in person's current password before a change that needs it (a new
/// password, turning two-factor sign-in off, replacing it): the same limits and failure
/// budget as a login, so a stolen session cannot guess it. A wrong one is 403
/// `invalid_credentials` on `current_password`. Returns the jar with the device cookie of a
/// successful check.
pub(crate) async fn check_current_password(
    state: &AppState,
    staff: &Staff,
    caller: Caller<'_>,
    password: String,
) -> Result<CookieJar, ApiError> {
    check_current_password_length(&password)?;
    let record = state
        .directory
        .staff(staff.staff_id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let admitted = state
        .login
        .admit(caller.peer, caller.headers, &caller.jar, &record.email)?;
    // Fresh, not the directory's cached copy: the hash may have changed a moment ago.
    let current = state
        .directory
        .staff_by_email(&record.email)
        .await?
        .map(|r| r.password_hash);
    if !state.login.checks.verify(password, current).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::InvalidCredentials,
            "the current password is wrong",
        )
        .on_field(Some("current_password")));
    }
    Ok(state.login.succeeded(admitted, caller.jar, state.secure_cookies))
}

/// A `current_password` is hashed at a cost per byte: at most 1024 characters.
pub(crate) fn check_current_password_length(password: &str) -> Result<(), ApiError> {
    if password.chars().count() > 1024 {
        return Err(ApiError::invalid(
            ErrorCode::ValidationFailed,
            "current_password: must be at most 1024 characters",
        )
        .on_field(Some("current_password")));
    }
    Ok(())
}
