//! Clinic set-up as staff see it (R1): doctors and menus of their own clinic.

use crate::error::{ApiError, Problem};
use crate::extract::Staff;
use crate::state::AppState;
use crate::views::MenuView;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(doctors))
        .routes(routes!(menus))
}

#[derive(Serialize, ToSchema)]
pub struct DoctorView {
    pub id: Uuid,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct DoctorList {
    pub items: Vec<DoctorView>,
}

#[derive(Serialize, ToSchema)]
pub struct MenuList {
    pub items: Vec<MenuView>,
}

/// The clinic's doctors.
#[utoipa::path(get, path = "/api/v1/doctors", tag = "setup", responses((status = 200, body = DoctorList), (status = 401, body = Problem)))]
async fn doctors(State(state): State<AppState>, staff: Staff) -> Result<Json<DoctorList>, ApiError> {
    let items = state
        .directory
        .doctors(staff.clinic_id)
        .await?
        .into_iter()
        .map(|d| DoctorView {
            id: d.id.as_uuid(),
            name: d.name,
        })
        .collect();
    Ok(Json(DoctorList { items }))
}

/// The clinic's treatment menus.
#[utoipa::path(get, path = "/api/v1/menus", tag = "setup", responses((status = 200, body = MenuList), (status = 401, body = Problem)))]
async fn menus(State(state): State<AppState>, staff: Staff) -> Result<Json<MenuList>, ApiError> {
    let items = state
        .directory
        .menus(staff.clinic_id)
        .await?
        .iter()
        .map(MenuView::from)
        .collect();
    Ok(Json(MenuList { items }))
}
