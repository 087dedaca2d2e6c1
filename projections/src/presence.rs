//! The presence read model: since when each side has had a call open, per appointment, from
//! the call's own stream (`ParticipantJoined` / `ParticipantLeft`). The schedule and the
//! reception list show it beside their rows (「患者さんが入室しました (10:02〜)」).

use crate::runner::Projector;
use crate::writes::{Value, Writes};
use enkaku_domain::appointment::Event;
use enkaku_domain::envelope::RecordedEvent;
use enkaku_domain::ids::AppointmentId;
use enkaku_domain::presence::CallRole;

pub struct PresenceProjector;

/// The column holding since when `role` is there (null while it is not).
fn since_column(role: CallRole) -> &'static str {
    match role {
        CallRole::Clinic => "clinic_since_ms",
        CallRole::Patient => "patient_since_ms",
    }
}

impl Projector for PresenceProjector {
    fn name(&self) -> &'static str {
        "presence"
    }

    fn schema(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS call_presence (
            appointment_id   TEXT   PRIMARY KEY,
            clinic_id        TEXT   NOT NULL,
            clinic_since_ms  BIGINT,
            patient_since_ms BIGINT,
            version          BIGINT NOT NULL
        );"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["call_presence"]
    }

    fn shows(&self, event: &Event) -> bool {
        matches!(event, Event::ParticipantJoined(_) | Event::ParticipantLeft(_))
    }

    fn apply(&self, batch: &[(&RecordedEvent, &Event)], writes: &mut Writes) {
        for (recorded, event) in batch {
            let (role, since) = match event {
                Event::ParticipantJoined(e) => (e.role, Some(e.joined_at.timestamp_millis())),
                Event::ParticipantLeft(e) => (e.role, None),
                _ => continue,
            };
            let Some(id) = AppointmentId::from_call_stream_id(&recorded.stream_id) else {
                continue;
            };
            // The row's version is the call stream's: a repeated or older event changes nothing.
            let column = since_column(role);
            writes.push(
                format!(
                    "INSERT INTO call_presence (appointment_id, clinic_id, {column}, version)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (appointment_id) DO UPDATE SET {column} = $3, version = $4
                     WHERE call_presence.version < $4"
                ),
                vec![
                    Value::Text(id.to_string()),
                    Value::Text(recorded.metadata.clinic_id.to_string()),
                    Value::MaybeInt(since),
                    Value::Int(recorded.version as i64),
                ],
            );
        }
    }
}
