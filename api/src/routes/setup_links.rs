//! The set-up link (SPEC §8): where an invited staff member, or one who forgot their
//! password, chooses a password. No login: the token in the URL is the capability, used up
//! by the first password set. Limited per client like the patient links, and the password
//! is hashed on the bounded password threads, so a flood costs a bounded amount of CPU and
//! memory.

use crate::access::Identified;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::Json;
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use enkaku_domain::ErrorCode;
use enkaku_infra::setup_links::Link;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(setup_link, set_password))
}

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest: enough for any passphrase, bounded so hashing costs what it should.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Whom the link is for, so the person sees it is theirs before choosing a password.
#[derive(Serialize, ToSchema)]
pub struct SetupLinkView {
    pub name: String,
    pub email: String,
    pub clinic_name: String,
    pub valid_until: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
pub struct NewPassword {
    /// 10 to 256 characters.
    #[schema(min_length = 10, max_length = 256)]
    pub password: String,
}

/// A new password's length, reported on `field`.
pub fn check_new_password(field: &'static str, password: &str) -> Result<(), ApiError> {
    let length = password.chars().count();
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&length) {
        return Ok(());
    }
    Err(ApiError::invalid(
        ErrorCode::ValidationFailed,
        format!("{field}: must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
    )
    .on_field(Some(field)))
}

fn gone() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        ErrorCode::SetupLinkGone,
        "this set-up link was used or has expired; ask an administrator for a new one",
    )
}

/// What the set-up page shows. Used or expired → 410 `setup_link_gone`; unknown → 404.
#[utoipa::path(get, path = "/api/v1/setup-links/{token}", security(()), tag = "staff set-up",
    params(("token" = String, Path)),
    responses((status = 200, body = SetupLinkView), (status = 404, body = Problem), (status = 410, body = Problem),
        (status = 429, body = Problem)))]
async fn setup_link(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Extension(identified): Extension<Identified>,
    ApiPath(token): ApiPath<String>,
) -> Result<Json<SetupLinkView>, ApiError> {
    state.link_limiter.check(peer, &headers)?;
    match state.setup_links.find(&token, Utc::now()).await? {
        None => Err(ApiError::not_found()),
        Some(Link::Gone) => Err(gone()),
        Some(Link::Usable(holder)) => {
            identified.setup_link(holder.clinic_id, holder.staff_id);
            Ok(Json(SetupLinkView {
                name: holder.name,
                email: holder.email,
                clinic_name: holder.clinic_name,
                valid_until: holder.valid_until,
            }))
        }
    }
}

/// Set the password and use the link up; the person's other sessions end. 204; a password
/// too short or too long → 422 on `password`; used or expired → 410; unknown → 404.
#[utoipa::path(post, path = "/api/v1/setup-links/{token}", security(()), tag = "staff set-up",
    params(("token" = String, Path)), request_body = NewPassword,
    responses((status = 204), (status = 404, body = Problem), (status = 410, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
async fn set_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Extension(identified): Extension<Identified>,
    ApiPath(token): ApiPath<String>,
    ApiJson(body): ApiJson<NewPassword>,
) -> Result<StatusCode, ApiError> {
    state.link_limiter.check(peer, &headers)?;
    check_new_password("password", &body.password)?;
    // Look first, so an unknown or used link costs no hashing.
    match state.setup_links.find(&token, Utc::now()).await? {
        None => return Err(ApiError::not_found()),
        Some(Link::Gone) => return Err(gone()),
        Some(Link::Usable(holder)) => identified.setup_link(holder.clinic_id, holder.staff_id),
    }
    let hash = state.login.checks.hash(body.password).await?;
    match state.setup_links.use_up(&token, &hash, Utc::now()).await? {
        Some(ended) => {
            state.sessions.forget(ended);
            Ok(StatusCode::NO_CONTENT)
        }
        // Used by another request meanwhile, or expired while the password was hashed.
        None => Err(gone()),
    }
}
