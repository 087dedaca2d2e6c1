//! An appointment's version on the wire: answers carry it as `ETag: "<version>"`, and a
//! change's `If-Match` names the version it expects (docs/architecture.md, "Reading").

use crate::error::ApiError;
use crate::state::AppState;
use crate::views::AppointmentView;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use enkaku_commands::AppointmentAt;
use enkaku_domain::ErrorCode;

/// The appointment's JSON, with times in its clinic's time zone.
pub(crate) async fn body_of(state: &AppState, at: &AppointmentAt) -> Result<String, ApiError> {
    let clinic = state.clinic(at.appointment.clinic_id).await?;
    let view = AppointmentView::new(at, clinic.time_zone, &state.links, &state.public_url);
    serde_json::to_string(&view).map_err(ApiError::internal)
}

/// An appointment with its `ETag: "<version>"`.
pub(crate) async fn respond(
    state: &AppState,
    status: StatusCode,
    at: &AppointmentAt,
) -> Result<Response, ApiError> {
    Ok(with_etag(status, body_of(state, at).await?, at.version))
}

pub(crate) fn with_etag(status: StatusCode, body: String, version: u64) -> Response {
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// `If-Match: "<version>"` → that version; `*` or no header → none. Another entity tag
/// cannot match a version, so it fails as a stale one would (412); a value that is not an
/// entity tag at all is a malformed request (400).
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
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
                ErrorCode::MalformedIfMatch,
                "If-Match must be * or one entity tag, such as \"3\"",
            )
        })?;
    // If-Match compares strongly (RFC 9110 §13.1.1): a weak tag never matches, nor does a
    // tag that is not a number. Both become version 0, the version of no appointment, so
    // the service answers 412 once it has found the appointment (and 404 when it has not).
    Ok(Some(if weak { 0 } else { opaque.parse().unwrap_or(0) }))
}
