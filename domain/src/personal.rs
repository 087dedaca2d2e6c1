//! Personal data (SPEC §9): what an appointment's events know about its patient — name, chart
//! number, memo, a video URL's title, where the URL was sent. The log keeps it encrypted
//! under a key of the appointment's own; destroying that key erases it everywhere at once
//! while the rest of the history stays readable.
//!
//! Each event keeps its personal data in one member, `personal`. The domain reads and writes
//! it in the clear as [`Personal`]; the store holds and Kafka carries it as [`Sealed`]. Sealing
//! and opening happen at the edge of the command side (see `commands::vault`), so no rule here
//! ever sees ciphertext.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use uuid::Uuid;

/// The member of an event's `data` that holds its personal data.
pub const PERSONAL_MEMBER: &str = "personal";

/// The AEAD that seals personal data, as [`Sealed::alg`] names it.
pub const SEAL_ALGORITHM: &str = "XChaCha20-Poly1305";

/// A patient's personal data in an event or an appointment: known, or erased for good.
/// In JSON, `Known(t)` is `t` and `Erased` is `null`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Personal<T> {
    Known(T),
    Erased,
}

impl<T> Personal<T> {
    /// The data, unless it was erased.
    pub fn known(&self) -> Option<&T> {
        match self {
            Self::Known(t) => Some(t),
            Self::Erased => None,
        }
    }

    pub fn is_erased(&self) -> bool {
        matches!(self, Self::Erased)
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Personal<U> {
        match self {
            Self::Known(t) => Personal::Known(f(t)),
            Self::Erased => Personal::Erased,
        }
    }
}

impl<T: Serialize> Serialize for Personal<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.known().serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Personal<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(d)?.map_or(Self::Erased, Self::Known))
    }
}

/// Documents (the AsyncAPI document) describe `personal` as it travels: sealed, with the
/// shape it opens to under `x-plaintext`.
impl<T: JsonSchema> JsonSchema for Personal<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Personal_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let sealed = generator.subschema_for::<Sealed>();
        let plaintext = generator.subschema_for::<T>();
        json_schema!({
            "description": "Personal data, encrypted (see Sealed). Opened with the appointment's data key it is the object under x-plaintext; once the appointment was erased, the key is gone and it cannot be opened.",
            "allOf": [sealed],
            "x-plaintext": plaintext,
        })
    }
}

/// Personal data as the store holds it and Kafka carries it: `plaintext` (the JSON of the
/// member) encrypted with XChaCha20-Poly1305 under the data key `key_id`, with the event's id
/// (its 16 bytes) as associated data, so a sealed member cannot be moved to another event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// Always `XChaCha20-Poly1305`.
    pub alg: String,
    /// The appointment's data key (one per appointment; integrators fetch it by this id).
    pub key_id: Uuid,
    /// The 24-byte nonce, base64 (standard alphabet, padded).
    pub nonce: String,
    /// The ciphertext with its 16-byte tag appended, base64 (standard alphabet, padded).
    pub ciphertext: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_is_the_value_and_erased_is_null_in_json() {
        let known = Personal::Known("山田".to_owned());
        assert_eq!(serde_json::to_value(&known).unwrap(), serde_json::json!("山田"));
        assert_eq!(
            serde_json::to_value(Personal::<String>::Erased).unwrap(),
            serde_json::Value::Null
        );
        let back: Personal<String> = serde_json::from_value(serde_json::json!("山田")).unwrap();
        assert_eq!(back, known);
        let erased: Personal<String> = serde_json::from_value(serde_json::Value::Null).unwrap();
        assert!(erased.is_erased());
    }
}
