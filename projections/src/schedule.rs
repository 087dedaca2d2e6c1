//! The schedule read model (R2, R4, R9): every appointment of either kind, per doctor and day.

use crate::bulk::BulkInsert;
use crate::runner::{Projector, QueryIndex};
use crate::writes::{Value, Writes};
use enkaku_domain::appointment::{Event, Kind, Status, status_after};
use enkaku_domain::envelope::RecordedEvent;
use enkaku_domain::ids::AppointmentId;

pub struct ScheduleProjector;

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
            -- NULL once the appointment's personal data was erased.
            display_name   TEXT,
            -- When it was cancelled: retention counts from then instead of its end.
            cancelled_at_ms BIGINT,
            version        BIGINT  NOT NULL
        );"
    }

    fn query_indexes(&self) -> &'static [QueryIndex] {
        &[
            QueryIndex {
                name: "schedule_by_doctor_and_time",
                on: "schedule_entries (clinic_id, doctor_id, start_at_ms)",
            },
            QueryIndex {
                name: "schedule_by_end",
                on: "schedule_entries (end_at_ms)",
            },
        ]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["schedule_entries"]
    }

    fn shows(&self, event: &Event) -> bool {
        matches!(
            event,
            Event::AppointmentBooked(_)
                | Event::VideoUrlCreated(_)
                | Event::VideoCallEdited(_)
                | Event::PersonalDataErased(_)
        ) || status_after(event).is_some()
    }

    fn apply(&self, batch: &[(&RecordedEvent, &Event)], writes: &mut Writes) {
        let mut inserts = BulkInsert::new(
            "INSERT INTO schedule_entries
               (appointment_id, clinic_id, doctor_id, kind, start_at_ms, end_at_ms, status, video, display_name,
                cancelled_at_ms, version)",
            11,
            "ON CONFLICT (appointment_id) DO UPDATE
               SET status = excluded.status, cancelled_at_ms = excluded.cancelled_at_ms, version = excluded.version
             WHERE schedule_entries.version < excluded.version",
        );
        const STATUS: usize = 6;
        const CANCELLED_AT: usize = 9;
        const VERSION: usize = 10;
        for (recorded, event) in batch {
            let Some((id, version)) = row_key(recorded) else {
                continue;
            };
            let created = match event {
                Event::AppointmentBooked(e) => Some((
                    e.clinic_id,
                    e.doctor_id,
                    Kind::InClinic,
                    e.start_at,
                    e.end_at,
                    e.video.is_some(),
                    e.personal.known().map(|p| p.patient_name.to_string()),
                )),
                Event::VideoUrlCreated(e) => Some((
                    e.clinic_id,
                    e.doctor_id,
                    Kind::VideoUrl,
                    e.start_at,
                    e.end_at,
                    true,
                    e.personal
                        .known()
                        .map(|t| t.title.as_ref().map(|t| t.to_string()).unwrap_or_default()),
                )),
                _ => None,
            };
            if let Some((clinic, doctor, kind, start, end, video, name)) = created {
                inserts.push(
                    &id,
                    vec![
                        Value::Text(id.clone()),
                        Value::Text(clinic.to_string()),
                        Value::Text(doctor.to_string()),
                        Value::Word(kind.as_str()),
                        Value::Int(start.timestamp_millis()),
                        Value::Int(end.timestamp_millis()),
                        Value::Word(Status::Booked.as_str()),
                        Value::Int(i64::from(video)),
                        Value::MaybeText(name),
                        Value::MaybeInt(None),
                        Value::Int(version),
                    ],
                );
            } else if let Event::VideoCallEdited(e) = event {
                inserts.flush_for(writes, &id);
                writes.push(
                    "UPDATE schedule_entries
                     SET doctor_id = COALESCE($2, doctor_id), display_name = COALESCE($3, display_name), version = $4
                     WHERE appointment_id = $1 AND version < $4",
                    vec![
                        Value::Text(id),
                        Value::MaybeText(e.doctor_id.map(|d| d.to_string())),
                        Value::MaybeText(edited_title(e)),
                        Value::Int(version),
                    ],
                );
            } else if let Event::PersonalDataErased(_) = event {
                inserts.flush_for(writes, &id);
                forget_personal(writes, "schedule_entries", &["display_name"], id, version);
            } else if let Event::CallCancelled(e) = event {
                let cancelled_at = e.cancelled_at.timestamp_millis();
                let folded = inserts.fold(
                    &id,
                    &[
                        (STATUS, Value::Word(Status::Cancelled.as_str())),
                        (CANCELLED_AT, Value::MaybeInt(Some(cancelled_at))),
                        (VERSION, Value::Int(version)),
                    ],
                );
                if folded {
                    continue;
                }
                writes.push(
                    "UPDATE schedule_entries SET status = $2, cancelled_at_ms = $3, version = $4
                     WHERE appointment_id = $1 AND version < $4",
                    vec![
                        Value::Text(id),
                        Value::Word(Status::Cancelled.as_str()),
                        Value::Int(cancelled_at),
                        Value::Int(version),
                    ],
                );
            } else if let Some(status) = status_after(event)
                && !fold_status(&mut inserts, &id, (STATUS, VERSION), status, version)
            {
                update_status(writes, "schedule_entries", id, status, version);
            }
        }
        inserts.flush(writes);
    }
}

/// The key and version a read-model row of this event's appointment carries; `None` for
/// streams that are not appointments.
pub(crate) fn row_key(recorded: &RecordedEvent) -> Option<(String, i64)> {
    let id = AppointmentId::from_stream_id(&recorded.stream_id)?;
    Some((id.to_string(), recorded.version as i64))
}

/// The title a video-URL edit gave, if it gave one (and it can still be read).
pub(crate) fn edited_title(e: &enkaku_domain::appointment::VideoCallEdited) -> Option<String> {
    e.personal
        .known()
        .and_then(|t| t.title.as_ref())
        .map(|t| t.to_string())
}

/// Empty the personal `columns` of every row of the appointment `id` (SPEC §9), once: the
/// version guard makes a repeated erasure a no-op.
pub(crate) fn forget_personal(
    writes: &mut Writes,
    table: &'static str,
    columns: &[&str],
    id: String,
    version: i64,
) {
    let emptied: Vec<String> = columns.iter().map(|c| format!("{c} = NULL")).collect();
    writes.push(
        format!(
            "UPDATE {table} SET {}, version = $2 WHERE appointment_id = $1 AND version < $2",
            emptied.join(", ")
        ),
        vec![Value::Text(id), Value::Int(version)],
    );
}

/// Fold a status change into the buffered creation of `id`, at the places `(status, version)`
/// of its row; false when `id` has none buffered.
pub(crate) fn fold_status(
    inserts: &mut BulkInsert,
    id: &str,
    (status_column, version_column): (usize, usize),
    status: Status,
    version: i64,
) -> bool {
    inserts.fold(
        id,
        &[
            (status_column, Value::Word(status.as_str())),
            (version_column, Value::Int(version)),
        ],
    )
}

/// Move a row's status, once: the version guard makes a repeated event a no-op.
pub(crate) fn update_status(
    writes: &mut Writes,
    table: &'static str,
    id: String,
    status: Status,
    version: i64,
) {
    writes.push(
        format!("UPDATE {table} SET status = $2, version = $3 WHERE appointment_id = $1 AND version < $3"),
        vec![Value::Text(id), Value::Word(status.as_str()), Value::Int(version)],
    );
}
