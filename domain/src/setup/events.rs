//! The set-up events: what an administrator (or `enkaku clinic create`) changed about the
//! clinic, its staff, menus, hours and closures, in the past tense. Who made the change and
//! when is in the envelope (`metadata.actor`, `occurred_at`), as for every event. Password
//! hashes, set-up tokens and two-factor secrets are never part of them: they live in a
//! credentials table outside the log.
//!
//! Each has a `type` name and a `schema_version`; older payloads are upcast to the current
//! shape before they are read (see [`StoredEvent::decode`]). Every type is at version 1.

use super::clinic::Role;
use super::hours::Weekdays;
use super::menu::MenuDefinition;
use crate::envelope::{DecodeError, EventData, StoredEvent, decode_tagged, tagged_data};
use crate::ids::{ClinicId, ClosureId, MenuId, StaffId};
use crate::menu::ConsultationMode;
use crate::values::{
    ClinicName, ClosureReason, EmailAddress, IanaTimeZone, MenuName, PhoneNumber, StaffName,
};
use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A clinic was set up (stream `clinic-<clinic id>`). Its first administrator arrives in a
/// [`StaffInvited`] of the same append. Two-factor sign-in starts not required.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClinicCreated {
    pub clinic_id: ClinicId,
    pub name: ClinicName,
    /// For patients' questions: shown to them with their link. Null when none.
    pub phone: Option<PhoneNumber>,
    /// The clinic's IANA time zone (`Asia/Tokyo`): its local days, hours and closures.
    pub time_zone: IanaTimeZone,
}

/// The clinic's profile changed. Only what changed is present; an absent field did not
/// change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClinicProfileChanged {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<ClinicName>,
    /// Absent: unchanged; null: the phone number was removed; a number: the new one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "null_as_cleared"
    )]
    pub phone: Option<Option<PhoneNumber>>,
    /// A new time zone: every appointment keeps its instant, only its local display moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<IanaTimeZone>,
}

/// `null` read as "cleared" (`Some(None)`); a plain `Option<Option<_>>` would read it as
/// absent.
pub fn null_as_cleared<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A staff member joined the clinic: invited by an administrator, or the first administrator
/// of a new clinic. They choose their password through a one-time set-up URL, which is not
/// part of the event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StaffInvited {
    pub staff_id: StaffId,
    pub name: StaffName,
    /// Their sign-in name; no other staff member of the clinic has it (case aside).
    pub email: EmailAddress,
    pub role: Role,
    /// Whether they administer the clinic's set-up (`/api/v1/admin/…`).
    pub admin: bool,
}

/// A staff member's name, role or administrator flag changed. Only what changed is present.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StaffChanged {
    pub staff_id: StaffId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<StaffName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
}

/// A staff member can no longer sign in; their sessions end and they leave the doctor
/// selector. Their appointments stay as they are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StaffDeactivated {
    pub staff_id: StaffId,
}

/// A deactivated staff member can sign in again, with the role and flag they had.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StaffReactivated {
    pub staff_id: StaffId,
}

/// Whether every staff member of the clinic must sign in with a second factor (TOTP).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TwoFactorRequirementChanged {
    pub required: bool,
}

/// A treatment menu was defined (stream `menu-<menu id>`, R1). Bookings copy the name and
/// duration they need, so later changes never rewrite them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MenuCreated {
    pub clinic_id: ClinicId,
    #[serde(flatten)]
    pub menu: MenuDefinition,
}

/// A menu changed. Only what changed is present; ranges as in [`MenuCreated`], modes in
/// the same order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MenuChanged {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<MenuName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modes: Option<Vec<ConsultationMode>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_first_min: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_revisit_min: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_fee_yen: Option<u32>,
}

/// A menu can no longer be booked. Bookings made with it keep what they copied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MenuRetired {}

/// A retired menu can be booked again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MenuReinstated {}

/// A doctor's weekly hours (stream `hours-<doctor id>`), the whole template: it replaces any
/// earlier one. The schedule's slot grid follows it (R2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WeeklyHoursSet {
    pub clinic_id: ClinicId,
    pub doctor_id: StaffId,
    /// Length of one slot of the grid in minutes, 5 to 240.
    pub slot_min: u32,
    /// The opening ranges of each weekday, in local time, earliest first, none overlapping;
    /// a day without ranges is closed.
    pub weekdays: Weekdays,
}

/// A day was closed (休診日, stream `closure-<closure id>`): the whole clinic, or one doctor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClosureAdded {
    pub clinic_id: ClinicId,
    /// The closed day, in the clinic's time zone.
    pub date: NaiveDate,
    /// The doctor who is away; null when the whole clinic is closed.
    pub doctor_id: Option<StaffId>,
    /// Why, as staff see it (1–200 characters).
    pub reason: ClosureReason,
}

/// A closure was withdrawn: the day is open again as the weekly hours say.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClosureRemoved {}

/// Every set-up event. Each aggregate folds the events of its own streams and passes over
/// the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    ClinicCreated(ClinicCreated),
    ClinicProfileChanged(ClinicProfileChanged),
    StaffInvited(StaffInvited),
    StaffChanged(StaffChanged),
    StaffDeactivated(StaffDeactivated),
    StaffReactivated(StaffReactivated),
    TwoFactorRequirementChanged(TwoFactorRequirementChanged),
    MenuCreated(MenuCreated),
    MenuChanged(MenuChanged),
    MenuRetired(MenuRetired),
    MenuReinstated(MenuReinstated),
    WeeklyHoursSet(WeeklyHoursSet),
    ClosureAdded(ClosureAdded),
    ClosureRemoved(ClosureRemoved),
}

/// The schema version written today for set-up events of `event_type`.
pub fn current_schema_version(_event_type: &str) -> u32 {
    1
}

impl StoredEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::ClinicCreated(_) => "ClinicCreated",
            Self::ClinicProfileChanged(_) => "ClinicProfileChanged",
            Self::StaffInvited(_) => "StaffInvited",
            Self::StaffChanged(_) => "StaffChanged",
            Self::StaffDeactivated(_) => "StaffDeactivated",
            Self::StaffReactivated(_) => "StaffReactivated",
            Self::TwoFactorRequirementChanged(_) => "TwoFactorRequirementChanged",
            Self::MenuCreated(_) => "MenuCreated",
            Self::MenuChanged(_) => "MenuChanged",
            Self::MenuRetired(_) => "MenuRetired",
            Self::MenuReinstated(_) => "MenuReinstated",
            Self::WeeklyHoursSet(_) => "WeeklyHoursSet",
            Self::ClosureAdded(_) => "ClosureAdded",
            Self::ClosureRemoved(_) => "ClosureRemoved",
        }
    }

    fn schema_version(&self) -> u32 {
        current_schema_version(self.event_type())
    }

    fn to_data(&self) -> Value {
        tagged_data(self)
    }

    /// No set-up event has an older schema yet: there is nothing to upcast.
    fn decode(event_type: &str, schema_version: u32, data: &EventData) -> Result<Self, DecodeError> {
        decode_tagged(
            event_type,
            schema_version,
            current_schema_version(event_type),
            data,
            |data| data,
        )
    }

    fn in_family(stream_id: &str) -> bool {
        ClinicId::from_stream_id(stream_id).is_some()
            || MenuId::from_stream_id(stream_id).is_some()
            || StaffId::from_hours_stream_id(stream_id).is_some()
            || ClosureId::from_stream_id(stream_id).is_some()
    }
}
