//! Extractors that turn a request into what handlers need, failing as `problem+json`:
//! the JSON body, the path and an appointment's id in it, the query, and the authenticated
//! staff member with what their role allows (SPEC §8).

use crate::access::Identified;
use crate::error::ApiError;
use crate::state::AppState;
use crate::versioning::if_match;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum_extra::extract::CookieJar;
use enkaku_commands::CommandContext;
use enkaku_domain::ErrorCode;
use enkaku_domain::envelope::Actor;
use enkaku_domain::ids::{AppointmentId, ClinicId, StaffId};
use enkaku_infra::directory::Role;
use enkaku_infra::sessions::SessionKey;
use uuid::Uuid;

/// `axum::Json` whose rejections are problems.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Query` whose rejections are problems.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `axum::extract::Path` whose rejections are 404s.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

pub const SESSION_COOKIE: &str = "enkaku_session";
pub const CSRF_COOKIE: &str = "enkaku_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A logged-in staff member. Taking it as an argument is what makes a handler
/// authenticated; its `clinic_id` is the only tenant the handler may touch (R1).
///
/// It is also where an auditor is stopped (SPEC §8: reads everything, changes nothing): on any
/// method but GET, HEAD and OPTIONS an auditor gets 403 `forbidden` before the handler runs,
/// so no change can forget the check. The few POSTs that change nothing take [`AnyStaff`].
#[derive(Clone, Debug)]
pub struct Staff {
    pub staff_id: StaffId,
    pub clinic_id: ClinicId,
    pub role: Role,
    /// Administers the clinic's set-up (SPEC §8).
    pub admin: bool,
    /// The session the request came with, so what outlives the request can end with it.
    pub session: SessionKey,
    /// The server's id for the request, reused as the correlation id of the events it causes.
    pub request_id: Uuid,
    /// The client's own `X-Request-Id`, sanitised (see [`ClientRequestId`]).
    pub client_request_id: Option<String>,
    /// The request's access-log record: a handler that finds the appointment through a
    /// token rather than the path names it here.
    pub identified: Identified,
}

impl Staff {
    /// The context this person's command runs in: who acts, the request's ids, and the
    /// version `If-Match` expects.
    pub fn context(&self, headers: &HeaderMap) -> Result<CommandContext, ApiError> {
        Ok(CommandContext {
            clinic_id: self.clinic_id,
            actor: Actor::Staff(self.staff_id),
            correlation_id: self.request_id,
            causation_id: self.request_id,
            client_request_id: self.client_request_id.clone(),
            if_match: if_match(headers)?,
        })
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let staff = authenticate(parts, state).await?;
        if staff.role == Role::Auditor && !is_safe(&parts.method) {
            return Err(ApiError::forbidden("an auditor reads and changes nothing"));
        }
        Ok(staff)
    }
}

/// A logged-in staff member of any role, also on a POST: for the requests that change nothing
/// although they are not GETs (a search, a destination check), and for one's own password.
pub struct AnyStaff(pub Staff);

impl FromRequestParts<AppState> for AnyStaff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await.map(Self)
    }
}

/// A logged-in staff member of any role, in any session: also one that may only enrol the
/// second factor the clinic requires. For what such a session may do: say who it is, log out,
/// and enrol.
pub struct AnySession(pub Staff);

impl FromRequestParts<AppState> for AnySession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate_session(parts, state)
            .await
            .map(|(staff, _)| Self(staff))
    }
}

/// A logged-in doctor: only doctors start and end calls, and only they take the clinic's side
/// of one (SPEC §8). Anyone else gets 403 `forbidden`.
pub struct Doctor(pub Staff);

impl FromRequestParts<AppState> for Doctor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let staff = Staff::from_request_parts(parts, state).await?;
        if staff.role != Role::Doctor {
            return Err(ApiError::forbidden("only doctors start, join and end calls"));
        }
        Ok(Self(staff))
    }
}

/// A logged-in administrator of the clinic: only they use `/api/v1/admin/…` (SPEC §8).
/// Anyone else gets 403 `forbidden`.
pub struct Admin(pub Staff);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let staff = Staff::from_request_parts(parts, state).await?;
        if !staff.admin {
            return Err(ApiError::forbidden(
                "only the clinic's administrators may do this",
            ));
        }
        Ok(Self(staff))
    }
}

/// The staff member the request's session (bearer token or cookie) belongs to, whatever their
/// role; a session that may only enrol its second factor gets 403
/// `two_factor_enrolment_required`.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Staff, ApiError> {
    match authenticate_session(parts, state).await? {
        (_, true) => Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            ErrorCode::TwoFactorEnrolmentRequired,
            "the clinic requires two-factor sign-in: enrol first",
        )),
        (staff, false) => Ok(staff),
    }
}

/// The staff member the request's session belongs to, whatever their role, and whether the
/// session may only enrol its second factor; a cookie-authenticated change must also carry
/// the CSRF token.
async fn authenticate_session(parts: &Parts, state: &AppState) -> Result<(Staff, bool), ApiError> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_owned);
    let jar = CookieJar::from_headers(&parts.headers);
    let (token, via_cookie) = match (bearer, jar.get(SESSION_COOKIE)) {
        (Some(token), _) => (token, false),
        (None, Some(cookie)) => (cookie.value().to_owned(), true),
        (None, None) => return Err(ApiError::unauthorized()),
    };
    let session = state
        .sessions
        .find(&token, state.service.now())
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    // Identified before the CSRF, role and enrolment checks, so a refusal is recorded too.
    let identified = parts.extensions.get::<Identified>().cloned().unwrap_or_default();
    identified.staff(session.clinic_id, session.staff_id);
    // A cookie rides along on cross-site requests; a bearer token does not. So only
    // cookie-authenticated changes must prove they come from our page (double submit).
    if via_cookie && !is_safe(&parts.method) {
        let echoed = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if echoed != Some(session.csrf_token.as_str()) {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                ErrorCode::CsrfFailed,
                "cookie-authenticated changes need the X-CSRF-Token header from login",
            ));
        }
    }
    // The role from the directory (cached briefly), not one fixed at login: a changed role
    // takes effect without a new login. Deactivation deletes the sessions, so a session of a
    // deactivated member is rare here: one issued by a sign-in racing the deactivation.
    let record = state
        .directory
        .staff(session.staff_id)
        .await?
        .filter(|r| r.active)
        .ok_or_else(ApiError::unauthorized)?;
    let staff = Staff {
        identified,
        staff_id: session.staff_id,
        clinic_id: session.clinic_id,
        role: record.role,
        admin: record.admin,
        session: session.key,
        request_id: request_id(parts),
        client_request_id: parts.extensions.get::<ClientRequestId>().map(|id| id.0.clone()),
    };
    Ok((staff, session.enrolment_only))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The `X-Request-Id` a client sent, kept apart from the server's own id for the request
/// (which replaces it before anything else sees the request): a client must not be able to
/// choose the correlation id of the events it causes, nor put what it likes into logs.
/// Only 1 to [`ClientRequestId::MAX_LEN`] visible ASCII characters are kept; anything else
/// is dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequestId(pub String);

impl ClientRequestId {
    pub const MAX_LEN: usize = 64;

    pub fn sanitize(raw: &[u8]) -> Option<Self> {
        let fits = (1..=Self::MAX_LEN).contains(&raw.len()) && raw.iter().all(|b| b.is_ascii_graphic());
        // Only ASCII was accepted, so this is valid UTF-8.
        fits.then(|| Self(String::from_utf8_lossy(raw).into_owned()))
    }
}

/// The id the request-id layer gave this request (a UUID), or a fresh one.
pub fn request_id(parts: &Parts) -> Uuid {
    parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(Uuid::now_v7)
}

/// An appointment's `{id}` from the path. A malformed id is simply not found (404), like an
/// unknown one.
pub struct AppointmentPath(pub AppointmentId);

impl<S: Send + Sync> FromRequestParts<S> for AppointmentPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        UncheckedAppointmentPath::from_request_parts(parts, state)
            .await?
            .id()
            .map(Self)
    }
}

/// An appointment's `{id}` from the path, parsed only when the handler calls [`id`]: for
/// handlers that check their body or `If-Match` first, so that those errors keep coming
/// before a malformed id's 404. A path that cannot be decoded is refused at once (404).
///
/// [`id`]: UncheckedAppointmentPath::id
pub struct UncheckedAppointmentPath(String);

impl UncheckedAppointmentPath {
    /// The id, or 404 as for [`AppointmentPath`].
    pub fn id(&self) -> Result<AppointmentId, ApiError> {
        self.0.parse().map_err(|_| ApiError::not_found())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for UncheckedAppointmentPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiPath(raw) = ApiPath::<String>::from_request_parts(parts, state).await?;
        Ok(Self(raw))
    }
}
