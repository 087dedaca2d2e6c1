//! The HTTP surface: per-feature routers merged into one, with the OpenAPI document built
//! from the same declarations, so the two cannot drift.

pub mod admin;
pub mod admin_setup;
pub mod appointments;
pub mod audit;
pub mod auth;
pub mod integrations;
pub mod lists;
pub mod live;
pub mod media;
pub mod outbox;
pub mod public;
pub mod search;
pub mod setup;
pub mod setup_links;
pub mod two_factor;
pub mod webhooks;

use crate::error::ApiError;
use crate::extract::ClientRequestId;
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use enkaku_domain::ErrorCode;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// Request bodies above this get 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A request not answered within this gets 503 `unavailable` (a backing service hangs).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn openapi() -> utoipa::openapi::OpenApi {
    routes_and_document().1
}

/// The routes, and the document that describes exactly them.
fn routes_and_document() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = api_router().split_for_parts();
    crate::openapi::complete(&mut doc);
    (router, doc)
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .merge(public::router())
        .merge(auth::router())
        .merge(setup::router())
        .merge(setup_links::router())
        .merge(two_factor::router())
        .merge(admin::router())
        .merge(admin_setup::router())
        .merge(integrations::router())
        .merge(lists::router())
        .merge(search::router())
        .merge(appointments::router())
        .merge(outbox::router())
        .merge(audit::router())
        .merge(live::router())
        .merge(media::router())
        .merge(webhooks::router())
}

/// How long browsers keep to HTTPS once they saw the header: two years, as the HSTS preload
/// list asks. No `includeSubDomains`: enkaku cannot know what else lives under its domain.
const HSTS: &str = "max-age=63072000";

pub fn router(state: AppState) -> Router {
    let (router, doc) = routes_and_document();
    let doc = std::sync::Arc::new(doc);
    let request_id = HeaderName::from_static("x-request-id");
    // Behind an https public URL, browsers must not fall back to plain HTTP (the session
    // cookie is `Secure`, but the page and its links would still be open to a downgrade).
    let https = state.secure_cookies;
    let router = router
        .route("/api/v1/openapi.json", axum::routing::get(move || async move { axum::Json(doc.as_ref().clone()) }))
        .merge(crate::ui::router())
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed, "this method is not allowed here")
        })
        // Inside the routing, where the matched route is known; before the deadline, so a
        // record is committed or the answer is 503 before the request's time is up.
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::access::record))
        .with_state(state)
        // Innermost first: every answer below, the deadline's and the panic's included,
        // passes through the security headers above it.
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(refuse_oversized_bodies))
        .layer(axum::middleware::from_fn(deadline))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "an unexpected error occurred").into_response()
        }))
        .layer(axum::middleware::from_fn(crate::serve::admit_reserved))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        // Capability URLs live in paths: never leak them to another site through Referer.
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            // Logs name the route template and the request id, never the raw path: paths
            // carry capability tokens and ids, bodies carry patient data.
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", |p| p.as_str())
                    .to_owned();
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let client_id = request.extensions().get::<ClientRequestId>().map(|c| c.0.clone());
                tracing::info_span!("request", method = %request.method(), route, request_id = id, client_request_id = client_id.as_deref())
            }),
        )
        // The server's id for every request; a client's own goes aside first (below).
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(axum::middleware::from_fn(set_client_request_id_aside));
    if https {
        router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        ))
    } else {
        router
    }
}

/// Take the client's `X-Request-Id` off the request, so the request-id layer always makes
/// the server's own (the correlation id of events, the id in logs and in the response), and
/// keep a sanitised copy as [`ClientRequestId`] for events' `client_request_id` and the log
/// span's `client_request_id`.
async fn set_client_request_id_aside(mut request: Request, next: axum::middleware::Next) -> Response {
    if let Some(raw) = request.headers_mut().remove("x-request-id")
        && let Some(id) = ClientRequestId::sanitize(raw.as_bytes())
    {
        request.extensions_mut().insert(id);
    }
    next.run(request).await
}

/// Requests still unanswered after [`REQUEST_TIMEOUT`] get our 503 problem (tower-http's
/// timeout answers with an empty body). Only the wait for the response head is bounded: a
/// streamed body (live updates) goes on.
async fn deadline(request: Request, next: axum::middleware::Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("request timed out");
            ApiError::unavailable().into_response()
        }
    }
}

/// Bodies over the limit get 413 on every route, also on those that never read a body
/// (where `DefaultBodyLimit` would not act). Bodies without a length are cut off by
/// `DefaultBodyLimit` when a handler reads them.
async fn refuse_oversized_bodies(request: Request, next: axum::middleware::Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BodyTooLarge,
            "request bodies are limited to 1 MiB",
        )
        .into_response();
    }
    next.run(request).await
}
