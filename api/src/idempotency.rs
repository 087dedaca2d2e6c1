//! The `Idempotency-Key` protocol of creations (docs/architecture.md, "Idempotency-Key fixes
//! the appointment id before the command"); the claims themselves are kept by
//! `enkaku_infra::idempotency`.

use crate::error::ApiError;
use crate::extract::Staff;
use crate::state::AppState;
use crate::versioning::{body_of, respond, with_etag};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use enkaku_commands::capability::LinkRole;
use enkaku_commands::{AppointmentAt, CommandError};
use enkaku_domain::DomainError;
use enkaku_domain::ErrorCode;
use enkaku_domain::ids::AppointmentId;
use enkaku_infra::idempotency::{Claim, KeyOwner};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Run a creation once per `Idempotency-Key` (IETF draft): a retry with the same key and
/// body gets the first answer and appends nothing; a different body gets 422; a retry while
/// the first still runs gets 409.
pub(crate) async fn create_once<F, Fut>(
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
        staff.identified.appointment(at.id);
        return respond(state, StatusCode::CREATED, &at).await;
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidIdempotencyKey,
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
            staff.identified.appointment(id);
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
                ErrorCode::IdempotencyKeyInUse,
                "a request with this Idempotency-Key is still being processed",
            ));
        }
        Claim::Mismatch => {
            return Err(ApiError::invalid(
                ErrorCode::IdempotencyKeyReused,
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
            staff.identified.appointment(at.id);
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
pub(crate) async fn to_completion(
    work: impl Future<Output = Result<Response, ApiError>> + Send + 'static,
) -> Result<Response, ApiError> {
    tokio::spawn(work).await.map_err(ApiError::internal)?
}
