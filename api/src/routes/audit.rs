//! What an inspector reads (docs/audit.md): the clinic's access log, and the proof that one
//! event is in the signed event log.

use crate::error::{ApiError, Problem};
use crate::extract::{ApiQuery, Staff};
use crate::routes::lists::page_size;
use crate::state::AppState;
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use base64::Engine;
use chrono::{DateTime, Utc};
use enkaku_domain::ErrorCode;
use enkaku_domain::ids::{AppointmentId, StaffId};
use enkaku_infra::audit::Log;
use enkaku_infra::audit::access::{AccessFilter, StoredAccess};
use enkaku_infra::audit::checkpoint::Checkpoint;
use enkaku_infra::directory::Role;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(access_log))
        .routes(routes!(proof))
}

/// An administrator or an auditor of the clinic: who may inspect its records (SPEC §8).
pub struct Inspector(pub Staff);

impl FromRequestParts<AppState> for Inspector {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let staff = Staff::from_request_parts(parts, state).await?;
        if !staff.admin && staff.role != Role::Auditor {
            return Err(ApiError::forbidden(
                "only administrators and auditors read the audit records",
            ));
        }
        Ok(Self(staff))
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessLogQuery {
    /// Records at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Records before this time.
    pub until: Option<DateTime<Utc>>,
    /// One staff member's records.
    pub staff_id: Option<Uuid>,
    /// The records that concern one appointment.
    pub appointment_id: Option<Uuid>,
    /// Records after this position: the previous page's `next`.
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub after: Option<u64>,
    /// Records per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500, default = 100)]
    pub limit: Option<u32>,
}

/// One record of the access log.
#[derive(Serialize, ToSchema)]
pub struct AccessEntry {
    /// Its place in the access log (1, 2, 3, …).
    pub position: u64,
    pub at: String,
    pub staff_id: Option<String>,
    /// The staff member's name now (null where no one is named).
    pub staff_name: Option<String>,
    /// `sign_in`, `sign_out`, `read`, `change` or `setup_link`.
    pub action: String,
    /// The method and the route's pattern, e.g. `GET /api/v1/appointments/{id}`.
    pub resource: String,
    pub appointment_id: Option<String>,
    /// `success`, `denied` (not signed in, not allowed, not found) or `failure`.
    pub outcome: String,
    /// The server's id of the request (`X-Request-Id` of its answer).
    pub request_id: String,
    /// The client's address.
    pub client: String,
    /// Sign-ins: HMAC-SHA256 of the address given, under a server key.
    pub subject_hmac: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AccessLogPage {
    pub items: Vec<AccessEntry>,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<u64>,
}

/// The clinic's access log, oldest first, a page at a time: who signed in and out, and which
/// staff member read or changed what, when. Administrators and auditors only. Sign-ins for
/// addresses no one has belong to no clinic: operators read those with `enkaku audit access`.
#[utoipa::path(get, path = "/api/v1/admin/access-log", tag = "audit", params(AccessLogQuery),
    responses((status = 200, body = AccessLogPage), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn access_log(
    State(state): State<AppState>,
    Inspector(staff): Inspector,
    ApiQuery(q): ApiQuery<AccessLogQuery>,
) -> Result<Json<AccessLogPage>, ApiError> {
    let limit = page_size(q.limit)? as usize;
    // Positions are stored as BIGINT: a larger one names no record and no page.
    let after = q.after.unwrap_or(0);
    if i64::try_from(after).is_err() {
        return Err(ApiError::invalid(
            ErrorCode::ValidationFailed,
            "after: not a position of the access log",
        )
        .on_field(Some("after")));
    }
    let filter = AccessFilter {
        clinic_id: Some(staff.clinic_id),
        staff_id: q.staff_id.map(StaffId),
        appointment_id: q.appointment_id.map(AppointmentId),
        since: q.since,
        until: q.until,
        after,
    };
    // One more than asked, to know whether there is a next page.
    let mut records = state.access.log.list(&filter, limit + 1).await?;
    let next = (records.len() > limit).then(|| {
        records.truncate(limit);
        records.last().map_or(0, |r| r.position)
    });
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    let mut items = Vec::with_capacity(records.len());
    for record in records {
        let staff_name = match record.staff_id.as_deref() {
            None => None,
            Some(id) => match names.get(id) {
                Some(name) => name.clone(),
                None => {
                    let name = staff_name(&state, id).await?;
                    names.insert(id.to_owned(), name.clone());
                    name
                }
            },
        };
        items.push(AccessEntry::new(record, staff_name));
    }
    Ok(Json(AccessLogPage { items, next }))
}

async fn staff_name(state: &AppState, id: &str) -> Result<Option<String>, ApiError> {
    let Ok(id) = id.parse::<Uuid>() else {
        return Ok(None);
    };
    Ok(state.directory.staff(StaffId(id)).await?.map(|r| r.name))
}

impl AccessEntry {
    fn new(record: StoredAccess, staff_name: Option<String>) -> Self {
        Self {
            position: record.position,
            at: record.at,
            staff_id: record.staff_id,
            staff_name,
            action: record.action,
            resource: record.resource,
            appointment_id: record.appointment_id,
            outcome: record.outcome,
            request_id: record.request_id,
            client: record.client,
            subject_hmac: record.subject_hmac,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    /// The event's position in the global log.
    #[param(minimum = 1)]
    pub position: u64,
}

/// A signed checkpoint of a log: its size and Merkle root at a moment (docs/audit.md).
#[derive(Serialize, ToSchema)]
pub struct CheckpointView {
    /// `events` or `access`.
    pub log: String,
    pub size: u64,
    /// The RFC 9162 root hash, hex.
    pub root: String,
    pub time: DateTime<Utc>,
    pub key_id: String,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// The Ed25519 signature, hex, over the lines `enkaku-checkpoint-v1`, log, size, root,
    /// time (RFC 3339, seconds, `Z`) and key id, each ending in a newline.
    pub signature: String,
}

impl From<Checkpoint> for CheckpointView {
    fn from(c: Checkpoint) -> Self {
        Self {
            log: c.log.name().to_owned(),
            size: c.size,
            root: c.root,
            time: c.time,
            key_id: c.key_id,
            public_key: c.public_key,
            signature: c.signature,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InclusionProof {
    pub position: u64,
    /// The record's bytes exactly as the tree hashes them, base64: the stored row, personal
    /// data sealed (docs/audit.md shows the layout).
    pub record: String,
    /// SHA-256(0x00 ‖ record), hex.
    pub leaf_hash: String,
    /// The sibling hashes from the leaf up to the root, hex (RFC 9162 §2.1.3).
    pub proof: Vec<String>,
    /// The signed tree the proof leads to.
    pub checkpoint: CheckpointView,
}

/// Proof that the event at `position` is in the signed event log: the record, its audit
/// path and a checkpoint signed now. Administrators and auditors only; a position holding
/// another clinic's event, or none, is not found. docs/audit.md shows how to check it.
#[utoipa::path(get, path = "/api/v1/audit/proof", tag = "audit", params(ProofQuery),
    responses((status = 200, body = InclusionProof), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn proof(
    State(state): State<AppState>,
    Inspector(staff): Inspector,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> Result<Json<InclusionProof>, ApiError> {
    let Some(position) = q.position.checked_sub(1) else {
        return Err(ApiError::not_found());
    };
    let event = state
        .store
        .read_all(position, 1)
        .await
        .map_err(enkaku_commands::CommandError::from)?;
    if !event
        .first()
        .is_some_and(|e| e.position == q.position && e.metadata.clinic_id == staff.clinic_id)
    {
        return Err(ApiError::not_found());
    }
    let inclusion = state
        .audit
        .inclusion(Log::Events, q.position, Utc::now())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(InclusionProof {
        position: inclusion.position,
        record: base64::engine::general_purpose::STANDARD.encode(&inclusion.record),
        leaf_hash: hex::encode(inclusion.leaf_hash),
        proof: inclusion.proof.iter().map(hex::encode).collect(),
        checkpoint: inclusion.checkpoint.into(),
    }))
}
