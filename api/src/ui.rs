//! The clinic UI and the patient page: HTML shells and hand-written ES modules under
//! `api/ui/`, embedded in the binary (nothing to build, nothing from a CDN). Each page reads
//! the same HTTP API as any other client.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "ui/"]
struct Assets;

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/schedule") }))
        .route("/login", get(|| page("login.html")))
        .route("/schedule", get(|| page("staff.html")))
        .route("/reception", get(|| page("staff.html")))
        .route("/outbox", get(|| page("staff.html")))
        // The token stays in the path; the page's script reads it from there.
        .route("/call/{token}", get(|| page("call.html")))
        .route("/p/{token}", get(|| page("patient.html")))
        .route("/favicon.ico", get(|| page("icon.svg")))
        .route("/ui/{*file}", get(asset))
}

async fn page(name: &'static str) -> Response {
    serve(name, &HeaderMap::new())
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers)
}

/// An embedded file, revalidated by its hash on every use: a new binary's UI is never mixed
/// with a cached old one.
fn serve(file: &str, request: &HeaderMap) -> Response {
    let Some(asset) = Assets::get(file) else {
        return crate::error::ApiError::not_found().into_response();
    };
    let etag = format!("\"{}\"", hex::encode(&asset.metadata.sha256_hash()[..16]));
    let cache = [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))];
    if request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, cache, [(header::ETAG, etag)]).into_response();
    }
    let mime = asset.metadata.mimetype();
    let content_type = if mime.starts_with("text/") || mime.ends_with("javascript") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    (
        cache,
        [(header::ETAG, etag), (header::CONTENT_TYPE, content_type)],
        asset.data.into_owned(),
    )
        .into_response()
}
