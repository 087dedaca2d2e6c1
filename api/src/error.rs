//! Every error the HTTP edge returns, as `application/problem+json` (RFC 9457) with a stable
//! machine `code`. Internal errors are logged with the request's id and never leak detail.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use enkaku_commands::CommandError;
use enkaku_domain::{DomainError, ErrorCode, ErrorKind};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type; `about:blank` style tags under our docs.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine code, e.g. `version_conflict` or `start_time_immutable`.
    #[schema(schema_with = crate::openapi::error_code)]
    pub code: String,
    /// The request field at fault (e.g. `destination`), when there is one: forms show the
    /// error next to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub detail: String,
    pub field: Option<&'static str>,
    /// Seconds after which a retry may succeed: sent as `Retry-After` (every 429 and 503
    /// says when to come back).
    pub retry_after: Option<u64>,
}

/// What a 503 for a backing-service failure tells clients to wait, in seconds.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 5;

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            retry_after: None,
        }
    }

    /// Tell the client when to come back (`Retry-After`, at least one second).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// A 503 `unavailable`: a backing service (database, broker) did not answer in time.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "a backing service is unavailable; try again",
        )
        .retry_after(UNAVAILABLE_RETRY_AFTER)
    }

    /// Name the request field at fault.
    pub fn on_field(mut self, field: Option<&'static str>) -> Self {
        self.field = field;
        self
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "log in first: a session cookie or a bearer token is required",
        )
    }

    /// A 403 `forbidden`: the staff member's role does not allow this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, detail)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such resource")
    }

    pub fn invalid(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// A failure on our side: logged in full, answered without detail.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "internal error");
        Self::unavailable()
    }

    pub fn problem(&self) -> Problem {
        Problem {
            problem_type: format!("https://enkaku.dev/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.as_str().to_owned(),
            field: self.field.map(str::to_owned),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.problem())).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Rejected(DomainError::NotFound) => Self::not_found(),
            CommandError::Rejected(d) => {
                let status = match d.kind() {
                    ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorKind::Conflict => StatusCode::CONFLICT,
                    ErrorKind::Limited => StatusCode::TOO_MANY_REQUESTS,
                };
                let error = Self::new(status, d.code(), d.to_string()).on_field(d.field());
                match d.retry_after_secs() {
                    Some(seconds) => error.retry_after(seconds),
                    None => error,
                }
            }
            CommandError::UnknownDoctor => {
                Self::invalid(ErrorCode::UnknownDoctor, e.to_string()).on_field(Some("doctor_id"))
            }
            CommandError::UnknownMenu => {
                Self::invalid(ErrorCode::UnknownMenu, e.to_string()).on_field(Some("menu_id"))
            }
            CommandError::VersionMismatch { .. } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                ErrorCode::VersionConflict,
                e.to_string(),
            ),
            CommandError::Contended => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::ConcurrentModification,
                e.to_string(),
            ),
            CommandError::Unavailable(detail) => Self::internal(detail),
            CommandError::UnreadableHistory(detail) => {
                tracing::error!(error = %detail, "unreadable event history");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::UnreadableHistory,
                    "this appointment's history cannot be read by this version",
                )
            }
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        CommandError::Rejected(e).into()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let code = match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::BAD_REQUEST => ErrorCode::MalformedJson,
            _ => ErrorCode::ValidationFailed,
        };
        Self::new(r.status(), code, r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::invalid(ErrorCode::ValidationFailed, r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        Self::not_found()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(e)
    }
}

impl From<enkaku_commands::DirectoryError> for ApiError {
    fn from(e: enkaku_commands::DirectoryError) -> Self {
        Self::internal(e)
    }
}
