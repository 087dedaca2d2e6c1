//! Typed identifiers, so a doctor id can never be passed where a clinic id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A tenant: every piece of data belongs to exactly one clinic (R1).
    ClinicId
);
id_type!(
    /// A staff member (doctor or reception) of one clinic.
    StaffId
);
id_type!(
    /// An appointment of either kind; also the id of its event stream.
    AppointmentId
);
id_type!(
    /// A treatment menu (診療メニュー).
    MenuId
);
id_type!(
    /// One attempt to deliver the patient URL (R15 keeps every attempt).
    DeliveryId
);
id_type!(
    /// A closed day (休診日) of a clinic or of one of its doctors.
    ClosureId
);

impl ClinicId {
    /// Name of the event stream holding the clinic's profile and its staff.
    pub fn stream_id(&self) -> String {
        format!("clinic-{}", self.0)
    }

    /// Inverse of [`ClinicId::stream_id`].
    pub fn from_stream_id(stream_id: &str) -> Option<Self> {
        parse_suffix(stream_id, "clinic-")
    }
}

/// The id after `prefix` in a stream name, if the name has that prefix and a valid id.
fn parse_suffix<T: FromStr>(stream_id: &str, prefix: &str) -> Option<T> {
    stream_id.strip_prefix(prefix).and_then(|s| s.parse().ok())
}

impl StaffId {
    /// Name of the event stream holding this doctor's weekly hours.
    pub fn hours_stream_id(&self) -> String {
        format!("hours-{}", self.0)
    }

    /// Inverse of [`StaffId::hours_stream_id`].
    pub fn from_hours_stream_id(stream_id: &str) -> Option<Self> {
        parse_suffix(stream_id, "hours-")
    }
}

impl MenuId {
    /// Name of the event stream holding this menu's history.
    pub fn stream_id(&self) -> String {
        format!("menu-{}", self.0)
    }

    /// Inverse of [`MenuId::stream_id`].
    pub fn from_stream_id(stream_id: &str) -> Option<Self> {
        parse_suffix(stream_id, "menu-")
    }
}

impl ClosureId {
    /// Name of the event stream holding this closure's history.
    pub fn stream_id(&self) -> String {
        format!("closure-{}", self.0)
    }

    /// Inverse of [`ClosureId::stream_id`].
    pub fn from_stream_id(stream_id: &str) -> Option<Self> {
        parse_suffix(stream_id, "closure-")
    }
}

impl AppointmentId {
    /// Name of the event stream holding this appointment's history.
    pub fn stream_id(&self) -> String {
        format!("appointment-{}", self.0)
    }

    /// Inverse of [`AppointmentId::stream_id`].
    pub fn from_stream_id(stream_id: &str) -> Option<Self> {
        parse_suffix(stream_id, "appointment-")
    }

    /// Name of the event stream holding who joined and left this appointment's call: apart
    /// from the appointment's own, so presence never changes the appointment's version.
    pub fn call_stream_id(&self) -> String {
        format!("call-{}", self.0)
    }

    /// Inverse of [`AppointmentId::call_stream_id`].
    pub fn from_call_stream_id(stream_id: &str) -> Option<Self> {
        parse_suffix(stream_id, "call-")
    }

    /// The appointment a stream belongs to: its own stream or its call's.
    pub fn owning_stream(stream_id: &str) -> Option<Self> {
        Self::from_stream_id(stream_id).or_else(|| Self::from_call_stream_id(stream_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_id_round_trips() {
        let id = AppointmentId(Uuid::now_v7());
        assert_eq!(AppointmentId::from_stream_id(&id.stream_id()), Some(id));
        assert_eq!(AppointmentId::from_stream_id("clinic-x"), None);
        assert_eq!(AppointmentId::from_stream_id(&id.call_stream_id()), None);
        assert_eq!(AppointmentId::from_call_stream_id(&id.call_stream_id()), Some(id));
        assert_eq!(AppointmentId::owning_stream(&id.call_stream_id()), Some(id));
        assert_eq!(AppointmentId::owning_stream(&id.stream_id()), Some(id));
    }
}
