//! Two-factor sign-in (TOTP, RFC 6238) for staff: each person enrols their own authenticator
//! app (any role: it is self-service, like their password), sign-in then asks for its code
//! (`auth::login`), and administrators can require it of the whole clinic, as Japan's medical
//! information security guideline expects. docs/security.md, "Two-factor sign-in".

use crate::error::{ApiError, Problem};
use crate::extract::{Admin, AnySession, AnyStaff, ApiJson, ApiPath};
use crate::routes::auth::{Caller, check_current_password, check_current_password_length};
use crate::state::AppState;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enkaku_domain::ErrorCode;
use enkaku_domain::ids::{ClinicId, StaffId};
use enkaku_domain::setup::clinic;
use enkaku_infra::two_factor::Confirmation;
use qrcodegen::{QrCode, QrCodeEcc};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::net::SocketAddr;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_enrolment))
        .routes(routes!(confirm_enrolment))
        .routes(routes!(turn_off))
        .routes(routes!(require_for_clinic))
        .routes(routes!(reset_for_staff))
}

/// Where a person stands with two-factor sign-in.
#[derive(Serialize, ToSchema)]
pub struct TwoFactorView {
    /// They confirmed an enrolment: sign-in asks for a code.
    pub enrolled: bool,
    /// Their clinic requires two-factor sign-in of all its staff.
    pub required: bool,
}

/// Whether the clinic requires two-factor sign-in, as its stream says now.
async fn clinic_requires(state: &AppState, clinic: ClinicId) -> Result<bool, ApiError> {
    Ok(state.setup.clinic_state(clinic).await?.value.two_factor_required)
}

pub(crate) async fn status(
    state: &AppState,
    staff: StaffId,
    clinic: ClinicId,
) -> Result<TwoFactorView, ApiError> {
    Ok(TwoFactorView {
        enrolled: state.two_factor.enrolled(staff).await?,
        required: clinic_requires(state, clinic).await?,
    })
}

/// The second step of a sign-in whose password was right: the code of a person who enrolled
/// (401 `two_factor_required` without one, `invalid_two_factor_code` for a wrong or used
/// one). `Ok(true)`: the clinic requires two-factor sign-in and the person has not enrolled,
/// so the session may only enrol.
pub(crate) async fn second_factor(
    state: &AppState,
    staff: StaffId,
    clinic: ClinicId,
    code: Option<&str>,
) -> Result<bool, ApiError> {
    if !state.two_factor.enrolled(staff).await? {
        return clinic_requires(state, clinic).await;
    }
    let Some(code) = code else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::TwoFactorRequired,
            "enter the code from your authenticator app, or a recovery code",
        )
        .on_field(Some("code")));
    };
    if !state.two_factor.accept(staff, code, state.service.now()).await? {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidTwoFactorCode,
            "the two-factor code is wrong or was used already",
        )
        .on_field(Some("code")));
    }
    Ok(false)
}

#[derive(Deserialize, ToSchema)]
pub struct StartEnrolment {
    /// Needed only to replace a confirmed enrolment (a new phone): the current password.
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub current_password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EnrolmentView {
    /// `otpauth://totp/…`, what the QR code holds.
    pub otpauth_uri: String,
    /// The secret in base32, to type into an authenticator app by hand.
    pub secret: String,
    /// The QR code of `otpauth_uri`: an SVG image as a `data:` URI.
    pub qr_code: String,
}

/// Start enrolling one's own authenticator app (every role may, also in a session that may
/// only enrol): a new secret, shown once as a QR code and as text. Starting again replaces an
/// enrolment not yet confirmed; replacing a confirmed one (a new phone) needs
/// `current_password`, and the old one stays in force until the new one is confirmed.
#[utoipa::path(post, path = "/api/v1/two-factor/enrolment", tag = "auth", request_body = StartEnrolment,
    responses((status = 201, body = EnrolmentView), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "`invalid_credentials`: the current password is wrong"),
        (status = 422, body = Problem, description = "`validation_failed`: `current_password` is needed to replace a confirmed enrolment"),
        (status = 429, body = Problem, description = "`rate_limited` or `too_many_failures` (password checks); `Retry-After` says when to come back"),
        (status = 503, body = Problem, description = "`busy`: too many password checks at once")))]
async fn start_enrolment(
    State(state): State<AppState>,
    AnySession(staff): AnySession,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(request): ApiJson<StartEnrolment>,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(password) = &request.current_password {
        check_current_password_length(password)?;
    }
    let jar = if state.two_factor.enrolled(staff.staff_id).await? {
        let password = request.current_password.ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::ValidationFailed,
                "current_password: needed to replace two-factor sign-in that is on",
            )
            .on_field(Some("current_password"))
        })?;
        let caller = Caller {
            peer,
            headers: &headers,
            jar,
        };
        check_current_password(&state, &staff, caller, password).await?
    } else {
        jar
    };
    let record = state
        .directory
        .staff(staff.staff_id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let clinic = state.clinic(staff.clinic_id).await?;
    let enrolment = state
        .two_factor
        .start(staff.staff_id, &clinic.name, &record.email, state.service.now())
        .await?;
    let qr_code = qr_code(&enrolment.otpauth_uri)?;
    tracing::info!(staff_id = %staff.staff_id, "two-factor enrolment started");
    Ok((
        StatusCode::CREATED,
        jar,
        Json(EnrolmentView {
            otpauth_uri: enrolment.otpauth_uri,
            secret: enrolment.secret,
            qr_code,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct ConfirmEnrolment {
    /// The 6-digit code the authenticator app shows now.
    #[schema(max_length = 64)]
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Shown this once. Each signs in once in place of a code (a lost phone); a new
    /// enrolment replaces them.
    pub recovery_codes: Vec<String>,
}

/// Confirm the enrolment with a code from the app: two-factor sign-in is on from now, the
/// session (and the person's other sessions) may do everything again, and the answer carries
/// the recovery codes, shown once.
#[utoipa::path(post, path = "/api/v1/two-factor/enrolment/confirm", tag = "auth", request_body = ConfirmEnrolment,
    responses((status = 200, body = RecoveryCodes), (status = 401, body = Problem),
        (status = 409, body = Problem, description = "`two_factor_not_started`: no enrolment to confirm"),
        (status = 422, body = Problem, description = "`invalid_two_factor_code` on `code`")))]
async fn confirm_enrolment(
    State(state): State<AppState>,
    AnySession(staff): AnySession,
    ApiJson(request): ApiJson<ConfirmEnrolment>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let wrong_code = || {
        ApiError::invalid(
            ErrorCode::InvalidTwoFactorCode,
            "the code does not match: enter the one the app shows now",
        )
        .on_field(Some("code"))
    };
    if request.code.chars().count() > 64 {
        return Err(wrong_code());
    }
    match state
        .two_factor
        .confirm(staff.staff_id, &request.code, state.service.now())
        .await?
    {
        Confirmation::Confirmed { recovery_codes } => {
            state.sessions.end_enrolment_only(staff.staff_id).await?;
            tracing::info!(staff_id = %staff.staff_id, "two-factor sign-in turned on");
            Ok(Json(RecoveryCodes { recovery_codes }))
        }
        Confirmation::WrongCode => Err(wrong_code()),
        Confirmation::NotStarted => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::TwoFactorNotStarted,
            "start an enrolment first",
        )),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct TurnOff {
    #[schema(max_length = 1024)]
    pub current_password: String,
}

/// Turn one's own two-factor sign-in off, with the current password (a wrong one counts as a
/// failed login). Refused while the clinic requires two-factor sign-in.
#[utoipa::path(post, path = "/api/v1/two-factor/disable", tag = "auth", request_body = TurnOff,
    responses((status = 204), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "`invalid_credentials`: the current password is wrong"),
        (status = 409, body = Problem, description = "`two_factor_required_by_clinic`"),
        (status = 422, body = Problem),
        (status = 429, body = Problem, description = "`rate_limited` or `too_many_failures`; `Retry-After` says when to come back"),
        (status = 503, body = Problem, description = "`busy`: too many password checks at once")))]
async fn turn_off(
    State(state): State<AppState>,
    AnyStaff(staff): AnyStaff,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(request): ApiJson<TurnOff>,
) -> Result<impl IntoResponse, ApiError> {
    if clinic_requires(&state, staff.clinic_id).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::TwoFactorRequiredByClinic,
            "the clinic requires two-factor sign-in",
        ));
    }
    let caller = Caller {
        peer,
        headers: &headers,
        jar,
    };
    let jar = check_current_password(&state, &staff, caller, request.current_password).await?;
    state.two_factor.turn_off(staff.staff_id).await?;
    tracing::info!(staff_id = %staff.staff_id, "two-factor sign-in turned off");
    Ok((jar, StatusCode::NO_CONTENT))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct ClinicRequirement {
    /// Every staff member must sign in with a second factor.
    pub required: bool,
}

/// Require two-factor sign-in of the whole clinic, or stop requiring it (admins). From each
/// person's next sign-in, someone not enrolled may only enrol until they have; sessions
/// already open carry on. Recorded as `TwoFactorRequirementChanged` with its actor.
#[utoipa::path(put, path = "/api/v1/admin/two-factor", tag = "administration", request_body = ClinicRequirement,
    responses((status = 200, body = ClinicRequirement), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn require_for_clinic(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    ApiJson(request): ApiJson<ClinicRequirement>,
) -> Result<Json<ClinicRequirement>, ApiError> {
    let ctx = admin.context(&headers)?;
    let command = clinic::Command::SetTwoFactorRequired {
        required: request.required,
    };
    let clinic = state.setup.clinic(&ctx, command).await?;
    Ok(Json(ClinicRequirement {
        required: clinic.value.two_factor_required,
    }))
}

/// Take a staff member's second factor away (admins), for someone who lost both their phone
/// and their recovery codes: their next sign-in needs only the password (and, where the
/// clinic requires two-factor, leads to enrolling again). Another clinic's staff → 404.
#[utoipa::path(delete, path = "/api/v1/admin/staff/{id}/two-factor", tag = "administration",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn reset_for_staff(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let staff = StaffId(id);
    let record = state.directory.staff(staff).await?;
    if record.is_none_or(|r| r.clinic_id != admin.clinic_id) {
        return Err(ApiError::not_found());
    }
    state.two_factor.turn_off(staff).await?;
    tracing::info!(staff_id = %staff, by = %admin.staff_id, "two-factor sign-in reset");
    Ok(StatusCode::NO_CONTENT)
}

/// The quiet zone the QR code standard asks for around the symbol, in modules.
const QUIET_ZONE: i32 = 4;

/// `text` as a QR code: an SVG image in a `data:` URI, drawn here so the page loads nothing
/// from elsewhere (the content security policy allows `data:` images).
fn qr_code(text: &str) -> Result<String, ApiError> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium)
        .map_err(|_| ApiError::internal("the otpauth URI does not fit in a QR code"))?;
    let size = qr.size() + 2 * QUIET_ZONE;
    let mut modules = String::new();
    for y in 0..qr.size() {
        for x in (0..qr.size()).filter(|&x| qr.get_module(x, y)) {
            // Writing to a String cannot fail.
            let _ = write!(modules, "M{},{}h1v1h-1z", x + QUIET_ZONE, y + QUIET_ZONE);
        }
    }
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/><path d="{modules}" fill="#000"/></svg>"##
    );
    Ok(format!("data:image/svg+xml;base64,{}", STANDARD.encode(svg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_an_svg_with_one_square_per_dark_module() {
        let uri = "otpauth://totp/enkaku:a%40example.jp?secret=AAAA&issuer=enkaku";
        let image = qr_code(uri).unwrap();
        let svg = STANDARD
            .decode(image.strip_prefix("data:image/svg+xml;base64,").unwrap())
            .unwrap();
        let svg = String::from_utf8(svg).unwrap();
        let qr = QrCode::encode_text(uri, QrCodeEcc::Medium).unwrap();
        let dark = (0..qr.size())
            .flat_map(|y| (0..qr.size()).map(move |x| (x, y)))
            .filter(|&(x, y)| qr.get_module(x, y))
            .count();
        assert_eq!(svg.matches('M').count(), dark);
        let side = qr.size() + 2 * QUIET_ZONE;
        assert!(svg.contains(&format!(r#"viewBox="0 0 {side} {side}""#)), "{svg}");
    }
}
