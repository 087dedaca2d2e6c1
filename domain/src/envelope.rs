//! The envelope every event is stored and published in (docs/events.md).

use crate::ids::{ClinicId, StaffId};
use chrono::{DateTime, Utc};
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Who caused an event: a staff member (by id), the patient, or the system itself
/// (for example the delivery worker). Serialised as the staff id, `patient` or `system`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Actor {
    Staff(StaffId),
    Patient,
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Staff(id) => id.fmt(f),
            Self::Patient => f.write_str("patient"),
            Self::System => f.write_str("system"),
        }
    }
}

impl FromStr for Actor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "patient" => Ok(Self::Patient),
            "system" => Ok(Self::System),
            other => other
                .parse()
                .map(Self::Staff)
                .map_err(|_| format!("unknown actor {other:?}")),
        }
    }
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Context carried by every event: the tenant, who acted, and the causal chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    pub clinic_id: ClinicId,
    pub actor: Actor,
    /// Shared by everything one request caused: the id the server gave the request at the
    /// edge, never one a client chose.
    pub correlation_id: Uuid,
    /// The request (server id) or event that directly caused this one.
    pub causation_id: Uuid,
    /// The `X-Request-Id` the client sent, for matching with its own logs. Client-chosen and
    /// so not trustworthy: never a key into the causal chain. Only 1–64 printable ASCII
    /// characters are kept (anything else is dropped); absent when there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
}

/// An event ready to append: everything but the stream, version and position, which the
/// store assigns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: u32,
    pub occurred_at: DateTime<Utc>,
    pub data: Value,
    pub metadata: EventMetadata,
}

/// A stored event, exactly as auditors, projectors and Kafka consumers see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub event_id: Uuid,
    pub stream_id: String,
    /// Position within the stream, from 1.
    pub version: u64,
    /// Position in the global log. Readers tailing by position never miss an event.
    pub position: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: u32,
    pub occurred_at: DateTime<Utc>,
    pub data: Value,
    pub metadata: EventMetadata,
}

/// An aggregate's events as the envelope carries them: a `type` name, the `schema_version`
/// written today, and the `data`. Handlers store and read every aggregate's events through
/// this, whichever enum they are.
pub trait StoredEvent: Sized {
    /// The envelope's `type`.
    fn event_type(&self) -> &'static str;
    /// The schema version written today for this event's type.
    fn schema_version(&self) -> u32;
    /// The envelope's `data`.
    fn to_data(&self) -> Value;
    /// Read an event from its envelope's `type`, `schema_version` and `data`, upcasting old
    /// payloads to the current shape first.
    fn decode(event_type: &str, schema_version: u32, data: &Value) -> Result<Self, DecodeError>;
    /// Whether the stream `stream_id` holds events of this enum. One log holds the
    /// appointments' streams and the set-up streams; a reader of one family passes over the
    /// other's events without counting them as unreadable.
    fn in_family(stream_id: &str) -> bool;
}

/// An event that could not be read back: unknown type, or a payload that no upcaster fixes.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode event {event_type} v{schema_version}: {reason}")]
pub struct DecodeError {
    pub event_type: String,
    pub schema_version: u32,
    pub reason: String,
}

/// The `data` of an event enum serialised as `#[serde(tag = "type", content = "data")]`.
pub(crate) fn tagged_data(event: &impl Serialize) -> Value {
    match serde_json::to_value(event) {
        Ok(Value::Object(mut map)) => map.remove("data").unwrap_or(Value::Null),
        // Serialising plain structs of strings, numbers and dates cannot fail.
        _ => Value::Null,
    }
}

/// Read an event enum serialised as `#[serde(tag = "type", content = "data")]` whose type is
/// at schema version `current` today: versions from 1 to `current` are read, after `upcast`
/// has brought the payload up to date; anything else is an error, never a panic. A payload at
/// today's version is read where it lies, without a copy.
pub(crate) fn decode_tagged<E: DeserializeOwned>(
    event_type: &str,
    schema_version: u32,
    current: u32,
    data: &Value,
    upcast: impl FnOnce(Value) -> Value,
) -> Result<E, DecodeError> {
    let fail = |reason: String| DecodeError {
        event_type: event_type.to_owned(),
        schema_version,
        reason,
    };
    if schema_version == 0 || schema_version > current {
        return Err(fail(format!("this build reads up to v{current}")));
    }
    let upcasted;
    let data = if schema_version == current {
        data
    } else {
        upcasted = upcast(data.clone());
        &upcasted
    };
    E::deserialize(MapAccessDeserializer::new(TagFirst {
        event_type,
        data,
        read: 0,
    }))
    .map_err(|e| fail(e.to_string()))
}

/// The map `{"type": …, "data": …}` with its tag first, which is the order in which serde
/// reads an adjacently tagged enum's data straight into its variant (given the data first, it
/// would copy it into a buffer to read once it knows the variant).
struct TagFirst<'a> {
    event_type: &'a str,
    data: &'a Value,
    /// Entries handed out so far.
    read: u8,
}

impl<'de> MapAccess<'de> for TagFirst<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        let key = match self.read {
            0 => "type",
            1 => "data",
            _ => return Ok(None),
        };
        seed.deserialize(IntoDeserializer::<Self::Error>::into_deserializer(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        self.read += 1;
        match self.read {
            1 => seed.deserialize(IntoDeserializer::<Self::Error>::into_deserializer(
                self.event_type,
            )),
            _ => seed.deserialize(self.data),
        }
    }
}
