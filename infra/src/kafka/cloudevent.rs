//! The envelope as a CloudEvents 1.0 event in **structured mode**: the Kafka message value is
//! one `application/cloudevents+json` document holding every attribute and the payload, so a
//! plain Kafka client needs nothing but a JSON parser. The key is the `stream_id`.
//!
//! | envelope | CloudEvents |
//! |---|---|
//! | `event_id` | `id` |
//! | `type`, `schema_version` | `type` = `enkaku.appointment.<type>` (`enkaku.setup.<type>` for set-up events), extension `schemaversion` |
//! | `stream_id` | `subject` |
//! | `occurred_at` | `time` |
//! | `data` | `data` (`datacontenttype` `application/json`) |
//! | `version`, `position` | extensions `streamversion`, `position` |
//! | `metadata` | `source` = `/clinics/<clinic_id>`, extensions `clinicid`, `actor`, `correlationid`, `causationid`, and `clientrequestid` when present |

use cloudevents::event::ExtensionValue;
use cloudevents::{AttributesReader, Data, Event, EventBuilder, EventBuilderV10};
use enkaku_domain::envelope::{EventData, EventMetadata, RecordedEvent, StoredEvent};
use enkaku_domain::setup;

pub const CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";
/// The CloudEvents `type` of the appointments' events is this and the envelope's `type`.
pub const APPOINTMENT_TYPE_PREFIX: &str = "enkaku.appointment.";
/// The same for set-up events.
pub const SETUP_TYPE_PREFIX: &str = "enkaku.setup.";

fn type_prefix(stream_id: &str) -> &'static str {
    if <setup::Event as StoredEvent>::in_family(stream_id) {
        SETUP_TYPE_PREFIX
    } else {
        APPOINTMENT_TYPE_PREFIX
    }
}

pub fn to_cloudevent(event: &RecordedEvent) -> Event {
    let m = &event.metadata;
    let builder = EventBuilderV10::new()
        .id(event.event_id.to_string())
        .source(format!("/clinics/{}", m.clinic_id))
        .ty(format!("{}{}", type_prefix(&event.stream_id), event.event_type))
        .subject(event.stream_id.clone())
        .time(event.occurred_at)
        .data("application/json", event.data.to_value())
        .extension("schemaversion", i64::from(event.schema_version))
        .extension("streamversion", event.version as i64)
        .extension("position", event.position as i64)
        .extension("clinicid", m.clinic_id.to_string())
        .extension("actor", m.actor.to_string())
        .extension("correlationid", m.correlation_id.to_string())
        .extension("causationid", m.causation_id.to_string());
    let builder = match &m.client_request_id {
        Some(id) => builder.extension("clientrequestid", id.clone()),
        None => builder,
    };
    builder.build().expect("every required attribute is set")
}

/// The Kafka message value for an event.
pub fn encode(event: &RecordedEvent) -> Vec<u8> {
    serde_json::to_vec(&to_cloudevent(event)).expect("a CloudEvent always serialises")
}

#[derive(Debug, thiserror::Error)]
#[error("not an enkaku CloudEvent: {0}")]
pub struct DecodeError(String);

/// Back from a Kafka message value to the envelope.
pub fn decode(value: &[u8]) -> Result<RecordedEvent, DecodeError> {
    let ce: Event = serde_json::from_slice(value).map_err(|e| DecodeError(e.to_string()))?;
    let fail = |what: &str| DecodeError(format!("{what} missing or malformed"));
    let integer = |name: &str| match ce.extension(name) {
        Some(ExtensionValue::Integer(i)) if *i >= 0 => Ok(*i as u64),
        _ => Err(fail(name)),
    };
    let text = |name: &str| match ce.extension(name) {
        Some(ExtensionValue::String(s)) => Ok(s.as_str()),
        _ => Err(fail(name)),
    };
    let data = match ce.data() {
        Some(Data::Json(v)) => EventData::from(v),
        _ => return Err(fail("data")),
    };
    let stream_id = ce.subject().ok_or_else(|| fail("subject"))?.to_owned();
    Ok(RecordedEvent {
        event_id: ce.id().parse().map_err(|_| fail("id"))?,
        version: integer("streamversion")?,
        position: integer("position")?,
        event_type: ce
            .ty()
            .strip_prefix(type_prefix(&stream_id))
            .ok_or_else(|| fail("type"))?
            .to_owned(),
        stream_id,
        schema_version: u32::try_from(integer("schemaversion")?).map_err(|_| fail("schemaversion"))?,
        occurred_at: *ce.time().ok_or_else(|| fail("time"))?,
        data,
        metadata: EventMetadata {
            clinic_id: text("clinicid")?.parse().map_err(|_| fail("clinicid"))?,
            actor: text("actor")?.parse().map_err(|_| fail("actor"))?,
            correlation_id: text("correlationid")?
                .parse()
                .map_err(|_| fail("correlationid"))?,
            causation_id: text("causationid")?.parse().map_err(|_| fail("causationid"))?,
            client_request_id: text("clientrequestid").ok().map(str::to_owned),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use enkaku_domain::envelope::Actor;
    use enkaku_domain::ids::ClinicId;
    use uuid::Uuid;

    fn recorded() -> RecordedEvent {
        RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: format!("appointment-{}", Uuid::now_v7()),
            version: 3,
            position: 42,
            event_type: "CallStarted".into(),
            schema_version: 1,
            occurred_at: chrono::Utc.with_ymd_and_hms(2022, 8, 30, 4, 0, 0).unwrap(),
            data: serde_json::json!({"started_at": "2022-08-30T04:00:00Z"}).into(),
            metadata: EventMetadata {
                clinic_id: ClinicId(Uuid::now_v7()),
                actor: Actor::Patient,
                correlation_id: Uuid::now_v7(),
                causation_id: Uuid::now_v7(),
                client_request_id: Some("client-42".into()),
            },
        }
    }

    #[test]
    fn an_event_survives_the_round_trip() {
        let event = recorded();
        assert_eq!(decode(&encode(&event)).unwrap(), event);
    }

    #[test]
    fn the_document_is_plain_structured_cloudevents_json() {
        let event = recorded();
        let doc: serde_json::Value = serde_json::from_slice(&encode(&event)).unwrap();
        assert_eq!(doc["specversion"], "1.0");
        assert_eq!(doc["id"], event.event_id.to_string());
        assert_eq!(doc["type"], "enkaku.appointment.CallStarted");
        assert_eq!(doc["subject"], event.stream_id);
        assert_eq!(doc["source"], format!("/clinics/{}", event.metadata.clinic_id));
        assert_eq!(doc["time"], "2022-08-30T04:00:00Z");
        assert_eq!(doc["datacontenttype"], "application/json");
        assert_eq!(doc["data"], event.data.to_value());
        assert_eq!(doc["position"], 42);
        assert_eq!(doc["streamversion"], 3);
        assert_eq!(doc["actor"], "patient");
    }

    #[test]
    fn a_set_up_event_is_typed_as_one_and_survives_the_round_trip() {
        let event = RecordedEvent {
            stream_id: format!("menu-{}", Uuid::now_v7()),
            event_type: "MenuRetired".into(),
            data: serde_json::json!({}).into(),
            ..recorded()
        };
        let doc: serde_json::Value = serde_json::from_slice(&encode(&event)).unwrap();
        assert_eq!(doc["type"], "enkaku.setup.MenuRetired");
        assert_eq!(decode(&encode(&event)).unwrap(), event);
        // A set-up stream's event typed as an appointment's is not an enkaku event.
        let mut misfiled = doc;
        misfiled["type"] = "enkaku.appointment.MenuRetired".into();
        assert!(decode(&serde_json::to_vec(&misfiled).unwrap()).is_err());
    }

    #[test]
    fn foreign_documents_are_refused_not_misread() {
        assert!(decode(b"not json").is_err());
        let mut doc: serde_json::Value = serde_json::from_slice(&encode(&recorded())).unwrap();
        doc["type"] = "com.example.other".into();
        assert!(decode(&serde_json::to_vec(&doc).unwrap()).is_err());
    }
}
