//! The envelope every event is stored and published in (docs/events.md).

use crate::ids::{ClinicId, StaffId};
use chrono::{DateTime, Utc};
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use std::fmt;
use std::ops::Range;
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
    pub data: EventData,
    pub metadata: EventMetadata,
}

/// A stored event's `data`: its JSON text exactly as the log holds it, read without building a
/// tree of values. A replay reads millions of them; each is decoded straight into its domain
/// event ([`StoredEvent::decode`]) and its personal member replaced as text when opened.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventData(Box<RawValue>);

impl EventData {
    /// The JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// The data as a tree of values, for readers that look inside it.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.json()).unwrap_or(Value::Null)
    }

    /// The JSON text of the member `name`, if the data is an object that has it.
    pub fn member(&self, name: &str) -> Option<&RawValue> {
        let mut reader = serde_json::Deserializer::from_str(self.json());
        MemberNamed(name).deserialize(&mut reader).ok().flatten()
    }

    /// Where `part`, a value [`EventData::member`] found in this data, lies in its text: kept
    /// by a reader that replaces it later ([`EventData::with_replaced`]) without looking for it
    /// again.
    pub fn span_of(&self, part: &RawValue) -> Range<usize> {
        // The member's text is a slice of ours: where it starts is how far its pointer is in.
        let start = (part.get().as_ptr() as usize).saturating_sub(self.json().as_ptr() as usize);
        start..start + part.get().len()
    }

    /// The data with the value at `span` (from [`EventData::span_of`]) replaced by `value`, the
    /// rest of its text as it was; the same data if `span` is no value's.
    pub fn with_replaced(&self, span: Range<usize>, value: &RawValue) -> Self {
        let text = self.json();
        let (Some(before), Some(after)) = (text.get(..span.start), text.get(span.end..)) else {
            return self.clone();
        };
        let spliced = [before, value.get(), after].concat();
        // Valid JSON put in place of a valid JSON value is valid JSON; anything else (a span
        // from other data) is refused here and changes nothing.
        Self(RawValue::from_string(spliced).unwrap_or_else(|_| self.0.clone()))
    }
}

impl From<&Value> for EventData {
    fn from(value: &Value) -> Self {
        // A tree of values always writes out as JSON.
        Self(serde_json::value::to_raw_value(value).unwrap_or_else(|_| RawValue::NULL.to_owned()))
    }
}

impl From<Value> for EventData {
    fn from(value: Value) -> Self {
        Self::from(&value)
    }
}

impl PartialEq for EventData {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl fmt::Debug for EventData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.json())
    }
}

impl fmt::Display for EventData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.json())
    }
}

/// Finds one member of a JSON object, as its text; every other member is only scanned.
struct MemberNamed<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for MemberNamed<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MemberNamed<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_it) = map.next_key_seed(KeyIs(self.0))? {
            let value: &'de RawValue = map.next_value()?;
            if is_it && found.is_none() {
                found = Some(value);
            }
        }
        Ok(found)
    }
}

/// Whether a key is `.0`, escaped or not, without keeping it.
struct KeyIs<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
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
    fn decode(event_type: &str, schema_version: u32, data: &EventData) -> Result<Self, DecodeError>;
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
/// today's version is read straight from its text, with no tree of values between.
pub(crate) fn decode_tagged<E: DeserializeOwned>(
    event_type: &str,
    schema_version: u32,
    current: u32,
    data: &EventData,
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
    let read = if schema_version == current {
        read_tagged(event_type, &mut serde_json::Deserializer::from_str(data.json()))
    } else {
        read_tagged(event_type, upcast(data.to_value()))
    };
    read.map_err(|e| fail(e.to_string()))
}

fn read_tagged<'de, E: Deserialize<'de>>(
    event_type: &'de str,
    data: impl Deserializer<'de, Error = serde_json::Error>,
) -> Result<E, serde_json::Error> {
    E::deserialize(MapAccessDeserializer::new(TagFirst {
        event_type,
        data: Some(data),
        read: 0,
    }))
}

/// The map `{"type": …, "data": …}` with its tag first, which is the order in which serde
/// reads an adjacently tagged enum's data straight into its variant (given the data first, it
/// would copy it into a buffer to read once it knows the variant).
struct TagFirst<'a, D> {
    event_type: &'a str,
    /// Until it is handed out, after the tag.
    data: Option<D>,
    /// Entries handed out so far.
    read: u8,
}

impl<'de, D: Deserializer<'de, Error = serde_json::Error>> MapAccess<'de> for TagFirst<'de, D> {
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
        if self.read == 1 {
            return seed.deserialize(IntoDeserializer::<Self::Error>::into_deserializer(
                self.event_type,
            ));
        }
        match self.data.take() {
            Some(data) => seed.deserialize(data),
            None => Err(serde::de::Error::custom("the data was read already")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EventData;
    use serde_json::json;
    use serde_json::value::RawValue;

    fn data(text: &str) -> EventData {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_member_is_found_at_the_top_level_only_and_by_its_unescaped_name() {
        let d = data(r#"{"menu":{"personal":1},"per\u0073onal" : {"alg":"x"},"n":2}"#);
        assert_eq!(d.member("personal").unwrap().get(), r#"{"alg":"x"}"#);
        assert_eq!(d.member("n").unwrap().get(), "2");
        assert!(d.member("absent").is_none());
        assert!(data("[1,2]").member("personal").is_none());
        assert!(data("null").member("personal").is_none());
    }

    #[test]
    fn a_member_set_changes_its_text_and_keeps_the_rest_as_written() {
        let d = data(r#"{"a": 1, "personal" : {"alg":"x"} ,"z":"é"}"#);
        let opened = d.with_replaced(
            d.span_of(d.member("personal").unwrap()),
            RawValue::from_string(r#"{"name":"山田"}"#.into())
                .unwrap()
                .as_ref(),
        );
        assert_eq!(
            opened.json(),
            r#"{"a": 1, "personal" : {"name":"山田"} ,"z":"é"}"#
        );
        assert_eq!(opened.to_value()["personal"]["name"], "山田");
    }

    #[test]
    fn a_span_found_once_is_replaced_later_and_a_span_that_is_no_value_changes_nothing() {
        let d = data(r#"{"personal":"sealed","n":[1,2]}"#);
        let span = d.span_of(d.member("n").unwrap());
        assert_eq!(&d.json()[span.clone()], "[1,2]");
        assert_eq!(
            d.with_replaced(span, RawValue::NULL).json(),
            r#"{"personal":"sealed","n":null}"#
        );
        // Half a string, past the end: what is left is no JSON, or no text at all.
        assert_eq!(d.with_replaced(1..5, RawValue::NULL), d);
        assert_eq!(d.with_replaced(40..50, RawValue::NULL), d);
    }

    #[test]
    fn data_from_values_reads_back_as_the_same_values() {
        let value = json!({"text": "a\"b\\c\n\u{2028}", "n": u64::MAX, "x": 0.5, "list": [null, true]});
        let d = EventData::from(&value);
        assert_eq!(d.to_value(), value);
        assert_eq!(serde_json::to_string(&d).unwrap(), value.to_string());
    }
}
