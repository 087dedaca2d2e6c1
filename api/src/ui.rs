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

/// The clinic UI's shell. The links of its header's `<nav>` are the list of its pages: the
/// server serves the shell at their paths, and `staff.js` reads them to pick the view.
const STAFF_HTML: &str = include_str!("../ui/staff.html");

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let pages = staff_pages(STAFF_HTML);
    // The first link is the home page.
    let home = pages[0];
    let mut router = Router::new()
        .route("/", get(move || async move { Redirect::to(home) }))
        .route("/login", get(|| page("login.html")))
        .route("/password", get(|| page("password.html")))
        .route("/two-factor", get(|| page("two-factor.html")));
    for path in pages {
        router = router.route(path, get(|| page("staff.html")));
    }
    router
        // The token stays in the path; the page's script reads it from there.
        .route("/call/{token}", get(|| page("call.html")))
        .route("/p/{token}", get(|| page("patient.html")))
        .route("/setup/{token}", get(|| page("setup.html")))
        .route("/favicon.ico", get(|| page("icon.svg")))
        .route("/ui/{*file}", get(asset))
}

/// The paths of the clinic UI's pages: the `href` of every link in the `<nav>` of `html`.
fn staff_pages(html: &str) -> Vec<&str> {
    let pages: Vec<_> = nav_links(html)
        .into_iter()
        .map(|link| attribute(link, "href").expect("every link of the <nav> has an href"))
        .collect();
    assert!(!pages.is_empty(), "the <nav> links at least one page");
    pages
}

/// The inside of each `<a …>` tag of the first `<nav>` in `html`.
fn nav_links(html: &str) -> Vec<&str> {
    let (_, rest) = html.split_once("<nav").expect("the page has a <nav>");
    let (nav, _) = rest.split_once("</nav>").expect("its <nav> is closed");
    nav.split("<a ")
        .skip(1)
        .map(|tag| tag.split_once('>').expect("an <a> tag is closed").0)
        .collect()
}

/// The value of `name="…"` in the inside of a tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = format!("{name}=\"");
    tag.match_indices(&start)
        .find(|(at, _)| tag[..*at].chars().next_back().is_none_or(char::is_whitespace))
        .and_then(|(at, _)| tag[at + start.len()..].split_once('"'))
        .map(|(value, _)| value)
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
    use super::{STAFF_HTML, attribute, nav_links, router, staff_pages};
    use enkaku_domain::ErrorCode;

    #[test]
    fn the_clinic_pages_are_the_links_of_the_header() {
        assert_eq!(
            staff_pages(STAFF_HTML),
            ["/schedule", "/reception", "/search", "/outbox", "/settings"]
        );
        // Every path is a route axum accepts, none twice and none taken by another page.
        let _ = router::<()>();
    }

    #[test]
    fn every_linked_page_has_its_view_in_staff_js_and_every_view_a_link() {
        let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/staff.js")).unwrap();
        let (_, views) = script.split_once("const VIEWS = {").expect("staff.js has VIEWS");
        let (views, _) = views.split_once("};").unwrap();
        let mut in_script: Vec<_> = views
            .split(',')
            .map(|entry| entry.split_once(':').expect("`view: function`").0.trim())
            .collect();
        let mut linked: Vec<_> = nav_links(STAFF_HTML)
            .into_iter()
            .map(|link| attribute(link, "data-view").expect("every page link has a data-view"))
            .collect();
        in_script.sort_unstable();
        linked.sort_unstable();
        assert_eq!(linked, in_script);
    }

    #[test]
    fn attributes_are_read_by_their_whole_name() {
        let tag = r#"data-href="/no" href="/yes" title="x""#;
        assert_eq!(attribute(tag, "href"), Some("/yes"));
        assert_eq!(attribute(tag, "data-href"), Some("/no"));
        assert_eq!(attribute(tag, "lang"), None);
    }

    #[test]
    fn every_problem_code_has_a_japanese_message_in_the_ui() {
        let messages =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/lib/messages.js")).unwrap();
        let missing: Vec<_> = ErrorCode::ALL
            .iter()
            .map(|code| code.as_str())
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
