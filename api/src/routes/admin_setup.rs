//! Clinic administration (SPEC §8), the rest of set-up, for the clinic's administrators only
//! (`Admin`): treatment menus, each doctor's weekly hours and closed days. Every change is a
//! set-up command with the administrator as actor; edits take `If-Match` with the version of
//! the menu's, the doctor's hours' or the closure's own stream, which answers carry (`version`
//! and `ETag`). After each command the directory shows it before the answer leaves.

use super::admin::json_with_etag;
use crate::error::{ApiError, Problem};
use crate::extract::{Admin, ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::views::MenuView;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{Duration, NaiveDate};
use enkaku_commands::Versioned;
use enkaku_domain::DomainError;
use enkaku_domain::clinic::{DEFAULT_SLOT_MINUTES, check_day, local_date};
use enkaku_domain::ids::{ClosureId, MenuId, StaffId};
use enkaku_domain::menu::ConsultationMode;
use enkaku_domain::setup::closure::{self, AddClosure, Closure};
use enkaku_domain::setup::hours::{
    HoursRange, MINUTES_PER_DAY, SetWeeklyHours, Weekday, Weekdays, WeeklyHours,
};
use enkaku_domain::setup::menu::{self, ClinicMenu, MenuChanges, MenuDefinition};
use enkaku_domain::values::{ClosureReason, MenuName};
use enkaku_infra::directory::ClosureRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(menu_list, create_menu))
        .routes(routes!(change_menu))
        .routes(routes!(weekly_hours, set_weekly_hours))
        .routes(routes!(closure_list, add_closure))
        .routes(routes!(remove_closure))
}

// ---------------------------------------------------------------------------------------------
// Menus
// ---------------------------------------------------------------------------------------------

/// A menu as administrators see it.
#[derive(Serialize, ToSchema)]
pub struct AdminMenuView {
    #[serde(flatten)]
    pub menu: MenuView,
    /// A retired menu (`false`) cannot be booked and is not in `GET /api/v1/menus`; bookings
    /// made with it keep what they copied.
    pub active: bool,
    /// The menu's version: what `If-Match` names.
    pub version: u64,
}

impl AdminMenuView {
    fn new(id: MenuId, menu: &Versioned<ClinicMenu>) -> Self {
        Self {
            menu: MenuView::from(&menu.value.as_menu(id)),
            active: !menu.value.retired,
            version: menu.version,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AdminMenuList {
    pub items: Vec<AdminMenuView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMenuRequest {
    /// 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// One or both of `in_person`, `online`.
    #[schema(schema_with = crate::openapi::menu_modes)]
    pub modes: Vec<ConsultationMode>,
    /// Minutes of a first visit, 5 to 240.
    #[schema(minimum = 5, maximum = 240)]
    pub duration_first_min: u32,
    /// Minutes of a revisit, 5 to 240.
    #[schema(minimum = 5, maximum = 240)]
    pub duration_revisit_min: u32,
    /// A self-pay menu's booking fee in yen, up to 1,000,000; 0 when absent.
    #[serde(default)]
    #[schema(maximum = 1_000_000)]
    pub booking_fee_yen: u32,
}

/// Only what is given changes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeMenuRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(schema_with = crate::openapi::optional_menu_modes)]
    pub modes: Option<Vec<ConsultationMode>>,
    #[schema(minimum = 5, maximum = 240)]
    pub duration_first_min: Option<u32>,
    #[schema(minimum = 5, maximum = 240)]
    pub duration_revisit_min: Option<u32>,
    #[schema(maximum = 1_000_000)]
    pub booking_fee_yen: Option<u32>,
    /// `false` retires the menu (no new bookings), `true` reinstates it.
    pub active: Option<bool>,
}

/// Every menu of the clinic, retired ones too, in the order they were created.
#[utoipa::path(get, path = "/api/v1/admin/menus", tag = "administration",
    responses((status = 200, body = AdminMenuList), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn menu_list(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Json<AdminMenuList>, ApiError> {
    let items = state
        .directory
        .menu_records(admin.clinic_id)
        .await?
        .into_iter()
        .map(|r| AdminMenuView {
            menu: MenuView::from(&r.menu),
            active: r.active,
            version: r.version,
        })
        .collect();
    Ok(Json(AdminMenuList { items }))
}

/// Define a treatment menu (R1); it can be booked at once.
#[utoipa::path(post, path = "/api/v1/admin/menus", tag = "administration",
    request_body = CreateMenuRequest,
    responses((status = 201, body = AdminMenuView, headers(("ETag" = String))), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_menu(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateMenuRequest>,
) -> Result<Response, ApiError> {
    let command = menu::Command::CreateMenu {
        clinic_id: admin.clinic_id,
        menu: MenuDefinition {
            name: MenuName::parse(&request.name)?,
            modes: request.modes,
            duration_first_min: request.duration_first_min,
            duration_revisit_min: request.duration_revisit_min,
            booking_fee_yen: request.booking_fee_yen,
        },
    };
    let id = MenuId(Uuid::now_v7());
    let menu = state.setup.menu(&admin.context(&headers)?, id, command).await?;
    state.directory_changed(admin.clinic_id, None).await?;
    json_with_etag(StatusCode::CREATED, &AdminMenuView::new(id, &menu), menu.version)
}

/// Change a menu, or retire (`active: false`) or reinstate it. Bookings made before keep the
/// name and duration they copied. Another clinic's menu → 404.
#[utoipa::path(patch, path = "/api/v1/admin/menus/{id}", tag = "administration",
    request_body = ChangeMenuRequest,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = AdminMenuView, headers(("ETag" = String))), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 412, body = Problem),
        (status = 422, body = Problem)))]
async fn change_menu(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<ChangeMenuRequest>,
) -> Result<Response, ApiError> {
    let id = MenuId(id);
    let clinic_id = admin.clinic_id;
    let change = menu::Command::ChangeMenu {
        clinic_id,
        changes: MenuChanges {
            name: request.name.as_deref().map(MenuName::parse).transpose()?,
            modes: request.modes,
            duration_first_min: request.duration_first_min,
            duration_revisit_min: request.duration_revisit_min,
            booking_fee_yen: request.booking_fee_yen,
        },
    };
    let mut ctx = admin.context(&headers)?;
    let mut menu = state.setup.menu(&ctx, id, change).await?;
    // `If-Match` guards the request's first command; the second follows on its outcome.
    ctx.if_match = None;
    let activation = match request.active {
        Some(false) => Some(menu::Command::RetireMenu { clinic_id }),
        Some(true) => Some(menu::Command::ReinstateMenu { clinic_id }),
        None => None,
    };
    if let Some(command) = activation {
        menu = state.setup.menu(&ctx, id, command).await?;
    }
    state.directory_changed(clinic_id, None).await?;
    json_with_etag(StatusCode::OK, &AdminMenuView::new(id, &menu), menu.version)
}

// ---------------------------------------------------------------------------------------------
// Weekly hours
// ---------------------------------------------------------------------------------------------

/// One opening range in local time, `"09:00"` to `"12:00"`; the end is exclusive and may be
/// `"24:00"` (midnight).
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeView {
    #[schema(pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    pub start: String,
    #[schema(pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    pub end: String,
}

/// Each weekday's opening ranges; a day without any is closed (in a request, so is a day
/// left out).
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeekdaysView {
    #[serde(default)]
    pub mon: Vec<RangeView>,
    #[serde(default)]
    pub tue: Vec<RangeView>,
    #[serde(default)]
    pub wed: Vec<RangeView>,
    #[serde(default)]
    pub thu: Vec<RangeView>,
    #[serde(default)]
    pub fri: Vec<RangeView>,
    #[serde(default)]
    pub sat: Vec<RangeView>,
    #[serde(default)]
    pub sun: Vec<RangeView>,
}

impl WeekdaysView {
    fn day(&self, day: Weekday) -> &[RangeView] {
        match day {
            Weekday::Mon => &self.mon,
            Weekday::Tue => &self.tue,
            Weekday::Wed => &self.wed,
            Weekday::Thu => &self.thu,
            Weekday::Fri => &self.fri,
            Weekday::Sat => &self.sat,
            Weekday::Sun => &self.sun,
        }
    }

    /// The domain's template on the wire: minutes become `HH:MM`.
    fn new(weekdays: &Weekdays) -> Self {
        let day = |day: Weekday| {
            weekdays
                .day(day)
                .iter()
                .map(|r| RangeView {
                    start: clock_time(r.start_min),
                    end: clock_time(r.end_min),
                })
                .collect()
        };
        Self {
            mon: day(Weekday::Mon),
            tue: day(Weekday::Tue),
            wed: day(Weekday::Wed),
            thu: day(Weekday::Thu),
            fri: day(Weekday::Fri),
            sat: day(Weekday::Sat),
            sun: day(Weekday::Sun),
        }
    }

    /// The template as the domain holds it; a time that is no `HH:MM` from `00:00` to
    /// `24:00` is refused on its day's field (`weekdays.mon`, …).
    fn parse(&self) -> Result<Weekdays, DomainError> {
        let mut weekdays = Weekdays::default();
        for day in Weekday::ALL {
            *weekdays.day_mut(day) = self
                .day(day)
                .iter()
                .map(|r| match (minute_of_day(&r.start), minute_of_day(&r.end)) {
                    (Some(start_min), Some(end_min)) => Ok(HoursRange { start_min, end_min }),
                    _ => Err(DomainError::invalid(
                        day.field(),
                        "each time must be HH:MM, from 00:00 to 24:00",
                    )),
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(weekdays)
    }
}

/// `"HH:MM"` as minutes after midnight: `00:00` to `23:59`, and `24:00` for the end of a day.
fn minute_of_day(text: &str) -> Option<u32> {
    let two_digits = |t: &str| -> Option<u32> {
        if t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (hours, minutes) = text.split_once(':')?;
    let (hours, minutes) = (two_digits(hours)?, two_digits(minutes)?);
    let minute = hours * 60 + minutes;
    (minutes < 60 && minute <= MINUTES_PER_DAY).then_some(minute)
}

/// Minutes after midnight as `"HH:MM"`.
fn clock_time(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// A doctor's weekly template.
#[derive(Serialize, ToSchema)]
pub struct HoursView {
    pub doctor_id: Uuid,
    /// Length of one slot of the schedule's grid in minutes.
    pub slot_min: u32,
    pub weekdays: WeekdaysView,
    /// The version of the doctor's hours (0 before any were set): what `If-Match` names.
    pub version: u64,
}

impl HoursView {
    fn new(doctor: StaffId, hours: &Versioned<Option<WeeklyHours>>) -> Self {
        let (slot_min, weekdays) = match &hours.value {
            Some(h) => (h.slot_min, WeekdaysView::new(&h.weekdays)),
            None => (DEFAULT_SLOT_MINUTES, WeekdaysView::new(&Weekdays::default())),
        };
        Self {
            doctor_id: doctor.as_uuid(),
            slot_min,
            weekdays,
            version: hours.version,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HoursQuery {
    /// One of the clinic's doctors.
    pub doctor_id: Uuid,
}

/// The whole template: it replaces the doctor's earlier one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetHoursRequest {
    pub doctor_id: Uuid,
    /// 5 to 240 minutes.
    #[schema(minimum = 5, maximum = 240)]
    pub slot_min: u32,
    pub weekdays: WeekdaysView,
}

/// A doctor's weekly hours: each weekday's opening ranges and the slot length. A doctor
/// without any has empty days and 15-minute slots, at version 0. Someone who is not one of
/// the clinic's doctors → 422 `unknown_doctor`.
#[utoipa::path(get, path = "/api/v1/admin/hours", tag = "administration", params(HoursQuery),
    responses((status = 200, body = HoursView, headers(("ETag" = String))), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn weekly_hours(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiQuery(q): ApiQuery<HoursQuery>,
) -> Result<Response, ApiError> {
    let doctor = StaffId(q.doctor_id);
    let hours = state.setup.hours_state(admin.clinic_id, doctor).await?;
    json_with_etag(StatusCode::OK, &HoursView::new(doctor, &hours), hours.version)
}

/// Set a doctor's weekly hours. Each day's ranges start before they end, end by `24:00` and
/// do not overlap (one may end where the next begins); the schedule's grid follows at once.
#[utoipa::path(put, path = "/api/v1/admin/hours", tag = "administration",
    request_body = SetHoursRequest,
    params(("If-Match" = Option<String>, Header)),
    responses((status = 200, body = HoursView, headers(("ETag" = String))), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
async fn set_weekly_hours(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    ApiJson(request): ApiJson<SetHoursRequest>,
) -> Result<Response, ApiError> {
    let doctor = StaffId(request.doctor_id);
    let command = SetWeeklyHours {
        clinic_id: admin.clinic_id,
        doctor_id: doctor,
        slot_min: request.slot_min,
        weekdays: request.weekdays.parse()?,
    };
    let hours = state.setup.hours(&admin.context(&headers)?, command).await?;
    state.directory_changed(admin.clinic_id, None).await?;
    let hours = Versioned {
        value: Some(hours.value),
        version: hours.version,
    };
    json_with_etag(StatusCode::OK, &HoursView::new(doctor, &hours), hours.version)
}

// ---------------------------------------------------------------------------------------------
// Closures
// ---------------------------------------------------------------------------------------------

/// The most days one list of closures covers.
pub const MAX_CLOSURE_DAYS: i64 = 366;

/// A closed day (休診日).
#[derive(Serialize, ToSchema)]
pub struct ClosureView {
    pub id: Uuid,
    /// The clinic's local date, `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// The doctor who is away; null when the whole clinic is closed.
    pub doctor_id: Option<Uuid>,
    pub reason: String,
    /// The closure's version: what `If-Match` names.
    pub version: u64,
}

impl From<ClosureRecord> for ClosureView {
    fn from(r: ClosureRecord) -> Self {
        Self {
            id: r.id.as_uuid(),
            date: r.date,
            doctor_id: r.doctor_id.map(|d| d.as_uuid()),
            reason: r.reason,
            version: r.version,
        }
    }
}

impl ClosureView {
    fn new(id: ClosureId, closure: &Versioned<Closure>) -> Self {
        let c = &closure.value;
        Self {
            id: id.as_uuid(),
            date: c.date,
            doctor_id: c.doctor_id.map(|d| d.as_uuid()),
            reason: c.reason.to_string(),
            version: closure.version,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ClosureList {
    pub items: Vec<ClosureView>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClosureQuery {
    /// The first local date, `YYYY-MM-DD`; today when absent.
    #[param(value_type = Option<String>, format = Date, pattern = "^2[01][0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub from: Option<NaiveDate>,
    /// The last local date, not before `from`: 366 days at most in all; `from` and 365 days
    /// when absent.
    #[param(value_type = Option<String>, format = Date, pattern = "^2[01][0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub to: Option<NaiveDate>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddClosureRequest {
    /// The clinic's local date, `YYYY-MM-DD`, in the years 2000–2199.
    #[schema(value_type = String, format = Date, pattern = "^2[01][0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub date: NaiveDate,
    /// One of the clinic's doctors; absent or null closes the whole clinic.
    pub doctor_id: Option<Uuid>,
    /// 1 to 200 characters, as staff see it.
    #[schema(min_length = 1, max_length = 200)]
    pub reason: String,
}

/// The closures in force from `from` to `to` (both included), by date.
#[utoipa::path(get, path = "/api/v1/admin/closures", tag = "administration", params(ClosureQuery),
    responses((status = 200, body = ClosureList), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn closure_list(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiQuery(q): ApiQuery<ClosureQuery>,
) -> Result<Json<ClosureList>, ApiError> {
    let from = match q.from {
        Some(from) => from,
        None => local_date(
            state.service.now(),
            state.clinic(admin.clinic_id).await?.time_zone,
        ),
    };
    check_day("from", from)?;
    let to = q.to.unwrap_or(from + Duration::days(MAX_CLOSURE_DAYS - 1));
    check_day("to", to)?;
    if to < from || (to - from).num_days() >= MAX_CLOSURE_DAYS {
        return Err(DomainError::invalid(
            "to",
            format!("must not be before `from`, and the range at most {MAX_CLOSURE_DAYS} days"),
        )
        .into());
    }
    let items = state
        .directory
        .closures(admin.clinic_id, from, to)
        .await?
        .into_iter()
        .map(ClosureView::from)
        .collect();
    Ok(Json(ClosureList { items }))
}

/// Close a day for the whole clinic or one doctor: the schedule shows its slots closed, and
/// in-clinic bookings on it need `allow_outside_hours`.
#[utoipa::path(post, path = "/api/v1/admin/closures", tag = "administration",
    request_body = AddClosureRequest,
    responses((status = 201, body = ClosureView, headers(("ETag" = String))), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn add_closure(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    ApiJson(request): ApiJson<AddClosureRequest>,
) -> Result<Response, ApiError> {
    let command = closure::Command::AddClosure(AddClosure {
        clinic_id: admin.clinic_id,
        date: request.date,
        doctor_id: request.doctor_id.map(StaffId),
        reason: ClosureReason::parse(&request.reason)?,
    });
    let id = ClosureId(Uuid::now_v7());
    let closure = state
        .setup
        .closure(&admin.context(&headers)?, id, command)
        .await?;
    state.directory_changed(admin.clinic_id, None).await?;
    json_with_etag(
        StatusCode::CREATED,
        &ClosureView::new(id, &closure),
        closure.version,
    )
}

/// Withdraw a closure: the day opens again as the weekly hours say. Its history stays;
/// removing it again changes nothing. Another clinic's closure → 404.
#[utoipa::path(delete, path = "/api/v1/admin/closures/{id}", tag = "administration",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 412, body = Problem)))]
async fn remove_closure(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let command = closure::Command::RemoveClosure {
        clinic_id: admin.clinic_id,
    };
    state
        .setup
        .closure(&admin.context(&headers)?, ClosureId(id), command)
        .await?;
    state.directory_changed(admin.clinic_id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_on_the_wire_are_hh_mm_up_to_midnight() {
        assert_eq!(minute_of_day("00:00"), Some(0));
        assert_eq!(minute_of_day("09:30"), Some(570));
        assert_eq!(minute_of_day("23:59"), Some(1439));
        assert_eq!(minute_of_day("24:00"), Some(MINUTES_PER_DAY));
        for bad in [
            "24:01",
            "25:00",
            "9:00",
            "09:60",
            "0900",
            "09:00:00",
            "+9:00",
            "０９:００",
            "",
        ] {
            assert_eq!(minute_of_day(bad), None, "{bad}");
        }
        for minute in 0..=MINUTES_PER_DAY {
            assert_eq!(minute_of_day(&clock_time(minute)), Some(minute));
        }
    }
}
