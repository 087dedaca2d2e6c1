//! Reading the read models: what the schedule and reception endpoints serve.

use chrono::{DateTime, Utc};
use enkaku_domain::ids::{AppointmentId, ClinicId, StaffId};
use serde::Serialize;
use sqlx::{AnyPool, FromRow};

/// A time range `[from, to)`, e.g. one local day.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScheduleEntry {
    pub appointment_id: AppointmentId,
    pub kind: String,
    pub doctor_id: StaffId,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub status: String,
    pub video: bool,
    pub display_name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReceptionEntry {
    pub appointment_id: AppointmentId,
    pub kind: String,
    pub doctor_id: StaffId,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub status: String,
    pub video: bool,
    pub display_name: String,
    pub chart_number: Option<String>,
    pub menu_name: String,
    pub mode: String,
}

#[derive(FromRow)]
struct ScheduleRow {
    appointment_id: String,
    kind: String,
    doctor_id: String,
    start_at_ms: i64,
    end_at_ms: i64,
    status: String,
    video: i32,
    display_name: String,
}

#[derive(FromRow)]
struct ReceptionRow {
    appointment_id: String,
    doctor_id: String,
    start_at_ms: i64,
    end_at_ms: i64,
    status: String,
    video: i32,
    patient_name: String,
    chart_number: Option<String>,
    menu_name: String,
    mode: String,
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn appointment_id(text: &str) -> AppointmentId {
    text.parse().unwrap_or(AppointmentId(uuid::Uuid::nil()))
}

fn staff_id(text: &str) -> StaffId {
    text.parse().unwrap_or(StaffId(uuid::Uuid::nil()))
}

pub async fn schedule(
    pool: &AnyPool,
    clinic: ClinicId,
    doctor: StaffId,
    range: Range,
) -> Result<Vec<ScheduleEntry>, sqlx::Error> {
    let rows: Vec<ScheduleRow> = sqlx::query_as(
        "SELECT appointment_id, kind, doctor_id, start_at_ms, end_at_ms, status, video, display_name
         FROM schedule_entries
         WHERE clinic_id = $1 AND doctor_id = $2 AND start_at_ms >= $3 AND start_at_ms < $4
         ORDER BY start_at_ms, appointment_id",
    )
    .bind(clinic.to_string())
    .bind(doctor.to_string())
    .bind(range.from.timestamp_millis())
    .bind(range.to.timestamp_millis())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ScheduleEntry {
            appointment_id: appointment_id(&r.appointment_id),
            kind: r.kind,
            doctor_id: staff_id(&r.doctor_id),
            start_at: time(r.start_at_ms),
            end_at: time(r.end_at_ms),
            status: r.status,
            video: r.video != 0,
            display_name: r.display_name,
        })
        .collect())
}

pub async fn reception(
    pool: &AnyPool,
    clinic: ClinicId,
    range: Range,
) -> Result<Vec<ReceptionEntry>, sqlx::Error> {
    let rows: Vec<ReceptionRow> = sqlx::query_as(
        "SELECT appointment_id, doctor_id, start_at_ms, end_at_ms, status, video, patient_name, chart_number, menu_name, mode
         FROM reception_entries
         WHERE clinic_id = $1 AND start_at_ms >= $2 AND start_at_ms < $3
         ORDER BY start_at_ms, appointment_id",
    )
    .bind(clinic.to_string())
    .bind(range.from.timestamp_millis())
    .bind(range.to.timestamp_millis())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ReceptionEntry {
            appointment_id: appointment_id(&r.appointment_id),
            kind: "in_clinic".into(),
            doctor_id: staff_id(&r.doctor_id),
            start_at: time(r.start_at_ms),
            end_at: time(r.end_at_ms),
            status: r.status,
            video: r.video != 0,
            display_name: r.patient_name,
            chart_number: r.chart_number,
            menu_name: r.menu_name,
            mode: r.mode,
        })
        .collect())
}
