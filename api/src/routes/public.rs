//! What needs no login: health, the patient link look-up, and the OpenAPI document's siblings.

use crate::error::{ApiError, Problem};
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::views::local;
use crate::workers::ConsumerLag;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, FixedOffset};
use enkaku_domain::appointment::LinkStatus;
use enkaku_domain::values::{Channel, Provider};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use std::net::SocketAddr;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(livez))
        .routes(routes!(metrics))
        .routes(routes!(patient_link))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    /// Position of the last event in the store.
    pub head: u64,
    /// Lowest position every read model has applied (on Kafka, where partitions move
    /// separately, the newest event applied; `consumers` has the exact lag).
    pub projected: u64,
    /// Each projector, reactor and the Kafka publisher, with how far behind its feed it is.
    pub consumers: Vec<ConsumerLag>,
    /// Who carries the patient link on each channel.
    pub channels: ChannelsHealth,
}

/// Which provider is live for each channel (`outbox`: kept for staff, not sent). Never the
/// credentials or the servers' addresses.
#[derive(Serialize, ToSchema)]
pub struct ChannelsHealth {
    #[schema(schema_with = crate::openapi::provider)]
    pub sms: Provider,
    #[schema(schema_with = crate::openapi::provider)]
    pub email: Provider,
    /// Whether Twilio's delivery-status callbacks are accepted (they need the auth token).
    pub sms_status_callbacks: bool,
}

/// Up, with its stores reachable; otherwise 503 `unavailable`, naming the store that does
/// not answer (its kind only: no address, no credentials).
#[utoipa::path(get, path = "/healthz", security(()), tag = "operations", responses((status = 200, body = Health), (status = 503, body = Problem)))]
async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let store_down = |error: &dyn std::fmt::Display| {
        tracing::warn!(error = %error, "health check: the database does not answer");
        ApiError {
            detail: format!("the database ({}) does not answer", state.db.backend.name()),
            ..ApiError::unavailable()
        }
    };
    state.db.ping().await.map_err(|e| store_down(&e))?;
    let projected = state.workers.projected().await.map_err(|e| store_down(&e))?;
    Ok(Json(Health {
        status: "ok".into(),
        head: *state.store.head().borrow(),
        projected,
        consumers: state.workers.lags(),
        channels: ChannelsHealth {
            sms: state.channels.provider(Channel::Sms),
            email: state.channels.provider(Channel::Email),
            sms_status_callbacks: state.twilio_auth_token.is_some(),
        },
    }))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumerLabels {
    consumer: String,
    kind: String,
    feed: String,
}

/// Prometheus metrics: the log head and every consumer's lag, in events.
#[utoipa::path(get, path = "/metrics", security(()), tag = "operations", responses((status = 200, body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let mut registry = Registry::with_prefix("enkaku");
    let head = Gauge::<i64>::default();
    head.set(*state.store.head().borrow() as i64);
    registry.register(
        "log_head_position",
        "Position of the newest event in the store",
        head,
    );
    let lag = Family::<ConsumerLabels, Gauge>::default();
    for consumer in state.workers.lags() {
        lag.get_or_create(&ConsumerLabels {
            consumer: consumer.name,
            kind: consumer.kind.into(),
            feed: consumer.feed,
        })
        .set(consumer.lag as i64);
    }
    registry.register(
        "consumer_lag_events",
        "Events a projector, reactor or the Kafka publisher has not handled yet",
        lag,
    );
    let mut text = String::new();
    encode(&mut text, &registry).map_err(ApiError::internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    ))
}

/// The process answers; touches nothing (the HTTP ceiling of benchmarks).
#[utoipa::path(get, path = "/livez", security(()), tag = "operations", responses((status = 200, body = String, content_type = "text/plain; charset=utf-8")))]
async fn livez() -> impl IntoResponse {
    (StatusCode::OK, "ok")
}

#[derive(Serialize, ToSchema)]
pub struct PatientLinkView {
    /// Where the link stands (R11, R13, R20); `revoked` when the clinic has issued a newer
    /// patient URL in its place.
    #[schema(schema_with = crate::openapi::link_status)]
    pub status: LinkStatus,
    /// When the consultation is: what the patient needs first (「診察日時」).
    pub start_at: DateTime<FixedOffset>,
    pub valid_from: DateTime<FixedOffset>,
    pub valid_until: DateTime<FixedOffset>,
    pub clinic_name: String,
    /// The clinic's phone number for questions, if it has one.
    pub clinic_phone: Option<String>,
}

/// What the patient page needs; no login, the token is the capability (R12, R13, R19).
/// Nothing staff entered (name, chart number, memo, title) is ever part of it (R3, R8).
#[utoipa::path(get, path = "/api/v1/patient-links/{token}", security(()), tag = "patients",
    params(("token" = String, Path)),
    responses((status = 200, body = PatientLinkView), (status = 404, body = Problem), (status = 429, body = Problem)))]
async fn patient_link(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiPath(token): ApiPath<String>,
) -> Result<Json<PatientLinkView>, ApiError> {
    state.link_limiter.check(peer, &headers)?;
    let (at, status) = state.patient_link(&token).await?;
    let a = &at.appointment;
    let window = a.video.ok_or_else(ApiError::not_found)?;
    let clinic = state.clinic(a.clinic_id).await?;
    let tz = clinic.time_zone;
    Ok(Json(PatientLinkView {
        status,
        start_at: local(a.start_at, tz),
        valid_from: local(window.valid_from, tz),
        valid_until: local(window.valid_until, tz),
        clinic_name: clinic.name,
        clinic_phone: clinic.phone,
    }))
}
