//! The AsyncAPI 3 document integrators read (`docs/asyncapi.yaml`, printed by
//! `enkaku asyncapi`). Payload schemas are generated from the domain's event types, and the
//! envelope from the same mapping [`super::cloudevent`] implements, so a test comparing the
//! committed file with this output catches any drift.

use super::cloudevent::CONTENT_TYPE;
use enkaku_domain::appointment::{Event, current_schema_version};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// The document for events published to `topic`.
pub fn document(topic: &str) -> Value {
    let mut generator = SchemaSettings::draft07()
        .with(|s| s.definitions_path = "#/components/schemas/".into())
        .into_generator();
    let root = generator.root_schema_for::<Event>().to_value();
    let mut schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    schemas.insert("CloudEvent".into(), envelope());

    let mut messages = Map::new();
    let mut channel_messages = Map::new();
    let mut operation_messages = Vec::new();
    // `Event` is adjacently tagged, so its schema lists one `{type, data}` shape per event.
    for variant in root["oneOf"].as_array().into_iter().flatten() {
        let properties = &variant["properties"];
        let Some(name) = properties["type"]["const"]
            .as_str()
            .or_else(|| properties["type"]["enum"][0].as_str())
        else {
            continue;
        };
        let description = schemas
            .get(name)
            .and_then(|s| s["description"].as_str())
            .unwrap_or_default()
            .to_owned();
        messages.insert(
            name.into(),
            json!({
                "name": name,
                "title": name,
                "summary": description,
                "contentType": CONTENT_TYPE.split(';').next().unwrap_or(CONTENT_TYPE),
                "bindings": { "kafka": {
                    "key": { "type": "string", "description": "The stream id, `appointment-<uuid>`." },
                    "bindingVersion": "0.5.0"
                }},
                "payload": { "allOf": [
                    { "$ref": "#/components/schemas/CloudEvent" },
                    { "type": "object", "properties": {
                        "type": { "const": format!("enkaku.appointment.{name}") },
                        "schemaversion": { "const": current_schema_version(name) },
                        "data": properties["data"].clone(),
                    }},
                ]},
            }),
        );
        channel_messages.insert(
            name.into(),
            json!({ "$ref": format!("#/components/messages/{name}") }),
        );
        operation_messages.push(json!({ "$ref": format!("#/channels/appointments/messages/{name}") }));
    }

    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "enkaku appointment events",
            "version": "1",
            "description": "Every domain event of enkaku, in order per appointment. See docs/integrators.md for keys, ordering and delivery guarantees.",
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": { "local": {
            "host": "127.0.0.1:9092",
            "protocol": "kafka",
            "description": "Whatever `ENKAKU_KAFKA_BROKERS` names.",
        }},
        "channels": { "appointments": {
            "address": topic,
            "description": "All appointment events, keyed by stream id: one appointment's events share a partition and arrive in stream order.",
            "messages": channel_messages,
            "bindings": { "kafka": { "topic": topic, "bindingVersion": "0.5.0" } },
        }},
        "operations": { "receiveAppointmentEvents": {
            "action": "receive",
            "channel": { "$ref": "#/channels/appointments" },
            "summary": "Subscribe with any Kafka consumer; deduplicate by `id`.",
            "messages": operation_messages,
        }},
        "components": { "messages": messages, "schemas": schemas },
    })
}

/// The structured-mode CloudEvent around every event (see [`super::cloudevent`]).
fn envelope() -> Value {
    let uuid = json!({ "type": "string", "format": "uuid" });
    json!({
        "type": "object",
        "description": "A CloudEvents 1.0 event in structured JSON mode.",
        "required": ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data",
                     "schemaversion", "streamversion", "position", "clinicid", "actor", "correlationid", "causationid"],
        "properties": {
            "specversion": { "const": "1.0" },
            "id": { "type": "string", "format": "uuid", "description": "The event id: stable across redeliveries, the key to deduplicate by." },
            "source": { "type": "string", "description": "`/clinics/<clinic id>`." },
            "type": { "type": "string", "description": "`enkaku.appointment.<event type>`." },
            "subject": { "type": "string", "description": "The stream id, `appointment-<uuid>` (or `call-<uuid>` for who joined and left that appointment's call); also the message key." },
            "time": { "type": "string", "format": "date-time", "description": "When it happened." },
            "datacontenttype": { "const": "application/json" },
            "data": { "type": "object", "description": "The event's payload, as its schema version describes it." },
            "schemaversion": { "type": "integer", "minimum": 1, "description": "Version of the payload's schema." },
            "streamversion": { "type": "integer", "minimum": 1, "description": "Position within the appointment's stream, from 1, without gaps." },
            "position": { "type": "integer", "minimum": 1, "description": "Position in enkaku's global log." },
            "clinicid": uuid,
            "actor": { "type": "string", "description": "A staff id, `patient` or `system`." },
            "correlationid": { "type": "string", "format": "uuid", "description": "Shared by everything one request caused; made by enkaku, never taken from a client." },
            "causationid": { "type": "string", "format": "uuid", "description": "The request (enkaku's id for it) or event that directly caused this one." },
            "clientrequestid": { "type": "string", "pattern": "^[\\x21-\\x7e]{1,64}$", "description": "Optional: the X-Request-Id the client sent with the request, for matching with its logs. Chosen by the client, so not to be trusted or joined on." },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_has_a_message_with_its_payload_schema() {
        let doc = document("t");
        let messages = doc["components"]["messages"].as_object().unwrap();
        assert_eq!(messages.len(), 14);
        let left = &messages["ParticipantLeft"]["payload"]["allOf"][1]["properties"];
        assert_eq!(left["data"]["$ref"], "#/components/schemas/ParticipantLeft");
        let booked = &messages["AppointmentBooked"]["payload"]["allOf"][1]["properties"];
        assert_eq!(booked["schemaversion"]["const"], 2);
        assert_eq!(booked["data"]["$ref"], "#/components/schemas/AppointmentBooked");
        let schema = &doc["components"]["schemas"]["AppointmentBooked"];
        assert!(schema["properties"]["patient_name"].is_object(), "{schema}");
        assert_eq!(doc["channels"]["appointments"]["address"], "t");
    }
}
