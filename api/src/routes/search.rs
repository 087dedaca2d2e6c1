//! 患者検索: the clinic's appointments found by patient name, a word of it, a video URL's title
//! or カルテ番号, from the patient search read model. The query travels in the body of a POST,
//! never in the URL, so no name lands in an access log, a proxy's log or the browser history.

use crate::error::{ApiError, Problem};
use crate::extract::{AnyStaff, ApiJson};
use crate::routes::lists::{EntryView, page_size};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use enkaku_domain::ErrorCode;
use enkaku_projections::patient_search::SearchPrefix;
use enkaku_projections::queries;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

/// The longest query, in characters.
const MAX_QUERY_CHARS: usize = 100;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The patient's name, a word of it (the given name, say), a video URL's title or the chart
    /// number, or how one begins. Full- or half-width, upper or lower case, katakana or
    /// hiragana and spaces do not matter. Something other than spaces, up to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub query: String,
    /// Hits to answer, 1 to 500 (default 100).
    #[schema(minimum = 1, maximum = 500, default = 100)]
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    /// The appointments found, of either kind and in any state, the latest start first.
    pub entries: Vec<EntryView>,
    /// More appointments match than `limit`: a longer query narrows them down.
    pub more: bool,
}

impl SearchRequest {
    /// What to look for, or 422 on `query` when it is too long or holds nothing to look for.
    fn prefix(&self) -> Result<SearchPrefix, ApiError> {
        let refuse = |reason: String| {
            ApiError::invalid(ErrorCode::ValidationFailed, format!("query: {reason}")).on_field(Some("query"))
        };
        if self.query.chars().count() > MAX_QUERY_CHARS {
            return Err(refuse(format!("must be at most {MAX_QUERY_CHARS} characters")));
        }
        SearchPrefix::of(&self.query).ok_or_else(|| refuse("must hold something other than spaces".into()))
    }
}

/// 患者検索: the clinic's appointments whose patient name (whole or any word of it), title or
/// chart number begins with `query`, the latest start first. The query is in the body so that
/// it never appears in a URL; a POST that changes nothing, so auditors search too.
#[utoipa::path(post, path = "/api/v1/appointments/search", tag = "read models",
    request_body = SearchRequest,
    responses((status = 200, body = SearchResults), (status = 422, body = Problem)))]
async fn search(
    State(state): State<AppState>,
    AnyStaff(staff): AnyStaff,
    ApiJson(request): ApiJson<SearchRequest>,
) -> Result<Json<SearchResults>, ApiError> {
    let prefix = request.prefix()?;
    let limit = page_size(request.limit)?;
    let tz = state.clinic(staff.clinic_id).await?.time_zone;
    let found = queries::patient_search(&state.db.pool, staff.clinic_id, &prefix, limit).await?;
    let entries = found
        .hits
        .into_iter()
        .map(|hit| EntryView::new(hit, tz))
        .collect();
    Ok(Json(SearchResults {
        entries,
        more: found.more,
    }))
}
