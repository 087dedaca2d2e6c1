//! The reception list read model (R4, R9, R17): in-clinic bookings only, per day.
//! Video-URL appointments never appear here.

use crate::bulk::BulkInsert;
use crate::runner::{Projector, QueryIndex};
use crate::schedule::{fold_status, forget_personal, row_key, update_status};
use crate::writes::{Value, Writes};
use enkaku_domain::appointment::{Event, Status, status_after};
use enkaku_domain::envelope::RecordedEvent;

pub struct ReceptionProjector;

impl Projector for ReceptionProjector {
    fn name(&self) -> &'static str {
        "reception"
    }

    fn schema(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS reception_entries (
            appointment_id TEXT    PRIMARY KEY,
            clinic_id      TEXT    NOT NULL,
            doctor_id      TEXT    NOT NULL,
            start_at_ms    BIGINT  NOT NULL,
            end_at_ms      BIGINT  NOT NULL,
            status         TEXT    NOT NULL,
            video          INTEGER NOT NULL,
            -- NULL (with chart_number) once the personal data was erased.
            patient_name   TEXT,
            chart_number   TEXT,
            menu_name      TEXT    NOT NULL,
            mode           TEXT    NOT NULL,
            version        BIGINT  NOT NULL
        );"
    }

    fn query_indexes(&self) -> &'static [QueryIndex] {
        &[QueryIndex {
            name: "reception_by_time",
            on: "reception_entries (clinic_id, start_at_ms)",
        }]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["reception_entries"]
    }

    /// Every status change, though only in-clinic bookings have rows here: the event alone
    /// does not say which kind its appointment is.
    fn shows(&self, event: &Event) -> bool {
        matches!(event, Event::AppointmentBooked(_) | Event::PersonalDataErased(_))
            || status_after(event).is_some()
    }

    fn apply(&self, batch: &[(&RecordedEvent, &Event)], writes: &mut Writes) {
        let mut inserts = BulkInsert::new(
            "INSERT INTO reception_entries
               (appointment_id, clinic_id, doctor_id, start_at_ms, end_at_ms, status, video,
                patient_name, chart_number, menu_name, mode, version)",
            12,
            "ON CONFLICT (appointment_id) DO UPDATE SET status = excluded.status, version = excluded.version
             WHERE reception_entries.version < excluded.version",
        );
        const STATUS: usize = 5;
        const VERSION: usize = 11;
        for (recorded, event) in batch {
            let Some((id, version)) = row_key(recorded) else {
                continue;
            };
            if let Event::AppointmentBooked(e) = event {
                let patient = e.personal.known();
                inserts.push(
                    &id,
                    vec![
                        Value::Text(id.clone()),
                        Value::Text(e.clinic_id.to_string()),
                        Value::Text(e.doctor_id.to_string()),
                        Value::Int(e.start_at.timestamp_millis()),
                        Value::Int(e.end_at.timestamp_millis()),
                        Value::Word(Status::Booked.as_str()),
                        Value::Int(i64::from(e.video.is_some())),
                        Value::MaybeText(patient.map(|p| p.patient_name.to_string())),
                        Value::MaybeText(
                            patient
                                .and_then(|p| p.chart_number.as_ref())
                                .map(|c| c.to_string()),
                        ),
                        Value::Text(e.menu.name.clone()),
                        Value::Word(e.mode.as_str()),
                        Value::Int(version),
                    ],
                );
            } else if let Event::PersonalDataErased(_) = event {
                inserts.flush_for(writes, &id);
                forget_personal(
                    writes,
                    "reception_entries",
                    &["patient_name", "chart_number"],
                    id,
                    version,
                );
            } else if let Some(status) = status_after(event)
                && !fold_status(&mut inserts, &id, (STATUS, VERSION), status, version)
            {
                update_status(writes, "reception_entries", id, status, version);
            }
        }
        inserts.flush(writes);
    }
}
