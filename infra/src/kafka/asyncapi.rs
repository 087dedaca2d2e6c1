//! The AsyncAPI 3 document integrators read (`docs/asyncapi.yaml`, printed by
//! `enkaku asyncapi`). Payload schemas are generated from the domain's event types, and the
//! envelope from the same mapping [`super::cloudevent`] implements, so a test comparing the
//! committed file with this output catches any drift.

use super::cloudevent::{APPOINTMENT_TYPE_PREFIX, CONTENT_TYPE, SETUP_TYPE_PREFIX};
use enkaku_domain::{appointment, setup};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// One topic's events: an event enum's variants, each a message of the channel.
struct Family<'a> {
    channel: &'static str,
    topic: &'a str,
    description: &'static str,
    type_prefix: &'static str,
    key: &'static str,
    /// The enum's schema, one `{type, data}` shape per event (adjacently tagged).
    root: Value,
    schema_version: fn(&str) -> u32,
}

/// The document for events published to `topic` (the appointments') and `setup_topic`, and
/// the audit trail's checkpoints published to `checkpoint_topic`.
pub fn document(topic: &str, setup_topic: &str, checkpoint_topic: &str) -> Value {
    let mut generator = SchemaSettings::draft07()
        .with(|s| s.definitions_path = "#/components/schemas/".into())
        .into_generator();
    let families = [
        Family {
            channel: "appointments",
            topic,
            description: "All appointment events, keyed by stream id: one appointment's events share a partition and arrive in stream order.",
            type_prefix: APPOINTMENT_TYPE_PREFIX,
            key: "The stream id, `appointment-<uuid>` or `call-<uuid>`.",
            root: generator.root_schema_for::<appointment::Event>().to_value(),
            schema_version: appointment::current_schema_version,
        },
        Family {
            channel: "setup",
            topic: setup_topic,
            description: "All clinic set-up events (clinics and their staff, menus, weekly hours, closed days), keyed by stream id, in stream order per key.",
            type_prefix: SETUP_TYPE_PREFIX,
            key: "The stream id: `clinic-<uuid>`, `menu-<uuid>`, `hours-<doctor uuid>` or `closure-<uuid>`.",
            root: generator.root_schema_for::<setup::Event>().to_value(),
            schema_version: setup::current_schema_version,
        },
    ];
    let mut schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    schemas.insert("CloudEvent".into(), envelope());

    let mut messages = Map::new();
    let mut channels = Map::new();
    let mut operations = Map::new();
    for family in &families {
        let mut channel_messages = Map::new();
        let mut operation_messages = Vec::new();
        for variant in family.root["oneOf"].as_array().into_iter().flatten() {
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
                        "key": { "type": "string", "description": family.key },
                        "bindingVersion": "0.5.0"
                    }},
                    "payload": { "allOf": [
                        { "$ref": "#/components/schemas/CloudEvent" },
                        { "type": "object", "properties": {
                            "type": { "const": format!("{}{name}", family.type_prefix) },
                            "schemaversion": { "const": (family.schema_version)(name) },
                            "data": properties["data"].clone(),
                        }},
                    ]},
                }),
            );
            channel_messages.insert(
                name.into(),
                json!({ "$ref": format!("#/components/messages/{name}") }),
            );
            operation_messages.push(json!({
                "$ref": format!("#/channels/{}/messages/{name}", family.channel)
            }));
        }
        channels.insert(
            family.channel.into(),
            json!({
                "address": family.topic,
                "description": family.description,
                "messages": channel_messages,
                "bindings": { "kafka": { "topic": family.topic, "bindingVersion": "0.5.0" } },
            }),
        );
        let operation = match family.channel {
            "appointments" => "receiveAppointmentEvents",
            _ => "receiveSetupEvents",
        };
        operations.insert(
            operation.into(),
            json!({
                "action": "receive",
                "channel": { "$ref": format!("#/channels/{}", family.channel) },
                "summary": "Subscribe with any Kafka consumer; deduplicate by `id`.",
                "messages": operation_messages,
            }),
        );
    }

    messages.insert("Checkpoint".into(), checkpoint_message());
    channels.insert(
        "checkpoints".into(),
        json!({
            "address": checkpoint_topic,
            "description": "The signed checkpoints of the audit trail's two logs (docs/audit.md), every few minutes from each server, whether the log grew or not: for auditors to keep copies where the servers cannot write. One partition.",
            "messages": { "Checkpoint": { "$ref": "#/components/messages/Checkpoint" } },
            "bindings": { "kafka": { "topic": checkpoint_topic, "partitions": 1, "bindingVersion": "0.5.0" } },
        }),
    );
    operations.insert(
        "receiveCheckpoints".into(),
        json!({
            "action": "receive",
            "channel": { "$ref": "#/channels/checkpoints" },
            "summary": "Keep every message; check each signature against the public key handed over at set-up, never the one in the message alone.",
            "messages": [{ "$ref": "#/channels/checkpoints/messages/Checkpoint" }],
        }),
    );

    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "enkaku events",
            "version": "1",
            "description": "Every domain event of enkaku: the appointments' on one topic, the clinic set-up's on another, in order per stream; and the audit trail's signed checkpoints on a third. See docs/integrators.md for keys, ordering and delivery guarantees, docs/audit.md for checking a checkpoint.",
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": { "local": {
            "host": "127.0.0.1:9092",
            "protocol": "kafka",
            "description": "Whatever `ENKAKU_KAFKA_BROKERS` names.",
        }},
        "channels": channels,
        "operations": operations,
        "components": { "messages": messages, "schemas": schemas },
    })
}

/// A signed checkpoint as `CheckpointPublisher` sends it: the JSON of the files in the data
/// directory's `checkpoints/`, keyed by the log's name.
fn checkpoint_message() -> Value {
    let hex = |bytes: usize, what: &str| json!({ "type": "string", "pattern": format!("^[0-9a-f]{{{}}}$", bytes * 2), "description": what });
    let logs = crate::audit::Log::ALL.map(|log| log.name());
    json!({
        "name": "Checkpoint",
        "title": "Checkpoint",
        "summary": "One log's Merkle tree (RFC 9162) at a size, signed with the server's Ed25519 key.",
        "contentType": "application/json",
        "bindings": { "kafka": {
            "key": { "type": "string", "enum": logs, "description": "The log's name." },
            "bindingVersion": "0.5.0"
        }},
        "payload": {
            "type": "object",
            "required": ["log", "size", "root", "time", "key_id", "public_key", "signature"],
            "properties": {
                "log": { "type": "string", "enum": logs, "description": "`events`: the event store; `access`: the access log." },
                "size": { "type": "integer", "minimum": 0, "description": "Records covered: the first `size` of the log." },
                "root": hex(32, "The tree's root hash (SHA-256)."),
                "time": { "type": "string", "format": "date-time", "description": "When it was signed." },
                "key_id": { "type": "string", "pattern": "^ak-[0-9a-f]{16}$", "description": "`ak-` and the first 8 bytes of SHA-256 over the public key." },
                "public_key": hex(32, "The Ed25519 public key that signed it."),
                "signature": hex(64, "Ed25519 (RFC 8032) over the lines `enkaku-checkpoint-v1`, log, size, root, time and key_id, each ending in a line feed."),
            },
        },
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
            "type": { "type": "string", "description": "`enkaku.appointment.<event type>`, or `enkaku.setup.<event type>` on the set-up topic." },
            "subject": { "type": "string", "description": "The stream id, `appointment-<uuid>` (or `call-<uuid>` for who joined and left that appointment's call; on the set-up topic `clinic-`, `menu-`, `hours-` or `closure-<uuid>`); also the message key." },
            "time": { "type": "string", "format": "date-time", "description": "When it happened." },
            "datacontenttype": { "const": "application/json" },
            "data": { "type": "object", "description": "The event's payload, as its schema version describes it." },
            "schemaversion": { "type": "integer", "minimum": 1, "description": "Version of the payload's schema." },
            "streamversion": { "type": "integer", "minimum": 1, "description": "Position within the event's stream, from 1, without gaps." },
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
        let doc = document("t", "s", "c");
        let messages = doc["components"]["messages"].as_object().unwrap();
        assert_eq!(messages.len(), 15 + 14 + 1);
        let left = &messages["ParticipantLeft"]["payload"]["allOf"][1]["properties"];
        assert_eq!(left["data"]["$ref"], "#/components/schemas/ParticipantLeft");
        let booked = &messages["AppointmentBooked"]["payload"]["allOf"][1]["properties"];
        assert_eq!(booked["schemaversion"]["const"], 3);
        assert_eq!(booked["data"]["$ref"], "#/components/schemas/AppointmentBooked");
        let schema = &doc["components"]["schemas"]["AppointmentBooked"];
        assert!(schema["properties"]["personal"].is_object(), "{schema}");
        let personal = &doc["components"]["schemas"]["Personal_BookedPatient"];
        assert_eq!(
            personal["allOf"][0]["$ref"], "#/components/schemas/Sealed",
            "published sealed: {personal}"
        );
        assert!(
            personal["x-plaintext"]["$ref"]
                .as_str()
                .unwrap()
                .ends_with("BookedPatient"),
            "{personal}"
        );
        assert_eq!(doc["channels"]["appointments"]["address"], "t");
        assert_eq!(doc["channels"]["setup"]["address"], "s");
        assert_eq!(doc["channels"]["checkpoints"]["address"], "c");
        let hours = &messages["WeeklyHoursSet"]["payload"]["allOf"][1]["properties"];
        assert_eq!(hours["type"]["const"], "enkaku.setup.WeeklyHoursSet");
        assert_eq!(hours["data"]["$ref"], "#/components/schemas/WeeklyHoursSet");
        let setup_messages = doc["channels"]["setup"]["messages"].as_object().unwrap();
        assert!(setup_messages.contains_key("StaffInvited"));
        assert!(!setup_messages.contains_key("AppointmentBooked"));
    }
}
