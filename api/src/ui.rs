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

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The problem codes written in the source: `…::new(StatusCode::…, "code", …)`,
    /// `…::invalid("code", …)` in the HTTP layer, and the domain's `=> "code"` table.
    fn codes_in_source() -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = vec![root.join("domain/src/error.rs")];
        let mut folders = vec![root.join("api/src")];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        let mut codes = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            // Only the code that answers requests, not its tests.
            let text = text.split("#[cfg(test)]").next().unwrap_or_default();
            let compact = text
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace("( ", "(");
            for (index, _) in compact.match_indices('"') {
                let before = &compact[..index];
                let introduced = before.ends_with("=> ") && file.ends_with("error.rs")
                    || before.ends_with("invalid(")
                    || before.rsplit_once("new(StatusCode::").is_some_and(|(_, rest)| {
                        rest.ends_with(", ")
                            && rest[..rest.len() - 2]
                                .chars()
                                .all(|c| c.is_ascii_uppercase() || c == '_')
                    });
                if !introduced {
                    continue;
                }
                let literal: String = compact[index + 1..].chars().take_while(|c| *c != '"').collect();
                if !literal.is_empty() && literal.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    codes.push(literal);
                }
            }
        }
        codes.sort();
        codes.dedup();
        codes
    }

    #[test]
    fn every_problem_code_has_a_japanese_message_in_the_ui() {
        let messages =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/lib/messages.js")).unwrap();
        let codes = codes_in_source();
        assert!(
            codes.len() > 20
                && codes.iter().any(|c| c == "start_time_immutable")
                && codes.iter().any(|c| c == "rate_limited"),
            "the scan finds the codes: {codes:?}"
        );
        let missing: Vec<_> = codes
            .iter()
            .filter(|code| {
                !messages.contains(&format!("  {code}:")) && !messages.contains(&format!("'{code}'"))
            })
            .collect();
        assert!(
            missing.is_empty(),
            "codes without a Japanese message in api/ui/lib/messages.js: {missing:?}"
        );
    }
}
