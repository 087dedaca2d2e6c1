//! The appointment's events: what happened, in the past tense, with everything a reader of
//! the history needs. Each has a `type` name and a `schema_version`; older payloads are
//! upcast to the current shape before they are read (see [`Event::decode`]).

use super::BookedMenu;
pub use crate::envelope::DecodeError;
use crate::envelope::{EventData, StoredEvent, decode_tagged, tagged_data};
use crate::ids::{AppointmentId, ClinicId, DeliveryId, StaffId};
use crate::menu::{ConsultationMode, VisitType};
use crate::personal::{PERSONAL_MEMBER, Personal};
use crate::presence::{CallRole, LeaveReason};
use crate::values::{Channel, ChartNumber, Destination, Memo, PatientName, Provider, Title, ValidityWindow};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An in-clinic booking was made (R3–R6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AppointmentBooked {
    pub clinic_id: ClinicId,
    pub doctor_id: StaffId,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub menu: BookedMenu,
    pub visit_type: VisitType,
    pub mode: ConsultationMode,
    /// R5: the menu's booking fee, not charged because the booking was made in the clinic.
    pub waived_booking_fee_yen: u32,
    /// R6, R13: present only for online consultations.
    pub video: Option<ValidityWindow>,
    /// Who the patient is (sealed in the log since v3).
    pub personal: Personal<BookedPatient>,
}

/// The personal part of a booking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BookedPatient {
    pub patient_name: PatientName,
    pub chart_number: Option<ChartNumber>,
    pub memo: Option<Memo>,
}

/// A video URL without a booking was created (R8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VideoUrlCreated {
    pub clinic_id: ClinicId,
    pub doctor_id: StaffId,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub video: ValidityWindow,
    /// The title staff gave it, often the patient's name (sealed in the log since v2).
    pub personal: Personal<VideoTitle>,
}

/// The personal part of a video URL: its title, which staff often make the patient's name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VideoTitle {
    pub title: Option<Title>,
}

/// Title or doctor of a video-URL appointment changed (R10); absent fields did not change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VideoCallEdited {
    pub doctor_id: Option<StaffId>,
    /// The new title, or `title: null` when it did not change (sealed in the log since v2).
    pub personal: Personal<VideoTitle>,
}

/// Staff asked to send the patient URL (R14) or to send it again (R15). The URL itself is
/// never part of the event: it is derived from a secret outside the log (R12).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UrlDeliveryRequested {
    pub delivery_id: DeliveryId,
    /// How it goes; the address itself is personal.
    pub channel: Channel,
    pub resend: bool,
    pub requested_at: DateTime<Utc>,
    /// The channel and the address, `{channel, destination}` (sealed in the log since v2).
    pub personal: Personal<Destination>,
}

/// The channel took the message: the provider has it, or, where no provider is configured
/// for its channel, the outbox keeps it for staff to read (`provider: outbox`, nothing sent).
/// Whether it reached the phone is a later [`UrlDeliveryReported`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UrlDelivered {
    pub delivery_id: DeliveryId,
    pub sent_at: DateTime<Utc>,
    pub provider: Provider,
    /// The provider's id for the message (Twilio's message sid, the e-mail's
    /// `Message-ID`); null for the outbox.
    pub provider_message_id: Option<String>,
}

/// The message did not go out and will not without staff: the provider refused it for good
/// (an invalid number, a mailbox that does not exist), retries ran out, or the appointment
/// closed first. Staff see the reason and can resend. Neither names the destination.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UrlDeliveryFailed {
    pub delivery_id: DeliveryId,
    pub failed_at: DateTime<Utc>,
    /// `<provider>:<its code>` (`twilio:21211`, `smtp:550`) or `enkaku:<why>` for a failure of
    /// our own (`enkaku:retries_exhausted`, `enkaku:appointment_closed`); null before v2.
    pub code: Option<String>,
    pub reason: String,
}

/// An attempt was made but whether the provider took the message is not known (a timeout
/// after the request went out, or a crash while sending). Twilio and SMTP cannot tell a
/// repeated request from a new one, so it is not sent again on its own: staff see
/// 「送信結果不明」 and decide whether to resend. A later [`UrlDeliveryReported`] from the
/// provider settles it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UrlDeliveryOutcomeUnknown {
    pub delivery_id: DeliveryId,
    pub noticed_at: DateTime<Utc>,
    pub reason: String,
}

/// What the provider's carrier reported about a message handed over (Twilio's status
/// callback): it reached the phone, or it did not, with the carrier's error code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UrlDeliveryReported {
    pub delivery_id: DeliveryId,
    pub status: CarrierStatus,
    /// The provider's error code for `undelivered` and `failed` (Twilio's `ErrorCode`,
    /// e.g. `30003`).
    pub error_code: Option<String>,
    pub reported_at: DateTime<Utc>,
}

/// A provider's final word on a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CarrierStatus {
    Delivered,
    Undelivered,
    Failed,
}

impl CarrierStatus {
    pub const ALL: [Self; 3] = [Self::Delivered, Self::Undelivered, Self::Failed];

    /// Where the message stands after this word: delivered, or failed.
    pub fn delivery_status(self) -> super::DeliveryStatus {
        match self {
            Self::Delivered => super::DeliveryStatus::Delivered,
            Self::Undelivered | Self::Failed => super::DeliveryStatus::Failed,
        }
    }

    /// Why the message failed, in English for logs and integrators; `None` when delivered.
    pub fn failure_reason(self) -> Option<String> {
        (self != Self::Delivered).then(|| format!("the carrier reported the message {}", self.as_str()))
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
        }
    }
}

/// The clinic cancelled (R11); the patient is not told, both URLs stop working.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallCancelled {
    pub cancelled_at: DateTime<Utc>,
}

/// The doctor pressed 「ビデオ通話を開始する」 (R18).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallStarted {
    pub started_at: DateTime<Utc>,
}

/// The call ended; the media session closes for both sides (R20).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallEnded {
    pub ended_at: DateTime<Utc>,
}

/// 「患者用URLを再発行」: the patient URL of every earlier generation stops working (its
/// look-up answers `revoked`) and the URL of `generation` replaces it. Like the URLs
/// themselves, the token is not part of the event: it is derived from the generation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PatientUrlReissued {
    /// The new patient URL's generation: 1 for the first reissue, then one more each time.
    pub generation: u32,
    pub reissued_at: DateTime<Utc>,
}

/// The appointment's personal data was erased (docs/privacy.md): its data key is destroyed, so the
/// `personal` member of each of its events can no longer be opened, anywhere. The event itself
/// holds nothing personal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PersonalDataErased {
    pub erased_at: DateTime<Utc>,
    pub reason: ErasureReason,
}

/// Why personal data was erased.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErasureReason {
    /// An administrator erased it (the patient asked, or the clinic's policy).
    Requested,
    /// The retention period after the appointment ran out (`--pii-retention-days`).
    Retention,
}

/// A participant's page joined the call's media (R18, R19): the clinic's call screen or the
/// patient's page. Recorded in the call's own stream (`call-<appointment id>`), never in the
/// appointment's, so that a flapping network cannot change the appointment's version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ParticipantJoined {
    pub role: CallRole,
    pub joined_at: DateTime<Utc>,
}

/// A participant's page left the call's media, for `reason`. In the call's own stream, like
/// [`ParticipantJoined`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ParticipantLeft {
    pub role: CallRole,
    pub left_at: DateTime<Utc>,
    pub reason: LeaveReason,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    AppointmentBooked(AppointmentBooked),
    VideoUrlCreated(VideoUrlCreated),
    VideoCallEdited(VideoCallEdited),
    UrlDeliveryRequested(UrlDeliveryRequested),
    UrlDelivered(UrlDelivered),
    UrlDeliveryFailed(UrlDeliveryFailed),
    UrlDeliveryOutcomeUnknown(UrlDeliveryOutcomeUnknown),
    UrlDeliveryReported(UrlDeliveryReported),
    CallCancelled(CallCancelled),
    CallStarted(CallStarted),
    CallEnded(CallEnded),
    PatientUrlReissued(PatientUrlReissued),
    ParticipantJoined(ParticipantJoined),
    ParticipantLeft(ParticipantLeft),
    PersonalDataErased(PersonalDataErased),
}

impl Event {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::AppointmentBooked(_) => "AppointmentBooked",
            Self::VideoUrlCreated(_) => "VideoUrlCreated",
            Self::VideoCallEdited(_) => "VideoCallEdited",
            Self::UrlDeliveryRequested(_) => "UrlDeliveryRequested",
            Self::UrlDelivered(_) => "UrlDelivered",
            Self::UrlDeliveryFailed(_) => "UrlDeliveryFailed",
            Self::UrlDeliveryOutcomeUnknown(_) => "UrlDeliveryOutcomeUnknown",
            Self::UrlDeliveryReported(_) => "UrlDeliveryReported",
            Self::CallCancelled(_) => "CallCancelled",
            Self::CallStarted(_) => "CallStarted",
            Self::CallEnded(_) => "CallEnded",
            Self::PatientUrlReissued(_) => "PatientUrlReissued",
            Self::ParticipantJoined(_) => "ParticipantJoined",
            Self::ParticipantLeft(_) => "ParticipantLeft",
            Self::PersonalDataErased(_) => "PersonalDataErased",
        }
    }

    /// Whether events of `event_type` erase their appointment's personal data.
    pub fn erases(event_type: &str) -> bool {
        event_type == "PersonalDataErased"
    }

    /// The schema version written today for this event's type.
    pub fn schema_version(&self) -> u32 {
        current_schema_version(self.event_type())
    }

    /// The `data` part of the envelope.
    pub fn to_data(&self) -> Value {
        tagged_data(self)
    }

    /// Read an event from its envelope's `type`, `schema_version` and `data`, upcasting old
    /// payloads to the current shape first.
    pub fn decode(event_type: &str, schema_version: u32, data: &EventData) -> Result<Self, DecodeError> {
        decode_tagged(
            event_type,
            schema_version,
            current_schema_version(event_type),
            data,
            |data| upcast(event_type, schema_version, data),
        )
    }
}

impl StoredEvent for Event {
    fn event_type(&self) -> &'static str {
        Event::event_type(self)
    }
    fn schema_version(&self) -> u32 {
        Event::schema_version(self)
    }
    fn to_data(&self) -> Value {
        Event::to_data(self)
    }
    fn decode(event_type: &str, schema_version: u32, data: &EventData) -> Result<Self, DecodeError> {
        Event::decode(event_type, schema_version, data)
    }
    fn in_family(stream_id: &str) -> bool {
        AppointmentId::owning_stream(stream_id).is_some()
    }
}

/// The schema version written today for events of `event_type`.
pub fn current_schema_version(event_type: &str) -> u32 {
    match event_type {
        "AppointmentBooked" => 3,
        "VideoUrlCreated"
        | "VideoCallEdited"
        | "UrlDeliveryRequested"
        | "UrlDelivered"
        | "UrlDeliveryFailed" => 2,
        _ => 1,
    }
}

/// Bring an old payload up to the current schema, one version at a time.
fn upcast(event_type: &str, mut schema_version: u32, mut data: Value) -> Value {
    while schema_version < current_schema_version(event_type) {
        data = match (event_type, schema_version) {
            ("AppointmentBooked", 1) => booked_v1_to_v2(data),
            ("AppointmentBooked", 2) => into_personal(data, &["patient_name", "chart_number", "memo"]),
            ("VideoUrlCreated" | "VideoCallEdited", 1) => into_personal(data, &["title"]),
            ("UrlDeliveryRequested", 1) => {
                let channel = data.get("channel").cloned().unwrap_or(Value::Null);
                with_defaults(
                    into_personal(data, &["channel", "destination"]),
                    [("channel", channel)],
                )
            }
            ("UrlDelivered", 1) => with_defaults(
                data,
                [
                    ("provider", "outbox".into()),
                    ("provider_message_id", Value::Null),
                ],
            ),
            ("UrlDeliveryFailed", 1) => with_defaults(data, [("code", Value::Null)]),
            _ => data,
        };
        schema_version += 1;
    }
    data
}

/// Fields a later version added, with the value every earlier event means: before v2 every
/// delivery went to the outbox, and failures had no code.
fn with_defaults<const N: usize>(mut data: Value, defaults: [(&str, Value); N]) -> Value {
    if let Value::Object(map) = &mut data {
        for (field, value) in defaults {
            map.entry(field).or_insert(value);
        }
    }
    data
}

/// Before personal data was sealed (SPEC §9), events kept it among their other fields; since,
/// it is the one member `personal`, so that it can be sealed and erased as a whole.
fn into_personal(mut data: Value, fields: &[&str]) -> Value {
    if let Value::Object(map) = &mut data {
        let personal = fields
            .iter()
            .map(|field| (field.to_string(), map.remove(*field).unwrap_or(Value::Null)))
            .collect();
        map.insert(PERSONAL_MEMBER.into(), Value::Object(personal));
    }
    data
}

/// `AppointmentBooked` v1 kept the menu as flat `menu_id` / `menu_name` / `duration_min` and
/// called the waived fee `booking_fee_yen`; v2 nests the menu snapshot and names the fee for
/// what it is.
fn booked_v1_to_v2(mut data: Value) -> Value {
    if let Value::Object(map) = &mut data {
        let id = map.remove("menu_id").unwrap_or(Value::Null);
        let name = map.remove("menu_name").unwrap_or(Value::Null);
        let duration_min = map.remove("duration_min").unwrap_or(Value::Null);
        map.insert(
            "menu".into(),
            serde_json::json!({ "id": id, "name": name, "duration_min": duration_min }),
        );
        let fee = map.remove("booking_fee_yen").unwrap_or(Value::from(0));
        map.insert("waived_booking_fee_yen".into(), fee);
    }
    data
}
