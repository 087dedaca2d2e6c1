//! The `personal` member of events (see `enkaku_domain::personal`), sealed on the way into
//! the log and opened on the way out. Whatever reads events for people or read models opens
//! them here; the Kafka relay and the store itself only ever see them sealed.

use crate::CommandError;
use crate::ports::{KeyId, Vault, VaultError};
use enkaku_domain::appointment::Event;
use enkaku_domain::envelope::{EventData, NewEvent, RecordedEvent, StoredEvent};
use enkaku_domain::personal::{PERSONAL_MEMBER, Sealed};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::ops::Range;
use uuid::Uuid;

/// The sealed `personal` member of a stored event's `data`, if it has one. Plaintext (an event
/// from before sealing, or written with sealing off) is not.
pub fn sealed_member(data: &EventData) -> Option<Sealed> {
    sealed_at(data).map(|(sealed, _)| sealed)
}

/// [`sealed_member`], and where its text lies in `data`.
fn sealed_at(data: &EventData) -> Option<(Sealed, Range<usize>)> {
    let member = data.member(PERSONAL_MEMBER)?;
    if !member.get().starts_with('{') {
        return None;
    }
    let sealed = serde_json::from_str(member.get()).ok()?;
    Some((sealed, data.span_of(member)))
}

fn as_sealed(member: &Value) -> Option<Sealed> {
    member.is_object().then(|| Sealed::deserialize(member).ok())?
}

/// Every data key `events` are sealed with, each once: an appointment has one, or more if
/// it was written before sealing and sealed since.
pub fn keys_of(events: &[RecordedEvent]) -> Vec<KeyId> {
    let mut keys: Vec<KeyId> = Vec::new();
    for sealed in events.iter().filter_map(|e| sealed_member(&e.data)) {
        if !keys.contains(&sealed.key_id) {
            keys.push(sealed.key_id);
        }
    }
    keys
}

/// Seal the plaintext `personal` member of each event under `key`.
pub async fn seal(vault: &dyn Vault, key: KeyId, events: &mut [NewEvent]) -> Result<(), VaultError> {
    for event in events {
        seal_member(vault, key, event.event_id, &mut event.data).await?;
    }
    Ok(())
}

/// Seal the plaintext `personal` member of the data of event `event_id`; `false` when it has
/// none.
async fn seal_member(
    vault: &dyn Vault,
    key: KeyId,
    event_id: Uuid,
    data: &mut Value,
) -> Result<bool, VaultError> {
    let Some(member) = plaintext_member(data) else {
        return Ok(false);
    };
    let plaintext = serde_json::to_vec(member).unwrap_or_default();
    let sealed = vault.seal(key, event_id, &plaintext).await?;
    *member = serde_json::to_value(sealed).unwrap_or(Value::Null);
    Ok(true)
}

/// How an appointment event written before sealing is rewritten (`enkaku privacy migrate`).
pub enum Rewrite {
    /// Its personal data sealed under the appointment's key.
    Seal(KeyId),
    /// Its personal data dropped: the appointment was erased meanwhile.
    Drop,
}

/// An appointment event written before sealing, upcast to today's schema with its personal
/// data sealed or dropped as `rewrite` says: its new schema version and data. `None` when it
/// holds no plaintext personal data (none at all, or sealed already).
pub async fn rewrite_old(
    vault: &dyn Vault,
    rewrite: &Rewrite,
    event: &RecordedEvent,
) -> Result<Option<(u32, Value)>, CommandError> {
    if !Event::in_family(&event.stream_id) || sealed_member(&event.data).is_some() {
        return Ok(None);
    }
    let decoded = Event::decode(&event.event_type, event.schema_version, &event.data)
        .map_err(|e| CommandError::UnreadableHistory(e.to_string()))?;
    let mut data = decoded.to_data();
    if !data.get(PERSONAL_MEMBER).is_some_and(Value::is_object) {
        return Ok(None);
    }
    match rewrite {
        Rewrite::Seal(key) => {
            seal_member(vault, *key, event.event_id, &mut data).await?;
        }
        Rewrite::Drop => data[PERSONAL_MEMBER] = Value::Null,
    }
    Ok(Some((decoded.schema_version(), data)))
}

/// Whether any of `events` has personal data to seal.
pub fn has_personal_data(events: &[NewEvent]) -> bool {
    events
        .iter()
        .any(|e| e.data.get(PERSONAL_MEMBER).is_some_and(Value::is_object))
}

fn plaintext_member(data: &mut Value) -> Option<&mut Value> {
    let member = data.get_mut(PERSONAL_MEMBER)?;
    (member.is_object() && as_sealed(member).is_none()).then_some(member)
}

/// Open the sealed `personal` member of each event in place: its plaintext, or `null` where
/// the key was destroyed.
pub async fn open<'a>(
    vault: &dyn Vault,
    events: impl IntoIterator<Item = &'a mut RecordedEvent>,
) -> Result<(), VaultError> {
    let mut sealed_events: Vec<(&mut RecordedEvent, Sealed, Range<usize>)> = events
        .into_iter()
        .filter_map(|e| sealed_at(&e.data).map(|(sealed, span)| (e, sealed, span)))
        .collect();
    if sealed_events.is_empty() {
        return Ok(());
    }
    let requests: Vec<(Uuid, &Sealed)> = sealed_events.iter().map(|(e, s, _)| (e.event_id, s)).collect();
    let opened = vault.open(&requests).await?;
    for ((event, _, span), plaintext) in sealed_events.iter_mut().zip(opened) {
        let member = match &plaintext {
            Some(bytes) => serde_json::from_slice(bytes).map_err(|_| VaultError::Corrupt(event.event_id))?,
            None => RawValue::NULL,
        };
        event.data = event.data.with_replaced(span.clone(), member);
    }
    Ok(())
}

/// Open one stream's events, oldest first. A stream whose personal data was erased is not
/// opened at all: another node may still hold the destroyed key in memory for a moment, and
/// what the stream itself says wins.
pub async fn open_stream(vault: &dyn Vault, events: &mut [RecordedEvent]) -> Result<(), VaultError> {
    if events.iter().any(|e| Event::erases(&e.event_type)) {
        for event in events.iter_mut() {
            if let Some((_, span)) = sealed_at(&event.data) {
                event.data = event.data.with_replaced(span, RawValue::NULL);
            }
        }
        return Ok(());
    }
    open(vault, events.iter_mut()).await
}
