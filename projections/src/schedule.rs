//! The schedule read model (R2, R4, R9): every appointment of either kind, per doctor and day.

use crate::runner::Projector;
use async_trait::async_trait;
use enkaku_domain::appointment::{Event, Kind, Status};
use enkaku_domain::envelope::RecordedEvent;
use enkaku_domain::ids::AppointmentId;
use sqlx::AnyConnection;

pub struct ScheduleProjector;

#[async_trait]
impl Projector for ScheduleProjector {
    fn name(&self) -> &'static str {
        "schedule"
    }

    fn schema(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS schedule_entries (
            appointment_id TEXT    PRIMARY KEY,
            clinic_id      TEXT    NOT NULL,
            doctor_id      TEXT    NOT NULL,
            kind           TEXT    NOT NULL,
            start_at_ms    BIGINT  NOT NULL,
            end_at_ms      BIGINT  NOT NULL,
            status         TEXT    NOT NULL,
            video          INTEGER NOT NULL,
            display_name   TEXT    NOT NULL,
            version        BIGINT  NOT NULL
        );
        CREATE INDEX IF NOT EXISTS schedule_by_doctor_and_time ON schedule_entries (clinic_id, doctor_id, start_at_ms);"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["schedule_entries"]
    }

    async fn apply(
        &self,
        tx: &mut AnyConnection,
        recorded: &RecordedEvent,
        event: &Event,
    ) -> Result<(), sqlx::Error> {
        let version = recorded.version as i64;
        let Some(id) = AppointmentId::from_stream_id(&recorded.stream_id) else {
            return Ok(());
        };
        let id = id.to_string();
        let id = id.as_str();
        match event {
            Event::AppointmentBooked(e) => {
                let row = NewRow {
                    clinic_id: e.clinic_id.to_string(),
                    doctor_id: e.doctor_id.to_string(),
                    kind: Kind::InClinic,
                    start_at_ms: e.start_at.timestamp_millis(),
                    end_at_ms: e.end_at.timestamp_millis(),
                    video: e.video.is_some(),
                    display_name: e.patient_name.to_string(),
                };
                insert(tx, id, &row, version).await
            }
            Event::VideoUrlCreated(e) => {
                let row = NewRow {
                    clinic_id: e.clinic_id.to_string(),
                    doctor_id: e.doctor_id.to_string(),
                    kind: Kind::VideoUrl,
                    start_at_ms: e.start_at.timestamp_millis(),
                    end_at_ms: e.end_at.timestamp_millis(),
                    video: true,
                    display_name: e.title.as_ref().map(|t| t.to_string()).unwrap_or_default(),
                };
                insert(tx, id, &row, version).await
            }
            Event::VideoCallEdited(e) => {
                sqlx::query(
                    "UPDATE schedule_entries
                     SET doctor_id = COALESCE($2, doctor_id), display_name = COALESCE($3, display_name), version = $4
                     WHERE appointment_id = $1 AND version < $4",
                )
                .bind(id)
                .bind(e.doctor_id.map(|d| d.to_string()))
                .bind(e.title.as_ref().map(|t| t.to_string()))
                .bind(version)
                .execute(tx)
                .await
                .map(|_| ())
            }
            _ => match status_after(event) {
                Some(status) => update_status(tx, "schedule_entries", id, status, version).await,
                None => Ok(()),
            },
        }
    }
}

struct NewRow {
    clinic_id: String,
    doctor_id: String,
    kind: Kind,
    start_at_ms: i64,
    end_at_ms: i64,
    video: bool,
    display_name: String,
}

async fn insert(tx: &mut AnyConnection, id: &str, row: &NewRow, version: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO schedule_entries
           (appointment_id, clinic_id, doctor_id, kind, start_at_ms, end_at_ms, status, video, display_name, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (appointment_id) DO NOTHING",
    )
    .bind(id)
    .bind(&row.clinic_id)
    .bind(&row.doctor_id)
    .bind(kind_name(row.kind))
    .bind(row.start_at_ms)
    .bind(row.end_at_ms)
    .bind(status_name(Status::Booked))
    .bind(i32::from(row.video))
    .bind(&row.display_name)
    .bind(version)
    .execute(tx)
    .await
    .map(|_| ())
}

/// The status an event moves an appointment to, if it moves it at all.
pub(crate) fn status_after(event: &Event) -> Option<Status> {
    match event {
        Event::CallCancelled(_) => Some(Status::Cancelled),
        Event::CallStarted(_) => Some(Status::InCall),
        Event::CallEnded(_) => Some(Status::Ended),
        _ => None,
    }
}

/// Move a row's status, once: the version guard makes a repeated event a no-op.
pub(crate) async fn update_status(
    tx: &mut AnyConnection,
    table: &'static str,
    id: &str,
    status: Status,
    version: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE {table} SET status = $2, version = $3 WHERE appointment_id = $1 AND version < $3"
    ))
    .bind(id)
    .bind(status_name(status))
    .bind(version)
    .execute(tx)
    .await
    .map(|_| ())
}

pub fn status_name(s: Status) -> &'static str {
    match s {
        Status::Booked => "booked",
        Status::InCall => "in_call",
        Status::Ended => "ended",
        Status::Cancelled => "cancelled",
    }
}

pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::InClinic => "in_clinic",
        Kind::VideoUrl => "video_url",
    }
}
