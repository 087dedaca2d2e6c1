//! Closed vocabularies: the enums whose values travel as fixed names — kinds, statuses,
//! modes, visit types, channels. Each has `ALL` (every value, for the OpenAPI enums) and
//! `as_str` (its name in JSON, read models and the API; serde writes the same name). Reading
//! a name back is `str::parse`, the inverse of `as_str` over `ALL`, so each name is written
//! once.

use thiserror::Error;

/// A name that is none of a vocabulary's values. Read from storage, it means a broken row.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("unknown {vocabulary} {name:?}")]
pub struct UnknownName {
    /// What the name was meant to be, e.g. `status`.
    pub vocabulary: &'static str,
    pub name: String,
}

/// `impl FromStr` for enums with `ALL` and `as_str`: the value whose `as_str` is the text,
/// or [`UnknownName`] naming the vocabulary. `named_by_as_str!(Status => "status")`.
#[macro_export]
macro_rules! named_by_as_str {
    ($($vocabulary:ty => $what:literal),+ $(,)?) => {$(
        impl ::std::str::FromStr for $vocabulary {
            type Err = $crate::vocabulary::UnknownName;

            fn from_str(name: &str) -> ::std::result::Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|value| value.as_str() == name)
                    .ok_or_else(|| $crate::vocabulary::UnknownName {
                        vocabulary: $what,
                        name: name.to_owned(),
                    })
            }
        }
    )+};
}

use crate::appointment::{CarrierStatus, DeliveryStatus, Kind, LinkStatus, Status};
use crate::menu::{ConsultationMode, VisitType};
use crate::presence::{CallRole, LeaveReason};
use crate::setup::clinic::Role;
use crate::setup::hours::Weekday;
use crate::values::{Channel, Provider};

named_by_as_str!(
    Kind => "kind",
    Status => "status",
    LinkStatus => "link status",
    DeliveryStatus => "delivery status",
    CarrierStatus => "carrier status",
    ConsultationMode => "consultation mode",
    VisitType => "visit type",
    Channel => "channel",
    Provider => "provider",
    CallRole => "call role",
    LeaveReason => "leave reason",
    Role => "staff role",
    Weekday => "weekday",
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use std::fmt::Debug;
    use std::str::FromStr;

    /// serde's name is `as_str`, both ways, and `parse` reads it back: JSON, read models
    /// and the OpenAPI enums all say the same.
    fn names_agree<T>(all: &[T], as_str: fn(&T) -> &'static str)
    where
        T: Copy + Debug + PartialEq + Serialize + DeserializeOwned + FromStr<Err = UnknownName>,
    {
        for value in all {
            let name = as_str(value);
            assert_eq!(serde_json::to_value(value).unwrap(), serde_json::json!(name));
            assert_eq!(
                serde_json::from_value::<T>(serde_json::json!(name)).unwrap(),
                *value
            );
            assert_eq!(name.parse::<T>(), Ok(*value));
        }
        let names: std::collections::BTreeSet<_> = all.iter().map(as_str).collect();
        assert_eq!(names.len(), all.len(), "two values share a name");
    }

    #[test]
    fn every_vocabulary_has_one_name_per_value_in_json_and_as_str() {
        names_agree(&Kind::ALL, Kind::as_str);
        names_agree(&Status::ALL, Status::as_str);
        names_agree(&LinkStatus::ALL, LinkStatus::as_str);
        names_agree(&DeliveryStatus::ALL, DeliveryStatus::as_str);
        names_agree(&CarrierStatus::ALL, CarrierStatus::as_str);
        names_agree(&ConsultationMode::ALL, ConsultationMode::as_str);
        names_agree(&VisitType::ALL, VisitType::as_str);
        names_agree(&Channel::ALL, Channel::as_str);
        names_agree(&Provider::ALL, Provider::as_str);
        names_agree(&CallRole::ALL, CallRole::as_str);
        names_agree(&LeaveReason::ALL, LeaveReason::as_str);
        names_agree(&Role::ALL, Role::as_str);
        names_agree(&Weekday::ALL, Weekday::as_str);
    }

    #[test]
    fn the_names_are_the_wire_strings_of_the_api() {
        assert_eq!(Kind::ALL.map(|v| v.as_str()), ["in_clinic", "video_url"]);
        assert_eq!(
            Status::ALL.map(|v| v.as_str()),
            ["booked", "in_call", "ended", "cancelled"]
        );
        assert_eq!(
            LinkStatus::ALL.map(|v| v.as_str()),
            ["not_yet_open", "open", "expired", "cancelled", "ended", "revoked"]
        );
        assert_eq!(
            DeliveryStatus::ALL.map(|v| v.as_str()),
            ["pending", "kept", "sent", "delivered", "failed", "unknown"]
        );
        assert_eq!(
            CarrierStatus::ALL.map(|v| v.as_str()),
            ["delivered", "undelivered", "failed"]
        );
        assert_eq!(Provider::ALL.map(|v| v.as_str()), ["outbox", "twilio", "smtp"]);
        assert_eq!(ConsultationMode::ALL.map(|v| v.as_str()), ["in_person", "online"]);
        assert_eq!(VisitType::ALL.map(|v| v.as_str()), ["first", "revisit"]);
        assert_eq!(Channel::ALL.map(|v| v.as_str()), ["sms", "email"]);
        assert_eq!(Role::ALL.map(|v| v.as_str()), ["doctor", "reception", "auditor"]);
        assert_eq!(
            Weekday::ALL.map(|v| v.as_str()),
            ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        );
    }

    #[test]
    fn a_name_outside_the_vocabulary_is_an_error_naming_it() {
        for bad in ["", "Booked", "in-call", "in_call ", "unknown"] {
            let err = bad.parse::<Status>().unwrap_err();
            assert_eq!(
                err,
                UnknownName {
                    vocabulary: "status",
                    name: bad.to_owned()
                }
            );
        }
        assert_eq!(
            "fax".parse::<Channel>().unwrap_err().to_string(),
            r#"unknown channel "fax""#
        );
    }
}
