//! The two read models: the schedule (R2, R4, R9) and the reception list (R4, R17), each with the
//! call's presence beside its rows.

use crate::error::{ApiError, Problem};
use crate::extract::{ApiQuery, Staff};
use crate::state::AppState;
use crate::views::local;
use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, FixedOffset, NaiveDate};
use chrono_tz::Tz;
use enkaku_commands::ports::Directory;
use enkaku_domain::ErrorCode;
use enkaku_domain::appointment::{DeliveryStatus, Kind, Status};
use enkaku_domain::clinic::{check_day, day_range, slot_grid};
use enkaku_domain::ids::StaffId;
use enkaku_domain::menu::ConsultationMode;
use enkaku_projections::queries::{self, After, ListEntry, PageRequest, Range};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(schedule))
        .routes(routes!(reception))
}

/// Entries per page when the request does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// The most entries one page holds: a day of 30,000 bookings was 8 MB in one answer.
pub const MAX_PAGE_SIZE: u32 = 500;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScheduleQuery {
    /// The clinic's local date, `YYYY-MM-DD`, in the years 2000–2199 (`check_day`).
    #[param(value_type = String, format = Date, pattern = "^2[01][0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub date: NaiveDate,
    pub doctor_id: Uuid,
    /// すべての時間を表示する: include times outside opening hours, marked closed.
    #[serde(default)]
    pub all_times: bool,
    /// Entries per page, 1 to 500 (default 100). The slot grid always comes whole.
    #[param(minimum = 1, maximum = 500, default = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page; absent for the first.
    #[param(pattern = "^[A-Za-z0-9_-]+$", min_length = 1)]
    pub cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReceptionQuery {
    /// The clinic's local date, `YYYY-MM-DD`, in the years 2000–2199 (`check_day`).
    #[param(value_type = String, format = Date, pattern = "^2[01][0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub date: NaiveDate,
    /// Entries per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500, default = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page; absent for the first.
    #[param(pattern = "^[A-Za-z0-9_-]+$", min_length = 1)]
    pub cursor: Option<String>,
}

/// The page a list request asks for. The cursor is opaque to clients: the sort key of the
/// last entry given (start in milliseconds and appointment id), base64url-encoded.
fn page_request(limit: Option<u32>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit = page_size(limit)?;
    let after = cursor
        .map(|c| {
            decode_cursor(c).ok_or_else(|| {
                ApiError::invalid(
                    ErrorCode::ValidationFailed,
                    "cursor: is not a cursor this list gave",
                )
                .on_field(Some("cursor"))
            })
        })
        .transpose()?;
    Ok(PageRequest { limit, after })
}

/// The entries a list request asks for: `limit`, 1 to [`MAX_PAGE_SIZE`], or the default.
pub fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::invalid(
            ErrorCode::ValidationFailed,
            format!("limit: must be 1 to {MAX_PAGE_SIZE}"),
        )
        .on_field(Some("limit")));
    }
    Ok(limit)
}

fn encode_cursor(after: After) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", after.start_at_ms, after.appointment_id))
}

fn decode_cursor(cursor: &str) -> Option<After> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (start_at_ms, appointment_id) = text.split_once('.')?;
    Some(After {
        start_at_ms: start_at_ms.parse().ok()?,
        appointment_id: appointment_id.parse().ok()?,
    })
}

#[derive(Serialize, ToSchema)]
pub struct SlotView {
    pub start_at: DateTime<FixedOffset>,
    pub end_at: DateTime<FixedOffset>,
    pub closed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct EntryView {
    pub appointment_id: Uuid,
    #[schema(schema_with = crate::openapi::kind)]
    pub kind: Kind,
    pub doctor_id: Uuid,
    pub start_at: DateTime<FixedOffset>,
    pub end_at: DateTime<FixedOffset>,
    #[schema(schema_with = crate::openapi::status)]
    pub status: Status,
    /// Shows the video mark (R9, R17).
    pub video: bool,
    /// Patient name, or the title of a video URL; null once erased.
    pub display_name: Option<String>,
    /// The appointment's personal data was erased for good (SPEC §9).
    pub erased: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub menu_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::openapi::mode)]
    pub mode: Option<ConsultationMode>,
    /// Since when the patient has had the call open (「患者さんが入室しました」), while they
    /// have; null otherwise.
    pub patient_joined_at: Option<DateTime<FixedOffset>>,
    /// The reception list only (absent elsewhere): where the newest delivery of the patient URL stands (as in
    /// the appointment's `video.delivery.status`); absent when none was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::openapi::delivery_status)]
    pub url_delivery: Option<DeliveryStatus>,
}

impl EntryView {
    /// A list's entry as the API shows it, its times in the clinic's zone.
    pub fn new(e: ListEntry, tz: Tz) -> Self {
        Self {
            appointment_id: e.appointment_id.as_uuid(),
            kind: e.kind,
            doctor_id: e.doctor_id.as_uuid(),
            start_at: local(e.start_at, tz),
            end_at: local(e.end_at, tz),
            status: e.status,
            video: e.video,
            display_name: e.display_name,
            erased: e.erased,
            chart_number: e.chart_number,
            menu_name: e.menu_name,
            mode: e.mode,
            patient_joined_at: e.patient_joined_at.map(|at| local(at, tz)),
            url_delivery: e.url_delivery,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ScheduleView {
    #[schema(value_type = String)]
    pub date: NaiveDate,
    pub doctor_id: Uuid,
    pub slots: Vec<SlotView>,
    /// One page of the day's appointments, by start and then id.
    pub entries: Vec<EntryView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReceptionView {
    #[schema(value_type = String)]
    pub date: NaiveDate,
    /// One page of the day's bookings, by start and then id.
    pub entries: Vec<EntryView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// One doctor's day: the whole slot grid, and its appointments a page at a time (follow
/// `next_cursor` until it is null).
#[utoipa::path(get, path = "/api/v1/schedule", tag = "read models", params(ScheduleQuery),
    responses((status = 200, body = ScheduleView), (status = 422, body = Problem)))]
async fn schedule(
    State(state): State<AppState>,
    staff: Staff,
    ApiQuery(q): ApiQuery<ScheduleQuery>,
) -> Result<Json<ScheduleView>, ApiError> {
    check_day("date", q.date)?;
    let clinic = state.clinic(staff.clinic_id).await?;
    let doctor = StaffId(q.doctor_id);
    if state.directory.doctor(staff.clinic_id, doctor).await?.is_none() {
        return Err(ApiError::invalid(
            ErrorCode::UnknownDoctor,
            "no doctor with this id in the clinic",
        ));
    }
    let tz = clinic.time_zone;
    let hours = state.directory.day_hours(staff.clinic_id, doctor, q.date).await?;
    let slots = slot_grid(q.date, tz, &hours, q.all_times)
        .into_iter()
        .map(|s| SlotView {
            start_at: local(s.start_at, tz),
            end_at: local(s.end_at, tz),
            closed: s.closed,
        })
        .collect();
    let request = page_request(q.limit, q.cursor.as_deref())?;
    let (from, to) = day_range(q.date, tz);
    let page = queries::schedule(
        &state.db.pool,
        staff.clinic_id,
        doctor,
        Range { from, to },
        request,
    )
    .await?;
    let entries = page.items.into_iter().map(|e| EntryView::new(e, tz)).collect();
    Ok(Json(ScheduleView {
        date: q.date,
        doctor_id: q.doctor_id,
        slots,
        entries,
        next_cursor: page.next.map(encode_cursor),
    }))
}

/// The day's in-clinic bookings (video-URL appointments never appear here), a page at a time
/// (follow `next_cursor` until it is null).
#[utoipa::path(get, path = "/api/v1/reception", tag = "read models", params(ReceptionQuery),
    responses((status = 200, body = ReceptionView), (status = 422, body = Problem)))]
async fn reception(
    State(state): State<AppState>,
    staff: Staff,
    ApiQuery(q): ApiQuery<ReceptionQuery>,
) -> Result<Json<ReceptionView>, ApiError> {
    check_day("date", q.date)?;
    let request = page_request(q.limit, q.cursor.as_deref())?;
    let tz = state.clinic(staff.clinic_id).await?.time_zone;
    let (from, to) = day_range(q.date, tz);
    let page = queries::reception(&state.db.pool, staff.clinic_id, Range { from, to }, request).await?;
    let entries = page.items.into_iter().map(|e| EntryView::new(e, tz)).collect();
    Ok(Json(ReceptionView {
        date: q.date,
        entries,
        next_cursor: page.next.map(encode_cursor),
    }))
}
