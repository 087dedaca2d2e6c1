//! The envelope every event is stored and published in (docs/events.md).

use crate::ids::{ClinicId, StaffId};
use chrono::{DateTime, Utc};
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
